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
