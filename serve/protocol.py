"""The streaming protocol of ``edgernn serve``: what a client sends, and what it gets back.

One WebSocket connection is one stream of one model, from zero state:

    ws://HOST:PORT/v1/stream?model=NAME&input=float32&reply=probs&encoding=json

Query parameters (each optional; ``model`` may be left out when one model is served):
- ``input``: the element type of binary frames, little-endian: ``float32`` (feature frames, or
  audio samples in [-1, 1]), ``int16`` (audio samples, full scale 32768) or ``int32`` (token ids).
- ``reply``: ``probs`` (one reply per chunk: the probabilities of every step it completed) or
  ``events`` (a reply only when the model's detector reports events).
- ``encoding``: of ``probs`` replies: ``json``, or ``binary`` (float32 little-endian [steps, classes]).

Client -> server:
- a binary frame: one chunk, ``input`` elements: feature frames [steps, features] row by row,
  audio samples [n] (any count: the server keeps the part of a hop that is not complete yet),
  or token ids [n];
- a text frame holding a JSON object: ``{"type": "chunk", "data": [...]}`` (the same chunk as a
  nested list), ``{"type": "text", "text": "..."}`` (text models), ``{"type": "reset"}`` (start
  again from zero state; answered ``{"type": "reset", "steps": 0}``) or ``{"type": "close"}``
  (the server answers what is still queued, reports the last open event, and closes with 1000).

Server -> client (text frames hold JSON):
- first ``{"type": "ready", "stream": ID, "model": NAME, "server": {"host", "pid"}, "labels": [...],
  "input": {...}}`` (``server``: the process holding the stream, a replica on Ray Serve);
- per chunk with ``reply=probs``: ``{"type": "probs", "start": FIRST_STEP, "probs": [[...], ...]}``
  (steps counted from the stream's start or last reset), or the binary frame;
- with ``reply=events``: ``{"type": "events", "events": [{"label", "start", "end", "score"}]}``;
- ``{"type": "error", "error": CODE, "message": "..."}`` for a message that cannot be taken
  (``ERROR_CODES``); the stream is unchanged and the connection stays open;
- ``{"type": "closing", "reason": "..."}`` when the server begins to shut down (SIGTERM): the
  stream is still served; finish (send ``close``) and reconnect, to another replica or once the
  server is back. A stream still open ``--drain-timeout`` seconds later is no longer read: what it
  has queued is answered, and it is closed with 1001.

Close codes (``CLOSE_CODES``): 1000 closed normally (``close``, or idle too long), 1001 the server
is shutting down (reconnect and start a fresh stream), 1008 refused (token, query, or a client
that does not read its replies), 1009 a frame over the size limit, 1011 a server error, 1013 the
server is full or draining (try again later).
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from edgernn.runtime.detect import Event
from edgernn.runtime.errors import InputError

if TYPE_CHECKING:
    from edgernn.runtime.model import Model

INPUT_DTYPES = {"float32": np.dtype("<f4"), "int16": np.dtype("<i2"), "int32": np.dtype("<i4")}
INT16_FULL_SCALE = 32768.0
REPLIES = ("probs", "events")
ENCODINGS = ("json", "binary")
MESSAGE_TYPES = ("chunk", "text", "reset", "close")

CLOSE_CODES = {"normal": 1000, "going_away": 1001, "policy": 1008, "too_big": 1009, "server_error": 1011,
               "try_again_later": 1013}
ERROR_CODES = ("bad_message", "bad_chunk", "server_error")
SERVER = {"host": socket.gethostname(), "pid": os.getpid()}  # this process; each Ray Serve replica is one


class ProtocolError(InputError):
    """A message or connection request the protocol cannot take; ``code`` is one of ERROR_CODES."""

    def __init__(self, message: str, code: str = "bad_message"):
        super().__init__(message)
        self.code = code


def input_dtypes(model: "Model") -> tuple[str, ...]:
    """The binary ``input`` types a model takes, the first being the default."""
    kind = model.frontend.kind
    if kind == "logmel":
        return ("float32", "int16")
    if kind in ("token_ids", "text"):
        return ("int32",)
    return ("float32",)


@dataclass(frozen=True)
class StreamOptions:
    """A connection's choices (the module docstring's query parameters), checked."""

    model: str
    input: str
    reply: str = "probs"
    encoding: str = "json"

    @classmethod
    def from_query(cls, query: Mapping[str, str], models: Mapping[str, "Model"]) -> "StreamOptions":
        """Raises ProtocolError naming the valid values of the first bad parameter."""
        unknown = sorted(set(query) - {"model", "input", "reply", "encoding", "token"})
        if unknown:
            raise ProtocolError(f"unknown query parameters {unknown}; valid: model, input, reply, encoding, token")
        name = query.get("model")
        if name is None:
            if len(models) != 1:
                raise ProtocolError(f"several models are served: choose one with ?model= (one of {sorted(models)})")
            name = next(iter(models))
        if name not in models:
            raise ProtocolError(f"model {name!r} is not served; served: {sorted(models)}")
        valid = input_dtypes(models[name])
        options = cls(name, query.get("input", valid[0]), query.get("reply", "probs"), query.get("encoding", "json"))
        for field, value, choices in (("input", options.input, valid), ("reply", options.reply, REPLIES),
                                      ("encoding", options.encoding, ENCODINGS)):
            if value not in choices:
                raise ProtocolError(f"{field}={value!r} is not valid for model {name!r}; valid: {', '.join(choices)}")
        return options


@dataclass(frozen=True)
class Message:
    """One client message: ``kind`` one of MESSAGE_TYPES; ``chunk`` (for "chunk" and "text") is
    what ``Stream.push`` takes, not yet checked against the model."""

    kind: str
    chunk: Any = None


def decode_binary(data: bytes, options: StreamOptions, model: "Model") -> Message:
    """A binary frame -> a chunk: float32 [steps, features] for a feature model, float32 [n]
    samples for an audio model, int64 [n] ids for a token or text model."""
    dtype = INPUT_DTYPES[options.input]
    if len(data) % dtype.itemsize:
        raise ProtocolError(f"a binary frame of {options.input} must hold a whole number of {dtype.itemsize}-byte "
                            f"values; got {len(data)} bytes", "bad_chunk")
    values = np.frombuffer(data, dtype=dtype)
    kind = model.frontend.kind
    if kind in ("features", "framed_features"):
        width = getattr(model.frontend, "raw_features", model.frontend.features)
        if len(values) % width:
            raise ProtocolError(f"a binary frame of feature frames must hold whole frames of {width} float32 values; "
                                f"got {len(values)} values", "bad_chunk")
        return Message("chunk", values.reshape(-1, width).astype(np.float32))
    if kind == "logmel":
        samples = values.astype(np.float32)
        return Message("chunk", samples / np.float32(INT16_FULL_SCALE) if options.input == "int16" else samples)
    return Message("chunk", values.astype(np.int64))


def decode_text(text: str, model: "Model") -> Message:
    """A text frame (a JSON object, MESSAGE_TYPES) -> a Message."""
    try:
        message = json.loads(text)
    except ValueError as exc:
        raise ProtocolError(f"a text frame must hold a JSON object; {exc}") from None
    kind = message.get("type") if isinstance(message, dict) else None
    if kind not in MESSAGE_TYPES:
        raise ProtocolError(f"expected a JSON object with \"type\" one of {list(MESSAGE_TYPES)}; got {text[:80]!r}")
    if kind == "text":
        if model.frontend.kind != "text":
            raise ProtocolError(f"\"text\" messages are for text models; this model takes {model.frontend.kind}: "
                                "send \"chunk\" messages or binary frames")
        if not isinstance(message.get("text"), str):
            raise ProtocolError("a \"text\" message needs a \"text\" string")
        return Message("chunk", message["text"])
    if kind == "chunk":
        if not isinstance(message.get("data"), list):
            raise ProtocolError("a \"chunk\" message needs \"data\": a list (feature frames [steps, features], "
                                "audio samples [n] or token ids [n])", "bad_chunk")
        tokens = model.frontend.kind in ("token_ids", "text")
        try:
            return Message("chunk", np.asarray(message["data"], dtype=np.int64 if tokens else np.float32))
        except (ValueError, TypeError, OverflowError):
            raise ProtocolError("\"data\" must be a rectangular list of numbers", "bad_chunk") from None
    return Message(kind)


def ready_message(sid: int, name: str, model: "Model", options: StreamOptions) -> dict:
    """The first message of a stream: what it is connected to."""
    return {"type": "ready", "stream": sid, "model": name, "server": SERVER, "labels": model.labels,
            "input": {"kind": model.frontend.kind, "dtype": options.input, **input_shape(model)},
            "reply": options.reply, "encoding": options.encoding}


def input_shape(model: "Model") -> dict:
    """What one step of the model's input is, in the elements a client sends."""
    frontend = model.frontend
    if frontend.kind == "logmel":
        return {"sample_rate": frontend.config.sample_rate, "samples_per_step": frontend.step_length}
    if frontend.kind in ("features", "framed_features"):
        return {"features": getattr(frontend, "raw_features", frontend.features),
                "frames_per_step": getattr(frontend, "step_length", 1)}
    return {"vocab_size": model.metadata.vocab_size}


def probs_reply(probs: np.ndarray, start: int, encoding: str) -> bytes | str:
    """One chunk's probabilities (float32 [steps, classes]) as the client asked for them."""
    if encoding == "binary":
        return probs.astype("<f4", copy=False).tobytes()
    return json.dumps({"type": "probs", "start": start, "probs": probs.tolist()})


def events_reply(events: list[Event]) -> str:
    return json.dumps({"type": "events", "events": [event.to_json() for event in events]})


def error_reply(error: Exception) -> str:
    code = getattr(error, "code", "bad_chunk" if isinstance(error, InputError) else "server_error")
    return json.dumps({"type": "error", "error": code, "message": str(error)})
