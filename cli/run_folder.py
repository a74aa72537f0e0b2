"""One run folder holds one model's files: a new run refuses a folder that already holds one,
unless --force, which first removes the files a run writes (and nothing else)."""

from __future__ import annotations

from pathlib import Path

import click

from edgernn.runtime.errors import InputError

# What train, export and pipeline write into a run folder (README.md, "The flow").
RUN_FILES = ("model.pt", "model.*.onnx", "model.*.ort", "required_operators*.config", "report.json", "report.html",
             "history.json", "metrics.json", "train_state.pt", "word_vectors.txt")

force_option = click.option("--force", is_flag=True,
                            help="Replace the run already in --out: its model, graphs and reports are removed first.")


def claim_run_folder(out: str | Path, force: bool, verb: str) -> None:
    """Refuse ``out`` when it holds a run's files; with ``force`` remove them instead."""
    folder = Path(out)
    found = sorted({path for pattern in RUN_FILES for path in folder.glob(pattern) if path.is_file()})
    if not found:
        return
    if not force:
        names = ", ".join(path.name for path in found[:6]) + (", ..." if len(found) > 6 else "")
        resume = f", go on with `edgernn {verb} --resume {folder}`" if (folder / "train_state.pt").is_file() else ""
        raise InputError(f"{folder} already holds a run ({names}): choose another --out{resume}, "
                         f"or give --force to replace it")
    for path in found:
        path.unlink()
