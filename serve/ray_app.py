"""The same application on Ray Serve: N replicas of ``create_app`` behind Ray's HTTP proxy (the
`ray` extra).

    edgernn serve MODEL... --ray [--replicas N] [--port 8000]   # a local Ray instance, or --ray-address
    serve run edgernn.serve.ray_app:build models=NAME=PATH,... replicas=2   # Ray's own CLI, same app

Each replica is a Ray actor (its own process) that loads the models and runs the app, batcher
included; Ray's proxy forwards a WebSocket connection to one replica for its whole life, so a
stream's recurrent state lives in that replica. Streams are not moved: when a replica dies, the
proxy closes the connections it held, the other replicas' streams go on untouched, Ray starts a
new replica, and a client that reconnects gets a fresh stream (docs/serving.md, "On Ray Serve").
Micro-batching happens per replica, across the connections that replica holds.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from ray import serve

from edgernn.serve.config import ServeConfig

DEPLOYMENT = "edgernn"


def replica_app(paths: dict[str, str], config: dict, threads: int):
    """Runs in each replica: the models loaded there, and the app serving them."""
    from edgernn.runtime import Model
    from edgernn.serve.app import create_app

    return create_app({name: Model(path, threads=threads) for name, path in paths.items()}, ServeConfig(**config))


def application(paths: dict[str, Path], config: ServeConfig, replicas: int | dict = 1, threads: int = 1,
                cpus_per_replica: float = 1.0):
    """The bound Ray Serve application. replicas: a count, or Ray Serve's autoscaling_config
    ({"min_replicas", "max_replicas", "target_ongoing_requests", ...}: an ongoing request is an
    open stream)."""
    scaling = {"autoscaling_config": replicas} if isinstance(replicas, dict) else {"num_replicas": replicas}
    deployment = serve.deployment(
        serve.ingress(lambda: replica_app({n: str(Path(p).resolve()) for n, p in paths.items()}, asdict(config), threads))(),
        name=DEPLOYMENT,
        # every open WebSocket is one ongoing request for its whole life: the replica's own
        # --max-streams limit (1013) is the one that refuses, not Ray's queue
        max_ongoing_requests=config.max_streams,
        ray_actor_options={"num_cpus": cpus_per_replica},
        **scaling)
    return deployment.bind()


def build(args: dict[str, str]):
    """Application builder for Ray's `serve run edgernn.serve.ray_app:build models=A=PATH,B=PATH
    [replicas=N] [threads=1] [max_streams=...]`; other ServeConfig fields by name."""
    known = {"models", "replicas", "threads", "cpus_per_replica"}
    fields = {f for f in ServeConfig.__dataclass_fields__}
    unknown = sorted(set(args) - known - fields)
    if "models" not in args or unknown:
        raise ValueError(f"serve run edgernn.serve.ray_app:build needs models=NAME=PATH[,NAME=PATH...]; "
                         f"other arguments: replicas, threads, cpus_per_replica, {', '.join(sorted(fields))}"
                         + (f" (unknown: {', '.join(unknown)})" if unknown else ""))
    paths = dict(item.split("=", 1) for item in args["models"].split(","))
    config = ServeConfig(**{name: field_type(name)(value) for name, value in args.items() if name in fields})
    return application(paths, config, int(args.get("replicas", 1)), int(args.get("threads", 1)),
                       float(args.get("cpus_per_replica", 1.0)))


def field_type(name: str) -> type:
    """int, float or str: what a ServeConfig field holds (its annotation, e.g. "int | None")."""
    annotation = str(ServeConfig.__dataclass_fields__[name].type)
    return int if annotation.startswith("int") else float if annotation.startswith("float") else str


def run(paths: dict[str, Path], config: ServeConfig, host: str, port: int, replicas: int = 1, threads: int = 1,
        address: str | None = None, cpus_per_replica: float = 1.0, on_listening=None) -> None:
    """Serve on Ray until SIGTERM or Ctrl-C: a local Ray instance (``address`` None) or the cluster
    at ``address``; Ray's proxy listens on host:port. On the signal, Ray Serve shuts the replicas
    down (each app's lifespan stops its batcher) and this process exits 0."""
    import signal
    import threading

    import ray

    ray.init(address=address, include_dashboard=False, logging_level="warning", log_to_driver=False)
    stop = threading.Event()
    for name in (signal.SIGTERM, signal.SIGINT):  # after ray.init, which installs handlers of its own
        signal.signal(name, lambda *_: stop.set())
    try:
        serve.start(http_options={"host": host, "port": port})
        serve.run(application(paths, config, replicas, threads, cpus_per_replica), name=DEPLOYMENT, route_prefix="/")
        if on_listening is not None and not stop.is_set():
            on_listening(host, port)
        stop.wait()
        serve.shutdown()
    finally:
        ray.shutdown()
