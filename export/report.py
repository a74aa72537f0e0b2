"""`report.json`: the one summary of a pipeline run (keys per DESIGN.md)."""

from __future__ import annotations

from pathlib import Path

from edgernn.export.exporter import Artifact
from edgernn.trainer.train import TrainOutcome


def parity_entry(parity: dict) -> dict:
    return {k: v for k, v in parity.items() if k != "failures"} | (
        {"failures": parity["failures"]} if parity.get("failures") else {})


def build_report(outcome: TrainOutcome, artifacts: dict[str, Artifact], failed: dict[str, dict],
                 graph_accuracy: dict[str, float], latency: dict[str, dict], run_dir: Path,
                 extra: dict | None = None) -> dict:
    """Assemble report.json.

    failed: parity summaries of precisions whose gates failed (no file was written for them).
    graph_accuracy: test accuracy of each written graph, measured through the runtime.
    """
    cfg = outcome.model.config
    parity = {p: parity_entry(a.parity) | {"test_accuracy": graph_accuracy[p]} for p, a in artifacts.items()}
    parity.update({p: parity_entry(summary) for p, summary in failed.items()})
    fp32_p50 = latency.get("fp32", {}).get("step_us_p50")
    footprint = {}
    for precision, artifact in artifacts.items():
        entry = dict(artifact.footprint)
        if fp32_p50:
            entry["step_latency_vs_fp32"] = round(latency[precision]["step_us_p50"] / fp32_p50, 3)
        footprint[precision] = entry
    return {
        "dataset": {k: outcome.dataset[k] for k in ("name", "train", "validation", "test", "classes", "features", "test_split")},
        "model": {"cell": cfg.cell, "layers": cfg.layers, "hidden": cfg.hidden, "dropout": cfg.dropout,
                  "parameters": outcome.model.parameter_count()},
        "metrics": {"test_accuracy": outcome.metrics["accuracy"], "macro_f1": outcome.metrics["macro_f1"],
                    "best_epoch": outcome.metrics["best_epoch"], "epochs_run": outcome.metrics["epochs_run"],
                    "kept": outcome.metrics["kept"], "divergence_guard": outcome.metrics["divergence_guard"]},
        # each training setting's value and whether it was given or decided from the data (trainer/defaults.py)
        "settings": outcome.metrics["settings"],
        # the same test split answered by the majority class and a linear model (trainer/baselines.py)
        "baselines": outcome.dataset["baselines"],
        "warnings": outcome.metrics["warnings"],
        "artifacts": {p: a.to_report(run_dir) for p, a in artifacts.items()},
        "parity": parity,
        "latency": latency,
        "footprint": footprint,
        **(extra or {}),
    }
