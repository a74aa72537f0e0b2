"""A background class for always-on audio: what the model hears between words.

A model trained on isolated clips has only ever seen a word starting from a zero state and has
nothing sensible to say between words. ``add_background`` turns a split of word clips into one a
streaming model can learn from:
- background clips (about one class's worth), labelled ``label``: quiet stretches cut from the
  recordings' own starts and ends (their room and microphone noise), tiled, plus low-level
  Gaussian noise, at the noise floor of a randomly chosen recording;
- every word clip gets a random lead-in of that background, as in a stream where the model has
  been listening to silence before the word, and ends at most ``word_tail_s`` after its speech
  (its own quiet end is cut or extended to a random length up to that); it keeps its label;
- copies of some word clips (``trail_share`` per clip) continue with ``trail_s`` of quiet after
  the speech and are labelled ``label``: once a word is over, the answer falls back to
  background. Between ``word_tail_s`` and ``trail_s[0]`` after a word the answer is left free;
- copies of some word clips (``onset_share``) stop within the first ``onset_fraction`` of their
  speech and are labelled ``label``: a model that cannot tell a word yet says nothing.
The test split's word clips keep their start and speech but end at most ``word_tail_s`` after it,
as the training words do: a word's label is the answer once it has been heard, and after a long
quiet end the right answer is background (clips synthesised by espeak-ng end with 0.2-0.6 s of
silence: one model scored 90% on them cut so and 57% whole). It gains background clips made from
its own recordings, so the background class is measured too. Everything is drawn from ``seed``.

More ingredients make training clips look like a stream (docs/streams.md gives what each buys;
the first three are off by default, the last two on):
- ``preceding_share``: word clips copied with the end of another class's word (its last 30-100%,
  then a short gap) before them, keeping their label: a keyword right after other speech;
- ``noise_share``: training sequences (words, copies and background clips alike) mixed with
  noise at an SNR uniform in ``snr_db`` against the data's median speech power: Gaussian noise,
  or, half the time when the data has its own background class, one of those clips;
- ``gain_db``: every training sequence scaled by a gain uniform in +-``gain_db`` decibels;
- ``room_change_share``: that share of the lead-ins (and of the trails of "word over" copies) is
  background at a level drawn from ``room_rms`` (log-uniform, digital silence to a loud room)
  rather than the word's own noise floor: the level changes at the word's edge, as where a
  recording's room noise starts in a quieter (or louder) stream;
- ``noise_onset_share`` (only when the data has its own background class, noise recordings):
  copies of those clips as a noise that starts in a stream: a lead-in of
  quiet (``noise_lead_in_s``), then the noise heard up to a random point, from ``shortest_s``
  into it to ``noise_trail_s`` after it stops; labelled ``label``. Whole noise clips start at
  the first step, where a stream's noise starts after quiet: a model never trained on that
  onset fires a keyword on it (docs/streams.md).

``label`` may be a class the data already has (noise or silence recordings, Speech Commands'
``_background_noise_``): its clips stay in the set under their label, are not treated as
words, and join the quiet stretches as background material (scaled to the level drawn, like
them), so lead-ins, trails and the made background clips carry the data's own noise too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from edgernn.runtime.datasets import SequenceSet
from edgernn.runtime.errors import InputError


@dataclass(frozen=True)
class BackgroundMix:
    label: str
    lead_in_s: tuple[float, float] = (0.0, 0.6)     # background before each word clip, uniform
    word_tail_s: float = 0.12                       # most quiet after the speech of a word-labelled clip
    trail_s: tuple[float, float] = (0.3, 0.8)       # quiet after the speech of a "word over" clip, uniform
    trail_share: float = 0.4                        # word clips copied with a trail, per word clip
    onset_share: float = 0.2                        # word clips copied cut short, per word clip
    onset_fraction: float = 0.35                    # an onset copy keeps at most this share of the speech
    clip_s: tuple[float, float] = (0.3, 1.5)        # length of a background-only clip
    shortest_s: float = 0.1                         # an onset copy is made at least this long with more lead-in
    frame_s: float = 0.01                           # frame used to find quiet stretches
    quiet_factor: float = 2.0                       # quiet: frame RMS <= this x the clip's quietest frame
    min_stretch_s: float = 0.02                     # shorter quiet edges are not used
    noise_rms: tuple[float, float] = (1e-4, 1e-2)   # added Gaussian noise, log-uniform (-80 to -40 dBFS)
    preceding_share: float = 0.0                    # word clips copied after the end of another class's word
    preceding_gap_s: tuple[float, float] = (0.05, 0.3)  # quiet between that word and the keyword
    noise_share: float = 0.0                        # training sequences mixed with noise at an SNR in snr_db
    snr_db: tuple[float, float] = (5.0, 30.0)       # uniform, against the data's median speech power
    gain_db: float = 0.0                            # training sequences scaled by +-this many dB, uniform
    room_change_share: float = 0.5                  # lead-ins and trails at another level than the word's room
    room_rms: tuple[float, float] = (1e-5, 3e-2)    # that level, log-uniform (-100 to -30 dBFS: silence to a loud room)
    noise_onset_share: float = 1.0                  # the data's background clips copied after quiet, per such clip
    noise_lead_in_s: tuple[float, float] = (0.1, 0.8)  # quiet before such a copy's noise, uniform
    noise_trail_s: float = 0.5                      # such a copy ends up to this long after its noise stops


def add_background(data: SequenceSet, mix: BackgroundMix, seed: int, words: bool = True) -> SequenceSet:
    """``data`` (audio, labelled) plus the background class; see the module's docstring.

    words: True for a training split (lead-ins and trails added to the word clips), False for a
    test split (quiet ends cut to ``word_tail_s``, background clips added). The result's classes
    are the data's other classes, then ``label``.
    """
    if data.sample_rate is None or data.labels is None:
        raise InputError("a background class needs labelled audio recordings (WAV data)")
    rng = np.random.default_rng(seed)
    rate = data.sample_rate
    own_clips = [clip for clip, label in zip(data.sequences, data.labels) if label == mix.label]
    if own_clips:  # the data's own background class: its clips are kept, and are background material
        words_only = np.array([i for i, label in enumerate(data.labels) if label != mix.label], dtype=np.int64)
        classes = [c for c in data.classes if c != mix.label]
        data = data.take(words_only, data.source)
        data.classes = classes
    if not data.classes:
        raise InputError(f"{data.source}: no class but the background {mix.label!r}; a model needs words to tell apart")
    pool = quiet_stretches(data.sequences, rate, mix) + [np.asarray(clip, np.float64) for clip in own_clips]
    floors = np.array([noise_floor(clip, rate, mix.frame_s) for clip in data.sequences])
    per_class = max(1, round(len(data) / len(data.classes)))
    sequences, labels = [], []
    if words:
        def quiet(clip: np.ndarray, samples: int, level: float | None = None) -> np.ndarray:
            """Background at ``level`` (default: the clip's own noise floor)."""
            return background(rng, pool, floors, samples, mix,
                              level=noise_floor(clip, rate, mix.frame_s) if level is None else level)

        def room(clip: np.ndarray) -> float:
            """The level of the quiet before (or after) a word: its own noise floor, or, ``room_change_share``
            of the time, one drawn from ``room_rms`` (no draw when that share is 0: the same seed makes the same set)."""
            if mix.room_change_share > 0 and rng.random() < mix.room_change_share:
                return float(np.exp(rng.uniform(*np.log(mix.room_rms))))
            return noise_floor(clip, rate, mix.frame_s)

        def lead_in(clip: np.ndarray) -> np.ndarray:
            return quiet(clip, _samples(rng, mix.lead_in_s, rate), room(clip))

        edges = [quiet_edges(clip, rate, mix) for clip in data.sequences]
        ends = [len(clip) - tail for clip, (_, tail) in zip(data.sequences, edges)]  # just after the speech
        for clip, end, label in zip(data.sequences, ends, data.labels):
            tail = _samples(rng, (0.0, mix.word_tail_s), rate)
            own_tail = min(tail, len(clip) - end)  # the clip's own quiet end first, then background
            sequences.append(np.concatenate([lead_in(clip), clip[: end + own_tail], quiet(clip, tail - own_tail)]))
            labels.append(label)
        for i in rng.choice(len(data), size=round(mix.trail_share * len(data)), replace=False):
            clip, end = data.sequences[i], ends[i]
            sequences.append(np.concatenate([lead_in(clip), clip[:end], quiet(clip, _samples(rng, mix.trail_s, rate), room(clip))]))
            labels.append(mix.label)
        for i in rng.choice(len(data), size=round(mix.onset_share * len(data)), replace=False):
            clip, start, end = data.sequences[i], edges[i][0], ends[i]
            lead = lead_in(clip)  # drawn before the cut, as it always was: the same seed makes the same set
            onset = clip[: start + int(rng.uniform(0.0, mix.onset_fraction) * (end - start))]
            missing = round(mix.shortest_s * rate) - len(lead) - len(onset)  # a word that starts at once, no lead-in
            if missing > 0:
                lead = np.concatenate([quiet(clip, missing), lead])
            sequences.append(np.concatenate([lead, onset]))
            labels.append(mix.label)
        others = {label: [j for j, other in enumerate(data.labels) if other != label] for label in data.classes}
        for i in rng.choice(len(data), size=round(mix.preceding_share * len(data)), replace=False):
            clip, label = data.sequences[i], data.labels[i]
            if not others[label]:
                continue
            j = others[label][rng.integers(len(others[label]))]
            before = data.sequences[j][edges[j][0]:ends[j]]
            before = before[len(before) - max(1, int(rng.uniform(0.3, 1.0) * len(before))):]
            tail = _samples(rng, (0.0, mix.word_tail_s), rate)
            own_tail = min(tail, len(clip) - ends[i])
            sequences.append(np.concatenate([lead_in(clip), before, quiet(clip, _samples(rng, mix.preceding_gap_s, rate)),
                                             clip[edges[i][0]: ends[i] + own_tail], quiet(clip, tail - own_tail)]))
            labels.append(label)
        for i in rng.choice(len(own_clips), size=round(mix.noise_onset_share * len(own_clips)), replace=False):
            noise = np.asarray(own_clips[i], dtype=np.float64)
            heard = int(rng.uniform(min(mix.shortest_s * rate, len(noise)), len(noise) + mix.noise_trail_s * rate))
            level = float(rng.choice(floors))  # one room before and after the noise
            lead = background(rng, pool, floors, _samples(rng, mix.noise_lead_in_s, rate), mix, level)
            after = background(rng, pool, floors, max(0, heard - len(noise)), mix, level)
            sequences.append(np.concatenate([lead, noise[:heard], after]))
            labels.append(mix.label)
    else:
        most, sequences, labels = round(mix.word_tail_s * rate), [], list(data.labels)
        for clip in data.sequences:
            _, tail = quiet_edges(clip, rate, mix)
            sequences.append(clip[: len(clip) - tail + min(tail, most)])
    sequences += own_clips
    labels += [mix.label] * len(own_clips)
    for _ in range(per_class):
        sequences.append(background(rng, pool, floors, _samples(rng, mix.clip_s, rate), mix))
        labels.append(mix.label)
    if words and (mix.noise_share > 0 or mix.gain_db > 0):
        speech_power = float(np.median([np.mean(np.square(clip[a:len(clip) - b], dtype=np.float64)) if len(clip) - b > a
                                        else np.mean(np.square(clip, dtype=np.float64))
                                        for clip, (a, b) in zip(data.sequences, edges)]))
        sequences = [noisy_and_scaled(rng, s, speech_power, own_clips, mix) for s in sequences]
    return SequenceSet([s.astype(np.float32) for s in sequences], labels, [*data.classes, mix.label],
                       data.name, data.source, sample_rate=rate)


def noisy_and_scaled(rng: np.random.Generator, sequence: np.ndarray, speech_power: float, noise_clips: list[np.ndarray],
                     mix: BackgroundMix) -> np.ndarray:
    """``sequence`` with, ``noise_share`` of the time, noise at an SNR drawn from ``snr_db`` against
    ``speech_power`` (Gaussian, or half the time a random stretch of one of ``noise_clips``, tiled),
    then scaled by a gain drawn from +-``gain_db``; float64 clipped to [-1, 1]."""
    out = np.asarray(sequence, dtype=np.float64)
    if len(out) and rng.random() < mix.noise_share:
        target = np.sqrt(speech_power / 10 ** (rng.uniform(*mix.snr_db) / 10))
        if noise_clips and rng.random() < 0.5:
            clip = np.asarray(noise_clips[rng.integers(len(noise_clips))], dtype=np.float64)
            noise = np.resize(np.roll(clip, -int(rng.integers(len(clip)))), len(out))
            noise = noise * (target / max(_rms(noise), 1e-9))
        else:
            noise = rng.normal(0.0, target, len(out))
        out = out + noise
    if mix.gain_db > 0:
        out = out * 10 ** (rng.uniform(-mix.gain_db, mix.gain_db) / 20)
    return np.clip(out, -1.0, 1.0)


def background(rng: np.random.Generator, pool: list[np.ndarray], floors: np.ndarray, length: int,
               mix: BackgroundMix, level: float | None = None) -> np.ndarray:
    """float32 [length] of background at RMS ``level`` (default: a random recording's noise floor):
    quiet stretches from ``pool`` joined end to end (or, one time in four, none), plus Gaussian noise."""
    if length == 0:
        return np.zeros(0, dtype=np.float32)
    level = float(rng.choice(floors)) if level is None else level
    out = np.zeros(length)
    if pool and rng.random() >= 0.25:
        pieces, filled = [], 0
        while filled < length:
            piece = pool[rng.integers(len(pool))]
            pieces.append(piece * (level / max(_rms(piece), 1e-6)))
            filled += len(piece)
        out += np.concatenate(pieces)[:length]
    low, high = np.log(mix.noise_rms[0]), np.log(mix.noise_rms[1])
    out += rng.normal(0.0, min(np.exp(rng.uniform(low, high)), level if level > 0 else mix.noise_rms[0]), length)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def quiet_edges(clip: np.ndarray, rate: int, mix: BackgroundMix) -> tuple[int, int]:
    """(samples of quiet at the start, at the end): whole frames whose RMS stays within
    ``quiet_factor`` of the clip's quietest frame; (0, 0) for a clip shorter than two frames."""
    frame = max(1, round(mix.frame_s * rate))
    rms = frame_rms(clip, frame)
    if len(rms) < 2:
        return 0, 0
    quiet = rms <= mix.quiet_factor * max(rms.min(), 1e-6)
    if quiet.all():
        return 0, 0
    return int(np.argmin(quiet)) * frame, int(np.argmin(quiet[::-1])) * frame + len(clip) - len(rms) * frame


def quiet_stretches(clips: list[np.ndarray], rate: int, mix: BackgroundMix) -> list[np.ndarray]:
    """The quiet starts and ends of the clips: leading and trailing frames whose RMS stays within
    ``quiet_factor`` of the clip's quietest frame, at least ``min_stretch_s`` long."""
    shortest = round(mix.min_stretch_s * rate)
    stretches = []
    for clip in clips:
        head, tail = quiet_edges(clip, rate, mix)
        for piece in (clip[:head], clip[len(clip) - tail:] if tail else clip[:0]):
            if len(piece) >= shortest:
                stretches.append(np.asarray(piece, dtype=np.float64))
    return stretches


def noise_floor(clip: np.ndarray, rate: int, frame_s: float) -> float:
    """RMS of the clip's quietest frame (full scale 1.0)."""
    rms = frame_rms(clip, max(1, round(frame_s * rate)))
    return float(rms.min()) if len(rms) else 0.0


def frame_rms(clip: np.ndarray, frame: int) -> np.ndarray:
    """float64 [len(clip) // frame]: RMS of consecutive frames of ``frame`` samples."""
    count = len(clip) // frame
    frames = np.asarray(clip[: count * frame], dtype=np.float64).reshape(count, frame)
    return np.sqrt(np.mean(frames * frames, axis=1))


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


def _samples(rng: np.random.Generator, seconds: tuple[float, float], rate: int) -> int:
    return int(rng.uniform(*seconds) * rate)
