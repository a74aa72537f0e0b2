"""Shared fixtures: small models trained briefly on the bundled JapaneseVowels sample and exported.

The models are tiny and under-trained on purpose: parity, streaming and error handling do not
depend on accuracy, and the real-data accuracy floors live in test_accuracy_realdata.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edgernn.samples import sample_dataset

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def assert_two_sessions_agree(path: Path, sequences: int = 8) -> None:
    """One graph in two CPU sessions (1 and 2 threads) gives the same answers for predict, a
    stream in random chunks and batched streams (runtime.bench.device_parity, the GPU check's
    comparison, with the CPU on both sides)."""
    from edgernn.runtime import Model
    from edgernn.runtime.bench import device_parity

    checks = device_parity(Model(path, threads=1), Model(path, threads=2), sequences=sequences)
    assert checks["predict_top1_agreement"] == 1.0
    assert max(v for k, v in checks.items() if k.endswith("prob_diff")) <= 1e-5, checks


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, skipping the test when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path}")
    return path


@pytest.fixture(scope="session")
def newsgroups(tmp_path_factory) -> Path:
    """The 20 Newsgroups "bydate" tarball extracted once (20news-bydate-train/-test under it)."""
    import tarfile

    tarball = shared_data("20newsgroups", "20news-bydate.tar.gz")
    root = tmp_path_factory.mktemp("20news")
    with tarfile.open(tarball) as archive:
        archive.extractall(root, filter="data")
    return root


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    return sample_dataset()


@pytest.fixture(scope="session")
def quick_runs(tmp_path_factory, sample_dir):
    """{cell: (run_dir, TrainOutcome, {precision: Artifact})} for rnn, lstm (2 layers) and gru."""
    from edgernn.export.exporter import export
    from edgernn.trainer.train import TrainConfig, train

    runs = {}
    for cell, layers in (("rnn", 1), ("lstm", 2), ("gru", 1)):
        run_dir = tmp_path_factory.mktemp(f"run-{cell}")
        config = TrainConfig(epochs=3, batch_size=32, val_fraction=0.1, seed=0, threads=1)
        outcome = train(sample_dir, run_dir, {"cell": cell, "hidden": 24, "layers": layers}, config, log=lambda m: None)
        artifacts = export(outcome.checkpoint, run_dir, log=lambda m: None)
        runs[cell] = (run_dir, outcome, artifacts)
    return runs


@pytest.fixture(scope="session")
def gru_onnx(quick_runs) -> Path:
    return quick_runs["gru"][2]["fp32"].path


@pytest.fixture(scope="session")
def sample_test_file(sample_dir) -> Path:
    return sample_dir / "JapaneseVowels_TEST.ts"
