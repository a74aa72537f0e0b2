"""Continuous recordings built from labelled clips, with the truth of what is said where: the
validation streams a detector is calibrated on (export/calibrate.py) and the test streams of
benchmarks/keyword_stream.py.

A stream of ``seconds`` is background throughout (the clips' own quiet stretches at a clip's
noise floor, trainer/background.py) with clips placed after gaps drawn from ``gap_s``; each clip
is cut to its speech (its quiet edges removed, so the truth's span is the speech) and scaled by
a gain drawn from ``gain_db``. Clips labelled with a keyword are truth to catch; any other clip
(``_unknown_`` words, the data's own noise class) is placed all the same and recorded under its
own label: a detector must not fire on it. With ``snr_db`` set, Gaussian noise is added over the
whole stream at that signal-to-noise ratio, the signal being the mean power of the speech placed.
Everything is drawn from the ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgernn.runtime.datasets import SequenceSet
from edgernn.runtime.errors import InputError
from edgernn.runtime.scoring import Utterance
from edgernn.trainer.background import BackgroundMix, quiet_edges, background, noise_floor, quiet_stretches


@dataclass(frozen=True)
class StreamRecipe:
    seconds: float = 60.0                      # length of one stream
    gap_s: tuple[float, float] = (0.5, 3.0)    # background before each clip, uniform
    gain_db: tuple[float, float] = (-6.0, 6.0)  # each clip's gain, uniform in dB
    snr_db: float | None = None                # added noise over the stream (None: none)

    def __post_init__(self) -> None:
        if self.seconds <= 0 or not 0 <= self.gap_s[0] <= self.gap_s[1] or self.gain_db[0] > self.gain_db[1]:
            raise InputError(f"a stream recipe needs seconds > 0, 0 <= gap_s[0] <= gap_s[1] and gain_db[0] <= gain_db[1]; "
                             f"got {self}")


def speech_of(clip: np.ndarray, rate: int, mix: BackgroundMix) -> np.ndarray:
    """The clip without its quiet start and end (the whole clip when it has no quiet edges)."""
    head, tail = quiet_edges(clip, rate, mix)
    speech = clip[head:len(clip) - tail]
    return speech if len(speech) else clip


def build_stream(clips: SequenceSet, recipe: StreamRecipe, seed: int) -> tuple[np.ndarray, list[Utterance]]:
    """(float32 [seconds x rate] samples in [-1, 1], what is said where) from ``clips``
    (labelled audio); see the module's docstring."""
    if clips.sample_rate is None or clips.labels is None or len(clips) == 0:
        raise InputError("a stream is built from labelled audio clips (WAV data), at least one")
    rng = np.random.default_rng(seed)
    rate, mix = clips.sample_rate, BackgroundMix("")
    total = int(recipe.seconds * rate)
    pool = quiet_stretches(clips.sequences, rate, mix)
    floors = np.array([noise_floor(clip, rate, mix.frame_s) for clip in clips.sequences])
    out = background(rng, pool, floors, total, mix).astype(np.float64)
    truth, speech_power, position = [], [], 0
    while True:
        position += int(rng.uniform(*recipe.gap_s) * rate)
        index = int(rng.integers(len(clips)))
        speech = speech_of(clips.sequences[index], rate, mix) * 10 ** (rng.uniform(*recipe.gain_db) / 20)
        if position + len(speech) > total:
            break
        out[position:position + len(speech)] += speech
        truth.append(Utterance(clips.labels[index], position / rate, (position + len(speech)) / rate))
        speech_power.append(float(np.mean(np.square(speech))))
        position += len(speech)
    if recipe.snr_db is not None and speech_power:
        noise_rms = np.sqrt(np.mean(speech_power) / 10 ** (recipe.snr_db / 10))
        out += rng.normal(0.0, noise_rms, total)
    return np.clip(out, -1.0, 1.0).astype(np.float32), truth
