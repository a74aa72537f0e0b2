"""`report.json`: the one summary of a pipeline run (keys per DESIGN.md)."""

from __future__ import annotations

from pathlib import Path

from edgernn.export.exporter import Artifact
from edgernn.trainer.train import TrainOutcome

PARITY_KEYS = ("max_abs_diff", "max_abs_diff_batch1", "max_abs_diff_batch3", "stream_max_abs_diff",
               "per_chunk", "chunks", "sequences", "limits", "passed")


def build_report(outcome: TrainOutcome, artifacts: dict[str, Artifact], graph_accuracy: dict[str, float],
                 latency: dict[str, dict], run_dir: Path, extra: dict | None = None) -> dict:
    """Assemble report.json. graph_accuracy: test accuracy of each exported graph via the runtime."""
    cfg = outcome.model.config
    parity = {}
    for precision, artifact in artifacts.items():
        entry = {k: artifact.parity[k] for k in PARITY_KEYS if k in artifact.parity}
        entry["test_accuracy"] = graph_accuracy[precision]
        parity[precision] = entry
    return {
        "dataset": {k: outcome.dataset[k] for k in ("name", "train", "validation", "test", "classes", "features")},
        "model": {"cell": cfg.cell, "layers": cfg.layers, "hidden": cfg.hidden, "dropout": cfg.dropout,
                  "parameters": outcome.model.parameter_count()},
        "metrics": {"test_accuracy": outcome.metrics["accuracy"], "macro_f1": outcome.metrics["macro_f1"],
                    "best_epoch": outcome.metrics["best_epoch"], "epochs_run": outcome.metrics["epochs_run"]},
        "artifacts": {p: a.to_report(run_dir) for p, a in artifacts.items()},
        "parity": parity,
        "latency": latency,
        **(extra or {}),
    }
