"""Model and training settings as plain dataclasses.

No torch import here: the CLI shows these defaults in `--help` without loading torch, and a
checkpoint stores them as plain dicts (``dataclasses.asdict``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from edgernn.runtime.audio import LogMelConfig
from edgernn.runtime.errors import InputError
from edgernn.runtime.metadata import CELLS, INPUT_KINDS


READOUTS = ("last", "mean", "attention")
POOL_STATE = ("pool", "pool_weight")  # [1, batch, hidden] the weighted mean of the outputs so far, [1, batch, 1] its total weight


@dataclass
class ModelConfig:
    cell: str = "gru"            # "rnn" (tanh SimpleRNN) | "lstm" | "gru"
    input_kind: str = "features"  # "features": float [time, features]; "tokens": int64 ids [time]
    features: int = 0            # float inputs per step (input_kind "features")
    vocab_size: int = 0          # token ids in [0, vocab_size) (input_kind "tokens")
    embed_dim: int = 64          # embedding width (input_kind "tokens")
    hidden: int = 128            # recurrent state width per layer
    layers: int = 1              # stacked recurrent layers
    dropout: float = 0.3         # between stacked layers and before the head; training only
    classes: int = 2
    # What the head reads at each step: "last" the recurrent output of that step; "mean" the mean
    # of the outputs of every step so far; "attention" their weighted mean, each step weighted by
    # exp(a learned score of its output) (trainer/network.py). Both pools are carried between chunks
    # as extra state (the pooled vector and its total weight) and suit long inputs: documents.
    readout: str = "last"

    def __post_init__(self) -> None:
        problems = []
        if self.cell not in CELLS:
            problems.append(f"cell must be one of {list(CELLS)}, got {self.cell!r}")
        if self.input_kind not in INPUT_KINDS:
            problems.append(f"input_kind must be one of {list(INPUT_KINDS)}, got {self.input_kind!r}")
        if self.input_kind == "features" and self.features < 1:
            problems.append("features must be >= 1 for float inputs")
        if self.input_kind == "tokens" and (self.vocab_size < 2 or self.embed_dim < 1):
            problems.append("vocab_size must be >= 2 and embed_dim >= 1 for token inputs")
        if self.hidden < 1 or self.layers < 1 or self.classes < 2:
            problems.append(f"need hidden >= 1, layers >= 1, classes >= 2; got {self.hidden}, {self.layers}, {self.classes}")
        if self.readout not in READOUTS:
            problems.append(f"readout must be one of {list(READOUTS)}, got {self.readout!r}")
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout must lie in [0, 1), got {self.dropout}")
        if problems:
            raise InputError("; ".join(problems))

    @property
    def state_names(self) -> tuple[str, ...]:
        """Graph names of the carried state: ("h",) or ("h", "c") for LSTM, then ("pool", "pool_weight")
        for a pooled read-out."""
        recurrent = ("h", "c") if self.cell == "lstm" else ("h",)
        return recurrent + (POOL_STATE if self.readout != "last" else ())

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class TrainConfig:
    # None (the default): decided from the data's size by trainer/defaults.py (docs/training.md, "Training defaults").
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None        # AdamW's learning rate after warm-up, decayed by a cosine to lr * min_lr_ratio
    min_lr_ratio: float = 0.05
    warmup_share: float = 0.05     # share of the optimiser steps over which the rate rises linearly from ~0 to lr
    weight_decay: float = 0.0      # decoupled (AdamW) weight decay
    clip_norm: float = 1.0         # max global gradient L2 norm per update
    # Stratified share of the training split held out to choose the kept weights (the best
    # validation epoch's) and to stop early; 0: train the whole schedule on all training data and
    # keep the last weights. A validation set of a few dozen cases saturates within ~10 epochs and
    # then picks an under-trained epoch, so the data rule holds one out only from 1,000 cases.
    val_fraction: float | None = None
    # Cross-validation (`edgernn tune` on small sets): hold out fold ``val_fold`` of ``val_folds``
    # stratified folds instead of a val_fraction share; 0: no folds.
    val_folds: int = 0
    val_fold: int = 0
    test_fraction: float = 0.2
    patience: int | None = None   # epochs without a better validation score before stopping
    # Feature series: raw steps stacked into one recurrent step (runtime/frontend.py FramedFrontend);
    # None: decided from the data (a median case in at most ~100 steps), 1: every step as it is.
    frame: int | None = None
    input_noise: float = 0.2      # std of Gaussian noise added to standardised features while training
    class_weights: bool = False   # weight the loss by inverse class frequency (imbalanced data)
    normalize: bool = True        # per-channel standardisation fitted on the training split
    seed: int = 0
    # torch intra-op threads; None: the process's setting. One by default for `train`, `pipeline`
    # and tune's trials: a small recurrent model gains little from more, a shared CPU loses much
    # (227 s at torch's default against 19 s at one thread beside one other job), and a seed
    # gives the same model on any machine only at the same thread count.
    threads: int | None = 1
    # Audio data (runtime/audio.py): the log-mel front end's frames; the sample rate is the data's.
    window_ms: float = LogMelConfig.window_ms   # milliseconds of audio per frame
    hop_ms: float = LogMelConfig.hop_ms         # milliseconds between frame starts (one recurrent step)
    mel_bands: int = LogMelConfig.mel_bands     # features per frame
    # running mean normalisation per band (speaker/microphone tilt), time constant in ms; 0: off.
    # On for training; LogMelConfig's default stays 0 because it describes a front end as a file
    # carries it, and files written before the normalisation existed carry none.
    mean_norm_ms: float = 200.0
    # Audio: the name of a background class to add (trainer/background.py), for models that listen
    # to a continuous stream; "" (the default): the classes are the data's own.
    background: str = ""
    # With a background class, training clips made to look like a stream (trainer/background.py):
    preceding_share: float = 0.0  # word clips copied after the end of another class's word
    noise_share: float = 0.0      # training sequences mixed with noise at an SNR drawn from snr_db
    snr_db: tuple[float, float] = (5.0, 30.0)  # uniform, dB against the data's median speech power
    gain_db: float = 0.0          # training sequences scaled by a gain uniform in +-gain_db decibels
    room_change_share: float = 0.5  # lead-ins and trails at a level other than the word's own room
    noise_onset_share: float = 1.0  # the data's own background clips also trained after quiet, per clip
    # Audio: per-batch augmentation of the log-mel frames (trainer/augment.py); 0: off.
    band_warp: float = 0.0        # band axis resampled by a factor uniform in [1 - band_warp, 1 + band_warp]
    band_mask: int = 0            # one run of up to this many bands set to the mean
    time_mask: int = 0            # one run of up to this many steps set to the mean
    # Text data (runtime/text.py): the vocabulary is built from the training split.
    max_vocab: int = 30000        # ids in all, padding (0) and unknown word (1) included
    min_count: int = 2            # a word seen fewer times in training is an unknown word
    max_tokens: int = 400         # a document keeps its first this many words
    token_dropout: float = 0.0    # share of words read as the unknown word while training (tokens data)
    word_vectors: str = ""        # a word2vec/GloVe text file initialising the embedding; "": random
    pretrain_epochs: int = 0      # text: skip-gram word vectors trained on the training split first (0: off)
    freeze_embedding: bool = False  # keep the initial word vectors fixed (with word_vectors / pretrain_epochs)

    def __post_init__(self) -> None:
        unset_or = lambda value, ok: value is None or ok(value)  # noqa: E731 (None: decided from the data)
        checks = {
            "epochs": unset_or(self.epochs, lambda v: v >= 1), "batch_size": unset_or(self.batch_size, lambda v: v >= 1),
            "lr": unset_or(self.lr, lambda v: v > 0), "val_fraction": unset_or(self.val_fraction, lambda v: 0 <= v < 1),
            "patience": unset_or(self.patience, lambda v: v >= 1), "frame": unset_or(self.frame, lambda v: v >= 1),
            "clip_norm": self.clip_norm > 0, "warmup_share": 0 <= self.warmup_share < 1,
            "test_fraction": 0 < self.test_fraction < 1, "input_noise": self.input_noise >= 0,
            "weight_decay": self.weight_decay >= 0, "min_lr_ratio": 0 < self.min_lr_ratio <= 1,
            "hop_ms": 0 < self.hop_ms <= self.window_ms, "mel_bands": 1 <= self.mel_bands <= 256,
            "mean_norm_ms": self.mean_norm_ms >= 0, "max_vocab": self.max_vocab >= 3, "min_count": self.min_count >= 1,
            "max_tokens": self.max_tokens >= 1, "token_dropout": 0 <= self.token_dropout < 1,
            "pretrain_epochs": self.pretrain_epochs >= 0,
            "preceding_share": 0 <= self.preceding_share <= 1, "noise_share": 0 <= self.noise_share <= 1,
            "noise_onset_share": 0 <= self.noise_onset_share <= 1, "room_change_share": 0 <= self.room_change_share <= 1,
            "band_warp": 0 <= self.band_warp < 0.5, "band_mask": 0 <= self.band_mask < self.mel_bands,
            "time_mask": self.time_mask >= 0,
            "snr_db": len(self.snr_db) == 2 and self.snr_db[0] <= self.snr_db[1], "gain_db": self.gain_db >= 0,
            "val_folds": self.val_folds == 0 or self.val_folds >= 2,
            "val_fold": 0 <= self.val_fold < max(1, self.val_folds),
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise InputError(f"invalid training settings: {', '.join(f'{n}={getattr(self, n)!r}' for n in bad)}")

    @classmethod
    def from_record(cls, record: dict) -> "TrainConfig":
        """The settings a run recorded (a resumable state's ``train_config``). A setting added
        since the record was written takes the value that reproduces the behaviour of its time
        (``SINCE_RECORDED``), not today's default, so that a resumed run trains on the same data."""
        return cls(**{**SINCE_RECORDED, **record})


# Settings added after runs were first recorded, and their value for a record without them: the
# behaviour before they existed (both background ingredients were off).
SINCE_RECORDED = {"room_change_share": 0.0, "noise_onset_share": 0.0}
