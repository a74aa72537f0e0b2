"""Text for classification: words and a vocabulary of word ids (the labelled text readers are in
runtime/corpus.py).

- ``tokenize`` turns a text into lowercase words (``WORD_PATTERN``); ``TextStream`` does the
  same for a text that arrives in pieces and yields exactly the same words.
- ``Vocabulary`` maps words to int64 ids (0 = padding, 1 = unknown word) and travels as JSON.

Pure Python and numpy.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from edgernn.runtime.errors import InputError, InputTypeError, MetadataError

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
