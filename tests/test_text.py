"""Text classification inputs: words, vocabulary, streaming tokenization, 20 Newsgroups cleaning
and the text loaders (runtime/text.py, runtime/corpus.py)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgernn.runtime.errors import DataFormatError, InputError, MetadataError
from edgernn.runtime.text import PAD_ID, UNK_ID, TextStream, Vocabulary, tokenize
from edgernn.runtime.corpus import (
    STRIP_PARTS, TextSet, clean_text, is_text_folder, read_text_csv, read_text_folder, strip_footer, strip_headers, strip_quotes,
)

# ---------------------------------------------------------------------------------------------
# tokenize


@pytest.mark.parametrize("text, words", [
    ("Hello WORLD hello", ["hello", "world", "hello"]),
    ("Don't stop, O'Neill!", ["don't", "stop", "o'neill"]),
    ("rock'n'roll", ["rock'n'roll"]),
    ("'quoted' it's' a''b '", ["quoted", "it's", "a", "b"]),
    ("in 1993, 42nd 3.14 v2", ["in", "1993", "42nd", "3", "14", "v2"]),
    ("e-mail: a.b@c.org (x) [y] {z} #1 $5 50%", ["e", "mail", "a", "b", "c", "org", "x", "y", "z", "1", "5", "50"]),
    ("snake_case __init__ _", ["snake", "case", "init"]),
    ("Café naïve ÉTÉ Straße", ["café", "naïve", "été", "straße"]),
    ("cafe\u0301 \u0301x", ["cafe\u0301", "x"]),  # a combining mark continues a word, never starts one
    ("İstanbul", ["i\u0307stanbul"]),  # str.lower("İ") is "i" + U+0307, kept inside the word
    ("don\u2019t", ["don", "t"]),  # the typographic apostrophe separates
    ("ΟΔΟΣ", ["οδος"]),
    ("", []),
    (" \n\t.,;!?", []),
])
def test_tokenize_examples(text, words):
    assert tokenize(text) == words


def test_tokenize_refuses_non_text():
    with pytest.raises(TypeError, match="expected a str, got bytes"):
        tokenize(b"abc")


# ---------------------------------------------------------------------------------------------
# Vocabulary

DOCS = [["b", "a", "c", "a"], ["b", "d", "a"], ["e"]]


def test_build_orders_by_count_then_alphabetically():
    vocab = Vocabulary.build(DOCS, min_count=1)
    assert vocab.words == ("<pad>", "<unk>", "a", "b", "c", "d", "e")
    assert len(vocab) == 7
    assert vocab.words[PAD_ID] == "<pad>" and vocab.words[UNK_ID] == "<unk>"


def test_build_min_count_and_max_size():
    assert Vocabulary.build(DOCS).words == ("<pad>", "<unk>", "a", "b")  # min_count 2 by default
    assert Vocabulary.build(DOCS, min_count=3).words == ("<pad>", "<unk>", "a")
    assert Vocabulary.build(DOCS, max_size=4, min_count=1).words == ("<pad>", "<unk>", "a", "b")
    assert Vocabulary.build(DOCS, max_size=3, min_count=1).words == ("<pad>", "<unk>", "a")
    assert Vocabulary.build([], min_count=1).words == ("<pad>", "<unk>")
    assert Vocabulary.build(iter(DOCS), max_size=5, min_count=1).words == ("<pad>", "<unk>", "a", "b", "c")


def test_build_does_not_count_reserved_words():
    vocab = Vocabulary.build([["<pad>", "<unk>", "x"]] * 3)
    assert vocab.words == ("<pad>", "<unk>", "x")


@pytest.mark.parametrize("kwargs, message", [
    ({"max_size": 2}, r"max_size .* must be an integer >= 3, got 2"),
    ({"max_size": 0}, r"max_size .* must be an integer >= 3, got 0"),
    ({"min_count": 0}, r"min_count must be an integer >= 1, got 0"),
])
def test_build_refuses_bad_limits(kwargs, message):
    with pytest.raises(InputError, match=message):
        Vocabulary.build(DOCS, **kwargs)


def test_ids_map_unknown_words_to_unk():
    vocab = Vocabulary.build(DOCS, min_count=1)
    ids = vocab.ids(["a", "zzz", "e", "<pad>", "A"])
    assert ids.dtype == np.int64 and ids.shape == (5,)
    assert ids.tolist() == [2, UNK_ID, 6, PAD_ID, UNK_ID]
    assert vocab.ids([]).dtype == np.int64 and vocab.ids([]).shape == (0,)
    assert "a" in vocab and "zzz" not in vocab


def test_encode_tokenizes_and_keeps_the_first_tokens():
    vocab = Vocabulary(("<pad>", "<unk>", "the", "cat", "sat"))
    assert vocab.encode("The cat SAT on the mat.").tolist() == [2, 3, 4, UNK_ID, 2, UNK_ID]
    assert vocab.encode("The cat SAT on the mat.", max_tokens=3).tolist() == [2, 3, 4]
    assert vocab.encode("The cat", max_tokens=10).tolist() == [2, 3]
    out = vocab.encode("", max_tokens=5)
    assert out.dtype == np.int64 and out.shape == (0,)
    with pytest.raises(InputError, match="max_tokens must be an integer >= 1, got 0"):
        vocab.encode("the", max_tokens=0)


def test_json_round_trip():
    vocab = Vocabulary.build(DOCS, min_count=1)
    spec = json.loads(json.dumps(vocab.to_json()))
    assert spec == {"words": ["<pad>", "<unk>", "a", "b", "c", "d", "e"]}
    again = Vocabulary.from_json(spec)
    assert again == vocab and again.words == vocab.words
    assert again.ids(["d", "q"]).tolist() == [5, UNK_ID]


@pytest.mark.parametrize("spec, message", [
    (["<pad>", "<unk>"], "expected a JSON object with a 'words' list, got list"),
    ({}, "missing key 'words'"),
    ({"word": ["<pad>", "<unk>"]}, "missing key 'words'"),
    ({"words": "<pad> <unk>"}, "'words' must be a list of strings, got str"),
    ({"words": None}, "'words' must be a list of strings, got NoneType"),
    ({"words": []}, r"must start with \['<pad>', '<unk>'\]"),
    ({"words": ["<unk>", "<pad>", "a"]}, r"must start with \['<pad>', '<unk>'\] \(ids 0 and 1\), got \['<unk>', '<pad>'\]"),
    ({"words": ["<pad>", "<unk>", "a", 3]}, "word 3 must be a non-empty string, got 3"),
    ({"words": ["<pad>", "<unk>", ""]}, "word 2 must be a non-empty string"),
    ({"words": ["<pad>", "<unk>", "a", "b", "a"]}, "word 'a' appears twice \\(again at id 4\\)"),
])
def test_from_json_names_what_is_wrong(spec, message):
    with pytest.raises(MetadataError, match=message):
        Vocabulary.from_json(spec)


def test_constructor_checks_words():
    with pytest.raises(InputError, match="must start with"):
        Vocabulary(("a", "b"))
    assert Vocabulary(["<pad>", "<unk>", "x"]).words == ("<pad>", "<unk>", "x")


# ---------------------------------------------------------------------------------------------
# TextStream


def stream_words(pieces: list[str]) -> list[str]:
    stream = TextStream()
    words = [w for piece in pieces for w in stream.push(piece)]
    return words + stream.flush()


def test_stream_returns_words_once_complete():
    stream = TextStream()
    assert stream.push("Hel") == []
    assert stream.push("lo wor") == ["hello"]
    assert stream.push("ld,") == ["world"]
    assert stream.push(" don") == []
    assert stream.push("'") == []  # letters in the next piece may continue the word
    assert stream.push("t") == []
    assert stream.push(" rock'") == ["don't"]
    assert stream.push(" ") == ["rock"]
    assert stream.push("end") == []
    assert stream.flush() == ["end"]
    assert stream.flush() == []


def test_stream_reset_forgets_the_pending_word():
    stream = TextStream()
    stream.push("abc")
    stream.reset()
    assert stream.push("def ") == ["def"]
    assert stream.push("") == []


def test_stream_holds_a_sigma_until_its_form_is_known():
    stream = TextStream()
    assert stream.push("ΟΔΟΣ.") == []  # "." is case-ignorable: a cased letter next makes it medial
    assert stream.push(" ") == ["οδος"]
    assert stream_words(["ΑΣ.", "Β"]) == tokenize("ΑΣ.Β") == ["ασ", "β"]
    assert stream_words(["A.", "Σ "]) == tokenize("A.Σ ") == ["a", "ς"]


def test_stream_refuses_non_text():
    with pytest.raises(TypeError, match="expected a str piece, got bytes"):
        TextStream().push(b"abc")


ALPHABET = list("aBz09 .,;:-_'\n\t") + ["İ", "é", "e\u0301", "\u0301", "Σ", "σ", "ς", "ʰ", "\u2019", "ß", "中"]
# Pieces that make the hard cases likely: apostrophes between letters, a capital sigma after a cased
# letter and before case-ignorable characters ("'", ".", ":", "ʰ", a combining mark), "İ".
FRAGMENTS = ["don't", "'", "''", "AΣ", "ΟΔΟΣ", "Σ", ".", ":", "ʰ", "\u0301", "İ", "B", " ", "\n", "x_y"]
TEXT_CHARS = st.one_of(st.sampled_from(ALPHABET), st.sampled_from(FRAGMENTS))


@settings(max_examples=500, deadline=None)
@given(chars=st.lists(TEXT_CHARS, max_size=30), data=st.data())
def test_stream_matches_tokenize_for_any_split(chars, data):
    text = "".join(chars)
    cut_after = data.draw(st.lists(st.booleans(), min_size=len(text), max_size=len(text)), label="cut_after")
    points = [i + 1 for i, cut in enumerate(cut_after) if cut]
    pieces = [text[a:b] for a, b in zip([0, *points], [*points, len(text)])]
    assert "".join(pieces) == text
    assert stream_words(pieces) == tokenize(text)


@settings(max_examples=150, deadline=None)
@given(chars=st.lists(TEXT_CHARS, max_size=30))
def test_stream_matches_tokenize_char_by_char(chars):
    text = "".join(chars)
    assert stream_words(list(text)) == tokenize(text)


@pytest.mark.parametrize("text", [
    "Don't stop rock'n'roll' a''b x",
    "ΑΣ.Β ΟΔΟΣ. A.Σ ΑΣ'ʰ ΑΣ:: Σ",
    "İstanbul cafe\u0301 İ'İ x\u0301",
])
def test_stream_matches_tokenize_for_every_two_cuts(text):
    expected = tokenize(text)
    for first in range(len(text) + 1):
        for second in range(first, len(text) + 1):
            assert stream_words([text[:first], text[first:second], text[second:]]) == expected, (first, second)


def test_stream_keeps_little_text():
    stream = TextStream()
    for char in "Hello wörld, don't ΣΟΦΟΣ... İstanbul! " + "." * 1000 + "''":
        stream.push(char)
        assert len(stream._raw) <= len("İstanbul") + 2  # the pending word, one context character


# ---------------------------------------------------------------------------------------------
# 20 Newsgroups cleaning

POST = (
    "From: alice@example.com (Alice)\n"
    "Subject: Re: engines\n"
    "Lines: 9\n"
    "\n"
    "In article <1993Apr1.1234@example.com> bob@example.com (Bob) writes:\n"
    "> Which engine is best?\n"
    ">> An older quote\n"
    "| A piped quote\n"
    "I think the V8 is best.\n"
    "Carol said: it is loud.\n"
    "\n"
    "-- \n"
    "Alice, Example Motors\n"
)


def test_strip_headers():
    body = strip_headers(POST)
    assert body.startswith("In article <1993Apr1.1234@example.com>")
    assert "Subject" not in body
    assert strip_headers("From: a\nSubject: no body") == ""
    assert strip_headers("a\n\nb\n\nc") == "b\n\nc"


def test_strip_quotes():
    assert strip_quotes(strip_headers(POST)) == "I think the V8 is best.\n\n-- \nAlice, Example Motors\n"
    assert strip_quotes("x\nQuoted from y\nz") == "x\nz"
    assert strip_quotes("says: hi\nwrote: hi\nok\n a > b") == "ok\n a > b"


def test_strip_footer():
    body = strip_headers(POST)
    assert strip_footer(body) == body[: body.index("\n\n-- \n")] + "\n"  # the blank line before "--" stays
    assert strip_footer("body\n--------\nsig") == "body"
    assert strip_footer("text\nwith no separator\n") == "text\nwith no separator\n"  # unchanged, not stripped
    assert strip_footer("\n\n--\nall signature\n") == "\n\n--\nall signature\n"  # separator first: unchanged
    assert strip_footer("") == ""


def test_clean_text_applies_headers_then_footer_then_quotes():
    assert clean_text(POST, STRIP_PARTS) == "I think the V8 is best.\n"
    assert clean_text(POST, ["quotes", "headers"]) == strip_quotes(strip_headers(POST))
    assert clean_text(POST, "headers") == strip_headers(POST)
    assert clean_text(POST, ()) == POST
    # the footer goes before the quotes, whatever order the parts are named in
    assert clean_text("a\n\n> q", ["quotes", "footers"]) == "a"
    assert strip_footer(strip_quotes("a\n\n> q")) == "a\n"


def test_clean_text_refuses_unknown_parts():
    with pytest.raises(InputError, match=r"\['signature'\]; expected some of \['headers', 'footers', 'quotes'\]"):
        clean_text("x", ["headers", "signature"])


# ---------------------------------------------------------------------------------------------
# Folder loader


def write_tree(root, tree: dict[str, dict[str, bytes]]) -> None:
    for folder, files in tree.items():
        (root / folder).mkdir(parents=True)
        for name, data in files.items():
            (root / folder / name).write_bytes(data)


def test_read_text_folder(tmp_path):
    root = tmp_path / "news"
    write_tree(root, {
        "rec.autos": {"10": b"ten", "9": b"nine", "100": b"hundred", "b": b"bee", "a": b"ay", ".hidden": b"no"},
        "comp.graphics": {"5": b"caf\xe9 \xff\n"},
    })
    (root / "comp.graphics" / "sub").mkdir()  # only files directly inside a class folder count
    (root / "README").write_bytes(b"not a class")
    (root / ".git").mkdir()
    data = read_text_folder(root)
    assert isinstance(data, TextSet)
    assert data.classes == ["comp.graphics", "rec.autos"]
    assert data.texts == ["café ÿ\n", "nine", "ten", "hundred", "ay", "bee"]
    assert data.labels == ["comp.graphics"] + ["rec.autos"] * 5
    assert data.name == "news" and data.source == str(root) and len(data) == 6
    assert is_text_folder(root)


def test_read_text_folder_cleans(tmp_path):
    write_tree(tmp_path, {"autos": {"1": POST.encode("latin-1")}})
    assert read_text_folder(tmp_path, strip=STRIP_PARTS).texts == ["I think the V8 is best.\n"]
    assert read_text_folder(tmp_path).texts == [POST]
    with pytest.raises(InputError, match="unknown part"):
        read_text_folder(tmp_path, strip=["header"])


def test_read_text_folder_errors(tmp_path):
    with pytest.raises(DataFormatError, match=f"{tmp_path / 'missing'}: no such folder; expected a folder with one sub-folder"):
        read_text_folder(tmp_path / "missing")
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(DataFormatError, match=f"{tmp_path}: no class folders; expected one sub-folder of documents per class"):
        read_text_folder(tmp_path)
    write_tree(tmp_path, {"full": {"1": b"x"}, "empty": {}})
    (tmp_path / "empty" / "nested").mkdir()
    with pytest.raises(DataFormatError, match=f"{tmp_path / 'empty'}: class folder 'empty' holds no files"):
        read_text_folder(tmp_path)


def test_is_text_folder(tmp_path):
    assert not is_text_folder(tmp_path / "missing")
    assert not is_text_folder(tmp_path)  # no sub-folders
    (tmp_path / "x.ts").write_text("@data")
    assert not is_text_folder(tmp_path)
    (tmp_path / "empty").mkdir()
    assert not is_text_folder(tmp_path)  # sub-folders without files
    write_tree(tmp_path / "audio", {"yes": {"1.wav": b"RIFF"}, "no": {"2.WAV": b"RIFF"}})
    assert not is_text_folder(tmp_path / "audio")
    write_tree(tmp_path / "arrays", {"a": {"x.npz": b""}})
    assert not is_text_folder(tmp_path / "arrays")
    write_tree(tmp_path / "text", {"a": {"1": b"x", "2.txt": b"y"}, "b": {"3": b"z"}})
    assert is_text_folder(tmp_path / "text")
    assert not is_text_folder(tmp_path / "text" / "a" / "1")  # a file


# ---------------------------------------------------------------------------------------------
# CSV loader


def test_read_text_csv(tmp_path):
    path = tmp_path / "reviews.csv"
    path.write_bytes(
        "\ufeffid, Text ,LABEL,extra\n"
        '1,"Great, really great",pos,x\n'
        "\n"
        '2,"two\nlines",neg,y\n'
        "3,Café,  pos ,z\n".encode("utf-8")
    )
    data = read_text_csv(path)
    assert data.texts == ["Great, really great", "two\nlines", "Café"]
    assert data.labels == ["pos", "neg", "pos"]
    assert data.classes == ["neg", "pos"]
    assert data.name == "reviews" and data.source == str(path)


def test_read_text_csv_cleans(tmp_path):
    path = tmp_path / "posts.csv"
    long_post = "Subject: long\n\n" + "x" * 200_000  # longer than the csv module's default field limit
    with open(path, "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["text", "label"], [POST, "autos"], [long_post, "long"]])
    limit = csv.field_size_limit()
    data = read_text_csv(path, strip=["headers", "footers", "quotes"])
    assert csv.field_size_limit() == limit  # the module-wide limit is put back
    assert data.texts == ["I think the V8 is best.\n", "x" * 200_000]
    assert read_text_csv(path).texts == [POST, long_post]


@pytest.mark.parametrize("content, message", [
    ("", r"data\.csv: empty file; expected a header row with columns 'text' and 'label'"),
    ("\n\n", r"data\.csv: empty file"),
    ("text,label\n", r"data\.csv: no rows after the header"),
    ("text,category\nhello,a\n", r"data\.csv:1: no 'label' column in the header \['text', 'category'\]"),
    ("\nbody,label\nhello,a\n", r"data\.csv:2: no 'text' column"),
    ('text,label\nfine,a\n"multi\nline",b\nno label,\n', r"data\.csv:5: empty label"),
    ("text,label\nfine,a\nno label,   \n", r"data\.csv:3: empty label"),
    ("label,text\nfine,a\nshort\n", r"data\.csv:3: 1 field\(s\), but the header puts 'text' and 'label' in fields 2 and 1"),
])
def test_read_text_csv_errors(tmp_path, content, message):
    path = tmp_path / "data.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataFormatError, match=message):
        read_text_csv(path)


def test_read_text_csv_refuses_other_files(tmp_path):
    with pytest.raises(DataFormatError, match="no such file"):
        read_text_csv(tmp_path / "missing.csv")
    path = tmp_path / "latin.csv"
    path.write_bytes(b"text,label\ncaf\xe9,a\n")
    with pytest.raises(DataFormatError, match=r"latin\.csv: not a UTF-8 text file"):
        read_text_csv(path)


# ---------------------------------------------------------------------------------------------
# The real 20 Newsgroups "bydate" split


@pytest.mark.slow
def test_20newsgroups_bydate(newsgroups):
    tmp_path = newsgroups
    train = read_text_folder(tmp_path / "20news-bydate-train")
    test = read_text_folder(tmp_path / "20news-bydate-test")
    assert (len(train), len(test)) == (11314, 7532)
    assert len(train.classes) == 20 and test.classes == train.classes
    assert "comp.graphics" in train.classes and "talk.religion.misc" in train.classes
    assert is_text_folder(tmp_path / "20news-bydate-train")

    cleaned = [clean_text(text, STRIP_PARTS) for text in train.texts]
    non_empty = sum(1 for text in cleaned if text.strip())
    assert non_empty > len(cleaned) / 2
    assert sum(map(len, cleaned)) < sum(map(len, train.texts))
    assert not any(line.startswith(">") for text in cleaned[:500] for line in text.split("\n"))

    vocab = Vocabulary.build((tokenize(text) for text in cleaned), max_size=20000)
    assert len(vocab) == 20000
    ids = vocab.encode(cleaned[0], max_tokens=50)
    assert ids.dtype == np.int64 and 0 < len(ids) <= 50 and ids.max() < len(vocab)
