"""`edgernn serve MODEL...`: exported graphs behind a WebSocket and HTTP server (the `serve` extra)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

from edgernn.cli.options import json_option
from edgernn.runtime.errors import InputError
from edgernn.serve.config import ServeConfig

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def model_names(specs: tuple[str, ...]) -> dict[str, Path]:
    """MODEL arguments (PATH or NAME=PATH) -> {name: path}. A file model.<precision>.onnx is named
    <its folder>.<precision>, any other file by its stem."""
    named: dict[str, Path] = {}
    for spec in specs:
        name, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
        path = Path(path)
        if not path.is_file():
            raise click.BadParameter(f"{path}: no such model file (give an exported .onnx or .ort file)", param_hint="MODEL")
        if not name:
            parts = path.name.split(".")
            name = f"{path.resolve().parent.name}.{parts[1]}" if len(parts) == 3 and parts[0] == "model" else path.stem
        if not NAME.match(name):
            raise click.BadParameter(f"model name {name!r}: use letters, digits, '.', '_' and '-' (NAME=PATH)", param_hint="MODEL")
        if name in named:
            raise click.BadParameter(f"two models are named {name!r}: name them apart with NAME=PATH", param_hint="MODEL")
        named[name] = path
    return named


@click.command("serve", short_help='Serve graphs over WebSocket and HTTP, micro-batched.')
@click.argument("models", nargs=-1, required=True, metavar="MODEL...")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every interface).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="TCP port.")
@click.option("--max-streams", type=click.IntRange(min=1), default=ServeConfig.max_streams, show_default=True,
              help="Open WebSocket streams, all models together; more are closed with 1013 (try again later).")
@click.option("--max-batch", type=click.IntRange(min=1), default=ServeConfig.max_batch, show_default=True,
              help="Streams advanced together in one graph call.")
@click.option("--max-wait-ms", type=click.FloatRange(min=0), default=ServeConfig.max_wait_ms, show_default=True,
              help="Longest a chunk waits for other streams' chunks before its batch runs.")
@click.option("--max-frame-bytes", type=click.IntRange(min=1), default=ServeConfig.max_frame_bytes, show_default=True,
              help="Largest WebSocket message; a larger one closes its stream with 1009.")
@click.option("--queue-depth", type=click.IntRange(min=1), default=ServeConfig.queue_depth, show_default=True,
              help="Chunks a stream may have unanswered before the server stops reading it (back-pressure).")
@click.option("--idle-timeout", type=click.FloatRange(min=0, min_open=True), default=ServeConfig.idle_timeout_s, show_default=True,
              help="Seconds a stream may send nothing before it is closed.")
@click.option("--drain-timeout", type=click.FloatRange(min=0), default=ServeConfig.drain_timeout_s, show_default=True,
              help="On SIGTERM or Ctrl-C: seconds open streams get to finish before the server exits.")
@click.option("--token-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="File holding a bearer token that every request but /healthz must carry "
                   "(Authorization: Bearer TOKEN, or ?token= on the WebSocket).")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="onnxruntime intra-op threads per model.")
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info", "debug"]), default="info",
              show_default=True, help="uvicorn's log level.")
@click.option("--ray", "on_ray", is_flag=True,
              help="Serve through Ray Serve (the `ray` extra): --replicas processes behind Ray's proxy on --host:--port.")
@click.option("--replicas", type=click.IntRange(min=1), default=1, show_default=True,
              help="With --ray: replicas, each a process holding the models and its own streams.")
@click.option("--ray-address", default=None, metavar="ADDRESS",
              help="With --ray: a running Ray cluster (ray://HOST:10001 or auto); default: a local Ray instance.")
@click.option("--cpus-per-replica", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="With --ray: CPUs Ray reserves for each replica.")
@json_option
def serve_command(models, host, port, max_streams, max_batch, max_wait_ms, max_frame_bytes, queue_depth, idle_timeout,
                  drain_timeout, token_file, threads, log_level, on_ray, replicas, ray_address, cpus_per_replica, as_json):
    """Serve MODEL... (exported graphs; PATH or NAME=PATH) over HTTP and WebSocket: one stream per
    WebSocket connection at /v1/stream, micro-batched across connections; POST /v1/predict;
    GET /v1/models, /healthz and /metrics (Prometheus). SIGTERM drains open streams, then exits.

    \b
    Example:
      edgernn serve runs/kws/model.int8-dynamic.onnx --port 8000
      python -m websockets ws://127.0.0.1:8000/v1/stream
    """
    paths = model_names(models)
    if on_ray and port == 0:
        raise click.BadParameter("Ray's proxy listens on a fixed port: give one", param_hint="--port")
    try:
        from edgernn.serve.server import build_server
    except ModuleNotFoundError as exc:
        raise InputError(f"edgernn serve needs {exc.name}, which is not installed: pip install 'edgernn[serve]'") from None
    from edgernn.runtime import Model

    token = None
    if token_file is not None:
        token = Path(token_file).read_text().strip()
        if not token:
            raise click.BadParameter(f"{token_file} holds no token", param_hint="--token-file")
    config = ServeConfig(max_streams=max_streams, max_batch=max_batch, max_wait_ms=max_wait_ms, max_frame_bytes=max_frame_bytes,
                         queue_depth=queue_depth, idle_timeout_s=idle_timeout, drain_timeout_s=drain_timeout, token=token)
    if on_ray:
        try:
            from edgernn.serve import ray_app
        except ModuleNotFoundError as exc:
            raise InputError(f"edgernn serve --ray needs {exc.name}, which is not installed: pip install 'edgernn[ray]'") from None
    loaded = {name: Model(path, threads=threads) for name, path in paths.items()}  # also checks each file here
    for name, model in loaded.items():
        click.echo(f"serving {name}: {model.path} ({model.metadata.precision}, {model.frontend.kind}, "
                   f"{len(model.labels)} classes)", err=True)

    def on_listening(bound_host: str, bound_port: int) -> None:
        where = {"url": f"http://{bound_host}:{bound_port}", "stream": f"ws://{bound_host}:{bound_port}/v1/stream",
                 "models": list(loaded)}
        # one line either way, flushed: whoever started the server reads the port it got (--port 0)
        click.echo(json.dumps(where) if as_json else f"listening on {where['url']} (streams: {where['stream']})")
    if on_ray:
        ray_app.run(paths, config, host, port, replicas, threads, ray_address, cpus_per_replica, on_listening)
    else:
        build_server(loaded, config, host, port, log_level, on_listening).run()
