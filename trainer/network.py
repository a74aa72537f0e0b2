"""Recurrent classifiers: SimpleRNN (tanh), LSTM or GRU with a linear head over every step.

The same module serves training (whole padded batches, answer read at each sequence's last
step) and export (any chunk of steps plus the carried state), because the head is applied to
every step and the recurrence is causal: steps after a sequence's end cannot change it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from edgernn.trainer.config import ModelConfig

RNN_MODULES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class RecurrentClassifier(nn.Module):
    """x: float32 [batch, time, features] or int64 [batch, time] -> logits [batch, time, classes].

    State: a tuple of float32 tensors, one per ``config.state_names``: (h,) or (h, c) for LSTM,
    each [layers, batch, hidden]; a pooled read-out adds its pooled vector [1, batch, hidden] and
    total weight [1, batch, 1].
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
        self.scorer = nn.Linear(config.hidden, 1) if config.readout == "attention" else None
        self.head = nn.Linear(config.hidden, config.classes)
        # Set by standardise_inputs at export; never saved in a checkpoint.
        self.register_buffer("input_mean", None, persistent=False)
        self.register_buffer("input_scale", None, persistent=False)
        self.reset_recurrent_parameters()

    def standardise_inputs(self, mean: np.ndarray, scale: np.ndarray) -> None:
        """Make the model take raw feature frames: x -> (x - mean) * scale before the cell, the
        runtime FeatureFrontend's own float32 arithmetic (mean, scale: float32 [features], scale
        being 1 / std). Exported, these are the graph's first Sub and Mul."""
        self.input_mean = torch.as_tensor(np.asarray(mean, np.float32))
        self.input_scale = torch.as_tensor(np.asarray(scale, np.float32))

    def reset_recurrent_parameters(self) -> None:
        """Keras' recurrent initialisation: Glorot-uniform input weights, orthogonal recurrent
        weights (one block per gate, so repeated steps neither blow up nor vanish the state),
        zero biases, and an LSTM forget-gate bias of 1 so the cell remembers from the start."""
        hidden = self.config.hidden
        for name, param in self.rnn.named_parameters():
            with torch.no_grad():
                if name.startswith("weight_ih"):
                    for block in param.split(hidden):
                        nn.init.xavier_uniform_(block)
                elif name.startswith("weight_hh"):
                    for block in param.split(hidden):
                        nn.init.orthogonal_(block)
                else:
                    param.zero_()
                    if self.config.cell == "lstm" and name.startswith("bias_ih"):
                        param[hidden:2 * hidden] = 1.0  # gate order i, f, g, o

    def state_shapes(self, batch: int | str) -> list[tuple]:
        """The shape of each state tensor, in ``config.state_names`` order; ``batch`` on axis 1."""
        cfg = self.config
        recurrent = [(cfg.layers, batch, cfg.hidden)] * (2 if cfg.cell == "lstm" else 1)
        return recurrent + ([(1, batch, cfg.hidden), (1, batch, 1)] if cfg.readout != "last" else [])

    def zero_state(self, batch: int) -> tuple[torch.Tensor, ...]:
        return tuple(torch.zeros(shape) for shape in self.state_shapes(batch))

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, ...] | None = None):
        """Returns (logits float32 [batch, time, classes], new state tuple)."""
        if state is None:
            state = self.zero_state(x.shape[0])
        if self.input_mean is not None:
            x = (x - self.input_mean) * self.input_scale
        inputs = self.embedding(x) if self.embedding is not None else x
        lstm = self.config.cell == "lstm"
        outputs, new_state = self.rnn(inputs, tuple(state[:2]) if lstm else state[0])
        new_state = tuple(new_state) if lstm else (new_state,)
        if self.config.readout != "last":
            outputs, pool, total = running_mean(outputs, self.pool_weights(outputs), *state[len(new_state):len(new_state) + 2])
            new_state += (pool, total)
        return self.head(self.dropout(outputs)), new_state

    def pool_weights(self, outputs: torch.Tensor) -> torch.Tensor:
        """Each step's weight in a pooled read-out, [batch, time, 1]: 1 for the mean; for attention
        exp of a learned score, bounded to +-ATTENTION_SCALE so no sum of weights overflows."""
        if self.scorer is None:
            return torch.ones_like(outputs[:, :, :1])
        return torch.exp(ATTENTION_SCALE * torch.tanh(self.scorer(outputs)))

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.parameters())


# An attention score lies in [-8, 8]: a weight in [e^-8, e^8], so a sum over 10^30 steps stays finite.
ATTENTION_SCALE = 8.0


def running_mean(outputs: torch.Tensor, weights: torch.Tensor, mean: torch.Tensor, total: torch.Tensor):
    """The weighted mean of every output so far at each step, continuing a carried one.

    outputs [batch, time, hidden], weights [batch, time, 1] (> 0); mean [1, batch, hidden] over
    steps before of ``total`` [1, batch, 1] weight. Returns (means [batch, time, hidden], the last
    mean [1, batch, hidden], its total weight [1, batch, 1]).
    """
    totals = total[0].unsqueeze(1) + torch.cumsum(weights, dim=1)  # [batch, time, 1]
    means = (mean[0].unsqueeze(1) * total[0].unsqueeze(1) + torch.cumsum(weights * outputs, dim=1)) / totals
    return means, means[:, -1].unsqueeze(0), totals[:, -1].unsqueeze(0)


def last_step(logits: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Each sequence's logits at its own last step: [batch, time, C], lengths [batch] -> [batch, C]."""
    return logits[torch.arange(logits.shape[0]), lengths - 1]
