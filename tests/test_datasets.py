"""The .ts and .npz readers (runtime/datasets.py) and train/test discovery (runtime/splits.py)."""

from __future__ import annotations

import numpy as np
import pytest

from edgernn.runtime.datasets import read_npz, read_sequences, read_ts

from edgernn.runtime.splits import load_train_test
from edgernn.runtime.errors import DataFormatError

HEADER = "@problemName Toy\n@dimensions 2\n@equalLength false\n@classLabel true a b\n@data\n"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_sample_japanese_vowels_reads_as_documented(sample_dir):
    train = read_ts(sample_dir / "JapaneseVowels_TRAIN.ts")
    test = read_ts(sample_dir / "JapaneseVowels_TEST.ts")
    assert (len(train), len(test)) == (270, 370)
    assert train.features == 12 and train.classes == [str(i) for i in range(1, 10)]
    assert train.lengths.min() == 7 and max(train.lengths.max(), test.lengths.max()) == 29
    assert all(s.dtype == np.float32 and s.shape[1] == 12 for s in train.sequences)
    assert train.name == "JapaneseVowels"
    # First value of the first case, from the file's first data line.
    assert train.sequences[0][0, 0] == pytest.approx(1.860936)


def test_ts_variable_length_case_is_time_major(tmp_path):
    data = read_ts(write(tmp_path, "t_TRAIN.ts", HEADER + "1,2,3:4,5,6:a\n7:8:b\n"))
    np.testing.assert_array_equal(data.sequences[0], [[1, 4], [2, 5], [3, 6]])
    assert data.labels == ["a", "b"] and data.lengths.tolist() == [3, 1]


@pytest.mark.parametrize("body, message", [
    ("1,2:3,4:5,6:a\n", "3 channels; @dimensions declares 2"),
    ("1,2,3:4,5:a\n", "ragged channels"),
    ("1,2:3,4:c\n", "unknown label 'c'"),
    ("1,x:3,4:a\n", "'x' is not a number"),
    ("1,?:3,4:a\n", "missing value"),
    ("", "followed by no cases"),
])
def test_ts_malformed_cases_name_the_problem(tmp_path, body, message):
    with pytest.raises(DataFormatError, match=message):
        read_ts(write(tmp_path, "bad.ts", HEADER + body))


def test_ts_without_data_section_is_refused(tmp_path):
    with pytest.raises(DataFormatError, match="missing '@data'"):
        read_ts(write(tmp_path, "bad.ts", "@problemName Toy\n@dimensions 2\n"))


def test_ts_binary_garbage_is_refused(tmp_path):
    path = tmp_path / "bad.ts"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DataFormatError, match="UTF-8"):
        read_ts(path)


def test_npz_roundtrip_with_lengths(tmp_path):
    x = np.arange(2 * 4 * 3, dtype=np.float64).reshape(2, 4, 3)
    np.savez(tmp_path / "d_train.npz", x=x, y=np.array([1, 0]), lengths=np.array([4, 2]))
    data = read_npz(tmp_path / "d_train.npz")
    assert data.lengths.tolist() == [4, 2] and data.classes == ["0", "1"] and data.labels == ["1", "0"]
    np.testing.assert_array_equal(data.sequences[1], x[1, :2])
    assert data.sequences[1].dtype == np.float32


@pytest.mark.parametrize("arrays, message", [
    ({"y": np.zeros(2)}, "missing array 'x'"),
    ({"x": np.zeros((2, 3))}, r"\[n, time, features\]"),
    ({"x": np.zeros((2, 3, 1)), "lengths": np.array([0, 3])}, r"lie in \[1, 3\]"),
    ({"x": np.full((1, 2, 1), np.nan)}, "NaN/Inf at step 0"),
    ({"x": np.zeros((2, 3, 1)), "y": np.zeros(3)}, r"'y' must have shape \[2\]"),
])
def test_npz_malformed(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(DataFormatError, match=message):
        read_npz(tmp_path / "bad.npz")


def test_npz_with_pickled_objects_is_refused_unopened(tmp_path):
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataFormatError, match="unpickling"):
        read_npz(tmp_path / "obj.npz")


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(DataFormatError, match=r"unknown data format '.xlsx'; expected one of \['.ts', '.tsv', '.arff', '.npz', '.csv'\]"):
        read_sequences(write(tmp_path, "data.xlsx", "a,b\n"))
    with pytest.raises(DataFormatError, match="no such file"):
        read_sequences(tmp_path / "absent.ts")


def test_train_test_discovery_from_folder_and_file(sample_dir):
    train, test = load_train_test(sample_dir)
    assert (len(train), len(test)) == (270, 370)
    train2, test2 = load_train_test(sample_dir / "JapaneseVowels_TRAIN.ts")
    assert len(test2) == 370


def test_missing_test_split_and_label_mismatch(tmp_path):
    alone = write(tmp_path, "only.ts", HEADER + "1:2:a\n3:4:b\n")
    with pytest.raises(DataFormatError, match="pass --test"):
        load_train_test(alone)
    other = write(tmp_path, "other.ts", HEADER.replace("a b", "a b z") + "1:2:z\n")
    with pytest.raises(DataFormatError, match=r"labels \['z'\] do not occur in the training split"):
        load_train_test(alone, other)
    wide = write(tmp_path, "wide.ts", HEADER.replace("@dimensions 2", "@dimensions 3") + "1:2:3:a\n")
    with pytest.raises(DataFormatError, match="3 features per step; the training split has 2"):
        load_train_test(alone, wide)


def test_npz_token_ids(tmp_path):
    np.savez(tmp_path / "t.npz", x=np.array([[1, 2, 0], [3, 0, 0]]), y=np.array(["a", "b"]),
             lengths=np.array([2, 1]), vocab_size=np.array(10))
    data = read_npz(tmp_path / "t.npz")
    assert data.input_kind == "tokens" and data.vocab_size == 10
    assert [s.tolist() for s in data.sequences] == [[1, 2], [3]] and data.sequences[0].dtype == np.int64
    np.savez(tmp_path / "bad.npz", x=np.array([[1, 2]]), vocab_size=np.array(2))
    with pytest.raises(DataFormatError, match="'vocab_size' must be an integer scalar above the largest id 2"):
        read_npz(tmp_path / "bad.npz")


def test_unlabelled_ts_reads_for_prediction(tmp_path):
    text = HEADER.replace("@classLabel true a b", "@classLabel false") + "1,2:3,4\n5:6\n"
    data = read_ts(write(tmp_path, "u.ts", text))
    assert data.labels is None and len(data) == 2
    with pytest.raises(DataFormatError, match="the data has no labels"):
        data.label_ids(["a"])


def test_a_file_without_a_test_sibling_is_split_only_when_asked(tmp_path, sample_dir):
    lone = tmp_path / "Vowels_TRAIN.ts"
    lone.write_bytes((sample_dir / "JapaneseVowels_TRAIN.ts").read_bytes())
    with pytest.raises(DataFormatError, match="found no test split beside it .*; pass --test PATH or --test-fraction F"):
        load_train_test(lone)
    train, test = load_train_test(lone, test_fraction=0.2, seed=0)
    assert (len(train), len(test)) == (216, 54) and train.classes == test.classes  # 30 cases per speaker, 6 held out
    assert all(test.labels.count(c) == 6 for c in test.classes) and test.held_out == {"fraction": 0.2, "seed": 0}
    train_given, test_given = load_train_test(sample_dir, test_fraction=0.2)  # a split of its own is kept
    assert (len(train_given), len(test_given)) == (270, 370) and test_given.held_out is None
