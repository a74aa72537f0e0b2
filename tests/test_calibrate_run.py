"""Validation streams (trainer/streams.py) and `edgernn calibrate` (export/calibrate.py): the
operating point chosen on clips the model never trained on, written into every graph and the
report, and used by `edgernn stream` unless flags replace it."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from edgernn.runtime import InputError, Model
from edgernn.runtime.calibration import SweepGrid
from edgernn.runtime.datasets import SequenceSet
from edgernn.runtime.errors import MetadataError
from edgernn.runtime.metadata import GraphMetadata
from edgernn.trainer.streams import StreamRecipe, build_stream
from test_wav import tone, write_wav

RATE = 8000


def quiet(rng, samples: int) -> np.ndarray:
    return (0.002 * rng.standard_normal(samples)).astype(np.float32)


def word(freq: float, seed: int) -> np.ndarray:
    """A tone of 0.2-0.3 s between 0.1 s of faint noise on each side."""
    rng = np.random.default_rng(seed)
    return np.concatenate([quiet(rng, 800), tone(freq, 0.2 + 0.01 * (seed % 10), RATE, seed), quiet(rng, 800)])


def test_a_stream_places_speech_where_its_truth_says():
    clips = SequenceSet([word(300, 1), word(1500, 2), word(700, 3)], ["low", "high", "_unknown_"],
                        ["low", "high", "_unknown_"], "words", "words", sample_rate=RATE)
    samples, truth = build_stream(clips, StreamRecipe(seconds=20.0, gap_s=(0.5, 1.0), gain_db=(0.0, 0.0)), seed=4)
    assert samples.dtype == np.float32 and len(samples) == 20 * RATE and len(truth) >= 12
    assert {u.label for u in truth} == {"low", "high", "_unknown_"}
    inside = np.zeros(len(samples), bool)
    for u in truth:
        assert 0.19 <= u.end_s - u.start_s <= 0.31  # the tone alone: the quiet edges are cut
        inside[round(u.start_s * RATE):round(u.end_s * RATE)] = True
        assert np.sqrt(np.mean(samples[round(u.start_s * RATE):round(u.end_s * RATE)] ** 2)) > 0.2
    assert np.sqrt(np.mean(samples[~inside] ** 2)) < 0.02  # between words: background only
    assert all(b.start_s - a.end_s >= 0.5 - 1e-9 for a, b in zip(truth, truth[1:]))
    again = build_stream(clips, StreamRecipe(seconds=20.0, gap_s=(0.5, 1.0), gain_db=(0.0, 0.0)), seed=4)
    assert np.array_equal(again[0], samples) and again[1] == truth  # seeded


def test_noise_is_added_at_the_asked_snr():
    clips = SequenceSet([word(300, s) for s in range(4)], ["low"] * 4, ["low"], "w", "w", sample_rate=RATE)
    recipe = StreamRecipe(seconds=30.0, gain_db=(0.0, 0.0))
    clean, truth = build_stream(clips, recipe, seed=1)
    noisy, _ = build_stream(clips, StreamRecipe(seconds=30.0, gain_db=(0.0, 0.0), snr_db=10.0), seed=1)
    speech = np.concatenate([clean[round(u.start_s * RATE):round(u.end_s * RATE)] for u in truth]).astype(np.float64)
    noise = (noisy - clean).astype(np.float64)
    assert 10 * np.log10(np.mean(speech ** 2) / np.mean(noise ** 2)) == pytest.approx(10.0, abs=0.3)
    with pytest.raises(InputError, match="a stream recipe needs"):
        StreamRecipe(seconds=0)


@pytest.fixture(scope="module")
def calibrated_run(tmp_path_factory):
    """A GRU trained on two tones with a background class (10% of the clips held out), exported
    fp32 and int8-dynamic, then calibrated on 3 minutes of validation streams."""
    from edgernn.export.calibrate import calibrate_run
    from edgernn.export.exporter import export
    from edgernn.trainer.config import TrainConfig
    from edgernn.trainer.train import train

    base = tmp_path_factory.mktemp("kws")
    for label, freq in (("low", 300.0), ("high", 1500.0)):
        for take in range(12):
            write_wav(base / "rec" / f"{label}_ann_{take}.wav", word(freq * (1 + 0.02 * take), take + (0 if label == "low" else 50)), RATE)
    outcome = train(base / "rec", base / "run", {"cell": "gru", "hidden": 16},
                    TrainConfig(epochs=30, batch_size=8, lr=1e-2, seed=0, threads=1, mel_bands=16, background="_bg_"),
                    log=lambda m: None, label_regex=r"^([a-z]+)_", test_regex=r"_[0-1]\.wav$")
    export(outcome.checkpoint, precisions=("fp32", "int8-dynamic"), log=lambda m: None)
    lines: list[str] = []
    section = calibrate_run(base / "run", false_alarms_per_hour=30.0, minutes=3, log=lines.append)
    return base / "run", outcome, section, lines


def test_calibration_writes_the_operating_point_into_every_graph(calibrated_run):
    run, outcome, section, lines = calibrated_run
    assert len(outcome.dataset["validation_clips"]) == 2  # round(0.1 x 10) of each class
    assert set(section) == {"fp32", "int8-dynamic"} and any(line.startswith("calibrate: 3 one-minute") for line in lines)
    for precision, result in section.items():
        point, detector = result["operating_point"], Model(run / f"model.{precision}.onnx").metadata.detector
        assert {k: detector[k] for k in point} == point and detector["target_false_alarms_per_hour"] == 30.0
        assert set(point["thresholds"]) == {"high", "low"}  # keywords only: the background is never reported
        assert result["streams"]["count"] == 3 and result["validation"]["seconds"] == 180.0
        assert detector["met"] == result["met"] and detector["recall"] == result["validation"]["recall"]
        assert [p["threshold"] for p in result["det"]["overall"]] == list(SweepGrid().thresholds)


def test_stream_uses_the_calibrated_point_unless_flags_replace_it(calibrated_run, tmp_path):
    from edgernn.cli.main import cli
    from edgernn.runtime.detect import Detector

    run, _, section, _ = calibrated_run
    rng = np.random.default_rng(9)
    audio = np.concatenate([quiet(rng, 4000), word(300, 3), quiet(rng, 4000), word(1500, 60), quiet(rng, 4000)])
    wav = write_wav(tmp_path / "s.wav", audio, RATE)
    graph = run / "model.fp32.onnx"
    point = section["fp32"]["operating_point"]
    model = Model(graph)
    assert (Detector.for_model(model).config.window, Detector.for_model(model).config.hold) == (point["window"], point["hold"])
    assert Detector.for_model(model, window=point["window"] + 3).config.window == point["window"] + 3
    human = CliRunner().invoke(cli, ["stream", str(graph), str(wav)])
    assert human.exit_code == 0, human.output
    assert human.stdout.splitlines()[0].startswith(f"detector (calibrated for 30.0 false alarms per hour, flags given "
                                                  f"replace it): window {point['window']}, min steps {point['min_steps']}")
    plain = CliRunner().invoke(cli, ["stream", str(graph), str(wav), "--json"])
    flags = ["--window", str(point["window"]), "--min-steps", str(point["min_steps"]), "--refractory", str(point["refractory"]),
             "--hold", str(point["hold"]),
             *[arg for label, p in point["thresholds"].items() for arg in ("--class-threshold", f"{label}={p}")]]
    explicit = CliRunner().invoke(cli, ["stream", str(graph), str(wav), "--json", *flags])
    assert plain.stdout == explicit.stdout
    other = CliRunner().invoke(cli, ["stream", str(graph), str(wav), "--window", "1", "--threshold", "0.3"])
    assert "window 1, " in other.stdout.splitlines()[0] and "high 0.3, low 0.3" in other.stdout.splitlines()[0]


def test_report_gains_the_stream_section(calibrated_run):
    from edgernn.export.calibrate import update_report
    from edgernn.runtime.files import write_json_atomic

    run, _, section, _ = calibrated_run
    write_json_atomic(run / "report.json", {"artifacts": {"fp32": {"path": "model.fp32.onnx", "bytes": 1, "sha256": "x"}}})
    update_report(run, section)
    report = json.loads((run / "report.json").read_text())
    assert report["stream"]["fp32"]["det"] == section["fp32"]["det"]
    assert report["artifacts"]["fp32"]["bytes"] == (run / "model.fp32.onnx").stat().st_size


def test_calibration_refuses_runs_it_cannot_calibrate(calibrated_run, tmp_path, gru_onnx):
    from edgernn.export.calibrate import calibrate_run, validation_clips

    with pytest.raises(InputError, match="not a run folder"):
        calibrate_run(tmp_path)
    with pytest.raises(InputError, match="calibration needs clips the model never trained on"):
        validation_clips({"load": {"data": "x"}})
    with pytest.raises(InputError, match="calibration is for audio models trained with a background class"):
        calibrate_run(gru_onnx.parent)


def test_a_malformed_detector_entry_is_refused(gru_onnx):
    props = Model(gru_onnx).metadata.to_props()
    label = Model(gru_onnx).labels[0]
    good = {"window": 5, "min_steps": 3, "refractory": 0, "thresholds": {label: 0.7}}
    assert GraphMetadata.from_props({**props, "edgernn.detector": json.dumps(good)}).detector == good
    assert GraphMetadata.from_props({**props, "edgernn.detector": json.dumps({**good, "hold": 20})}).detector["hold"] == 20
    for bad, named in (({**good, "window": 0}, "window"), ({**good, "thresholds": {"nope": 0.5}}, "thresholds"),
                       ({**good, "hold": -1}, "hold"), ({**good, "hold": 2.5}, "hold"),
                       ({**good, "thresholds": {label: 1.5}}, "thresholds"), ({"window": 5}, "min_steps")):
        with pytest.raises(MetadataError, match=f"edgernn.detector needs integers .* bad: .*{named}"):
            GraphMetadata.from_props({**props, "edgernn.detector": json.dumps(bad)})


def test_pipeline_calibrates_a_background_model(calibrated_run, tmp_path):
    from edgernn.cli.main import cli

    recordings = calibrated_run[0].parent / "rec"
    result = CliRunner().invoke(cli, ["pipeline", str(recordings), "--label-regex", r"^([a-z]+)_", "--test-regex",
                                      r"_[0-1]\.wav$", "--background", "_bg_", "--hidden", "8", "--epochs", "3",
                                      "--mel-bands", "16", "--precision", "fp32", "--false-alarms-per-hour", "60",
                                      "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["stream"]["fp32"]["target_false_alarms_per_hour"] == 60.0 and report["timing"]["calibrate_s"] > 0
    assert report["stream"]["fp32"]["streams"]["count"] == 60  # an hour of one-minute validation streams by default
    assert report["artifacts"]["fp32"]["bytes"] == (tmp_path / "run" / "model.fp32.onnx").stat().st_size
    assert "fp32 detector: {'window'" in result.stdout
    assert Model(tmp_path / "run" / "model.fp32.onnx").metadata.detector["target_false_alarms_per_hour"] == 60.0


def test_calibrate_command_rewrites_every_graph_of_a_run(calibrated_run, tmp_path):
    import shutil

    from edgernn.cli.main import cli

    run = tmp_path / "run"
    shutil.copytree(calibrated_run[0], run)
    result = CliRunner().invoke(cli, ["calibrate", str(run), "--minutes", "2", "--false-alarms-per-hour", "40", "--json"])
    assert result.exit_code == 0, result.output
    section = json.loads(result.stdout)
    assert set(section) == {"fp32", "int8-dynamic"} and all(entry["streams"]["count"] == 2 for entry in section.values())
    for precision, entry in section.items():
        detector = Model(run / f"model.{precision}.onnx").metadata.detector
        assert detector["target_false_alarms_per_hour"] == 40.0 and detector["hold"] == entry["operating_point"]["hold"]
    human = CliRunner().invoke(cli, ["calibrate", str(run), "--minutes", "1"])
    assert human.exit_code == 0, human.output
    lines = {line.split(":")[0]: line for line in human.stdout.splitlines()}
    assert all(lines[precision].startswith(f"{precision}: window ") and ", hold " in lines[precision] for precision in section)


def test_export_calibrates_the_graphs_of_a_background_run(calibrated_run, tmp_path):
    import shutil

    from edgernn.cli.main import cli

    run = tmp_path / "run"
    shutil.copytree(calibrated_run[0], run)
    result = CliRunner().invoke(cli, ["export", str(run), "--precision", "fp32", "--false-alarms-per-hour", "45", "--format",
                                      "ort", "--json"])
    assert result.exit_code == 0, result.output
    written = json.loads(result.stdout)["fp32"]
    detector = Model(run / "model.fp32.onnx").metadata.detector
    assert detector["target_false_alarms_per_hour"] == 45.0
    assert Model(run / "model.fp32.ort").metadata.detector == detector  # the ORT file is rewritten with its graph
    assert written["detector"]["operating_point"] == {k: detector[k] for k in ("window", "min_steps", "refractory", "hold", "thresholds")}
    assert written["bytes"] == (run / "model.fp32.onnx").stat().st_size
    assert Model(run / "model.int8-dynamic.onnx").metadata.detector["target_false_alarms_per_hour"] == 30.0  # not exported


def test_check_judges_a_model_on_a_stream_with_its_truth(calibrated_run, tmp_path):
    from edgernn.cli.main import cli
    from edgernn.runtime.calibration import OperatingPoint, ScoredStream, clock_of, score_point, stream_probabilities
    from edgernn.runtime.splits import load_train_test

    run, _, section, _ = calibrated_run
    graph = run / "model.int8-dynamic.onnx"
    _, test_clips = load_train_test(run.parent / "rec", label_regex=r"^([a-z]+)_", test_regex=r"_[0-1]\.wav$")
    samples, truth = build_stream(test_clips, StreamRecipe(seconds=30.0), seed=11)
    wav = write_wav(tmp_path / "test.wav", samples, RATE)
    (tmp_path / "truth.json").write_text(json.dumps([vars(u) for u in truth]))
    result = CliRunner().invoke(cli, ["check", str(graph), "--stream", str(wav), "--truth", str(tmp_path / "truth.json"),
                                      "--min-recall", "0", "--max-false-alarms-per-hour", "100000", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    model = Model(graph)
    point = section["int8-dynamic"]["operating_point"]
    expected = score_point([ScoredStream(stream_probabilities(model, samples), truth, 30.0)], model.labels,
                           OperatingPoint.from_json(point),
                           ("_bg_",), clock_of(model))
    assert {k: report["details"]["stream"][k] for k in ("said", "caught", "false_alarms")} == {
        k: expected.to_json()[k] for k in ("said", "caught", "false_alarms")}
    assert [g["gate"] for g in report["gates"]] == ["stream_recall", "stream_false_alarms_per_hour"]
    (tmp_path / "silence.json").write_text(json.dumps([{"label": "low", "start_s": 29.0, "end_s": 29.0}]))
    quiet_wav = write_wav(tmp_path / "quiet.wav", np.zeros(RATE * 30, np.float32) + 1e-4, RATE)
    missed = CliRunner().invoke(cli, ["check", str(graph), "--stream", str(quiet_wav), "--truth", str(tmp_path / "silence.json")])
    assert missed.exit_code == 1 and "check failed: gate stream_recall: 0 (limit >= 0.9)" in missed.output


@pytest.mark.parametrize("args, message", [
    ([], "give --data (the parity gates), --stream WAV --truth JSON (stream gates), or both"),
    (["--stream", "{wav}"], "every --stream needs its --truth: 1 recordings, 0 truth files"),
    (["--stream", "{wav}", "--truth", "{bad}"], "not a JSON truth file"),
    (["--stream", "{wav}", "--truth", "{rows}"], "entry 0 is not a"),
])
def test_check_refuses_a_stream_it_cannot_judge(calibrated_run, tmp_path, args, message):
    from edgernn.cli.main import cli

    wav = write_wav(tmp_path / "a.wav", np.zeros(RATE, np.float32), RATE)
    (tmp_path / "bad.json").write_text("{")
    (tmp_path / "rows.json").write_text("[1]")
    paths = {"wav": wav, "bad": tmp_path / "bad.json", "rows": tmp_path / "rows.json"}
    result = CliRunner().invoke(cli, ["check", str(calibrated_run[0] / "model.fp32.onnx"), *[a.format(**paths) for a in args]])
    assert result.exit_code == 2 and message in result.output


def test_keyword_benchmark_runs_every_graph_at_one_graphs_point(calibrated_run, tmp_path, benchmark_module, gru_onnx,
                                                                 capsys):
    """benchmarks/keyword_stream.py --operating-point-of: each graph keeps its own point unless
    one graph's point is asked for (a copy of the int8 graph holds another point here, so either
    mistake shows)."""
    import shutil

    from edgernn.export.calibrate import write_detector

    run, _, section, _ = calibrated_run
    own = {**section["int8-dynamic"]["operating_point"], "window": section["fp32"]["operating_point"]["window"] + 2}
    int8 = tmp_path / "model.int8-dynamic.onnx"
    shutil.copy(run / "model.int8-dynamic.onnx", int8)
    write_detector(int8, {**own, "target_false_alarms_per_hour": 30.0})
    keyword_stream = benchmark_module("keyword_stream")
    common = [str(run / "model.fp32.onnx"), str(int8), "--data", str(run.parent / "rec"), "--label-regex", r"^([a-z]+)_",
              "--test-regex", r"_[0-1]\.wav$", "--minutes", "1", "--snr", "10"]
    alone = keyword_stream.main([*common, "--out", str(tmp_path / "alone.json")])["snr"]["10"]
    assert alone["int8-dynamic"]["operating_point"] == own
    assert alone["fp32"]["operating_point"] == section["fp32"]["operating_point"]
    shared = keyword_stream.main([*common, "--operating-point-of", str(run / "model.fp32.onnx"), "--out", str(tmp_path / "at.json")])
    assert shared["operating_point_of"] == str(run / "model.fp32.onnx")
    assert {e["operating_point"]["window"] for e in shared["snr"]["10"].values()} == {section["fp32"]["operating_point"]["window"]}
    assert shared["snr"]["10"]["fp32"] == {**alone["fp32"], "seconds_to_run": shared["snr"]["10"]["fp32"]["seconds_to_run"]}
    with pytest.raises(SystemExit) as refused:
        keyword_stream.main([*common, "--operating-point-of", str(gru_onnx), "--out", str(tmp_path / "bad.json")])
    assert refused.value.code == 2 and not (tmp_path / "bad.json").exists()
    assert f"--operating-point-of {gru_onnx}: its labels " in capsys.readouterr().err
