"""Shared fixtures: small models trained briefly on the bundled JapaneseVowels sample and exported.

The models are tiny and under-trained on purpose: parity, streaming and error handling do not
depend on accuracy, and the real-data accuracy floors live in test_accuracy_realdata.py.

Figures that come out of training (an accuracy, an agreement, a number of epochs) differ from
one CPU and thread count to the next even at one seed: a seed fixes the random draws, not the
order of floating-point sums, and a long run amplifies that into another model. So:
- every training in the fast tests runs at one intra-op thread (``threads=1``), and the real-data
  floor tests run at 1 and at 2 threads (a test parameter);
- every training takes its seed from ``--train-seed`` (default 0), and every figure a test judges
  goes through the ``figures`` fixture (tests marked ``floor``), which can append it to a file
  (``--figures FILE``);
- ``benchmarks/floor_spread.py`` runs the ``floor`` tests over several seeds and tabulates each
  figure's spread. The rule for a limit on a trained figure: a floor lies at or below both the
  lowest value measured minus a margin of max(1 point, 3 cases of the set it rests on) and the
  mean minus 4 standard deviations; a ceiling mirrors it. Another CPU trains another model as
  another seed does, and the margin covers what a handful of runs cannot show. The comment
  beside each limit gives its measured min/mean/max.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from edgernn.samples import sample_dataset
from support import MEASURED_SETTINGS, import_benchmark, shared_data



@pytest.fixture(scope="session")
def benchmark_module():
    """import_benchmark as a fixture: ``benchmark_module("floor_spread")``."""
    return import_benchmark



def pytest_addoption(parser):
    group = parser.getgroup("edgernn")
    group.addoption("--train-seed", type=int, default=0,
                    help="seed of every training run a test starts (benchmarks/floor_spread.py runs several)")
    group.addoption("--figures", default=None, metavar="FILE",
                    help="append every trained figure a test judges to FILE as JSON lines")


@pytest.fixture(scope="session")
def train_seed(request) -> int:
    return request.config.getoption("--train-seed")


class TrainedFigures:
    """The figures one test judges that come out of training. Each is recorded (and appended to
    the ``--figures`` file, with the test, the seed and how many cases it rests on) before any is
    judged, so one miss never hides the others; ``verify`` then fails with every miss."""

    def __init__(self, test: str, seed: int, sink: Path | None):
        self.test, self.seed, self.sink = test, seed, sink
        self.misses: list[str] = []
        self.recorded = 0
        self.verified = False

    def at_least(self, figure: str, value: float, floor: float, cases: int | None = None) -> None:
        self._judge(figure, value, ">=", floor, cases)

    def at_most(self, figure: str, value: float, ceiling: float, cases: int | None = None) -> None:
        self._judge(figure, value, "<=", ceiling, cases)

    def _judge(self, figure: str, value: float, relation: str, limit: float, cases: int | None) -> None:
        value = float(value)
        self.recorded += 1
        if self.sink is not None:
            row = {"test": self.test, "figure": figure, "value": value, "relation": relation, "limit": limit,
                   "cases": cases, "seed": self.seed}
            with open(self.sink, "a", encoding="utf-8") as sink:
                sink.write(json.dumps(row) + "\n")
        holds = value >= limit if relation == ">=" else value <= limit
        if not holds or math.isnan(value):
            self.misses.append(f"{figure} {value:.6g} (limit {relation} {limit}, seed {self.seed})")

    def gates(self, parity: dict[str, dict], cases: int) -> None:
        """Every parity gate judged for each precision (``{precision: parity summary}``), held to
        the gate's own limit: a share of ``cases`` for agreements, accuracies and class shifts,
        an absolute value otherwise."""
        for precision, summary in parity.items():
            for gate in summary["gates"]:
                share = any(word in gate["gate"] for word in ("agreement", "accuracy", "shift"))
                self._judge(f"{precision}:{gate['gate']}", gate["value"], gate["relation"], gate["limit"],
                            cases if share else None)

    def verify(self) -> None:
        self.verified = True
        if self.misses:
            raise AssertionError("trained figures below their floors: " + "; ".join(self.misses))


@pytest.fixture
def figures(request, train_seed) -> TrainedFigures:
    """Records and judges a test's trained figures; the test ends with ``figures.verify()``."""
    sink = request.config.getoption("--figures")
    recorder = TrainedFigures(request.node.nodeid, train_seed, Path(sink) if sink else None)
    yield recorder
    if recorder.recorded and not recorder.verified:
        pytest.fail(f"{request.node.nodeid} recorded trained figures but never called figures.verify()")


@pytest.fixture(scope="session")
def two_sessions_agree():
    """assert_agree(path, sequences=8): one graph in two CPU sessions (1 and 2 threads) gives the
    same answers for predict, a stream in random chunks and batched streams
    (benchmarks/device_compare.py's device_parity, the GPU check's comparison, with the CPU on
    both sides)."""
    from edgernn.runtime import Model

    device_parity = import_benchmark("device_compare").device_parity

    def assert_agree(path: Path, sequences: int = 8) -> None:
        checks = device_parity(Model(path, threads=1), Model(path, threads=2), sequences=sequences)
        assert checks["predict_top1_agreement"] == 1.0
        assert max(v for k, v in checks.items() if k.endswith("prob_diff")) <= 1e-5, checks
    return assert_agree


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
def quick_runs(tmp_path_factory, sample_dir, train_seed):
    """{cell: (run_dir, TrainOutcome, {precision: Artifact})} for rnn, lstm (2 layers) and gru."""
    from edgernn.export.exporter import export
    from edgernn.trainer.train import TrainConfig, train

    runs = {}
    for cell, layers in (("rnn", 1), ("lstm", 2), ("gru", 1)):
        run_dir = tmp_path_factory.mktemp(f"run-{cell}")
        config = TrainConfig(**{**MEASURED_SETTINGS, "epochs": 3, "batch_size": 32, "val_fraction": 0.1},
                             seed=train_seed, threads=1)
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


@pytest.fixture(scope="session")
def raw_input_runs(tmp_path_factory, sample_dir):
    """One GRU on JapaneseVowels exported fp32, int8-dynamic and fp16, and one in frames of 3
    exported fp32 and int8-dynamic: {name: (checkpoint, {precision: Artifact})}."""
    from edgernn.export.exporter import export
    from edgernn.trainer.config import TrainConfig
    from edgernn.trainer.train import train

    runs = {}
    for name, frame, precisions in (("plain", 1, ("fp32", "int8-dynamic", "fp16")), ("framed", 3, ("fp32", "int8-dynamic"))):
        run = tmp_path_factory.mktemp(name)
        outcome = train(sample_dir, run, {"cell": "gru", "hidden": 16}, TrainConfig(epochs=2, frame=frame, seed=0, threads=1),
                        log=lambda m: None)
        runs[name] = (outcome.checkpoint, export(outcome.checkpoint, precisions=precisions, log=lambda m: None))
    return runs


@pytest.fixture(scope="session")
def audio_graphs(tmp_path_factory):
    """A small LSTM trained briefly (5 epochs) on tones (8 kHz, 16 bands, running mean on), exported in three
    precisions: (training outcome, {precision: artifact})."""
    from test_wav import make_digit_folder

    from edgernn.export.exporter import export
    from edgernn.trainer.config import TrainConfig
    from edgernn.trainer.train import train

    base = tmp_path_factory.mktemp("audio_graphs")
    # 5 epochs, not fewer: a model still near its ties flips an int8 answer between chunked and
    # whole runs (streaming agreement 6/8 on one CPU at 2 epochs; 8/8 at seeds 0-3 at 5 epochs)
    outcome = train(make_digit_folder(base / "rec"), base / "run", {"cell": "lstm", "hidden": 8},
                    TrainConfig(epochs=5, seed=0, threads=1, mel_bands=16), log=lambda m: None,
                    label_regex=r"^([a-z]+)_", test_regex=r"_[0-1]\.wav$")
    return outcome, export(outcome.checkpoint, precisions=("fp32", "int8-dynamic", "fp16"), log=lambda m: None)
