"""What several test files share that is not a fixture: where the real data and the benchmarks
are, and the training settings the floors were measured with. (Test files import this module;
conftest.py holds the fixtures.)"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def import_benchmark(name: str):
    """The module benchmarks/NAME.py (benchmarks/ is not an installed package; its modules import
    each other as scripts do, so the folder is on the path while it is imported)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(str(BENCHMARKS))


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, skipping the test when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path}")
    return path


# The settings every floor on a trained figure here was measured with (benchmarks/floor_spread.py):
# the training defaults before they were decided from the data (trainer/defaults.py). A floor
# holds for the settings it was measured with, so these tests name them.
MEASURED_SETTINGS = {"epochs": 60, "batch_size": 16, "lr": 1e-2, "val_fraction": 0.0, "patience": 20, "warmup_share": 0.0}


def write_ts(path: Path, cases: list[np.ndarray], labels: list[str]) -> Path:
    """A labelled .ts file of ``cases``: float [time] (one channel) or [time, channels] arrays.
    The data set's name is the file's (``waves_TRAIN.ts``: waves)."""
    def row(case: np.ndarray) -> str:
        channels = case.reshape(len(case), -1).T
        return ":".join(",".join(f"{v:.6g}" for v in channel) for channel in channels)
    rows = "".join(f"{row(np.asarray(c))}:{label}\n" for c, label in zip(cases, labels))
    path.write_text(f"@classLabel true {' '.join(sorted(set(labels)))}\n@data\n{rows}")
    return path
