"""Progress for a person at a terminal: a bar on stderr (never stdout) with the time left, over the
epochs of a training run, the graphs `export` builds and checks, the measurements of `bench` or
the seconds of a `tune` budget. Log lines written through ``Progress.around(log)`` appear above
the bar. The CLI turns bars on only when stderr is a terminal and --json is not given; where tqdm
is not installed (the runtime alone needs only numpy and onnxruntime) there is no bar.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Callable


def clock(seconds: float) -> str:
    """12s, 3m05s, 1h02m."""
    minutes, second = divmod(int(round(seconds)), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}h{minute:02d}m" if hours else f"{minute}m{second:02d}s" if minute else f"{second}s"


def time_left(records: list, epochs_left: int) -> str:
    """"; ~1m05s left" from the mean seconds of the epochs run in this process (``records``,
    each with ``seconds``); "" when none is left or nothing was timed yet. Early stopping can
    end a run sooner."""
    timed = [r.seconds for r in records if r.seconds]
    if epochs_left <= 0 or not timed:
        return ""
    return f"; ~{clock(epochs_left * sum(timed) / len(timed))} left"


class Progress:
    """A bar over ``total`` units of work (``unit``: "epochs", "checks", ...), ``done`` of them
    already done. ``Progress.start`` gives a bar only when ``enabled`` and tqdm is importable; the
    methods of a disabled one do nothing, so callers need no branches."""

    def __init__(self, bar=None):
        self._bar = bar
        self._stop: threading.Event | None = None  # set by follow_clock: ends its clock thread

    @classmethod
    def start(cls, total: float, unit: str, enabled: bool, done: float = 0) -> "Progress":
        if not enabled:
            return cls()
        try:
            from tqdm import tqdm
        except ImportError:
            return cls()
        return cls(tqdm(total=total, initial=done, file=sys.stderr, dynamic_ncols=True, leave=False,
                        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} " + unit + " [{elapsed}<{remaining}]{postfix}"))

    @property
    def active(self) -> bool:
        return self._bar is not None

    def around(self, log: Callable[[str], None]) -> Callable[[str], None]:
        """``log``, writing above the bar instead of through it."""
        if self._bar is None:
            return log

        def write(message: str) -> None:
            with self._bar.external_write_mode(file=sys.stderr):
                log(message)
        return write

    def advance(self, units: float = 1, note: str | None = None) -> None:
        if self._bar is not None:
            if note is not None:
                self._bar.set_postfix_str(note, refresh=False)
            self._bar.update(units)

    def follow_clock(self, every_s: float = 1.0) -> "Progress":
        """Advance by the wall seconds passed, from a daemon thread, until ``close`` (a bar whose
        units are seconds of a budget)."""
        if self._bar is None:
            return self
        self._stop = threading.Event()
        started = time.monotonic()

        def tick() -> None:
            while not self._stop.wait(every_s):
                self._bar.n = min(self._bar.total, round(time.monotonic() - started))
                self._bar.refresh()
        threading.Thread(target=tick, daemon=True, name="progress-clock").start()
        return self

    def close(self) -> None:
        if self._bar is not None:
            if self._stop is not None:
                self._stop.set()
            self._bar.close()
            self._bar = None
