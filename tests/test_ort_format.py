"""ORT-format files for onnxruntime's minimal builds (export/ort_format.py) and the operators a
graph needs (runtime/external_data.py, runtime/ort_packages.py, `edgernn info`)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from onnx import TensorProto, helper

from edgernn.runtime import InputError, Model
from edgernn.runtime.external_data import is_ort_format, required_operators
from edgernn.runtime.ort_packages import missing_from_reduced_mobile


@pytest.fixture(scope="module")
def ort_export(raw_input_runs, tmp_path_factory):
    from edgernn.cli.main import cli

    out = tmp_path_factory.mktemp("ort")
    result = CliRunner().invoke(cli, ["export", str(raw_input_runs["plain"][0]), "--precision", "fp32", "--precision",
                                      "int8-dynamic", "--format", "ort", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_export_writes_ort_files_that_pass_the_gates_and_give_the_graphs_answers(ort_export, sample_test_file):
    from edgernn.runtime.datasets import read_ts

    out, payload = ort_export
    sequences = read_ts(sample_test_file).sequences
    for precision in ("fp32", "int8-dynamic"):
        ort_path = out / f"model.{precision}.ort"
        assert payload[precision]["ort"]["path"] == str(ort_path) and payload[precision]["ort"]["bytes"] == ort_path.stat().st_size
        assert is_ort_format(ort_path.read_bytes()) and not is_ort_format((out / f"model.{precision}.onnx").read_bytes())
        from_ort, from_onnx = Model(ort_path), Model(out / f"model.{precision}.onnx")
        assert from_ort.metadata.to_props() == from_onnx.metadata.to_props()  # the metadata travels
        np.testing.assert_allclose(from_ort.predict(sequences), from_onnx.predict(sequences), atol=1e-6)
    config = [line.split(";") for line in (out / "required_operators.config").read_text().splitlines() if line]
    assert all(domain == "ai.onnx" and version.isdigit() for domain, version, _ in config)
    assert "GRU" in {op for *_, ops in config for op in ops.split(",")}
    assert not list(out.glob(".*"))  # no temporary file left behind


def test_info_lists_the_operators_and_what_the_reduced_mobile_package_lacks(ort_export):
    from edgernn.cli.main import cli

    out, _ = ort_export
    graph = json.loads(CliRunner().invoke(cli, ["info", str(out / "model.fp32.onnx"), "--json"]).stdout)
    assert {"ai.onnx;17;GRU", "ai.onnx;17;Sub", "ai.onnx;17;MatMul"} <= set(graph["operators"])
    assert graph["missing_from_reduced_mobile_package"] == ["ai.onnx:GRU", "ai.onnx opset 17"]
    ort_file = json.loads(CliRunner().invoke(cli, ["info", str(out / "model.fp32.ort"), "--json"]).stdout)
    assert ort_file["operators"] is None and ort_file["cell"] == "gru"
    human = CliRunner().invoke(cli, ["info", str(out / "model.int8-dynamic.onnx")]).stdout
    assert "operators: ai.onnx opset 17: " in human and "lacks: ai.onnx:GRU, ai.onnx opset 17" in human


def test_required_operators_reads_nested_graphs_and_domains():
    branch = lambda op: helper.make_graph([helper.make_node(op, ["x"], ["y"])], op, [], [  # noqa: E731
        helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    node = helper.make_node("If", ["c"], ["y"], then_branch=branch("Neg"), else_branch=branch("Identity"))
    custom = helper.make_node("FusedMatMul", ["y", "y"], ["z"], domain="com.microsoft")
    graph = helper.make_graph([node, custom], "g", [helper.make_tensor_value_info("c", TensorProto.BOOL, [1]),
                                                    helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.microsoft", 1)])
    found = required_operators(model.SerializeToString())
    assert found == [("ai.onnx", 13, "Identity"), ("ai.onnx", 13, "If"), ("ai.onnx", 13, "Neg"),
                     ("com.microsoft", 1, "FusedMatMul")]
    assert missing_from_reduced_mobile(found) == []
    assert missing_from_reduced_mobile([("ai.onnx", 14, "LSTM"), ("com.microsoft", 1, "DynamicQuantizeLSTM")]) == [
        "ai.onnx:LSTM", "com.microsoft:DynamicQuantizeLSTM"]
    with pytest.raises(ValueError, match="no graph: not an ONNX model"):
        required_operators(helper.make_model(helper.make_graph([], "g", [], [])).SerializeToString()[:2])
    with pytest.raises(ValueError, match="wire type"):
        required_operators(b"\x0f\xff not protobuf")


def test_an_unknown_format_is_refused_with_the_ones_there_are(raw_input_runs, tmp_path):
    from edgernn.export.exporter import export

    with pytest.raises(InputError, match=r"unknown format \['tflite'\]; available: \['onnx', 'ort'\]"):
        export(raw_input_runs["plain"][0], tmp_path, ("fp32",), formats=("onnx", "tflite"), log=lambda m: None)
    assert not list(tmp_path.iterdir())
