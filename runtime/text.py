"""Text for classification: words, a vocabulary of word ids, and labelled text loaders.

- ``tokenize`` turns a text into lowercase words (``WORD_PATTERN``); ``TextStream`` does the
  same for a text that arrives in pieces and yields exactly the same words.
- ``Vocabulary`` maps words to int64 ids (0 = padding, 1 = unknown word) and travels as JSON.
- ``clean_text`` removes the parts of a Usenet post that scikit-learn's
  ``fetch_20newsgroups(remove=("headers", "footers", "quotes"))`` removes, with the same rules.
- ``read_text_folder`` (one sub-folder per class, one file per document) and ``read_text_csv``
  (columns ``text`` and ``label``) return a ``TextSet`` of raw texts and class names.

Pure Python and numpy.
"""

from __future__ import annotations

import csv
import functools
import itertools
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from edgernn.runtime.errors import DataFormatError, InputError, InputTypeError, MetadataError

# ---------------------------------------------------------------------------------------------
# Words

_LETTER = r"[^\W_]"
_MARK = r"[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]"
_PART = rf"{_LETTER}(?:{_LETTER}|{_MARK})*"

WORD_PATTERN = rf"{_PART}(?:'{_PART})*"
"""What counts as a word, matched against lowercased text (``re`` with Unicode ``str`` rules).

A word is one or more *parts* joined by single ASCII apostrophes (``'``), and a part is a letter
or digit followed by any number of letters, digits and combining diacritical marks:

- letter or digit: a character for which ``str.isalnum()`` is true, in any script (``é``, ``ß``,
  ``ж``, ``中``, ``٣``); the underscore is not one, so ``snake_case`` is two words;
- combining diacritical mark: U+0300-U+036F, U+1AB0-U+1AFF, U+1DC0-U+1DFF, U+20D0-U+20FF and
  U+FE20-U+FE2F. They continue a word but never start one, so a text in decomposed form
  (``"e\\u0301"``) keeps its words whole, and so does ``"İ"``, which lowercases to
  ``"i\\u0307"``. Marks of other scripts (e.g. Devanagari vowel signs) are not letters to
  ``str.isalnum`` and split words there;
- an apostrophe is kept only between two parts: ``don't`` and ``o'neill`` are one word each,
  while in ``'quoted'``, ``rock'n'roll'`` or ``a''b`` the outer or doubled apostrophes separate.
  The typographic apostrophe (U+2019) is not an apostrophe here and separates words.

Everything else (spaces, punctuation, symbols, ``_``, ``-``) separates words and is dropped.
"""

WORD_RE = re.compile(WORD_PATTERN)
APOSTROPHE = "'"


def tokenize(text: str) -> list[str]:
    """A text -> its words, in order: ``re.findall(WORD_PATTERN, text.lower())``.

    text: str. Returns list[str], each non-empty and lowercase.
    """
    if not isinstance(text, str):
        raise InputTypeError(f"tokenize: expected a str, got {type(text).__name__}")
    return WORD_RE.findall(text.lower())


@functools.lru_cache(maxsize=4096)
def _sigma_context(char: str) -> str:
    """How ``char`` counts for the lowercase of a capital sigma next to it in ``str.lower``:
    ``""`` when case-ignorable (looked past), ``"A"`` when cased, ``" "`` otherwise.

    ``str.lower`` lowercases every character on its own except a capital sigma, which becomes a
    final ``ς`` when it follows a cased letter and no cased letter follows it, looking past
    case-ignorable characters (apostrophes, periods, colons, combining marks, modifier letters).
    The two lowercasings below tell the three kinds apart: a sigma followed by ``char`` and then
    a cased letter is medial exactly when ``char`` is looked past or is cased itself.
    """
    if ("A\u03a3" + char + "A").lower()[1] != ("A\u03a3" + char + " ").lower()[1]:
        return ""
    return "A" if ("A\u03a3" + char).lower()[1] == "\u03c3" else " "


class TextStream:
    """Tokenizes a text that arrives in pieces, yielding the same words as ``tokenize`` would.

    ``push(piece)`` returns the words the piece *completes*: a word is complete once a character
    that cannot continue it has arrived. The trailing part of a word (and a word ending in one
    apostrophe, which letters in the next piece may continue) stays pending until then;
    ``flush()`` ends the text and returns what is pending. For every split of a text into
    pieces::

        [w for p in pieces for w in stream.push(p)] + stream.flush() == tokenize("".join(pieces))

    Lowercasing follows ``str.lower`` of the whole text: it is applied to the kept raw text,
    never to single pieces, so a character whose lowercase is longer (``"İ"`` -> ``"i\\u0307"``)
    or depends on its neighbours (a capital sigma becomes a final ``ς`` when no cased letter
    follows it) is lowercased exactly as in the whole text. A word whose lowercase still depends
    on characters not yet seen (a capital sigma followed only by case-ignorable characters so
    far) is held back until they arrive. Between pieces the stream keeps only the pending word
    and one character standing for the case of what precedes it.
    """

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget everything: the next ``push`` starts a new text."""
        self._raw = ""  # the raw text from the pending word on, after one context character
        self._done = 0  # offset in self._raw.lower() where the unreturned words begin

    def push(self, piece: str) -> list[str]:
        """Add the next piece (str) of the text; returns the words (list[str]) it completes."""
        if not isinstance(piece, str):
            raise InputTypeError(f"text stream: expected a str piece, got {type(piece).__name__}")
        if not piece:
            return []
        raw = self._raw + piece
        lowered = raw.lower()
        sigma = "\u03a3" in raw
        probes = None
        words: list[str] = []
        for match in WORD_RE.finditer(lowered, self._done):
            start, end = match.span()
            if end == len(lowered) or (lowered[end] == APOSTROPHE and end + 1 == len(lowered)):
                self._done = start  # more letters may continue it
                break
            if sigma:
                if probes is None:  # the text going on with a cased letter, or with a space
                    probes = ((raw + "A").lower(), (raw + " ").lower())
                if probes[0][start:end] != probes[1][start:end]:
                    self._done = start  # a sigma's final or medial form is not known yet
                    break
            words.append(match.group())
            self._done = end
        else:
            self._done = len(lowered)  # nothing left can start a word
        self._keep(raw, lowered)
        return words

    def flush(self) -> list[str]:
        """End the text: returns the pending words (list[str]) and resets the stream."""
        words = WORD_RE.findall(self._raw.lower(), self._done)
        self.reset()
        return words

    def _keep(self, raw: str, lowered: str) -> None:
        """Keep the raw text from the character holding lowered offset ``self._done``, after one
        character that stands for what is before it: ``"A"`` when the last character before it
        that is not case-ignorable is cased, ``" "`` otherwise. That is all a capital sigma's
        lowercase can depend on there."""
        done = self._done
        if len(lowered) == len(raw):
            start = done
        else:  # a character lowercased to more than one: map the offset back to the raw text
            offsets = list(itertools.accumulate((len(c.lower()) for c in raw), initial=0))
            start = next(i for i in range(len(raw), -1, -1) if offsets[i] <= done)
        for i in range(start - 1, -1, -1):
            context = _sigma_context(raw[i])
            if context:
                break
        else:
            context = " "
        self._raw = context + raw[start:]
        self._done = 1 + done - len(raw[:start].lower())


# ---------------------------------------------------------------------------------------------
# Vocabulary

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1
RESERVED = (PAD, UNK)


def _check_words(words: Any, error: type[InputError]) -> tuple[str, ...]:
    """Validate a vocabulary's word list; ``error`` names the first problem."""
    if not isinstance(words, (list, tuple)):
        raise error(f"vocabulary: 'words' must be a list of strings, got {type(words).__name__}")
    if tuple(words[:2]) != RESERVED:
        raise error(f"vocabulary: 'words' must start with {list(RESERVED)} (ids {PAD_ID} and {UNK_ID}), "
                    f"got {list(words[:2])}")
    seen: set[str] = set()
    for i, word in enumerate(words):
        if not isinstance(word, str) or not word:
            raise error(f"vocabulary: word {i} must be a non-empty string, got {word!r}")
        if word in seen:
            raise error(f"vocabulary: word {word!r} appears twice (again at id {i}); words must be distinct")
        seen.add(word)
    return tuple(words)


def _check_count(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise InputTypeError(f"{name} must be an integer >= {minimum}, got {type(value).__name__}")
    if value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


@dataclass(frozen=True)
class Vocabulary:
    """Words and their ids: ``words[i]`` is the word with id ``i``.

    words: tuple[str, ...] -- id 0 (``PAD_ID``) is ``"<pad>"``, the padding of a batch; id 1
    (``UNK_ID``) is ``"<unk>"``, every word not in the vocabulary; then the known words, most
    frequent first (``build``). ``len(vocab)`` is the number of ids, the model's vocab_size.
    """

    words: tuple[str, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        words = _check_words(self.words, InputError)
        object.__setattr__(self, "words", words)
        object.__setattr__(self, "_index", {word: i for i, word in enumerate(words)})

    @classmethod
    def build(cls, token_lists: Iterable[list[str]], max_size: int = 30000, min_count: int = 2) -> "Vocabulary":
        """Count words over documents (each a list[str] of tokens) and keep the frequent ones.

        Keeps the words seen at least ``min_count`` times, by descending count with ties in
        alphabetical (code point) order, up to ``max_size`` ids in all, the two reserved ids
        included. Tokens equal to ``"<pad>"`` or ``"<unk>"`` are not counted.
        """
        max_size = _check_count(max_size, "max_size (ids in all, the 2 reserved ones included)", len(RESERVED) + 1)
        min_count = _check_count(min_count, "min_count", 1)
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            counts.update(tokens)
        for word in RESERVED:
            counts.pop(word, None)
        kept = sorted((item for item in counts.items() if item[1] >= min_count), key=lambda item: (-item[1], item[0]))
        return cls(RESERVED + tuple(word for word, _ in kept[: max_size - len(RESERVED)]))

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self._index

    def ids(self, tokens: list[str]) -> np.ndarray:
        """Tokens (list[str], n) -> ids int64 [n]; a word not in the vocabulary gets ``UNK_ID``."""
        index = self._index
        return np.array([index.get(token, UNK_ID) for token in tokens], dtype=np.int64).reshape(len(tokens))

    def encode(self, text: str, max_tokens: int | None = None) -> np.ndarray:
        """A text -> the ids of its words, int64 [n].

        When ``max_tokens`` is given, only the first ``max_tokens`` words of the text are kept
        (the rest is dropped, as a classifier reading the start of the text would).
        """
        if not isinstance(text, str):
            raise InputTypeError(f"encode: expected a str, got {type(text).__name__}")
        if max_tokens is None:
            return self.ids(tokenize(text))
        max_tokens = _check_count(max_tokens, "max_tokens", 1)
        words = [m.group() for m in itertools.islice(WORD_RE.finditer(text.lower()), max_tokens)]
        return self.ids(words)

    def to_json(self) -> dict:
        """``{"words": [...]}``, the words in id order."""
        return {"words": list(self.words)}

    @classmethod
    def from_json(cls, spec: Any) -> "Vocabulary":
        """Rebuild from ``to_json()``'s dict; MetadataError names what is wrong."""
        if not isinstance(spec, dict):
            raise MetadataError(f"vocabulary: expected a JSON object with a 'words' list, got {type(spec).__name__}")
        if "words" not in spec:
            raise MetadataError("vocabulary: missing key 'words' (the list of words in id order)")
        return cls(_check_words(spec["words"], MetadataError))


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
