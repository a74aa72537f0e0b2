"""One graph on two devices, or in two sessions: do they give the same answers, and from how many
streams does the GPU pay? Used by benchmarks/gpu_check.py and by the tests (the CPU in two
sessions); not part of the installed runtime, which never needs it.
"""

from __future__ import annotations

import numpy as np

from edgernn.runtime.bench import example_step
from edgernn.runtime.model import Model


def random_sequence(model: Model, rng: np.random.Generator, steps: int) -> np.ndarray:
    """A raw input of ``steps`` steps the model takes: float32 [steps, features], int64 [steps],
    or audio noise float32 [steps * hop]."""
    return np.concatenate([example_step(model, rng) for _ in range(steps)])


def device_parity(cpu: Model, gpu: Model, sequences: int, seed: int = 0) -> dict:
    """One graph on two devices (``gpu`` is the one checked, ``cpu`` the reference) on random
    inputs: ``predict`` of ``sequences`` sequences of 5-119 steps, one stream pushed in random
    chunks of 1-16 steps (400 steps), and 64 streams of a StreamBatch one step per call (30
    steps), each against the reference's solo run. Returns the largest probability differences
    and predict's top-1 agreement."""
    rng = np.random.default_rng(seed)
    data = [random_sequence(cpu, rng, int(rng.integers(5, 120))) for _ in range(sequences)]
    on_cpu, on_gpu = cpu.predict(data), gpu.predict(data)
    result = {"predict_max_prob_diff": float(np.abs(on_cpu - on_gpu).max()),
              "predict_top1_agreement": float((on_cpu.argmax(1) == on_gpu.argmax(1)).mean())}

    sequence = random_sequence(cpu, rng, 400)
    step = len(sequence) // 400  # raw items per step (an audio hop, else 1)
    cuts = np.cumsum(rng.integers(1, 17, size=400)) * step
    pieces = np.split(sequence, cuts[cuts < len(sequence)])
    solo_gpu, solo_cpu = gpu.stream(), cpu.stream()
    streamed = np.concatenate([solo_gpu.push(p) for p in pieces])
    result["stream_max_prob_diff"] = float(np.abs(streamed - solo_cpu.push(sequence)).max())

    batch, streams = gpu.batch(), 64
    ids = [batch.open() for _ in range(streams)]
    inputs = [random_sequence(cpu, rng, 30) for _ in ids]
    out = {sid: [] for sid in ids}
    for t in range(30):
        probs = batch.push({sid: inputs[k][t * step:(t + 1) * step] for k, sid in enumerate(ids)})
        for sid in ids:
            out[sid].append(probs[sid])
    result["batch_max_prob_diff"] = float(max(np.abs(np.concatenate(out[sid]) - cpu.stream().push(inputs[k])).max()
                                              for k, sid in enumerate(ids)))
    return result


def break_even(cpu_rows: list[dict], gpu_rows: list[dict], key: str = "batched_steps_per_s") -> int | None:
    """The smallest measured stream count from which the GPU's throughput (``key``, stream-steps
    per second) passes the CPU's at that count and every larger one both measured; None when it
    never does. Rows: ``throughput`` entries of two ``bench`` reports."""
    cpu = {row["streams"]: row[key] for row in cpu_rows}
    counts = sorted(set(cpu) & {row["streams"] for row in gpu_rows})
    gpu = {row["streams"]: row[key] for row in gpu_rows}
    found = None
    for count in reversed(counts):
        if gpu[count] <= cpu[count]:
            break
        found = count
    return found
