"""Series stored as tables, read into the same ``SequenceSet`` as ``.ts`` files (numpy only):

- UCR ``.tsv`` (the 2018 archive): one case per line, the class label first, then the values,
  tab-separated. Variable-length sets pad the end of a line with ``NaN``: a case ends before a
  run of trailing NaN; any other NaN is a missing value and is refused.
- Weka ``.arff`` (the UCR/UEA archives' other format): numeric attributes (one step each) and a
  nominal class attribute (``{a,b,c}``), or a ``relational`` attribute whose value is one quoted
  string of channels separated by ``\\n`` (multivariate). ``?`` is a missing value (refused).
- numeric ``.csv``: one case per row, a univariate series of numbers plus a label column: the
  column headed ``label``, ``class``, ``target`` or ``y`` (case ignored), else the first one. A
  header row is optional (a first row that holds anything but numbers in its value columns is a
  header). Empty fields at the end of a row are padding. A CSV with a ``text`` column is text
  (runtime/corpus.py), not this.

A regression file (a numeric target) is refused in one line: edgernn trains classifiers.
Each sequence is float32 [time, channels].
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np

from edgernn.runtime.datasets import SequenceSet, sorted_labels
from edgernn.runtime.errors import DataFormatError

LABEL_COLUMNS = ("label", "class", "target", "y")
NOT_SUPPORTED_REGRESSION = "regression data is not supported: edgernn trains classifiers (class labels)"


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file")
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{path}: not a UTF-8 text file ({exc.reason})") from None


def parse_series(tokens: list[str], where: str, allow_nonfinite: bool = False) -> np.ndarray:
    """Numbers as float32 [time]. Trailing empty fields and trailing NaN are padding (dropped);
    '?', an empty or NaN value before the end, a value that is not a number, or an infinity
    (unless ``allow_nonfinite``) is refused, naming its position (1-based)."""
    tokens = [t.strip() for t in tokens]
    end = len(tokens)
    while end and tokens[end - 1].lower() in ("", "nan"):
        end -= 1
    if end == 0:
        raise DataFormatError(f"{where}: no values")
    values = np.empty(end, dtype=np.float32)
    for i, token in enumerate(tokens[:end]):
        if token in ("", "?"):
            raise DataFormatError(f"{where}: value {i + 1} is missing ({token or 'empty'!r}); edgernn needs complete sequences")
        try:
            value = float(token)
        except ValueError:
            raise DataFormatError(f"{where}: value {i + 1}: {token[:20]!r} is not a number") from None
        if math.isnan(value) or (not allow_nonfinite and math.isinf(value)):
            raise DataFormatError(f"{where}: value {i + 1} is {token!r}; only trailing NaN (padding) is allowed")
        values[i] = value
    return values


def _labelled_set(sequences: list[np.ndarray], labels: list[str], classes: list[str] | None, path: Path) -> SequenceSet:
    if not sequences:
        raise DataFormatError(f"{path}: no cases")
    channels = {s.shape[1] for s in sequences}
    if len(channels) > 1:
        raise DataFormatError(f"{path}: cases have different channel counts {sorted(channels)}")
    name = re.sub(r"_(TRAIN|TEST)$", "", path.stem, flags=re.I)
    return SequenceSet(sequences, labels, classes or sorted_labels(set(labels)), name, str(path))


def read_tsv(path: str | Path, allow_nonfinite: bool = False) -> SequenceSet:
    """A UCR archive ``.tsv`` file: label, then the values, tab-separated; one case per line."""
    path = Path(path)
    sequences, labels = [], []
    for line_no, line in enumerate(_read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        where = f"{path}:{line_no}"
        if len(fields) < 2:
            raise DataFormatError(f"{where}: expected a label and values separated by tabs (UCR .tsv)")
        label = fields[0].strip()
        if not label:
            raise DataFormatError(f"{where}: empty label in the first field")
        sequences.append(parse_series(fields[1:], where, allow_nonfinite)[:, None])
        labels.append(_label_text(label))
    return _labelled_set(sequences, labels, None, path)


def _label_text(label: str) -> str:
    """UCR files write integer labels as floats at times ("1.0000000e+00"): the same class as "1"."""
    try:
        number = float(label)
    except ValueError:
        return label
    return str(int(number)) if number.is_integer() else label


# ---------------------------------------------------------------------------------------------
# .arff

_ATTRIBUTE = re.compile(r"@attribute\s+('[^']*'|\"[^\"]*\"|\S+)\s+(.*)$", re.I)


def read_arff(path: str | Path, allow_nonfinite: bool = False) -> SequenceSet:
    """A Weka ``.arff`` file of series: numeric attributes (one step each) or one relational
    attribute (channels), then a nominal class attribute."""
    path = Path(path)
    steps, relational, nested, classes, in_data = 0, False, None, None, False
    sequences, labels = [], []
    for line_no, raw in enumerate(_read_text(path).splitlines(), start=1):
        line = raw.strip()
        where = f"{path}:{line_no}"
        if not line or line.startswith("%"):
            continue
        if not in_data:
            lowered = line.lower()
            if lowered.startswith("@relation"):
                continue
            if lowered.startswith("@end"):
                nested = None
                continue
            if lowered.startswith("@data"):
                if classes is None:
                    last = "the last attribute is numeric: " + NOT_SUPPORTED_REGRESSION if steps else "expected one, last"
                    raise DataFormatError(f"{where}: no nominal class attribute ({{a,b,...}}) before @data; {last}")
                in_data = True
                continue
            match = _ATTRIBUTE.match(line)
            if not match:
                raise DataFormatError(f"{where}: expected @relation, @attribute, @end or @data, got {line[:40]!r}")
            kind = match.group(2).strip()
            if nested is not None:  # an attribute inside a relational one: one step per channel
                continue
            if kind.lower() == "relational":
                relational, nested = True, match.group(1)
            elif kind.startswith("{"):
                if classes is not None:
                    raise DataFormatError(f"{where}: a second nominal attribute; expected one class attribute, last")
                classes = [_label_text(c.strip().strip("'\"")) for c in kind.strip("{}").split(",") if c.strip()]
            elif kind.lower() in ("numeric", "real", "integer"):
                if classes is not None:
                    raise DataFormatError(f"{where}: {NOT_SUPPORTED_REGRESSION}; the class attribute must come last")
                steps += 1
            else:
                raise DataFormatError(f"{where}: attribute type {kind[:30]!r} is not supported (numeric, relational, {{classes}})")
            continue
        if relational:
            sequence, label = _arff_relational_case(line, where, allow_nonfinite)
        else:
            fields = next(csv.reader([line], quotechar="'", skipinitialspace=True))
            if len(fields) != steps + 1:
                raise DataFormatError(f"{where}: {len(fields)} values; the header declares {steps} steps and a class")
            sequence, label = parse_series(fields[:-1], where, allow_nonfinite)[:, None], fields[-1].strip()
        label = _label_text(label.strip("'\""))
        if label not in classes:
            raise DataFormatError(f"{where}: unknown label {label!r}; the class attribute declares {classes}")
        sequences.append(sequence)
        labels.append(label)
    if not in_data:
        raise DataFormatError(f"{path}: missing '@data' line; not an .arff file")
    return _labelled_set(sequences, labels, classes, path)


def _arff_relational_case(line: str, where: str, allow_nonfinite: bool) -> tuple[np.ndarray, str]:
    """'c1v1,c1v2,...\\nc2v1,...',label -> float32 [time, channels], label."""
    quote = line[:1]
    end = line.rfind(quote) if quote in ("'", '"') else -1
    if end <= 0 or not line[end + 1:].lstrip().startswith(","):
        raise DataFormatError(f"{where}: expected a quoted series of channels, a comma and a class label")
    channels = [parse_series(part.split(","), f"{where}: channel {c}", allow_nonfinite)
                for c, part in enumerate(line[1:end].split("\\n"))]
    if len({len(c) for c in channels}) != 1:
        raise DataFormatError(f"{where}: ragged channels, lengths {sorted({len(c) for c in channels})}")
    return np.stack(channels, axis=1), line[end + 1:].lstrip()[1:].strip()


# ---------------------------------------------------------------------------------------------
# numeric .csv


def read_numeric_csv(path: str | Path, allow_nonfinite: bool = False) -> SequenceSet:
    """One univariate series per row plus a label column (see the module docstring)."""
    path = Path(path)
    rows = [(n, row) for n, row in enumerate(csv.reader(_read_text(path).splitlines()), start=1)
            if row and any(field.strip() for field in row)]
    if not rows:
        raise DataFormatError(f"{path}: empty CSV file")
    header = [field.strip().lower() for field in rows[0][1]]
    named = [i for i, name in enumerate(header) if name in LABEL_COLUMNS]
    label_column = named[0] if named else 0
    if not named and _is_numeric_row(rows[0][1], label_column):
        data_rows = rows  # no header: the label is the first field
    else:
        data_rows = rows[1:]
    sequences, labels = [], []
    for line_no, row in data_rows:
        where = f"{path}:{line_no}"
        if label_column >= len(row) or not row[label_column].strip():
            raise DataFormatError(f"{where}: empty label in column {label_column + 1}")
        sequences.append(parse_series(row[:label_column] + row[label_column + 1:], where, allow_nonfinite)[:, None])
        labels.append(_label_text(row[label_column].strip()))
    return _labelled_set(sequences, labels, None, path)


def _is_numeric_row(row: list[str], label_column: int) -> bool:
    values = [field for i, field in enumerate(row) if i != label_column and field.strip()]
    try:
        [float(v) for v in values]
    except ValueError:
        return False
    return bool(values)
