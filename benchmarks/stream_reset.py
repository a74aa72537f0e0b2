"""The reset option the stream benchmarks share (digit_stream.py, keyword_stream.py): the rule
`edgernn stream --reset-after-background` applies, off unless asked, as it is by default."""

from __future__ import annotations

import argparse

from edgernn.runtime import ResetPolicy


def add_reset_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reset-after-background", type=int, default=None, metavar="STEPS",
                        help="zero the state once per run of STEPS background answers, as edgernn stream's flag "
                             "(default: never)")


def reset_policy(steps: int | None) -> ResetPolicy | None:
    """The ResetPolicy for ``--reset-after-background STEPS``; None (never) when unset or 0."""
    return ResetPolicy(background_steps=steps) if steps else None
