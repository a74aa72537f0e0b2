"""Series stored as tables (runtime/tables.py): UCR .tsv, Weka .arff, numeric CSV, each read into
what the same cases give as a .ts file; padding, hostile rows, and regression files refused."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgernn.runtime.datasets import read_sequences, read_ts

from edgernn.runtime.splits import load_train_test
from edgernn.runtime.errors import DataFormatError
from edgernn.runtime.tables import read_arff, read_numeric_csv, read_tsv

SERIES = [np.array([0.5, -1.25, 3.0]), np.array([2.0, 0.0]), np.array([1.5, 1.5, 1.5])]
LABELS = ["b", "a", "b"]


def write_ts(path: Path, series=SERIES, labels=LABELS) -> Path:
    rows = "".join(f"{','.join(map(str, s))}:{label}\n" for s, label in zip(series, labels))
    path.write_text(f"@problemName toy\n@classLabel true {' '.join(sorted(set(labels)))}\n@data\n{rows}")
    return path


def assert_same_cases(got, want) -> None:
    assert got.labels == want.labels and got.classes == want.classes
    assert len(got) == len(want)
    for a, b in zip(got.sequences, want.sequences):
        assert a.dtype == np.float32 and a.shape == b.shape
        np.testing.assert_array_equal(a, b)


def test_ucr_tsv_reads_like_the_ts_file_with_nan_padding_and_float_labels(tmp_path):
    longest = max(len(s) for s in SERIES)
    label_text = {"a": "1.0000000e+00", "b": "2"}  # UCR writes integer labels as floats at times
    lines = ["\t".join([label_text[label], *map(str, s), *["NaN"] * (longest - len(s))]) for s, label in zip(SERIES, LABELS)]
    tsv = tmp_path / "toy_TRAIN.tsv"
    tsv.write_text("\n".join(lines) + "\n")
    got = read_tsv(tsv)
    want = write_ts(tmp_path / "toy.ts", labels=["2" if lab == "b" else "1" for lab in LABELS])
    assert_same_cases(got, read_ts(want))
    assert got.name == "toy" and read_sequences(tsv).classes == ["1", "2"]


def test_arff_numeric_and_relational_read_like_the_ts_file(tmp_path):
    equal = [s[:2] for s in SERIES]
    numeric = tmp_path / "uni.arff"
    numeric.write_text("% a comment\n@relation toy\n@attribute t0 numeric\n@attribute t1 real\n"
                       "@attribute target {a,b}\n\n@data\n" + "".join(f"{s[0]},{s[1]},{lab}\n" for s, lab in zip(equal, LABELS)))
    assert_same_cases(read_arff(numeric), read_ts(write_ts(tmp_path / "uni.ts", equal)))
    two_channels = [np.stack([s[:2], -s[:2]], axis=1) for s in SERIES]
    relational = tmp_path / "multi.arff"
    rows = "".join("'" + "\\n".join(",".join(map(str, s[:, c])) for c in range(2)) + f"',{lab}\n"
                   for s, lab in zip(two_channels, LABELS))
    relational.write_text("@relation toy\n@attribute series relational\n@attribute t0 numeric\n@attribute t1 numeric\n"
                          "@end series\n@attribute class {a,b}\n@data\n" + rows)
    got = read_arff(relational)
    assert got.classes == ["a", "b"] and got.labels == LABELS
    for a, b in zip(got.sequences, two_channels):
        np.testing.assert_array_equal(a, b)


def test_numeric_csv_with_or_without_a_header_and_a_named_label_column(tmp_path):
    plain = tmp_path / "plain.csv"
    plain.write_text("".join(f"{lab},{','.join(map(str, s))}\n" for s, lab in zip(SERIES, LABELS)))
    headed = tmp_path / "headed.csv"
    headed.write_text("t0,t1,t2,Class\n" + "".join(f"{','.join(map(str, s))}{',' * (4 - len(s))}{lab}\n"
                                                   for s, lab in zip(SERIES, LABELS)))
    want = read_ts(write_ts(tmp_path / "toy.ts"))
    assert_same_cases(read_numeric_csv(plain), want)
    assert_same_cases(read_sequences(headed), want)  # a CSV without a text column is numeric


def test_a_ucr_folder_in_three_formats_trains_from_the_ts_file(tmp_path):
    folder = tmp_path / "toy"
    folder.mkdir()
    for split in ("TRAIN", "TEST"):
        write_ts(folder / f"toy_{split}.ts")
        (folder / f"toy_{split}.tsv").write_text("not read\n")
        (folder / f"toy_{split}.arff").write_text("not read\n")
    train_set, test_set = load_train_test(folder)
    assert train_set.source.endswith("toy_TRAIN.ts") and test_set.source.endswith("toy_TEST.ts")
    tsv_train = folder / "toy_TRAIN.tsv"
    tsv_train.write_text("a\t1\t2\nb\t3\t4\n")
    (folder / "toy_TEST.tsv").write_text("b\t5\t6\n")
    train_set, test_set = load_train_test(tsv_train)  # the test sibling keeps the suffix
    assert len(train_set) == 2 and test_set.labels == ["b"]


@pytest.mark.parametrize("suffix, content, message", [
    (".tsv", "a\t1\t?\t3\n", r"value 2 is missing \('\?'\)"),
    (".tsv", "a\t1\tNaN\t3\n", "value 2 is 'NaN'; only trailing NaN"),
    (".tsv", "a\t1\tx\n", "value 2: 'x' is not a number"),
    (".tsv", "a 1 2 3\n", "expected a label and values separated by tabs"),
    (".tsv", "a\tNaN\tNaN\n", "no values"),
    (".tsv", "", "no cases"),
    (".arff", "@relation r\n@attribute t0 numeric\n@attribute y numeric\n@data\n1,2\n", "regression data is not supported"),
    (".arff", "@relation r\n@attribute t0 numeric\n@attribute c {a,b}\n@data\n1,z\n",
     r"unknown label 'z'; the class attribute declares \['a', 'b'\]"),
    (".arff", "@relation r\n@attribute t0 numeric\n@attribute c {a,b}\n@data\n1,2,a\n",
     "3 values; the header declares 1 steps and a class"),
    (".arff", "@relation r\n@attribute t0 string\n", "attribute type 'string' is not supported"),
    (".arff", "@relation r\n@attribute t0 numeric\n@attribute c {a}\n", "missing '@data' line"),
    (".arff", "@relation r\n@attribute s relational\n@attribute t numeric\n@end s\n@attribute c {a}\n@data\n'1,2\\n3',a\n",
     r"ragged channels, lengths \[1, 2\]"),
    (".csv", "label,t0\n,1\n", "empty label in column 1"),
    (".csv", "\n\n", "empty CSV file"),
    (".ts", "@problemName r\n@targetLabel true\n@data\n1,2:0.5\n", "@targetlabel true: regression data is not supported"),
])
def test_hostile_tables_are_refused_naming_the_problem(tmp_path, suffix, content, message):
    path = tmp_path / f"bad{suffix}"
    path.write_text(content)
    with pytest.raises(DataFormatError, match=message):
        read_sequences(path)


def test_a_real_ucr_set_reads_the_same_from_ts_tsv_arff_and_csv(tmp_path):
    from support import shared_data

    cases = read_ts(shared_data("ucr", "GunPoint_TRAIN.ts"))
    values = [",".join(f"{v:.9g}" for v in s[:, 0]) for s in cases.sequences]
    tsv = tmp_path / "GunPoint_TRAIN.tsv"
    tsv.write_text("".join(f"{label}\t{v.replace(',', chr(9))}\n" for v, label in zip(values, cases.labels)))
    arff = tmp_path / "GunPoint_TRAIN.arff"
    steps = len(cases.sequences[0])
    arff.write_text("@relation GunPoint\n" + "".join(f"@attribute t{i} numeric\n" for i in range(steps))
                    + "@attribute target {1,2}\n@data\n" + "".join(f"{v},{label}\n" for v, label in zip(values, cases.labels)))
    csv_file = tmp_path / "GunPoint_TRAIN.csv"
    csv_file.write_text("".join(f"{label},{v}\n" for v, label in zip(values, cases.labels)))
    for path in (tsv, arff, csv_file):
        got = read_sequences(path)
        assert got.name == "GunPoint" and len(got) == 50
        assert_same_cases(got, cases)
