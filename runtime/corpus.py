"""Labelled text on disk: documents, their classes, and the Usenet cleaning of 20 Newsgroups.

- ``clean_text`` removes the parts of a Usenet post that scikit-learn's
  ``fetch_20newsgroups(remove=("headers", "footers", "quotes"))`` removes, with the same rules.
- ``read_text_folder`` (one sub-folder per class, one file per document) and ``read_text_csv``
  (columns ``text`` and ``label``) return a ``TextSet`` of raw texts and class names;
  ``is_text_folder`` and ``csv_holds_text`` tell such data from the other formats.

Pure Python (words and vocabularies are runtime/text.py's).
"""

from __future__ import annotations

import csv
import itertools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable


from edgernn.runtime.errors import DataFormatError, InputError


# ---------------------------------------------------------------------------------------------
# 20 Newsgroups cleaning (the rules of scikit-learn's fetch_20newsgroups)

QUOTE_RE = re.compile(r"(writes in|writes:|wrote:|says:|said:|^In article|^Quoted from|^\||^>)")
STRIP_PARTS = ("headers", "footers", "quotes")


def strip_headers(text: str) -> str:
    """Drop the header block: everything up to the first blank line (``"\\n\\n"``).

    A text with no blank line is all header and gives ``""``.
    """
    return text.partition("\n\n")[2]


def strip_quotes(text: str) -> str:
    """Drop every line that quotes another post or introduces a quote (``QUOTE_RE``): lines
    starting with ``>``, ``|``, ``In article`` or ``Quoted from``, and lines holding
    ``writes in``, ``writes:``, ``wrote:``, ``says:`` or ``said:`` anywhere."""
    return "\n".join(line for line in text.split("\n") if not QUOTE_RE.search(line))


def strip_footer(text: str) -> str:
    """Drop a signature: the lines after the last line that is blank or only dashes (``--``).

    Works on ``text.strip()``; when that separator is the first line or there is none, the text
    is returned unchanged (not stripped).
    """
    lines = text.strip().split("\n")
    for index in range(len(lines) - 1, 0, -1):
        if lines[index].strip().strip("-") == "":
            return "\n".join(lines[:index])
    return text


_STRIPPERS = {"headers": strip_headers, "footers": strip_footer, "quotes": strip_quotes}


def _check_strip(strip: Iterable[str] | str) -> frozenset[str]:
    parts = frozenset((strip,) if isinstance(strip, str) else strip)
    unknown = sorted(parts - set(STRIP_PARTS), key=str)
    if unknown:
        raise InputError(f"unknown part(s) to strip {unknown}; expected some of {list(STRIP_PARTS)}")
    return parts


def clean_text(text: str, strip: Iterable[str] | str) -> str:
    """Remove the named parts (some of ``STRIP_PARTS``) of a post: headers first, then the
    footer, then quotes, the order scikit-learn applies them in."""
    parts = _check_strip(strip)
    for part in STRIP_PARTS:
        if part in parts:
            text = _STRIPPERS[part](text)
    return text


# ---------------------------------------------------------------------------------------------
# Loaders

DATA_SUFFIXES = (".ts", ".tsv", ".arff", ".npz", ".wav")  # files of the other data formats: not text documents


@dataclass(frozen=True)
class TextSet:
    """Labelled raw texts.

    texts: list[str], one per document; labels: list[str], the class name of each text;
    classes: list[str], every class name, sorted; name: the data set's name; source: where it
    was read from.
    """

    texts: list[str]
    labels: list[str]
    classes: list[str]
    name: str
    source: str

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise InputError(f"{self.source}: {len(self.texts)} texts but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.texts)


def _visible(entry: os.DirEntry) -> bool:
    return not entry.name.startswith(".")


def _document_order(name: str) -> tuple:
    """Numeric names (``"10"`` after ``"9"``) first in numeric order, then the rest by name."""
    if name.isascii() and name.isdigit():
        return (0, int(name), name)
    return (1, name)


def read_document(path: str | Path) -> str:
    """One plain-text document (a ``.txt`` file given to ``predict`` or ``stream``), decoded as
    UTF-8 with undecodable bytes replaced (U+FFFD), line ends as they are."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: no such text file")
    return path.read_text(encoding="utf-8", errors="replace")


def read_text_folder(root: str | Path, strip: Iterable[str] | str = ()) -> TextSet:
    """Read a folder with one sub-folder per class and one file per document.

    Every regular file directly inside a class folder is one document; class folders are taken
    in name order and files in numeric order when named by numbers (as the 20 Newsgroups posts
    are), by name otherwise. Names starting with ``.`` are skipped. Files are decoded as
    latin-1, which maps every byte to one character and so never fails: the 20 Newsgroups posts
    are not all valid UTF-8, and scikit-learn reads them as latin-1 too. Line ends are kept as
    they are. Each text is then cleaned with ``clean_text(text, strip)``.

    Returns a TextSet with source ``str(root)`` and name the folder's name.
    """
    parts = _check_strip(strip)
    root = Path(root)
    if not root.is_dir():
        raise DataFormatError(f"{root}: no such folder; expected a folder with one sub-folder of documents per class")
    with os.scandir(root) as entries:
        class_dirs = sorted((e for e in entries if _visible(e) and e.is_dir()), key=lambda e: e.name)
    if not class_dirs:
        raise DataFormatError(f"{root}: no class folders; expected one sub-folder of documents per class")
    texts: list[str] = []
    labels: list[str] = []
    for class_dir in class_dirs:
        with os.scandir(class_dir.path) as entries:
            files = sorted((e for e in entries if _visible(e) and e.is_file()), key=lambda e: _document_order(e.name))
        if not files:
            raise DataFormatError(f"{class_dir.path}: class folder {class_dir.name!r} holds no files; "
                                  "expected one file per document")
        for entry in files:
            try:
                with open(entry.path, "rb") as handle:
                    text = handle.read().decode("latin-1")
            except OSError as exc:
                raise DataFormatError(f"{entry.path}: cannot read the document ({exc.strerror or exc})") from None
            texts.append(clean_text(text, parts))
            labels.append(class_dir.name)
    return TextSet(texts, labels, [e.name for e in class_dirs], root.name or str(root), str(root))


TEXT_COLUMN, LABEL_COLUMN = "text", "label"
_CSV_FIELD_LIMIT = 2**31 - 1


def read_text_csv(path: str | Path, strip: Iterable[str] | str = ()) -> TextSet:
    """Read a CSV file (UTF-8, a byte order mark allowed) whose header row names the columns
    ``text`` and ``label`` (case and surrounding spaces ignored; other columns are ignored).

    One row per document; blank lines are skipped, labels are stripped of surrounding spaces,
    texts are cleaned with ``clean_text(text, strip)``. Classes are the labels, sorted.
    Returns a TextSet with source ``str(path)`` and name the file's stem.
    """
    parts = _check_strip(strip)
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file")
    texts: list[str] = []
    labels: list[str] = []
    old_limit = csv.field_size_limit(_CSV_FIELD_LIMIT)  # a long document is one long field
    columns = None
    line_end = 0  # the last line read so far
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            for row in reader:
                line, line_end = line_end + 1, reader.line_num  # the row's first line
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue  # a blank line
                if columns is None:
                    columns = _csv_columns(row, f"{path}:{line}")
                    continue
                if max(columns) >= len(row):
                    raise DataFormatError(f"{path}:{line}: {len(row)} field(s), but the header puts "
                                          f"'{TEXT_COLUMN}' and '{LABEL_COLUMN}' in fields {columns[0] + 1} and {columns[1] + 1}")
                label = row[columns[1]].strip()
                if not label:
                    raise DataFormatError(f"{path}:{line}: empty label; every row needs a '{LABEL_COLUMN}' value")
                texts.append(clean_text(row[columns[0]], parts))
                labels.append(label)
    except UnicodeDecodeError as exc:
        raise DataFormatError(f"{path}: not a UTF-8 text file ({exc.reason}, after line {line_end})") from None
    except csv.Error as exc:
        raise DataFormatError(f"{path}:{line_end + 1}: malformed CSV ({exc})") from None
    finally:
        csv.field_size_limit(old_limit)
    if columns is None:
        raise DataFormatError(f"{path}: empty file; expected a header row with columns "
                              f"'{TEXT_COLUMN}' and '{LABEL_COLUMN}', then one row per document")
    if not texts:
        raise DataFormatError(f"{path}: no rows after the header; expected one row per document")
    return TextSet(texts, labels, sorted(set(labels)), path.stem, str(path))


def _csv_columns(header: list[str], where: str) -> tuple[int, int]:
    names = [name.strip().lower() for name in header]
    found = []
    for column in (TEXT_COLUMN, LABEL_COLUMN):
        if column not in names:
            raise DataFormatError(f"{where}: no '{column}' column in the header {header}; "
                                  f"expected columns '{TEXT_COLUMN}' and '{LABEL_COLUMN}'")
        found.append(names.index(column))
    return found[0], found[1]


def csv_holds_text(path: str | Path) -> bool:
    """Whether ``path`` is a .csv file whose first non-blank row names a ``text`` column (a text
    data set; a CSV without one holds numeric series, runtime/tables.py)."""
    path = Path(path)
    if path.suffix.lower() != ".csv":
        return False
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            for row in csv.reader(itertools.islice(handle, 100)):
                if row and any(field.strip() for field in row):
                    return TEXT_COLUMN in (field.strip().lower() for field in row)
    except (OSError, UnicodeDecodeError, csv.Error):
        return True  # unreadable as numbers too: the text reader names what is wrong
    return True


def is_text_folder(path: str | Path, folders: int = 4, files: int = 4) -> bool:
    """Whether ``path`` looks like a ``read_text_folder`` data set, checking only a few files.

    True when the folder has sub-folders and the first few files found in its first few
    sub-folders (``folders`` x ``files`` at most) include at least one and none has a suffix of
    another data format (``DATA_SUFFIXES``: .ts, .npz, .wav).
    """
    try:
        with os.scandir(path) as entries:
            subdirs = [e.path for e in itertools.islice((e for e in entries if _visible(e) and e.is_dir()), folders)]
        seen = 0
        for subdir in subdirs:
            with os.scandir(subdir) as entries:
                for entry in itertools.islice((e for e in entries if _visible(e) and e.is_file()), files):
                    if entry.name.lower().endswith(DATA_SUFFIXES):
                        return False
                    seen += 1
    except OSError:
        return False
    return seen > 0
