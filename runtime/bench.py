"""Latency and throughput of a model's streaming step, against the bare session in the same run.

Used by the pipeline (``step_latency``) and by `edgernn bench` (``bench``). Everything here is
numpy + onnxruntime; the PyTorch eager baseline is passed in as a callable by the caller.

Units: microseconds (``*_us``), stream-steps per second (``*_steps_per_s``), multiply-
accumulates per second (``*_macs_per_s``). Percentiles are over individual calls.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from edgernn.runtime.model import Model
from edgernn.runtime.progress import Progress

STREAM_COUNTS = (1, 16, 64, 256, 1024)
SEPARATE_PUSH_MAX_STREAMS = 256  # one Stream.push per stream per step: slow, so measured up to here


def example_step(model: Model, rng: np.random.Generator) -> np.ndarray:
    """One raw input step the model accepts: float32 [1, features], int64 [1], or for an audio
    model one hop of samples float32 [hop] (noise at about -20 dBFS)."""
    meta = model.metadata
    if model.frontend.kind == "logmel":
        return (0.1 * rng.standard_normal(model.frontend.step_length)).astype(np.float32)
    if model.frontend.kind == "framed_features":  # the raw steps of one frame
        return rng.standard_normal((model.frontend.frame, model.frontend.raw_features)).astype(np.float32)
    if meta.input_kind == "features":
        return rng.standard_normal((1, meta.features)).astype(np.float32)
    return rng.integers(0, meta.vocab_size, size=1, dtype=np.int64)


def _percentiles(times_ns: np.ndarray, steps: int) -> dict:
    us = times_ns / 1000.0
    return {"step_us_p50": round(float(np.percentile(us, 50)), 2), "step_us_p99": round(float(np.percentile(us, 99)), 2),
            "step_us_mean": round(float(us.mean()), 2), "steps": steps}


def time_calls(call: Callable[[int], object], steps: int, warmup: int) -> np.ndarray:
    """Nanoseconds of each of ``steps`` calls ``call(i)`` after ``warmup`` untimed ones."""
    for i in range(warmup):
        call(i)
    times = np.empty(steps, dtype=np.float64)
    clock = time.perf_counter_ns
    for i in range(steps):
        start = clock()
        call(i)
        times[i] = clock() - start
    return times


def step_latency(model: Model, steps: int = 2000, warmup: int = 200, seed: int = 0) -> dict:
    """Time ``Stream.push`` of one step at a time, batch 1.

    Returns {"step_us_p50", "step_us_p99", "step_us_mean", "steps", "threads"} (microseconds).
    """
    times = time_calls(push_call(model, seed), steps, warmup)
    return {**_percentiles(times, steps), "threads": model.threads or 0}


def push_call(model: Model, seed: int = 0) -> Callable[[int], object]:
    """call(i): one ``Stream.push`` of one step (of 64 pre-made raw inputs, in turn)."""
    rng = np.random.default_rng(seed)
    inputs = [example_step(model, rng) for _ in range(64)]
    stream = model.stream()
    return lambda i: stream.push(inputs[i % 64])


def frontend_call(model: Model, seed: int = 0) -> Callable[[int], object]:
    """call(i): one front-end stream push of one step's raw input (an audio hop), no graph run."""
    rng = np.random.default_rng(seed)
    inputs = [example_step(model, rng) for _ in range(64)]
    frontend = model.frontend.stream()
    return lambda i: frontend.push(inputs[i % 64])


def bare_call(model: Model, seed: int = 0) -> Callable[[int], object]:
    """call(i): the bare ``session.run`` of one step with pre-built, already prepared inputs (state
    fixed): the floor any runtime built on this session pays per step."""
    rng = np.random.default_rng(seed)
    meta = model.metadata
    if meta.input_kind == "features":  # one prepared frame (an audio model's x is a frame too)
        x = rng.standard_normal((1, 1, meta.features)).astype(np.float32)
    else:
        x = rng.integers(0, meta.vocab_size, size=(1, 1), dtype=np.int64)
    feeds = {"x": x, **model.zero_state(1)}
    names = ["logits", *(s.output for s in model.state_specs)]
    session = model.session
    return lambda i: session.run(names, feeds)


def compare_latency(calls: dict[str, Callable[[int], object]], steps: int, rounds: int = 5, warmup: int = 100,
                    steps_per_call: int = 1) -> dict:
    """Time every call ``steps`` times in all, interleaved: ``rounds`` rounds, in a shuffled order
    each, so drift and noisy neighbours affect them alike. Times are per step (a call covering
    ``steps_per_call`` steps is divided by it). Returns {name: percentiles} and, for every name
    after the first, "<name>_vs_<first>": the median over rounds of the paired ratio of round
    medians (a ratio the noise moves much less than either time), and "<name>_vs_<first>_range":
    the lowest and highest of those per-round ratios."""
    names = list(calls)
    per_round = max(1, steps // rounds)
    samples: dict[str, list[np.ndarray]] = {name: [] for name in names}
    order_rng = np.random.default_rng(0)
    for _ in range(rounds):
        for name in order_rng.permutation(names):
            samples[name].append(time_calls(calls[name], per_round, warmup) / steps_per_call)
    result: dict = {name: _percentiles(np.concatenate(samples[name]), per_round * rounds) for name in names}
    base = [np.median(s) for s in samples[names[0]]]
    for name in names[1:]:
        ratios = [np.median(s) / b for s, b in zip(samples[name], base)]
        result[f"{name}_vs_{names[0]}"] = round(float(np.median(ratios)), 3)
        result[f"{name}_vs_{names[0]}_range"] = [round(float(min(ratios)), 3), round(float(max(ratios)), 3)]
    return result


def _batched_feeds(model: Model, streams: int, rng: np.random.Generator) -> dict:
    meta = model.metadata
    if meta.input_kind == "features":
        x = rng.standard_normal((streams, 1, meta.features)).astype(np.float32)
    else:
        x = rng.integers(0, meta.vocab_size, size=(streams, 1), dtype=np.int64)
    return {"x": x, **model.zero_state(streams)}


def throughput(model: Model, streams: int, rounds: int, seed: int = 0) -> dict:
    """Stream-steps per second with ``streams`` streams, each advancing one step per round:
    - "batched": one StreamBatch.push_array of every stream per round (the runtime's batched
      path; StreamBatch.push with a dict of chunks for audio models);
    - "batched_dict": one StreamBatch.push({id: chunk}) per round (feature/token models);
    - "bare": one bare session.run on pre-built [streams, 1, ...] inputs per round, the state
      fed back (the floor for the batched path);
    - "separate" (up to SEPARATE_PUSH_MAX_STREAMS): one Stream.push per stream per round.
    They are timed interleaved (``compare_latency``, 5 rounds in shuffled order), so drift on a
    shared machine hits them alike; "batched_vs_bare" is bare's rate over batched's, the median
    of the paired per-round ratios (1.0: the scheduler costs nothing).
    """
    rng = np.random.default_rng(seed)
    inputs = [example_step(model, rng) for _ in range(16)]
    batch = model.batch()
    ids = [batch.open() for _ in range(streams)]
    chunks = [{sid: inputs[(sid + r) % len(inputs)] for sid in ids} for r in range(4)]
    calls: dict[str, Callable[[int], object]] = {}
    feeds = _batched_feeds(model, streams, rng)
    names = ["logits", *(s.output for s in model.state_specs)]
    state_names = [s.name for s in model.state_specs]

    def bare(_: int) -> None:
        outputs = model.session.run(names, feeds)
        for name, value in zip(state_names, outputs[1:]):
            feeds[name] = value
    calls["bare"] = bare
    if model.frontend.kind in ("logmel", "framed_features"):  # streams that buffer raw input: the dict path
        calls["batched"] = lambda r: batch.push(chunks[r % 4])
    else:
        id_array = np.array(ids)
        arrays = [np.stack([chunk[sid] for sid in ids]) for chunk in chunks]
        calls["batched"] = lambda r: batch.push_array(id_array, arrays[r % 4])
        calls["batched_dict"] = lambda r: batch.push(chunks[r % 4])
    if streams <= SEPARATE_PUSH_MAX_STREAMS:
        solo = [model.stream() for _ in range(streams)]

        def separate(r: int) -> None:
            for k, stream in enumerate(solo):
                stream.push(inputs[(k + r) % len(inputs)])
        calls["separate"] = separate
    timed = compare_latency(calls, rounds, warmup=max(2, rounds // 50))
    result: dict = {"streams": streams, "rounds": rounds}
    for name in calls:  # the mean call time gives the sustained rate
        result[f"{name}_steps_per_s"] = round(streams * 1e6 / timed[name]["step_us_mean"], 1)
    if "batched_dict" in calls:  # what the dict path costs over the array path (1.0: nothing)
        result["dict_vs_array"] = round(result["batched_steps_per_s"] / result["batched_dict_steps_per_s"], 2)
    result["batched_vs_bare"] = timed["batched_vs_bare"]
    result["batched_vs_bare_range"] = timed["batched_vs_bare_range"]
    if "separate" in calls:
        result["batched_vs_separate"] = round(result["batched_steps_per_s"] / result["separate_steps_per_s"], 2)
    return result


_GEMM_PROBE = """
import sys, time
import numpy as np
size, repeats = int(sys.argv[1]), int(sys.argv[2])
a = np.random.rand(size, size).astype(np.float32)
a @ a  # warm-up
best = float("inf")
for _ in range(repeats):
    start = time.perf_counter()
    a @ a
    best = min(best, time.perf_counter() - start)
print(size ** 3 / best)
"""


def peak_mac_rate(threads: int | None, size: int = 1024, repeats: int = 5) -> float:
    """A practical peak: multiply-accumulates per second of a float32 [size x size] matrix product
    (numpy's BLAS, best of ``repeats``) in a fresh process limited to ``threads`` BLAS threads
    (None: the library's default)."""
    env = dict(os.environ)
    if threads:
        env.update(dict.fromkeys(("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), str(threads)))
    out = subprocess.run([sys.executable, "-c", _GEMM_PROBE, str(size), str(repeats)], capture_output=True, text=True,
                         env=env, check=True)
    return float(out.stdout.strip())


_RUNTIME_PROBE = """
import json, resource, sys, time
start = time.perf_counter()
from edgernn.runtime import Model
from edgernn.runtime.bench import example_step
import_s = time.perf_counter() - start
import numpy as np
model_path, steps = sys.argv[1], int(sys.argv[2])
model = Model(model_path, threads=1)
stream = model.stream()
rng = np.random.default_rng(0)
inputs = [example_step(model, rng) for _ in range(16)]
for i in range(steps):
    stream.push(inputs[i % 16])
try:  # the peak of this process image; ru_maxrss would include the parent's size at fork time
    rss_mb = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) / 1024
except (OSError, IndexError):
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
heavy = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "onnx", "scipy", "pandas"})
print(json.dumps({"import_s": round(import_s, 3), "peak_rss_mb": round(rss_mb, 1), "heavy_modules": heavy}))
"""


def runtime_footprint(model_path: str | Path, steps: int = 1000) -> dict:
    """In a fresh process: seconds to import the runtime, and peak resident memory (MB) after
    loading ``model_path`` and streaming ``steps`` steps through it; the heavy modules it loaded
    (there should be none). The path travels as an argument, never as code."""
    out = subprocess.run([sys.executable, "-c", _RUNTIME_PROBE, str(model_path), str(steps)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench(model_paths: list[Path], threads: tuple[int | None, ...] = (1, None), stream_counts: tuple[int, ...] = STREAM_COUNTS,
          steps: int = 2000, eager=None, log: Callable[[str], None] = lambda m: None, device: str = "cpu",
          progress: bool = False) -> dict:
    """Latency (push vs bare session.run, for an audio model the front end's push of one hop alone,
    and PyTorch eager when ``eager`` is given) at batch 1 and throughput at every stream count
    (rows tagged with their ``threads``, 0: the library's
    default), for every thread setting; for each model file. On the CPU also each throughput's
    share of a GEMM's MAC rate at those threads and the runtime process's import time and memory
    (both about the host, so not on "cuda").
    ``eager(threads)``: a context manager yielding a call(i) that runs one PyTorch eager step.
    progress: a bar over the measurements on stderr, with the time left (runtime/progress.py)."""
    import contextlib

    measurements = len(model_paths) * (len(threads) * (1 + len(stream_counts)) + (device == "cpu"))
    bar = Progress.start(measurements, "measurements", progress)
    log = bar.around(log)

    report: dict = {"machine": {"cpu_count": os.cpu_count(), "python": sys.version.split()[0]}, "device": device,
                    "models": {}}
    for path in model_paths:
        entry: dict = {"path": str(path), "latency": {}, "throughput": []}
        for t in threads:
            model = Model(path, device=device, threads=t)
            label = str(t) if t else "default"
            with (eager(t) if eager is not None else contextlib.nullcontext()) as eager_call:
                calls = {"bare": bare_call(model), "push": push_call(model)}
                if model.frontend.kind == "logmel":  # the audio front end's share of a hop's push
                    calls["frontend"] = frontend_call(model)
                if eager_call is not None:
                    calls["torch_eager"] = eager_call
                row = compare_latency(calls, steps)
            row["threads"] = model.threads or 0
            entry["latency"][label] = row
            bar.advance(1, f"{path.name} threads {label}")
            log(f"{path.name} threads {label}: push p50 {row['push']['step_us_p50']} us, bare {row['bare']['step_us_p50']} us"
                + (f", front end {row['frontend']['step_us_p50']} us" if "frontend" in row else "")
                + (f", torch eager {row['torch_eager']['step_us_p50']} us" if "torch_eager" in row else ""))
            macs = model.metadata.footprint.get("macs_per_step")
            peak = peak_mac_rate(t) if device == "cpu" else None
            for count in stream_counts:
                row = {"threads": model.threads or 0, **throughput(model, count, rounds=max(20, 20000 // count))}
                if macs:
                    row["batched_macs_per_s"] = round(row["batched_steps_per_s"] * macs, 0)
                    if peak:
                        row["peak_macs_per_s"] = round(peak, 0)
                        row["share_of_peak_macs"] = round(row["batched_macs_per_s"] / peak, 4)
                entry["throughput"].append(row)
                bar.advance(1, f"{path.name} {count} streams")
                log(f"{path.name} threads {label}, {count} streams: batched {row['batched_steps_per_s']:.0f} steps/s, "
                    f"bare {row['bare_steps_per_s']:.0f}"
                    + (f", separate {row['separate_steps_per_s']:.0f}" if "separate_steps_per_s" in row else ""))
        if device == "cpu":
            entry["runtime_process"] = runtime_footprint(path)
            bar.advance(1, f"{path.name} runtime process")
        report["models"][model.metadata.precision] = entry
    bar.close()
    return report
