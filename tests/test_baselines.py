"""Baselines every run reports (trainer/baselines.py): majority class and a linear model on the
same split, and the warning when a model does not beat them."""

from __future__ import annotations


import numpy as np
import pytest
import torch
from click.testing import CliRunner

from edgernn.cli.main import cli
from edgernn.runtime.metadata import baseline_warnings
from edgernn.trainer.baselines import bag_of_words, baselines, linear_baseline, majority_baseline, summary_statistics
from edgernn.trainer.data import Encoded
from support import write_ts


def encoded(cases: list[np.ndarray], labels: list[int]) -> Encoded:
    """Pad float [time, features] or int [time] cases with zeros, as trainer/data.encode does."""
    longest = max(len(c) for c in cases)
    x = np.zeros((len(cases), longest, *cases[0].shape[1:]), dtype=cases[0].dtype)
    for i, case in enumerate(cases):
        x[i, : len(case)] = case
    return Encoded(torch.from_numpy(x), torch.tensor([len(c) for c in cases]), torch.tensor(labels))


def test_summary_statistics_read_each_case_over_its_own_steps():
    short = np.array([[1.0, 10.0], [3.0, 30.0]], dtype=np.float32)
    long = np.arange(16, dtype=np.float32).reshape(8, 2)
    got = summary_statistics(encoded([short, long], [0, 1]))
    assert got.shape == (2, 14)
    for row, case in zip(got, (short, long)):
        quarter = max(1, len(case) // 4)
        want = np.concatenate([case.mean(0), case.std(0), case.min(0), case.max(0), case[0], case[-1],
                               case[-quarter:].mean(0) - case[:quarter].mean(0)])
        np.testing.assert_allclose(row, want)  # the padding of ``short`` counts nowhere


def test_bag_of_words_counts_each_id_once_per_occurrence():
    got = bag_of_words(encoded([np.array([2, 3, 2]), np.array([4])], [0, 1]), vocab_size=6).toarray()
    np.testing.assert_array_equal(got, [[0, 0, 2, 1, 0, 0], [0, 0, 0, 0, 1, 0]])  # padding id 0 not counted


def test_majority_answers_the_training_splits_most_common_class():
    train = encoded([np.zeros((2, 1), np.float32)] * 5, [1, 1, 1, 0, 2])
    test = encoded([np.zeros((2, 1), np.float32)] * 4, [1, 0, 0, 0])
    assert majority_baseline(train, test, ["a", "b", "c"]) == {"label": "b", "accuracy": 0.25}


def test_linear_baseline_learns_what_the_summary_holds():
    rng = np.random.default_rng(0)
    def split(n):
        labels = [i % 2 for i in range(n)]
        cases = [(rng.standard_normal((int(rng.integers(5, 20)), 3)) + (2.0 if y else -2.0)).astype(np.float32)
                 for y in labels]
        return encoded(cases, labels)
    result = linear_baseline(split(40), split(30))
    assert result["accuracy"] == 1.0 and "summary statistics" in result["model"]
    words = encoded([np.array([2, 2, 3]), np.array([4, 5]), np.array([3, 2]), np.array([5])], [0, 1, 0, 1])
    assert linear_baseline(words, words, vocab_size=6)["accuracy"] == 1.0


def test_warnings_name_each_baseline_not_beaten():
    measured = {"majority": {"label": "walk", "accuracy": 0.5},
                "linear": {"model": "linear model", "accuracy": 0.8}}
    assert baseline_warnings(0.9, measured) == []
    assert baseline_warnings(0.7, measured) == [
        "the model's test accuracy 0.7000 does not beat a linear model (0.8000) on the same split"]
    assert len(baseline_warnings(0.5, measured)) == 2
    assert baseline_warnings(0.5, measured)[0].startswith("the model's test accuracy 0.5000 does not beat always "
                                                          "answering 'walk' (0.5000)")


def test_a_model_that_cannot_learn_is_reported_as_such(tmp_path):
    """Every case is the same series, so every answer is the same: the model can at best equal the
    majority class, and the run says so in its log, metrics, CLI summary and the graph's check."""
    same = np.linspace(-1, 1, 6)
    labels = ["a"] * 9 + ["b"] * 3
    write_ts(tmp_path / "same_TRAIN.ts", [same] * 12, labels)
    write_ts(tmp_path / "same_TEST.ts", [same] * 8, ["a"] * 6 + ["b"] * 2)
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["pipeline", str(tmp_path / "same_TRAIN.ts"), "--epochs", "2", "--hidden", "4",
                                      "--precision", "fp32", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "baselines on the same split: always 'a' 0.7500" in result.output
    assert "warning: the model's test accuracy" in result.output and "does not beat always answering 'a'" in result.output
    import json
    report = json.loads((out / "report.json").read_text())
    assert report["baselines"]["majority"] == {"label": "a", "accuracy": 0.75}
    assert report["metrics"]["test_accuracy"] <= 0.75 and report["warnings"]
    checked = CliRunner().invoke(cli, ["check", str(out / "model.fp32.onnx"), "--data", str(tmp_path / "same_TEST.ts")])
    assert checked.exit_code == 0, checked.output
    assert "baselines on the training run's test split: always 'a' 0.7500" in checked.output
    assert "warning: the model's test accuracy" in checked.output


@pytest.mark.parametrize("kind", ["features", "tokens"])
def test_baselines_hold_both_entries(kind):
    cases = [np.array([2, 3]), np.array([4, 5])] if kind == "tokens" else [np.ones((3, 2), np.float32), -np.ones((3, 2), np.float32)]
    data = encoded(cases, [0, 1])
    got = baselines(data, data, ["x", "y"], vocab_size=6 if kind == "tokens" else 0)
    assert set(got) == {"majority", "linear"} and got["linear"]["accuracy"] == 1.0
