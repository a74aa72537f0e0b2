"""The spread of every trained figure the tests judge, over seeds (and the thread counts the tests
run at), and the limit the rule in tests/conftest.py allows for each.

    python benchmarks/floor_spread.py --seeds 0-5 [--jobs 2] [--out FILE] [-- PYTEST ARGS]

Runs `python -m pytest -m floor --train-seed S --figures F` once per seed (PYTEST ARGS narrow or
widen the selection, e.g. `-- -m "floor and not slow"`), reads back every figure the tests
recorded, and writes JSON: per (test, figure) the values by seed, their min / mean / max /
standard deviation, the limit the test asserts, the limit the rule allows
(floor <= min(lowest - max(0.01, 3 / cases), mean - 4 sd), a ceiling mirrored) and whether the
asserted limit keeps within it. A test failing at some seed is reported, not fatal: that is what
this script is for. Prints the table as markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def parse_seeds(text: str) -> list[int]:
    """"0-5" or "0,3,7" -> [0, 1, 2, 3, 4, 5] / [0, 3, 7]."""
    seeds: list[int] = []
    for part in text.split(","):
        first, _, last = part.partition("-")
        seeds += range(int(first), int(last or first) + 1)
    return seeds


def run_seed(seed: int, sink: Path, pytest_args: list[str]) -> dict:
    """One pytest run at one seed; its figures go to ``sink``."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "floor",
               "--train-seed", str(seed), "--figures", str(sink), *pytest_args]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    lines = result.stdout.strip().splitlines()
    failed = [line.split(" ", 1)[1].split(" - ")[0] for line in lines if line.startswith("FAILED ")]
    return {"seed": seed, "exit_code": result.returncode, "failed": failed, "seconds": round(time.perf_counter() - started, 1),
            "summary": lines[-1] if lines else result.stderr[-500:]}


def rule_limit(values: list[float], relation: str, cases: int | None) -> float:
    """The loosest limit tests/conftest.py's rule allows for a figure measured as ``values``."""
    margin = max(0.01, 3 / cases) if cases else 0.0
    mean = statistics.fmean(values)
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    if relation == ">=":
        return min(min(values) - margin, mean - 4 * sd)
    return max(max(values) + margin, mean + 4 * sd)


def summarise(rows: list[dict]) -> list[dict]:
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["test"], row["figure"])].append(row)
    table = []
    for (test, figure), group in sorted(groups.items()):
        values = [r["value"] for r in group]
        relation, limit, cases = group[0]["relation"], group[0]["limit"], group[0]["cases"]
        allowed = rule_limit(values, relation, cases)
        table.append({
            "test": test, "figure": figure, "relation": relation, "limit": limit, "cases": cases,
            "runs": len(values), "min": min(values), "mean": statistics.fmean(values), "max": max(values),
            "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
            "by_seed": {str(r["seed"]): r["value"] for r in group},
            "rule_limit": allowed,
            "limit_within_rule": limit <= allowed if relation == ">=" else limit >= allowed,
            "misses": sum(not (r["value"] >= limit if relation == ">=" else r["value"] <= limit) for r in group),
        })
    return table


def markdown(table: list[dict]) -> str:
    def fmt(x: float) -> str:
        return f"{x:.4g}" if abs(x) < 1e-2 and x != 0 else f"{x:.4f}"
    lines = ["| test | figure | runs | min | mean | max | limit | rule allows | misses |", "|---|---|---|---|---|---|---|---|---|"]
    for r in table:
        lines.append(f"| {r['test'].split('::', 1)[-1]} | {r['figure']} | {r['runs']} | {fmt(r['min'])} | {fmt(r['mean'])} | "
                     f"{fmt(r['max'])} | {r['relation']} {r['limit']} | {r['relation']} {fmt(r['rule_limit'])}"
                     f"{'' if r['limit_within_rule'] else ' (tighter)'} | {r['misses']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="0-5", help="seeds to run, e.g. 0-5 or 0,3,7 (default 0-5)")
    parser.add_argument("--jobs", type=int, default=1, help="pytest runs at once (a run's result does not depend on it)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "floor_spread.json")
    parser.add_argument("pytest_args", nargs="*", help="after --: more pytest arguments")
    args = parser.parse_args(argv)
    seeds = parse_seeds(args.seeds)
    with tempfile.TemporaryDirectory() as scratch:
        sinks = {seed: Path(scratch) / f"seed{seed}.jsonl" for seed in seeds}
        with ThreadPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
            runs = list(pool.map(lambda s: run_seed(s, sinks[s], args.pytest_args), seeds))
        rows = [json.loads(line) for seed in seeds if sinks[seed].exists() for line in sinks[seed].read_text().splitlines()]
    for run in runs:
        print(f"seed {run['seed']}: {run['summary']} ({run['seconds']} s)", file=sys.stderr)
    table = summarise(rows)
    result = {"seeds": seeds, "pytest_args": args.pytest_args, "cpu": cpu_name(), "runs": runs, "figures": table}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(markdown(table))
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip() + f" x{os.cpu_count()}"
    except OSError:
        pass
    return f"unknown x{os.cpu_count()}"


if __name__ == "__main__":
    sys.exit(main())
