"""The PyTorch eager baseline for `edgernn bench`: the trained model stepped one input at a time."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable, Iterator

import torch

from edgernn.trainer.checkpoint import load_checkpoint
from edgernn.trainer.threads import torch_threads


@contextlib.contextmanager
def eager_step(checkpoint: str | Path, threads: int | None) -> Iterator[Callable[[int], None]]:
    """Yields call(i): one forward of one step (batch 1, state carried) under
    ``torch.inference_mode`` with ``threads`` intra-op threads (None: torch's default), restored
    on exit. The input is already prepared (no front end, no softmax), which favours PyTorch."""
    model, _ = load_checkpoint(checkpoint)
    cfg = model.config
    x = torch.randint(0, cfg.vocab_size, (1, 1)) if cfg.input_kind == "tokens" else torch.randn(1, 1, cfg.features)
    state = {"value": model.zero_state(1)}

    def step(_: int) -> None:
        with torch.inference_mode():
            _, state["value"] = model(x, state["value"])
    with torch_threads(threads):
        yield step
