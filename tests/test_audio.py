"""The log-mel front end (runtime/audio.py): batch vs streaming frames, filterbank, input checks."""

from __future__ import annotations

import numpy as np
import pytest

from edgernn.runtime.audio import LogMel, LogMelConfig, check_samples, mel_filters
from edgernn.runtime.errors import InputError, InputTypeError, MetadataError
from edgernn.runtime.frontend import LogMelFrontend, frontend_from_json


@pytest.mark.parametrize("config", [
    LogMelConfig(sample_rate=8000),                                   # FSDD: window 200, hop 80
    LogMelConfig(sample_rate=16000, window_ms=32, hop_ms=16, mel_bands=64),
    LogMelConfig(sample_rate=22050, window_ms=20, hop_ms=20, mel_bands=13, fmin=0, fmax=8000),
    LogMelConfig(sample_rate=8000, mean_norm_ms=200),                 # running mean carried between pushes
])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stream_in_random_pieces_gives_the_batch_frames(config, seed):
    rng = np.random.default_rng(seed)
    audio = (0.3 * rng.standard_normal(int(rng.integers(0, 3 * config.sample_rate // 4)))).astype(np.float32)
    whole = LogMel(config).frames(audio)
    assert whole.shape == (config.frame_count(len(audio)), config.mel_bands) and whole.dtype == np.float32
    stream = LogMel(config).stream()
    pieces, start = [], 0
    while start < len(audio):
        size = int(rng.choice([0, 1, 7, config.hop, config.window + 3, int(rng.integers(1, 2000))]))
        pieces.append(stream.push(audio[start:start + size]))
        start += size
    streamed = np.concatenate(pieces) if pieces else np.empty((0, config.mel_bands), np.float32)
    assert streamed.shape == whole.shape
    np.testing.assert_allclose(streamed, whole, rtol=0, atol=1e-6)


@pytest.mark.parametrize("config", [
    LogMelConfig(sample_rate=8000, mean_norm_ms=200),
    LogMelConfig(sample_rate=16000, window_ms=32, hop_ms=16, mel_bands=64),
    LogMelConfig(sample_rate=22050, window_ms=20, hop_ms=20, mel_bands=13, fmin=0, fmax=8000),  # hop == window
])
@pytest.mark.parametrize("offset", [0, 1, 57, 199])
def test_hop_by_hop_pushes_give_one_batch_frame_each(config, offset):
    """The always-on case (a hop per push, from any alignment) takes the stream's one-hop path."""
    rng = np.random.default_rng(offset)
    audio = (0.3 * rng.standard_normal(offset + 60 * config.hop)).astype(np.float32)
    whole = LogMel(config).frames(audio)
    stream = LogMel(config).stream()
    pieces = [stream.push(audio[:offset])]
    for start in range(offset, len(audio), config.hop):
        pieces.append(stream.push(audio[start:start + config.hop]))
        if start + config.hop >= config.window:  # once the first window is full, every hop completes one frame
            assert len(pieces[-1]) == 1
    np.testing.assert_allclose(np.concatenate(pieces), whole, rtol=0, atol=1e-6)


def test_running_mean_is_the_mean_so_far_then_an_exponential_average():
    rng = np.random.default_rng(0)
    audio = (0.3 * rng.standard_normal(8000)).astype(np.float32)
    raw = LogMel(LogMelConfig(sample_rate=8000)).frames(audio).astype(np.float64)
    normed = LogMel(LogMelConfig(sample_rate=8000, mean_norm_ms=200)).frames(audio)  # rate 10 / 200 = 0.05
    np.testing.assert_allclose(normed[:20], raw[:20] - np.cumsum(raw[:20], axis=0) / np.arange(1, 21)[:, None], atol=1e-5)
    mean = raw[:20].mean(axis=0)
    for t in range(20, len(raw)):
        mean += 0.05 * (raw[t] - mean)
    np.testing.assert_allclose(normed[-1], raw[-1] - mean, atol=1e-5)
    # a constant offset (a louder microphone: a gain is an offset in log energy) is taken out
    louder = LogMel(LogMelConfig(sample_rate=8000, mean_norm_ms=200)).frames(audio * 4)
    np.testing.assert_allclose(louder, normed, atol=1e-4)


def test_frame_count_has_no_padding():
    config = LogMelConfig(sample_rate=8000)  # window 200, hop 80
    assert (config.window, config.hop, config.n_fft) == (200, 80, 256)
    assert [config.frame_count(n) for n in (0, 199, 200, 279, 280, 8000)] == [0, 0, 1, 1, 2, 98]
    assert LogMel(config).frames(np.zeros(150, np.float32)).shape == (0, 40)


def test_a_tone_lights_the_band_that_holds_its_frequency():
    config = LogMelConfig(sample_rate=16000, mel_bands=40)
    t = np.arange(16000) / 16000
    frames = LogMel(config).frames((0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32))
    filters = mel_filters(config)
    band_of_1khz = int(filters[round(1000 * config.n_fft / 16000)].argmax())
    assert set(frames.argmax(axis=1)) == {band_of_1khz}


def test_filters_cover_the_range_once():
    filters = mel_filters(LogMelConfig(sample_rate=8000, mel_bands=20))
    assert filters.shape == (129, 20) and (filters >= 0).all() and filters.max() <= 1.0
    assert (filters.sum(axis=0) > 0).all()  # no empty band at this resolution


@pytest.mark.parametrize("kwargs, message", [
    ({"hop_ms": 30.0}, "need 0 < hop_ms <= window_ms"),
    ({"mel_bands": 0}, "mel_bands must be an integer in [1, 256]"),
    ({"sample_rate": 500}, "sample_rate must be an integer >= 1000 Hz"),
    ({"fmin": 5000.0}, "need 0 <= fmin < fmax <= sample_rate/2"),
    ({"mean_norm_ms": -1.0}, "mean_norm_ms must be >= 0"),
])
def test_bad_filterbank_settings_are_refused(kwargs, message):
    with pytest.raises(InputError, match=message.replace("[", r"\[").replace("]", r"\]")):
        LogMelConfig(**{"sample_rate": 8000, **kwargs})


def test_samples_are_checked():
    pcm = np.array([0, 16384, -32768], dtype=np.int16)
    np.testing.assert_array_equal(check_samples(pcm), [0.0, 0.5, -1.0])
    assert check_samples([0.1, 0.2]).dtype == np.float32
    with pytest.raises(InputError, match=r"expected mono samples of shape \[n\], got \[10, 2\]; mix channels down"):
        check_samples(np.zeros((10, 2), np.float32))
    with pytest.raises(InputTypeError, match="expected float samples in \\[-1, 1\\] or int16 PCM, got dtype int32"):
        check_samples(np.zeros(4, np.int32))
    bad = np.zeros(8, np.float32)
    bad[5] = np.nan
    with pytest.raises(InputError, match="NaN/Inf at sample 5"):
        check_samples(bad)
    assert np.isnan(check_samples(bad, allow_nonfinite=True)[5])
    with pytest.raises(InputTypeError, match="as a 1-D numpy array, got str"):
        check_samples("audio.wav")


def test_frontend_round_trips_through_json_and_normalises():
    config = LogMelConfig(sample_rate=8000, mel_bands=16)
    rng = np.random.default_rng(0)
    clips = [(0.2 * rng.standard_normal(4000)).astype(np.float32) for _ in range(5)]
    frontend = LogMelFrontend.fit(clips, config)
    frames = np.concatenate([frontend(c) for c in clips])
    np.testing.assert_allclose(frames.mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(frames.std(axis=0), 1, atol=1e-3)
    again = frontend_from_json(frontend.to_json())
    assert again.config == config and again.step_length == 80
    np.testing.assert_array_equal(again(clips[0]), frontend(clips[0]))


@pytest.mark.parametrize("change, message", [
    (lambda s: s.pop("logmel"), "needs a 'logmel' object"),
    (lambda s: s["logmel"].update(hop_ms=99.0), "malformed 'logmel' parameters"),
    (lambda s: s["logmel"].pop("sample_rate"), "malformed 'logmel' parameters"),
    (lambda s: s.update(mean=[0.0] * 3), "'mean' and 'std' must be lists of length 'features'"),
])
def test_malformed_logmel_metadata_is_named(change, message):
    spec = LogMelFrontend.fit([np.zeros(1000, np.float32)], LogMelConfig(sample_rate=8000, mel_bands=8)).to_json()
    change(spec)
    with pytest.raises(MetadataError, match=message):
        frontend_from_json(spec)


@pytest.mark.parametrize("change, message", [
    (lambda s: s["in_graph"].update(step_samples=81), "'in_graph' must be"),
    (lambda s: s["in_graph"].update(primer_state="h"), "'in_graph' must be"),
    (lambda s: s.update(in_graph=True), "'in_graph' must be"),
])
def test_a_front_end_in_the_graph_must_match_its_filterbank(change, message):
    frontend = LogMelFrontend.fit([np.zeros(1000, np.float32)], LogMelConfig(sample_rate=8000, mel_bands=8))
    spec = LogMelFrontend(frontend.config, frontend.norm, in_graph=True).to_json()
    assert spec["in_graph"] == {"step_samples": 80, "primer_samples": 120, "primer_state": "audio"}
    assert frontend_from_json(spec).features == 80
    change(spec)
    with pytest.raises(MetadataError, match=message):
        frontend_from_json(spec)
