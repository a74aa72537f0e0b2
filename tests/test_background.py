"""The background class for continuous audio (trainer/background.py), its metadata, the reset
policy it enables and `edgernn stream` on a model that has one."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from edgernn.runtime import InputError, Model, ResetPolicy
from edgernn.runtime.datasets import SequenceSet
from edgernn.runtime.splits import load_train_test
from edgernn.runtime.errors import MetadataError
from edgernn.runtime.metadata import GraphMetadata
from edgernn.trainer.background import BackgroundMix, add_background, frame_rms, noise_floor, quiet_stretches
from edgernn.trainer.config import TrainConfig
from test_wav import make_digit_folder, tone, write_wav

from support import MEASURED_SETTINGS

RATE = 8000


def clips_with_quiet_edges(count: int = 6, seed: int = 0) -> SequenceSet:
    """Tones with 50 ms of faint noise before and after, labelled by pitch."""
    rng = np.random.default_rng(seed)
    sequences, labels = [], []
    for i in range(count):
        quiet = lambda: (0.002 * rng.standard_normal(400)).astype(np.float32)  # noqa: E731
        sequences.append(np.concatenate([quiet(), tone(300 if i % 2 else 1500, 0.2, seed=i), quiet()]))
        labels.append("low" if i % 2 else "high")
    return SequenceSet(sequences, labels, ["high", "low"], "tones", "tones", sample_rate=RATE)


def test_quiet_stretches_are_the_clips_quiet_edges():
    data = clips_with_quiet_edges()
    mix = BackgroundMix("_bg_")
    stretches = quiet_stretches(data.sequences, RATE, mix)
    assert len(stretches) == 2 * len(data)
    assert all(360 <= len(s) <= 480 and np.sqrt(np.mean(s ** 2)) < 0.004 for s in stretches)
    assert noise_floor(data.sequences[0], RATE, mix.frame_s) < 0.004
    np.testing.assert_allclose(frame_rms(np.ones(250), 80), np.ones(3))


def clip_offset(sequence: np.ndarray, clip: np.ndarray) -> int | None:
    """Where ``clip``'s tone (its samples 400-480) starts in ``sequence``, less 400; None if absent."""
    windows = np.lib.stride_tricks.sliding_window_view(sequence, 80)
    hits = np.flatnonzero((windows == clip[400:480]).all(axis=1))
    return int(hits[0]) - 400 if len(hits) else None


def test_training_split_gets_lead_ins_trails_onsets_and_background_clips():
    data = clips_with_quiet_edges()  # 400 quiet samples, 1600 of tone, 400 quiet
    mix = BackgroundMix("_bg_", trail_share=0.5, onset_share=0.5)
    out = add_background(data, mix, seed=3)
    assert out.classes == ["high", "low", "_bg_"] and out.sample_rate == RATE
    n = len(data)
    assert out.labels == data.labels + ["_bg_"] * (n // 2 + n // 2 + n // 2)
    speech_end, lead_max = 2000, mix.lead_in_s[1] * RATE
    sources = [data.sequences[i % n] for i in range(n)]
    for seq, clip in zip(out.sequences[:n], sources):  # a word: lead-in, the speech whole, <= word_tail_s after
        at = clip_offset(seq, clip)
        assert at is not None and 0 <= at <= lead_max
        np.testing.assert_array_equal(seq[at + 400: at + speech_end], clip[400:speech_end])
        assert 0 <= len(seq) - at - speech_end <= mix.word_tail_s * RATE
    for seq in out.sequences[n: n + n // 2]:  # a finished word: its speech, then >= trail_s[0] of quiet
        at = next(a for a in (clip_offset(seq, c) for c in data.sequences) if a is not None)
        assert mix.trail_s[0] * RATE - 1 <= len(seq) - at - speech_end <= mix.trail_s[1] * RATE
    for seq in out.sequences[n + n // 2: n + 2 * (n // 2)]:  # an onset: at most 35% of the speech
        assert len(seq) <= lead_max + 400 + mix.onset_fraction * 1600 + 1
    clip_only = out.sequences[n + 2 * (n // 2):]
    assert all(mix.clip_s[0] * RATE - 1 <= len(s) <= mix.clip_s[1] * RATE for s in clip_only)
    assert all(np.sqrt(np.mean(s.astype(np.float64) ** 2)) < 0.01 for s in clip_only)  # at a noise floor, not a word
    again = add_background(data, mix, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(out.sequences, again.sequences))


def test_an_onset_copy_of_a_word_that_starts_at_once_is_still_long_enough_to_hear():
    rng = np.random.default_rng(0)
    words = [np.concatenate([tone(300 if i % 2 else 1500, 0.2, seed=i), (0.002 * rng.standard_normal(400)).astype(np.float32)])
             for i in range(8)]  # speech from the first sample, then a quiet end
    data = SequenceSet(words, ["low" if i % 2 else "high" for i in range(8)], ["high", "low"], "tones", "tones",
                       sample_rate=RATE)
    mix = BackgroundMix("_bg_", lead_in_s=(0.0, 0.0), onset_share=1.0, trail_share=0.0)
    out = add_background(data, mix, seed=0)
    onsets = out.sequences[len(data): 2 * len(data)]
    assert all(len(s) == round(mix.shortest_s * RATE) for s in onsets)  # a cut of 0-35% of 0.2 s, padded to 0.1 s


def test_test_split_keeps_its_words_to_just_after_their_speech_and_gains_background_clips():
    data = clips_with_quiet_edges()
    out = add_background(data, BackgroundMix("_bg_"), seed=1, words=False)
    assert out.labels[: len(data)] == data.labels
    assert all(a is b or np.array_equal(a, b) for a, b in zip(out.sequences, data.sequences))
    assert out.labels[len(data):] == ["_bg_"] * (len(data) // 2)
    rng = np.random.default_rng(2)
    long_quiet = [np.concatenate([c, (0.002 * rng.standard_normal(4000)).astype(np.float32)]) for c in data.sequences]
    cut = add_background(SequenceSet(long_quiet, data.labels, data.classes, "t", "t", sample_rate=RATE), BackgroundMix("_bg_"),
                         seed=1, words=False)
    for clip, original in zip(cut.sequences, data.sequences):  # 0.55 s of quiet after the tone: cut to 0.12 s
        assert len(clip) == 400 + 1600 + round(0.12 * RATE) and np.array_equal(clip[:2000], original[:2000])


def test_a_background_class_the_data_has_keeps_its_clips_and_lends_them_to_the_mix():
    words = clips_with_quiet_edges()
    rng = np.random.default_rng(5)
    hum = [(0.05 * np.sin(2 * np.pi * 50 * np.arange(4000) / RATE) + 0.01 * rng.standard_normal(4000)).astype(np.float32)
           for _ in range(3)]
    data = SequenceSet(words.sequences[:3] + hum + words.sequences[3:], words.labels[:3] + ["noise"] * 3 + words.labels[3:],
                       ["high", "noise", "low"], "w", "w", sample_rate=RATE)
    out = add_background(data, BackgroundMix("noise", trail_share=0.0, onset_share=0.0, noise_onset_share=0.0), seed=2)
    assert out.classes == ["high", "low", "noise"]
    n = len(words)
    assert out.labels[:n] == words.labels and out.labels[n:] == ["noise"] * (3 + n // 2)
    assert all(np.array_equal(a, b) for a, b in zip(out.sequences[n:n + 3], hum))  # kept whole, under their label
    made = out.sequences[n + 3:]  # made background clips draw on the hum as well as the quiet edges
    spectra = [np.abs(np.fft.rfft(s.astype(np.float64)))[:len(s) // 2] for s in made]
    assert any(np.argmax(sp) * RATE / (2 * len(sp)) == pytest.approx(50, abs=3) for sp in spectra)
    test = add_background(data, BackgroundMix("noise"), seed=2, words=False)
    assert test.labels[:n] == words.labels and test.labels[n:n + 3] == ["noise"] * 3
    only_noise = SequenceSet(hum, ["noise"] * 3, ["noise"], "h", "h", sample_rate=RATE)
    with pytest.raises(InputError, match="no class but the background 'noise'"):
        add_background(only_noise, BackgroundMix("noise"), seed=0)


def test_room_change_puts_lead_ins_at_another_level():
    quiet_room, loud_room = clips_with_quiet_edges(seed=1), clips_with_quiet_edges(seed=2)
    loud = [np.concatenate([c[:400] * 20, c[400:2000], c[2000:] * 20]) for c in loud_room.sequences]  # room noise ~0.04
    data = SequenceSet(quiet_room.sequences + loud, quiet_room.labels * 2, quiet_room.classes, "r", "r", sample_rate=RATE)

    def lead_in_levels(share: float) -> list[float]:
        """Each word clip's lead-in RMS over the clip's own noise floor."""
        mix = BackgroundMix("_bg_", lead_in_s=(0.2, 0.3), trail_share=0.0, onset_share=0.0, room_change_share=share)
        out = add_background(data, mix, seed=4)
        return [np.sqrt(np.mean(np.square(sequence[:clip_offset(sequence, clip)], dtype=np.float64)))
                / noise_floor(clip, RATE, mix.frame_s) for sequence, clip in zip(out.sequences, data.sequences)]

    # the word's own room (or, one time in four, fainter noise alone: background()), never louder
    assert max(lead_in_levels(0.0)) < 2
    assert max(lead_in_levels(1.0)) > 3  # rooms louder than the word's own
    with pytest.raises(InputError, match="room_change_share"):
        TrainConfig(room_change_share=-0.1)


def test_noise_onset_copies_put_the_datas_noise_after_quiet():
    words = clips_with_quiet_edges()
    rng = np.random.default_rng(5)
    hum = [(0.05 * np.sin(2 * np.pi * 50 * np.arange(4000) / RATE) + 0.01 * rng.standard_normal(4000)).astype(np.float32)
           for _ in range(4)]
    data = SequenceSet(words.sequences + hum, words.labels + ["noise"] * 4, ["high", "low", "noise"], "w", "w",
                       sample_rate=RATE)
    mix = BackgroundMix("noise", trail_share=0.0, onset_share=0.0, noise_onset_share=0.5)
    plain = add_background(data, BackgroundMix("noise", trail_share=0.0, onset_share=0.0, noise_onset_share=0.0), seed=3)
    out = add_background(data, mix, seed=3)
    assert len(out) == len(plain) + 2 and out.labels.count("noise") == plain.labels.count("noise") + 2
    copies = out.sequences[len(words):len(words) + 2]  # after the words, before the data's own clips
    for copy in copies:
        windows = np.lib.stride_tricks.sliding_window_view(copy, 80)
        starts = [(i, int(hits[0])) for i, h in enumerate(hum) if len(hits := np.flatnonzero((windows == h[:80]).all(axis=1)))]
        assert len(starts) == 1, "each copy holds one of the data's noise clips from its first sample"
        which, lead = starts[0]
        assert mix.noise_lead_in_s[0] * RATE <= lead <= mix.noise_lead_in_s[1] * RATE
        assert np.sqrt(np.mean(np.square(copy[:lead], dtype=np.float64))) < 0.01  # quiet, then the noise
        heard = len(copy) - lead
        assert mix.shortest_s * RATE - 1 <= heard <= len(hum[which]) + mix.noise_trail_s * RATE
        shared = min(heard, len(hum[which]))
        assert np.array_equal(copy[lead:lead + shared], hum[which][:shared])
    with pytest.raises(InputError, match="noise_onset_share"):
        TrainConfig(noise_onset_share=1.5)


def test_background_refuses_non_audio_data():
    frames = SequenceSet([np.zeros((4, 3), np.float32)], ["a"], ["a"], "f", "f")
    with pytest.raises(InputError, match="needs labelled audio recordings"):
        add_background(frames, BackgroundMix("_bg_"), seed=0)


def test_metadata_background_round_trip_and_validation(gru_onnx):
    meta = Model(gru_onnx).metadata
    assert meta.background is None and "edgernn.background" not in meta.to_props()
    meta.background = meta.labels[0]
    props = meta.to_props()
    assert props["edgernn.background"] == meta.labels[0]
    assert GraphMetadata.from_props(props).background == meta.labels[0]
    with pytest.raises(MetadataError, match=r"edgernn.background must be one of the labels .*, got 'nope'"):
        GraphMetadata.from_props({**props, "edgernn.background": "nope"})


@pytest.fixture(scope="module")
def background_model(tmp_path_factory, train_seed):
    """A small GRU trained on tones with a background class, exported fp32."""
    from edgernn.export.exporter import export
    from edgernn.trainer.config import TrainConfig
    from edgernn.trainer.train import train

    base = tmp_path_factory.mktemp("bg")
    root = make_digit_folder(base / "rec")
    outcome = train(root, base / "run", {"cell": "gru", "hidden": 16},
                    TrainConfig(**{**MEASURED_SETTINGS, "epochs": 6}, seed=train_seed, threads=1, mel_bands=16, background="_bg_"),
                    log=lambda m: None, label_regex=r"^([a-z]+)_", test_regex=r"_[0-1]\.wav$")
    artifacts = export(outcome.checkpoint, precisions=("fp32",), log=lambda m: None)
    return outcome, Model(artifacts["fp32"].path)


@pytest.mark.floor
def test_a_background_model_carries_its_label_and_resets_on_it(background_model, figures):
    outcome, model = background_model
    assert model.labels == ["high", "low", "_bg_"] and model.background == "_bg_"
    assert outcome.metrics["per_class"][2]["support"] == 4  # the test split's background clips
    bg = model.labels.index("_bg_")
    stream = model.stream(reset=ResetPolicy(background_steps=3))
    audio = np.concatenate([np.zeros(1600, np.float32), tone(1500, 0.2), np.zeros(4000, np.float32)])
    top, zeroed = [], []
    for start in range(0, len(audio), 80):  # one 10 ms hop, one step, per push
        probs = stream.push(audio[start:start + 80])
        top += list(probs.argmax(axis=1))
        zeroed += [not stream.state["h"].any()] * len(probs)
    run, expected = 0, []
    for k in top:  # the state is zeroed after the step that makes 3 background answers in a row, once per such run
        run = run + 1 if k == bg else 0
        expected.append(run == 3)
    whole = model.stream(reset=ResetPolicy(background_steps=3))
    whole.push(audio)  # a push of many steps is judged after it: at most one reset
    # one reset per run of background: the silence before the tone and the silence after it (and
    # any run within the tone); seeds 0-4: 4 / 3 / 2 / 2 / 3 resets
    figures.at_least("hop_by_hop_resets", stream.resets, 2)
    figures.at_least("one_push_resets", whole.resets, 1)  # seeds 0-4: 1 every time (the audio ends in 0.5 s of silence)
    figures.verify()
    assert stream.resets == sum(expected) and zeroed == expected and whole.resets == 1


def test_background_steps_needs_a_background_class(gru_onnx):
    with pytest.raises(InputError, match="background_steps needs a model trained with a background class"):
        Model(gru_onnx).stream(reset=ResetPolicy(background_steps=5))
    with pytest.raises(InputError, match="every value must be > 0"):
        ResetPolicy(background_steps=0)


def test_stream_verb_never_reports_the_background_and_resets_only_when_asked(background_model, tmp_path):
    from edgernn.cli.main import cli

    _, model = background_model
    audio = np.concatenate([np.zeros(2400, np.float32), tone(1500, 0.25), np.zeros(2400, np.float32)])
    wav = write_wav(tmp_path / "a.wav", audio)
    result = CliRunner().invoke(cli, ["stream", str(model.path), str(wav), "--json", "--window", "1", "--threshold", "0.01"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(r["label"] != "_bg_" for r in rows[:-1]) and len(rows) > 1
    assert rows[-1]["resets"] == 0  # no reset by default
    never = CliRunner().invoke(cli, ["stream", str(model.path), str(wav), "--json", "--reset-after-background", "0"])
    assert json.loads(never.stdout.splitlines()[-1])["resets"] == 0
    # asked for: the 0.3 s of silence before the tone is a run of background answers, reset once
    asked = CliRunner().invoke(cli, ["stream", str(model.path), str(wav), "--json", "--reset-after-background", "3"])
    assert json.loads(asked.stdout.splitlines()[-1])["resets"] >= 1


def test_train_refuses_background_for_feature_data(tmp_path, sample_dir):
    from edgernn.trainer.config import TrainConfig
    from edgernn.trainer.train import train

    with pytest.raises(InputError, match="--background needs audio recordings"):
        train(sample_dir, tmp_path / "run", {"cell": "gru", "hidden": 8}, TrainConfig(epochs=1, background="_bg_"),
              log=lambda m: None)


def test_background_recordings_load_like_any_wav_folder(tmp_path):
    root = make_digit_folder(tmp_path / "rec")
    train_set, _ = load_train_test(root, label_regex=r"^([a-z]+)_", test_regex=r"_[0-1]\.wav$")
    mix = BackgroundMix("_bg_")
    out = add_background(train_set, mix, seed=0)
    n = len(train_set)
    assert len(out) == n + round(mix.trail_share * n) + round(mix.onset_share * n) + n // 2


def contains(sequence: np.ndarray, piece: np.ndarray) -> bool:
    if len(sequence) < len(piece):
        return False
    return bool((np.lib.stride_tricks.sliding_window_view(sequence, len(piece)) == piece).all(axis=1).any())


def test_validation_clips_are_held_out_before_the_background_mix(tmp_path):
    """No copy of a validation clip (a trail or onset copy) reaches training; 10% of each class
    is held out whatever the data's size; --val-fraction 0 holds out nothing."""
    from edgernn.trainer.config import TrainConfig
    from edgernn.trainer.train import with_background

    train_set, test_set = load_train_test(make_digit_folder(tmp_path / "rec"), label_regex=r"^([a-z]+)_",
                                          test_regex=r"_[0-1]\.wav$")
    mixed, test_mixed, held = with_background(train_set, test_set, TrainConfig(background="_bg_"))
    assert sorted(train_set.labels[i] for i in held) == ["high", "low"]  # round(0.1 x 8) of each
    listed = set(mixed.validation.tolist())
    assert listed == set(range(len(mixed) - len(listed), len(mixed)))
    for i in range(len(train_set)):
        start = train_set.sequences[i][:200]
        holders = {j for j, sequence in enumerate(mixed.sequences) if contains(sequence, start)}
        assert holders and (holders <= listed if i in held else not holders & listed)
    assert test_mixed.classes == ["high", "low", "_bg_"] and len(test_mixed) > len(test_set)
    none_held = with_background(train_set, test_set, TrainConfig(background="_bg_", val_fraction=0.0))
    assert len(none_held[2]) == 0 and none_held[0].validation is None


def test_stream_ingredients_preceding_speech_noise_at_an_snr_and_gain():
    data = clips_with_quiet_edges(count=8)  # 400 quiet samples, 1600 of tone, 400 quiet
    n = len(data)
    plain = add_background(data, BackgroundMix("_bg_"), seed=7)
    mixed = add_background(data, BackgroundMix("_bg_", preceding_share=0.5), seed=7)
    copies = mixed.sequences[len(plain) - n // 2: len(plain) - n // 2 + n // 2]  # after the onsets, before the clips made
    assert mixed.labels.count("_bg_") == plain.labels.count("_bg_") and len(mixed) == len(plain) + n // 2
    for sequence, label in zip(copies, mixed.labels[len(plain) - n // 2:]):
        heard = [(at, lab) for lab, clip in zip(data.labels, data.sequences) if (at := clip_offset(sequence, clip)) is not None]
        assert [lab for _, lab in sorted(heard)] == [label]  # its own word, whole, ends the copy
        assert len(sequence) - heard[0][0] - 2000 <= BackgroundMix("_bg_").word_tail_s * RATE
        before = sequence[:heard[0][0] + 400]  # the end of another class's word comes first
        assert np.sqrt(np.mean(before.astype(np.float64) ** 2)) > 0.05 and len(before) > 0.05 * RATE
    for snr in (0.0, 20.0):
        noisy = add_background(data, BackgroundMix("_bg_", noise_share=1.0, snr_db=(snr, snr)), seed=7)
        noise = np.concatenate([a.astype(np.float64) - b for a, b in zip(noisy.sequences, plain.sequences)])
        speech_power = np.mean(np.square(data.sequences[0][400:2000], dtype=np.float64))
        assert 10 * np.log10(speech_power / np.mean(noise ** 2)) == pytest.approx(snr, abs=0.5)
    louder = add_background(data, BackgroundMix("_bg_", gain_db=6.0), seed=7)
    gains = [20 * np.log10(np.abs(a).max() / np.abs(b).max()) for a, b in zip(louder.sequences, plain.sequences)]
    assert all(-6.01 <= g <= 6.01 for g in gains) and np.std(gains) > 1.0


def test_the_background_reset_is_due_once_per_run_however_the_steps_are_pushed():
    from edgernn.runtime.model import background_run

    answers = np.array([1, 1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 0, 1], dtype=bool)  # True: background
    # a push is judged by the run it ends with: step by step, each of the runs of 5 and 7 resets
    # once (not again at 6); a push that ends inside a run resets when that run has reached 3
    # (counted from before the push); one push of everything ends in a run of 1: no reset
    for pieces, expected in (([1] * 15, 2), ([4, 4, 4, 3], 2), ([15], 0), ([2, 7, 6], 1), ([3, 3, 3, 3, 3], 2)):
        run, resets = 0, 0
        bounds = np.cumsum([0, *pieces])
        for start, stop in zip(bounds[:-1], bounds[1:]):
            run, due = background_run(answers[start:stop], run, 3)
            resets += due
        assert (resets, run) == (expected, 1), pieces


def test_a_run_recorded_before_the_level_changes_resumes_without_them():
    from dataclasses import asdict

    recorded = asdict(TrainConfig(background="_bg_", seed=3))
    assert TrainConfig.from_record(recorded) == TrainConfig(background="_bg_", seed=3)  # today's record: as it was
    del recorded["room_change_share"], recorded["noise_onset_share"]  # a record written before they existed
    older = TrainConfig.from_record(recorded)
    assert (older.room_change_share, older.noise_onset_share, older.seed) == (0.0, 0.0, 3)
    assert (TrainConfig().room_change_share, TrainConfig().noise_onset_share) == (0.5, 1.0)
