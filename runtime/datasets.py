"""Readers for labelled sequence files, in numpy only (the runtime's `predict`/`stream` verbs use
them without torch, and the trainer builds its data sets on top of them).

Formats:
- UEA/UCR ``.ts`` text: ``@`` header lines, then one case per line, channels separated by ``:``,
  values by ``,``, class label last (when ``@classLabel true``).
- ``.npz``: ``x`` float [n, time, features] (feature frames) or int [n, time] (token ids),
  ``y`` labels [n] (optional), ``lengths`` [n] int (optional; steps past a sequence's length are
  padding and are dropped), ``vocab_size`` (optional int scalar, token data only).
- UCR ``.tsv``, Weka ``.arff`` and numeric ``.csv`` tables of series (runtime/tables.py).
"""

from __future__ import annotations

import math
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgernn.runtime.errors import DataFormatError

# Every suffix read_sequences takes, in the order a folder's training file is chosen by when one
# data set is stored in several formats (the UCR archive ships .ts, .tsv and .arff side by side).
SEQUENCE_SUFFIXES = (".ts", ".tsv", ".arff", ".npz", ".csv")


@dataclass
class SequenceSet:
    """A list of variable-length sequences with optional labels.

    sequences: each float32 [time, features] (feature frames), int64 [time] (token ids), a str
    (raw text, runtime/corpus.py) or, when ``sample_rate`` is set, float32 [samples] raw mono audio
    in [-1, 1].
    labels: one class name per sequence, or None for unlabelled data.
    classes: every class name, in the order the file declares (or sorted when it declares none).
    """

    sequences: list[np.ndarray]
    labels: list[str] | None
    classes: list[str]
    name: str
    source: str
    vocab_size: int | None = None  # token data: ids lie in [0, vocab_size)
    sample_rate: int | None = None  # audio data: samples per second
    # Set on both halves of a split this package made (split_off_test): {"fraction", "seed"}.
    held_out: dict | None = None
    # The cases the data itself marks for validation (int64 indices; Speech Commands'
    # validation_list.txt): the trainer validates on them instead of drawing a split.
    validation: np.ndarray | None = None
    lengths: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.lengths = np.array([len(s) for s in self.sequences], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.sequences)

    @property
    def input_kind(self) -> str:
        """"features" (float frames [time, features]), "tokens" (int ids [time]), "text" (str) or
        "audio" (float samples [n])."""
        if self.sample_rate is not None:
            return "audio"
        if self.sequences and isinstance(self.sequences[0], str):
            return "text"
        return "tokens" if self.sequences[0].ndim == 1 else "features"

    @property
    def features(self) -> int:
        """Values per step: the feature count, or 1 for token ids, text and audio samples."""
        first = self.sequences[0]
        return int(first.shape[1]) if not isinstance(first, str) and first.ndim == 2 else 1

    def take(self, index: np.ndarray, source: str) -> "SequenceSet":
        """The cases at ``index`` (int [k]) as a set of their own, with every class kept."""
        labels = None if self.labels is None else [self.labels[i] for i in index]
        return SequenceSet([self.sequences[i] for i in index], labels, list(self.classes), self.name, source,
                           vocab_size=self.vocab_size, sample_rate=self.sample_rate)

    def label_ids(self, classes: list[str]) -> np.ndarray:
        """Labels as int64 indices into ``classes``; an unknown label raises DataFormatError."""
        if self.labels is None:
            raise DataFormatError(f"{self.source}: the data has no labels")
        index = {name: i for i, name in enumerate(classes)}
        unknown = sorted({label for label in self.labels if label not in index})
        if unknown:
            raise DataFormatError(
                f"{self.source}: labels {unknown} are not among the model's classes {classes}"
            )
        return np.array([index[label] for label in self.labels], dtype=np.int64)


def pad_sequences(sequences: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Stack [time_i, ...] arrays into [n, max_time, ...] padded with zeros at the end, plus lengths int64 [n]."""
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    out = np.zeros((len(sequences), int(lengths.max()), *sequences[0].shape[1:]), dtype=sequences[0].dtype)
    for i, seq in enumerate(sequences):
        out[i, : len(seq)] = seq
    return out, lengths


def read_sequences(path: str | Path, allow_nonfinite: bool = False) -> SequenceSet:
    """Read a ``.ts``, ``.npz``, ``.tsv``, ``.arff`` or numeric ``.csv`` file by its suffix.
    NaN/Inf values are refused (naming the first) unless ``allow_nonfinite``."""
    from edgernn.runtime import tables  # tables.py builds on this module

    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file")
    suffix = path.suffix.lower()
    readers = {".ts": read_ts, ".npz": read_npz, ".tsv": tables.read_tsv, ".arff": tables.read_arff,
               ".csv": tables.read_numeric_csv}
    if suffix in readers:
        return readers[suffix](path, allow_nonfinite)
    raise DataFormatError(
        f"{path}: unknown data format {suffix or '(no suffix)'!r}; expected one of {list(SEQUENCE_SUFFIXES)}"
    )


# ---------------------------------------------------------------------------------------------
# UEA/UCR .ts


def _parse_bool(value: str, key: str, where: str) -> bool:
    lowered = value.strip().lower()
    if lowered not in ("true", "false"):
        raise DataFormatError(f"{where}: {key} must be 'true' or 'false', got {value!r}")
    return lowered == "true"


def read_ts(path: str | Path, allow_nonfinite: bool = False) -> SequenceSet:
    """Parse a UEA/UCR ``.ts`` file into float32 [time, channels] sequences."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{path}: not a UTF-8 text file ({exc.reason})") from None
    header: dict[str, str] = {}
    declared_classes: list[str] | None = None
    has_labels = True
    sequences: list[np.ndarray] = []
    labels: list[str] = []
    in_data = False
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path}:{line_no}"
        if not in_data:
            if not line.startswith("@"):
                raise DataFormatError(f"{where}: expected a '@' header line or '@data', got {line[:40]!r}")
            key, _, value = line[1:].partition(" ")
            key = key.lower()
            if key == "data":
                in_data = True
            elif key == "targetlabel" and value.split()[:1] and value.split()[0].lower() == "true":
                raise DataFormatError(f"{where}: @targetlabel true: regression data is not supported: "
                                      "edgernn trains classifiers (class labels)")
            elif key == "classlabel":
                parts = value.split()
                if not parts:
                    raise DataFormatError(f"{where}: @classLabel needs 'true <labels...>' or 'false'")
                has_labels = _parse_bool(parts[0], "@classLabel", where)
                declared_classes = parts[1:] if has_labels else None
                if has_labels and not declared_classes:
                    raise DataFormatError(f"{where}: @classLabel true lists no labels")
            else:
                header[key] = value.strip()
            continue
        sequence, label = _parse_ts_case(line, where, has_labels, header, allow_nonfinite)
        if label is not None and declared_classes is not None and label not in declared_classes:
            raise DataFormatError(
                f"{where}: unknown label {label!r}; @classLabel declares {declared_classes}"
            )
        sequences.append(sequence)
        if label is not None:
            labels.append(label)
    if not in_data:
        raise DataFormatError(f"{path}: missing '@data' line; not a .ts file")
    if not sequences:
        raise DataFormatError(f"{path}: '@data' is followed by no cases")
    channels = {s.shape[1] for s in sequences}
    if len(channels) > 1:
        raise DataFormatError(f"{path}: cases have different channel counts {sorted(channels)}")
    if declared_classes is not None:
        classes = list(declared_classes)
    else:
        classes = sorted_labels(set(labels)) if has_labels else []
    name = header.get("problemname") or re.sub(r"_(TRAIN|TEST)$", "", path.stem, flags=re.I)
    return SequenceSet(sequences, labels if has_labels else None, classes, name, str(path))


def _parse_ts_case(line: str, where: str, has_labels: bool, header: dict[str, str], allow_nonfinite: bool = False):
    parts = line.split(":")
    label = None
    if has_labels:
        if len(parts) < 2:
            raise DataFormatError(f"{where}: expected channels and a class label separated by ':'")
        label = parts[-1].strip()
        parts = parts[:-1]
    dims = header.get("dimensions")
    if dims is not None:
        if not dims.isdigit():
            raise DataFormatError(f"{where}: @dimensions must be a positive integer, got {dims!r}")
        if len(parts) != int(dims):
            raise DataFormatError(
                f"{where}: case has {len(parts)} channels; @dimensions declares {int(dims)}"
            )
    channels = []
    for c, chunk in enumerate(parts):
        values = []
        for token in chunk.split(","):
            token = token.strip()
            if token == "?":
                raise DataFormatError(f"{where}: channel {c} has a missing value '?'; edgernn needs complete sequences")
            try:
                value = float(token)
            except ValueError:
                raise DataFormatError(f"{where}: channel {c}: {token[:20]!r} is not a number") from None
            if not allow_nonfinite and not math.isfinite(value):
                raise DataFormatError(f"{where}: channel {c}: value {token!r} is not finite")
            values.append(value)
        channels.append(values)
    lengths = {len(v) for v in channels}
    if len(lengths) != 1:
        raise DataFormatError(f"{where}: ragged channels, lengths {sorted(lengths)}; every channel needs the same length")
    return np.asarray(channels, dtype=np.float32).T.copy(), label


def sorted_labels(labels: set[str]) -> list[str]:
    """Sort numerically when every label is an integer, else as text."""
    if all(re.fullmatch(r"-?\d+", label) for label in labels):
        return sorted(labels, key=int)
    return sorted(labels)


# ---------------------------------------------------------------------------------------------
# .npz


def read_npz(path: str | Path, allow_nonfinite: bool = False) -> SequenceSet:
    """Read ``x`` [n, time, features] or token ids [n, time] (+ optional ``y``, ``lengths``,
    ``vocab_size``) from an ``.npz`` file.

    Never unpickles: object arrays are refused.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataFormatError(f"{path}: not a readable .npz archive ({exc})") from None
    except ValueError as exc:
        raise DataFormatError(f"{path}: cannot read without unpickling ({exc})") from None
    if "x" not in arrays:
        raise DataFormatError(f"{path}: missing array 'x'; expected keys 'x', optional 'y' and 'lengths', got {sorted(arrays)}")
    x = arrays["x"]
    tokens = x.ndim == 2 and np.issubdtype(x.dtype, np.integer)
    if not tokens and (x.ndim != 3 or not np.issubdtype(x.dtype, np.floating)):
        raise DataFormatError(
            f"{path}: 'x' must be float [n, time, features] or integer token ids [n, time], got {x.dtype} {list(x.shape)}"
        )
    n, time = x.shape[:2]
    if n == 0 or time == 0:
        raise DataFormatError(f"{path}: 'x' is empty, shape {list(x.shape)}")
    if "lengths" in arrays:
        lengths = np.asarray(arrays["lengths"])
        if lengths.shape != (n,) or not np.issubdtype(lengths.dtype, np.integer):
            raise DataFormatError(f"{path}: 'lengths' must be int [{n}], got {lengths.dtype} {list(lengths.shape)}")
        if lengths.min() < 1 or lengths.max() > time:
            raise DataFormatError(f"{path}: 'lengths' must lie in [1, {time}]")
    else:
        lengths = np.full(n, time)
    vocab_size = _vocab_size(path, arrays, x) if tokens else None
    dtype = np.int64 if tokens else np.float32
    sequences = [np.ascontiguousarray(x[i, : lengths[i]], dtype=dtype) for i in range(n)]
    for i, seq in enumerate(sequences):
        if not tokens and not allow_nonfinite and not np.isfinite(seq).all():
            step, feature = (int(v) for v in np.argwhere(~np.isfinite(seq))[0])
            raise DataFormatError(f"{path}: sequence {i} has NaN/Inf at step {step}, feature {feature} "
                                  "(--allow-nonfinite passes them on)")
    labels = None
    classes: list[str] = []
    if "y" in arrays:
        y = np.asarray(arrays["y"])
        if y.shape != (n,):
            raise DataFormatError(f"{path}: 'y' must have shape [{n}], got {list(y.shape)}")
        labels = [str(v) for v in y.tolist()]
        classes = sorted_labels(set(labels))
    name = re.sub(r"[_-]?(train|test)$", "", path.stem, flags=re.I) or path.stem
    return SequenceSet(sequences, labels, classes, name, str(path), vocab_size=vocab_size)


def _vocab_size(path: Path, arrays: dict, x: np.ndarray) -> int:
    if x.min() < 0:
        raise DataFormatError(f"{path}: token ids must be >= 0, found {int(x.min())}")
    if "vocab_size" not in arrays:
        return int(x.max()) + 1
    vocab = arrays["vocab_size"]
    if vocab.shape != () or not np.issubdtype(vocab.dtype, np.integer) or int(vocab) <= int(x.max()):
        raise DataFormatError(f"{path}: 'vocab_size' must be an integer scalar above the largest id {int(x.max())}")
    return int(vocab)
