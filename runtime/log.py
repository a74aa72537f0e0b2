"""The default log of long-running work: one line per message on stderr, flushed (stdout is kept
for results and --json)."""

from __future__ import annotations

import sys


def log_to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
