"""`edgernn tune` (tune/search.py): durations, constraints, the Pareto front and the winner, a
search end to end on a small set, and training judged on validation alone."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgernn.runtime.errors import InputError
from edgernn.trainer.config import TrainConfig
from edgernn.tune.search import (
    DataSpec, TuneConfig, TuneError, constraint_values, defaults_trial, parse_duration, pareto_front, tune, winner_of,
)
from support import write_ts


@pytest.mark.parametrize("text, seconds", [("20m", 1200), ("90s", 90), ("1.5h", 5400), ("300", 300)])
def test_durations(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "twenty", "-5m", "0", "nan"])
def test_bad_durations_are_refused(text):
    with pytest.raises(InputError, match="duration"):
        parse_duration(text)


def row(number, accuracy, size, us, state="complete", feasible=True):
    return {"number": number, "state": state, "validation_accuracy": accuracy, "bytes": size, "step_us": us,
            "feasible": feasible, "params": {}}


def test_pareto_front_and_winner():
    rows = [row(0, 0.90, 100, 50), row(1, 0.95, 400, 80), row(2, 0.90, 120, 60),   # 2 is beaten by 0
            row(3, 0.97, 900, 90, feasible=False), row(4, 0.99, 50, 10, state="pruned"), row(5, 0.95, 300, 90)]
    assert pareto_front(rows) == [0, 1, 5]
    assert winner_of(rows)["number"] == 5  # the best validation accuracy, then the fewest bytes
    with pytest.raises(TuneError, match="no trial met the constraints"):
        winner_of([row(0, 0.9, 1, 1, feasible=False), row(1, 0.9, 1, 1, state="pruned")])


def test_constraints_count_gates_bytes_and_latency():
    config = TuneConfig(max_bytes=1000, max_step_us=50.0)
    assert constraint_values({"gates_passed": True, "bytes": 800, "step_us": 40.0}, config) == [0.0, -200.0, -10.0]
    assert constraint_values({"gates_passed": False, "bytes": 1200, "step_us": 60.0}, config) == [1.0, 200.0, 10.0]
    assert constraint_values({"gates_passed": True, "bytes": 5000, "step_us": 900.0}, TuneConfig()) == [0.0, 0.0, 0.0]


def test_bad_settings_are_refused():
    with pytest.raises(InputError, match="precision must be one of"):
        TuneConfig(precision="int4")
    with pytest.raises(InputError, match="budget must be > 0"):
        TuneConfig(budget_s=0)


def test_training_judged_on_validation_alone_answers_no_test_case(tmp_path, sample_dir):
    from edgernn.trainer.train import train

    seen = []
    outcome = train(sample_dir, tmp_path, {"cell": "gru", "hidden": 8},
                    TrainConfig(epochs=2, val_fraction=0.25, threads=1), log=lambda m: None,
                    evaluate_test=False, epoch_hook=seen.append)
    assert [r.epoch for r in seen] == [1, 2] and all(r.val_accuracy is not None for r in seen)
    assert set(outcome.metrics) >= {"validation_accuracy", "best_epoch"} and "accuracy" not in outcome.metrics
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert "test" not in saved and saved["validation"]["validation_accuracy"] == outcome.metrics["validation_accuracy"]


def test_an_epoch_hook_that_raises_ends_the_run(tmp_path, sample_dir):
    from edgernn.trainer.train import train

    class Stop(Exception):
        pass

    def stop_at_two(record):
        if record.epoch == 2:
            raise Stop

    with pytest.raises(Stop):
        train(sample_dir, tmp_path, {"cell": "gru", "hidden": 8}, TrainConfig(epochs=5, val_fraction=0.25, threads=1),
              log=lambda m: None, evaluate_test=False, epoch_hook=stop_at_two)


@pytest.fixture(scope="module")
def waves(tmp_path_factory):
    """Two classes of noisy sine waves, 240 steps (framed into 3 by the data rule)."""
    root = tmp_path_factory.mktemp("waves")
    rng = np.random.default_rng(0)
    for split, n in (("TRAIN", 40), ("TEST", 20)):
        labels = ["slow" if i % 2 else "fast" for i in range(n)]
        t = np.arange(240)
        cases = [np.sin(t * (0.05 if lab == "slow" else 0.2) + rng.uniform(0, 6)) + 0.3 * rng.standard_normal(240)
                 for lab in labels]
        write_ts(root / f"waves_{split}.ts", cases, labels)
    return root / "waves_TRAIN.ts"


def test_progress_draws_a_bar_over_the_budget_then_the_winners_bars_on_stderr(tmp_path, waves, capfd):
    """The CLI asks for bars when stderr is a terminal (tests/test_progress.py); here the library
    is asked directly, so the bars reach the captured stderr."""
    tune(DataSpec(str(waves), base={"epochs": 3}), tmp_path, TuneConfig(budget_s=600, trials=1, seed=0), log=lambda m: None,
         progress=True)
    out, err = capfd.readouterr()
    assert "/600 s of the budget [" in err and " epochs [" in err and " checks [" in err
    assert out == ""


def test_a_search_ends_in_a_normal_run_folder_with_its_trials(tmp_path, waves):
    spec = DataSpec(str(waves), base={"epochs": 20})
    report = tune(spec, tmp_path, TuneConfig(budget_s=600, trials=3, max_bytes=10**7, seed=0), log=lambda m: None)
    t = report["tune"]
    assert len(t["trials"]) == 3 and t["winner"] in t["pareto_front"]
    assert t["validation_fraction"] == 0.25 and t["precision"] == "int8-dynamic"
    winner = next(r for r in t["trials"] if r["number"] == t["winner"])
    assert winner["feasible"] and winner["bytes"] > 0 and winner["step_us"] > 0
    assert {"cell", "hidden", "layers", "lr", "dropout", "readout", "input_noise", "frame"} <= set(winner["params"])
    assert report["settings"]["lr"] == {"value": winner["params"]["lr"], "chosen": "given"}
    assert 0 <= report["metrics"]["test_accuracy"] <= 1 and report["baselines"]["majority"]["accuracy"] == 0.5
    assert {p.name for p in tmp_path.iterdir()} >= {"model.pt", "model.fp32.onnx", "model.int8-dynamic.onnx",
                                                    "report.json", "tune.journal"}
    assert not (tmp_path / "trials").exists()
    assert json.loads((tmp_path / "report.json").read_text())["tune"]["winner"] == t["winner"]
    # 40 training cases: every trial judged by 4-fold cross-validation, the first with the
    # defaults; the winner trained on every training case
    defaults = defaults_trial("features", 3)
    assert defaults.pop("frame_factor") == 1.0
    assert t["folds"] == 4 and t["trials"][0]["params"] == {**defaults, "frame": 3}
    for r in t["trials"]:
        if r["state"] == "complete":
            assert len(r["fold_accuracies"]) == 4 and r["validation_accuracy"] == pytest.approx(np.mean(r["fold_accuracies"]))
    assert report["settings"]["val_fraction"] == {"value": 0.0, "chosen": "data"}
    assert report["dataset"]["train"] == 40 and report["dataset"]["validation"] == 0


def test_a_search_on_a_held_out_share_repeats_the_winners_split(tmp_path, waves):
    spec = DataSpec(str(waves), base={"epochs": 5})
    report = tune(spec, tmp_path, TuneConfig(budget_s=600, trials=2, seed=1, val_fraction=0.25, precision="fp32"),
                  log=lambda m: None)
    t = report["tune"]
    assert t["folds"] == 0 and t["validation_fraction"] == 0.25
    assert all(r["fold_accuracies"] is None for r in t["trials"])
    assert report["settings"]["val_fraction"] == {"value": 0.25, "chosen": "given"} and report["dataset"]["validation"] == 10
