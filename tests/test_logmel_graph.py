"""The log-mel front end as an ONNX graph (export/logmel_graph.py) against runtime/audio.py:
the same frames to 1e-4 from raw samples, in pieces of any number of hops, streams batched."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from edgernn.export.logmel_graph import logmel_graph
from edgernn.runtime.audio import LogMelConfig
from edgernn.runtime.frontend import FeatureFrontend, LogMelFrontend


def speech_like(rate: int, seconds: float, seed: int) -> np.ndarray:
    """Noise at a low floor with tones and bursts at several levels: float32 samples in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 440 * t) * (t > 0.5) * (t < 1.5) + 0.05 * np.sin(2 * np.pi * 2500 * t) * (t > 1.2)
    return (tone + 10 ** rng.uniform(-4, -2) * rng.standard_normal(len(t))).astype(np.float32)


def run_stream(session: ort.InferenceSession, config: LogMelConfig, audio: np.ndarray, hops_per_call: list[int]) -> np.ndarray:
    """Prime the overlap state with the first window - hop samples, then call with the given
    numbers of hops in turn (cycling) until no whole hop is left: float32 [frames, bands]."""
    overlap, hop = config.window - config.hop, config.hop
    state = {"audio": audio[None, :overlap], "norm_mean": np.zeros((1, config.mel_bands), np.float32),
             "norm_frames": np.zeros((1, 1), np.float32)}
    rest, out, position, call = audio[overlap:], [], 0, 0
    while position + hop <= len(rest):
        hops = min(hops_per_call[call % len(hops_per_call)], (len(rest) - position) // hop)
        frames, *states = session.run(None, {"samples": rest[None, position:position + hops * hop], **state})
        state = dict(zip(state, states))
        out.append(frames[0])
        position, call = position + hops * hop, call + 1
    return np.concatenate(out)


@pytest.mark.parametrize("config", [LogMelConfig(sample_rate=16000, mean_norm_ms=200.0), LogMelConfig(sample_rate=8000),
                                    LogMelConfig(sample_rate=16000, window_ms=32.0, hop_ms=16.0, mel_bands=24)],
                         ids=["16k-running-mean", "8k", "16k-32ms"])
def test_the_graph_gives_the_runtimes_frames_in_pieces_of_any_number_of_hops(config):
    rng = np.random.default_rng(1)
    norm = FeatureFrontend(rng.normal(size=config.mel_bands).astype(np.float32),
                           rng.uniform(1, 3, config.mel_bands).astype(np.float32))
    session = ort.InferenceSession(logmel_graph(config, norm).SerializeToString(), providers=["CPUExecutionProvider"])
    audio = speech_like(config.sample_rate, 2.3, seed=2)
    expected = LogMelFrontend(config, norm)(audio)
    assert len(expected) == 1 + (len(audio) - config.window) // config.hop
    one_call = run_stream(session, config, audio, [len(audio)])
    for hops in ([1], [3, 1, 7], [50]):
        got = run_stream(session, config, audio, hops)
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= 1e-4, hops
        np.testing.assert_allclose(got, one_call, atol=1e-5)


def test_streams_batched_together_each_equal_their_own():
    config = LogMelConfig(sample_rate=8000, mean_norm_ms=200.0)
    norm = FeatureFrontend(np.zeros(config.mel_bands, np.float32), np.ones(config.mel_bands, np.float32))
    session = ort.InferenceSession(logmel_graph(config, norm).SerializeToString(), providers=["CPUExecutionProvider"])
    streams = [speech_like(8000, 1.0, seed) for seed in (3, 4)]
    overlap, hop = config.window - config.hop, config.hop
    state = {"audio": np.stack([s[:overlap] for s in streams]), "norm_mean": np.zeros((2, config.mel_bands), np.float32),
             "norm_frames": np.zeros((2, 1), np.float32)}
    batched = []
    for start in range(overlap, 8000 - 4 * hop, 4 * hop):
        frames, *states = session.run(None, {"samples": np.stack([s[start:start + 4 * hop] for s in streams]), **state})
        state = dict(zip(state, states))
        batched.append(frames)
    batched = np.concatenate(batched, axis=1)
    for i, audio in enumerate(streams):
        alone = LogMelFrontend(config, norm)(audio)[: batched.shape[1]]
        assert np.abs(batched[i] - alone).max() <= 1e-4
