"""From per-step class probabilities to events: smoothing, thresholds, a refractory period.

``Detector.push(probs)`` takes each new step's probabilities (float [steps, classes]), smooths
every class with a moving average over the last ``window`` steps, and tracks one event at a time:
- an event of class k starts at the first step where k's smoothed probability reaches its
  threshold and is the highest of the classes that do (and no event is open, and the refractory
  period is over); its start is that step;
- it ends at the last step before k's smoothed probability falls below its threshold (or at the
  stream's end, on ``flush``); its score is the highest smoothed probability it reached;
- an event shorter than ``min_steps`` is dropped (a blip as a word starts, before the model can
  tell it), and starts no refractory period;
- after an event ends, no event starts for ``refractory`` steps;
- an event that ended is held for ``hold`` steps before it is reported: when an event of another
  class starts within them (and lasts ``min_steps``), that later event replaces it. A recurrent
  model hears a long word's first part before the rest ("go" in "stop", "no" in "nine"): the
  later event has heard more. Each event is reported at most ``hold`` steps after it ended
  (``hold`` 0: as it ends).
Steps are counted from the detector's start (or its last ``reset``), from 0. Classes listed in
``ignore`` (a background or silence class) never make events.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgernn.runtime.errors import InputError, InputTypeError


@dataclass(frozen=True)
class Event:
    label: str
    start: int   # first step of the event
    end: int     # last step of the event (inclusive)
    score: float  # highest smoothed probability within the event

    def to_json(self) -> dict:
        return {"label": self.label, "start": self.start, "end": self.end, "score": round(self.score, 4)}


@dataclass(frozen=True)
class DetectorConfig:
    """window: steps averaged (1: no smoothing). threshold: one for every class, or per label
    (labels not named use ``default_threshold``). min_steps: shortest event reported.
    refractory: steps after an event with no new event. ignore: labels never reported.
    hold: steps an ended event waits for a later event of another class that replaces it."""

    window: int = 5
    threshold: float | dict[str, float] = 0.5
    default_threshold: float = 0.5
    refractory: int = 0
    ignore: tuple[str, ...] = ()
    min_steps: int = 1
    hold: int = 0

    def thresholds(self, labels: list[str]) -> np.ndarray:
        """float64 [classes]; ignored classes get +inf (never reached)."""
        unknown = sorted((set(self.threshold) if isinstance(self.threshold, dict) else set()) | set(self.ignore))
        unknown = [name for name in unknown if name not in labels]
        if unknown:
            raise InputError(f"detector: labels {unknown} are not among the model's classes {labels}")
        if isinstance(self.threshold, dict):
            values = [float(self.threshold.get(name, self.default_threshold)) for name in labels]
        else:
            values = [float(self.threshold)] * len(labels)
        if (self.window < 1 or self.refractory < 0 or self.min_steps < 1 or self.hold < 0
                or not all(0.0 < v <= 1.0 for v in values)):
            raise InputError(f"detector: need window >= 1, refractory >= 0, min_steps >= 1, hold >= 0 and thresholds in "
                             f"(0, 1]; got window {self.window}, refractory {self.refractory}, min_steps {self.min_steps}, "
                             f"hold {self.hold}, thresholds {values}")
        return np.array([np.inf if name in self.ignore else v for name, v in zip(labels, values)])


# Detection for a model without a calibrated operating point (window, threshold, min_steps, hold):
# any model, and a model trained with a background class for continuous audio, where these gave
# the fewest digit errors on recordings of spoken digits (benchmarks/digit_stream.py). The hold
# of 0.2 s made fewer digit errors at 47 of 48 settings tried on FSDD's four default models (at
# the window, threshold and length chosen here, 3 of 4: docs/streams.md).
# Counts of steps here are durations for an audio model: steps of PRESET_STEP_S seconds (the
# front end's default 10 ms hop), given to a model of another hop as as many seconds of its own
# steps (``steps_for``): what the model says after a word lasts a time, not a number of frames.
PRESET_STEP_S = 0.01
DETECTION_DEFAULTS = (5, 0.5, 1, 0)
BACKGROUND_DETECTION_DEFAULTS = (10, 0.7, 10, 20)


def steps_for(preset_steps: int, step_s: float | None) -> int:
    """``preset_steps`` steps of PRESET_STEP_S seconds as steps of ``step_s`` seconds (an audio
    model's hop), rounded half up and at least 1 (0 stays 0); unchanged where ``step_s`` is None
    (steps that are no time: sensor frames, words)."""
    if step_s is None or preset_steps == 0:
        return preset_steps
    return max(1, int(preset_steps * PRESET_STEP_S / step_s + 0.5))


def step_seconds(model) -> float | None:
    """Seconds per step of a runtime ``Model`` that hears audio (its hop); None for any other."""
    return getattr(model.frontend, "step_seconds", None)


def moving_average(probs: np.ndarray, window: int) -> np.ndarray:
    """float64 [steps, classes]: each step of a whole stream's ``probs`` (float [steps, classes])
    averaged with the ``window - 1`` steps before it (fewer at the stream's start)."""
    return _averaged(probs.astype(np.float64), window, 0)


def _averaged(history: np.ndarray, window: int, first: int) -> np.ndarray:
    """The moving average of ``history`` (float64 [steps, classes]) at its steps from ``first``."""
    sums = np.cumsum(np.concatenate([np.zeros((1, history.shape[1])), history]), axis=0)
    rows = np.arange(first, len(history))
    lows = np.maximum(0, rows - window + 1)
    return (sums[rows + 1] - sums[lows]) / (rows + 1 - lows)[:, None]


@dataclass
class _Open:
    label: int
    start: int
    last: int
    score: float


@dataclass
class Detector:
    """Events from one stream's probabilities (see the module's docstring)."""

    labels: list[str]
    config: DetectorConfig = field(default_factory=DetectorConfig)

    def __post_init__(self) -> None:
        self._thresholds = self.config.thresholds(self.labels)
        self.reset()

    @classmethod
    def for_model(cls, model, **overrides) -> "Detector":
        """The detector ``model`` (a runtime ``Model``) asks for: the operating point calibrated
        into its file (metadata ``detector``), else DETECTION_DEFAULTS, or
        BACKGROUND_DETECTION_DEFAULTS for a model with a background class, at the model's hop;
        that class, and any label ``_like_this_``, is always ignored (``non_keywords``).
        overrides: DetectorConfig fields that replace the file's (``ignore`` adds to it)."""
        return cls(model.labels, detector_config_for(model.metadata.detector, model.background, model.labels,
                                                     step_seconds(model), **overrides))

    def reset(self) -> None:
        self._recent = np.zeros((0, len(self.labels)), dtype=np.float64)  # the last window - 1 steps
        self._step = 0
        self._open: _Open | None = None
        self._held: Event | None = None  # an event that ended, waiting out the hold
        self._quiet_until = 0  # first step at which a new event may start

    def push(self, probs: np.ndarray) -> list[Event]:
        """probs: float [steps, classes] for the next steps -> the events that ended within them."""
        if not isinstance(probs, np.ndarray) or not np.issubdtype(probs.dtype, np.floating):
            raise InputTypeError(f"detector: expected float probabilities [steps, {len(self.labels)}]")
        if probs.ndim != 2 or probs.shape[1] != len(self.labels):
            raise InputError(f"detector: expected probabilities [steps, {len(self.labels)}], got {list(probs.shape)}")
        window = self.config.window
        history = np.concatenate([self._recent, probs.astype(np.float64)])
        smoothed = _averaged(history, window, len(self._recent))
        self._recent = history[max(0, len(history) - (window - 1)):] if window > 1 else history[:0]
        return self._advance(smoothed)

    def flush(self) -> list[Event]:
        """End the open event, if any, at the last step seen, and report the event held (call
        when the stream ends; ``reset`` alone drops them)."""
        ended = self._close() if self._open is not None else []
        if self._held is not None:
            ended.append(self._held)
            self._held = None
        return ended

    def events_of(self, probs: np.ndarray) -> list[Event]:
        """Every event of one whole stream (float [steps, classes]) from a fresh start: ``reset``,
        ``push(probs)`` and ``flush``."""
        self.reset()
        return self.push(probs) + self.flush()

    def events_of_smoothed(self, smoothed: np.ndarray) -> list[Event]:
        """Every event of one whole stream, from a fresh start, given its probabilities already
        smoothed (``moving_average(probs, config.window)``, float64 [steps, classes]): what
        ``events_of(probs)`` gives, for a sweep that smooths once per window."""
        self.reset()
        return self._advance(smoothed) + self.flush()

    def _advance(self, smoothed: np.ndarray) -> list[Event]:
        """Apply the event rules to ``smoothed`` (float64 [steps, classes]). The comparisons are
        made for the whole chunk at once; the loop then jumps from event to event (an open event
        runs to its class's next step below threshold, the next one starts at the next step with
        a class above its threshold), so a long quiet stream costs no Python per step."""
        steps = len(smoothed)
        above = smoothed >= self._thresholds
        starts = np.flatnonzero(above.any(axis=1))
        candidate = np.where(above, smoothed, -np.inf).argmax(axis=1)
        below: dict[int, np.ndarray] = {}
        ended: list[Event] = []
        row = 0
        while row < steps:
            if self._open is not None:
                k = self._open.label
                if k not in below:
                    below[k] = np.flatnonzero(~above[:, k])
                index = np.searchsorted(below[k], row)
                stop = int(below[k][index]) if index < len(below[k]) else steps  # first step below threshold
                if stop > row:
                    self._open.last = self._step + stop - 1
                    self._open.score = max(self._open.score, float(smoothed[row:stop, k].max()))
                if stop == steps:
                    break
                ended.extend(self._close())
                row = stop
            index = np.searchsorted(starts, max(row, self._quiet_until - self._step))
            if index == len(starts):
                break
            row = int(starts[index])
            k = int(candidate[row])
            self._open = _Open(k, self._step + row, self._step + row, float(smoothed[row, k]))
            row += 1
        self._step += steps
        return ended + self._release()

    def _close(self) -> list[Event]:
        """End the open event; one shorter than min_steps is dropped, any other settles the held
        event (``_settle``) and is held in its place. Returns the events reported."""
        event = Event(self.labels[self._open.label], self._open.start, self._open.last, self._open.score)
        self._open = None
        if event.end - event.start + 1 < self.config.min_steps:
            return []
        self._quiet_until = event.end + 1 + self.config.refractory
        reported = self._settle(event.label, event.start)
        self._held = event
        return reported

    def _settle(self, label: str, start: int) -> list[Event]:
        """A later event of ``label`` that starts at step ``start`` and will be reported decides
        the held one: replaced when of another class within the hold, else reported ([it])."""
        held, self._held = self._held, None
        if held is None or (start - held.end <= self.config.hold and label != held.label):
            return []
        return [held]

    def _release(self) -> list[Event]:
        """After a chunk: the held event, when its fate is known, settled by the open event (once
        that has lasted min_steps, it will be reported) or reported once its hold has passed
        with no event started within it."""
        held, current = self._held, self._open
        if held is None:
            return []
        if current is not None and current.start - held.end <= self.config.hold:
            if current.last - current.start + 1 >= self.config.min_steps:
                return self._settle(self.labels[current.label], current.start)
            return []  # it may yet prove a blip
        if current is not None or self._step - 1 >= held.end + self.config.hold:
            self._held = None
            return [held]
        return []


def listens_for_events(model) -> bool:
    """Whether ``model`` is made for event detection on a stream: it has a background class or a
    calibrated detector. Other models classify whole sequences; their answer is the last step's."""
    return model.background is not None or bool(model.metadata.detector)


def non_keywords(labels: list[str], background: str | None) -> tuple[str, ...]:
    """The labels a detector never reports: the model's background class and every label written
    ``_like_this_`` (Speech Commands' ``_unknown_`` and ``_silence_``: speech or sound that is no
    keyword)."""
    return tuple(label for label in labels if label == background or (len(label) > 2 and label[0] == label[-1] == "_"))


def detector_config_for(calibrated: dict, background: str | None, labels: list[str], step_s: float | None = None,
                        **overrides) -> DetectorConfig:
    """The DetectorConfig of ``Detector.for_model``: ``calibrated`` (a graph's ``detector``
    metadata, {} when it has none; its counts are the graph's own steps), the defaults otherwise
    (at steps of ``step_s`` seconds: ``steps_for``), then ``overrides``; ``non_keywords`` of
    ``labels`` are ignored."""
    if calibrated:
        settings = {"window": calibrated["window"], "threshold": dict(calibrated["thresholds"]),
                    "min_steps": calibrated["min_steps"], "refractory": calibrated["refractory"],
                    "hold": calibrated.get("hold", 0)}  # graphs calibrated before the hold have none
    else:
        window, threshold, min_steps, hold = BACKGROUND_DETECTION_DEFAULTS if background is not None else DETECTION_DEFAULTS
        settings = {"window": steps_for(window, step_s), "threshold": threshold, "default_threshold": threshold,
                    "min_steps": steps_for(min_steps, step_s), "hold": steps_for(hold, step_s)}
    ignore = tuple(dict.fromkeys((*overrides.pop("ignore", ()), *non_keywords(labels, background))))
    return DetectorConfig(**{**settings, **overrides, "ignore": ignore})
