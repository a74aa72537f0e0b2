"""Choosing a detector's operating point on validation streams: the setting that catches the most
keywords within a false-alarm budget, and the curve of false alarms against misses.

``calibrate(streams, labels, ...)``:
1. sweeps the detector's smoothing window, minimum event length, refractory period, hold and
   one threshold for every keyword class over ``SweepGrid`` (every combination), scoring each
   setting on every stream by runtime/scoring.py's matching rule (each stream smoothed once per
   window);
2. takes the setting that meets ``false_alarms_per_hour`` with the most keywords caught (then
   the fewest false alarms, then the shortest window and minimum length: the least delay); when
   none meets it, the one with the fewest false alarms per hour (``met`` False says so);
3. returns the operating point, its score on the streams overall and per class, and the DET
   points: for the chosen window, minimum length, refractory period and hold, the false alarms
   per hour and the miss rate at every swept threshold, overall and per class.
One threshold serves every keyword. Thresholds tuned class by class on the same streams fitted
their sample instead: a budget of 30 per hour is 30 events in an hour, a few per class, and on
three keyword models and two validation hours each, the per-class refinement this module had
caught 0-0.8 points more of the keywords of unseen voices at 10 dB for 2-10 more false alarms
per hour (up to 20 more at 20 dB; docs/streams.md). The detector and the graph's metadata still
take a threshold per class (`edgernn stream --class-threshold`).
Numpy only: the runtime (and a device) can run it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from edgernn.runtime.detect import Detector, DetectorConfig, moving_average, steps_for
from edgernn.runtime.errors import InputError
from edgernn.runtime.model import Model, ResetPolicy
from edgernn.runtime.scoring import TOLERANCE_S, StreamScore, Utterance, score_stream


@dataclass(frozen=True)
class SweepGrid:
    """The settings swept. Counts of steps are steps of runtime/detect.py's PRESET_STEP_S (10 ms):
    ``at_step`` gives them at a model's own step."""
    windows: tuple[int, ...] = (1, 5, 10, 20)        # steps of moving-average smoothing
    min_steps: tuple[int, ...] = (1, 5, 10, 20)      # shortest event, steps
    refractory: tuple[int, ...] = (0, 50)            # steps with no new event after one
    holds: tuple[int, ...] = (0, 20)                 # steps an event waits for a longer word's
    thresholds: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99)

    def at_step(self, step_s: float) -> "SweepGrid":
        """The grid's durations as steps of ``step_s`` seconds (``steps_for``), repeats dropped."""
        def scaled(values: tuple[int, ...]) -> tuple[int, ...]:
            return tuple(dict.fromkeys(steps_for(v, step_s) for v in values))
        return SweepGrid(scaled(self.windows), scaled(self.min_steps), scaled(self.refractory), scaled(self.holds),
                         self.thresholds)


@dataclass(frozen=True)
class ScoredStream:
    """One validation stream: the model's probabilities (float [steps, classes]) and what was said."""
    probs: np.ndarray
    truth: list[Utterance]
    seconds: float


@dataclass(frozen=True)
class StepClock:
    """Step index -> seconds from the stream's start at which that step's input ends."""
    step_s: float          # seconds between steps (an audio model's hop)
    offset_s: float = 0.0  # seconds of input before the first step ends (the window less one hop)

    def at(self, step: int) -> float:
        return self.offset_s + step * self.step_s


@dataclass
class OperatingPoint:
    window: int
    min_steps: int
    refractory: int
    thresholds: dict[str, float] = field(default_factory=dict)  # per keyword label
    hold: int = 0

    @classmethod
    def from_json(cls, point: dict) -> "OperatingPoint":
        """From ``to_json``'s dict (a point without ``hold`` was chosen before it: 0)."""
        return cls(point["window"], point["min_steps"], point["refractory"], dict(point["thresholds"]), point.get("hold", 0))

    def detector_config(self, ignore: tuple[str, ...]) -> DetectorConfig:
        return DetectorConfig(window=self.window, threshold=dict(self.thresholds), refractory=self.refractory,
                              ignore=ignore, min_steps=self.min_steps, hold=self.hold)

    def to_json(self) -> dict:
        return {"window": self.window, "min_steps": self.min_steps, "refractory": self.refractory, "hold": self.hold,
                "thresholds": {k: round(v, 4) for k, v in self.thresholds.items()}}


def score_point(streams: list[ScoredStream], labels: list[str], point: OperatingPoint, ignore: tuple[str, ...],
                clock: StepClock, tolerance_s: float = TOLERANCE_S) -> StreamScore:
    """The detector at ``point`` run over every stream and scored against its truth."""
    return _Sweep(streams, labels, ignore, clock, tolerance_s).score(point)


class _Sweep:
    """Scores settings on one set of streams, smoothing each stream once per window (the last
    window asked for is kept: a sweep that goes window by window smooths each stream once)."""

    def __init__(self, streams: list[ScoredStream], labels: list[str], ignore: tuple[str, ...], clock: StepClock,
                 tolerance_s: float) -> None:
        self.streams, self.labels, self.ignore, self.clock, self.tolerance_s = streams, labels, ignore, clock, tolerance_s
        self.keywords = [label for label in labels if label not in ignore]
        self._window, self._smoothed = None, []

    def score(self, point: OperatingPoint) -> StreamScore:
        if point.window != self._window:
            self._window, self._smoothed = point.window, [moving_average(s.probs, point.window) for s in self.streams]
        detector = Detector(self.labels, point.detector_config(self.ignore))
        total = StreamScore(self.keywords)
        for stream, smoothed in zip(self.streams, self._smoothed):
            events = detector.events_of_smoothed(smoothed)
            total.add(score_stream([(e.label, self.clock.at(e.start)) for e in events], stream.truth, stream.seconds,
                                   self.keywords, self.tolerance_s))
        return total


def calibrate(streams: list[ScoredStream], labels: list[str], ignore: tuple[str, ...], clock: StepClock,
              false_alarms_per_hour: float = 1.0, grid: SweepGrid = SweepGrid(),
              tolerance_s: float = TOLERANCE_S) -> dict:
    """The operating point for ``false_alarms_per_hour`` (see the module's docstring), ``grid``'s
    durations taken at ``clock``'s step, as
    {"operating_point", "met", "target_false_alarms_per_hour", "validation": StreamScore.to_json(),
    "det": {"overall": [...], "per_class": {...}}, "settings_tried"}."""
    keywords = [label for label in labels if label not in ignore]
    if not keywords:
        raise InputError(f"calibration needs a keyword class: every label of {labels} is ignored")
    if not streams or sum(s.seconds for s in streams) <= 0:
        raise InputError("calibration needs at least one validation stream of positive length")
    if not false_alarms_per_hour >= 0:
        raise InputError(f"false alarms per hour must be >= 0, got {false_alarms_per_hour}")

    grid = grid.at_step(clock.step_s)
    sweep = _Sweep(streams, labels, ignore, clock, tolerance_s)

    def rank(s: StreamScore, point: OperatingPoint) -> tuple:
        """Smaller is better: within the budget first, then more caught, fewer alarms, less delay."""
        fa = s.false_alarms_per_hour()
        return (fa > false_alarms_per_hour, -sum(s.caught.values()) if fa <= false_alarms_per_hour else fa,
                sum(s.false_alarms.values()), point.window + point.min_steps + point.hold)

    swept: dict[tuple, tuple[OperatingPoint, StreamScore]] = {}
    for window, min_steps, refractory, hold, threshold in itertools.product(
            grid.windows, grid.min_steps, grid.refractory, grid.holds, grid.thresholds):
        point = OperatingPoint(window, min_steps, refractory, dict.fromkeys(keywords, threshold), hold)
        swept[_key(point, threshold)] = (point, sweep.score(point))
    best, best_score = min(swept.values(), key=lambda entry: rank(entry[1], entry[0]))
    curve = [(threshold, swept[_key(best, threshold)][1]) for threshold in grid.thresholds]
    return {"operating_point": best.to_json(), "met": best_score.false_alarms_per_hour() <= false_alarms_per_hour,
            "target_false_alarms_per_hour": false_alarms_per_hour, "tolerance_s": tolerance_s,
            "validation": best_score.to_json(), "det": det_points(curve, keywords), "settings_tried": len(swept)}


def _key(point: OperatingPoint, threshold: float) -> tuple:
    """A swept setting: ``point``'s window, minimum length, refractory period and hold with one
    threshold for every class."""
    return (point.window, point.min_steps, point.refractory, point.hold, threshold)


def det_points(curve: list[tuple[float, StreamScore]], keywords: list[str]) -> dict:
    """{"overall": [{"threshold", "false_alarms_per_hour", "miss_rate"}...], "per_class": {label: [...]}}
    from scores at a range of thresholds (one setting of the other parameters)."""
    def points(label: str | None) -> list[dict]:
        rows = []
        for threshold, s in curve:
            recall = s.recall(label)
            rows.append({"threshold": threshold, "false_alarms_per_hour": round(s.false_alarms_per_hour(label), 3),
                         "miss_rate": None if recall is None else round(1 - recall, 4)})
        return rows
    return {"overall": points(None), "per_class": {label: points(label) for label in keywords}}


def stream_probabilities(model: Model, samples: np.ndarray, reset: ResetPolicy | None = None) -> np.ndarray:
    """float32 [steps, classes]: the recording pushed one hop at a time from a zero state, reset by
    ``reset`` (default: never, as `edgernn stream` by default)."""
    stream = model.stream(reset=reset)
    pieces = [p for p in stream.push_in_pieces(samples, model.frontend.step_length) if len(p)]
    return np.concatenate(pieces) if pieces else np.zeros((0, len(model.labels)), np.float32)


def clock_of(model: Model) -> StepClock:
    """An audio model's steps in seconds: a step's frame ends (window + step x hop) samples in."""
    return StepClock(step_s=model.frontend.step_seconds, offset_s=model.frontend.config.window / model.frontend.config.sample_rate)
