"""Latency of every precision in a run folder against its fp32 graph, batch 1, measured in one process.

    python benchmarks/precision_latency.py RUN_DIR [RUN_DIR ...] --threads 1 --out benchmarks/results/precision_latency.json

For each model.<precision>.onnx (opened through edgernn's Model, so each file's own session
settings apply) it times two bare session.run calls with pre-built inputs:
- "step": one step of a stream (the always-on case; mostly call overhead at this size);
- "sequence": a 100-step chunk in one call, reported per step (where the kernels' speed shows).
Precisions are interleaved round by round, in a shuffled order each round, so machine noise and
drift affect them alike. Writes medians and p99s over all calls, and each precision's ratio to
fp32 as the median over rounds of (its round median / fp32's round median), with the rounds'
lowest and highest ratio: a paired ratio that a noisy neighbour moves much less than either time.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from edgernn.runtime import Model
from edgernn.runtime.files import write_json_atomic
from edgernn.runtime.bench import compare_latency, example_step

SEQUENCE_STEPS = 100


def feeds_for(model: Model, steps: int, rng: np.random.Generator) -> dict:
    x = np.concatenate([model.prepare(example_step(model, rng)) for _ in range(steps)])
    return {"x": x[None], **model.zero_state(1)}


def measure_run(run_dir: Path, threads: int, rounds: int, calls: int) -> dict:
    models = {p.name.split(".")[1]: Model(p, threads=threads) for p in sorted(run_dir.glob("model.*.onnx"))}
    if "fp32" not in models:
        raise SystemExit(f"{run_dir}: no model.fp32.onnx to compare with")
    order = ["fp32", *(name for name in models if name != "fp32")]  # the first is the baseline
    rng = np.random.default_rng(0)

    def call(model: Model, steps: int):
        feeds, names = feeds_for(model, steps, rng), ["logits", *(s.output for s in model.state_specs)]
        return lambda i: model.session.run(names, feeds)
    step = compare_latency({name: call(models[name], 1) for name in order}, calls * rounds, rounds, warmup=20)
    sequence = compare_latency({name: call(models[name], SEQUENCE_STEPS) for name in order},
                               max(1, calls // 10) * rounds, rounds, warmup=20, steps_per_call=SEQUENCE_STEPS)
    result = {}
    for name in order:
        entry = result[name] = {}
        for kind, measured in (("step", step), ("sequence", sequence)):
            entry[f"{kind}_us_p50"], entry[f"{kind}_us_p99"] = measured[name]["step_us_p50"], measured[name]["step_us_p99"]
            entry[f"{kind}_vs_fp32"] = measured.get(f"{name}_vs_fp32", 1.0)
            entry[f"{kind}_vs_fp32_range"] = measured.get(f"{name}_vs_fp32_range", [1.0, 1.0])
    meta = models["fp32"].metadata
    return {"run": str(run_dir), "cell": meta.cell, "hidden": meta.hidden, "layers": meta.layers, "threads": threads,
            "precisions": result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/precision_latency.json"))
    args = parser.parse_args()
    results = [measure_run(run, args.threads, args.rounds, args.calls) for run in args.runs]
    write_json_atomic(args.out, results)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
