"""Settings decided from the data (trainer/defaults.py), the warm-up schedule and the divergence
guard (trainer/train.py), and framing of long feature series from training to a stream."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from edgernn.trainer.config import TrainConfig
from edgernn.trainer.defaults import (
    MAX_EPOCHS, MIN_EPOCHS, UPDATES, epochs_for, frame_for, resolve, resolve_frame, settings_line,
)
from edgernn.trainer.train import DivergenceGuard, learning_rate_factor


@pytest.mark.parametrize("cases, batch, validation", [
    (36, 16, 0.0), (999, 16, 0.0), (1000, 16, 0.1), (1999, 16, 0.1), (2000, 32, 0.1), (20000, 64, 0.1), (100000, 64, 0.1),
])
def test_batch_size_and_validation_follow_the_number_of_cases(cases, batch, validation):
    config, chosen = resolve(TrainConfig(), cases)
    assert (config.batch_size, config.val_fraction) == (batch, validation)
    assert all(entry["chosen"] == "data" for entry in chosen.values())
    kept = cases - round(cases * validation)
    updates = config.epochs * math.ceil(kept / batch)
    assert MIN_EPOCHS <= config.epochs <= MAX_EPOCHS
    # enough updates, unless held at the epoch bounds
    assert updates >= UPDATES or config.epochs == MAX_EPOCHS
    assert config.patience == max(5, config.epochs // 4)


def test_given_settings_are_kept_and_reported_as_given():
    config, chosen = resolve(TrainConfig(epochs=7, lr=0.02, batch_size=4, val_fraction=0.25, patience=3), 36)
    assert (config.epochs, config.lr, config.batch_size, config.val_fraction, config.patience) == (7, 0.02, 4, 0.25, 3)
    assert {entry["chosen"] for entry in chosen.values()} == {"given"}
    assert settings_line(chosen) == "settings: batch size 4, val fraction 0.25, epochs 7, lr 0.02, patience 3"


def test_epochs_from_the_update_budget():
    assert epochs_for(36, 16) == MAX_EPOCHS                  # 3 updates an epoch: held at the ceiling
    assert epochs_for(270, 16) == math.ceil(UPDATES / 17)     # the bundled sample
    assert epochs_for(90000, 64) == MIN_EPOCHS               # 1,407 updates an epoch


@pytest.mark.parametrize("lengths, frame", [
    ([24] * 5, 1), ([100] * 3, 1), ([150] * 4, 2), ([251] * 4, 3), ([1460] * 2, 15), ([7, 29, 500, 500, 500], 5),
    ([3, 2000, 2000], 3),  # never past the shortest case: every case keeps a step
])
def test_frame_from_the_median_length(lengths, frame):
    assert frame_for(lengths) == frame
    assert resolve_frame(TrainConfig(), lengths)[0].frame == frame
    assert resolve_frame(TrainConfig(frame=1), lengths)[0].frame == 1  # given: kept
    assert resolve_frame(TrainConfig(), None)[0].frame == 1            # not feature series


def test_warm_up_then_cosine_in_optimiser_steps():
    factors = [learning_rate_factor(step, 100, 10, 0.05) for step in range(100)]
    assert factors[:10] == pytest.approx([(i + 1) / 10 for i in range(10)])
    assert factors[10] == pytest.approx(1.0) and factors[-1] == pytest.approx(0.05, abs=1e-3)
    assert all(a >= b for a, b in zip(factors[10:], factors[11:]))
    assert learning_rate_factor(0, 100, 0, 0.05) == pytest.approx(1.0)  # no warm-up


def test_guard_restores_the_best_weights_and_halves_the_rate_on_divergence():
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.AdamW(model.parameters())
    guard = DivergenceGuard()
    weights = {}
    for epoch, loss in enumerate([1.0, 0.8, 0.9, 1.5, 1.55], start=1):  # below max(2 x 0.8, 0.8 + 0.5) = 1.6
        with torch.no_grad():
            model.weight.fill_(epoch)
        weights[epoch] = model.weight.clone()
        assert guard.observe(epoch, loss, model, optimizer) is None
    with torch.no_grad():
        model.weight.fill_(6)
    assert guard.observe(6, 1.8, model, optimizer) is None           # one epoch above the bound: a strike
    event = guard.observe(7, 1.9, model, optimizer)                   # two in a row: diverging
    assert event == {"epoch": 7, "loss": 1.9, "best_loss": 0.8, "restored_epoch": 2, "lr_scale": 0.5}
    assert torch.equal(model.weight, weights[2]) and not optimizer.state
    event = guard.observe(8, math.nan, model, optimizer)              # a non-finite loss acts at once
    assert event["loss"] == "nan" and event["lr_scale"] == 0.25 and len(guard.events) == 2


def test_a_noisy_small_loss_is_no_divergence():
    model = torch.nn.Linear(2, 2)
    guard = DivergenceGuard()
    for epoch, loss in enumerate([0.5, 0.05, 0.01, 0.3, 0.4, 0.2, 0.45], start=1):
        assert guard.observe(epoch, loss, model, torch.optim.AdamW(model.parameters())) is None


@pytest.mark.floor
@pytest.mark.parametrize("threads", (1, 2))
@pytest.mark.parametrize("val_fraction", (0.0, 0.25))
def test_a_diverging_run_is_caught_restored_and_reported(tmp_path, sample_dir, train_seed, threads, val_fraction):
    """A learning rate warming up to 30 sends the loss up within a few epochs: the guard restores
    the best epoch's weights and lowers the rate, and the run says so. It judges the training
    loss, also beside a validation split of fewer than GUARD_VALIDATION_CASES cases (68 here).
    Seeds 0-5 at 1 and 2 threads: 4 restorations in every one of the 12 runs without validation."""
    from edgernn.trainer.train import train

    lines: list[str] = []
    outcome = train(sample_dir, tmp_path, {"cell": "gru", "hidden": 16},
                    TrainConfig(epochs=10, lr=30.0, warmup_share=0.9, seed=train_seed, threads=threads,
                                val_fraction=val_fraction), log=lines.append)
    events = outcome.metrics["divergence_guard"]
    assert events and all(e["lr_scale"] < 1 for e in events)
    assert any(line.startswith("divergence guard: training loss") for line in lines)
    assert all(torch.isfinite(p).all() for p in outcome.model.parameters())


def test_a_framed_model_trains_exports_and_streams_exactly(tmp_path, sample_dir):
    """JapaneseVowels (7-29 steps) in frames of 3: the graph's answers equal PyTorch's through the
    runtime, and a stream pushed in pieces of any size equals one push."""
    from edgernn.export.exporter import export
    from edgernn.runtime import InputError, Model
    from edgernn.trainer.train import train

    outcome = train(sample_dir, tmp_path, {"cell": "gru", "hidden": 16}, TrainConfig(epochs=2, frame=3, seed=0, threads=1),
                    log=lambda m: None)
    assert outcome.metrics["settings"]["frame"] == {"value": 3, "chosen": "given"}
    artifacts = export(outcome.checkpoint, precisions=("fp32", "int8-dynamic"), log=lambda m: None)
    assert all(a.parity["passed"] for a in artifacts.values())
    model = Model(artifacts["fp32"].path)
    assert model.frontend.kind == "framed_features" and model.metadata.features == 36
    sequences = outcome.test_set.sequences
    accuracy = (model.predict(sequences).argmax(1) == outcome.test_set.label_ids(outcome.labels)).mean()
    assert accuracy == pytest.approx(outcome.metrics["accuracy"], abs=1.5 / len(sequences))
    rng = np.random.default_rng(0)
    for sequence in sequences[:10]:
        stream = model.stream()
        cuts = np.sort(rng.integers(0, len(sequence), size=4))
        steps = np.concatenate([stream.push(piece) for piece in np.split(sequence, cuts)])
        assert len(steps) == len(sequence) // 3
        np.testing.assert_allclose(steps[-1], model.predict([sequence])[0], atol=1e-5)
    batch = model.batch()
    ids = [batch.open(), batch.open()]
    out = batch.push({ids[0]: sequences[0][:4], ids[1]: sequences[1][:2]})
    assert out[ids[0]].shape == (1, 9) and out[ids[1]].shape == (0, 9)
    with pytest.raises(InputError, match="this model's front end is 'framed_features': use push"):
        batch.push_array(np.array(ids), np.zeros((2, 3, 12), np.float32))


def test_settings_line_names_words_and_numbers():
    chosen = {"lr": {"value": 0.003, "chosen": "data"}, "readout": {"value": "mean", "chosen": "data"},
              "frame": {"value": 3, "chosen": "given"}}
    assert settings_line(chosen) == "settings: lr 0.003, readout mean, frame 3 (lr, readout decided from the data)"


def test_the_readout_follows_the_input_kind_unless_given(tmp_path, sample_dir):
    from test_text_model import write_posts

    from edgernn.trainer.train import train

    write_posts(tmp_path / "posts-train", 6, seed=0)
    write_posts(tmp_path / "posts-test", 2, seed=1)
    quick = TrainConfig(epochs=1, threads=1, min_count=1)
    text = train(tmp_path / "posts-train", tmp_path / "text", {"cell": "gru", "hidden": 4}, quick, log=lambda m: None)
    assert text.model.config.readout == "mean" and text.metrics["settings"]["readout"]["chosen"] == "data"
    given = train(tmp_path / "posts-train", tmp_path / "given", {"cell": "gru", "hidden": 4, "readout": "last"}, quick,
                  log=lambda m: None)
    assert given.model.config.readout == "last" and given.metrics["settings"]["readout"]["chosen"] == "given"
    features = train(sample_dir, tmp_path / "features", {"cell": "gru", "hidden": 4}, quick, log=lambda m: None)
    assert features.model.config.readout == "last"
