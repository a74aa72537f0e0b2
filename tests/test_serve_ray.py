"""`edgernn serve --ray --replicas 2` (serve/ray_app.py): a local Ray instance, two replicas behind
Ray's proxy. Streams land on both; one replica's process is killed mid-stream: its streams drop
(1006, no close frame), every stream of the other replica goes on equal to its solo run, a new
connection gets a fresh stream, and SIGTERM shuts the whole thing down with exit code 0."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("ray.serve", reason="the ray extra is not installed: pip install 'edgernn[ray]'")
pytest.importorskip("websockets", reason="the serve extra is not installed: pip install 'edgernn[serve]'")
import websockets  # noqa: E402

from edgernn.runtime import Model  # noqa: E402
from edgernn.runtime.datasets import read_ts  # noqa: E402

STREAMS = 12       # connections opened; Ray's proxy spreads them over the replicas
START_S = 240      # Ray's start on a busy 2-core machine takes 20-60 s


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def chunk_bytes(sequence: np.ndarray, k: int) -> bytes:
    return sequence[k:k + 1].astype("<f4").tobytes()


async def step(ws, sequence: np.ndarray, k: int) -> np.ndarray:
    await ws.send(chunk_bytes(sequence, k))
    return np.array(json.loads(await ws.recv())["probs"], dtype=np.float32)


def test_killing_one_replica_drops_only_its_streams(quick_runs, sample_test_file):
    model = Model(quick_runs["gru"][2]["fp32"].path, threads=1)
    sequences = read_ts(sample_test_file).sequences[:STREAMS]
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "edgernn.cli", "serve", str(model.path), "--ray", "--replicas", "2",
                               "--cpus-per-replica", "0.5", "--port", str(port), "--json", "--log-level", "warning"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        where = json.loads(server.stdout.readline() or "null")
        assert where is not None, server.stderr.read()[-3000:] if server.poll() is not None else "no address printed"

        async def scenario() -> dict:
            streams = [await websockets.connect(where["stream"]) for _ in sequences]
            replicas = [json.loads(await ws.recv())["server"]["pid"] for ws in streams]
            probs = [[await step(ws, s, k) for k in range(3)] for ws, s in zip(streams, sequences)]
            assert len(set(replicas)) == 2, f"the proxy put every stream on one replica: {replicas}"
            victim = replicas[0]
            os.kill(victim, signal.SIGKILL)
            dropped, survived = [], []
            for i, (ws, sequence) in enumerate(zip(streams, sequences)):
                if replicas[i] == victim:
                    with pytest.raises(websockets.ConnectionClosed) as closed:
                        for k in range(3, len(sequence)):  # sends may still be buffered; a reply never comes
                            await asyncio.wait_for(step(ws, sequence, k), 30)
                    dropped.append(closed.value.rcvd)  # the close frame received, if any
                else:
                    probs[i] += [await step(ws, sequence, k) for k in range(3, len(sequence))]
                    survived.append(float(np.abs(np.concatenate(probs[i]) - model.stream().push(sequence)).max()))
                    await ws.close()
            fresh = await websockets.connect(where["stream"])
            ready = json.loads(await fresh.recv())
            again = np.concatenate([await step(fresh, sequences[0], k) for k in range(len(sequences[0]))])
            await fresh.close()
            return {"dropped": dropped, "survived": survived, "fresh": ready, "fresh_diff":
                    float(np.abs(again - model.stream().push(sequences[0])).max()), "victim": victim}

        outcome = asyncio.run(asyncio.wait_for(scenario(), START_S))
        assert outcome["dropped"] and all(frame is None for frame in outcome["dropped"])  # no close frame: 1006
        assert outcome["survived"] and max(outcome["survived"]) <= 1e-5
        assert outcome["fresh"]["type"] == "ready" and outcome["fresh_diff"] <= 1e-5
        server.send_signal(signal.SIGTERM)
        assert server.wait(120) == 0, server.stderr.read()[-3000:]
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(30)


def test_the_serve_run_builder_names_what_it_takes(quick_runs):
    from ray.serve import Application

    from edgernn.serve.ray_app import build, field_type

    path = quick_runs["gru"][2]["fp32"].path
    assert isinstance(build({"models": f"jv={path}", "replicas": "2", "max_streams": "64", "max_wait_ms": "1.5",
                             "reset_after_background": "10", "token": "secret"}), Application)
    assert [field_type(name) for name in ("max_streams", "max_wait_ms", "reset_after_background", "token")] == [int, float, int, str]
    with pytest.raises(ValueError, match=r"needs models=NAME=PATH\[,NAME=PATH...\]; other arguments: replicas, threads"):
        build({"replicas": "2"})
    with pytest.raises(ValueError, match=r"\(unknown: colour\)"):
        build({"models": f"jv={path}", "colour": "red"})
