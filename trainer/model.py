"""Recurrent classifiers: SimpleRNN (tanh), LSTM or GRU with a linear head over every step.

The same module serves training (whole padded batches, answer read at each sequence's last
step) and export (any chunk of steps plus the carried state), because the head is applied to
every step and the recurrence is causal: steps after a sequence's end cannot change it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from edgernn.runtime.errors import InputError
from edgernn.runtime.metadata import CELLS, INPUT_KINDS

RNN_MODULES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


@dataclass
class ModelConfig:
    cell: str = "gru"            # "rnn" (tanh SimpleRNN) | "lstm" | "gru"
    input_kind: str = "features"  # "features": float [time, features]; "tokens": int64 ids [time]
    features: int = 0            # float inputs per step (input_kind "features")
    vocab_size: int = 0          # token ids in [0, vocab_size) (input_kind "tokens")
    embed_dim: int = 64          # embedding width (input_kind "tokens")
    hidden: int = 64             # recurrent state width per layer
    layers: int = 1              # stacked recurrent layers
    dropout: float = 0.0         # between stacked layers and before the head; training only
    classes: int = 2

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
        if not 0.0 <= self.dropout < 1.0:
            problems.append(f"dropout must lie in [0, 1), got {self.dropout}")
        if problems:
            raise InputError("; ".join(problems))

    @property
    def state_names(self) -> tuple[str, ...]:
        """Graph names of the recurrent state: ("h",) or ("h", "c") for LSTM."""
        return ("h", "c") if self.cell == "lstm" else ("h",)

    def to_dict(self) -> dict:
        return asdict(self)


class RecurrentClassifier(nn.Module):
    """x: float32 [batch, time, features] or int64 [batch, time] -> logits [batch, time, classes].

    State: a tuple of float32 [layers, batch, hidden] tensors, (h,) or (h, c) for LSTM.
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        if config.input_kind == "tokens":
            self.embedding = nn.Embedding(config.vocab_size, config.embed_dim)
            input_size = config.embed_dim
        else:
            self.embedding = None
            input_size = config.features
        extra = {"nonlinearity": "tanh"} if config.cell == "rnn" else {}
        self.rnn = RNN_MODULES[config.cell](
            input_size, config.hidden, num_layers=config.layers, batch_first=True,
            dropout=config.dropout if config.layers > 1 else 0.0, **extra,
        )
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, config.classes)

    def zero_state(self, batch: int) -> tuple[torch.Tensor, ...]:
        shape = (self.config.layers, batch, self.config.hidden)
        return tuple(torch.zeros(shape) for _ in self.config.state_names)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, ...] | None = None):
        """Returns (logits float32 [batch, time, classes], new state tuple)."""
        if state is None:
            state = self.zero_state(x.shape[0])
        inputs = self.embedding(x) if self.embedding is not None else x
        rnn_state = state if self.config.cell == "lstm" else state[0]
        outputs, new_state = self.rnn(inputs, rnn_state)
        new_state = tuple(new_state) if self.config.cell == "lstm" else (new_state,)
        return self.head(self.dropout(outputs)), new_state

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())


def last_step(logits: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Each sequence's logits at its own last step: [batch, time, C], lengths [batch] -> [batch, C]."""
    return logits[torch.arange(logits.shape[0]), lengths - 1]
