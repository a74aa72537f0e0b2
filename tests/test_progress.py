"""Progress: on a terminal, train, export, bench and tune draw a bar with the time left on stderr
and stdout stays clean; with --json, or when stderr is not a terminal, no bar. Every epoch's log
line gives the time left."""

from __future__ import annotations

import fcntl
import json
import os
import struct
import subprocess
import sys
import termios

import pytest

from edgernn.runtime.progress import Progress, clock, time_left

QUICK = ["--epochs", "4", "--hidden", "8", "--threads", "1"]


def on_a_terminal(*args: str) -> tuple[str, str]:
    """(stdout, what the terminal on stderr showed) of `edgernn ARGS` with stderr on a pty."""
    controller, terminal = os.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a new pty is 0 x 0: no room for a bar
    result = subprocess.run([sys.executable, "-m", "edgernn.cli", *args], stdout=subprocess.PIPE, stderr=terminal, timeout=600)
    os.close(terminal)
    shown = b""
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal side is closed and drained
            break
        if not chunk:
            break
        shown += chunk
    os.close(controller)
    assert result.returncode == 0, shown.decode(errors="replace")[-2000:]
    return result.stdout.decode(), shown.decode(errors="replace")


def train_with_stderr_on_a_terminal(sample_dir, out, *extra: str) -> tuple[str, str]:
    return on_a_terminal("train", str(sample_dir), *QUICK, "--out", str(out), *extra)


def bar_of(unit: str) -> str:
    """What a bar over ``unit`` shows beside its count: "3/4 checks [00:01<00:00"."""
    return f" {unit} ["


def test_a_terminal_gets_a_bar_and_stdout_stays_clean(tmp_path, sample_dir):
    stdout, shown = train_with_stderr_on_a_terminal(sample_dir, tmp_path / "a")
    assert "epochs [" in shown and "\r" in shown and "<" in shown  # tqdm's bar: elapsed<remaining
    assert "epochs [" not in stdout and stdout.startswith("test accuracy")
    stdout, shown = train_with_stderr_on_a_terminal(sample_dir, tmp_path / "b", "--json")
    assert "epochs [" not in shown and json.loads(stdout)["run_dir"] == str(tmp_path / "b")


def test_no_bar_when_stderr_is_not_a_terminal_but_lines_give_the_time_left(tmp_path, sample_dir):
    result = subprocess.run([sys.executable, "-m", "edgernn.cli", "train", str(sample_dir), *QUICK, "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "epochs [" not in result.stderr and "\r" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 4 and all(" left)" in line for line in lines[:3]) and lines[3].endswith("s)")


def test_time_left_reads_the_epochs_timed_so_far():
    class Record:
        def __init__(self, seconds):
            self.seconds = seconds
    assert time_left([Record(2.0), Record(4.0)], 10) == "; ~30s left"
    assert time_left([Record(30.0)], 5) == "; ~2m30s left" and time_left([Record(1.0)], 0) == ""
    assert clock(3725) == "1h02m"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, sample_dir):
    out = tmp_path_factory.mktemp("progress") / "run"
    result = subprocess.run([sys.executable, "-m", "edgernn.cli", "train", str(sample_dir), *QUICK, "--out", str(out)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return out


def test_export_shows_a_bar_over_its_checks(trained):
    stdout, shown = on_a_terminal("export", str(trained), "--precision", "fp32", "--precision", "fp16")
    assert "2/2 checks [" in shown and "\r" in shown
    assert bar_of("checks") not in stdout and "fp16" in stdout
    stdout, shown = on_a_terminal("export", str(trained), "--precision", "fp32", "--json")
    assert bar_of("checks") not in shown and json.loads(stdout)["fp32"]["bytes"] > 0


def test_bench_shows_a_bar_over_its_measurements(trained):
    # one model, one thread setting: latency, two stream counts, the runtime process = 4
    args = ("bench", str(trained / "model.fp32.onnx"), "--threads", "1", "--streams", "1,4", "--steps", "50")
    stdout, shown = on_a_terminal(*args)
    assert "4/4 measurements [" in shown
    assert bar_of("measurements") not in stdout and "streams" in stdout
    stdout, shown = on_a_terminal(*args, "--json")
    assert bar_of("measurements") not in shown and "fp32" in json.loads(stdout)["models"]


def test_a_disabled_bar_passes_the_log_through_and_ignores_the_rest():
    lines = []
    bar = Progress.start(3, "checks", enabled=False)
    assert not bar.active and bar.around(lines.append) == lines.append
    bar.advance(1, "ignored")
    bar.follow_clock().close()
    assert lines == []
