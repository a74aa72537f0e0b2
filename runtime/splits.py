"""Where a data set's splits are and how cases are held out: train/test discovery beside a file or
in a folder (sequence files, WAV folders, text), the check that two splits belong together, and
the seeded, stratified hold-outs (test, validation, folds). numpy only.

The readers of single files live in runtime/datasets.py (sequence files), runtime/tables.py,
runtime/wav.py and runtime/corpus.py; this module builds on all of them.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from edgernn.runtime.datasets import SEQUENCE_SUFFIXES, SequenceSet, read_sequences
from edgernn.runtime.errors import DataFormatError, InputError
from edgernn.runtime.corpus import csv_holds_text, is_text_folder, read_text_csv, read_text_folder
from edgernn.runtime.wav import read_wav_folder


def stratified_split(y: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation): about ``fraction`` of every class goes to validation.

    A class with a single case stays in training. fraction 0 gives an empty validation set.
    """
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        n_val = 0 if fraction <= 0 or len(members) < 2 else min(len(members) - 1, max(1, round(fraction * len(members))))
        val_idx.extend(members[:n_val])
        train_idx.extend(members[n_val:])
    return np.sort(np.array(train_idx, dtype=np.int64)), np.sort(np.array(val_idx, dtype=np.int64))


def stratified_fold(y: np.ndarray, folds: int, fold: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, validation) of fold ``fold`` of ``folds`` stratified folds: every class's
    cases, shuffled by ``seed``, are dealt round-robin to the folds, so over all folds each case
    is validated exactly once. A class with a single case stays in training in every fold.
    """
    if folds < 2 or not 0 <= fold < folds:
        raise InputError(f"a fold index in [0, {folds}) of at least 2 folds, got fold {fold} of {folds}")
    rng = np.random.default_rng(seed)
    train_idx, val_idx = [], []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        held = members[fold::folds] if len(members) >= 2 else members[:0]
        val_idx.extend(held)
        train_idx.extend(np.setdiff1d(members, held))
    return np.sort(np.array(train_idx, dtype=np.int64)), np.sort(np.array(val_idx, dtype=np.int64))


def split_off_test(data: SequenceSet, fraction: float, seed: int) -> tuple[SequenceSet, SequenceSet]:
    """Hold out a stratified, seeded ``fraction`` of every class of ``data`` as its test split
    (a class with one case stays in training). Raises DataFormatError when nothing is held out."""
    if data.labels is None:
        raise DataFormatError(f"{data.source}: the data has no labels")
    if not 0 < fraction < 1:
        raise InputError(f"the test fraction must lie in (0, 1), got {fraction}")
    y = data.label_ids(data.classes)
    train_idx, test_idx = stratified_split(y, fraction, seed)
    if len(test_idx) == 0:
        raise DataFormatError(f"{data.source}: too few cases to hold out a test split (every class has one case)")
    where = f"{fraction:g} of each class, seed {seed}"
    train_set = data.take(train_idx, f"{data.source} [train: all but a held-out {where}]")
    test_set = data.take(test_idx, f"{data.source} [test: {where}]")
    train_set.held_out = test_set.held_out = {"fraction": fraction, "seed": seed}
    return train_set, test_set




def _test_sibling(path: Path) -> Path | None:
    match = re.search(r"(train)(?=\.[^.]+$)", path.name, flags=re.I)
    if not match:
        return None
    test_word = {"TRAIN": "TEST", "train": "test", "Train": "Test"}.get(match.group(1), "test")
    sibling = path.with_name(path.name[: match.start()] + test_word + path.name[match.end():])
    return sibling if sibling.is_file() else None


def _train_file_in(folder: Path) -> Path:
    """The one training file in ``folder``; one data set in several formats (same name, other
    suffixes) is read from the first suffix of SEQUENCE_SUFFIXES."""
    candidates = sorted(
        (p for p in folder.iterdir()
         if p.suffix.lower() in SEQUENCE_SUFFIXES and re.search(r"train\.[^.]+$", p.name, flags=re.I)),
        key=lambda p: (p.stem.lower(), SEQUENCE_SUFFIXES.index(p.suffix.lower())),
    )
    if len({p.stem.lower() for p in candidates}) != 1:
        raise DataFormatError(
            f"{folder}: expected one training file ('*TRAIN' or '*train' with a suffix of {list(SEQUENCE_SUFFIXES)}), "
            f"found {[p.name for p in candidates]}"
        )
    return candidates[0]


def holds_wav(folder: Path) -> bool:
    return folder.is_dir() and any(p.suffix.lower() == ".wav" for p in folder.rglob("*"))


def load_train_test(data: str | Path, test: str | Path | None = None, label_regex: str | None = None,
                    test_regex: str | None = None, strip: tuple[str, ...] = (), test_fraction: float | None = None,
                    seed: int = 0) -> tuple[SequenceSet, SequenceSet]:
    """Find and read the training and test splits.

    ``data`` is a training file (``X_TRAIN.ts``, ``x_train.npz``, ...) or a folder holding one;
    the test split is ``test`` when given, else the sibling file with TEST for TRAIN in its name.
    A folder of WAV files (runtime/wav.py) is split by ``test_regex`` or takes ``test`` as a
    second folder; ``label_regex`` takes each label from its file name.
    Text (runtime/corpus.py): a folder with one sub-folder of documents per class, or a ``.csv``
    file (columns text, label); the test split is ``test``, else the sibling with test for train
    in its name (``20news-bydate-train`` -> ``20news-bydate-test``). ``strip``: parts of Usenet
    posts to remove (some of headers, footers, quotes).
    Data that comes without a test split (no ``test``, no sibling, a WAV folder without
    ``test_regex``) gives up a stratified ``test_fraction`` of each class, drawn with ``seed``
    (``split_off_test``); with ``test_fraction`` None it is refused.
    Raises DataFormatError when no test split is found or the two splits disagree.
    """
    data = Path(data)
    if not data.exists():
        raise DataFormatError(f"{data}: no such file or folder")
    if strip and not is_text(data):
        raise InputError(f"--strip applies to text data; {data} is not a folder of text documents or a .csv file")
    if is_text(data):
        train_set, test_path = read_text(data, strip), Path(test) if test is not None else _text_test_sibling(data)
        read_test, missing = (lambda path: read_text(path, strip)), "a folder or file with test for train in its name"
    elif holds_wav(data):
        return _load_wav_splits(data, test, label_regex, test_regex, test_fraction, seed)
    else:
        train_path = _train_file_in(data) if data.is_dir() else data
        train_set, test_path = read_sequences(train_path), Path(test) if test is not None else _test_sibling(train_path)
        read_test, missing = read_sequences, "a file with TEST for TRAIN in its name"
    if test_path is None:
        if test_fraction is None:
            raise DataFormatError(f"{data}: found no test split beside it ({missing}); pass --test PATH or --test-fraction F")
        return split_off_test(train_set, test_fraction, seed)
    if not test_path.exists():
        raise DataFormatError(f"{test_path}: no such file or folder")
    test_set = read_test(test_path)
    check_compatible(train_set, test_set)
    return train_set, test_set


def read_held_out(data: Path, label_regex: str | None = None, test_regex: str | None = None,
                  strip: tuple[str, ...] = ()) -> SequenceSet:
    """Held-out data for checks: a text folder or .csv file read whole, the test split of another
    folder (for WAV folders, the one ``test_regex`` picks), or a .ts/.npz file."""
    if is_text(data):
        return read_text(data, strip)
    if data.is_dir():
        return load_train_test(data, label_regex=label_regex, test_regex=test_regex)[1]
    return read_sequences(data)


def is_text(data: Path) -> bool:
    """A .csv file with a text column, or a folder of class folders of text documents (runtime/corpus.py)."""
    return csv_holds_text(data) if data.is_file() else is_text_folder(data)


def read_text(path: Path, strip: tuple[str, ...] = ()) -> SequenceSet:
    """A text folder or .csv file as a SequenceSet of str sequences."""
    texts = read_text_csv(path, strip) if path.is_file() else read_text_folder(path, strip)
    return SequenceSet(list(texts.texts), list(texts.labels), list(texts.classes), texts.name, texts.source)


def _text_test_sibling(path: Path) -> Path | None:
    match = list(re.finditer(r"train", path.name, flags=re.I))
    if not match:
        return None
    word = match[-1].group()
    test_word = "TEST" if word.isupper() else "Test" if word[0].isupper() else "test"
    sibling = path.with_name(path.name[: match[-1].start()] + test_word + path.name[match[-1].end():])
    return sibling if sibling.exists() else None


def _load_wav_splits(data: Path, test: str | Path | None, label_regex: str | None, test_regex: str | None,
                     test_fraction: float | None, seed: int) -> tuple[SequenceSet, SequenceSet]:
    if test is not None and test_regex is not None:
        raise InputError("pass either --test (a second folder) or --test-regex (a split of DATA), not both")
    if test is None and test_regex is None:
        train_set, listed_test = read_wav_folder(data, label_regex)
        if listed_test is not None:  # the Speech Commands layout: its own testing_list.txt
            return train_set, listed_test
        if test_fraction is None:
            raise DataFormatError(f"{data}: a folder of WAV files needs a test split: --test FOLDER, --test-regex PATTERN "
                                  "or --test-fraction F")
        return split_off_test(train_set, test_fraction, seed)
    train_set, test_set = read_wav_folder(data, label_regex, test_regex)
    if test is not None:
        test_set, _ = read_wav_folder(test, label_regex)
    check_compatible(train_set, test_set)
    return train_set, test_set


def check_compatible(train_set: SequenceSet, test_set: SequenceSet) -> None:
    """Both splits labelled, same feature count, and every test label known to training."""
    for split in (train_set, test_set):
        if split.labels is None:
            raise DataFormatError(f"{split.source}: training and test data need labels")
    if train_set.input_kind != test_set.input_kind:
        raise DataFormatError(f"{test_set.source}: holds {test_set.input_kind}; the training split holds {train_set.input_kind}")
    if train_set.sample_rate != test_set.sample_rate:
        raise DataFormatError(f"{test_set.source}: {test_set.sample_rate} Hz; the training split is {train_set.sample_rate} Hz")
    if train_set.features != test_set.features:
        raise DataFormatError(
            f"{test_set.source}: {test_set.features} features per step; the training split has {train_set.features}"
        )
    unknown = sorted(set(test_set.labels) - set(train_set.classes))
    if unknown:
        raise DataFormatError(
            f"{test_set.source}: labels {unknown} do not occur in the training split's classes {train_set.classes}"
        )
    missing = sorted(set(train_set.classes) - set(train_set.labels))
    if missing:
        raise DataFormatError(f"{train_set.source}: classes {missing} have no training cases")


# what a front end (runtime/frontend.py, by its ``kind``) takes: SequenceSet.input_kind
FRONTEND_INPUT = {"features": "features", "framed_features": "features", "logmel": "audio", "text": "text",
                  "token_ids": "tokens"}


def check_fits_model(data: SequenceSet, model) -> None:
    """``data`` is what ``model`` (a runtime Model) was trained on: the same kind of input, the same
    values per step (or the same sample rate), and labels, when it has them, among the model's
    classes. Raises DataFormatError saying plainly that the two do not belong together, before
    anything is run."""
    frontend, trained_on = model.frontend, model.metadata.dataset.get("name") or "its training data"
    takes = FRONTEND_INPUT.get(frontend.kind, frontend.kind)
    apart = f"the data and {model.path.name} (trained on {trained_on}) do not belong together"
    if len(data) and data.input_kind != takes:
        raise DataFormatError(f"{data.source}: holds {data.input_kind}, but the model takes {takes}; {apart}")
    if len(data) and takes == "features":
        expected = frontend.raw_features if frontend.kind == "framed_features" else frontend.features
        if data.features != expected:
            raise DataFormatError(f"{data.source}: {features_text(data.features)} per step, but the model takes {expected}; {apart}")
    if takes == "audio" and data.sample_rate != frontend.config.sample_rate:
        raise DataFormatError(f"{data.source}: {data.sample_rate} Hz audio, but the model takes {frontend.config.sample_rate} Hz; "
                              f"{apart}")
    unknown = sorted(set(data.labels or ()) - set(model.labels))
    if unknown:
        raise DataFormatError(f"{data.source}: labels {unknown[:10]}{' ...' if len(unknown) > 10 else ''} are not among the "
                              f"model's classes {model.labels[:20]}; {apart}")


def features_text(count: int) -> str:
    """1 feature, 6 features."""
    return f"{count} feature{'' if count == 1 else 's'}"
