"""Progress of a training run: the time left in every epoch's log line, and on a terminal a bar
over the epochs (tqdm, on stderr, never stdout). The CLI turns the bar on only when stderr is a
terminal and --json is not given."""

from __future__ import annotations

import sys
from typing import Callable

from tqdm import tqdm


def time_left(records: list, epochs_left: int) -> str:
    """"; ~1m05s left" from the mean seconds of the epochs run in this process (``records``,
    each with ``seconds``); "" when none is left or nothing was timed yet. Early stopping can
    end a run sooner."""
    timed = [r.seconds for r in records if r.seconds]
    if epochs_left <= 0 or not timed:
        return ""
    return f"; ~{clock(epochs_left * sum(timed) / len(timed))} left"


def clock(seconds: float) -> str:
    minutes, second = divmod(int(round(seconds)), 60)
    hours, minute = divmod(minutes, 60)
    return f"{hours}h{minute:02d}m" if hours else f"{minute}m{second:02d}s" if minute else f"{second}s"


class EpochBar:
    """A tqdm bar over the epochs; log lines go above it."""

    def __init__(self, epochs: int, done: int = 0):
        self.bar = tqdm(total=epochs, initial=done, unit="epoch", file=sys.stderr, dynamic_ncols=True, leave=False,
                        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} epochs [{elapsed}<{remaining}]{postfix}")

    def around(self, log: Callable[[str], None]) -> Callable[[str], None]:
        """``log``, writing above the bar instead of through it."""
        def write(message: str) -> None:
            with tqdm.external_write_mode(file=sys.stderr):
                log(message)
        return write

    def advance(self, record) -> None:
        shown = f"loss {record.loss:.4f}" + ("" if record.val_accuracy is None else f", val_acc {record.val_accuracy:.4f}")
        self.bar.set_postfix_str(shown, refresh=False)
        self.bar.update(1)

    def close(self) -> None:
        self.bar.close()
