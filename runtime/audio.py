"""Log-mel filterbank features from raw audio samples, in one call or as a stream (numpy only).

A frame covers ``window`` samples and frames start every ``hop`` samples; there is no padding at
either end, so a clip of n >= window samples gives ``1 + (n - window) // hop`` frames and a
stream yields a frame as soon as its last sample has arrived. Each frame: Hann window, power
spectrum (``n_fft`` points, the window length rounded up to a power of two), triangular mel
filters (HTK mel scale, ``fmin``..``fmax``), ``log(energy + LOG_FLOOR)``. Computed in float64 and
returned as float32, so the stream and the batch form give the same frames to ~1e-7.

Optional running mean normalisation (``mean_norm_ms`` > 0): every band minus its running mean,
m_t = m_(t-1) + a_t (f_t - m_(t-1)) with a_t = max(1 / (t + 1), hop_ms / mean_norm_ms): the
exact mean of the frames so far at first, then an exponential average with that time constant.
It is causal, so a stream computes it as it goes; it takes out the speaker's and microphone's
spectral tilt (FSDD with one speaker held out: 43% -> 71% in a 20-epoch run).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edgernn.runtime.errors import InputError, InputTypeError, MetadataError

# Energy floor before the log: -13.8 in log units, well below a 16-bit recording's noise floor.
LOG_FLOOR = 1e-6


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 2595.0 * np.log10(1.0 + np.asarray(hz, dtype=np.float64) / 700.0)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    return 700.0 * (10.0 ** (np.asarray(mel, dtype=np.float64) / 2595.0) - 1.0)


@dataclass(frozen=True)
class LogMelConfig:
    """sample_rate in Hz; window_ms and hop_ms in milliseconds; fmin/fmax in Hz (fmax None: Nyquist)."""

    sample_rate: int = 16000
    window_ms: float = 25.0
    hop_ms: float = 10.0
    mel_bands: int = 40
    fmin: float = 20.0
    fmax: float | None = None
    mean_norm_ms: float = 0.0  # running mean normalisation time constant; 0: off

    def __post_init__(self) -> None:
        problems = []
        if not (isinstance(self.sample_rate, int) and self.sample_rate >= 1000):
            problems.append(f"sample_rate must be an integer >= 1000 Hz, got {self.sample_rate!r}")
        if not (self.window_ms > 0 and self.hop_ms > 0 and self.hop_ms <= self.window_ms):
            problems.append(f"need 0 < hop_ms <= window_ms, got window_ms {self.window_ms}, hop_ms {self.hop_ms}")
        if not (isinstance(self.mel_bands, int) and 1 <= self.mel_bands <= 256):
            problems.append(f"mel_bands must be an integer in [1, 256], got {self.mel_bands!r}")
        top = self.sample_rate / 2 if self.fmax is None else self.fmax
        if not self.mean_norm_ms >= 0:
            problems.append(f"mean_norm_ms must be >= 0 (0: off), got {self.mean_norm_ms}")
        if not (0 <= self.fmin < top <= self.sample_rate / 2):
            problems.append(f"need 0 <= fmin < fmax <= sample_rate/2, got fmin {self.fmin}, fmax {top}")
        if problems:
            raise InputError("log-mel front end: " + "; ".join(problems))

    @property
    def window(self) -> int:
        """Samples per frame."""
        return int(round(self.sample_rate * self.window_ms / 1000))

    @property
    def hop(self) -> int:
        """Samples between frame starts."""
        return max(1, int(round(self.sample_rate * self.hop_ms / 1000)))

    @property
    def n_fft(self) -> int:
        return 1 << (self.window - 1).bit_length()

    def frame_count(self, samples: int) -> int:
        return 0 if samples < self.window else 1 + (samples - self.window) // self.hop

    @property
    def mean_norm_rate(self) -> float:
        """The running mean's smallest update weight per frame (0: normalisation off)."""
        return self.hop_ms / self.mean_norm_ms if self.mean_norm_ms > 0 else 0.0


class LogMel:
    """The filterbank of one LogMelConfig; ``frames(samples)`` is the batch form, ``stream()`` the streaming one."""

    def __init__(self, config: LogMelConfig):
        self.config = config
        self.window, self.hop, self.n_fft = config.window, config.hop, config.n_fft  # samples (the config computes them per call)
        self._hann = np.hanning(config.window + 2)[1:-1]  # periodic-like Hann without zero end points
        self._filters = mel_filters(config)  # float64 [n_fft // 2 + 1, mel_bands]
        # The power spectrum and the filters in one product: the complex spectrum read as
        # interleaved (re, im) float64 pairs, squared, times the filter rows each repeated twice.
        self._pair_filters = np.repeat(self._filters, 2, axis=0)  # float64 [2 * (n_fft // 2 + 1), mel_bands]

    def frames(self, samples: np.ndarray) -> np.ndarray:
        """float [n] samples -> float32 [frame_count(n), mel_bands] log-mel frames (mean-normalised
        when the config says so, from a fresh running mean)."""
        return RunningMean(self.config.mean_norm_rate).push(self._log_mel(samples))

    def _log_mel(self, samples: np.ndarray) -> np.ndarray:
        """float [n] samples -> float64 [frame_count(n), mel_bands], before any normalisation."""
        count = self.config.frame_count(len(samples))
        if count == 0:
            return np.empty((0, self.config.mel_bands), dtype=np.float64)
        starts = np.arange(count) * self.hop
        windows = np.asarray(samples, dtype=np.float64)[starts[:, None] + np.arange(self.window)]
        return self.log_energy(np.fft.rfft(windows * self._hann, n=self.n_fft, axis=1))

    def log_energy(self, spectrum: np.ndarray) -> np.ndarray:
        """complex128 [..., n_fft // 2 + 1] spectra (C-contiguous; overwritten) -> float64 [..., mel_bands]
        log filterbank energies."""
        pairs = spectrum.view(np.float64)
        np.square(pairs, out=pairs)
        energy = pairs @ self._pair_filters
        energy += LOG_FLOOR
        return np.log(energy, out=energy)

    def stream(self) -> "LogMelStream":
        return LogMelStream(self)


class LogMelStream:
    """Streaming log-mel: ``push(samples)`` of any size returns the frames completed by them.

    Keeps at most ``window - 1`` samples (plus the part of a hop not yet reached) between pushes.
    A push of exactly one hop that completes exactly one frame (the always-on case once the first
    window is full) takes a path with preallocated buffers and no indexing arrays: the same
    arithmetic in fewer numpy calls.
    """

    def __init__(self, logmel: LogMel):
        self._logmel = logmel
        self._mean = RunningMean(logmel.config.mean_norm_rate)
        self._hop, self._window, self._n_fft = logmel.hop, logmel.window, logmel.n_fft
        # the one-hop path's buffers: pending samples and the new hop, at most window - 1 + hop
        self._joined = np.zeros(logmel.window - 1 + logmel.hop, dtype=np.float64)
        self._windowed = np.zeros(logmel.window, dtype=np.float64)
        self.reset()

    def reset(self) -> None:
        self._pending = np.empty(0, dtype=np.float64)  # the samples from the next frame's start on
        self._mean.reset()

    def push(self, samples: np.ndarray) -> np.ndarray:
        """float [n] samples -> float32 [frames completed, mel_bands]."""
        if len(samples) == self._hop and self._window - self._hop <= len(self._pending) < self._window:
            return self._push_one_hop(samples)
        buffer = np.concatenate([self._pending, np.asarray(samples, dtype=np.float64)])
        count = self._logmel.config.frame_count(len(buffer))
        self._pending = buffer[count * self._hop:]  # the next frame starts here
        return self._mean.push(self._logmel._log_mel(buffer[: (count - 1) * self._hop + self._window] if count else buffer[:0]))

    def _push_one_hop(self, samples: np.ndarray) -> np.ndarray:
        """One hop of samples [hop] completing one frame -> float32 [1, mel_bands]."""
        pending = len(self._pending)
        joined = self._joined[:pending + self._hop]
        joined[:pending] = self._pending  # may overlap the view it came from: numpy copies safely
        joined[pending:] = samples
        self._pending = joined[self._hop:]  # a view, read by the next push
        np.multiply(joined[:self._window], self._logmel._hann, out=self._windowed)
        spectrum = np.fft.rfft(self._windowed, n=self._n_fft)
        return self._mean.push_one(self._logmel.log_energy(spectrum))


class RunningMean:
    """Causal per-band mean subtraction (see the module's docstring); rate 0 passes frames through.

    push(float64 [frames, bands]) -> float32 [frames, bands], carrying the mean between calls.
    """

    def __init__(self, rate: float):
        self.rate = rate
        self.reset()

    def reset(self) -> None:
        self._mean: np.ndarray | None = None
        self._seen = 0

    def push(self, frames: np.ndarray) -> np.ndarray:
        if self.rate == 0 or len(frames) == 0:
            return frames.astype(np.float32)
        out = np.empty(frames.shape, dtype=np.float64)
        mean = np.zeros(frames.shape[1]) if self._mean is None else self._mean
        for t, frame in enumerate(frames):
            mean += max(1.0 / (self._seen + t + 1), self.rate) * (frame - mean)
            out[t] = frame - mean
        self._mean, self._seen = mean, self._seen + len(frames)
        return out.astype(np.float32)

    def push_one(self, frame: np.ndarray) -> np.ndarray:
        """One frame float64 [bands] (overwritten) -> float32 [1, bands]: ``push`` of one frame."""
        if self.rate == 0:
            return frame.astype(np.float32)[None]
        if self._mean is None:
            self._mean = np.zeros(len(frame))
        mean = self._mean
        self._seen += 1
        step = frame - mean
        step *= max(1.0 / self._seen, self.rate)
        mean += step
        frame -= mean
        return frame.astype(np.float32)[None]


def mel_filters(config: LogMelConfig) -> np.ndarray:
    """Triangular filters, float64 [n_fft // 2 + 1, mel_bands], peaks evenly spaced on the mel scale."""
    fmax = config.sample_rate / 2 if config.fmax is None else config.fmax
    bins = np.fft.rfftfreq(config.n_fft, d=1.0 / config.sample_rate)
    edges = mel_to_hz(np.linspace(hz_to_mel(config.fmin), hz_to_mel(fmax), config.mel_bands + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None] - lower) / (centre - lower)
    falling = (upper - bins[None]) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling)).T


def check_samples(samples: Any, where: str = "input", allow_nonfinite: bool = False) -> np.ndarray:
    """Validate raw audio: a 1-D float array in [-1, 1] (or int16 PCM, scaled by 1/32768) -> float32 [n].

    Raises InputTypeError for another dtype, InputError for another rank or NaN/Inf (naming the
    first bad sample) unless ``allow_nonfinite``.
    """
    if isinstance(samples, (list, tuple)):
        try:
            samples = np.asarray(samples, dtype=np.float32)
        except (ValueError, TypeError):
            raise InputTypeError(f"{where}: expected audio samples, a 1-D float array; the list is ragged or holds non-numbers") from None
    if not isinstance(samples, np.ndarray):
        raise InputTypeError(f"{where}: expected audio samples as a 1-D numpy array, got {type(samples).__name__}")
    if samples.dtype == np.int16:
        samples = samples.astype(np.float32) / 32768.0
    elif not np.issubdtype(samples.dtype, np.floating):
        raise InputTypeError(f"{where}: expected float samples in [-1, 1] or int16 PCM, got dtype {samples.dtype}")
    if samples.ndim != 1:
        raise InputError(f"{where}: expected mono samples of shape [n], got {list(samples.shape)}; mix channels down first")
    if samples.dtype != np.float32 or not samples.flags.c_contiguous:
        with np.errstate(over="ignore"):  # float64 beyond float32's range: Inf, refused below
            samples = np.ascontiguousarray(samples, dtype=np.float32)
    # finite: the samples' dot product with themselves (one BLAS call; NaN or Inf make it
    # non-finite), element by element only when that fails (squares may overflow float32)
    if not allow_nonfinite and not math.isfinite(np.vdot(samples, samples)) and not np.isfinite(samples).all():
        bad = int(np.argwhere(~np.isfinite(samples))[0][0])
        raise InputError(f"{where}: NaN/Inf at sample {bad}; audio must be finite")
    return samples


def config_from_json(spec: dict) -> LogMelConfig:
    """LogMelConfig from the ``logmel`` key of a front end's JSON; MetadataError names what is wrong."""
    try:
        return LogMelConfig(**{**spec, "sample_rate": int(spec["sample_rate"])})
    except (KeyError, TypeError, InputError) as exc:
        raise MetadataError(f"frontend: malformed 'logmel' parameters ({exc})") from None


def config_to_json(config: LogMelConfig) -> dict:
    return asdict(config)
