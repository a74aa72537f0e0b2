"""The runtime's speed and footprint for every run folder given, written to one JSON file.

    python benchmarks/runtime_bench.py RUN_DIR [RUN_DIR ...] --out benchmarks/results/runtime_bench.json

Per model.<precision>.onnx of each run (the library function behind `edgernn bench`):
- latency at batch 1, threads 1 and the default: Stream.push, the bare session.run with
  pre-built inputs, and PyTorch eager from the run's model.pt, interleaved in shuffled rounds;
  medians, p99s and paired ratios;
- throughput at 1, 16, 64, 256 and 1024 concurrent streams: StreamBatch.push_array, the bare
  batched session.run (state fed back), and separate Stream.push calls (up to 256 streams);
  multiply-accumulates per second and their share of a float32 GEMM's rate on this CPU;
- a fresh process that only runs the runtime: import seconds and peak resident memory.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edgernn.runtime._files import write_json_atomic
from edgernn.runtime.bench import STREAM_COUNTS, bench
from edgernn.runtime.log import log_to_stderr


def eager_for(run_dir: Path):
    if not (run_dir / "model.pt").is_file():
        return None
    from edgernn.trainer.eager import eager_step

    return lambda threads: eager_step(run_dir / "model.pt", threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--precision", action="append", default=None, help="only these precisions (repeatable)")
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/runtime_bench.json"))
    args = parser.parse_args()
    results = {}
    for run_dir in args.runs:
        models = [m for m in sorted(run_dir.glob("model.*.onnx"))
                  if args.precision is None or m.name.split(".")[1] in args.precision]
        results[str(run_dir)] = bench(models, threads=(1, None), stream_counts=STREAM_COUNTS, steps=args.steps,
                                      eager=eager_for(run_dir), log=log_to_stderr)
    write_json_atomic(args.out, results)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
