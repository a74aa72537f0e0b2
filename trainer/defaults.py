"""Training settings decided from the data when the user leaves them unset.

One constant cannot serve 36 training cases and 100,000: a small set needs many epochs to see
enough updates, a large one few; a large set can spare a validation split to choose the kept
weights, a small one cannot. The rule (docs/training.md, "Training defaults"), with n the training cases:

- batch size: 16 below 2,000 cases, 32 below 20,000, else 64;
- validation: a stratified 10% from 1,000 cases on (>= 100 validation cases: enough to choose
  an epoch on), none below; the weights kept are then the best validation epoch's, else the
  last epoch's (a run with a background class holds out 10% at any size, before the mix, to
  calibrate its detector on: trainer/train.py ``with_background``);
- epochs: enough for UPDATES optimiser steps, between MIN_EPOCHS and MAX_EPOCHS;
- learning rate: LEARNING_RATE, reached by a linear warm-up over the first warmup_share of the
  updates and decayed by a cosine to min_lr_ratio of it, both counted in optimiser steps
  (trainer/train.py);
- patience (early stopping, with a validation split): a quarter of the epochs, at least 5;
- framing (feature series only): ceil(median steps / FRAME_STEPS) raw steps per recurrent step,
  at most the shortest training case's length, so a long series (400-1,500 steps is common for
  sensors) trains in ~100 recurrent steps and streams exactly (runtime/frontend.py).

No torch here: the CLI shows the rule in --help without loading it.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import replace

from edgernn.trainer.config import TrainConfig

UPDATES = 3000            # optimiser steps a run aims at
MIN_EPOCHS = 10           # large sets: at least this many passes
MAX_EPOCHS = 1000         # tiny sets: at most this many passes (36 cases at 16 a batch: 3,000 updates)
LEARNING_RATE = 3e-3      # AdamW, after warm-up
VALIDATION_FROM = 1000    # training cases from which a validation split is held out
VALIDATION_SHARE = 0.1
FRAME_STEPS = 100         # recurrent steps a median feature series is framed into, at most


def batch_size_for(cases: int) -> int:
    return 16 if cases < 2000 else 32 if cases < 20000 else 64


def val_fraction_for(cases: int) -> float:
    return VALIDATION_SHARE if cases >= VALIDATION_FROM else 0.0


def epochs_for(train_cases: int, batch_size: int) -> int:
    steps_per_epoch = math.ceil(train_cases / batch_size)
    return min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(UPDATES / steps_per_epoch)))


def frame_for(lengths: list[int]) -> int:
    """Raw steps per recurrent step for feature series of these lengths (>= 1 each)."""
    return max(1, min(min(lengths), math.ceil(statistics.median(lengths) / FRAME_STEPS)))


def patience_for(epochs: int) -> int:
    return max(5, epochs // 4)


def _decider(config: TrainConfig, chosen: dict):
    def decide(name: str, rule) -> object:
        given = getattr(config, name)
        value = rule() if given is None else given
        chosen[name] = {"value": value, "chosen": "given" if given is not None else "data"}
        return value
    return decide


def resolve_frame(config: TrainConfig, lengths: list[int] | None) -> tuple[TrainConfig, dict]:
    """``config`` with ``frame`` decided from the training cases' raw ``lengths`` (None: not
    feature series, no framing), and its entry for the report as ``resolve`` gives."""
    chosen: dict = {}
    frame = _decider(config, chosen)("frame", lambda: frame_for(lengths) if lengths else 1)
    return replace(config, frame=frame), chosen


def resolve(config: TrainConfig, cases: int) -> tuple[TrainConfig, dict]:
    """``config`` with every unset (None) setting decided from the number of training ``cases``
    (before any validation split), and {setting: {"value", "chosen": "given" | "data"}} for the
    run's report."""
    chosen: dict = {}
    decide = _decider(config, chosen)

    batch_size = decide("batch_size", lambda: batch_size_for(cases))
    val_fraction = decide("val_fraction", lambda: val_fraction_for(cases))
    train_cases = cases - round(cases * val_fraction)
    epochs = decide("epochs", lambda: epochs_for(train_cases, batch_size))
    lr = decide("lr", lambda: LEARNING_RATE)
    patience = decide("patience", lambda: patience_for(epochs))
    resolved = replace(config, batch_size=batch_size, val_fraction=val_fraction, epochs=epochs, lr=lr, patience=patience)
    return resolved, chosen


def settings_line(chosen: dict) -> str:
    """'batch size 16, validation 0, epochs 177, lr 0.003, patience 44 (from the data: ...)'"""
    parts = [f"{name.replace('_', ' ')} {entry['value']:g}" if isinstance(entry["value"], (int, float))
             else f"{name.replace('_', ' ')} {entry['value']}" for name, entry in chosen.items()]
    from_data = [name.replace("_", " ") for name, entry in chosen.items() if entry["chosen"] == "data"]
    return "settings: " + ", ".join(parts) + (f" ({', '.join(from_data)} decided from the data)" if from_data else "")
