"""`edgernn tune` on every shared data set: what a budgeted search buys over the defaults.

    python benchmarks/tune_table.py [--sets ArrowHead,GunPoint,...] [--budget 20m] [--jobs 2]
        [--data ../shared/data] [--keep DIR] [--out FILE] [-- extra tune options]

Runs `edgernn tune DATA --budget B --seed 0 --json` for each set (--jobs searches at once, each
one process at one thread) and writes JSON: the winner's test accuracy (the test split read once),
its parameters, the trial counts, the search's and the whole run's wall time, the validation
accuracy of the defaults' own trial (the search's first) against the winner's, beside the
references of ../shared/data/README.md. Prints a Markdown table. Sets whose files are absent are
skipped; --keep keeps every run folder.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from defaults_table import ROOT, SETS, finish, present_sets
from floor_spread import cpu_name


def tune_once(name: str, budget: str, data: Path, extra: list[str], folder: Path) -> dict:
    path, arguments, references = SETS[name]
    out = folder / f"{name}-tune"
    command = [sys.executable, "-m", "edgernn.cli", "tune", str(data / path), *arguments, *extra,
               "--budget", budget, "--seed", "0", "--out", str(out)]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    run = {"set": name, "seconds": round(time.perf_counter() - started, 1), "exit_code": result.returncode,
           "references": references}
    if not (out / "report.json").is_file():
        return run | {"error": result.stderr[-800:]}
    report = json.loads((out / "report.json").read_text())
    t = report["tune"]
    rows = {r["number"]: r for r in t["trials"]}
    return run | {
        "test_accuracy": report["metrics"]["test_accuracy"], "majority": report["baselines"]["majority"]["accuracy"],
        "linear": report["baselines"]["linear"]["accuracy"], "search_s": t["search_s"], "folds": t["folds"],
        "trials": {s: sum(r["state"] == s for r in t["trials"]) for s in ("complete", "pruned", "fail")},
        "winner": rows[t["winner"]], "defaults_trial": rows.get(0), "pareto_front": t["pareto_front"],
        "gates_passed": {p: entry.get("passed") for p, entry in report["parity"].items()},
        "warnings": report["warnings"],
    }


def markdown(runs: list[dict]) -> str:
    def pct(value):
        return "-" if value is None else f"{100 * value:.1f}%"
    rows = ["| set | tune test accuracy | winner | trials (complete/pruned/failed) | validation: defaults' trial -> winner "
            "| majority | 1-NN DTW | MiniRocket | wall time |", "|---|---|---|---|---|---|---|---|---|"]
    for r in runs:
        if "test_accuracy" not in r:
            rows.append(f"| {r['set']} | failed (exit {r['exit_code']}) | | | | | | | {r['seconds']:.0f} s |")
            continue
        p, ref, defaults = r["winner"]["params"], r["references"], r["defaults_trial"] or {}
        winner = f"{p['cell']} {p['hidden']}x{p['layers']}, lr {p['lr']:.2g}" + (f", frame {p['frame']}" if "frame" in p else "")
        counts = "/".join(str(r["trials"][s]) for s in ("complete", "pruned", "fail"))
        rows.append(f"| {r['set']} | {pct(r['test_accuracy'])} | {winner} | {counts} | "
                    f"{pct(defaults.get('validation_accuracy'))} -> {pct(r['winner']['validation_accuracy'])} | "
                    f"{pct(r['majority'])} | {pct(ref['dtw_1nn'])} | {pct(ref['minirocket'])} | {r['seconds']:.0f} s |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", default=",".join(SETS), help=f"comma-separated, of {', '.join(SETS)}")
    parser.add_argument("--budget", default="20m", help="each search's --budget (default 20m)")
    parser.add_argument("--jobs", type=int, default=1, help="searches at once, one process at one thread each")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="the shared data folder")
    parser.add_argument("--keep", type=Path, default=None, help="keep the run folders here (default: a temporary folder)")
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default benchmarks/results/tune_table-<time>.json)")
    parser.add_argument("extra", nargs="*", help="after --: more edgernn tune options for every run")
    args = parser.parse_args(argv)
    names = present_sets(parser, args.sets, args.data)
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
            runs = list(pool.map(lambda name: tune_once(name, args.budget, args.data, args.extra, folder), names))
    result = {"command": f"edgernn tune DATA --budget {args.budget} --seed 0 " + " ".join(args.extra), "cpu": cpu_name(),
              "runs": runs}
    return finish(result, "tune_table", args.out, markdown(runs))


if __name__ == "__main__":
    sys.exit(main())
