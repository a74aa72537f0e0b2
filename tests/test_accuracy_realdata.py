"""Accuracy floors on real data, with the settings the recipes use, and parity of the exported graphs.

Slow (a full training run each, 10-100 s on 2 cores); JapaneseVowels is bundled, BasicMotions and
the Free Spoken Digit Dataset come from ../shared/data and skip when it is absent.

Every figure here comes out of a training run, and a run's result depends on the CPU and the
thread count as well as the seed. The rule (conftest.py): each test runs at 1 and at 2 intra-op
threads; every limit on a trained figure lies below the worst case measured by
`python benchmarks/floor_spread.py --seeds 0-5` (6 seeds x both thread counts) by at least
max(1 point, 3 test cases) and at or below the mean minus 4 standard deviations; the comment
beside each limit gives the measured min / mean / max. Every parity gate export judged is a
figure too, held to the gate's own limit (the product's rule, export/parity.py), so a gate
that passes only on some CPUs shows in the measured spread.
"""

from __future__ import annotations

import pytest

from edgernn.export.exporter import ExportGateError, export
from edgernn.export.limits import ParityLimits
from edgernn.runtime import Model
from edgernn.trainer.config import TrainConfig
from edgernn.trainer.train import train

from support import MEASURED_SETTINGS, shared_data

pytestmark = [pytest.mark.slow, pytest.mark.floor]

THREADS = (1, 2)

# (data set, cell, TrainConfig overrides of MEASURED_SETTINGS, test accuracy floor). Measured over seeds
# 0-5 at 1 and 2 threads (12 runs; benchmarks/floor_spread.py), min / mean / max:
CASES = [
    ("japanese_vowels", "gru", {}, 0.96),               # 0.9784 / 0.9833 / 0.9919; rule: <= 0.9633
    ("japanese_vowels", "lstm", {"batch_size": 8}, 0.935),  # 0.9541 / 0.9730 / 0.9838; rule: <= 0.9385
    ("japanese_vowels", "rnn", {}, 0.945),              # 0.9622 / 0.9700 / 0.9811; rule: <= 0.9463
    ("basic_motions", "gru", {}, 0.875),                # 0.9500 / 0.9833 / 1.0000 of 40 cases; rule: <= 0.8750
]

# The quantized graph's long-stream gates are recorded here with no limit: a JapaneseVowels LSTM
# (trained on 7-29-step utterances) parted ways with its fp32 graph over a 10,000-step stream in
# 1 of the 4 runs measured (seed 5, 2 threads: step agreement 0.898, class shift 0.095; the other
# runs 0.992-0.999 and <= 0.007), so those gates, kept in the product, fail some trained models:
# an open problem of the int8 LSTM graph on long streams, not a floor this test can promise.
LONG_STREAM_RECORDED = ParityLimits(long_stream_min_top1_agreement=0.0, long_stream_max_class_shift=1.0)


def export_parity(checkpoint, precisions: tuple[str, ...]) -> tuple[dict, dict]:
    """({precision: Artifact} written, {precision: parity summary}) whether or not every gate passed."""
    try:
        artifacts, failed = export(checkpoint, precisions=precisions, limits=LONG_STREAM_RECORDED, log=lambda m: None), {}
    except ExportGateError as error:
        artifacts, failed = error.artifacts, error.failed
    return artifacts, {**{p: a.parity for p, a in artifacts.items()}, **failed}


@pytest.mark.parametrize("threads", THREADS, ids=[f"threads{t}" for t in THREADS])
@pytest.mark.parametrize("dataset, cell, overrides, floor", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_accuracy_floor_and_graph_parity(tmp_path, sample_dir, figures, train_seed, dataset, cell, overrides, floor,
                                         threads):
    data = sample_dir if dataset == "japanese_vowels" else shared_data("uea", "BasicMotions_TRAIN.ts")
    outcome = train(data, tmp_path, {"cell": cell}, TrainConfig(**{**MEASURED_SETTINGS, **overrides}, seed=train_seed, threads=threads),
                    log=lambda m: None)
    cases = len(outcome.test_set)
    figures.at_least("test_accuracy", outcome.metrics["accuracy"], floor, cases)
    artifacts, parity = export_parity(outcome.checkpoint, ("fp32", "int8-dynamic"))
    figures.gates(parity, cases)
    figures.verify()
    assert set(artifacts) == {"fp32", "int8-dynamic"}
    fp32, int8 = artifacts["fp32"], artifacts["int8-dynamic"]
    # int8 at hidden 128: <= 31% of the fp32 bytes, >= 95% of weights int8 (the architecture's, not
    # training's). What both files carry alike (2.3 KB of metadata, the input's float32
    # standardisation) is a tenth of the SimpleRNN's int8 file: 0.304 of fp32 there, 0.283 without.
    assert int8.footprint["bytes_vs_fp32"] <= 0.31 and int8.footprint["weights"]["int8_fraction"] >= 0.95
    probs = Model(fp32.path).predict(outcome.test_set.sequences)
    graph_accuracy = float((probs.argmax(axis=1) == outcome.test_set.label_ids(outcome.labels)).mean())
    assert graph_accuracy == pytest.approx(outcome.metrics["accuracy"], abs=1.5 / cases)


@pytest.mark.parametrize("threads", THREADS, ids=[f"threads{t}" for t in THREADS])
def test_fsdd_official_split_from_wav_to_int8_stream(tmp_path, figures, train_seed, threads):
    """The Free Spoken Digit Dataset from its WAV files (official split: takes 0-4 test), log-mel
    GRU; 15 of the recipe's 60 epochs to fit the test run."""
    from edgernn.runtime.wav import read_wav

    recordings = shared_data("fsdd", "recordings")
    outcome = train(recordings, tmp_path, {"cell": "gru"}, TrainConfig(**{**MEASURED_SETTINGS, "epochs": 15}, seed=train_seed,
                                                                      threads=threads),
                    log=lambda m: None, label_regex=r"^(\d)_", test_regex=r"_[0-4]\.wav$")
    assert outcome.dataset["train"] == 2700 and outcome.dataset["test"] == 300
    # seeds 0-5 at 1 thread, 0-4 at 2: 0.9767 / 0.9827 / 0.9900 of 300 cases; rule: <= 0.9661
    figures.at_least("test_accuracy", outcome.metrics["accuracy"], 0.965, 300)
    artifacts, parity = export_parity(outcome.checkpoint, ("fp32", "int8-dynamic"))
    figures.gates(parity, 300)
    figures.verify()
    model = Model(artifacts["int8-dynamic"].path, threads=1)
    samples, rate = read_wav(recordings / "7_theo_3.wav")
    stream = model.stream()
    pieces = [stream.push(samples[i:i + 333]) for i in range(0, len(samples), 333)]  # any piece size
    streamed = [p for p in pieces if len(p)][-1][-1]
    whole = model.predict([samples])[0]
    assert rate == 8000 and streamed.argmax() == whole.argmax()
    assert abs(streamed - whole).max() <= 1e-5
