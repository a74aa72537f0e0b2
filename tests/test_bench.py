"""The measuring helpers of runtime/bench.py, benchmarks/device_compare.py and benchmarks/gpu_check.py that
need no GPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime
import pytest

from edgernn.runtime import Model

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
def test_break_even_is_the_count_from_which_the_gpu_stays_ahead(cpu, gpu, expected, benchmark_module):
    assert benchmark_module("device_compare").break_even(rows(cpu), rows(gpu)) == expected


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_device_parity_of_one_graph_in_two_sessions(quick_runs, cell, two_sessions_agree):
    two_sessions_agree(quick_runs[cell][2]["fp32"].path, sequences=20)


def test_random_sequences_have_the_steps_asked_for(gru_onnx, benchmark_module):
    random_sequence = benchmark_module("device_compare").random_sequence
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
def test_cuda_matches_cpu(quick_runs, cell, benchmark_module):
    """Runs only where onnxruntime-gpu and a CUDA device are present (benchmarks/gpu_check.py
    measures the same and the bench); fp32 may use TF32 matrix products there."""
    path = quick_runs[cell][2]["fp32"].path
    checks = benchmark_module("device_compare").device_parity(Model(path), Model(path, device="cuda"), sequences=64)
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


def test_floor_spread_applies_the_conftest_rule_to_recorded_figures(benchmark_module):
    floor_spread = benchmark_module("floor_spread")
    parse_seeds, summarise = floor_spread.parse_seeds, floor_spread.summarise
    assert parse_seeds("0-2,7") == [0, 1, 2, 7]
    rows = [{"test": "t", "figure": "acc", "value": v, "relation": ">=", "limit": 0.9, "cases": 100, "seed": s}
            for s, v in enumerate([0.96, 0.97, 0.98])]
    rows += [{"test": "t", "figure": "drop", "value": v, "relation": "<=", "limit": 0.005, "cases": 1000, "seed": s}
             for s, v in enumerate([0.0, 0.002])]
    acc, drop = summarise(rows)
    # floor: min(lowest - max(1 point, 3 of 100 cases), mean - 4 sd) = min(0.93, 0.97 - 0.04)
    assert acc["figure"] == "acc" and acc["rule_limit"] == pytest.approx(0.93) and acc["limit_within_rule"]
    assert (acc["min"], acc["max"], acc["runs"], acc["misses"]) == (0.96, 0.98, 3, 0)
    # ceiling: max(highest + 1 point, mean + 4 sd) = max(0.012, 0.001 + 4 * 0.00141); the asserted 0.005 is tighter
    assert drop["rule_limit"] == pytest.approx(0.012)
    assert not drop["limit_within_rule"]
