"""Run the app with uvicorn, draining open streams on SIGTERM or Ctrl-C before exiting.

uvicorn's own shutdown closes every WebSocket at once with 1012; here the first signal drains
instead (``Hub.drain``: no new streams, each open stream's queued chunks answered, then closed with
1001), and only then does uvicorn shut down. A second signal exits at once.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from types import FrameType
from typing import Callable

import uvicorn

from edgernn.runtime.model import Model
from edgernn.serve.app import Hub, ServeConfig, create_app

log = logging.getLogger("edgernn.serve")


class DrainingServer(uvicorn.Server):
    """uvicorn's server, draining on the first signal; ``on_listening(host, port)`` is called once
    it listens (the port the system chose, for ``--port 0``)."""

    def __init__(self, config: uvicorn.Config, hub: Hub, on_listening: Callable[[str, int], None] | None = None):
        super().__init__(config)
        self.hub = hub
        self.on_listening = on_listening
        self._drain: asyncio.Task | None = None

    @property
    def port(self) -> int:
        return self.servers[0].sockets[0].getsockname()[1]

    async def startup(self, sockets=None) -> None:
        await super().startup(sockets)
        if self.on_listening is not None and self.servers and not self.should_exit:
            self.on_listening(self.config.host, self.port)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # not recorded in _captured_signals, so uvicorn does not re-raise it: a drained server exits 0
        if self._drain is not None or self.should_exit:  # a second signal: stop now
            self.force_exit = self.should_exit = True
            return
        loop = asyncio.get_event_loop()
        self._drain = loop.create_task(self._drain_then_exit(signal.Signals(sig).name))

    async def _drain_then_exit(self, name: str) -> None:
        log.info("%s: draining %d open streams (at most %.0f s)", name, len(self.hub.connections),
                 self.hub.config.drain_timeout_s)
        await self.hub.drain()
        self.should_exit = True


def build_server(models: dict[str, Model], config: ServeConfig, host: str = "127.0.0.1", port: int = 8000,
                 log_level: str = "info", on_listening: Callable[[str, int], None] | None = None) -> DrainingServer:
    """The server for ``models``, not started: ``.run()`` serves until a signal drains it."""
    app = create_app(models, config)
    uv_config = uvicorn.Config(app, host=host, port=port, log_level=log_level, ws="websockets-sansio",
                               ws_max_size=config.max_frame_bytes, ws_per_message_deflate=False, lifespan="on",
                               timeout_graceful_shutdown=max(1, int(config.drain_timeout_s)))
    return DrainingServer(uv_config, app.state.hub, on_listening)
