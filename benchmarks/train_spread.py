"""The spread of one training command's test accuracy over seeds and thread counts.

    python benchmarks/train_spread.py --seeds 0-4 --threads 1,2 [--jobs 2] [--out FILE] -- DATA [edgernn train options]

Runs `edgernn train DATA ... --seed S --threads T --json` for every seed and thread count (each
into its own temporary run folder) and writes JSON: every run's test accuracy, macro F1, best
epoch and wall time, and per thread count and over all runs the min / mean / max / standard
deviation of the accuracy. A seed fixes the random draws but not the order of floating-point
sums, so the thread count (and the CPU) changes the trained model: an accuracy claim should come
with this spread, not one run. Prints a one-line summary per thread count.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from itertools import product
from pathlib import Path

from floor_spread import cpu_name, parse_seeds
from results_file import write_result

ROOT = Path(__file__).resolve().parents[1]


def train_once(seed: int, threads: int, train_args: list[str], scratch: Path) -> dict:
    out = scratch / f"seed{seed}-threads{threads}"
    command = [sys.executable, "-m", "edgernn.cli", "train", *train_args, "--seed", str(seed),
               "--threads", str(threads), "--out", str(out), "--json"]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = round(time.perf_counter() - started, 1)
    if result.returncode != 0:
        return {"seed": seed, "threads": threads, "exit_code": result.returncode, "error": result.stderr[-800:], "seconds": seconds}
    payload = json.loads(result.stdout)
    return {"seed": seed, "threads": threads, "test_accuracy": payload["test_accuracy"], "macro_f1": payload["macro_f1"],
            "best_epoch": payload["best_epoch"], "seconds": seconds}


def spread(values: list[float]) -> dict:
    return {"runs": len(values), "min": min(values), "mean": statistics.fmean(values), "max": max(values),
            "sd": statistics.stdev(values) if len(values) > 1 else 0.0}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0-4", help="e.g. 0-4 or 0,3,7 (default 0-4)")
    parser.add_argument("--threads", default="1,2", help="thread counts, comma-separated (default 1,2)")
    parser.add_argument("--jobs", type=int, default=1, help="trainings at once (a run's result does not depend on it)")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default benchmarks/results/train_spread-<time>.json)")
    parser.add_argument("train_args", nargs="+", help="after --: DATA and edgernn train options")
    args = parser.parse_args(argv)
    seeds, thread_counts = parse_seeds(args.seeds), [int(t) for t in args.threads.split(",")]
    with tempfile.TemporaryDirectory() as scratch:
        with ThreadPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
            runs = list(pool.map(lambda st: train_once(*st, args.train_args, Path(scratch)), product(seeds, thread_counts)))
    done = [r for r in runs if "test_accuracy" in r]
    summary = {f"threads{t}": spread([r["test_accuracy"] for r in done if r["threads"] == t])
               for t in thread_counts if any(r["threads"] == t for r in done)}
    if done:
        summary["all"] = spread([r["test_accuracy"] for r in done])
    result = {"command": ["edgernn", "train", *args.train_args], "seeds": seeds, "threads": thread_counts, "cpu": cpu_name(),
              "runs": runs, "test_accuracy": summary}
    write_result(result, "train_spread", args.out)
    for name, s in summary.items():
        print(f"{name}: {s['runs']} runs, test accuracy min {s['min']:.4f} mean {s['mean']:.4f} max {s['max']:.4f} (sd {s['sd']:.4f})")
    for failed in (r for r in runs if "error" in r):
        print(f"seed {failed['seed']} threads {failed['threads']} failed: {failed['error'].strip().splitlines()[-1]}")
    return 0 if len(done) == len(runs) else 1


if __name__ == "__main__":
    sys.exit(main())
