"""Latency measurement of a model's streaming step, reused by the pipeline and `edgernn bench`."""

from __future__ import annotations

import time

import numpy as np

from edgernn.runtime.model import Model


def example_step(model: Model, rng: np.random.Generator) -> np.ndarray:
    """One raw input step the model accepts: float32 [1, features], int64 [1], or for an audio
    model one hop of samples float32 [hop] (noise at about -20 dBFS)."""
    meta = model.metadata
    if model.frontend.kind == "logmel":
        return (0.1 * rng.standard_normal(model.frontend.step_length)).astype(np.float32)
    if meta.input_kind == "features":
        return rng.standard_normal((1, meta.features)).astype(np.float32)
    return rng.integers(0, meta.vocab_size, size=1, dtype=np.int64)


def step_latency(model: Model, steps: int = 2000, warmup: int = 200, seed: int = 0) -> dict:
    """Time ``Stream.push`` of one step at a time, batch 1.

    Returns {"step_us_p50", "step_us_p99", "step_us_mean", "steps", "threads"} (microseconds).
    """
    rng = np.random.default_rng(seed)
    inputs = [example_step(model, rng) for _ in range(64)]
    stream = model.stream()
    for i in range(warmup):
        stream.push(inputs[i % len(inputs)])
    times = np.empty(steps, dtype=np.float64)
    clock = time.perf_counter_ns
    for i in range(steps):
        step = inputs[i % len(inputs)]
        start = clock()
        stream.push(step)
        times[i] = clock() - start
    times /= 1000.0
    return {
        "step_us_p50": round(float(np.percentile(times, 50)), 2),
        "step_us_p99": round(float(np.percentile(times, 99)), 2),
        "step_us_mean": round(float(times.mean()), 2),
        "steps": steps,
        "threads": model.threads or 0,
    }
