"""Interrupted work: SIGKILL in the middle of training and of export leaves no partial artifact under
its final name, and `train --resume` reaches the uninterrupted run's exact weights."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import onnx
import torch

from edgernn.trainer.config import TrainConfig
from edgernn.trainer.train import TRAIN_STATE, train

SETTINGS = {"cell": "gru", "hidden": 16}
CONFIG = dict(epochs=4, batch_size=32, seed=0, threads=1)

# Kills its own process (SIGKILL: no cleanup runs) halfway through writing the n-th file whose
# name contains MATCH; every earlier write completes.
KILL_DURING_WRITE = """
import os, signal
import edgernn.runtime.files as files
real_write = files.write_bytes_atomic
seen = {"n": 0}
def write_then_die(path, data):
    if MATCH in str(path):
        seen["n"] += 1
        if seen["n"] == NTH:
            import tempfile
            fd, name = tempfile.mkstemp(prefix="." + os.path.basename(str(path)) + ".", suffix=".tmp", dir=os.path.dirname(str(path)))
            os.write(fd, data[: len(data) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
    return real_write(path, data)
files.write_bytes_atomic = write_then_die
"""


def run_killed(tmp_path: Path, match: str, nth: int, body: str) -> subprocess.CompletedProcess:
    script = tmp_path / "job.py"
    script.write_text(f"MATCH, NTH = {match!r}, {nth}\n" + KILL_DURING_WRITE + textwrap.dedent(body))
    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600)


def test_killed_training_resumes_to_the_uninterrupted_weights(tmp_path, sample_dir):
    killed = tmp_path / "killed"
    # Killed while writing the state after epoch 3: the state on disk is epoch 2's, whole.
    result = run_killed(tmp_path, TRAIN_STATE, 3, f"""
        from edgernn.trainer.train import train
        from edgernn.trainer.config import TrainConfig
        import edgernn.trainer.train as t
        t.write_bytes_atomic = write_then_die  # train.py imported the name before the patch
        t.STATE_EVERY_S = 0.0  # a state after every epoch, as a slow run writes them
        train({str(sample_dir)!r}, {str(killed)!r}, {SETTINGS!r}, TrainConfig(**{CONFIG!r}), log=lambda m: None)
    """)
    assert result.returncode == -9, result.stderr
    names = sorted(p.name for p in killed.iterdir())
    assert "model.pt" not in names and "history.json" not in names and TRAIN_STATE in names
    state = torch.load(killed / TRAIN_STATE, weights_only=True)
    assert state["epoch"] == 2 and len(state["history"]) == 2

    from click.testing import CliRunner

    from edgernn.cli.main import cli

    resumed = CliRunner().invoke(cli, ["train", "--resume", str(killed), "--threads", "1", "--json"])
    assert resumed.exit_code == 0, resumed.output
    assert not (killed / TRAIN_STATE).exists()
    reference = train(sample_dir, tmp_path / "whole", SETTINGS, TrainConfig(**CONFIG), log=lambda m: None)
    got = torch.load(killed / "model.pt", weights_only=True)["state_dict"]
    want = torch.load(reference.checkpoint, weights_only=True)["state_dict"]
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    history = json.loads((killed / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    assert [r["loss"] for r in history] == [r.loss for r in reference.history]


def test_resume_refuses_a_finished_or_foreign_folder(tmp_path, quick_runs):
    from click.testing import CliRunner

    from edgernn.cli.main import cli

    done = CliRunner().invoke(cli, ["train", "--resume", str(quick_runs["gru"][0])])
    assert done.exit_code == 2 and "no train_state.pt to resume from (the run is complete" in done.output
    (tmp_path / TRAIN_STATE).write_bytes(b"garbage")
    bad = CliRunner().invoke(cli, ["train", "--resume", str(tmp_path)])
    assert bad.exit_code == 2 and "train_state.pt: refused to load: not a weights-only training state" in bad.output
    both = CliRunner().invoke(cli, ["train", str(tmp_path), "--resume", str(tmp_path)])
    assert both.exit_code == 2 and "give no DATA" in both.output


def test_killed_export_leaves_finished_files_whole_and_no_partial_one(tmp_path, quick_runs):
    out = tmp_path / "export"
    checkpoint = quick_runs["rnn"][0] / "model.pt"
    result = run_killed(tmp_path, "model.int8-dynamic.onnx", 1, f"""
        import edgernn.export.exporter as e
        e.write_bytes_atomic = write_then_die
        e.export({str(checkpoint)!r}, {str(out)!r}, ("fp32", "int8-dynamic"), log=lambda m: None)
    """)
    assert result.returncode == -9, result.stderr
    finals = sorted(p.name for p in out.iterdir() if not p.name.startswith("."))
    assert finals == ["model.fp32.onnx"]
    onnx.checker.check_model(onnx.load(out / "model.fp32.onnx"), full_check=True)
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert leftovers and all(n.startswith(".model.int8-dynamic.onnx.") and n.endswith(".tmp") for n in leftovers)
