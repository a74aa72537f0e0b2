"""``edgernn serve``: exported models behind a WebSocket and HTTP server (the ``serve`` extra:
starlette, uvicorn, prometheus-client). serve/protocol.py documents the streaming protocol."""
