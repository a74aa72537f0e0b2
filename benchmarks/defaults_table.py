"""`edgernn pipeline` with its defaults on every shared data set, over seeds: the table that says
whether the defaults hold on data nobody tuned them for.

    python benchmarks/defaults_table.py [--sets ArrowHead,GunPoint,...] [--seeds 0-2] [--jobs 2]
        [--data ../shared/data] [--out FILE] [-- extra pipeline options]

Runs `edgernn pipeline DATA --seed S --json` (one thread each; --jobs runs that many at once) for
each set and seed, and writes JSON: every run's test accuracy, the baselines it reported (majority
class, linear model), the settings it chose, its gates and wall time; per set the mean and worst
accuracy over seeds beside the published references (../shared/data/README.md: majority, 1-NN
DTW, MiniRocket). Prints a Markdown table. Sets whose files are absent are skipped.
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

# name: (data path under ../shared/data or the repository, extra pipeline arguments, references)
# references: test accuracy of majority, 1-NN DTW and MiniRocket on the same split, as
# ../shared/data/README.md gives them (None: not given there).
SETS = {
    "ArrowHead": ("ucr/ArrowHead_TRAIN.ts", [], {"majority": 0.394, "dtw_1nn": 0.703, "minirocket": 0.857}),
    "GunPoint": ("ucr/GunPoint_TRAIN.ts", [], {"majority": 0.493, "dtw_1nn": 0.907, "minirocket": 0.993}),
    "ItalyPowerDemand": ("ucr/ItalyPowerDemand_TRAIN.ts", [], {"majority": 0.499, "dtw_1nn": 0.950, "minirocket": 0.965}),
    "OSULeaf": ("ucr/OSULeaf_TRAIN.ts", [], {"majority": 0.182, "dtw_1nn": 0.591, "minirocket": 0.955}),
    "ACSF1": ("ucr/ACSF1_TRAIN.ts", [], {"majority": 0.100, "dtw_1nn": 0.640, "minirocket": 0.917}),
    "JapaneseVowels": ("uea/JapaneseVowels_TRAIN.ts", [], {"majority": None, "dtw_1nn": 0.970, "minirocket": 0.981}),
    "BasicMotions": ("uea/BasicMotions_TRAIN.ts", [], {"majority": None, "dtw_1nn": None, "minirocket": 1.0}),
    "FSDD": ("fsdd/recordings", ["--label-regex", r"^(\d)_", "--test-regex", r"_[0-4]\.wav$"],
             {"majority": None, "dtw_1nn": None, "minirocket": None}),
}


def pipeline_once(name: str, seed: int, data: Path, extra: list[str], scratch: Path) -> dict:
    path, arguments, _ = SETS[name]
    out = scratch / f"{name}-seed{seed}"
    command = [sys.executable, "-m", "edgernn.cli", "pipeline", str(data / path), *arguments, *extra,
               "--seed", str(seed), "--threads", "1", "--precision", "fp32", "--precision", "int8-dynamic",
               "--out", str(out)]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    seconds = round(time.perf_counter() - started, 1)
    run = {"set": name, "seed": seed, "seconds": seconds, "exit_code": result.returncode}
    if not (out / "report.json").is_file():  # a failed gate still leaves the report; anything else does not
        return run | {"error": result.stderr[-800:]}
    report = json.loads((out / "report.json").read_text())
    return run | {
        "test_accuracy": report["metrics"]["test_accuracy"], "majority": report["baselines"]["majority"]["accuracy"],
        "linear": report["baselines"]["linear"]["accuracy"], "warnings": report["warnings"],
        "settings": {k: v["value"] for k, v in report["settings"].items()}, "kept": report["metrics"]["kept"],
        "divergence_guard": len(report["metrics"]["divergence_guard"]),
        "gates_passed": {p: entry.get("passed") for p, entry in report["parity"].items()},
        "graph_accuracy": {p: entry.get("test_accuracy") for p, entry in report["parity"].items()},
        "timing": report["timing"],
    }


def summarise(runs: list[dict]) -> dict:
    table = {}
    for name in dict.fromkeys(r["set"] for r in runs):
        done = [r for r in runs if r["set"] == name and "test_accuracy" in r]
        if not done:
            continue
        accuracies = [r["test_accuracy"] for r in done]
        table[name] = {"runs": len(done), "mean": statistics.fmean(accuracies), "worst": min(accuracies),
                       "best": max(accuracies), "majority": done[0]["majority"],
                       "linear_mean": statistics.fmean(r["linear"] for r in done),
                       "seconds_mean": statistics.fmean(r["seconds"] for r in done), "references": SETS[name][2]}
    return table


def markdown(table: dict) -> str:
    def pct(value):
        return "-" if value is None else f"{100 * value:.1f}%"
    rows = ["| set | defaults mean | worst | majority | linear baseline | 1-NN DTW | MiniRocket | wall time per run |",
            "|---|---|---|---|---|---|---|---|"]
    for name, s in table.items():
        ref = s["references"]
        rows.append(f"| {name} | {pct(s['mean'])} | {pct(s['worst'])} | {pct(s['majority'])} | {pct(s['linear_mean'])} | "
                    f"{pct(ref['dtw_1nn'])} | {pct(ref['minirocket'])} | {s['seconds_mean']:.0f} s |")
    return "\n".join(rows)


def present_sets(parser: argparse.ArgumentParser, sets: str, data: Path) -> list[str]:
    """The names in comma-separated ``sets`` whose files are under ``data`` (the others are
    skipped with a line on stderr); an unknown name ends the script with a usage error."""
    names = [n for n in sets.split(",") if n]
    unknown = [n for n in names if n not in SETS]
    if unknown:
        parser.error(f"unknown sets {unknown}; known: {list(SETS)}")
    present = [n for n in names if (data / SETS[n][0]).exists()]
    for missing in sorted(set(names) - set(present)):
        print(f"skipped {missing}: {data / SETS[missing][0]} is absent", file=sys.stderr)
    return present


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, of {', '.join(SETS)}")
    parser.add_argument("--seeds", default="0-2", help="e.g. 0-2 or 0,3,7 (default 0-2)")
    parser.add_argument("--jobs", type=int, default=1, help="pipelines at once, one thread each")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="the shared data folder")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default benchmarks/results/defaults_table-<time>.json)")
    parser.add_argument("extra", nargs="*", help="after --: more edgernn pipeline options for every run")
    args = parser.parse_args(argv)
    present = present_sets(parser, args.sets, args.data)
    with tempfile.TemporaryDirectory() as scratch:
        with ThreadPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
            runs = list(pool.map(lambda ns: pipeline_once(*ns, args.data, args.extra, Path(scratch)),
                                 product(present, parse_seeds(args.seeds))))
    table = summarise(runs)
    result = {"command": "edgernn pipeline DATA --seed S --threads 1 " + " ".join(args.extra), "cpu": cpu_name(),
              "runs": runs, "table": table}
    return finish(result, "defaults_table", args.out, markdown(table))


def finish(result: dict, stem: str, out: Path | None, table: str) -> int:
    """Write ``result`` as JSON (``out``, else benchmarks/results/<stem>-<time>.json), print the
    Markdown ``table`` and every failed run; 0 when every run has a test accuracy, else 1."""
    write_result(result, stem, out)
    print(table)
    for failed in (r for r in result["runs"] if "error" in r):
        print(f"{failed['set']}{'' if 'seed' not in failed else ' seed ' + str(failed['seed'])} failed: "
              f"{failed['error'].strip().splitlines()[-1:]}")
    return 0 if all("test_accuracy" in r for r in result["runs"]) else 1


if __name__ == "__main__":
    sys.exit(main())
