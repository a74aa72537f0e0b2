"""Files given in the wrong place get a message that says what the file is and what to give;
`info` takes a run folder; `predict` prints a header; `predict` and `check` refuse data that does not
belong to the model."""

from __future__ import annotations

import json

import numpy as np

from click.testing import CliRunner

from edgernn.cli.main import cli
from edgernn.runtime.file_kinds import file_kind
from support import write_ts


def test_file_kinds_are_told_apart_from_their_bytes(quick_runs, tmp_path):
    run_dir, _, artifacts = quick_runs["gru"]
    (tmp_path / "noise.bin").write_bytes(b"\x00" * 64)
    assert file_kind(run_dir / "model.pt") == "checkpoint"
    assert file_kind(artifacts["fp32"].path) == "onnx"
    assert file_kind(run_dir) == "folder"
    assert file_kind(tmp_path / "noise.bin") is None


def test_a_checkpoint_given_as_a_graph_and_a_graph_given_as_a_checkpoint(quick_runs, sample_test_file):
    run_dir, _, artifacts = quick_runs["gru"]
    predict = CliRunner().invoke(cli, ["predict", str(run_dir / "model.pt"), str(sample_test_file)])
    assert predict.exit_code == 2
    assert (f"{run_dir / 'model.pt'} is a PyTorch checkpoint (model.pt), not an exported graph: export it first "
            "(`edgernn export RUN`), then give RUN/model.<precision>.onnx") in predict.output
    graph = str(artifacts["fp32"].path)
    export = CliRunner().invoke(cli, ["export", graph])
    assert export.exit_code == 2
    assert f"{graph} is an exported ONNX graph, not a checkpoint: give the run's model.pt (or its run folder)" in export.output


def test_info_describes_every_graph_of_a_run_folder(quick_runs, tmp_path):
    run_dir, _, artifacts = quick_runs["gru"]
    result = CliRunner().invoke(cli, ["info", str(run_dir), "--json"])
    assert result.exit_code == 0, result.output
    described = json.loads(result.output)
    assert sorted(d["precision"] for d in described) == sorted(artifacts)
    empty = CliRunner().invoke(cli, ["info", str(tmp_path)])
    assert empty.exit_code == 2 and "holds no exported graph (model.<precision>.onnx)" in empty.output


def test_predict_rows_have_a_header(quick_runs, sample_test_file):
    _, _, artifacts = quick_runs["gru"]
    result = CliRunner().invoke(cli, ["predict", str(artifacts["fp32"].path), str(sample_test_file), "--limit", "2"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["case", "predicted", "score", "label"] and lines[1].split()[0] == "0"


def test_check_refuses_a_reference_or_checkpoint_of_another_run(raw_input_runs, sample_test_file):
    plain_checkpoint, plain = raw_input_runs["plain"]
    framed_checkpoint, framed = raw_input_runs["framed"]
    quantized = plain["int8-dynamic"].path
    against = CliRunner().invoke(cli, ["check", str(quantized), "--data", str(sample_test_file),
                                       "--reference", str(framed["fp32"].path)])
    assert against.exit_code == 2
    assert f"{quantized} and {framed['fp32'].path} come from different training runs (checkpoint SHA-256 " in against.output
    assert "check a graph against the checkpoint and fp32 graph of its own run" in against.output
    foreign = CliRunner().invoke(cli, ["check", str(plain["fp32"].path), "--data", str(sample_test_file),
                                       "--checkpoint", str(framed_checkpoint)])
    assert foreign.exit_code == 2 and "come from different training runs" in foreign.output
    own = CliRunner().invoke(cli, ["check", str(plain["fp32"].path), "--data", str(sample_test_file),
                                   "--checkpoint", str(plain_checkpoint)])
    assert own.exit_code == 0, own.output


def test_predict_and_check_refuse_data_that_does_not_belong_to_the_model(quick_runs, tmp_path):
    """JapaneseVowels graphs (12 features, classes 1-9) given another data set: the message names
    what differs and the data set the model was trained on, before anything runs."""
    _, _, artifacts = quick_runs["gru"]
    graph = artifacts["fp32"].path
    rng = np.random.default_rng(0)
    six = write_ts(tmp_path / "six.ts", [rng.standard_normal((20, 6)) for _ in range(4)], ["1", "2", "1", "2"])
    other_labels = write_ts(tmp_path / "walk.ts", [rng.standard_normal((20, 12)) for _ in range(4)], ["walk", "run", "1", "walk"])
    documents = tmp_path / "docs.csv"
    documents.write_text("text,label\nthe launch window opens at dawn,space\nthe game went to overtime,sport\n")
    apart = f"the data and {graph.name} (trained on JapaneseVowels) do not belong together"
    cases = [(six, f"{six}: 6 features per step, but the model takes 12; {apart}"),
             (other_labels, f"{other_labels}: labels ['run', 'walk'] are not among the model's classes "
                            f"['1', '2', '3', '4', '5', '6', '7', '8', '9']; {apart}"),
             (documents, f"{documents}: holds text, but the model takes features; {apart}")]
    for data, message in cases:
        for args in (["predict", str(graph), str(data)], ["check", str(graph), "--data", str(data)]):
            result = CliRunner().invoke(cli, args)
            assert result.exit_code == 2, (args, result.output)
            assert message in " ".join(result.output.split()), (args, result.output)
