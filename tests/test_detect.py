"""Events from per-step probabilities (runtime/detect.py)."""

from __future__ import annotations

import numpy as np
import pytest

from edgernn.runtime.detect import Detector, DetectorConfig, Event
from edgernn.runtime.errors import InputError, InputTypeError

LABELS = ["noise", "yes", "no"]


def bursts(length: int, spans: dict[int, list[tuple[int, int]]], high: float = 0.9) -> np.ndarray:
    """Probabilities [length, 3]: class k at ``high`` over each (first, last) span, else noise."""
    probs = np.tile(np.array([0.9, 0.05, 0.05]), (length, 1))
    for k, ranges in spans.items():
        for first, last in ranges:
            probs[first:last + 1] = (1 - high) / 2
            probs[first:last + 1, k] = high
    return probs.astype(np.float32)


def detect(probs: np.ndarray, config: DetectorConfig, pieces: list[int] | None = None) -> list[Event]:
    detector = Detector(LABELS, config)
    events, start = [], 0
    for size in pieces or [len(probs)]:
        events += detector.push(probs[start:start + size])
        start += size
    return events + detector.flush()


def test_unsmoothed_events_span_exactly_the_steps_above_threshold():
    probs = bursts(60, {1: [(10, 20)], 2: [(40, 45)]})
    events = detect(probs, DetectorConfig(window=1, threshold=0.5, ignore=("noise",)))
    assert events == [Event("yes", 10, 20, pytest.approx(0.9)), Event("no", 40, 45, pytest.approx(0.9))]


def test_smoothing_delays_the_start_and_drops_short_blips():
    probs = bursts(60, {1: [(10, 20), (40, 41)]})  # a 2-step blip at 40
    events = detect(probs, DetectorConfig(window=5, threshold=0.5, ignore=("noise",)))
    # mean over 5 steps reaches 0.5 once 3 of them are "yes" (3 * 0.9 + 2 * 0.05 = 2.8 / 5 = 0.56)
    assert [(e.label, e.start, e.end) for e in events] == [("yes", 12, 22)]
    assert events[0].score == pytest.approx(0.9)


def test_refractory_period_suppresses_an_event_right_after_another():
    probs = bursts(80, {1: [(10, 14), (18, 22), (40, 44)]})
    cfg = dict(window=1, threshold=0.5, ignore=("noise",))
    assert len(detect(probs, DetectorConfig(**cfg))) == 3
    events = detect(probs, DetectorConfig(refractory=6, **cfg))  # quiet until step 21
    assert [(e.start, e.end) for e in events] == [(10, 14), (21, 22), (40, 44)]


def test_events_shorter_than_min_steps_are_dropped_and_start_no_refractory_period():
    probs = bursts(80, {1: [(10, 12), (14, 30)], 2: [(50, 53)]})  # blips of 3 and 4 steps
    cfg = dict(window=1, threshold=0.5, ignore=("noise",), refractory=5)
    assert [(e.label, e.start, e.end) for e in detect(probs, DetectorConfig(**cfg))] == [("yes", 10, 12), ("yes", 18, 30), ("no", 50, 53)]
    events = detect(probs, DetectorConfig(min_steps=5, **cfg))
    assert [(e.label, e.start, e.end) for e in events] == [("yes", 14, 30)]
    tail = bursts(20, {2: [(17, 19)]})  # an event still open at the end is held to the same rule
    assert detect(tail, DetectorConfig(min_steps=4, **cfg)) == []


@pytest.mark.parametrize("seed", range(5))
def test_events_do_not_depend_on_how_the_probabilities_arrive(seed):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet([0.3, 0.3, 0.3], size=300).astype(np.float32)
    config = DetectorConfig(window=4, threshold={"yes": 0.4, "no": 0.6}, refractory=3, ignore=("noise",), min_steps=2)
    pieces = list(rng.integers(0, 9, size=200))
    pieces.append(300 - sum(pieces) if sum(pieces) < 300 else 0)
    assert detect(probs, config, pieces) == detect(probs, config)
    assert all(e.label != "noise" and e.start <= e.end for e in detect(probs, config))


def test_flush_ends_an_open_event_and_reset_starts_over():
    detector = Detector(LABELS, DetectorConfig(window=1, ignore=("noise",)))
    assert detector.push(bursts(10, {2: [(5, 9)]})) == []
    assert detector.flush() == [Event("no", 5, 9, pytest.approx(0.9))]
    detector.reset()
    assert detector.push(bursts(10, {1: [(0, 2)]})) == [Event("yes", 0, 2, pytest.approx(0.9))]


def test_bad_settings_and_inputs_name_what_was_expected():
    with pytest.raises(InputError, match=r"labels \['maybe'\] are not among the model's classes"):
        Detector(LABELS, DetectorConfig(threshold={"maybe": 0.5}))
    with pytest.raises(InputError, match="need window >= 1, refractory >= 0, min_steps >= 1, hold >= 0 and thresholds in \\(0, 1\\]"):
        Detector(LABELS, DetectorConfig(window=0))
    with pytest.raises(InputError, match="min_steps 0"):
        Detector(LABELS, DetectorConfig(min_steps=0))
    with pytest.raises(InputError, match="hold -1"):
        Detector(LABELS, DetectorConfig(hold=-1))
    detector = Detector(LABELS)
    with pytest.raises(InputError, match=r"expected probabilities \[steps, 3\], got \[4, 2\]"):
        detector.push(np.zeros((4, 2), np.float32))
    with pytest.raises(InputTypeError, match="expected float probabilities"):
        detector.push([[0.1, 0.2, 0.7]])


def reference_events(probs: np.ndarray, config: DetectorConfig) -> list[tuple[str, int, int, float]]:
    """The module docstring's rules applied step by step, as plainly as they read."""
    thresholds = config.thresholds(LABELS)
    events, open_event, quiet_until = [], None, 0

    def close(event):
        label, start, last, score = event
        if last - start + 1 >= config.min_steps:
            events.append((LABELS[label], start, last, score))
            return last + 1 + config.refractory
        return quiet_until
    for step in range(len(probs)):
        smoothed = probs[max(0, step - config.window + 1):step + 1].astype(np.float64).mean(axis=0)
        if open_event is not None:
            label = open_event[0]
            if smoothed[label] >= thresholds[label]:
                open_event = (label, open_event[1], step, max(open_event[3], smoothed[label]))
                continue
            quiet_until, open_event = close(open_event), None
        above = smoothed >= thresholds
        if step >= quiet_until and above.any():
            label = int(np.where(above, smoothed, -np.inf).argmax())
            open_event = (label, step, step, smoothed[label])
    if open_event is not None:
        close(open_event)
    kept = []
    for event in events:  # the hold: a later event of another class within it replaces the one before
        if kept and event[1] - kept[-1][2] <= config.hold and event[0] != kept[-1][0]:
            kept[-1] = event
        else:
            kept.append(event)
    return kept


@pytest.mark.parametrize("seed", range(20))
def test_events_equal_the_rules_applied_step_by_step(seed):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet([0.4, 0.3, 0.3], size=int(rng.integers(1, 400))).astype(np.float32)
    config = DetectorConfig(window=int(rng.integers(1, 8)), threshold={"yes": rng.uniform(0.2, 0.8), "no": rng.uniform(0.2, 0.8)},
                            refractory=int(rng.integers(0, 10)), ignore=("noise",) if seed % 2 else (),
                            default_threshold=float(rng.uniform(0.3, 0.9)), min_steps=int(rng.integers(1, 5)),
                            hold=int(rng.integers(0, 30)) if seed % 3 else 0)
    pieces = list(rng.integers(1, 50, size=20))
    got = [(e.label, e.start, e.end, e.score) for e in detect(probs, config, pieces + [len(probs)])]
    expected = reference_events(probs, config)
    assert [e[:3] for e in got] == [e[:3] for e in expected]
    np.testing.assert_allclose([e[3] for e in got], [e[3] for e in expected], rtol=1e-9)


def test_a_later_word_of_another_class_within_the_hold_replaces_the_event_before_it():
    """"go" heard in the first part of "stop": the "stop" event that starts within the hold
    replaces it; past the hold, or of the same class, both are reported; a blip replaces nothing."""
    cfg = dict(window=1, threshold=0.5, ignore=("noise",), min_steps=3)
    within = bursts(60, {2: [(10, 14)], 1: [(20, 30)]})  # "no" ends at 14, "yes" starts 6 steps later
    assert [(e.label, e.start) for e in detect(within, DetectorConfig(**cfg))] == [("no", 10), ("yes", 20)]
    assert [(e.label, e.start) for e in detect(within, DetectorConfig(hold=6, **cfg))] == [("yes", 20)]
    assert [(e.label, e.start) for e in detect(within, DetectorConfig(hold=5, **cfg))] == [("no", 10), ("yes", 20)]
    same = bursts(60, {1: [(10, 14), (20, 30)]})
    assert len(detect(same, DetectorConfig(hold=10, **cfg))) == 2
    blip = bursts(60, {2: [(10, 14)], 1: [(18, 19)]})  # 2 steps: shorter than min_steps
    assert [(e.label, e.start) for e in detect(blip, DetectorConfig(hold=10, **cfg))] == [("no", 10)]


def test_a_held_event_is_reported_once_its_hold_has_passed_or_a_later_event_settles_it():
    detector = Detector(LABELS, DetectorConfig(window=1, ignore=("noise",), min_steps=3, hold=8))
    probs = bursts(80, {2: [(10, 14)], 1: [(40, 50), (54, 70)]})
    assert detector.push(probs[:22]) == []              # "no" ended at 14: held through step 22
    assert [e.label for e in detector.push(probs[22:23])] == ["no"]
    assert detector.push(probs[23:56]) == []            # "yes" ended at 50; another "yes" opened at 54
    assert [(e.label, e.start) for e in detector.push(probs[56:57])] == [("yes", 40)]  # 3 steps long: it will count
    assert detector.push(probs[57:75]) == []
    assert [(e.label, e.start) for e in detector.flush()] == [("yes", 54)]
    assert detector.flush() == []


def test_events_of_smoothed_probabilities_equal_push_and_flush():
    from edgernn.runtime.detect import moving_average

    probs = np.random.default_rng(3).dirichlet([0.4, 0.3, 0.3], size=500).astype(np.float32)
    config = DetectorConfig(window=6, threshold=0.45, ignore=("noise",), min_steps=2, hold=12, refractory=3)
    detector = Detector(LABELS, config)
    detector.push(probs[:100])  # a fresh start is made whatever came before
    assert detector.events_of_smoothed(moving_average(probs, config.window)) == detect(probs, config)


def test_background_and_underscored_labels_are_never_keywords():
    from edgernn.runtime.detect import detector_config_for, non_keywords

    labels = ["yes", "_unknown_", "no", "_bg_", "_", "__", "_x"]
    assert non_keywords(labels, "_bg_") == ("_unknown_", "_bg_")
    assert non_keywords(["yes", "noise"], "noise") == ("noise",)
    config = detector_config_for({}, "_bg_", labels, ignore=("no",))
    assert config.ignore == ("no", "_unknown_", "_bg_") and config.window == 10  # the background defaults


def test_preset_durations_follow_an_audio_models_hop():
    """The presets count 10 ms steps: a 30 ms hop gets as many seconds in a third of the steps,
    a model whose steps are no time gets them as they are, and a calibrated point is never scaled."""
    from edgernn.runtime.detect import BACKGROUND_DETECTION_DEFAULTS, detector_config_for, steps_for

    assert [steps_for(n, 0.03) for n in (0, 1, 5, 10, 20, 50)] == [0, 1, 2, 3, 7, 17]
    assert [steps_for(n, 0.01) for n in (1, 5, 10, 20)] == [1, 5, 10, 20]
    assert [steps_for(n, None) for n in (1, 5, 10)] == [1, 5, 10]
    assert steps_for(10, 0.04) == 3  # 2.5 rounds half up
    labels = ["yes", "no", "_bg_"]
    at_30ms = detector_config_for({}, "_bg_", labels, 0.03)
    window, threshold, min_steps, hold = BACKGROUND_DETECTION_DEFAULTS
    assert (at_30ms.window, at_30ms.threshold, at_30ms.min_steps, at_30ms.hold) == (
        steps_for(window, 0.03), threshold, steps_for(min_steps, 0.03), steps_for(hold, 0.03))
    calibrated = {"window": 5, "min_steps": 4, "refractory": 50, "thresholds": {"yes": 0.9, "no": 0.8}}
    kept = detector_config_for(calibrated, "_bg_", labels, 0.03)
    assert (kept.window, kept.min_steps, kept.refractory, kept.hold) == (5, 4, 50, 0)  # calibrated before the hold
    assert detector_config_for({**calibrated, "hold": 20}, "_bg_", labels, 0.03).hold == 20
