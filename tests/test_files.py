"""Atomic writes (runtime/files.py): a failed write leaves the old file and no temporary behind."""

from __future__ import annotations

import json
import os
import stat

import pytest

from edgernn.runtime.files import file_sha256, write_bytes_atomic, write_json_atomic


def test_write_replaces_atomically_and_cleans_up(tmp_path):
    target = tmp_path / "sub" / "a.bin"
    write_bytes_atomic(target, b"old")
    write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"new" and [p.name for p in target.parent.iterdir()] == ["a.bin"]
    write_json_atomic(tmp_path / "r.json", {"k": [1, 2]})
    assert json.loads((tmp_path / "r.json").read_text()) == {"k": [1, 2]}
    assert file_sha256(target) == "11507a0e2f5e69d5dfa40a62a1bd7b6ee57e6bcd85c67c9b8431b36fff21c437"


def test_interrupted_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "a.json"
    write_bytes_atomic(target, b"old")

    class Unserialisable:
        pass

    with pytest.raises(TypeError):
        write_json_atomic(target, {"x": Unserialisable()})

    with pytest.raises(TypeError):
        write_bytes_atomic(target, 12345)  # not bytes: the write itself fails midway
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["a.json"]


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_are_as_readable_as_the_umask_says(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        written = write_json_atomic(tmp_path / "report.json", {"a": 1})
    finally:
        os.umask(previous)
    assert stat.S_IMODE(written.stat().st_mode) == mode
