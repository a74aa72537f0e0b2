"""The ASGI application of ``edgernn serve`` (Starlette): WebSocket streams, predictions, models,
health and metrics. ``create_app(models, config)`` builds it; ``serve/server.py`` runs it.

Routes (``/healthz`` needs no token; the rest need ``Authorization: Bearer TOKEN`` when a token is set,
or ``?token=`` on the WebSocket, since browsers cannot set its headers):
- ``GET /healthz``: 200 ``{"status": "ok", ...}``, or 503 while draining;
- ``GET /metrics``: Prometheus text format (serve/metrics.py);
- ``GET /v1/models``: every served model: labels, input, precision, operating point;
- ``POST /v1/predict``: whole sequences, recordings or documents -> class probabilities;
- ``WS /v1/stream``: one stream per connection (serve/protocol.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import time
from dataclasses import asdict
from typing import Any

import numpy as np
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from edgernn.runtime.detect import Detector
from edgernn.runtime.errors import EdgeRNNError, InputError
from edgernn.runtime.model import Model
from edgernn.runtime.wav import read_wav_bytes
from edgernn.serve.batcher import RESET, BatchWorker, Result
from edgernn.serve.config import ServeConfig
from edgernn.serve.metrics import ServeMetrics
from edgernn.serve.protocol import (CLOSE_CODES, ProtocolError, StreamOptions, decode_binary, decode_text,
                                    error_reply, events_reply, input_shape, probs_reply, ready_message)

DRAIN_REASON = "the server is shutting down: send close (or finish), then reconnect for a fresh stream"
# A disconnected client makes a send fail with one of these (uvicorn's ClientDisconnected is an OSError).
SEND_FAILURES = (WebSocketDisconnect, RuntimeError, OSError)


class Hub:
    """What every request of one app shares: models, their batch workers, limits, metrics, the open streams."""

    def __init__(self, models: dict[str, Model], config: ServeConfig):
        self.models, self.config, self.metrics = models, config, ServeMetrics()
        self.workers: dict[str, BatchWorker] = {}
        self.connections: set[Connection] = set()
        self.draining = False

    def start(self) -> None:
        self._watchdog = asyncio.get_running_loop().create_task(self._watch())
        for name, model in self.models.items():
            worker = BatchWorker(model, self.config.max_batch, self.config.max_wait_ms / 1000, self.config.reset_after_background,
                                 self.metrics.cycle_recorder(name))
            worker.start()
            self.workers[name] = worker

    async def stop(self) -> None:
        self._watchdog.cancel()
        await asyncio.gather(self._watchdog, *(worker.stop() for worker in self.workers.values()), return_exceptions=True)

    async def _watch(self) -> None:
        """Every so often, end the streams that idle or do not read (Connection.expire)."""
        period = max(0.05, min(1.0, self.config.idle_timeout_s / 4, self.config.send_timeout_s / 4))
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            for connection in list(self.connections):
                connection.expire(now)

    async def drain(self) -> None:
        """Refuse new streams and requests; tell every open stream that the server is closing
        (``{"type": "closing"}``) and keep serving it until it closes, at most ``drain_timeout_s``;
        then stop reading the streams still open, answer what they have queued, and close them with 1001."""
        self.draining = True
        for connection in list(self.connections):
            connection.notify(json.dumps({"type": "closing", "reason": DRAIN_REASON}))
        await self._until_closed(self.config.drain_timeout_s)
        for connection in list(self.connections):
            connection.stop_reading()
        await self._until_closed(self.config.send_timeout_s)

    async def _until_closed(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while self.connections and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    def authorized(self, headers: Any, query: Any) -> bool:
        if self.config.token is None:
            return True
        bearer = headers.get("authorization", "")
        given = bearer[7:] if bearer.lower().startswith("bearer ") else query.get("token", "")
        return hmac.compare_digest(given.encode(), self.config.token.encode())

    def describe(self, name: str) -> dict:
        model = self.models[name]
        meta = model.metadata
        return {"name": name, "labels": model.labels, "input": {"kind": model.frontend.kind, **input_shape(model)},
                "precision": meta.precision, "cell": meta.cell, "layers": meta.layers, "hidden": meta.hidden,
                "background": model.background, "operating_point": meta.detector or None,
                "detector": asdict(Detector.for_model(model).config), "streams": self.workers[name].streams}


class Connection:
    """One WebSocket stream: reads chunks, queues them on the model's worker, sends the answers in order.

    No timer runs per message: the hub's watchdog (``expire``) ends a stream that has sent nothing
    for ``idle_timeout_s`` or has had a reply unsent for ``send_timeout_s``.
    """

    def __init__(self, websocket: WebSocket, hub: Hub, options: StreamOptions):
        self.ws, self.hub, self.options = websocket, hub, options
        self.model = hub.models[options.model]
        self.worker = hub.workers[options.model]
        self.detector = Detector.for_model(self.model) if options.reply == "events" else None
        self._reader: asyncio.Task | None = None
        self._sender: asyncio.Task | None = None
        self._replies: asyncio.Queue | None = None
        self._waiting_since: float | None = None  # monotonic time the reader began to wait for a message
        self._sending_since: float | None = None  # monotonic time the reply being sent was handed over
        self._ended_by: str | None = None  # "drain", "idle" or "not_reading": who stopped the stream

    def notify(self, message: str) -> None:
        """Send ``message`` after the replies already queued."""
        if self._replies is not None:
            self._replies.put_nowait(("notice", message, None))

    def stop_reading(self) -> None:
        """Stop taking messages (drain): what is queued is still answered, then the stream closes with 1001."""
        self._end("drain", self._reader)

    def expire(self, now: float) -> None:
        """The watchdog's check: stop a client that does not take its replies, or that sends nothing."""
        config = self.hub.config
        if self._sending_since is not None and now - self._sending_since > config.send_timeout_s:
            self._end("not_reading", self._sender)
        elif self._waiting_since is not None and now - self._waiting_since > config.idle_timeout_s:
            self._end("idle", self._reader)

    def _end(self, why: str, task: asyncio.Task | None) -> None:
        if task is not None and not task.done() and self._ended_by is None:
            self._ended_by = why
            task.cancel()

    async def serve(self, sid: int) -> None:
        metrics = self.hub.metrics
        replies: asyncio.Queue = asyncio.Queue()  # bounded by self._unanswered, so that a sentinel always fits
        self._replies = replies
        self._unanswered = asyncio.Semaphore(self.hub.config.queue_depth)
        self._sender = sender = asyncio.create_task(self._send_loop(replies))
        self._reader = reader = asyncio.create_task(self._read_loop(sid, replies))
        await asyncio.wait({reader, sender}, return_when=asyncio.FIRST_COMPLETED)
        if sender.done():  # the client does not take its replies, or went away: no more reading
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
            await self._not_reading()
            return
        if reader.cancelled():
            outcome = self._ended_by
        elif reader.exception() is not None:
            sender.cancel()
            raise reader.exception()
        else:
            outcome = reader.result()
        if outcome == "disconnected":
            sender.cancel()
            return
        if outcome in ("idle", "drain"):
            metrics.refused.labels("idle" if outcome == "idle" else "draining").inc()
        replies.put_nowait(None)  # answer everything queued, then end
        await asyncio.wait({sender})
        if sender.cancelled() or sender.exception() is not None:
            await self._not_reading()
            return
        if self.detector is not None:
            last = self.detector.flush()
            if last and not await self._send(events_reply(last)):
                return
        if outcome == "drain":
            await self._close(CLOSE_CODES["going_away"], "server shutting down")
        else:
            await self._close(CLOSE_CODES["normal"], outcome)

    async def _not_reading(self) -> None:
        if self._ended_by == "not_reading":
            self.hub.metrics.refused.labels("not_reading").inc()
            await self._close(CLOSE_CODES["policy"], "the client did not take its replies")

    async def _read_loop(self, sid: int, replies: asyncio.Queue) -> str:
        """Read until the client goes away ("disconnected") or says close ("closed")."""
        config, metrics, model, options = self.hub.config, self.hub.metrics, self.model, self.options
        check, allow = model.frontend.check, model.allow_nonfinite
        while True:
            self._waiting_since = time.monotonic()
            message = await self.ws.receive()
            self._waiting_since = None
            if message["type"] == "websocket.disconnect":
                return "disconnected"
            since = time.perf_counter()
            try:
                data, text = message.get("bytes"), message.get("text")
                if data is not None and len(data) > config.max_frame_bytes or text is not None and len(text) > config.max_frame_bytes:
                    raise ProtocolError(f"a frame may hold at most {config.max_frame_bytes} bytes", "bad_chunk")
                request = decode_binary(data, options, model) if data is not None else decode_text(text, model)
                if request.kind == "close":
                    return "closed"
                kind = request.kind
                chunk = RESET if kind == "reset" else check(request.chunk, "chunk", allow)
            except EdgeRNNError as exc:
                metrics.errors.labels(getattr(exc, "code", "bad_chunk")).inc()
                kind, chunk = "error", error_reply(exc)
            # back-pressure: wait for a free place before taking the message on (cancelling this
            # wait, as a drain does, leaves nothing half-queued); the sender frees it once answered
            await self._unanswered.acquire()
            replies.put_nowait((kind, chunk if kind == "error" else self.worker.submit(sid, chunk), since))

    async def _send_loop(self, replies: asyncio.Queue) -> None:
        metrics, options = self.hub.metrics, self.options
        latency, chunks = metrics.latency.labels(options.model), metrics.chunks.labels(options.model)
        send = self._send_or_raise
        while True:
            item = await replies.get()
            if item is None:
                return
            kind, payload, since = item
            if kind == "notice":
                await send(payload)
                continue
            self._unanswered.release()  # the reply is on its way: the reader may take the next message
            if kind == "error":
                await send(payload)
                continue
            try:
                result: Result = await payload
            except EdgeRNNError as exc:
                metrics.errors.labels("bad_chunk").inc()
                await send(error_reply(exc))
                continue
            if kind == "reset":
                if self.detector is not None:  # the events the old stream still holds end with it
                    held = self.detector.flush()
                    if held:
                        await send(events_reply(held))
                    self.detector.reset()
                await send(json.dumps({"type": "reset", "steps": 0}))
                continue
            if self.detector is None:
                await send(probs_reply(result.probs, result.start, options.encoding))
            else:
                events = self.detector.push(result.probs)
                if events:
                    await send(events_reply(events))
            chunks.inc()
            latency.observe(time.perf_counter() - since)

    async def _send_or_raise(self, payload: str | bytes) -> None:
        """Send (the watchdog cancels a send the client has not taken within send_timeout_s)."""
        self._sending_since = time.monotonic()
        if isinstance(payload, bytes):
            await self.ws.send_bytes(payload)
        else:
            await self.ws.send_text(payload)
        self._sending_since = None

    async def _send(self, payload: str | bytes) -> bool:
        try:
            await asyncio.wait_for(self.ws.send_bytes(payload) if isinstance(payload, bytes) else self.ws.send_text(payload),
                                   self.hub.config.send_timeout_s)
            return True
        except (asyncio.TimeoutError, *SEND_FAILURES):
            return False

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(asyncio.TimeoutError, *SEND_FAILURES):
            await asyncio.wait_for(self.ws.close(code, reason), self.hub.config.send_timeout_s)


async def stream_endpoint(websocket: WebSocket) -> None:
    hub: Hub = websocket.app.state.hub
    if not hub.authorized(websocket.headers, websocket.query_params):
        hub.metrics.refused.labels("token").inc()
        await websocket.close(CLOSE_CODES["policy"])  # before accept: the handshake gets HTTP 403
        return
    try:
        options = StreamOptions.from_query(websocket.query_params, hub.models)
    except ProtocolError as exc:
        hub.metrics.refused.labels("query").inc()
        await websocket.accept()
        await websocket.send_text(error_reply(exc))
        await websocket.close(CLOSE_CODES["policy"], "bad query")
        return
    if hub.draining or len(hub.connections) >= hub.config.max_streams:
        reason = "draining" if hub.draining else "full"
        hub.metrics.refused.labels(reason).inc()
        await websocket.accept()
        await websocket.close(CLOSE_CODES["try_again_later"],
                              "server shutting down" if hub.draining else f"server full: {hub.config.max_streams} streams open")
        return
    connection = Connection(websocket, hub, options)
    hub.connections.add(connection)  # before any await: the limit counts it at once
    gauge = hub.metrics.streams_open.labels(options.model)
    gauge.inc()
    sid = None
    try:
        await websocket.accept()
        sid = await connection.worker.open()
        await websocket.send_text(json.dumps(ready_message(sid, options.model, connection.model, options)))
        await connection.serve(sid)
    except SEND_FAILURES:
        pass
    finally:
        hub.connections.discard(connection)
        gauge.dec()
        if sid is not None:
            await connection.worker.close(sid)


async def healthz(request: Request) -> JSONResponse:
    hub: Hub = request.app.state.hub
    status = {"status": "draining" if hub.draining else "ok", "streams": len(hub.connections), "models": list(hub.models)}
    return JSONResponse(status, status_code=503 if hub.draining else 200)


def _refuse(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def metrics_endpoint(request: Request) -> Response:
    hub: Hub = request.app.state.hub
    if not hub.authorized(request.headers, {}):
        return _refuse(401, "a bearer token is needed (Authorization: Bearer TOKEN)")
    return Response(generate_latest(hub.metrics.registry), media_type=CONTENT_TYPE_LATEST)


async def models_endpoint(request: Request) -> JSONResponse:
    hub: Hub = request.app.state.hub
    if not hub.authorized(request.headers, {}):
        return _refuse(401, "a bearer token is needed (Authorization: Bearer TOKEN)")
    return JSONResponse({"models": [hub.describe(name) for name in hub.models]})


async def predict_endpoint(request: Request) -> JSONResponse:
    """JSON ``{"model": NAME, "inputs": [...]}`` (each input a feature sequence [time, features],
    audio samples [n], a document string or token ids [n]), or a WAV file's bytes with
    ``Content-Type: audio/wav`` and ``?model=NAME``. Answers ``{"model", "labels", "predictions":
    [{"label", "probs"}]}``; 400 with ``{"error"}`` for bad input, 413 for a body over the limit."""
    hub: Hub = request.app.state.hub
    if not hub.authorized(request.headers, {}):
        return _refuse(401, "a bearer token is needed (Authorization: Bearer TOKEN)")
    if hub.draining:
        return _refuse(503, "the server is shutting down")
    limit = hub.config.max_request_bytes
    body = bytearray()
    async for piece in request.stream():
        body += piece
        if len(body) > limit:
            return _refuse(413, f"the request body may hold at most {limit} bytes")
    try:
        name, inputs = _predict_inputs(hub, request, bytes(body))
        model = hub.models[name]
        probs = await asyncio.to_thread(model.predict, inputs)
    except EdgeRNNError as exc:
        return _refuse(400, str(exc))
    hub.metrics.predictions.labels(name).inc(len(inputs))
    labels = model.labels
    return JSONResponse({"model": name, "labels": labels,
                         "predictions": [{"label": labels[int(row.argmax())], "probs": row.tolist()} for row in probs]})


def _predict_inputs(hub: Hub, request: Request, body: bytes) -> tuple[str, list[Any]]:
    """The model's name and the inputs of a /v1/predict body; raises InputError naming what is expected."""
    if request.headers.get("content-type", "").split(";")[0].strip() in ("audio/wav", "audio/x-wav", "audio/wave"):
        name = StreamOptions.from_query({"model": request.query_params["model"]} if "model" in request.query_params else {},
                                        hub.models).model
        model = hub.models[name]
        if model.frontend.kind != "logmel":
            raise InputError(f"model {name!r} takes {model.frontend.kind}, not audio: send JSON {{\"inputs\": [...]}}")
        samples, rate = read_wav_bytes(body, "the request body")
        if rate != model.frontend.config.sample_rate:
            raise InputError(f"the recording is {rate} Hz; model {name!r} takes {model.frontend.config.sample_rate} Hz")
        return name, [samples]
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise InputError(f"expected a JSON object {{\"model\": NAME, \"inputs\": [...]}} or audio/wav; {exc}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("inputs"), list) or not payload["inputs"]:
        raise InputError("expected a JSON object with \"inputs\": a non-empty list of sequences, recordings or documents")
    query = {"model": payload["model"]} if "model" in payload else {}
    name = StreamOptions.from_query(query, hub.models).model
    tokens = hub.models[name].frontend.kind in ("token_ids", "text")
    return name, [item if isinstance(item, str) else _array(item, np.int64 if tokens else np.float32, i)
                  for i, item in enumerate(payload["inputs"])]


def _array(item: Any, dtype: type, index: int) -> np.ndarray:
    try:
        return np.asarray(item, dtype=dtype)
    except (ValueError, TypeError, OverflowError):
        raise InputError(f"inputs[{index}]: expected a rectangular list of numbers") from None


def create_app(models: dict[str, Model], config: ServeConfig | None = None) -> Starlette:
    """The app serving ``models`` ({name: Model}); its workers start and stop with the app's lifespan."""
    if not models:
        raise InputError("serve: no models to serve")
    hub = Hub(models, config or ServeConfig())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        hub.start()
        try:
            yield
        finally:
            await hub.stop()

    app = Starlette(routes=[Route("/healthz", healthz), Route("/metrics", metrics_endpoint),
                            Route("/v1/models", models_endpoint), Route("/v1/predict", predict_endpoint, methods=["POST"]),
                            WebSocketRoute("/v1/stream", stream_endpoint)], lifespan=lifespan)
    app.state.hub = hub
    return app
