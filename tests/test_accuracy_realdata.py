"""Accuracy floors on real data, with the settings the recipes use, and parity of the exported graphs.

Slow (a full training run each, 10-30 s on 2 cores); JapaneseVowels is bundled, BasicMotions
comes from ../shared/data and skips when it is absent.
"""

from __future__ import annotations

import pytest

from edgernn.export.exporter import export
from edgernn.runtime import Model
from edgernn.trainer.config import TrainConfig
from edgernn.trainer.train import train

from conftest import shared_data

# (data set, cell, TrainConfig overrides of the defaults, accuracy floor)
CASES = [
    ("japanese_vowels", "gru", {}, 0.975),
    ("japanese_vowels", "lstm", {"batch_size": 8}, 0.975),
    ("japanese_vowels", "rnn", {}, 0.95),
    ("basic_motions", "gru", {}, 0.975),
]


@pytest.mark.slow
@pytest.mark.parametrize("dataset, cell, overrides, floor", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_accuracy_floor_and_graph_parity(tmp_path, sample_dir, dataset, cell, overrides, floor):
    data = sample_dir if dataset == "japanese_vowels" else shared_data("uea", "BasicMotions_TRAIN.ts")
    outcome = train(data, tmp_path, {"cell": cell}, TrainConfig(seed=0, **overrides), log=lambda m: None)
    assert outcome.metrics["accuracy"] >= floor, outcome.metrics["accuracy"]
    artifacts = export(outcome.checkpoint, precisions=("fp32", "int8-dynamic"), log=lambda m: None)
    artifact, int8 = artifacts["fp32"], artifacts["int8-dynamic"]
    assert artifact.parity["max_abs_diff"] <= 1e-4 and artifact.parity["stream_max_abs_diff"] <= 1e-5
    # int8 at hidden 128: <= 30% of the fp32 bytes, >= 95% of weights int8, within half a point of fp32.
    assert int8.footprint["bytes_vs_fp32"] <= 0.30 and int8.footprint["weights"]["int8_fraction"] >= 0.95
    assert int8.parity["top1_agreement"] >= 0.99 and int8.parity["accuracy_drop"] <= 0.005
    probs = Model(artifact.path).predict(outcome.test_set.sequences)
    graph_accuracy = float((probs.argmax(axis=1) == outcome.test_set.label_ids(outcome.labels)).mean())
    assert graph_accuracy == pytest.approx(outcome.metrics["accuracy"], abs=1.5 / len(outcome.test_set))


@pytest.mark.slow
def test_fsdd_official_split_from_wav_to_int8_stream(tmp_path):
    """The Free Spoken Digit Dataset from its WAV files (official split: takes 0-4 test), log-mel
    GRU; 15 of the recipe's 60 epochs to fit the test run (the recipe measures 98.7%)."""
    from edgernn.runtime.wav import read_wav

    recordings = shared_data("fsdd", "recordings")
    outcome = train(recordings, tmp_path, {"cell": "gru"}, TrainConfig(seed=0, epochs=15), log=lambda m: None,
                    label_regex=r"^(\d)_", test_regex=r"_[0-4]\.wav$")
    assert outcome.dataset["train"] == 2700 and outcome.dataset["test"] == 300
    assert outcome.metrics["accuracy"] >= 0.97, outcome.metrics["accuracy"]
    artifacts = export(outcome.checkpoint, precisions=("fp32", "int8-dynamic"), log=lambda m: None)
    assert artifacts["fp32"].parity["passed"] and artifacts["int8-dynamic"].parity["passed"]
    int8 = artifacts["int8-dynamic"]
    assert int8.parity["top1_agreement"] >= 0.99 and int8.parity["accuracy_drop"] <= 0.005
    model = Model(int8.path, threads=1)
    samples, rate = read_wav(recordings / "7_theo_3.wav")
    stream = model.stream()
    pieces = [stream.push(samples[i:i + 333]) for i in range(0, len(samples), 333)]  # any piece size
    streamed = [p for p in pieces if len(p)][-1][-1]
    assert model.labels[int(streamed.argmax())] == "7" and rate == 8000
    assert abs(streamed - model.predict([samples])[0]).max() <= 1e-5
