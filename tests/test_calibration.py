"""Scoring events against a stream's truth (runtime/scoring.py) and choosing an operating point
(runtime/calibration.py)."""

from __future__ import annotations

import numpy as np
import pytest

from edgernn.runtime.calibration import OperatingPoint, ScoredStream, StepClock, SweepGrid, calibrate, score_point
from edgernn.runtime.errors import InputError
from edgernn.runtime.scoring import Utterance, poisson_upper, score_stream

KEYWORDS = ["yes", "no"]


def test_each_keyword_is_caught_once_and_every_other_event_is_a_false_alarm():
    truth = [Utterance("yes", 1.0, 1.5), Utterance("no", 3.0, 3.4), Utterance("yes", 6.0, 6.5),
             Utterance("_unknown_", 8.0, 8.6)]
    events = [("yes", 1.2), ("yes", 1.4),   # the second on the same word is a false alarm
              ("no", 3.85),                  # onset after the end, within the 0.5 s tolerance: caught
              ("no", 6.1),                   # wrong label on a keyword: a false alarm, and "yes" missed
              ("yes", 8.1)]                  # on speech that is no keyword: a false alarm
    score = score_stream(events, truth, seconds=10.0, keywords=KEYWORDS)
    assert score.said == {"yes": 2, "no": 1} and score.caught == {"yes": 1, "no": 1}
    assert score.false_alarms == {"yes": 2, "no": 1}
    assert score.recall() == pytest.approx(2 / 3) and score.recall("no") == 1.0
    assert score.false_alarms_per_hour() == pytest.approx(3 * 360.0)
    late = score_stream([("no", 3.95)], truth, seconds=10.0, keywords=KEYWORDS, tolerance_s=0.5)
    assert late.caught["no"] == 0 and late.false_alarms["no"] == 1


def test_an_event_catches_the_earliest_open_keyword_it_may():
    truth = [Utterance("yes", 1.0, 2.0), Utterance("yes", 1.8, 2.5)]
    score = score_stream([("yes", 1.9), ("yes", 2.2)], truth, seconds=5.0, keywords=KEYWORDS)
    assert score.caught["yes"] == 2 and score.false_alarms["yes"] == 0


def test_poisson_upper_bound():
    assert poisson_upper(0) == pytest.approx(-np.log(0.05), rel=1e-6)  # 2.9957
    assert poisson_upper(1) == pytest.approx(4.7439, rel=1e-4)   # chi2.ppf(0.95, 4) / 2
    assert poisson_upper(10) == pytest.approx(16.9622, rel=1e-4)  # chi2.ppf(0.95, 22) / 2


def test_bad_truth_rows_are_refused():
    assert Utterance.from_json({"label": "yes", "start_s": 1, "end_s": 2}) == Utterance("yes", 1.0, 2.0)
    with pytest.raises(InputError, match="needs label, start_s and end_s"):
        Utterance.from_json({"label": "yes", "start_s": 1})
    with pytest.raises(InputError, match="finite start_s <= end_s"):
        Utterance.from_json({"label": "yes", "start_s": 2, "end_s": 1})


LABELS = ["_background_", "yes", "no"]
CLOCK = StepClock(step_s=0.01)


def synthetic_stream(seed: int, seconds: float = 60.0) -> ScoredStream:
    """Probabilities of a model that is sure on words (0.9 over 40 steps) and now and then
    wavers on background: bumps of one keyword up to 0.55-0.8 over 3-12 steps."""
    rng = np.random.default_rng(seed)
    steps = int(seconds / CLOCK.step_s)
    probs = np.tile([0.96, 0.02, 0.02], (steps, 1))
    truth = []
    for start in range(200, steps - 200, 500):
        k = 1 + int(rng.integers(2))
        probs[start:start + 40] = 0.05
        probs[start:start + 40, k] = 0.9
        truth.append(Utterance(LABELS[k], start * CLOCK.step_s, (start + 40) * CLOCK.step_s))
    for start in rng.choice(np.arange(100, steps - 100), size=12, replace=False):
        if any(abs(start * CLOCK.step_s - u.start_s) < 1.0 for u in truth):
            continue
        k, height, length = 1 + int(rng.integers(2)), rng.uniform(0.55, 0.8), int(rng.integers(3, 13))
        probs[start:start + length] = (1 - height) / 2
        probs[start:start + length, k] = height
    return ScoredStream(probs.astype(np.float32), truth, seconds)


def test_calibration_finds_a_setting_within_the_budget_that_catches_every_word():
    streams = [synthetic_stream(seed) for seed in range(3)]
    loose = score_point(streams, LABELS, OperatingPoint(1, 1, 0, {"yes": 0.5, "no": 0.5}), ("_background_",), CLOCK)
    assert loose.false_alarms_per_hour() > 100  # the wavering bumps fire at a low threshold
    result = calibrate(streams, LABELS, ("_background_",), CLOCK, false_alarms_per_hour=0.0,
                       grid=SweepGrid(windows=(1, 5), min_steps=(1, 15), refractory=(0,), thresholds=(0.5, 0.7, 0.85)))
    assert result["met"] and result["validation"]["false_alarms"] == 0 and result["validation"]["recall"] == 1.0
    point = result["operating_point"]
    # every bump stays below 0.85 (and shorter than 15 steps); of the settings that catch every
    # word with no false alarm, the one with the least delay wins
    assert point == {"window": 1, "min_steps": 1, "refractory": 0, "hold": 0, "thresholds": {"yes": 0.85, "no": 0.85}}
    chosen = OperatingPoint.from_json(point)
    again = score_point(streams, LABELS, chosen, ("_background_",), CLOCK)
    assert again.to_json() == result["validation"]
    overall = result["det"]["overall"]
    assert [p["threshold"] for p in overall] == [0.5, 0.7, 0.85] and set(result["det"]["per_class"]) == {"yes", "no"}
    alarms = [p["false_alarms_per_hour"] for p in overall]
    assert alarms == sorted(alarms, reverse=True)  # a higher threshold never fires more here


def test_calibration_says_when_no_setting_meets_the_budget():
    streams = [synthetic_stream(0)]
    always = streams[0].probs.copy()
    always[:, 1] = np.maximum(always[:, 1], 0.995)  # "yes" all the time
    result = calibrate([ScoredStream(always, streams[0].truth, 60.0)], LABELS, ("_background_",), CLOCK,
                       grid=SweepGrid(windows=(1,), min_steps=(1,), refractory=(0,), thresholds=(0.5, 0.9)))
    assert not result["met"] and result["validation"]["false_alarms_per_hour"] > 1.0


def test_calibration_holds_events_when_a_short_word_is_heard_inside_a_longer_one():
    """Every "yes" begins with 15 steps of sure "no" (its first part sounds like the other word)
    and a 10-step gap: without a hold each costs a false alarm at any threshold; a hold of 20
    steps lets the "yes" replace it."""
    streams = []
    for stream in (synthetic_stream(seed) for seed in range(2)):
        probs = stream.probs.copy()
        for u in stream.truth:
            start = round(u.start_s / CLOCK.step_s)
            if u.label == "yes":
                probs[start:start + 15] = [0.02, 0.02, 0.96]
                probs[start + 15:start + 25] = [0.96, 0.02, 0.02]
        streams.append(ScoredStream(probs, stream.truth, stream.seconds))
    grid = dict(windows=(1,), min_steps=(1, 15), refractory=(0,), thresholds=(0.5, 0.85, 0.95))
    without = calibrate(streams, LABELS, ("_background_",), CLOCK, 0.0, SweepGrid(**grid, holds=(0,)))
    assert not without["met"]
    held = calibrate(streams, LABELS, ("_background_",), CLOCK, 0.0, SweepGrid(**grid, holds=(0, 10, 20)))
    # the "yes" event starts 11 steps after the "no" one ends: a hold of 10 is too short
    assert held["met"] and held["validation"]["recall"] == 1.0 and held["operating_point"]["hold"] == 20


def test_calibration_sets_one_threshold_for_every_keyword():
    """"no" is only ever heard at 0.6 and "yes" wavers to 0.75 between words: thresholds of 0.85
    for "yes" and 0.5 for "no" would catch every word here without a false alarm, but thresholds
    fitted class by class to a few validation events fit their sample (runtime/calibration.py),
    so the one threshold that meets the budget is kept and the "no"s are missed."""
    steps = 6000
    probs = np.tile(np.float32([0.96, 0.02, 0.02]), (steps, 1))
    truth = []
    for i, start in enumerate(range(200, steps - 200, 500)):
        k, sure = (1, 0.9) if i % 2 == 0 else (2, 0.6)
        probs[start:start + 40] = (1 - sure) / 2
        probs[start:start + 40, k] = sure
        truth.append(Utterance(LABELS[k], start * CLOCK.step_s, (start + 40) * CLOCK.step_s))
        probs[start + 250:start + 270] = [0.125, 0.75, 0.125]
    result = calibrate([ScoredStream(probs, truth, 60.0)], LABELS, ("_background_",), CLOCK, 0.0,
                       SweepGrid(windows=(1,), min_steps=(1,), refractory=(0,), holds=(0,), thresholds=(0.5, 0.85)))
    assert result["met"] and result["operating_point"]["thresholds"] == {"yes": 0.85, "no": 0.85}
    assert result["validation"]["per_class"]["yes"]["recall"] == 1.0 and result["validation"]["per_class"]["no"]["recall"] == 0.0
    assert result["settings_tried"] == 2


def test_calibration_refuses_what_it_cannot_judge():
    with pytest.raises(InputError, match="needs a keyword class"):
        calibrate([synthetic_stream(0)], ["_background_"], ("_background_",), CLOCK)
    with pytest.raises(InputError, match="at least one validation stream"):
        calibrate([], LABELS, ("_background_",), CLOCK)


def test_the_sweep_grid_counts_10_ms_steps_at_the_models_hop():
    grid = SweepGrid(windows=(1, 5, 10, 20), min_steps=(1, 5, 10, 20), refractory=(0, 50), holds=(0, 20))
    assert grid.at_step(0.01) == grid
    at_30ms = grid.at_step(0.03)
    assert (at_30ms.windows, at_30ms.min_steps, at_30ms.refractory, at_30ms.holds) == (
        (1, 2, 3, 7), (1, 2, 3, 7), (0, 17), (0, 7))
    assert grid.at_step(0.1).windows == (1, 2)  # repeats dropped: 0.01 s and 0.05 s both round to one step
    assert at_30ms.thresholds == grid.thresholds
