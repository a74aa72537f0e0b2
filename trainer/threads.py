"""torch's intra-op thread count, set for one piece of work and restored after it."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[int]:
    """Run the body with ``threads`` intra-op threads (None: the process's current setting) and
    restore the previous setting on exit, so one call's choice never leaks into the next one's
    (a test suite, a notebook, a tuning loop). Yields the thread count in force."""
    previous = torch.get_num_threads()
    torch.set_num_threads(threads or previous)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)
