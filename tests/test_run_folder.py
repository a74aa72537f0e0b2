"""A run folder holds one model's files: a rerun into a used folder is refused unless --force,
which removes the old run's files (the old int8 graph among them) before the new run writes."""

from __future__ import annotations

from click.testing import CliRunner

from edgernn.cli.main import cli

QUICK = ["--hidden", "8", "--epochs", "1", "--threads", "1"]


def test_a_rerun_into_a_used_folder_is_refused_unless_forced(tmp_path, sample_dir):
    run = tmp_path / "run"
    first = CliRunner().invoke(cli, ["pipeline", str(sample_dir), *QUICK, "--precision", "fp32", "--precision", "int8-dynamic",
                                     "--out", str(run)])
    assert first.exit_code == 0, first.output
    (run / "notes.txt").write_text("mine")
    again = CliRunner().invoke(cli, ["pipeline", str(sample_dir), *QUICK, "--precision", "fp32", "--out", str(run)])
    assert again.exit_code == 2
    assert f"{run} already holds a run (history.json, metrics.json, model.fp32.onnx, model.int8-dynamic.onnx, model.pt, " \
           f"report.html, ...): choose another --out, or give --force to replace it" in again.output
    train = CliRunner().invoke(cli, ["train", str(sample_dir), *QUICK, "--out", str(run)])
    assert train.exit_code == 2 and "already holds a run" in train.output

    forced = CliRunner().invoke(cli, ["pipeline", str(sample_dir), *QUICK, "--precision", "fp32", "--out", str(run), "--force"])
    assert forced.exit_code == 0, forced.output
    assert sorted(p.name for p in run.iterdir()) == ["history.json", "metrics.json", "model.fp32.onnx", "model.pt",
                                                      "notes.txt", "report.html", "report.json"]
