"""WAV reading (runtime/wav.py), WAV folders as data sets, and an audio model end to end."""

from __future__ import annotations

import json
import struct
import wave
import zlib
from pathlib import Path

import numpy as np
import pytest

from edgernn.runtime.splits import load_train_test
from edgernn.runtime.errors import DataFormatError, InputError
from edgernn.runtime.wav import read_wav, read_wav_folder


def write_wav(path: Path, samples: np.ndarray, rate: int = 8000, width: int = 2, channels: int = 1) -> Path:
    """samples: float [n] or [n, channels] in [-1, 1) -> PCM WAV of ``width`` bytes per sample."""
    path.parent.mkdir(parents=True, exist_ok=True)
    frames = np.asarray(samples, dtype=np.float64).reshape(len(samples), channels)
    if width == 1:
        data = np.clip(np.rint(frames * 128 + 128), 0, 255).astype(np.uint8).tobytes()
    elif width == 3:
        ints = np.clip(np.rint(frames * 2 ** 23), -2 ** 23, 2 ** 23 - 1).astype("<i4")
        data = ints.view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    else:
        data = np.clip(np.rint(frames * 2 ** (8 * width - 1)), -2 ** (8 * width - 1),
                       2 ** (8 * width - 1) - 1).astype(f"<i{width}").tobytes()
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(channels)
        writer.setsampwidth(width)
        writer.setframerate(rate)
        writer.writeframes(data)
    return path


def tone(freq: float, seconds: float = 0.3, rate: int = 8000, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    return (0.4 * np.sin(2 * np.pi * freq * t + rng.uniform(0, 6)) + 0.01 * rng.standard_normal(len(t))).astype(np.float32)


@pytest.mark.parametrize("width, tolerance", [(1, 1 / 128), (2, 1 / 2 ** 15), (3, 1 / 2 ** 23), (4, 1 / 2 ** 31)])
def test_pcm_widths_read_back(tmp_path, width, tolerance):
    audio = tone(440)
    samples, rate = read_wav(write_wav(tmp_path / "a.wav", audio, width=width))
    assert rate == 8000 and samples.dtype == np.float32 and samples.shape == audio.shape
    np.testing.assert_allclose(samples, audio, atol=tolerance)


def test_stereo_is_mixed_down(tmp_path):
    left, right = tone(300), tone(900, seed=1)
    samples, _ = read_wav(write_wav(tmp_path / "s.wav", np.stack([left, right], axis=1), channels=2))
    np.testing.assert_allclose(samples, (left + right) / 2, atol=2 / 2 ** 15)


def test_a_float_wav_is_refused_as_not_pcm(tmp_path):
    path = tmp_path / "float.wav"
    data = np.zeros(100, "<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, 8000, 32000, 4, 32)  # format 3: IEEE float
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + len(data)) + b"WAVE" + b"fmt "
                     + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data)
    with pytest.raises(DataFormatError, match="not a PCM WAV file .*expected uncompressed 8/16/24/32-bit PCM"):
        read_wav(path)


def test_truncated_and_garbage_files_are_refused(tmp_path):
    whole = write_wav(tmp_path / "whole.wav", tone(440)).read_bytes()
    (tmp_path / "cut.wav").write_bytes(whole[:1000])
    with pytest.raises(DataFormatError, match=r"truncated: the header declares 2400 frames, the file holds 478"):
        read_wav(tmp_path / "cut.wav")
    (tmp_path / "junk.wav").write_bytes(b"not a wav at all")
    with pytest.raises(DataFormatError, match="not a PCM WAV file"):
        read_wav(tmp_path / "junk.wav")
    with pytest.raises(DataFormatError, match="no such file"):
        read_wav(tmp_path / "missing.wav")


def make_digit_folder(root: Path, rate: int = 8000) -> Path:
    """FSDD-like names: <label>_<speaker>_<index>.wav; label 'low' or 'high' tones."""
    for label, freq in (("low", 300.0), ("high", 1500.0)):
        for speaker in ("ann", "bob"):
            for index in range(6):
                seed = zlib.crc32(f"{label}_{speaker}_{index}".encode()) % 1000  # hash() differs per process
                write_wav(root / f"{label}_{speaker}_{index}.wav", tone(freq * (1 + 0.05 * index), 0.2 + 0.02 * index, rate, seed), rate)
    return root


def test_label_and_test_split_from_file_names(tmp_path):
    root = make_digit_folder(tmp_path / "rec")
    train_set, test_set = load_train_test(root, label_regex=r"^([a-z]+)_", test_regex=r"_[0-1]\.wav$")
    assert (len(train_set), len(test_set)) == (16, 8)
    assert train_set.classes == ["high", "low"] and train_set.sample_rate == 8000
    assert train_set.input_kind == "audio" and train_set.sequences[0].ndim == 1


def test_one_folder_per_class(tmp_path):
    for label in ("yes", "no"):
        for i in range(3):
            write_wav(tmp_path / "data" / label / f"{i}.wav", tone(400 + 100 * i))
    train_set, test_set = read_wav_folder(tmp_path / "data")
    assert test_set is None and sorted(set(train_set.labels)) == ["no", "yes"] and len(train_set) == 6


@pytest.mark.parametrize("setup, kwargs, error, message", [
    (lambda r: write_wav(r / "x_1.wav", tone(1), rate=16000), {"label_regex": "^(x)_"}, DataFormatError,
     "16000 Hz, but .* is 8000 Hz; every file of a data set must share one sample rate"),
    (lambda r: write_wav(r / "odd.wav", tone(1)), {"label_regex": "^(x)_"}, DataFormatError,
     "odd.wav: the label pattern '\\^\\(x\\)_' does not match this file name"),
    (lambda r: None, {}, DataFormatError, "lies directly in .*; expected one sub-folder per class"),
    (lambda r: None, {"label_regex": "("}, InputError, "--label-regex: not a valid regular expression"),
    (lambda r: None, {"label_regex": "^(x)_", "test_regex": "nothing"}, DataFormatError, "the test split is empty"),
])
def test_bad_wav_folders_name_the_problem(tmp_path, setup, kwargs, error, message):
    root = tmp_path / "rec"
    write_wav(root / "x_0.wav", tone(300))
    setup(root)
    with pytest.raises(error, match=message):
        read_wav_folder(root, **kwargs)


def test_a_wav_folder_without_a_test_split_gives_up_a_stratified_seeded_share(tmp_path):
    root = make_digit_folder(tmp_path / "rec")
    with pytest.raises(DataFormatError, match="needs a test split: --test FOLDER, --test-regex PATTERN or --test-fraction F"):
        load_train_test(root, label_regex=r"^([a-z]+)_")
    train_set, test_set = load_train_test(root, label_regex=r"^([a-z]+)_", test_fraction=0.25, seed=3)
    whole, _ = read_wav_folder(root, r"^([a-z]+)_")
    per_class = {label: whole.labels.count(label) for label in whole.classes}
    assert {label: test_set.labels.count(label) for label in whole.classes} == {
        label: round(0.25 * n) for label, n in per_class.items()}
    assert len(train_set) + len(test_set) == len(whole) and test_set.sample_rate == whole.sample_rate
    assert sorted(s.tobytes() for s in train_set.sequences + test_set.sequences) == sorted(s.tobytes() for s in whole.sequences)
    assert test_set.held_out == train_set.held_out == {"fraction": 0.25, "seed": 3} and "[test: 0.25" in test_set.source
    again = load_train_test(root, label_regex=r"^([a-z]+)_", test_fraction=0.25, seed=3)[1]
    other = load_train_test(root, label_regex=r"^([a-z]+)_", test_fraction=0.25, seed=4)[1]
    assert [s.tobytes() for s in again.sequences] == [s.tobytes() for s in test_set.sequences]
    assert [s.tobytes() for s in other.sequences] != [s.tobytes() for s in test_set.sequences]
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataFormatError, match="no .wav files"):
        read_wav_folder(tmp_path / "empty")


@pytest.fixture(scope="module")
def audio_run(tmp_path_factory, train_seed):
    """A small GRU trained on tones, exported fp32: (run dir, fp32 artifact, test clips)."""
    from edgernn.export.exporter import export
    from edgernn.trainer.config import TrainConfig
    from edgernn.trainer.train import train

    base = tmp_path_factory.mktemp("audio")
    root = make_digit_folder(base / "rec")
    outcome = train(root, base / "run", {"cell": "gru", "hidden": 16}, TrainConfig(epochs=4, seed=train_seed, threads=1, mel_bands=16),
                    log=lambda m: None, label_regex=r"^([a-z]+)_", test_regex=r"_[0-1]\.wav$")
    artifacts = export(outcome.checkpoint, precisions=("fp32",), log=lambda m: None)
    return outcome, artifacts["fp32"]


def test_audio_model_takes_raw_samples_and_streams_them_in_any_pieces(audio_run):
    from edgernn.runtime import Model

    outcome, artifact = audio_run
    assert artifact.parity["passed"] and artifact.parity["max_abs_diff"] <= 1e-4
    model = Model(artifact.path)
    # the graph computes its 16 mel bands itself: its x is one 10 ms hop of samples per step
    assert model.frontend.kind == "logmel" and model.frontend.in_graph and model.frontend.config.sample_rate == 8000
    assert model.metadata.features == model.frontend.features == 80 and model.frontend.config.mel_bands == 16
    gate = artifact.parity["frontend_in_graph"]  # the samples-in file is the frames-in graph to float32 rounding
    assert gate["max_abs_diff"] <= 1e-4 * max(1.0, gate["logit_scale"]) and gate["stream_max_abs_diff"] <= 1e-6
    clips = outcome.test_set.sequences
    whole = model.predict(clips)
    rng = np.random.default_rng(0)
    for clip, expected in zip(clips, whole):
        stream, pieces, start = model.stream(), [], 0
        while start < len(clip):
            size = int(rng.integers(0, 700))
            pieces.append(stream.push(clip[start:start + size]))
            start += size
        steps = np.concatenate(pieces)
        assert len(steps) == model.frontend.config.frame_count(len(clip)) == stream.steps
        np.testing.assert_allclose(steps[-1], expected, atol=1e-5)
    pcm = np.clip(np.rint(clips[0] * 32768), -32768, 32767).astype(np.int16)  # int16 PCM is taken as is
    np.testing.assert_allclose(model.predict([pcm])[0], whole[0], atol=1e-3)


def test_stream_verb_reads_a_wav_and_prints_events_and_the_answer(audio_run, tmp_path, gru_onnx):
    import json

    from click.testing import CliRunner

    from edgernn.cli.main import cli

    outcome, artifact = audio_run
    model_path = str(artifact.path)
    clip = write_wav(tmp_path / "high.wav", tone(1500, 0.3, seed=3))
    result = CliRunner().invoke(cli, ["stream", model_path, str(clip), "--json", "--window", "3"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    from edgernn.runtime import Model

    model = Model(model_path)
    expected = model.predict([read_wav(clip)[0]])[0]
    assert rows[-1]["final"] == model.labels[int(expected.argmax())] and rows[-1]["score"] == pytest.approx(expected.max(), abs=1e-4)
    assert rows[-1]["steps"] == 28  # 2400 samples: 1 + (2400 - 200) // 80
    assert all(r["label"] in ("high", "low") and r["end_s"] <= 0.3 and r["score"] >= 0.5 for r in rows[:-1])
    wrong_rate = write_wav(tmp_path / "fast.wav", tone(1500, 0.3, rate=16000), rate=16000)
    result = CliRunner().invoke(cli, ["stream", model_path, str(wrong_rate)])
    assert result.exit_code == 2 and "16000 Hz; the model was trained at 8000 Hz" in result.output
    result = CliRunner().invoke(cli, ["stream", str(gru_onnx), str(clip)])
    assert result.exit_code == 2 and "a WAV recording needs an audio model" in result.output


def test_audio_stream_resets_after_silence(audio_run):
    from edgernn.runtime import Model, ResetPolicy

    model = Model(audio_run[1].path)
    stream = model.stream(reset=ResetPolicy(silence_seconds=0.25, silence_rms=0.01))
    stream.push(tone(300, 0.3))
    assert stream.resets == 0 and stream.state["h"].any()
    for _ in range(3):  # 0.3 s of near-silence in 0.1 s pieces
        stream.push(np.full(800, 1e-4, np.float32))
    assert stream.resets == 1
    stream.push(tone(300, 0.1))  # sound again: the quiet count starts over
    stream.push(np.full(800, 1e-4, np.float32))
    assert stream.resets == 1


def test_audio_model_on_two_sessions_agrees_for_predict_stream_and_batch(audio_run, two_sessions_agree):
    two_sessions_agree(audio_run[1].path)


def test_bench_of_an_audio_model_times_its_front_end_per_hop(audio_run):
    from edgernn.runtime.bench import bench

    report = bench([audio_run[1].path], threads=(1,), stream_counts=(2,), steps=40)
    row = report["models"]["fp32"]["latency"]["1"]
    assert row["frontend"]["steps"] == row["push"]["steps"] == 40
    assert 0 < row["frontend_vs_bare"] and [t["streams"] for t in report["models"]["fp32"]["throughput"]] == [2]


def test_pipeline_on_a_wav_folder_without_a_test_split_records_the_split_it_made(tmp_path):
    from click.testing import CliRunner

    from edgernn.cli.main import cli
    from edgernn.runtime import Model

    root = make_digit_folder(tmp_path / "rec")
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["pipeline", str(root), "--label-regex", r"^([a-z]+)_", "--test-fraction", "0.25",
                                      "--epochs", "2", "--hidden", "8", "--mel-bands", "16", "--precision", "fp32",
                                      "--seed", "5", "--out", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    split = {"fraction": 0.25, "seed": 5}
    assert report["dataset"]["test_split"] == split and (report["dataset"]["train"], report["dataset"]["test"]) == (18, 6)
    metadata = Model(out / "model.fp32.onnx").metadata
    assert metadata.dataset == {"name": report["dataset"]["name"], "train": 18, "validation": 0, "test": 6, "classes": 2,
                                "test_split": split, "baselines": {  # compact: 4 digits, no timing
                                    "majority": report["baselines"]["majority"],
                                    "linear": {"model": report["baselines"]["linear"]["model"],
                                               "accuracy": round(report["baselines"]["linear"]["accuracy"], 4)}}}
    # export checked the graph on the same held-out clips that training was tested on
    assert report["parity"]["fp32"]["test_accuracy"] == pytest.approx(report["metrics"]["test_accuracy"], abs=1 / 6)


def make_speech_commands(root: Path) -> Path:
    """Speech Commands' layout: one folder per word, the two lists, and _background_noise_."""
    for label, freq in (("yes", 400.0), ("no", 1200.0)):
        for index in range(6):
            write_wav(root / label / f"spk{index}_nohash_0.wav", tone(freq * (1 + 0.03 * index), 0.2, seed=index))
    write_wav(root / "_background_noise_" / "white_noise.wav", 0.1 * np.random.default_rng(0).standard_normal(8000))
    (root / "testing_list.txt").write_text("yes/spk0_nohash_0.wav\nno/spk0_nohash_0.wav\n")
    (root / "validation_list.txt").write_text("yes\\spk1_nohash_0.wav\r\nno/spk1_nohash_0.wav\n\n")  # Windows separators too
    return root


def test_the_speech_commands_lists_give_the_test_and_validation_cases(tmp_path):
    root = make_speech_commands(tmp_path / "sc")
    train_set, test_set = load_train_test(root)
    assert train_set.classes == ["no", "yes"] and len(train_set) == 10 and len(test_set) == 2  # no noise class
    assert sorted(test_set.labels) == ["no", "yes"]
    assert [train_set.labels[i] for i in train_set.validation] == ["no", "yes"] and len(train_set.validation) == 2
    assert test_set.validation is None


def test_a_speech_commands_list_naming_a_missing_file_is_refused(tmp_path):
    root = make_speech_commands(tmp_path / "sc")
    (root / "testing_list.txt").write_text("yes/spk0_nohash_0.wav\nmaybe/gone.wav\n")
    with pytest.raises(DataFormatError, match=r"testing_list.txt: lists 1 file\(s\) not under .*'maybe/gone.wav'"):
        load_train_test(root)
    (root / "testing_list.txt").write_text("\n")
    with pytest.raises(DataFormatError, match="testing_list.txt: lists no files"):
        load_train_test(root)


def test_training_validates_on_the_listed_cases(tmp_path):
    from edgernn.trainer.config import TrainConfig
    from edgernn.trainer.train import train

    root = make_speech_commands(tmp_path / "sc")
    outcome = train(root, tmp_path / "run", {"cell": "gru", "hidden": 4}, TrainConfig(epochs=1, threads=1, mel_bands=8),
                    log=lambda m: None)
    assert (outcome.dataset["train"], outcome.dataset["validation"], outcome.dataset["test"]) == (8, 2, 2)
    assert outcome.metrics["settings"]["val_fraction"] == {"value": 0.2, "chosen": "data", "cases": "the data's own list"}
    assert outcome.history[0].val_accuracy is not None
