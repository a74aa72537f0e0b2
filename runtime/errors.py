"""Error types shared by every part of edgernn.

User mistakes (a bad file, a wrong shape, a missing metadata key) are ``ValueError`` or
``TypeError`` subclasses so callers can catch them the usual way; the CLI maps them to exit
code 2. A failed verification (a parity gate) is a ``CheckFailed`` and maps to exit code 1.
"""

from __future__ import annotations


class EdgeRNNError(Exception):
    """Base class of every error edgernn raises on purpose."""


class InputError(EdgeRNNError, ValueError):
    """An input has the wrong shape, an out-of-range value, NaN/Inf, or is empty."""


class InputTypeError(EdgeRNNError, TypeError):
    """An input has the wrong type or dtype."""


class DataFormatError(InputError):
    """A data file cannot be read: unknown format, malformed content, unknown label."""


class ModelFileError(InputError):
    """A model file is missing, truncated, corrupt or not an edgernn graph."""


class MetadataError(ModelFileError):
    """An edgernn metadata key is missing, malformed or from a newer schema."""


class CheckpointError(InputError):
    """A checkpoint cannot be loaded safely or lacks what is needed to rebuild the model."""


class CheckFailed(EdgeRNNError):
    """A verification gate failed. ``failures`` lists every failed gate, not only the first."""

    def __init__(self, failures: list[str]):
        self.failures = list(failures)
        super().__init__("; ".join(self.failures))
