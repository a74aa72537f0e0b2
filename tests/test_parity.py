"""How the parity gates are judged (export/parity.py): one rule table for export and check."""

from __future__ import annotations

import numpy as np
import pytest

from edgernn.export.gates import (
    FP32_GATES, QUANTIZED_GATES, Gate, ParityLimits, changes_within_chance, judge, long_stream_drift, run_graph,
    with_verdict,
)
from edgernn.runtime import Model


def by_name(gates: list[Gate]) -> dict[str, Gate]:
    return {g.name: g for g in gates}


def test_fp32_limits_rise_to_twice_pytorchs_own_float32_error_and_no_further():
    calm = {"max_abs_diff": 3e-5, "float32_error": 1e-6, "stream_max_abs_diff": 0.0,
            "long_stream": {"finite": True, "max_abs_logit_diff": 2e-4, "float32_drift": 1e-4}}
    gates = by_name(judge(calm, FP32_GATES, ParityLimits()))
    assert (gates["fp32_vs_torch"].limit, gates["long_stream_drift"].limit) == (1e-4, 1e-3)
    assert all(g.passed for g in gates.values())
    # a model that amplifies rounding: PyTorch float32 is itself 1.2e-3 from float64
    sensitive = {**calm, "max_abs_diff": 1.3e-3, "float32_error": 1.2e-3}
    gate = by_name(judge(sensitive, FP32_GATES, ParityLimits()))["fp32_vs_torch"]
    assert gate.limit == pytest.approx(1.2e-2) and gate.passed
    assert not by_name(judge({**sensitive, "max_abs_diff": 1.3e-2}, FP32_GATES, ParityLimits()))["fp32_vs_torch"].passed
    # a GRU run over 1,344-step series: 0.0039 from PyTorch, whose float32 is 0.0013 from float64
    long = by_name(judge({**calm, "max_abs_diff": 3.9e-3, "float32_error": 1.3e-3, "logit_scale": 28.0},
                         FP32_GATES, ParityLimits()))["fp32_vs_torch"]
    assert long.passed and long.limit == pytest.approx(1.3e-2)
    strict = by_name(judge(sensitive, FP32_GATES, ParityLimits(float32_error_factor=0)))["fp32_vs_torch"]
    assert strict.limit == 1e-4 and not strict.passed
    # the 1e-4 is per unit of logit scale: logits of size 30 may differ by 3e-3
    large = by_name(judge({**sensitive, "max_abs_diff": 2e-3, "float32_error": 2e-5, "logit_scale": 30.0},
                          FP32_GATES, ParityLimits()))["fp32_vs_torch"]
    assert large.limit == pytest.approx(3e-3) and large.passed


def test_quantized_long_stream_agreement_is_judged_only_where_the_model_is_reproducible():
    summary = {"top1_agreement": 1.0, "stream_top1_agreement": 1.0,
               "long_stream": {"finite": True, "top1_agreement": 0.945, "class_shift": 0.01}}
    gates = by_name(judge(summary, QUANTIZED_GATES, ParityLimits()))
    assert gates["long_stream_top1_agreement"].limit == 0.97 and not gates["long_stream_top1_agreement"].passed
    summary["long_stream"]["float32_top1_agreement"] = 1.0  # a reproducible model: judged step by step
    assert not by_name(judge(summary, QUANTIZED_GATES, ParityLimits()))["long_stream_top1_agreement"].passed
    summary["long_stream"]["float32_top1_agreement"] = 0.92  # float32 vs float64 agree on 92% of steps
    gates = by_name(judge(summary, QUANTIZED_GATES, ParityLimits()))
    assert "long_stream_top1_agreement" not in gates and gates["long_stream_class_shift"].passed
    summary["long_stream"]["class_shift"] = 0.3  # the quantized state collapsed onto other classes
    assert not by_name(judge(summary, QUANTIZED_GATES, ParityLimits()))["long_stream_class_shift"].passed


def test_gates_without_a_measurement_are_not_judged_and_every_failure_is_listed():
    summary = {"top1_agreement": 0.5, "stream_top1_agreement": 0.4}  # no labels, no long stream
    with_verdict(summary, judge(summary, QUANTIZED_GATES, ParityLimits()))
    assert [g["gate"] for g in summary["gates"]] == ["top1_agreement", "streaming_top1_agreement"]
    assert summary["failures"] == ["gate top1_agreement: 0.5 (limit >= 0.99)",
                                   "gate streaming_top1_agreement: 0.4 (limit >= 0.99)"]
    assert summary["passed"] is False
    assert not Gate("x", float("nan"), "<=", 1.0).passed and not Gate("x", float("nan"), ">=", 0.0).passed


def test_long_stream_horizon_is_where_float32_and_float64_part(gru_onnx):
    model = Model(gru_onnx, threads=1)
    stream = np.random.default_rng(0).standard_normal((300, 12)).astype(np.float32)
    zero = list(model.zero_state(1).values())
    exact = lambda x, s: run_graph(model.session, x, s)  # noqa: E731
    offset = {"steps": 0}

    def drifting(x, state):  # a float64 stand-in that parts from float32 by 1.5e-5 more each step
        logits, *new = run_graph(model.session, x, state)
        steps = np.arange(offset["steps"], offset["steps"] + x.shape[1])
        offset["steps"] += x.shape[1]
        return [logits + 1.5e-5 * steps[None, :, None], *new]

    drift = long_stream_drift(model.session, exact, zero, stream, chunk=64, reference64=drifting, horizon_tolerance=1e-3)
    assert drift["max_abs_logit_diff"] == 0.0 and drift["top1_agreement"] == 1.0 and drift["finite"]
    assert drift["horizon_steps"] == 67  # 1.5e-5 * 67 > 1e-3 first at step 67
    assert drift["float32_drift"] == pytest.approx(299 * 1.5e-5)


def quantized_summary(cases: int, changed: int, lost: int = 0, gained: int = 0) -> dict:
    """A quantized graph's counts as quantized_measurements reports them, fp32 accuracy 0.9."""
    return {"sequences": cases, "top1_agreement": 1 - changed / cases, "stream_top1_agreement": 1.0,
            "accuracy_drop": (lost - gained) / cases, "answers_lost": lost, "answers_gained": gained}


@pytest.mark.parametrize("cases, changed, lost, gained, passed", [
    (50, 1, 1, 0, True),         # one flip in 50 (2 points of accuracy) says nothing about a 1% rate or 0.5 points
    (50, 2, 2, 0, True),         # two in 50: a true 1% rate gives >= 2 in 9% of test sets
    (50, 3, 0, 0, False),        # three in 50: under 2% of test sets at a 1% rate
    (1000, 130, 90, 40, False),  # 13% changed answers in 1,000: far beyond a 1% rate
    (1000, 15, 5, 5, True),      # 1.5% of 1,000 changed, none of it accuracy: still within chance of 1%
    (1000, 16, 0, 0, False),
    (370, 6, 6, 0, False),       # six answers lost and none gained: a drop of 1.6 points, no coin gives that
    (370, 4, 3, 1, True),        # a net 2 lost of 4 changed (0.54 points): chance
])
def test_agreement_and_accuracy_drop_are_judged_on_the_number_of_cases(cases, changed, lost, gained, passed):
    summary = quantized_summary(cases, changed, lost, gained)
    verdict = with_verdict(summary, judge(summary, QUANTIZED_GATES, ParityLimits()))
    assert verdict["passed"] is passed, verdict["failures"]


def test_the_count_aware_limits_never_tighten_the_plain_ones_and_significance_0_turns_them_off():
    small = by_name(judge(quantized_summary(5, 0), QUANTIZED_GATES, ParityLimits()))
    assert small["top1_agreement"].limit == 0.99 and small["accuracy_drop"].limit == 0.005
    plain = by_name(judge(quantized_summary(50, 1, 1, 0), QUANTIZED_GATES, ParityLimits(significance=0)))
    assert plain["top1_agreement"].limit == 0.99 and not plain["top1_agreement"].passed
    assert plain["accuracy_drop"].limit == 0.005 and not plain["accuracy_drop"].passed
    # 1,000 cases at 1%: 15 changes still happen in >= 5% of test sets, 16 in fewer
    assert changes_within_chance(1000, 0.01, 0.05) == 15 and changes_within_chance(50, 0.01, 0.05) == 2
    assert changes_within_chance(2, 0.5, 0.05) == 2 and changes_within_chance(5, 0.5, 0.05) == 4


def test_one_answer_lost_in_100_is_a_drop_of_exactly_its_limit():
    """72 right of 100 before, 71 after: the drop is 1/100 (not 0.72 - 0.71 in floating point,
    0.010000000000000009), and one lost answer in 100 is within chance."""
    from edgernn.export.gates import accuracy_change

    labels = np.zeros(100, dtype=np.int64)
    before = np.where(np.arange(100) < 72, 0, 1)
    after = np.where(np.arange(100) < 71, 0, 1)
    change = accuracy_change(before, after, labels)
    assert change["accuracy_drop"] == 0.01 and (change["answers_lost"], change["answers_gained"]) == (1, 0)
    summary = {"top1_agreement": 0.99, "stream_top1_agreement": 1.0, "sequences": 100, **change,
               "long_stream": {"finite": True, "top1_agreement": 1.0, "class_shift": 0.0, "float32_top1_agreement": 1.0}}
    gates = by_name(judge(summary, QUANTIZED_GATES, ParityLimits()))
    assert gates["accuracy_drop"].passed and gates["accuracy_drop"].limit == 0.01
