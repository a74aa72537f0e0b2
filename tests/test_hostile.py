"""Hostile model files: external data that would be read from outside the model's folder."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import external_data_helper, numpy_helper

from edgernn.runtime import Model, ModelFileError
from edgernn.runtime.external_data import check_external_data, external_data_locations


def with_external_weight(source: Path, target: Path, location: str, data_file: Path) -> Path:
    """A copy of ``source`` whose recurrent weight R is read from ``data_file`` via ``location``."""
    model = onnx.load(source)
    tensor = next(i for i in model.graph.initializer if len(i.dims) == 3 and i.dims[2] == i.dims[1] // 3)
    raw = numpy_helper.to_array(tensor).tobytes()
    data_file.parent.mkdir(parents=True, exist_ok=True)
    data_file.write_bytes(raw)
    tensor.ClearField("raw_data")
    tensor.ClearField("float_data")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", str(len(raw)))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(model.SerializeToString())
    return target


@pytest.mark.parametrize("location, message", [
    ("../secret.bin", "points outside the model's folder"),
    ("sub/../../secret.bin", "points outside the model's folder"),
    ("ABSOLUTE", "must be a relative path inside the model's folder"),
    ("absent.bin", "is missing beside the model"),
])
def test_external_data_outside_the_folder_is_refused(tmp_path, gru_onnx, location, message):
    secret = tmp_path / "secret.bin"
    if location == "ABSOLUTE":
        location = str(secret)
    model = with_external_weight(gru_onnx, tmp_path / "models" / "evil.onnx", location, secret)
    with pytest.raises(ModelFileError, match=message):
        Model(model)


def test_a_symlink_that_leaves_the_folder_is_refused(tmp_path, gru_onnx):
    model = with_external_weight(gru_onnx, tmp_path / "models" / "evil.onnx", "weights.bin", tmp_path / "secret.bin")
    os.symlink(tmp_path / "secret.bin", tmp_path / "models" / "weights.bin")
    with pytest.raises(ModelFileError, match="points outside the model's folder"):
        Model(model)


def test_external_data_inside_the_folder_loads_and_runs_the_same(tmp_path, gru_onnx, sample_test_file):
    from edgernn.runtime.datasets import read_ts

    proto = onnx.load(gru_onnx)
    external_data_helper.convert_model_to_external_data(proto, location="weights.bin", size_threshold=1024)
    onnx.save(proto, tmp_path / "model.onnx")
    assert external_data_locations((tmp_path / "model.onnx").read_bytes()) != []
    sequences = read_ts(sample_test_file).sequences[:20]
    np.testing.assert_allclose(Model(tmp_path / "model.onnx").predict(sequences), Model(gru_onnx).predict(sequences), atol=1e-6)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_the_scan_of_arbitrary_bytes_raises_only_value_errors(data):
    try:
        external_data_locations(data)
    except ValueError:
        pass
    try:  # malformed bytes are left to onnxruntime; a well-formed hostile location is refused
        check_external_data(Path("/nonexistent/model.onnx"), data)
    except ModelFileError:
        pass


def test_model_paths_are_never_run_through_a_shell(tmp_path, gru_onnx, monkeypatch):
    """The runtime's one subprocess (bench's memory probe) gets the path as data, not as code or
    shell words: a name full of quotes and shell syntax is just a name."""
    from edgernn.runtime.bench import runtime_footprint

    odd = tmp_path / "a 'quoted' \"name\" $(touch pwned) `touch pwned2`; rm -rf x.onnx"
    odd.write_bytes(Path(gru_onnx).read_bytes())
    monkeypatch.chdir(tmp_path)
    probe = runtime_footprint(odd, steps=10)
    assert probe["peak_rss_mb"] > 0 and probe["heavy_modules"] == []
    assert not (tmp_path / "pwned").exists() and not (tmp_path / "pwned2").exists()
    assert Model(odd).labels == Model(gru_onnx).labels
