"""The training loop and the `train` library function behind `edgernn train`.

AdamW + cross-entropy on each sequence's last-step logits, Gaussian input noise, gradient-norm
clipping, a cosine learning-rate decay, optional early stopping on validation accuracy (ties
broken by validation loss) with the best weights kept, optional balanced class weights, and a
seed that makes a run repeatable on the same machine and torch build.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from edgernn.runtime._files import write_json_atomic
from edgernn.runtime.datasets import SequenceSet, load_train_test
from edgernn.runtime.audio import LogMelConfig
from edgernn.runtime.frontend import FeatureFrontend, Frontend, LogMelFrontend, TokenFrontend
from edgernn.trainer.checkpoint import save_checkpoint
from edgernn.trainer.config import TrainConfig
from edgernn.trainer.data import Encoded, encode, stratified_split
from edgernn.trainer.metrics import classification_metrics
from edgernn.trainer.model import ModelConfig, RecurrentClassifier, last_step


def log_to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class EpochRecord:
    epoch: int
    loss: float
    train_accuracy: float
    val_loss: float | None
    val_accuracy: float | None
    lr: float
    seconds: float


@dataclass
class FitResult:
    model: RecurrentClassifier
    history: list[EpochRecord]
    best_epoch: int
    stopped_early: bool


def evaluate(model: RecurrentClassifier, data: Encoded, batch_size: int = 256, weight: torch.Tensor | None = None) -> tuple[float, np.ndarray]:
    """Mean cross-entropy and predicted class indices int [n], in eval mode."""
    model.eval()
    losses, preds = [], []
    with torch.inference_mode():
        for start in range(0, len(data), batch_size):
            batch = data.subset(np.arange(start, min(start + batch_size, len(data))))
            logits = last_step(model(batch.x)[0], batch.lengths)
            losses.append(nn.functional.cross_entropy(logits, batch.y, weight=weight, reduction="sum").item())
            preds.append(logits.argmax(dim=1).numpy())
    return sum(losses) / max(len(data), 1), np.concatenate(preds)


def fit(model: RecurrentClassifier, train: Encoded, val: Encoded | None, config: TrainConfig,
        log: Callable[[str], None] = log_to_stderr) -> FitResult:
    """Train ``model`` in place; returns it holding the best validation weights."""
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    weight = None
    if config.class_weights:
        counts = torch.bincount(train.y, minlength=model.config.classes).clamp(min=1).float()
        weight = counts.sum() / (len(counts) * counts)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    total_steps = config.epochs * steps_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: config.min_lr_ratio + (1 - config.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * step / total_steps)),
    )
    history: list[EpochRecord] = []
    best = (-1.0, math.inf)
    best_state, best_epoch, stale = copy.deepcopy(model.state_dict()), 0, 0
    add_noise = config.input_noise > 0 and model.config.input_kind == "features"
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        model.train()
        order = torch.randperm(len(train), generator=generator).numpy()
        total_loss, correct = 0.0, 0
        for start in range(0, len(order), config.batch_size):
            batch = train.subset(order[start:start + config.batch_size])
            x = batch.x
            if add_noise:
                x = x + config.input_noise * torch.randn(x.shape, generator=generator)
            logits = last_step(model(x)[0], batch.lengths)
            loss = nn.functional.cross_entropy(logits, batch.y, weight=weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.clip_norm)
            optimizer.step()
            schedule.step()
            total_loss += loss.item() * len(batch)
            correct += int((logits.argmax(dim=1) == batch.y).sum())
        record = EpochRecord(epoch, total_loss / len(train), correct / len(train), None, None,
                             optimizer.param_groups[0]["lr"], 0.0)
        if val is not None and len(val):
            val_loss, val_pred = evaluate(model, val, weight=weight)
            record.val_loss, record.val_accuracy = val_loss, float((val_pred == val.y.numpy()).mean())
            score = (record.val_accuracy, -val_loss)
            if score > (best[0], -best[1]):
                best, best_state, best_epoch, stale = (record.val_accuracy, val_loss), copy.deepcopy(model.state_dict()), epoch, 0
            else:
                stale += 1
        else:
            best_state, best_epoch = copy.deepcopy(model.state_dict()), epoch
        record.seconds = round(time.perf_counter() - started, 3)
        history.append(record)
        val_text = "" if record.val_accuracy is None else f" val_loss {record.val_loss:.4f} val_acc {record.val_accuracy:.4f}"
        log(f"epoch {epoch}/{config.epochs} loss {record.loss:.4f} acc {record.train_accuracy:.4f}{val_text} ({record.seconds:.1f}s)")
        if stale >= config.patience:
            log(f"early stop: no better validation score for {config.patience} epochs; best epoch {best_epoch}")
            break
    model.load_state_dict(best_state)
    model.eval()
    return FitResult(model, history, best_epoch, stopped_early=stale >= config.patience)


def fit_frontend(train_set: SequenceSet, test_set: SequenceSet, config: TrainConfig) -> Frontend:
    """Feature data: per-channel mean/std of the training split. Audio: log-mel frames at the
    data's sample rate, per-band mean/std of the training split. Token data: the declared
    vocabulary size, else one past the largest id in either split."""
    if train_set.input_kind == "features":
        return FeatureFrontend.fit(train_set.sequences, normalize=config.normalize)
    if train_set.input_kind == "audio":
        logmel = LogMelConfig(sample_rate=train_set.sample_rate, window_ms=config.window_ms, hop_ms=config.hop_ms,
                              mel_bands=config.mel_bands)
        return LogMelFrontend.fit(train_set.sequences, logmel, normalize=config.normalize)
    vocab = train_set.vocab_size or max(int(s.max(initial=0)) for s in (*train_set.sequences, *test_set.sequences)) + 1
    return TokenFrontend(max(vocab, 2))


@dataclass
class TrainOutcome:
    run_dir: Path
    checkpoint: Path
    model: RecurrentClassifier
    labels: list[str]
    metrics: dict
    history: list[EpochRecord]
    dataset: dict
    test_set: SequenceSet = field(repr=False)


def train(data: str | Path, out: str | Path, model_config: dict, config: TrainConfig,
          test: str | Path | None = None, log: Callable[[str], None] = log_to_stderr,
          label_regex: str | None = None, test_regex: str | None = None) -> TrainOutcome:
    """Read the data, fit, evaluate on the test split and write the run folder.

    model_config: ModelConfig fields other than those the data decides (features, classes).
    label_regex/test_regex: for a folder of WAV files (see runtime/wav.py).
    Writes out/model.pt, out/history.json and out/metrics.json, each atomically.
    """
    if config.threads:
        torch.set_num_threads(config.threads)
    train_set, test_set = load_train_test(data, test, label_regex, test_regex)
    labels = train_set.classes
    frontend = fit_frontend(train_set, test_set, config)
    if train_set.input_kind == "tokens":
        sizes = {"input_kind": "tokens", "vocab_size": frontend.vocab_size}
    else:  # audio reaches the graph as log-mel feature frames
        sizes = {"input_kind": "features", "features": frontend.features}
    model_cfg = ModelConfig(**{**model_config, **sizes, "classes": len(labels)})
    full = encode(train_set, frontend, labels)
    test_enc = encode(test_set, frontend, labels)
    train_idx, val_idx = stratified_split(full.y.numpy(), config.val_fraction, config.seed)
    dataset = {"name": train_set.name, "train": len(train_idx), "validation": len(val_idx), "test": len(test_set),
               "classes": len(labels), "features": model_cfg.features or 1,
               "train_path": str(Path(train_set.source).resolve()), "test_path": str(Path(test_set.source).resolve()),
               # how to read the splits again (export's calibration and held-out data)
               "load": {"data": str(Path(data).resolve()), "test": str(Path(test).resolve()) if test else None,
                        "label_regex": label_regex, "test_regex": test_regex}}
    log(f"{train_set.name}: {len(train_idx)} train / {len(val_idx)} validation / {len(test_set)} test cases, "
        f"{len(labels)} classes, {model_cfg.features or 1} features; {model_cfg.cell} hidden {model_cfg.hidden} x{model_cfg.layers}")
    torch.manual_seed(config.seed)
    model = RecurrentClassifier(model_cfg)
    result = fit(model, full.subset(train_idx), full.subset(val_idx) if len(val_idx) else None, config, log)
    _, test_pred = evaluate(model, test_enc)
    metrics = classification_metrics(test_enc.y.numpy(), test_pred, labels)
    metrics.update({"best_epoch": result.best_epoch, "epochs_run": len(result.history),
                    "parameters": model.parameter_count()})
    log(f"test accuracy {metrics['accuracy']:.4f} ({len(test_set)} cases), best epoch {result.best_epoch}")
    run_dir = Path(out)
    checkpoint = save_checkpoint(run_dir / "model.pt", model, labels, frontend.to_json(),
                                 train_config=asdict(config), dataset=dataset,
                                 metrics={"test_accuracy": metrics["accuracy"]})
    write_json_atomic(run_dir / "history.json", [asdict(r) for r in result.history])
    write_json_atomic(run_dir / "metrics.json", {"test": metrics, "dataset": dataset})
    return TrainOutcome(run_dir, checkpoint, model, labels, metrics, result.history, dataset, test_set)
