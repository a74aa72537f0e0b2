"""The `edgernn` command: every verb's help, the pipeline's report, exit codes for bad input."""

from __future__ import annotations

import json
import re

import onnx

import pytest
from click.testing import CliRunner

from edgernn.cli.main import COMMANDS, cli
from edgernn.export.gates import changes_within_chance
from edgernn.runtime.datasets import read_ts

VERBS = ["train", "export", "check", "predict", "stream", "bench", "info", "pipeline", "tune", "calibrate", "serve", "report", "demo"]


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_top_level_help_lists_every_verb_with_a_whole_summary():
    result = run("--help")
    assert result.exit_code == 0
    assert list(COMMANDS) == VERBS
    for verb in VERBS:
        line = next(line for line in result.output.splitlines() if line.startswith(f"  {verb} "))
        assert line.rstrip().endswith(".") and not line.rstrip().endswith("..."), line


@pytest.mark.parametrize("verb", VERBS)
def test_every_verb_has_help_an_example_and_help_on_every_option(verb):
    import click

    result = run(verb, "--help")
    assert result.exit_code == 0, result.output
    assert "--json" in result.output and f"Usage: cli {verb}" in result.output
    assert "Example:\n    edgernn " in result.output
    command = cli.get_command(click.Context(cli), verb)
    assert [p.opts[0] for p in command.params if isinstance(p, click.Option) and not p.help] == []


@pytest.mark.floor
def test_pipeline_on_the_bundled_sample_writes_the_report(tmp_path, figures, train_seed):
    result = run("pipeline", "--epochs", 2, "--lr", 0.01, "--batch-size", 16, "--hidden", 16, "--precision", "fp32",
                 "--precision", "int8-dynamic",
                 "--seed", train_seed, "--out", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report == json.loads((tmp_path / "report.json").read_text())
    assert report["dataset"] | {"name": "JapaneseVowels", "test": 370, "classes": 9} == report["dataset"]
    assert report["model"]["cell"] == "gru" and report["model"]["parameters"] > 0
    assert 0 <= report["metrics"]["test_accuracy"] <= 1
    art = report["artifacts"]["fp32"]
    assert art["path"] == "model.fp32.onnx" and art["bytes"] == (tmp_path / "model.fp32.onnx").stat().st_size
    parity = report["parity"]["fp32"]
    assert parity["passed"] and parity["max_abs_diff"] <= 1e-4 and parity["stream_max_abs_diff"] <= 1e-5
    assert parity["test_accuracy"] == pytest.approx(report["metrics"]["test_accuracy"], abs=1 / 370)
    latency = report["latency"]["fp32"]
    assert 0 < latency["step_us_p50"] <= latency["step_us_p99"] and latency["threads"] == 1
    int8 = report["parity"]["int8-dynamic"]  # pipeline trains at one thread by default
    figures.gates({"int8-dynamic": int8}, 370)
    figures.verify()
    assert int8["passed"]
    assert set(report["footprint"]) == {"fp32", "int8-dynamic"}
    assert report["footprint"]["int8-dynamic"]["weights"]["int8_fraction"] >= 0.95
    assert {p.name for p in tmp_path.iterdir()} == {"model.pt", "history.json", "metrics.json", "model.fp32.onnx",
                                                    "model.int8-dynamic.onnx", "report.json", "report.html"}


def test_predict_stream_info_on_an_exported_graph(gru_onnx, sample_test_file):
    result = run("predict", gru_onnx, sample_test_file, "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["cases"] == 370 and 0 <= payload["accuracy"] <= 1
    plain = run("stream", gru_onnx, sample_test_file, "--index", 2, "--json")  # a whole-sequence classifier: no events
    assert plain.exit_code == 0 and [json.loads(line)["detection"] for line in plain.stdout.splitlines()] == [False]
    assert "no event detection: a model without a background class" in run("stream", gru_onnx, sample_test_file).output
    result = run("stream", gru_onnx, sample_test_file, "--index", 2, "--chunk", 4, "--steps", "--threshold", 0.5, "--json")
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows[-1]["detection"] is True
    steps = len(read_ts(sample_test_file).sequences[2])
    per_push = [r for r in rows if "top" in r]
    events = [r for r in rows if "start" in r]
    assert result.exit_code == 0 and per_push[-1]["step"] == steps - 1 and len(per_push) == -(-steps // 4)
    assert rows[-1]["steps"] == steps and rows[-1]["events"] == len(events) and rows[-1]["label"] == "1"
    assert all(0 <= e["start"] <= e["end"] < steps and e["score"] >= 0.5 for e in events)
    info = json.loads(run("info", gru_onnx, "--json").stdout)
    assert info["cell"] == "gru" and info["inputs"]["x"][1] == ["batch", "time", 12] and info["parity"]["passed"]
    foot = info["footprint"]  # GRU hidden 24 on 12 features, 9 classes
    assert foot["macs_per_step"] == 3 * 24 * (12 + 24) + 24 * 9 and foot["state_bytes_per_stream"] == 4 * 24
    assert foot["recurrent_weights"] == "float32" and foot["op_counts"]["GRU"] == 1
    text = run("info", gru_onnx).output
    assert "multiply-accumulates" in text and "recurrent weights float32" in text


def test_export_gate_failure_exits_1_and_names_the_gate(quick_runs, tmp_path):
    result = run("export", quick_runs["gru"][0], "--out", tmp_path, "--max-diff", "1e-12", "--float32-factor", "0")
    assert result.exit_code == 1
    found = re.search(r"check failed: fp32: gate fp32_vs_torch: \S+ \(limit <= (\S+)\)", result.output)
    assert found and float(found.group(1)) < 1e-10  # 1e-12 per unit of logit scale
    assert not (tmp_path / "model.fp32.onnx").exists()


@pytest.mark.parametrize("make_args, message", [
    (lambda d, m, t: ("predict", d / "broken.onnx", t), "cannot load it as an ONNX graph"),
    (lambda d, m, t: ("predict", m, d / "data.csv"), "1 feature per step, but the model takes 12"),  # a numeric CSV
    (lambda d, m, t: ("stream", m, t, "--index", 999), "--index 999 is out of range: "),
    (lambda d, m, t: ("stream", m, t, "--class-threshold", "1:0.5"), "expected LABEL=PROBABILITY, got '1:0.5'"),
    (lambda d, m, t: ("stream", m, t, "--ignore", "cat"), "labels ['cat'] are not among the model's classes"),
    (lambda d, m, t: ("train", d / "data.csv", "--out", d / "run"), "data.csv: too few cases to hold out a test split"),
    (lambda d, m, t: ("export", d / "data.csv", "--out", d / "run"), "not a readable torch checkpoint"),
    (lambda d, m, t: ("train", t, "--cell", "cnn"), "Invalid value for '--cell'"),
    (lambda d, m, t: ("predict", m, d / "absent.ts"), "does not exist"),
])
def test_bad_input_exits_2_with_a_message_and_no_traceback(tmp_path, gru_onnx, sample_test_file, make_args, message):
    (tmp_path / "broken.onnx").write_bytes(b"not a graph")
    (tmp_path / "data.csv").write_text("a,b\n1,2\n")
    result = run(*make_args(tmp_path, gru_onnx, sample_test_file))
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert not (tmp_path / "run").exists()


def test_check_passes_a_good_file_and_prints_the_table(quick_runs, sample_test_file):
    run_dir = quick_runs["gru"][0]
    result = run("check", run_dir / "model.fp32.onnx", "--data", sample_test_file, "--checkpoint", run_dir / "model.pt",
                 "--long-steps", 2000)
    assert result.exit_code == 0, result.output
    for gate in ("fp32_vs_torch", "long_stream_drift", "streaming", "long_stream_finite"):
        assert gate in result.output
    assert "FAIL" not in result.output


def test_check_catches_a_damaged_quantization_with_exit_1(quick_runs, sample_test_file, tmp_path):
    """A weight-only int8 file whose recurrent scales are 20x too small: it loads and runs, and
    `edgernn check` must refuse it, naming each failed gate with its value and limit."""
    from onnx import numpy_helper

    from edgernn.export.torch_to_onnx import set_metadata
    from edgernn.export.quantize import weight_only_int8

    fp32_path = quick_runs["gru"][2]["fp32"].path
    (tmp_path / "model.fp32.onnx").write_bytes(fp32_path.read_bytes())
    proto = weight_only_int8(onnx.load(fp32_path))
    for init in proto.graph.initializer:
        if init.name in ("w0_scale", "w1_scale"):  # the GRU's input and recurrent weights
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) / 20, init.name))
    set_metadata(proto, {"edgernn.precision": "int8-dynamic"})
    onnx.save(proto, tmp_path / "model.int8-dynamic.onnx")
    result = run("check", tmp_path / "model.int8-dynamic.onnx", "--data", sample_test_file, "--json", "--long-steps", 2000)
    assert result.exit_code == 1
    report = json.loads(result.stdout[: result.stdout.rindex("}") + 1])
    failed = {g["gate"] for g in report["gates"] if not g["passed"]}
    assert {"top1_agreement", "accuracy_drop"} <= failed
    limit = 1 - changes_within_chance(370, 0.01, 0.05) / 370  # 7 changed answers of 370 pass by chance
    assert "check failed: gate top1_agreement: " in result.output and f"(limit >= {limit:g})" in result.output


def test_bench_measures_push_bare_and_eager_and_throughput(quick_runs, tmp_path):
    run_dir = quick_runs["gru"][0]
    result = run("bench", run_dir, "--precision", "fp32", "--threads", 1,
                 "--streams", "1,8", "--steps", 50, "--out", tmp_path / "bench.json", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert json.loads((tmp_path / "bench.json").read_text()) == report
    assert set(report["models"]) == {"fp32"}
    entry = report["models"]["fp32"]
    row = entry["latency"]["1"]
    assert row["push"]["steps"] == row["bare"]["steps"] == row["torch_eager"]["steps"] == 50
    assert row["push_vs_bare"] > 0 and row["torch_eager_vs_bare"] > 0 and row["threads"] == 1
    assert [t["streams"] for t in entry["throughput"]] == [1, 8]
    assert all(t["batched_steps_per_s"] > 0 and "batched_vs_separate" in t for t in entry["throughput"])
    assert 0 < entry["throughput"][1]["share_of_peak_macs"] < 1
    assert entry["runtime_process"]["heavy_modules"] == [] and entry["runtime_process"]["peak_rss_mb"] > 0
    bad = run("bench", run_dir, "--streams", "4,x")
    assert bad.exit_code == 2 and "expected positive integers separated by commas" in bad.output
    none = run("bench", run_dir, "--precision", "fp16")
    assert none.exit_code == 2 and "no model.<precision>.onnx files to benchmark" in none.output
