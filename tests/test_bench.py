"""The measuring helpers of runtime/bench.py and benchmarks/gpu_check.py that need no GPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

from conftest import assert_two_sessions_agree
from edgernn.runtime import Model
from edgernn.runtime.bench import break_even, device_parity, random_sequence

ROOT = Path(__file__).resolve().parents[1]


def rows(rates: dict[int, float]) -> list[dict]:
    return [{"streams": streams, "batched_steps_per_s": rate} for streams, rate in rates.items()]


@pytest.mark.parametrize("cpu, gpu, expected", [
    ({1: 20e3, 64: 200e3, 1024: 250e3}, {1: 5e3, 64: 150e3, 1024: 900e3}, 1024),
    ({1: 20e3, 64: 200e3, 1024: 250e3}, {1: 5e3, 64: 300e3, 1024: 900e3}, 64),
    ({1: 20e3, 64: 200e3, 1024: 250e3}, {1: 30e3, 64: 100e3, 1024: 900e3}, 1024),  # ahead at 1, behind at 64: not yet
    ({1: 20e3, 64: 200e3}, {1: 5e3, 64: 150e3}, None),
    ({1: 20e3, 64: 200e3, 4096: 1.0}, {1: 5e3, 64: 300e3}, 64),  # only counts both measured
])
def test_break_even_is_the_count_from_which_the_gpu_stays_ahead(cpu, gpu, expected):
    assert break_even(rows(cpu), rows(gpu)) == expected


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_device_parity_of_one_graph_in_two_sessions(quick_runs, cell):
    assert_two_sessions_agree(quick_runs[cell][2]["fp32"].path, sequences=20)


def test_random_sequences_have_the_steps_asked_for(gru_onnx):
    model = Model(gru_onnx)
    sequence = random_sequence(model, np.random.default_rng(0), 37)
    assert sequence.shape == (37, model.metadata.features) and sequence.dtype == np.float32


@pytest.mark.skipif("CUDAExecutionProvider" in onnxruntime.get_available_providers(), reason="this onnxruntime has CUDA")
def test_gpu_check_without_cuda_stops_with_exit_2_naming_the_providers(quick_runs, tmp_path):
    out = tmp_path / "gpu.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), str(quick_runs["gru"][0]), "--out", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "has no CUDAExecutionProvider; available: ['" in done.stderr and not out.exists()


@pytest.mark.skipif("CUDAExecutionProvider" not in onnxruntime.get_available_providers(), reason="needs onnxruntime-gpu")
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_cuda_matches_cpu(quick_runs, cell):
    """Runs only where onnxruntime-gpu and a CUDA device are present (benchmarks/gpu_check.py
    measures the same and the bench); fp32 may use TF32 matrix products there."""
    path = quick_runs[cell][2]["fp32"].path
    checks = device_parity(Model(path), Model(path, device="cuda"), sequences=64)
    assert checks["predict_top1_agreement"] >= 0.99
    assert max(v for k, v in checks.items() if k.endswith("prob_diff")) <= 2e-3, checks


def test_gpu_check_dry_run_on_the_cpu_writes_parity_bench_and_break_even(quick_runs, tmp_path):
    out = tmp_path / "gpu.json"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), str(quick_runs["gru"][0]), "--device", "cpu",
                           "--precision", "fp32", "--sequences", "8", "--steps", "40", "--streams", "1,4", "--out", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    entry = json.loads(out.read_text())["runs"][str(quick_runs["gru"][0])]["fp32"]
    assert entry["parity"]["passed"] and entry["parity"]["predict_top1_agreement"] == 1.0
    assert [row["streams"] for row in entry["checked"]["throughput"]] == [1, 4] == [row["streams"] for row in entry["cpu"]["throughput"]]
    assert entry["break_even_streams"] in (None, 1, 4)
