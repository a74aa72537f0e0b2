"""Progress: on a terminal, training draws a bar with the time left on stderr and stdout stays
clean; with --json, or when stderr is not a terminal, no bar. Every epoch's log line gives the
time left."""

from __future__ import annotations

import fcntl
import json
import os
import struct
import subprocess
import sys
import termios

from edgernn.trainer.progress import clock, time_left

QUICK = ["--epochs", "4", "--hidden", "8", "--threads", "1"]


def train_with_stderr_on_a_terminal(sample_dir, out, *extra: str) -> tuple[str, str]:
    """(stdout, what the terminal on stderr showed) of `edgernn train` with stderr on a pty."""
    controller, terminal = os.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # a new pty is 0 x 0: no room for a bar
    result = subprocess.run([sys.executable, "-m", "edgernn.cli", "train", str(sample_dir), *QUICK, "--out", str(out), *extra],
                            stdout=subprocess.PIPE, stderr=terminal, timeout=300)
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
