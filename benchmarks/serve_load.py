"""Many concurrent WebSocket streams against one `edgernn serve`, written to one JSON file.

    python benchmarks/serve_load.py MODEL [--streams 1000] [--seconds 60] [--chunk-ms 10] [--clients 1]
                                          [--ray --replicas N]

Starts `edgernn serve MODEL --port 0` (one onnxruntime thread; with ``--ray``, on a local Ray
instance with N replicas behind Ray's proxy on a free port), then ``--clients`` client
processes open ``--streams`` WebSocket streams between them. Every stream sends one chunk of one
step (a feature frame, or one hop of int16 audio) every ``--chunk-ms`` milliseconds, as a live
sensor or microphone would (``--pace closed-loop``: the next chunk as soon as the last reply is
in, to find the most the server can do), and reads binary float32 replies.

Measured:
- per chunk, from send to reply, at the client: p50, p99, max (ms);
- server throughput in stream-steps per second over the timed window, and the share of the
  offered load it kept up with;
- the same model in this process, ``StreamBatch.push_array`` (``push`` for audio) of all streams
  at once, one step each (``runtime/bench.py``'s throughput, 200 calls): stream-steps per second,
  and the server's rate against it;
- ``--watch`` streams record every reply; after the run each is compared with its solo run
  (``Model.stream().push`` of the same chunks): the largest difference;
- the server's CPU time over the timed window (its share of one core, and per stream-step:
  what one step costs the server, whatever the client's own cost on a shared machine), its peak
  resident memory (VmHWM) and its /metrics batch sizes. With ``--ray`` the server is every
  process under the `edgernn serve` process (Ray's GCS, raylet, proxy, controller and replicas):
  CPU is their sum, memory the sum of their peaks (an upper bound), and /metrics is one replica's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_file import write_result  # noqa: E402


def chunk_for(model_input: dict, rng: np.random.Generator) -> np.ndarray:
    """One step of input as sent: float32 [1, features] or int16 [hop] samples."""
    if model_input["kind"] == "logmel":
        return (rng.standard_normal(model_input["samples_per_step"]) * 3000).astype("<i2")
    return rng.standard_normal((1, model_input["features"])).astype("<f4")


async def one_stream(url: str, index: int, args, deadline_start: float, deadline_end: float, out: dict) -> None:
    import websockets

    rng = np.random.default_rng(index)
    async with websockets.connect(url, max_size=None, open_timeout=60, ping_interval=None) as ws:
        ready = json.loads(await ws.recv())
        classes = len(ready["labels"])
        watched = index < args.watch
        sent, replies, latencies = [], [], []
        await asyncio.sleep(max(0.0, deadline_start - time.monotonic()) + rng.uniform(0, args.chunk_ms / 1000))
        next_send = time.monotonic()
        while time.monotonic() < deadline_end:
            chunk = chunk_for(ready["input"], rng)
            started = time.monotonic()
            await ws.send(chunk.tobytes())
            reply = await ws.recv()
            done = time.monotonic()
            latencies.append(done - started)
            if watched:
                sent.append(chunk)
                replies.append(np.frombuffer(reply, "<f4").reshape(-1, classes))
            if args.pace == "real-time":
                next_send += args.chunk_ms / 1000
                await asyncio.sleep(max(0.0, next_send - time.monotonic()))
        out["latencies"].extend(latencies)
        out["steps"] += len(latencies)
        if watched:
            out["watched"].append((index, np.concatenate(sent), np.concatenate(replies)))


def client_process(url: str, indices: list[int], args, start: float, end: float, queue) -> None:
    out = {"latencies": [], "steps": 0, "watched": []}

    async def everyone():
        await asyncio.gather(*(one_stream(url, i, args, start, end, out) for i in indices))
    try:  # the client side should not be what limits the server: uvloop's event loop when installed
        import uvloop
        uvloop.run(everyone())
    except ImportError:
        asyncio.run(everyone())
    queue.put(out)


def server_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux /proc), all its threads together."""
    import os

    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """``pid`` and every process below it (Linux /proc children lists)."""
    tree, queue = [], [pid]
    while queue:
        current = queue.pop()
        tree.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            queue += [int(child) for child in task.read_text().split()]
    return tree


def tree_cpu_seconds(pid: int) -> float:
    total = 0.0
    for member in process_tree(pid):
        try:
            total += server_cpu_seconds(member)
        except (FileNotFoundError, ProcessLookupError):  # ended between the listing and the read
            pass
    return total


def tree_peak_kb(pid: int) -> int:
    total = 0
    for member in process_tree(pid):
        try:
            status = Path(f"/proc/{member}/status").read_text().splitlines()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += next((int(line.split()[1]) for line in status if line.startswith("VmHWM")), 0)
    return total


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def in_process_rate(model_path: str, streams: int, calls: int = 200) -> float:
    """Stream-steps per second of the runtime's batched path (``StreamBatch.push_array``, ``push``
    for audio), one step of every stream per call: ``edgernn bench``'s throughput measurement."""
    from edgernn.runtime import Model
    from edgernn.runtime.bench import throughput

    return throughput(Model(model_path, threads=1), streams, calls)["batched_steps_per_s"]


def solo_difference(model_path: str, watched: list) -> float:
    """Largest |server reply - solo run| over the watched streams."""
    from edgernn.runtime import Model

    model = Model(model_path, threads=1)
    worst = 0.0
    for _, sent, replies in watched:
        x = sent.astype(np.float32) / 32768 if sent.dtype == np.dtype("<i2") else sent
        solo = model.stream().push(x)
        worst = max(worst, float(np.abs(solo[: len(replies)] - replies).max()))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--streams", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60.0, help="timed window")
    parser.add_argument("--chunk-ms", type=float, default=10.0)
    parser.add_argument("--pace", choices=["real-time", "closed-loop"], default="real-time")
    parser.add_argument("--clients", type=int, default=1, help="client processes")
    parser.add_argument("--watch", type=int, default=20, help="streams compared with their solo runs")
    parser.add_argument("--max-wait-ms", type=float, default=2.0)
    parser.add_argument("--ray", action="store_true", help="serve through Ray Serve (the ray extra)")
    parser.add_argument("--replicas", type=int, default=1, help="with --ray")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    where_to = ["--ray", "--replicas", str(args.replicas), "--cpus-per-replica", "0.5", "--port", str(free_port())] \
        if args.ray else ["--port", "0"]
    server = subprocess.Popen([sys.executable, "-m", "edgernn.cli", "serve", str(args.model), *where_to, "--json",
                               "--max-streams", str(args.streams + 10), "--max-wait-ms", str(args.max_wait_ms),
                               "--log-level", "warning", "--threads", "1"], stdout=subprocess.PIPE, text=True)
    try:
        where = json.loads(server.stdout.readline())
        import httpx

        kind = httpx.get(f"{where['url']}/v1/models").json()["models"][0]["input"]["kind"]
        url = f"{where['stream']}?encoding=binary" + ("&input=int16" if kind == "logmel" else "")
        start = time.monotonic() + 5 + args.streams / 200  # time to open every connection
        end = start + args.seconds
        queue = multiprocessing.get_context("spawn").Queue()
        clients = [multiprocessing.get_context("spawn").Process(
            target=client_process, args=(url, list(range(c, args.streams, args.clients)), args, start, end, queue))
            for c in range(args.clients)]
        for client in clients:
            client.start()
        time.sleep(max(0.0, start - time.monotonic()))
        cpu_before = tree_cpu_seconds(server.pid)
        time.sleep(max(0.0, end - time.monotonic()))
        server_cpu = tree_cpu_seconds(server.pid) - cpu_before
        outs = [queue.get() for _ in clients]
        for client in clients:
            client.join()
        metrics = httpx.get(f"{where['url']}/metrics").text
        peak_kb = tree_peak_kb(server.pid)
    finally:
        server.terminate()
        server.wait(120)
    latencies = np.concatenate([np.array(o["latencies"]) for o in outs]) * 1000
    steps = sum(o["steps"] for o in outs)
    rate = steps / args.seconds
    offered = args.streams * 1000 / args.chunk_ms if args.pace == "real-time" else None
    baseline = in_process_rate(str(args.model), args.streams)
    metric = lambda name: float(next(line.split()[-1] for line in metrics.splitlines() if line.startswith(name)))  # noqa: E731
    batch_sum, batch_count = metric("edgernn_batch_streams_sum"), metric("edgernn_batch_streams_count")
    result = {
        "model": str(args.model), "streams": args.streams, "seconds": args.seconds, "chunk_ms": args.chunk_ms,
        "pace": args.pace, "clients": args.clients, "max_wait_ms": args.max_wait_ms,
        "server": f"ray serve, {args.replicas} replica(s)" if args.ray else "edgernn serve (uvicorn)",
        "latency_ms": {"p50": round(float(np.percentile(latencies, 50)), 3), "p99": round(float(np.percentile(latencies, 99)), 3),
                       "max": round(float(latencies.max()), 3)},
        "server_steps_per_s": round(rate, 1),
        "offered_steps_per_s": offered,
        "kept_up": round(rate / offered, 4) if offered else None,
        "in_process_push_array_steps_per_s": round(baseline, 1),
        "server_vs_in_process": round(rate / baseline, 4),
        "server_cpu_share": round(server_cpu / args.seconds, 3),
        "server_cpu_us_per_step": round(server_cpu / max(steps, 1) * 1e6, 1),
        "mean_batch_streams": round(batch_sum / batch_count, 1) if batch_count else None,
        "watched_streams": sum(len(o["watched"]) for o in outs),
        "watched_max_abs_diff": solo_difference(str(args.model), [w for o in outs for w in o["watched"]]),
        "server_peak_rss_mb": round(peak_kb / 1024, 1),
    }
    write_result(result, "serve_load", args.out, echo=True)


if __name__ == "__main__":
    main()
