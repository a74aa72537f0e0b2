"""Long streams under load: 8 threads, each driving 100 streams for 10,000 steps through one Model.

Slow (about a minute on 2 cores). Prints its figures (pytest -s shows them): threads x streams x
steps, the largest difference from solo runs, the resident memory growth after warm-up.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from edgernn.runtime import Model

THREADS, STREAMS, STEPS, WARMUP = 8, 100, 10_000, 1_000
WATCHED = (0, 57, 99)  # streams of every thread compared with their solo run


def resident_mb() -> float:
    with open("/proc/self/status") as status:
        return int(status.read().split("VmRSS:")[1].split()[0]) / 1024


def thread_inputs(seed: int, features: int):
    """The inputs of one thread, step by step: float32 [STREAMS, 1, features] each."""
    rng = np.random.default_rng(seed)
    for _ in range(STEPS):
        yield rng.standard_normal((STREAMS, 1, features)).astype(np.float32)


@pytest.mark.slow
def test_eight_threads_of_100_streams_for_10000_steps(quick_runs):
    model = Model(quick_runs["gru"][2]["fp32"].path, threads=1)
    features = model.metadata.features
    warmed = threading.Barrier(THREADS + 1)
    results: dict[int, dict] = {}
    errors: list[BaseException] = []

    def drive(k: int) -> None:
        try:
            batch = model.batch()
            ids = np.array([batch.open() for _ in range(STREAMS)])
            watched = {sid: None for sid in WATCHED}
            for step, x in enumerate(thread_inputs(k, features)):
                probs = batch.push_array(ids, x)
                if step == WARMUP - 1:
                    warmed.wait()
            for sid in watched:
                watched[sid] = (probs[sid, -1].copy(), batch.state(int(sid))["h"][:, 0].copy())
            results[k] = {"watched": watched, "finite": all(np.isfinite(s).all() for s in batch._states)}
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
            warmed.abort()

    workers = [threading.Thread(target=drive, args=(k,)) for k in range(THREADS)]
    for worker in workers:
        worker.start()
    warmed.wait()
    after_warmup = resident_mb()
    for worker in workers:
        worker.join()
    at_end = resident_mb()
    assert not errors, errors
    worst = 0.0
    for k, result in results.items():
        assert result["finite"]
        finals = [probs for probs, _ in result["watched"].values()]
        assert not np.array_equal(finals[0], finals[1])  # the streams really differ: the comparison means something
        columns = np.concatenate(list(thread_inputs(k, features)), axis=1)  # [STREAMS, STEPS, features]
        for sid, (probs, state) in result["watched"].items():
            solo = model.stream()
            solo_probs = solo.push(columns[sid])[-1]
            worst = max(worst, float(np.abs(solo_probs - probs).max()), float(np.abs(solo.state["h"][:, 0] - state).max()))
    growth = (at_end - after_warmup) / after_warmup
    print(f"\nsoak: {THREADS} threads x {STREAMS} streams x {STEPS} steps; max |batched - solo| {worst:.3g}; "
          f"resident {after_warmup:.1f} MB after warm-up, {at_end:.1f} MB at the end ({growth:+.2%})")
    assert worst <= 1e-4
    assert growth < 0.05
