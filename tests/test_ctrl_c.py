"""Ctrl-C: exit code 130 and a line naming `--resume` when a training state was saved; `pipeline
--resume` then finishes the run (training from the saved epoch, export, report)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

# Loaded through PYTHONPATH: a training state after every epoch, and Ctrl-C (KeyboardInterrupt)
# right after the second one is written.
CTRL_C_AFTER_SECOND_STATE = """
import edgernn.trainer.train as t
t.STATE_EVERY_S = 0.0
real_save, seen = t.save_training_state, {"n": 0}
def save_then_interrupt(path, call, state):
    real_save(path, call, state)
    seen["n"] += 1
    if seen["n"] == 2:
        raise KeyboardInterrupt
t.save_training_state = save_then_interrupt
"""

SETTINGS = ["--hidden", "16", "--epochs", "4", "--batch-size", "32", "--threads", "1"]


def edgernn(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgernn.cli", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


def test_ctrl_c_exits_130_naming_resume_and_pipeline_resumes(tmp_path, sample_dir):
    (tmp_path / "hook").mkdir()
    (tmp_path / "hook" / "sitecustomize.py").write_text(textwrap.dedent(CTRL_C_AFTER_SECOND_STATE))
    run = tmp_path / "run"
    hooked = {"PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path / "hook"), os.environ.get("PYTHONPATH")]))}
    stopped = edgernn("pipeline", str(sample_dir), *SETTINGS, "--precision", "fp32", "--out", str(run), env=hooked)
    assert stopped.returncode == 130, stopped.stderr[-3000:]
    assert f"interrupted: {run}/train_state.pt holds the last saved epoch; go on with `edgernn pipeline --resume {run}`" \
        in stopped.stderr
    assert sorted(p.name for p in run.iterdir()) == ["train_state.pt"]

    resumed = edgernn("pipeline", "--resume", str(run), "--precision", "fp32", "--json")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming after epoch 2 of 4" in resumed.stderr
    report = json.loads((run / "report.json").read_text())
    assert list(report["artifacts"]) == ["fp32"] and not (run / "train_state.pt").exists()
    assert [r["epoch"] for r in json.loads((run / "history.json").read_text())] == [1, 2, 3, 4]

    both = edgernn("pipeline", str(sample_dir), "--resume", str(run))
    assert both.returncode == 2 and "--resume takes its data and settings from the run: give no DATA" in both.stderr


def test_ctrl_c_without_a_saved_state_exits_130_without_a_hint(tmp_path, sample_dir):
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text("import edgernn.trainer.train as t\n"
                                           "def stop(*a, **k):\n    raise KeyboardInterrupt\n"
                                           "t.load_train_test = stop\n")
    result = edgernn("train", str(sample_dir), "--out", str(tmp_path / "run"), env={"PYTHONPATH": str(hook)})
    assert result.returncode == 130 and result.stderr.strip().endswith("interrupted")
