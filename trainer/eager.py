"""The PyTorch eager baseline for `edgernn bench`: the trained model stepped one input at a time."""

from __future__ import annotations

from pathlib import Path

import torch

from edgernn.runtime.bench import time_calls
from edgernn.trainer.checkpoint import load_checkpoint


def eager_step_latency(checkpoint: str | Path, threads: int | None, steps: int = 2000, warmup: int = 200) -> dict:
    """Microseconds per one-step forward (batch 1, state carried) under ``torch.inference_mode``
    with ``threads`` intra-op threads (None: torch's default). The input is already prepared
    (no front end, no softmax), which favours PyTorch slightly."""
    model, _ = load_checkpoint(checkpoint)
    cfg = model.config
    if cfg.input_kind == "tokens":
        x = torch.randint(0, cfg.vocab_size, (1, 1))
    else:
        x = torch.randn(1, 1, cfg.features)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads or previous)
    state = {"value": model.zero_state(1)}
    try:
        with torch.inference_mode():
            def step(_: int) -> None:
                _, state["value"] = model(x, state["value"])
            times = time_calls(step, steps, warmup) / 1000.0
    finally:
        torch.set_num_threads(previous)
    return {"step_us_p50": round(float(torch.tensor(times).median()), 2),
            "step_us_p99": round(float(torch.tensor(times).quantile(0.99)), 2),
            "step_us_mean": round(float(times.mean()), 2), "steps": steps, "threads": threads or previous}
