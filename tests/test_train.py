"""Training loop, split, metrics and checkpoints (trainer/)."""

from __future__ import annotations


import numpy as np
import pytest
import torch

from edgernn.runtime.errors import CheckpointError, InputError
from edgernn.runtime.splits import load_train_test
from edgernn.runtime.frontend import FeatureFrontend
from edgernn.trainer.checkpoint import load_checkpoint, read_checkpoint, save_checkpoint
from edgernn.runtime.splits import stratified_fold, stratified_split
from edgernn.trainer.data import encode
from edgernn.trainer.metrics import classification_metrics
from edgernn.trainer.network import ModelConfig, RecurrentClassifier
from edgernn.trainer.threads import torch_threads
from edgernn.trainer.train import TrainConfig, evaluate, fit, train

from support import MEASURED_SETTINGS


def test_same_seed_same_weights(tmp_path, sample_dir):
    config = TrainConfig(epochs=2, seed=7, threads=1, input_noise=0.1)
    runs = [train(sample_dir, tmp_path / str(i), {"cell": "gru", "hidden": 8}, config, log=lambda m: None) for i in range(2)]
    for (name, a), b in zip(runs[0].model.state_dict().items(), runs[1].model.state_dict().values()):
        assert torch.equal(a, b), name
    assert [r.loss for r in runs[0].history] == [r.loss for r in runs[1].history]


def test_run_folder_and_checkpoint_rebuild_the_model(tmp_path, sample_dir):
    outcome = train(sample_dir, tmp_path, {"cell": "lstm", "hidden": 8, "layers": 2}, TrainConfig(epochs=1, threads=1),
                    log=lambda m: None)
    assert {p.name for p in tmp_path.iterdir()} == {"model.pt", "history.json", "metrics.json"}
    model, payload = load_checkpoint(tmp_path)  # a run folder or the file itself
    assert payload["labels"] == outcome.labels and payload["model_config"]["layers"] == 2
    x = torch.randn(3, 9, 12)
    with torch.inference_mode():
        torch.testing.assert_close(model(x)[0], outcome.model(x)[0], atol=0, rtol=0)


@pytest.mark.floor
def test_early_stopping_keeps_the_best_validation_weights(sample_dir, figures, train_seed):
    train_set, _ = load_train_test(sample_dir)
    front = FeatureFrontend.fit(train_set.sequences)
    data = encode(train_set, front, train_set.classes)
    tr, va = stratified_split(data.y.numpy(), 0.3, seed=0)
    torch.manual_seed(train_seed)
    model = RecurrentClassifier(ModelConfig(cell="gru", features=12, hidden=8, classes=9))
    with torch_threads(1):
        result = fit(model, data.subset(tr), data.subset(va), TrainConfig(**{**MEASURED_SETTINGS, "patience": 2}, seed=train_seed),
                     log=lambda m: None)
    figures.at_most("epochs_run", len(result.history), 59)  # seeds 0-4: 5 / 12.4 / 18; rule: >= 32.5
    figures.verify()
    assert result.stopped_early
    best = result.history[result.best_epoch - 1]
    assert best.val_accuracy == max(r.val_accuracy for r in result.history)
    _, pred = evaluate(model, data.subset(va))
    assert (pred == data.subset(va).y.numpy()).mean() == pytest.approx(best.val_accuracy)


def test_stratified_split_keeps_class_shares():
    y = np.repeat(np.arange(3), [10, 20, 1])
    tr, va = stratified_split(y, 0.2, seed=1)
    assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == len(y)
    assert np.bincount(y[va], minlength=3).tolist() == [2, 4, 0]  # a single-case class stays in training
    assert len(stratified_split(y, 0.0, seed=1)[1]) == 0


def test_metrics_on_a_worked_example():
    m = classification_metrics(np.array([0, 0, 1, 1, 2]), np.array([0, 1, 1, 1, 0]), ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(0.6)
    assert m["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    a, b, c = m["per_class"]
    assert (a["precision"], a["recall"], a["f1"]) == (0.5, 0.5, 0.5)
    assert (b["precision"], b["recall"], b["f1"]) == (0.6667, 1.0, 0.8)
    assert (c["precision"], c["recall"], c["support"]) == (0.0, 0.0, 1)


def test_class_weights_and_bad_settings(sample_dir, tmp_path):
    outcome = train(sample_dir, tmp_path, {"cell": "rnn", "hidden": 8},
                    TrainConfig(epochs=1, class_weights=True, threads=1), log=lambda m: None)
    assert 0 <= outcome.metrics["accuracy"] <= 1
    with pytest.raises(InputError, match="epochs=0"):
        TrainConfig(epochs=0)


class _CreatesFile:
    def __reduce__(self):
        import pathlib
        return (pathlib.Path.touch, (pathlib.Path(self.target),))


def test_checkpoint_that_would_run_code_is_refused_without_running_it(tmp_path):
    marker = tmp_path / "pwned"
    payload = _CreatesFile()
    payload.target = str(marker)
    evil = tmp_path / "model.pt"
    torch.save({"format": "edgernn.checkpoint", "x": payload}, evil, pickle_protocol=2)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="refused to load"):
        read_checkpoint(evil)
    assert not marker.exists()


def test_foreign_or_corrupt_checkpoints(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an edgernn checkpoint"):
        read_checkpoint(tmp_path / "other.pt")
    (tmp_path / "junk.pt").write_bytes(b"\x00" * 10)
    with pytest.raises(CheckpointError, match="refused to load"):
        read_checkpoint(tmp_path / "junk.pt")
    model = RecurrentClassifier(ModelConfig(features=2, hidden=4, classes=2))
    save_checkpoint(tmp_path / "m.pt", model, ["a", "b"], {"kind": "features"})
    (tmp_path / "cut.pt").write_bytes((tmp_path / "m.pt").read_bytes()[:300])
    with pytest.raises(CheckpointError, match="not a readable torch checkpoint"):
        read_checkpoint(tmp_path / "cut.pt")
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        read_checkpoint(tmp_path / "absent.pt")
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    payload["model_config"]["hidden"] = 5
    torch.save(payload, tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match="weights do not fit the model config"):
        load_checkpoint(tmp_path / "m.pt")


def test_train_restores_the_callers_thread_count(sample_dir, tmp_path):
    """A run's --threads holds for that run only: the next training (a test, a tuning trial)
    gets the process's own setting back, not the last run's."""
    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        train(sample_dir, tmp_path, {"cell": "gru", "hidden": 8}, TrainConfig(epochs=1, threads=1), log=lambda m: None)
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(previous)


def test_stratified_folds_validate_every_case_once():
    y = np.repeat(np.arange(3), [9, 20, 1])
    folds = [stratified_fold(y, 4, fold, seed=3) for fold in range(4)]
    validated = np.concatenate([va for _, va in folds])
    assert sorted(validated.tolist()) == [i for i in range(len(y)) if y[i] != 2]  # a single-case class stays in training
    for tr, va in folds:
        assert len(np.intersect1d(tr, va)) == 0 and len(tr) + len(va) == len(y)
        assert np.bincount(y[va], minlength=3).tolist()[1] == 5 and np.bincount(y[va], minlength=3)[0] in (2, 3)
    assert np.array_equal(stratified_fold(y, 4, 1, seed=3)[1], folds[1][1])  # seeded
    with pytest.raises(InputError, match=r"a fold index in \[0, 4\) of at least 2 folds, got fold 4 of 4"):
        stratified_fold(y, 4, 4, seed=0)
