"""Front ends: what turns a user's raw input into the graph's ``x``.

The trainer fits and applies the same objects, and their parameters travel in the graph's
``frontend`` metadata, so training and deployment compute identical inputs by construction.

- ``FeatureFrontend`` ("features"): float frames [time, features] -> per-channel standardised
  float32 frames, ``(x - mean) / std`` with mean/std fitted on the training split.
- ``FramedFrontend`` ("framed_features"): the same standardisation, then every ``frame`` steps
  stacked into one graph step: long series in fewer recurrent steps.
- ``TokenFrontend`` ("token_ids"): int token ids [time] -> int64 ids, range-checked.
- ``LogMelFrontend`` ("logmel"): raw mono audio samples [n] -> standardised log-mel frames
  [frames, mel_bands] (runtime/audio.py), per-band mean/std fitted on the training split; or,
  for a graph that computes the frames itself (``in_graph``), the samples cut into hops.
- ``TextFrontend`` ("text"): a str -> int64 word ids [time] through the training split's
  vocabulary (runtime/text.py); token ids pass through range-checked.

Every front end has ``check`` (validate one raw input), ``__call__`` (a whole checked input ->
the graph's x) and ``stream()`` (an object whose ``push`` turns consecutive checked pieces of one
input into the x steps they complete, and ``reset``). Only audio keeps anything between pieces
(samples of a frame not yet complete), framing (the steps of a frame not yet complete), and text
(the letters of a word not yet complete); the others are their own stream. An audio stream
of a graph that computes its frames keeps the samples of an unfinished hop, and hands its first
``window - hop`` samples over once as the graph's initial ``audio`` state (``take_initial_state``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from edgernn.runtime.audio import LogMel, LogMelConfig, check_samples, config_from_json, config_to_json
from edgernn.runtime.errors import InputError, InputTypeError, MetadataError
from edgernn.runtime.text import PAD_ID, WORD_PATTERN, TextStream, Vocabulary

FLOAT32 = np.dtype(np.float32)
# A channel that never varies in training keeps std 1 instead of dividing by ~0.
MIN_STD = 1e-6


class OwnStream:
    """A front end that keeps nothing between pieces of an input is its own stream: ``stream()``
    returns it, ``reset()`` has nothing to forget, and ``push`` is its ``__call__``."""

    def stream(self):
        return self

    def reset(self) -> None:
        pass


@dataclass
class FeatureFrontend(OwnStream):
    """Per-channel standardisation of float feature frames.

    mean, std: float32 [features]. in_graph: the graph standardises its input itself (its first
    Sub and Mul, with these values: files exported since metadata schema 2), so this front end
    only checks frames and passes them on; False for older files, standardised here.
    """

    mean: np.ndarray
    std: np.ndarray
    in_graph: bool = False
    kind = "features"
    step_length = 1  # raw input elements per graph step

    @property
    def features(self) -> int:
        return int(self.mean.shape[0])

    @classmethod
    def fit(cls, sequences: Sequence[np.ndarray], normalize: bool = True) -> "FeatureFrontend":
        """Fit mean/std over every frame of every sequence (float [time, features] each)."""
        frames = np.concatenate([np.asarray(s, dtype=np.float64) for s in sequences], axis=0)
        features = frames.shape[1]
        if not normalize:
            return cls(np.zeros(features, np.float32), np.ones(features, np.float32))
        std = frames.std(axis=0)
        std = np.where(std < MIN_STD, 1.0, std)
        return cls(frames.mean(axis=0).astype(np.float32), std.astype(np.float32))

    def check(self, frames: Any, where: str = "input", allow_nonfinite: bool = False) -> np.ndarray:
        """Validate one sequence: a float array [time, features]; returns it as float32.

        Raises InputTypeError for a non-float dtype, InputError for a wrong rank or feature
        count, or NaN/Inf (naming the first step and feature) unless ``allow_nonfinite``.
        """
        if (type(frames) is np.ndarray and frames.dtype is FLOAT32 and frames.ndim == 2
                and frames.shape[1] == self.features and (allow_nonfinite or math.isfinite(frames.sum()))):
            return frames  # the per-step fast path: one reduction instead of a full element check
        if not isinstance(frames, np.ndarray):
            if isinstance(frames, (list, tuple)):
                try:
                    with np.errstate(over="ignore"):  # an out-of-range value becomes inf: refused below
                        frames = np.asarray(frames, dtype=np.float32)
                except (ValueError, TypeError):
                    raise InputTypeError(f"{where}: expected a float array [time, {self.features}]; "
                                         "the list is ragged or holds non-numbers") from None
            else:
                raise InputTypeError(f"{where}: expected a float numpy array [time, {self.features}], got {type(frames).__name__}")
        if not np.issubdtype(frames.dtype, np.floating):
            raise InputTypeError(f"{where}: expected float feature frames [time, {self.features}], got dtype {frames.dtype}")
        if frames.ndim != 2 or frames.shape[1] != self.features:
            raise InputError(f"{where}: expected shape [time, {self.features}], got {list(frames.shape)}")
        with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf: refused below
            frames = np.ascontiguousarray(frames, dtype=np.float32)
        if not allow_nonfinite:
            bad = ~np.isfinite(frames)
            if bad.any():
                step, feature = (int(i) for i in np.argwhere(bad)[0])
                raise InputError(f"{where}: NaN/Inf at step {step}, feature {feature}; inputs must be finite")
        return frames

    def __post_init__(self) -> None:
        # float32 [features]: 1 / std, the multiplier the graph's first Mul (or __call__) applies
        self.inverse_std = (1.0 / self.std).astype(np.float32)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """Standardise checked float32 frames [time, features] -> float32 [time, features] (as
        they are when the graph standardises them)."""
        if self.in_graph:
            return frames
        out = np.subtract(frames, self.mean)
        out *= self.inverse_std
        return out

    push = __call__  # stateless: the front end is its own stream (OwnStream)

    def to_json(self) -> dict:
        return {"kind": self.kind, "features": self.features, "mean": _float32_list(self.mean), "std": _float32_list(self.std),
                **({"standardised_in_graph": True} if self.in_graph else {})}


def _float32_list(values: np.ndarray) -> list[float]:
    """float32 values as the shortest decimals that read back to the same float32 (compact JSON)."""
    return [float(np.format_float_positional(v, unique=True, trim="-")) for v in values.astype(np.float32)]


@dataclass
class TokenFrontend(OwnStream):
    """Integer token ids [time] in [0, vocab_size), passed through as int64."""

    vocab_size: int
    kind = "token_ids"
    step_length = 1

    def check(self, ids: Any, where: str = "input", allow_nonfinite: bool = False) -> np.ndarray:
        """Validate one sequence of ids: an integer array [time]; returns int64."""
        if isinstance(ids, (list, tuple)):
            try:
                ids = np.asarray(ids)
            except (ValueError, OverflowError):
                raise InputTypeError(f"{where}: expected integer token ids [time]; the list is ragged or out of range") from None
        if not isinstance(ids, np.ndarray) or not np.issubdtype(ids.dtype, np.integer):
            got = ids.dtype if isinstance(ids, np.ndarray) else type(ids).__name__
            raise InputTypeError(f"{where}: expected integer token ids [time], got {got}")
        if ids.ndim != 1:
            raise InputError(f"{where}: expected shape [time], got {list(ids.shape)}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            bad = int(np.argwhere((ids < 0) | (ids >= self.vocab_size))[0][0])
            raise InputError(f"{where}: token id {int(ids[bad])} at step {bad} is outside [0, {self.vocab_size})")
        return ids.astype(np.int64, copy=False)

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        return ids

    push = __call__  # stateless: the front end is its own stream (OwnStream)

    def to_json(self) -> dict:
        return {"kind": self.kind, "vocab_size": self.vocab_size}


class FramedFrontend:
    """Float frames [time, features] -> standardised per channel, then every ``frame`` consecutive
    steps stacked into one graph step: float32 [time // frame, frame * features], row j holding
    steps j*frame .. j*frame + frame - 1 one after another. A long series reaches the recurrent
    cell in ``frame`` times fewer steps (the first layer's input weights act as a strided
    convolution of kernel and stride ``frame``). In a stream the steps of an unfinished frame wait
    for the next piece; a whole input's last ``time % frame`` steps complete no frame, so they are
    not read, exactly as a stream holding them has not yet answered for them.

    norm: the per-channel standardisation of the raw steps (mean/std float32 [features]).
    """

    kind = "framed_features"

    def __init__(self, norm: FeatureFrontend, frame: int):
        if not isinstance(frame, int) or frame < 2:
            raise MetadataError(f"frontend: 'frame' must be an integer >= 2 steps, got {frame!r}")
        self.norm, self.frame = norm, frame

    @property
    def features(self) -> int:
        """Graph inputs per step: frame x raw features."""
        return self.frame * self.norm.features

    @property
    def raw_features(self) -> int:
        return self.norm.features

    @property
    def step_length(self) -> int:
        """Raw steps per graph step."""
        return self.frame

    def check(self, frames: Any, where: str = "input", allow_nonfinite: bool = False) -> np.ndarray:
        """Validate raw float frames [time, raw_features] (FeatureFrontend.check)."""
        return self.norm.check(frames, where, allow_nonfinite)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """Checked float32 [time, raw_features] -> float32 [time // frame, frame * raw_features]."""
        steps = len(frames) // self.frame
        return self.norm(frames[: steps * self.frame]).reshape(steps, self.features)

    def stream(self) -> "FramedFrontendStream":
        return FramedFrontendStream(self)

    def to_json(self) -> dict:
        return {"kind": self.kind, "features": self.features, "frame": self.frame, "raw_features": self.raw_features,
                "mean": _float32_list(self.norm.mean), "std": _float32_list(self.norm.std),
                **({"standardised_in_graph": True} if self.norm.in_graph else {})}


class FramedFrontendStream:
    """One stream's framing: ``push(frames)`` -> the graph steps they complete; the raw steps of an
    unfinished frame (fewer than ``frame``) wait here for the next push."""

    def __init__(self, frontend: FramedFrontend):
        self._frontend = frontend
        self.reset()

    def push(self, frames: np.ndarray) -> np.ndarray:
        waiting = np.concatenate([self._waiting, frames]) if len(self._waiting) else frames
        steps = len(waiting) // self._frontend.frame
        self._waiting = waiting[steps * self._frontend.frame:].copy()
        return self._frontend(waiting[: steps * self._frontend.frame])

    def reset(self) -> None:
        self._waiting = np.zeros((0, self._frontend.raw_features), dtype=np.float32)


class LogMelFrontend:
    """Raw mono audio -> log-mel frames standardised per band.

    config: the filterbank (sample rate, window, hop, bands); norm: per-band mean/std (float32 [mel_bands]).
    in_graph: the graph computes the frames itself (export/logmel_graph.py: files exported since
    metadata schema 3). Its x is then the samples, one hop per step: float32 [steps, hop], the
    samples from ``window - hop`` on (the first ``window - hop`` samples, which complete no frame,
    go into the graph's ``audio`` state instead: ``initial_state``); step k completes frame k.
    """

    kind = "logmel"
    PRIMED_STATE = "audio"  # the graph's window-overlap state, primed with a stream's first samples

    def __init__(self, config: LogMelConfig, norm: FeatureFrontend, in_graph: bool = False):
        if norm.features != config.mel_bands:
            raise MetadataError(f"frontend: {norm.features} normalisation bands for {config.mel_bands} mel bands")
        self.config, self.norm, self.in_graph = config, norm, in_graph
        self.logmel = LogMel(config)

    @property
    def features(self) -> int:
        """The graph's x per step: mel bands, or the samples of one hop when the graph computes the frames."""
        return self.config.hop if self.in_graph else self.config.mel_bands

    @property
    def step_length(self) -> int:
        """Samples per graph step once the first window is full: one hop."""
        return self.config.hop

    @property
    def step_seconds(self) -> float:
        """Seconds of audio per graph step: one hop."""
        return self.config.hop / self.config.sample_rate

    @property
    def primer_samples(self) -> int:
        """Samples a stream hears before its first hop: those of the first window no hop completes."""
        return self.config.window - self.config.hop

    @classmethod
    def fit(cls, recordings: Sequence[np.ndarray], config: LogMelConfig, normalize: bool = True) -> "LogMelFrontend":
        """Fit the per-band mean/std over every frame of every recording (float32 samples [n] each)."""
        logmel = LogMel(config)
        frames = [logmel.frames(r) for r in recordings]
        return cls(config, FeatureFrontend.fit([f for f in frames if len(f)] or [np.zeros((1, config.mel_bands))], normalize))

    def check(self, samples: Any, where: str = "input", allow_nonfinite: bool = False) -> np.ndarray:
        return check_samples(samples, where, allow_nonfinite)

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        """Checked samples float32 [n] -> the graph's x: float32 [frames, mel_bands], or with the
        frames in the graph the hops that complete them, float32 [frames, hop]."""
        if self.in_graph:
            frames = self.config.frame_count(len(samples))
            return samples[self.primer_samples: self.primer_samples + frames * self.config.hop].reshape(frames, self.config.hop)
        return self.norm(self.logmel.frames(samples))

    def hops_from_silence(self, samples: np.ndarray) -> np.ndarray:
        """Checked samples float32 [n] -> the in-graph x of a stream that heard ``window - hop``
        samples of silence before them, which is the graph's zero state: float32 [n // hop, hop].
        For comparing two such graphs on the same inputs from zero state."""
        hop = self.config.hop
        return samples[: len(samples) // hop * hop].reshape(-1, hop)

    def initial_state(self, samples: np.ndarray) -> dict[str, np.ndarray]:
        """The front-end state a whole recording (checked float32 [n], at least a window) starts
        from: {"audio": float32 [1, window - hop]}, its first samples; {} when the frames are not
        computed in the graph."""
        return {self.PRIMED_STATE: samples[None, : self.primer_samples]} if self.in_graph else {}

    def stream(self) -> "LogMelFrontendStream | LogMelGraphStream":
        return LogMelGraphStream(self) if self.in_graph else LogMelFrontendStream(self)

    @property
    def in_graph_record(self) -> dict:
        """What a binding needs to feed the graph samples (the metadata's ``in_graph``)."""
        return {"step_samples": self.config.hop, "primer_samples": self.primer_samples, "primer_state": self.PRIMED_STATE}

    def to_json(self) -> dict:
        return {"kind": self.kind, "features": self.config.mel_bands, "logmel": config_to_json(self.config),
                "mean": _float32_list(self.norm.mean), "std": _float32_list(self.norm.std),
                **({"in_graph": self.in_graph_record} if self.in_graph else {})}


class LogMelFrontendStream:
    """One audio stream's front end: ``push(samples)`` -> the standardised frames they complete."""

    def __init__(self, frontend: LogMelFrontend):
        self._norm = frontend.norm
        self._frames = frontend.logmel.stream()

    def push(self, samples: np.ndarray) -> np.ndarray:
        return self._norm(self._frames.push(samples))

    def reset(self) -> None:
        self._frames.reset()


class LogMelGraphStream:
    """One audio stream of a graph that computes its own frames: ``push(samples)`` -> the whole hops
    they complete, float32 [hops, hop] (the graph's x); samples of an unfinished hop wait here.

    The stream's first ``window - hop`` samples are no hop: once they have all arrived,
    ``take_initial_state()`` hands them over, once, as the graph's ``audio`` state.
    """

    def __init__(self, frontend: LogMelFrontend):
        self._hop, self._primer = frontend.config.hop, frontend.primer_samples
        self.reset()

    def reset(self) -> None:
        self._waiting = np.zeros(0, dtype=np.float32)
        self._primed: np.ndarray | None = None  # the first samples, until taken
        self._priming = self._primer > 0

    def push(self, samples: np.ndarray) -> np.ndarray:
        waiting = np.concatenate([self._waiting, samples]) if len(self._waiting) else samples
        if self._priming:
            if len(waiting) < self._primer:
                self._waiting = waiting.copy()
                return np.zeros((0, self._hop), dtype=np.float32)
            self._primed, waiting, self._priming = waiting[None, : self._primer].copy(), waiting[self._primer:], False
        hops = len(waiting) // self._hop
        self._waiting = waiting[hops * self._hop:].copy()
        return waiting[: hops * self._hop].reshape(hops, self._hop)

    def take_initial_state(self) -> dict[str, np.ndarray]:
        """{"audio": float32 [1, window - hop]} once the stream's first samples have arrived, then {}."""
        primed, self._primed = self._primed, None
        return {} if primed is None else {LogMelFrontend.PRIMED_STATE: primed}


@dataclass
class TextFrontend:
    """Raw text -> int64 word ids [time], the training split's vocabulary and truncation.

    A text is lowercased and split into words (runtime/text.py ``WORD_PATTERN``); each word gets
    its vocabulary id (1 for a word not in it). A whole document keeps its first ``max_tokens``
    words (None: all); a document with no words at all reads as one padding id (0), so every
    document gets an answer. Token ids (an int array [time]) are taken as they are. A stream
    (``stream()``) takes text in pieces of any size, or token ids, and is never truncated.
    """

    vocabulary: Vocabulary
    max_tokens: int | None = None
    kind = "text"
    step_length = 1

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary)

    def check(self, text: Any, where: str = "input", allow_nonfinite: bool = False) -> str | np.ndarray:
        """A str, returned as is, or token ids checked as TokenFrontend does (int64 [time])."""
        if isinstance(text, str):
            return text
        if isinstance(text, (bytes, bytearray)):
            raise InputTypeError(f"{where}: expected text as str (decode the bytes first) or integer token ids [time]")
        return TokenFrontend(self.vocab_size).check(text, where)

    def __call__(self, text: str | np.ndarray) -> np.ndarray:
        """A checked whole document -> int64 ids [time >= 1]."""
        if not isinstance(text, str):
            return text
        ids = self.vocabulary.encode(text, self.max_tokens)
        return ids if len(ids) else np.array([PAD_ID], dtype=np.int64)

    def stream(self) -> "TextFrontendStream":
        return TextFrontendStream(self)

    def to_json(self) -> dict:
        return {"kind": self.kind, "word_pattern": WORD_PATTERN, "lowercase": True, "max_tokens": self.max_tokens,
                "vocab_size": self.vocab_size, "vocabulary": self.vocabulary.to_json()}


class TextFrontendStream:
    """``push(piece)``: the ids of the words a str piece completes (runtime/text.py TextStream),
    or token ids as they are; ``flush()``: the ids of the word still pending at the end."""

    def __init__(self, frontend: TextFrontend):
        self._vocabulary = frontend.vocabulary
        self._words = TextStream()

    def reset(self) -> None:
        self._words.reset()

    def push(self, piece: str | np.ndarray) -> np.ndarray:
        return self._vocabulary.ids(self._words.push(piece)) if isinstance(piece, str) else piece

    def flush(self) -> np.ndarray:
        return self._vocabulary.ids(self._words.flush())


Frontend = FeatureFrontend | FramedFrontend | TokenFrontend | LogMelFrontend | TextFrontend
FRONTEND_KINDS = ("features", "framed_features", "token_ids", "logmel", "text")


def frontend_from_json(spec: Any) -> Frontend:
    """Rebuild a front end from its ``to_json()`` dict; MetadataError names what is wrong."""
    if not isinstance(spec, dict) or "kind" not in spec:
        raise MetadataError("frontend: expected a JSON object with a 'kind' key")
    kind = spec["kind"]
    try:
        if kind == FeatureFrontend.kind:
            return _normalisation_from_json(spec)
        if kind == FramedFrontend.kind:
            frontend = FramedFrontend(_normalisation_from_json({**spec, "features": spec["raw_features"]}), spec["frame"])
            if frontend.features != spec["features"]:
                raise MetadataError(f"frontend: 'features' {spec['features']!r} must be 'frame' x 'raw_features' = {frontend.features}")
            return frontend
        if kind == LogMelFrontend.kind:
            if not isinstance(spec.get("logmel"), dict):
                raise MetadataError("frontend: a 'logmel' front end needs a 'logmel' object of filterbank parameters")
            norm = _normalisation_from_json(spec)
            if norm.in_graph:
                raise MetadataError("frontend: a 'logmel' front end standardises its frames itself; "
                                    "'standardised_in_graph' applies to feature front ends only")
            return _logmel_from_json(spec, config_from_json(spec["logmel"]), norm)
        if kind == TextFrontend.kind:
            return _text_from_json(spec)
        if kind == TokenFrontend.kind:
            vocab = int(spec["vocab_size"])
            if vocab < 1:
                raise MetadataError("frontend: 'vocab_size' must be >= 1")
            return TokenFrontend(vocab)
    except (KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, MetadataError):
            raise
        raise MetadataError(f"frontend: malformed {kind!r} front end ({type(exc).__name__}: {exc})") from None
    raise MetadataError(f"frontend: unknown kind {kind!r}; expected one of {list(FRONTEND_KINDS)}")


def _logmel_from_json(spec: dict, config: LogMelConfig, norm: FeatureFrontend) -> LogMelFrontend:
    """The audio front end; its ``in_graph`` record must match its filterbank: the samples of a
    step are one hop, and the primer the first window's samples that complete no hop."""
    in_graph = spec.get("in_graph")
    frontend = LogMelFrontend(config, norm, in_graph is not None)
    expected = frontend.in_graph_record
    if in_graph is not None and in_graph != expected:
        raise MetadataError(f"frontend: 'in_graph' must be {json.dumps(expected)} for this filterbank, got {json.dumps(in_graph)[:200]}")
    return frontend


def _text_from_json(spec: dict) -> TextFrontend:
    if spec.get("word_pattern") != WORD_PATTERN or spec.get("lowercase") is not True:
        raise MetadataError("frontend: this text model splits words by another rule ('word_pattern'/'lowercase') "
                            "than this edgernn's; read it with the edgernn version that wrote it")
    vocabulary = Vocabulary.from_json(spec["vocabulary"])
    max_tokens = spec["max_tokens"]
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise MetadataError(f"frontend: 'max_tokens' must be null or an integer >= 1, got {max_tokens!r}")
    if spec.get("vocab_size", len(vocabulary)) != len(vocabulary):
        raise MetadataError(f"frontend: 'vocab_size' {spec['vocab_size']!r} differs from the vocabulary's {len(vocabulary)} words")
    return TextFrontend(vocabulary, max_tokens)


def _normalisation_from_json(spec: dict) -> FeatureFrontend:
    with np.errstate(over="ignore"):  # out-of-range values become inf: refused below
        mean = np.asarray(spec["mean"], dtype=np.float32)
        std = np.asarray(spec["std"], dtype=np.float32)
    if mean.ndim != 1 or mean.shape != std.shape or mean.shape[0] != int(spec["features"]):
        raise MetadataError("frontend: 'mean' and 'std' must be lists of length 'features'")
    if not (np.isfinite(mean).all() and np.isfinite(std).all() and (std > 0).all()):
        raise MetadataError("frontend: 'mean' must be finite and 'std' finite and > 0")
    in_graph = spec.get("standardised_in_graph", False)
    if not isinstance(in_graph, bool):
        raise MetadataError(f"frontend: 'standardised_in_graph' must be true or false, got {in_graph!r}")
    return FeatureFrontend(mean, std, in_graph)
