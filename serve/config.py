"""The limits and batching of one ``edgernn serve`` server (plain data: the CLI builds its options from it)."""

from __future__ import annotations

from dataclasses import dataclass

from edgernn.runtime.errors import InputError


@dataclass(frozen=True)
class ServeConfig:
    """Limits and batching of one server. Sizes in bytes, times in seconds unless named _ms."""

    max_streams: int = 1024          # open WebSocket streams, all models together; more get 1013
    max_batch: int = 256             # streams per micro-batch
    max_wait_ms: float = 2.0         # longest a chunk waits for other streams' chunks before its batch runs
    max_frame_bytes: int = 1 << 20   # one WebSocket message; a larger one closes the stream with 1009
    max_request_bytes: int = 16 << 20  # one /v1/predict body; larger gets 413
    queue_depth: int = 8             # chunks a stream may have unanswered; then the server stops reading it
    idle_timeout_s: float = 60.0     # a stream that sends nothing this long is closed (1000)
    send_timeout_s: float = 10.0     # a reply the client does not take this long closes the stream (1008)
    drain_timeout_s: float = 10.0    # SIGTERM: how long open streams get to finish before they are closed
    token: str | None = None
    reset_after_background: int | None = None  # background steps in a row after which a stream is zeroed, once per run; None: never

    def __post_init__(self) -> None:
        bad = [name for name in ("max_streams", "max_batch", "max_frame_bytes", "max_request_bytes", "queue_depth")
               if getattr(self, name) < 1]
        bad += [name for name in ("max_wait_ms", "idle_timeout_s", "send_timeout_s", "drain_timeout_s")
                if not getattr(self, name) >= 0]
        if bad:
            raise InputError(f"serve: {', '.join(bad)} must be >= 1 (counts and sizes) or >= 0 (times)")
        if self.token is not None and not self.token:
            raise InputError("serve: the token is empty")
