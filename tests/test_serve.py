"""`edgernn serve` (serve/): every stream equals its solo run, bad traffic leaves the others alone,
limits hold, SIGTERM drains. The server runs for real (uvicorn on a loopback port) and the
clients are `websockets` and `httpx`."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("starlette", reason="the serve extra is not installed: pip install 'edgernn[serve]'")
import httpx  # noqa: E402
import websockets  # noqa: E402

from edgernn.runtime import Model  # noqa: E402
from edgernn.runtime.datasets import read_ts  # noqa: E402
from edgernn.runtime.detect import Detector  # noqa: E402
from edgernn.runtime.wav import write_wav  # noqa: E402
from edgernn.serve.config import ServeConfig  # noqa: E402
from edgernn.serve.server import build_server  # noqa: E402


class ServerThread:
    """``build_server`` run in a thread of this process (no signal handling there) on a free port."""

    def __init__(self, models: dict[str, Model], **config):
        self.server = build_server(models, ServeConfig(**config), port=0, log_level="warning")
        self.hub = self.server.hub
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "ServerThread":
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            self.thread.join(0.01)
        self.url = f"http://127.0.0.1:{self.server.port}"
        self.ws = f"ws://127.0.0.1:{self.server.port}/v1/stream"
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(30)


async def stream_through(url: str, chunks: list, encoding: str = "json", classes: int = 9) -> tuple[dict, np.ndarray]:
    """Send chunks (float32 arrays) one by one, reading each reply; returns (ready, probs [steps, classes])."""
    async with websockets.connect(f"{url}&encoding={encoding}" if "?" in url else f"{url}?encoding={encoding}") as ws:
        ready = json.loads(await ws.recv())
        out = []
        for chunk in chunks:
            await ws.send(np.ascontiguousarray(chunk, dtype="<f4").tobytes())
            reply = await ws.recv()
            out.append(np.frombuffer(reply, "<f4").reshape(-1, classes) if encoding == "binary"
                       else np.array(json.loads(reply)["probs"], dtype=np.float32).reshape(-1, classes))
        await ws.send(json.dumps({"type": "close"}))
        with pytest.raises(websockets.ConnectionClosedOK):
            await ws.recv()
        return ready, np.concatenate(out)


def silent_client(port: int, chunk: bytes, frames: int = 5000) -> tuple[socket.socket, int]:
    """A WebSocket client that sends ``chunk`` as binary frames until its socket takes no more (at
    most ``frames``) and never reads a reply; returns the socket and the frames sent whole."""
    sock = socket.create_connection(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(f"GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)
    assert b" 101 " in response.split(b"\r\n")[0], response
    mask = os.urandom(4)
    length = len(chunk)
    header = (bytes([0x82, 0x80 | 126]) + length.to_bytes(2, "big") if length < 65536
              else bytes([0x82, 0x80 | 127]) + length.to_bytes(8, "big"))
    frame = header + mask + (np.frombuffer(chunk, np.uint8) ^ np.resize(np.frombuffer(mask, np.uint8), length)).tobytes()
    sock.setblocking(False)
    sent = 0
    for _ in range(frames):
        try:
            if sock.send(frame) < len(frame):
                break
        except BlockingIOError:
            break
        sent += 1
    return sock, sent


def run(coroutine, timeout: float = 120.0):
    """asyncio.run with a deadline, so that a server that stops answering fails the test instead of hanging it."""
    async def bounded():
        return await asyncio.wait_for(coroutine, timeout)
    return asyncio.run(bounded())


def pieces(sequence: np.ndarray, rng: np.random.Generator) -> list[np.ndarray]:
    """The sequence cut at random places into chunks of 1-6 steps."""
    cuts = np.cumsum(rng.integers(1, 7, size=len(sequence)))
    return np.split(sequence, cuts[cuts < len(sequence)])


@pytest.fixture(scope="module")
def feature_model(quick_runs) -> Model:
    return Model(quick_runs["gru"][2]["fp32"].path, threads=1)


def test_concurrent_streams_are_batched_and_each_equals_its_solo_run(feature_model, sample_test_file):
    sequences = read_ts(sample_test_file).sequences[:40]
    rng = np.random.default_rng(0)
    chunked = [pieces(s, rng) for s in sequences]
    with ServerThread({"jv": feature_model}, max_wait_ms=5.0) as server:
        async def everyone():
            return await asyncio.gather(*(stream_through(server.ws, c, ("json", "binary")[i % 2]) for i, c in enumerate(chunked)))
        results = run(everyone())
        metrics = httpx.get(f"{server.url}/metrics").text
    worst = max(float(np.abs(probs - feature_model.stream().push(s)).max()) for (_, probs), s in zip(results, sequences))
    assert worst <= 1e-5
    assert results[0][0]["input"] == {"kind": "features", "dtype": "float32", "features": 12, "frames_per_step": 1}
    chunks = sum(len(c) for c in chunked)
    assert f'edgernn_chunks_total{{model="jv"}} {chunks}.0' in metrics
    assert f'edgernn_steps_total{{model="jv"}} {sum(len(s) for s in sequences)}.0' in metrics
    cycles = float(next(line.split()[-1] for line in metrics.splitlines() if line.startswith('edgernn_batch_streams_count{model="jv"}')))
    assert cycles < chunks  # streams' chunks shared graph calls
    assert 'edgernn_streams_open{model="jv"} 0.0' in metrics


def test_a_bad_message_gets_an_error_frame_and_the_stream_goes_on(feature_model, sample_test_file):
    sequence = read_ts(sample_test_file).sequences[0]
    bad = [(b"\x00\x01\x02", "bad_chunk", "whole number of 4-byte values"),
           (np.zeros(13, "<f4").tobytes(), "bad_chunk", "whole frames of 12 float32 values"),
           (np.full((1, 12), np.nan, "<f4").tobytes(), "bad_chunk", "NaN/Inf at step 0, feature 0"),
           ("not json", "bad_message", "must hold a JSON object"),
           (json.dumps({"type": "dance"}), "bad_message", "\"type\" one of ['chunk', 'text', 'reset', 'close']"),
           (json.dumps({"type": "chunk", "data": [[1, 2]]}), "bad_chunk", r"expected shape [time, 12], got [1, 2]"),
           (json.dumps({"type": "text", "text": "hi"}), "bad_message", "\"text\" messages are for text models")]
    with ServerThread({"jv": feature_model}) as server:
        async def session():
            async with websockets.connect(server.ws) as ws:
                await ws.recv()
                replies = []
                for k in range(len(sequence)):
                    message, _, _ = bad[k % len(bad)]
                    await ws.send(message)
                    replies.append(json.loads(await ws.recv()))
                    await ws.send(json.dumps({"type": "chunk", "data": sequence[k:k + 1].tolist()}))
                    replies.append(json.loads(await ws.recv()))
                await ws.send(json.dumps({"type": "reset"}))
                reset = json.loads(await ws.recv())
                await ws.send(sequence[:2].astype("<f4").tobytes())
                return replies, reset, json.loads(await ws.recv())
        replies, reset, after_reset = run(session())
    for k, reply in enumerate(replies[0::2]):
        _, code, words = bad[k % len(bad)]
        assert reply["type"] == "error" and reply["error"] == code and words in reply["message"], reply
    probs = np.array([r["probs"][0] for r in replies[1::2]], dtype=np.float32)
    np.testing.assert_allclose(probs, feature_model.stream().push(sequence), atol=1e-5)
    assert [r["start"] for r in replies[1::2]] == list(range(len(sequence)))
    assert reset == {"type": "reset", "steps": 0}
    assert after_reset["start"] == 0
    np.testing.assert_allclose(after_reset["probs"], feature_model.stream().push(sequence[:2]), atol=1e-5)


def test_hostile_clients_leave_a_watched_stream_unchanged_and_memory_bounded(feature_model, sample_test_file):
    sequence = np.concatenate(read_ts(sample_test_file).sequences[:8])  # about 120 steps
    depth, limit = 4, 6
    with ServerThread({"jv": feature_model}, max_streams=limit, queue_depth=depth, max_frame_bytes=16384,
                      send_timeout_s=2.0) as server:
        async def attack() -> dict:
            watched = await websockets.connect(server.ws)
            await watched.recv()
            steps, probs = iter(range(len(sequence))), []

            async def feed(count: int) -> None:  # the watched stream's next steps, one per chunk
                for k in [next(steps) for _ in range(count)]:
                    await watched.send(sequence[k:k + 1].astype("<f4").tobytes())
                    probs.append(json.loads(await watched.recv())["probs"][0])
            await feed(40)
            # a client that sends and never reads: the server stops reading it once `depth` chunks are
            # unanswered, so its frames pile up in the sockets' buffers, not in the server's memory
            silent = silent_client(server.server.port, np.tile(sequence[:1], (300, 1)).astype("<f4").tobytes())
            await asyncio.sleep(0.5)
            await feed(20)
            waiting = max(len(q) for q in server.hub.workers["jv"]._queues.values())
            oversized = await websockets.connect(server.ws)
            await oversized.recv()
            await oversized.send(b"\x00" * 32768)
            with pytest.raises(websockets.ConnectionClosedError) as too_big:
                await oversized.recv()
            while len(server.hub.connections) > 1:  # the silent one goes after send_timeout_s
                await asyncio.sleep(0.05)
            await feed(20)
            # connections beyond the limit: each is told to come back later; the open ones are untouched
            holders = [await websockets.connect(server.ws) for _ in range(limit - 1)]
            for holder in holders:
                assert json.loads(await holder.recv())["type"] == "ready"
            refused = []
            for _ in range(300):
                async with websockets.connect(server.ws) as extra:
                    with pytest.raises(websockets.ConnectionClosed) as closed:
                        await asyncio.wait_for(extra.recv(), 5)
                    refused.append(closed.value.rcvd.code)
            for holder in holders:
                await holder.close()
            await feed(len(sequence) - 80)
            await watched.close()
            silent[0].close()
            return {"probs": np.array(probs, np.float32), "sent": silent[1], "waiting": waiting,
                    "too_big": too_big.value.rcvd.code, "refused": set(refused)}
        outcome = run(attack())
        assert httpx.get(f"{server.url}/healthz").json()["status"] == "ok"
        metrics = httpx.get(f"{server.url}/metrics").text
    assert 'edgernn_connections_refused_total{reason="not_reading"} 1.0' in metrics
    assert 'edgernn_connections_refused_total{reason="full"} 300.0' in metrics
    np.testing.assert_allclose(outcome["probs"], feature_model.stream().push(sequence), atol=1e-5)
    assert outcome["sent"] < 5000  # the silent client was held back: its socket stopped taking frames (72 MB)
    assert outcome["waiting"] <= depth + 1
    assert outcome["too_big"] == 1009
    assert outcome["refused"] == {1013}


def test_token_is_required_everywhere_but_healthz(feature_model, tmp_path):
    with ServerThread({"jv": feature_model}, token="s3cret") as server:
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        assert httpx.get(f"{server.url}/v1/models").status_code == 401
        assert httpx.get(f"{server.url}/metrics").status_code == 401
        models = httpx.get(f"{server.url}/v1/models", headers={"Authorization": "Bearer s3cret"}).json()["models"]
        assert models[0]["name"] == "jv" and models[0]["precision"] == "fp32" and len(models[0]["labels"]) == 9

        async def connect(url, **kwargs):
            async with websockets.connect(url, **kwargs) as ws:
                return json.loads(await ws.recv())["type"]
        with pytest.raises(websockets.InvalidStatus, match="403"):
            run(connect(server.ws))
        assert run(connect(f"{server.ws}?token=s3cret")) == "ready"
        assert run(connect(server.ws, additional_headers={"Authorization": "Bearer s3cret"})) == "ready"


def test_bad_query_is_refused_with_the_valid_values(feature_model):
    with ServerThread({"jv": feature_model}) as server:
        async def refused(query: str):
            async with websockets.connect(f"{server.ws}?{query}") as ws:
                error = json.loads(await ws.recv())
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await ws.recv()
                return error["message"], closed.value.rcvd.code
        assert run(refused("input=int16")) == ("input='int16' is not valid for model 'jv'; valid: float32", 1008)
        assert run(refused("model=other"))[0] == "model 'other' is not served; served: ['jv']"
        assert run(refused("reply=all"))[0] == "reply='all' is not valid for model 'jv'; valid: probs, events"


def test_predict_answers_sequences_and_recordings_as_the_runtime_does(feature_model, audio_graphs, sample_test_file, tmp_path):
    sequences = read_ts(sample_test_file).sequences[:5]
    audio = Model(audio_graphs[1]["fp32"].path)
    rate = audio.frontend.config.sample_rate
    recording = np.sin(np.arange(rate) * 2 * np.pi * 440 / rate).astype(np.float32) * 0.3
    wav = write_wav(tmp_path / "tone.wav", recording, rate).read_bytes()
    with ServerThread({"jv": feature_model, "tones": audio}, max_request_bytes=200_000) as server:
        answer = httpx.post(f"{server.url}/v1/predict", json={"model": "jv", "inputs": [s.tolist() for s in sequences]}).json()
        heard = httpx.post(f"{server.url}/v1/predict?model=tones", content=wav, headers={"Content-Type": "audio/wav"}).json()
        no_model = httpx.post(f"{server.url}/v1/predict", json={"inputs": [sequences[0].tolist()]})
        bad_shape = httpx.post(f"{server.url}/v1/predict", json={"model": "jv", "inputs": [[[1.0, 2.0]]]})
        too_big = httpx.post(f"{server.url}/v1/predict", content=b"[" + b"0," * 150_000 + b"0]")
    np.testing.assert_allclose([p["probs"] for p in answer["predictions"]], feature_model.predict(sequences), atol=1e-6)
    from edgernn.runtime.wav import read_wav
    np.testing.assert_allclose(heard["predictions"][0]["probs"], audio.predict([read_wav(tmp_path / "tone.wav")[0]])[0], atol=1e-6)
    assert no_model.status_code == 400 and "several models are served" in no_model.json()["error"]
    assert bad_shape.status_code == 400 and "expected shape [time, 12], got [1, 2]" in bad_shape.json()["error"]
    assert too_big.status_code == 413


def test_audio_stream_in_int16_pieces_gives_the_solo_streams_events(audio_graphs):
    model = Model(audio_graphs[1]["fp32"].path)
    rate = model.frontend.config.sample_rate
    rng = np.random.default_rng(3)
    t = np.arange(2 * rate) / rate
    samples = np.round((0.3 * np.sin(2 * np.pi * 600 * t) * (t > 0.7) + 0.01 * rng.standard_normal(len(t))) * 32768).astype("<i2")
    cuts = np.cumsum(rng.integers(50, 400, size=100))
    with ServerThread({"tones": model}) as server:
        async def session(reply: str):
            async with websockets.connect(f"{server.ws}?input=int16&reply={reply}") as ws:
                await ws.recv()
                replies = []
                for piece in np.split(samples, cuts[cuts < len(samples)]):
                    await ws.send(piece.tobytes())
                    if reply == "probs":
                        replies.append(np.array(json.loads(await ws.recv())["probs"], np.float32).reshape(-1, len(model.labels)))
                await ws.send(json.dumps({"type": "close"}))
                async for message in ws:
                    replies.append(json.loads(message))
                return replies
        probs = np.concatenate(run(session("probs")))
        events = [e for message in run(session("events")) for e in message["events"]]
    solo = model.stream().push(samples.astype(np.float32) / 32768)
    np.testing.assert_allclose(probs, solo, atol=1e-5)
    detector = Detector.for_model(model)
    expected = [e.to_json() for e in detector.push(solo) + detector.flush()]
    assert events == expected and expected  # the tone makes at least one event


def test_sigterm_drains_open_streams_then_exits_0(feature_model, sample_test_file):
    """One stream finishes when told the server is closing (1000); one goes on sending and is
    closed when the drain time is up (1001). Both get every chunk they sent answered."""
    sequence = read_ts(sample_test_file).sequences[0]
    server = subprocess.Popen([sys.executable, "-m", "edgernn.cli", "serve", str(feature_model.path), "--port", "0", "--json",
                               "--drain-timeout", "2", "--log-level", "warning"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        where = json.loads(server.stdout.readline())

        async def answers(ws, cooperate: bool) -> tuple[list[dict], int]:
            messages, k = [], 4
            with pytest.raises(websockets.ConnectionClosedOK) as closed:
                while True:
                    messages.append(json.loads(await ws.recv()))
                    if messages[-1]["type"] == "closing" and cooperate:
                        await ws.send(json.dumps({"type": "close"}))
                    elif messages[-1]["type"] == "probs" and not cooperate and k < len(sequence):
                        await ws.send(sequence[k:k + 1].astype("<f4").tobytes())  # goes on as if nothing were said
                        k += 1
            return messages, closed.value.rcvd.code

        async def drained():
            streams = [await websockets.connect(where["stream"]) for _ in range(2)]
            for ws in streams:
                await ws.recv()
                for k in range(4):  # unanswered when the signal comes
                    await ws.send(sequence[k:k + 1].astype("<f4").tobytes())
            os.kill(server.pid, signal.SIGTERM)
            outcomes = asyncio.gather(answers(streams[0], True), answers(streams[1], False))
            await asyncio.sleep(0.5)
            async with httpx.AsyncClient() as client:
                health = (await client.get(f"{where['url']}/healthz")).status_code
            async with websockets.connect(where["stream"]) as late:
                with pytest.raises(websockets.ConnectionClosed) as refused:
                    await late.recv()
            return await outcomes, health, refused.value.rcvd.code
        (cooperative, stubborn), health, late = run(drained())
        assert server.wait(30) == 0, server.stderr.read()
    finally:
        server.kill()
    assert health == 503 and late == 1013
    assert cooperative[1] == 1000 and stubborn[1] == 1001
    for messages, _ in (cooperative, stubborn):
        assert sum(m["type"] == "closing" for m in messages) == 1
        probs = [m["probs"][0] for m in messages if m["type"] == "probs"]
        assert len(probs) >= 4 and [m["start"] for m in messages if m["type"] == "probs"] == list(range(len(probs)))
        np.testing.assert_allclose(probs, feature_model.stream().push(sequence[:len(probs)]), atol=1e-5)
    assert len([m for m in stubborn[0] if m["type"] == "probs"]) > 4  # it was served until the drain time was up


def test_serve_refuses_missing_and_clashing_models(feature_model):
    from click.testing import CliRunner

    from edgernn.cli.main import cli

    path = str(feature_model.path)
    missing = CliRunner().invoke(cli, ["serve", "nothing.onnx"])
    assert missing.exit_code == 2 and "nothing.onnx: no such model file" in missing.output
    clash = CliRunner().invoke(cli, ["serve", path, path])
    assert clash.exit_code == 2 and "name them apart with NAME=PATH" in clash.output
    assert Path(path).name == "model.fp32.onnx"


def test_serving_on_ray_needs_a_fixed_port(feature_model):
    from click.testing import CliRunner

    from edgernn.cli.main import cli

    result = CliRunner().invoke(cli, ["serve", str(feature_model.path), "--ray", "--port", "0"])
    assert result.exit_code == 2 and "Ray's proxy listens on a fixed port: give one" in result.output


def test_a_reset_first_sends_the_events_the_detector_still_holds(audio_graphs, tmp_path):
    """A detector whose hold outlasts the stream reports its last event only when the stream ends:
    a reset is such an end, so that event comes before the reset's answer."""
    import shutil

    from edgernn.export.calibrate import write_detector

    graph = tmp_path / "held.onnx"
    shutil.copy(audio_graphs[1]["fp32"].path, graph)
    labels = Model(graph).labels
    write_detector(graph, {"window": 5, "min_steps": 1, "refractory": 0, "hold": 100000, "thresholds": dict.fromkeys(labels, 0.5)})
    model = Model(graph)
    rate = model.frontend.config.sample_rate
    t = np.arange(2 * rate) / rate
    samples = (0.3 * np.sin(2 * np.pi * 600 * t) * (t > 0.7) + 0.01 * np.random.default_rng(4).standard_normal(len(t)))
    samples = np.round(samples * 32768).astype("<i2")
    with ServerThread({"tones": model}) as server:
        async def session():
            async with websockets.connect(f"{server.ws}?input=int16&reply=events") as ws:
                await ws.recv()
                for piece in np.split(samples, range(800, len(samples), 800)):
                    await ws.send(piece.tobytes())
                await ws.send(json.dumps({"type": "reset"}))
                replies = []
                async for message in ws:
                    replies.append(json.loads(message))
                    if replies[-1]["type"] == "reset":
                        return replies
        replies = run(session())
    expected = [e.to_json() for e in Detector.for_model(model).events_of(model.stream().push(samples.astype(np.float32) / 32768))]
    assert expected and replies[-1] == {"type": "reset", "steps": 0} and replies[-2]["type"] == "events"
    assert [e for reply in replies[:-1] for e in reply["events"]] == expected
