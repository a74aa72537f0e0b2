"""`edgernn tune DATA --budget 20m`: a budgeted search for the model that fits the data and the
device, with Optuna (>= 5: TPE sampler, median pruning, trial constraints), judged on validation only.

Every trial trains one configuration (cell, width, depth, learning rate, dropout, input noise,
framing, read-out; the constants below declare the space as data), the first trial the
defaults' own. Below VALIDATION_FROM training cases it is judged by FOLDS-fold stratified
cross-validation (the mean of each fold's last-epoch validation accuracy, reported after every
fold); from there on, on a held-out share with early stopping, reported after every epoch.
Hopeless trials are pruned against the median of earlier ones. Each trial has its graph
exported at the chosen precision through
the parity gates (shortened: ``TRIAL_LIMITS``) and measured: bytes on disk and per-step latency
on this machine at one thread. A trial whose graph fails a gate, or exceeds ``max_bytes`` or
``max_step_us``, is infeasible; the sampler learns that as well (``Trial.set_constraint``).
The test split is never read during the search. The winner, the feasible trial with the best
validation accuracy (then the lower validation loss, then fewer bytes, then less latency), is
trained once more with its settings and seed by ``edgernn pipeline``: after cross-validation on
all training cases with the defaults' rule (no validation split, the last epoch kept), after a
held-out share on the trial's own split, which repeats the trial's model on the same machine and
thread count. That run writes the normal run folder, every precision through the full gates, and
reads the test split once. report.json gains ``tune``: the budget, every trial, and the Pareto front of
validation accuracy, bytes and latency.

Several processes (``jobs``) share one study through a journal file in the run folder; several
machines join one study through a database ``storage`` URL (RDB storage, e.g. PostgreSQL) and
the same ``study_name``.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Callable

from edgernn.runtime.log import log_to_stderr
from edgernn.runtime.progress import Progress
from edgernn.runtime.errors import InputError
from edgernn.trainer.config import TrainConfig

CELLS = ("gru", "lstm", "rnn")
HIDDEN = (32, 64, 128, 256)
LAYERS = (1, 2)
LR_RANGE = (5e-4, 1e-2)          # log-uniform
DROPOUT_RANGE = (0.0, 0.5)
NOISE_RANGE = (0.0, 0.4)         # feature data only
FRAME_FACTORS = (0.5, 1.0, 2.0)  # x the data's own frame (trainer/defaults.py), feature series only
READOUTS = ("last", "mean")
PRECISIONS = ("fp32", "int8-dynamic", "fp16")
# Below VALIDATION_FROM training cases (trainer/defaults.py) a trial is judged by FOLDS-fold
# stratified cross-validation: a quarter of 36 cases is 9, and 9 answers tie most trials (seen: 9
# of 48 ArrowHead trials at the top). Each fold trains the full schedule and is judged by its last
# epoch, as the winner's final run (all training cases, no validation split) keeps its last epoch.
FOLDS = 4
STARTUP_TRIALS = 2


@dataclass
class TuneConfig:
    budget_s: float = 1200.0         # wall time for the search (the winner's final run comes after it)
    trials: int | None = None        # at most this many trials in all (None: until the budget is spent)
    precision: str = "int8-dynamic"  # the graph the device runs: measured and constrained on every trial
    max_step_us: float | None = None  # per-step latency limit (p50, one thread, this machine)
    max_bytes: int | None = None     # file size limit of the graph at ``precision``
    jobs: int = 1                    # trials at once, each in its own process, one thread each
    storage: str | None = None       # a database URL shared by several machines (None: a journal file here)
    study_name: str | None = None
    seed: int = 0
    # None: FOLDS-fold cross-validation below VALIDATION_FROM training cases, else the defaults'
    # share (0.1); a share: every trial and the winner hold out that share (early stopping on it)
    val_fraction: float | None = None

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise InputError(f"tune: precision must be one of {list(PRECISIONS)}, got {self.precision!r}")
        if self.budget_s <= 0 or self.jobs < 1 or (self.trials is not None and self.trials < 1):
            raise InputError("tune: the budget must be > 0 seconds, jobs >= 1 and trials >= 1")


@dataclass
class DataSpec:
    """What every trial reads: the arguments of ``train`` that name the data."""
    data: str
    test: str | None = None
    label_regex: str | None = None
    test_regex: str | None = None
    strip: tuple[str, ...] = ()
    base: dict = field(default_factory=dict)  # TrainConfig fields given by the user, kept in every trial


def suggest(trial, input_kind: str, data_frame: int) -> tuple[dict, dict]:
    """One trial's (model_config, TrainConfig overrides) drawn from ``SEARCH``'s ranges."""
    model = {"cell": trial.suggest_categorical("cell", CELLS),
             "hidden": trial.suggest_categorical("hidden", HIDDEN),
             "layers": trial.suggest_categorical("layers", LAYERS),
             "dropout": trial.suggest_float("dropout", *DROPOUT_RANGE),
             "readout": trial.suggest_categorical("readout", READOUTS)}
    train = {"lr": trial.suggest_float("lr", *LR_RANGE, log=True)}
    if input_kind == "features":
        train["input_noise"] = trial.suggest_float("input_noise", *NOISE_RANGE)
        if data_frame > 1:
            factor = trial.suggest_categorical("frame_factor", FRAME_FACTORS)
            train["frame"] = max(1, round(data_frame * factor))
    return model, train


def trial_limits():
    """Parity limits for a trial's graph: the product's limits on fewer cases and a shorter long
    stream (the winner's export runs them in full)."""
    from edgernn.export.limits import ParityLimits

    return ParityLimits(max_sequences=48, long_stream_steps=2000)


class BudgetSpent(Exception):
    """The search's deadline passed during a trial."""


def run_trial(trial, spec: DataSpec, tune: TuneConfig, data_facts: dict, trials_dir: Path, deadline: float) -> float:
    """Train, export, measure one trial; returns its validation accuracy (the mean over folds in
    cross-validation). The trial's user attributes record bytes, latency, gates and feasibility."""
    import optuna

    from edgernn.trainer.train import train

    model_config, overrides = suggest(trial, data_facts["input_kind"], data_facts["frame"])
    config = TrainConfig(**{**spec.base, **overrides, "seed": tune.seed, "threads": 1})
    run_dir = trials_dir / f"trial-{trial.number:04d}"

    def fit_once(config: TrainConfig, epoch_hook):
        return train(spec.data, run_dir, model_config, config, test=spec.test, log=lambda m: None,
                     label_regex=spec.label_regex, test_regex=spec.test_regex, strip=spec.strip,
                     evaluate_test=False, epoch_hook=epoch_hook)

    def over_budget() -> None:
        if time.time() > deadline:
            raise optuna.TrialPruned("the budget is spent")

    def report(value: float, step: int, what: str) -> None:
        trial.report(value, step)
        over_budget()
        if trial.should_prune():
            raise optuna.TrialPruned(f"{what} {value:.4f} below the median of earlier trials")

    def report_epoch(record) -> None:
        report(record.val_accuracy, record.epoch, f"validation accuracy at epoch {record.epoch}")

    if data_facts["folds"]:
        # steps 1..epochs: the first fold's epochs; then epochs + f: the mean after fold f
        accuracies, losses = [], []
        for fold in range(data_facts["folds"]):
            outcome = fit_once(replace(config, val_folds=data_facts["folds"], val_fold=fold,
                                       patience=data_facts["epochs"]),  # no early stop: the winner runs the whole schedule
                               report_epoch if fold == 0 else lambda record: over_budget())
            last = outcome.history[-1]
            accuracies.append(last.val_accuracy)
            losses.append(last.val_loss)
            report(sum(accuracies) / len(accuracies), data_facts["epochs"] + fold + 1,
                   f"mean validation accuracy after fold {fold + 1}")
        accuracy, loss = sum(accuracies) / len(accuracies), sum(losses) / len(losses)
        trial.set_user_attr("fold_accuracies", accuracies)
    else:
        outcome = fit_once(replace(config, val_fraction=data_facts["val_fraction"]), report_epoch)
        accuracy = outcome.metrics["validation_accuracy"]
        loss = next(r.val_loss for r in outcome.history if r.epoch == outcome.metrics["best_epoch"])
    measured = measure_graph(outcome.checkpoint, run_dir, tune)
    measured.update({"params": {**model_config, **overrides}, "epochs": outcome.metrics["epochs_run"],
                     "validation_loss": loss})
    for key, value in measured.items():
        trial.set_user_attr(key, value)
    for name, value in zip(CONSTRAINTS, constraint_values(measured, tune)):
        trial.set_constraint(name, value)
    shutil.rmtree(run_dir, ignore_errors=True)  # the winner is trained again into the run folder
    return accuracy


def measure_graph(checkpoint: Path, run_dir: Path, tune: TuneConfig) -> dict:
    """Export a trial's model at fp32 and ``tune.precision`` through the (shortened) gates; its
    graph's bytes and per-step latency (p50, one thread)."""
    from edgernn.export.exporter import ExportGateError, export
    from edgernn.runtime.bench import step_latency
    from edgernn.runtime.model import Model

    precisions = tuple(dict.fromkeys(("fp32", tune.precision)))
    try:
        artifacts, gates_passed = export(checkpoint, run_dir, precisions, limits=trial_limits(), log=lambda m: None), True
    except ExportGateError as error:
        artifacts, gates_passed = error.artifacts, False
    measured = {"gates_passed": gates_passed and tune.precision in artifacts, "bytes": None, "step_us": None}
    if tune.precision in artifacts:
        artifact = artifacts[tune.precision]
        measured["bytes"] = artifact.bytes
        measured["step_us"] = step_latency(Model(artifact.path, threads=1), steps=500, warmup=50)["step_us_p50"]
    return measured


CONSTRAINTS = ("gate_failed", "bytes_over_limit", "step_us_over_limit")


def constraint_values(measured: dict, tune: TuneConfig) -> list[float]:
    """Optuna's constraints (<= 0 feasible): a failed gate, then bytes and latency over their limits."""
    failed = 0.0 if measured["gates_passed"] else 1.0
    over_bytes = (measured["bytes"] - tune.max_bytes) if tune.max_bytes and measured["bytes"] is not None else 0.0
    over_us = (measured["step_us"] - tune.max_step_us) if tune.max_step_us and measured["step_us"] is not None else 0.0
    return [failed, float(over_bytes), float(over_us)]


def open_study(tune: TuneConfig, storage_url_or_file: str, create: bool, warmup_steps: int = 5):
    import optuna

    if "://" in storage_url_or_file:
        storage = storage_url_or_file
    else:
        from optuna.storages.journal import JournalFileBackend, JournalStorage
        storage = JournalStorage(JournalFileBackend(storage_url_or_file))
    sampler = optuna.samplers.TPESampler(seed=tune.seed)  # it reads each trial's constraints (set_constraint)
    # pruning starts once STARTUP_TRIALS trials are complete: a 20-minute search of a set whose
    # every training takes 100 s (ArrowHead, 4 folds) completes only a few
    pruner = optuna.pruners.MedianPruner(n_startup_trials=STARTUP_TRIALS, n_warmup_steps=warmup_steps)
    name = tune.study_name or "edgernn-tune"
    if create:
        return optuna.create_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner,
                                   direction="maximize", load_if_exists=True)
    return optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)


def search_worker(spec: DataSpec, tune: TuneConfig, data_facts: dict, storage: str, trials_dir: str, deadline: float,
                  worker: int, say: Callable[[str], None] = log_to_stderr) -> int:
    """One process's share of the search: trials until the deadline or the trial count, each
    finished one told to ``say`` in a line. Returns the trials it ran."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = open_study(replace(tune, seed=tune.seed + worker), storage, create=False, warmup_steps=data_facts["warmup_steps"])
    before = len(study.trials)
    catch = (InputError,)  # a configuration the data refuses (e.g. a frame longer than a case) fails alone
    callbacks = [lambda study, trial: say(trial_line(trial))]
    if tune.trials is not None:
        callbacks.append(optuna.study.MaxTrialsCallback(tune.trials, states=None))
    study.optimize(lambda trial: run_trial(trial, spec, tune, data_facts, Path(trials_dir), deadline),
                   timeout=max(1.0, deadline - time.time()), catch=catch, callbacks=callbacks)
    return len(study.trials) - before


def trial_line(trial) -> str:
    """One finished trial in a line."""
    attrs = trial.user_attrs
    value = "-" if trial.value is None else f"{trial.value:.4f}"
    return (f"tune: trial {trial.number} {trial.state.name.lower()}: validation accuracy {value}, {attrs.get('bytes')} bytes, "
            f"step p50 {attrs.get('step_us')} us; {attrs.get('params', trial.params)}")


def data_facts_of(spec: DataSpec, tune: TuneConfig) -> dict:
    """Input kind, the data's own frame, how trials are judged (``folds`` > 0: cross-validation,
    else a held-out ``val_fraction``), the epochs of a trial's schedule and the pruner's warm-up,
    read once from the training split."""
    from edgernn.runtime.splits import load_train_test
    from edgernn.trainer.defaults import VALIDATION_FROM, VALIDATION_SHARE, frame_for, resolve

    train_set, _ = load_train_test(spec.data, spec.test, spec.label_regex, spec.test_regex, spec.strip,
                                   spec.base.get("test_fraction", TrainConfig.test_fraction), tune.seed)
    cases = len(train_set)
    folds = FOLDS if tune.val_fraction is None and cases < VALIDATION_FROM else 0
    val_fraction = 1 / FOLDS if folds else tune.val_fraction if tune.val_fraction is not None else VALIDATION_SHARE
    frame = frame_for([len(s) for s in train_set.sequences]) if train_set.input_kind == "features" else 1
    epochs = resolve(TrainConfig(**{**spec.base, "val_fraction": val_fraction}), cases)[0].epochs
    # the median pruner judges a trial from a quarter of its (first fold's) epochs on (seen
    # without: most ArrowHead trials pruned within 6 of 1,000 epochs)
    warmup = max(5, epochs // 4)
    return {"input_kind": train_set.input_kind, "frame": frame, "folds": folds, "val_fraction": val_fraction,
            "cases": cases, "epochs": epochs, "warmup_steps": warmup}


def defaults_trial(input_kind: str, data_frame: int) -> dict:
    """The parameters ``edgernn pipeline`` would use without options, tried first so that the
    search starts from where a user without it stands."""
    from edgernn.trainer.config import ModelConfig
    from edgernn.trainer.defaults import LEARNING_RATE

    model = ModelConfig(features=1)  # its defaults (features: any valid count)
    params = {"cell": model.cell, "hidden": model.hidden, "layers": model.layers, "dropout": model.dropout,
              "readout": "mean" if input_kind == "text" else model.readout, "lr": LEARNING_RATE}
    if input_kind == "features":
        params["input_noise"] = TrainConfig.input_noise
        if data_frame > 1:
            params["frame_factor"] = 1.0
    return params


def trial_rows(study) -> list[dict]:
    rows = []
    for t in study.trials:
        attrs = t.user_attrs
        rows.append({"number": t.number, "state": t.state.name.lower(), "validation_accuracy": t.value,
                     "params": attrs.get("params", t.params), "bytes": attrs.get("bytes"), "step_us": attrs.get("step_us"),
                     "gates_passed": attrs.get("gates_passed"),
                     "feasible": len(t.constraints) == len(CONSTRAINTS) and all(c <= 0 for c in t.constraints.values()),
                     "validation_loss": attrs.get("validation_loss"), "fold_accuracies": attrs.get("fold_accuracies"),
                     "epochs": attrs.get("epochs"),
                     "seconds": round(t.duration.total_seconds(), 1) if t.duration is not None else None})
    return rows


def pareto_front(rows: list[dict]) -> list[int]:
    """Numbers of the complete feasible trials no other beats on all of validation accuracy (higher),
    bytes and step latency (lower) while being better on one."""
    done = [r for r in rows if r["state"] == "complete" and r["feasible"]]

    def dominates(a: dict, b: dict) -> bool:
        better_or_equal = (a["validation_accuracy"] >= b["validation_accuracy"] and a["bytes"] <= b["bytes"]
                           and a["step_us"] <= b["step_us"])
        strictly = (a["validation_accuracy"] > b["validation_accuracy"] or a["bytes"] < b["bytes"] or a["step_us"] < b["step_us"])
        return better_or_equal and strictly
    return [r["number"] for r in done if not any(dominates(o, r) for o in done if o is not r)]


def winner_of(rows: list[dict]) -> dict:
    done = [r for r in rows if r["state"] == "complete" and r["feasible"]]
    if not done:
        raise TuneError(f"no trial met the constraints ({len(rows)} trials: "
                        f"{sum(r['state'] == 'pruned' for r in rows)} pruned, {sum(r['state'] == 'fail' for r in rows)} failed, "
                        f"{sum(r['state'] == 'complete' for r in rows)} complete but over a limit or failing a gate); "
                        "raise --budget or the limits")
    loss = lambda r: r.get("validation_loss") if r.get("validation_loss") is not None else math.inf  # noqa: E731
    return min(done, key=lambda r: (-r["validation_accuracy"], loss(r), r["bytes"], r["step_us"]))


class TuneError(InputError):
    """The search found nothing it may hand over."""


def tune(spec: DataSpec, out: str | Path, tune_config: TuneConfig,
         log: Callable[[str], None] = log_to_stderr, progress: bool = False) -> dict:
    """Search, then run ``pipeline`` for the winner into ``out``; returns report.json's content
    (with its ``tune`` section). progress: a bar over the search budget's seconds on stderr, then
    the winner's training and export bars (runtime/progress.py)."""
    from edgernn.export.pipeline import pipeline

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    deadline = started + tune_config.budget_s
    facts = data_facts_of(spec, tune_config)
    storage = tune_config.storage or str(out / "tune.journal")
    study = open_study(tune_config, storage, create=True, warmup_steps=facts["warmup_steps"])
    if not study.trials:  # a study other machines have begun already holds it
        study.enqueue_trial(defaults_trial(facts["input_kind"], facts["frame"]))
    trials_dir = out / "trials"
    judged = (f"{facts['folds']}-fold cross-validation" if facts["folds"] else
              f"a held-out {facts['val_fraction']:g} of them")
    until = time.strftime('%H:%M:%S', time.localtime(deadline))
    log(f"tune: {facts['cases']} training cases ({facts['input_kind']}), trials judged by {judged}; "
        f"{tune_config.jobs} process(es) until {until}; "
        f"constraints on the {tune_config.precision} graph: bytes <= {tune_config.max_bytes or 'any'}, "
        f"step p50 <= {tune_config.max_step_us or 'any'} us")
    args = (spec, tune_config, facts, storage, str(trials_dir), deadline)
    bar = Progress.start(round(tune_config.budget_s), "s of the budget", progress).follow_clock()
    try:
        if tune_config.jobs == 1:
            search_worker(*args, 0, bar.around(log_to_stderr))
        else:  # the workers' trial lines reach stderr from their own processes
            with ProcessPoolExecutor(tune_config.jobs, mp_context=get_context("spawn")) as pool:
                for future in [pool.submit(search_worker, *args, worker) for worker in range(tune_config.jobs)]:
                    future.result()
    finally:
        bar.close()
    shutil.rmtree(trials_dir, ignore_errors=True)
    study = open_study(tune_config, storage, create=False, warmup_steps=facts["warmup_steps"])
    rows = trial_rows(study)
    best = winner_of(rows)
    searched = time.time() - started
    log(f"tune: {len(rows)} trials in {searched:.0f} s; winner trial {best['number']}: validation accuracy "
        f"{best['validation_accuracy']:.4f}, {best['bytes']} bytes, step p50 {best['step_us']} us; {best['params']}")
    params = dict(best["params"])
    model_config = {k: params.pop(k) for k in ("cell", "hidden", "layers", "dropout", "readout")}
    # cross-validated: the defaults' own rule (all training cases, the last epoch kept); held out:
    # the trial's split and early stopping again, which repeats the trial's model
    config = TrainConfig(**{**spec.base, **params, "val_fraction": None if facts["folds"] else facts["val_fraction"],
                            "seed": tune_config.seed, "threads": 1})
    from edgernn.export.exporter import ExportGateError
    from edgernn.runtime.files import write_json_atomic

    gate_error = None
    try:
        report = pipeline(spec.data, out, model_config, config, test=spec.test, threads=1, log=log,
                          label_regex=spec.label_regex, test_regex=spec.test_regex, strip=spec.strip, progress=progress)
    except ExportGateError as error:  # the report is written; add the search to it, then fail as pipeline does
        gate_error, report = error, json.loads((out / "report.json").read_text())
    report["tune"] = {"budget_s": tune_config.budget_s, "search_s": round(searched, 1), "jobs": tune_config.jobs,
                      "precision": tune_config.precision, "max_bytes": tune_config.max_bytes,
                      "max_step_us": tune_config.max_step_us, "folds": facts["folds"],
                      "validation_fraction": facts["val_fraction"],
                      "winner": best["number"], "trials": rows, "pareto_front": pareto_front(rows),
                      "study": {"name": study.study_name, "storage": storage if "://" in storage else "tune.journal"}}
    write_json_atomic(out / "report.json", report)
    if gate_error is not None:
        raise gate_error
    return report


def parse_duration(text: str) -> float:
    """'20m', '90s', '1.5h', '300' (seconds) -> seconds; InputError otherwise."""
    units = {"s": 1, "m": 60, "h": 3600}
    value, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        seconds = float(value) * units[unit]
    except ValueError:
        raise InputError(f"a duration like 20m, 90s or 1.5h, got {text!r}") from None
    if not math.isfinite(seconds) or seconds <= 0:
        raise InputError(f"a duration must be positive, got {text!r}")
    return seconds
