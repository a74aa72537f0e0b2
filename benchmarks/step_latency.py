"""Per-step latency of a model's stream, batch 1, against the bare session.run of the same graph.

    python benchmarks/step_latency.py runs/sample/model.fp32.onnx --threads 1 --out benchmarks/results/step_latency.json

Both are measured in the same process, interleaved in rounds so drift affects them alike:
- "push": edgernn's Stream.push (input checks, front end, state carry, softmax);
- "bare": session.run with inputs built once beforehand (the floor the runtime adds to).
Writes JSON with median, p99 and mean per path (microseconds) and the push/bare ratio of medians.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edgernn.runtime import Model
from edgernn.runtime._files import write_json_atomic
from edgernn.runtime.bench import example_step


def percentiles(samples_ns: list[int]) -> dict:
    us = np.asarray(samples_ns, dtype=np.float64) / 1000.0
    return {"median_us": round(float(np.median(us)), 2), "p99_us": round(float(np.percentile(us, 99)), 2),
            "mean_us": round(float(us.mean()), 2), "samples": int(us.size)}


def measure(model_path: Path, threads: int, steps: int, rounds: int) -> dict:
    model = Model(model_path, threads=threads)
    rng = np.random.default_rng(0)
    inputs = [example_step(model, rng) for _ in range(64)]
    stream = model.stream()
    bare_feeds = {"x": model.prepare(inputs[0])[None], **model.zero_state(1)}
    names = ["logits", *[s.output for s in model.state_specs]]
    clock = time.perf_counter_ns
    push_ns, bare_ns = [], []
    for _ in range(rounds):
        for i in range(steps):
            start = clock()
            stream.push(inputs[i % 64])
            push_ns.append(clock() - start)
        for i in range(steps):
            start = clock()
            model.session.run(names, bare_feeds)
            bare_ns.append(clock() - start)
    warm = steps // 10  # drop the first round's warm-up share
    push, bare = percentiles(push_ns[warm:]), percentiles(bare_ns[warm:])
    return {"model": str(model_path), "cell": model.metadata.cell, "hidden": model.metadata.hidden,
            "precision": model.metadata.precision, "threads": threads, "push": push, "bare": bare,
            "push_over_bare_median": round(push["median_us"] / bare["median_us"], 3),
            "machine": {"cpu": platform.processor() or platform.machine(), "onnxruntime": ort.__version__}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/step_latency.json"))
    args = parser.parse_args()
    result = measure(args.model, args.threads, args.steps, args.rounds)
    write_json_atomic(args.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
