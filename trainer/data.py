"""From a SequenceSet (runtime/datasets.py) to padded torch tensors, and the validation split."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from edgernn.runtime.datasets import SequenceSet, pad_sequences
from edgernn.runtime.errors import DataFormatError
from edgernn.runtime.frontend import Frontend


@dataclass
class Encoded:
    """x: float32 [n, max_time, features] or int64 [n, max_time], padded with zeros at the end.
    lengths: int64 [n]; y: int64 [n] class indices."""

    x: torch.Tensor
    lengths: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return int(self.lengths.shape[0])

    def subset(self, index: np.ndarray) -> "Encoded":
        index_t = torch.as_tensor(index, dtype=torch.long)
        lengths = self.lengths[index_t]
        return Encoded(self.x[index_t, : int(lengths.max())], lengths, self.y[index_t])


def encode(data: SequenceSet, frontend: Frontend, classes: list[str]) -> Encoded:
    """Apply the front end (the runtime's own code) and pad."""
    prepared = [frontend(frontend.check(seq, f"{data.source} case {i}")) for i, seq in enumerate(data.sequences)]
    empty = [i for i, x in enumerate(prepared) if len(x) == 0]
    if empty:
        raise DataFormatError(f"{data.source}: case {empty[0]} gives no steps ({len(empty)} such cases); "
                              "an audio clip must be at least one frame long")
    x, lengths = pad_sequences(prepared)
    return Encoded(torch.from_numpy(x), torch.from_numpy(lengths), torch.from_numpy(data.label_ids(classes)))
