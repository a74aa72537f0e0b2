"""Parity gates: proof that an exported graph agrees with the trained model, on held-out data.

Gates (DESIGN.md):
- ``fp32_vs_torch``: the graph vs PyTorch, max |difference| of logits at every step and of the
  final states, at batch 1 (every sequence alone, from zero state) and batch 3 (padded groups,
  from a random non-zero state, so the state inputs are exercised too). The limit is 1e-4 per
  unit of logit scale (the largest |logit|, at least 1), or ten times PyTorch's own float32
  error (PyTorch float32 vs the same model in float64) where the model amplifies rounding more
  than that over the sequences' length: the graph must be as faithful as float32 allows.
  onnxruntime's CPU kernels take sigmoid and tanh from polynomial approximations, so over long
  sequences the graph lies further from the exact (float64) model than PyTorch float32 does:
  on 1,460-step series (5 epochs of training) 2.2x (SimpleRNN), 4.4x (LSTM) and 4.9x (GRU)
  further; the factor of ten holds twice the worst. ``graph_float64_error`` reports it.
- ``streaming``: the graph fed in chunks of 1, 7 and 16 steps, carrying the state, vs one call
  (fp32: max |difference|, limit 1e-5 per unit of logit scale; quantized: top-1 agreement, as
  dynamic int8 quantizes per call).
- ``quantized_vs_fp32`` (quantized precisions): top-1 agreement with the fp32 graph, test
  accuracy difference, and logit differences relative to the spread of the fp32 logits. Both
  counts are judged with the number of cases they rest on (``significance``): agreement fails
  when more answers changed than a true change rate of 1 - ``min_top1_agreement`` produces with
  probability ``significance`` (one-sided binomial tail), and the accuracy drop fails when it
  exceeds ``max_accuracy_drop`` and the answers lost outnumber those gained by more than chance
  allows (a sign test on the changed answers): one changed answer in 50 passes, 13% changed
  answers in 1,000 fail.
- ``long_stream``: held-out sequences laid end to end into one stream (10,000 steps by default)
  carried through the state: drift against PyTorch (fp32; limit 1e-3 per unit of logit scale
  or ten times PyTorch's own float32 drift); for a quantized graph, top-1 agreement with the fp32
  graph step by step (>= 0.97; not judged for a model whose own float32 and float64 runs agree
  less than that) and how far the share of steps given to each class moves (total variation
  <= 0.05); and whether logits and state stay finite. A model whose state amplifies rounding
  makes any two implementations part ways on a long enough stream; ``horizon_steps`` (steps before PyTorch
  float32 and float64 differ by more than 1e-3) says how long its streams stay reproducible,
  and so within how many steps they should be reset.
- ``frontend_in_graph`` (audio models): the file computes its own log-mel frames from samples;
  the graph vs its core fed the Python front end's frames, on whole held-out recordings. fp32:
  logits as close as the fp32 gate asks (so the same answer on every recording that is no tie
  within that difference; agreement and ties are reported) and the same logits and states fed
  1, 7 and 16 hops per call as in one call. Quantized graphs round their inputs (fp16 to 11
  bits, dynamic int8 to each call's range), so there the answers are judged: top-1 agreement
  by the quantized gates' rule.
Every gate is measured before any is judged (``judge``, by the rules in ``FP32_GATES`` and
``QUANTIZED_GATES``), so a failure report lists all failed gates; `export` and `check` judge
through the same rules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import onnxruntime as ort

from edgernn.export.limits import ParityLimits
from edgernn.runtime.errors import CheckFailed


class ParityError(CheckFailed):
    """One or more parity gates failed; ``failures`` names each gate, its value and its limit."""


@dataclass(frozen=True)
class GateRule:
    """Gate ``name`` passes when the measurement at ``key`` (dotted path into a parity summary)
    stands ``relation`` ("<=" or ">=") to its limit: the ``ParityLimits`` field ``limit``, a
    number, or ``limit(limits, summary)`` for a limit that depends on what was measured."""

    name: str
    key: str
    relation: str
    limit: str | float | Callable[["ParityLimits", dict], float | None]


@dataclass(frozen=True)
class Gate:
    """One judged gate."""

    name: str
    value: float
    relation: str
    limit: float

    @property
    def passed(self) -> bool:  # NaN passes neither relation
        return bool(self.value <= self.limit if self.relation == "<=" else self.value >= self.limit)

    def describe(self) -> str:
        return f"gate {self.name}: {self.value:.4g} (limit {self.relation} {self.limit:g})"

    def to_json(self) -> dict:
        return {"gate": self.name, "value": self.value, "relation": self.relation, "limit": self.limit,
                "passed": self.passed}


def _as_faithful_as_float32(limit_field: str, scale_key: str, noise_key: str | None = None) -> Callable[["ParityLimits", dict], float]:
    """The limit ``limit_field`` per unit of logit scale (the largest |logit| measured, at least 1:
    the same relative precision whatever the logits' size), raised to ``float32_error_factor`` x
    PyTorch's own float32 error (at ``noise_key``, where measured) where the model amplifies
    rounding more than that."""
    def limit(limits: "ParityLimits", summary: dict) -> float:
        scale = _lookup(summary, scale_key) or 1.0
        noise = _lookup(summary, noise_key) if noise_key else None
        return max(getattr(limits, limit_field) * max(1.0, scale),
                   limits.float32_error_factor * noise if noise is not None else 0.0)
    return limit


def changes_within_chance(cases: int, rate: float, significance: float) -> int:
    """The most changed answers out of ``cases`` that a true change rate of ``rate`` still gives
    with probability >= ``significance`` (one-sided binomial tail P(X >= k)); more is evidence of
    a higher rate."""
    if rate <= 0 or cases <= 0:
        return 0
    if rate >= 1:
        return cases
    log_pmf = cases * math.log1p(-rate)  # P(X = 0)
    below = 0.0  # P(X < k)
    for k in range(cases + 1):
        if 1.0 - below < significance:
            return k - 1
        below += math.exp(log_pmf)
        log_pmf += math.log(cases - k) - math.log(k + 1) + math.log(rate) - math.log1p(-rate) if k < cases else 0.0
    return cases


def _agreement_limit(limits: "ParityLimits", summary: dict) -> float:
    """``min_top1_agreement``, lowered to what ``summary["sequences"]`` cases allow by chance
    under a true change rate of 1 - min_top1_agreement (never raised)."""
    cases, rate = summary.get("sequences"), 1 - limits.min_top1_agreement
    if not cases or rate <= 0 or limits.significance <= 0:
        return limits.min_top1_agreement
    allowed = changes_within_chance(cases, rate, limits.significance)
    return min(limits.min_top1_agreement, 1 - allowed / cases)


def _accuracy_drop_limit(limits: "ParityLimits", summary: dict) -> float:
    """``max_accuracy_drop``, raised to the largest drop that chance gives a graph that loses no
    accuracy at all: of the m answers that changed correctness, the most lost ones a fair coin
    gives (sign test), minus the gained ones, over the cases."""
    lost, gained, cases = summary.get("answers_lost"), summary.get("answers_gained"), summary.get("sequences")
    if lost is None or gained is None or not cases or limits.significance <= 0:
        return limits.max_accuracy_drop
    changed = lost + gained
    most_lost = changes_within_chance(changed, 0.5, limits.significance)
    return max(limits.max_accuracy_drop, (2 * most_lost - changed) / cases)


def _long_stream_agreement_limit(limits: "ParityLimits", summary: dict) -> float | None:
    """The step-by-step agreement limit, or None (not judged) for a model whose own float32 and
    float64 runs agree on fewer steps than the limit: its long streams are not reproducible at
    all, so two runs of it can only be compared by what they answer, not by when (the
    class-shift gate)."""
    own = _lookup(summary, "long_stream.float32_top1_agreement")
    if own is not None and own < limits.long_stream_min_top1_agreement:
        return None
    return limits.long_stream_min_top1_agreement


FINITE = GateRule("long_stream_finite", "long_stream.finite", ">=", 1.0)
FP32_GATES = (
    GateRule("fp32_vs_torch", "max_abs_diff", "<=", _as_faithful_as_float32("fp32_max_abs_diff", "logit_scale", "float32_error")),
    # chunked vs one call differ by the order of float32 sums, which scale with the logits
    GateRule("streaming", "stream_max_abs_diff", "<=", _as_faithful_as_float32("stream_max_abs_diff", "logit_scale")),
    GateRule("long_stream_drift", "long_stream.max_abs_logit_diff", "<=",
             _as_faithful_as_float32("long_stream_max_abs_diff", "long_stream.logit_scale", "long_stream.float32_drift")),
    FINITE,
)
# Dynamic int8 quantizes activations per call, so chunking moves a quantized graph's logits a
# little; what must hold is the answer: the same top-1 in chunks as in one call.
QUANTIZED_GATES = (
    GateRule("top1_agreement", "top1_agreement", ">=", _agreement_limit),
    GateRule("accuracy_drop", "accuracy_drop", "<=", _accuracy_drop_limit),
    GateRule("streaming_top1_agreement", "stream_top1_agreement", ">=", _agreement_limit),
    GateRule("long_stream_top1_agreement", "long_stream.top1_agreement", ">=", _long_stream_agreement_limit),
    GateRule("long_stream_class_shift", "long_stream.class_shift", "<=", "long_stream_max_class_shift"),
    FINITE,
)


# An audio graph that computes its own frames vs its core fed the Python front end's frames
# (``frontend_in_graph``), fp32: as close as the fp32 graph must be to PyTorch, per unit of
# logit scale, which leaves every answer that is no tie within that closeness as it is; and
# chunked calls exactly as one call.
FRONTEND_FP32_GATES = (
    GateRule("frontend_in_graph", "frontend_in_graph.max_abs_diff", "<=",
             _as_faithful_as_float32("fp32_max_abs_diff", "frontend_in_graph.logit_scale")),
)
# A quantized graph rounds what the front end gives it (fp16 inputs to 11 bits; dynamic int8
# scales from each call's range), so frames 1e-6 apart can give logits 1e-3 apart: there the
# answers are judged, by the quantized gates' rule for agreement.
FRONTEND_QUANTIZED_GATES = (
    GateRule("frontend_in_graph_top1_agreement", "frontend_in_graph.top1_agreement", ">=",
             lambda limits, summary: _agreement_limit(limits, summary.get("frontend_in_graph", {}))),
)
FRONTEND_STREAM_GATE = GateRule("frontend_in_graph_streaming", "frontend_in_graph.stream_max_abs_diff", "<=",
                                _as_faithful_as_float32("stream_max_abs_diff", "frontend_in_graph.logit_scale"))


def _lookup(summary: dict, key: str):
    for part in key.split("."):
        if not isinstance(summary, dict) or part not in summary:
            return None
        summary = summary[part]
    return summary


def judge(summary: dict, rules: tuple[GateRule, ...], limits: ParityLimits) -> list[Gate]:
    """Every gate of ``rules`` whose measurement ``summary`` holds, judged against ``limits``."""
    gates = []
    for rule in rules:
        value = _lookup(summary, rule.key)
        if value is not None:
            if callable(rule.limit):
                limit = rule.limit(limits, summary)
            else:
                limit = getattr(limits, rule.limit) if isinstance(rule.limit, str) else rule.limit
            if limit is None:  # the rule does not apply to this model
                continue
            gates.append(Gate(rule.name, float(value), rule.relation, float(limit)))
    return gates


def with_verdict(summary: dict, gates: list[Gate]) -> dict:
    """``summary`` with "gates" (each judged), "passed" and "failures" (one line per failed gate) added."""
    summary["gates"] = [g.to_json() for g in gates]
    summary["failures"] = [g.describe() for g in gates if not g.passed]
    summary["passed"] = not summary["failures"]
    return summary


def run_graph(session: ort.InferenceSession, x: np.ndarray, state: list[np.ndarray]) -> list[np.ndarray]:
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, [x, *state])))


def max_abs_difference(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(float(np.abs(x - y).max(initial=0.0)) for x, y in zip(a, b))  # a state may be empty (no window overlap)


def run_in_chunks(session: ort.InferenceSession, seq: np.ndarray, zero_state: list[np.ndarray], size: int) -> list[np.ndarray]:
    """Feed one sequence ``size`` steps per call, carrying the state: [logits [1, time, C], *final state]."""
    logits, state = run_long_stream(lambda x, s: run_graph(session, x, s), seq, zero_state, size)
    return [logits[None], *state]


def streaming_vs_whole(session: ort.InferenceSession, sequences: list[np.ndarray], zero_state: list[np.ndarray],
                       chunks: tuple[int, ...]) -> dict:
    """Max |chunked - one call| over every step's logits and the final state, per chunk size,
    and the share of sequences whose last-step top-1 answer is the same both ways."""
    per_chunk, agreement = {}, {}
    for size in chunks:
        worst, same = 0.0, 0
        for seq in sequences:
            whole = run_graph(session, seq[None], zero_state)
            chunked = run_in_chunks(session, seq, zero_state, size)
            worst = max(worst, max_abs_difference(chunked, whole))
            same += int(chunked[0][0, -1].argmax() == whole[0][0, -1].argmax())
        per_chunk[str(size)] = worst
        agreement[str(size)] = same / len(sequences)
    return {"stream_max_abs_diff": max(per_chunk.values()), "per_chunk": per_chunk,
            "stream_top1_agreement": min(agreement.values())}


def last_step_logits(session: ort.InferenceSession, sequences: list[np.ndarray], zero_state: list[np.ndarray]) -> np.ndarray:
    """Each sequence run alone from zero state; logits after its last step, float32 [n, classes]."""
    return np.stack([run_graph(session, seq[None], zero_state)[0][0, -1] for seq in sequences])


def quantized_measurements(session: ort.InferenceSession, fp32_session: ort.InferenceSession,
                           sequences: list[np.ndarray], labels: np.ndarray | None, zero_state: list[np.ndarray],
                           limits: ParityLimits = ParityLimits()) -> dict:
    """A quantized graph vs the fp32 graph on held-out sequences (labels int [n] or None): top-1
    agreement, accuracy difference, logit differences (also relative to the fp32 logits' std),
    and chunked vs one call."""
    sequences = sequences[: limits.max_sequences]
    reference = last_step_logits(fp32_session, sequences, zero_state)
    quantized = last_step_logits(session, sequences, zero_state)
    spread = float(reference.std()) or 1.0
    diff = np.abs(quantized - reference)
    summary = {
        "top1_agreement": float((quantized.argmax(1) == reference.argmax(1)).mean()),
        "logit_max_abs_diff": float(diff.max()), "logit_mean_abs_diff": float(diff.mean()),
        "logit_max_rel_diff": float(diff.max() / spread), "sequences": len(sequences),
    }
    if labels is not None:
        summary.update(accuracy_change(reference.argmax(1), quantized.argmax(1), labels[: len(sequences)]))
    stream = streaming_vs_whole(session, sequences, zero_state, limits.chunks)
    summary.update(stream, stream_max_rel_diff=stream["stream_max_abs_diff"] / spread, chunks=list(limits.chunks))
    return summary


def accuracy_change(reference_top1: np.ndarray, top1: np.ndarray, labels: np.ndarray) -> dict:
    """Test accuracy of the reference (fp32) and of the graph, the answers the graph lost and
    gained, and the accuracy drop from those counts: (lost - gained) / cases, so one answer lost
    in 100 is exactly 0.01, as its limit is (0.72 - 0.71 in floating point is 0.010000000000000009).
    Arguments: int [cases] each."""
    right, right_before = top1 == labels, reference_top1 == labels
    lost, gained = int((right_before & ~right).sum()), int((right & ~right_before).sum())
    return {"fp32_test_accuracy": float(right_before.mean()), "test_accuracy": float(right.mean()),
            "accuracy_drop": (lost - gained) / len(labels), "answers_lost": lost, "answers_gained": gained}


def long_stream_input(sequences: list[np.ndarray], steps: int) -> np.ndarray:
    """Held-out sequences laid end to end (repeated as needed) into one stream of ``steps`` steps."""
    total, pieces = 0, []
    while total < steps:
        for seq in sequences:
            pieces.append(seq)
            total += len(seq)
            if total >= steps:
                break
    return np.concatenate(pieces)[:steps]


def run_long_stream(run_chunk, stream: np.ndarray, zero_state: list[np.ndarray], chunk: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """Carry the state through ``stream`` [steps, ...] ``chunk`` steps per call; returns logits [steps, C] and the final state."""
    state, pieces = zero_state, []
    for start in range(0, len(stream), chunk):
        logits, *state = run_chunk(stream[None, start:start + chunk], state)
        pieces.append(logits[0])
    return np.concatenate(pieces), state


def _class_shift(top1: np.ndarray, reference: np.ndarray, classes: int) -> float:
    """Total variation distance between the two runs' top-1 class frequencies, in [0, 1]."""
    share = np.bincount(top1, minlength=classes) / len(top1)
    reference_share = np.bincount(reference, minlength=classes) / len(reference)
    return float(0.5 * np.abs(share - reference_share).sum())


def long_stream_drift(session: ort.InferenceSession, reference, zero_state: list[np.ndarray], stream: np.ndarray,
                      chunk: int = 100, reference64=None, horizon_tolerance: float = 1e-3) -> dict:
    """Drift over a long stream: the graph vs a reference run (a callable like ``run_graph``: PyTorch
    or the fp32 graph; None: finiteness only) on the same stream. Reports the largest logit and
    final-state differences, the share of steps with the same top-1 class, and whether everything
    stayed finite. With ``reference64`` (``float64_runner``) also the reference's own float32 drift
    and ``horizon_steps``: the steps before it exceeds ``horizon_tolerance``."""
    logits, state = run_long_stream(lambda x, s: run_graph(session, x, s), stream, zero_state, chunk)
    finite = bool(np.isfinite(logits).all() and all(np.isfinite(s).all() for s in state))
    if reference is None:
        return {"steps": len(stream), "finite": finite}
    ref_logits, ref_state = run_long_stream(reference, stream, zero_state, chunk)
    drift = {"steps": len(stream), "finite": finite,
             "max_abs_logit_diff": float(np.abs(logits - ref_logits).max()),
             "logit_scale": float(np.abs(ref_logits).max()),
             "final_state_max_abs_diff": max(float(np.abs(a - b).max()) for a, b in zip(state, ref_state)),
             "top1_agreement": float((logits.argmax(1) == ref_logits.argmax(1)).mean()),
             "class_shift": _class_shift(logits.argmax(1), ref_logits.argmax(1), logits.shape[1])}
    if reference64 is not None:
        logits64, _ = run_long_stream(reference64, stream, zero_state, chunk)
        per_step = np.abs(ref_logits - logits64).max(axis=1)
        beyond = np.flatnonzero(per_step > horizon_tolerance)
        drift.update(float32_drift=float(per_step.max()), horizon_steps=int(beyond[0]) if len(beyond) else len(stream),
                     float32_top1_agreement=float((ref_logits.argmax(1) == logits64.argmax(1)).mean()))
    return drift


def frontend_in_graph(joined: ort.InferenceSession, reference: Callable[[np.ndarray], np.ndarray],
                      recordings: list[np.ndarray], frontend, chunks: tuple[int, ...]) -> dict:
    """A graph that computes its own log-mel frames (export/logmel_graph.py ``with_frontend``) vs
    ``reference`` (standardised frames float32 [1, frames, mel_bands] -> logits [1, frames,
    classes]: its core, or PyTorch) fed the Python front end's frames (runtime/audio.py), on
    whole recordings (float32 samples [n] each, at least a window): max |difference| of the
    logits at every step; the share of recordings with the same last-step top-1 answer, and how
    many are ties (the reference's two highest last-step logits within twice that max difference:
    only those can change their answer, so logits within the limit mean the same answers but for
    ties); and the joined graph fed ``chunks`` hops per call, carrying every state, vs one call
    (max |difference| of logits and states). frontend: the LogMelFrontend in its ``in_graph`` form.
    """
    numpy_frontend = type(frontend)(frontend.config, frontend.norm)
    names = [i.name for i in joined.get_inputs()[1:]]
    worst, same, margins, scale, chunked_worst = 0.0, [], [], 1.0, {str(size): 0.0 for size in chunks}
    for samples in recordings:
        primed = frontend.initial_state(samples)
        start = [primed.get(name, np.zeros([d if isinstance(d, int) else 1 for d in i.shape], np.float32))
                 for name, i in zip(names, joined.get_inputs()[1:])]
        whole = run_graph(joined, frontend(samples)[None], start)
        expected = reference(numpy_frontend(samples)[None])
        worst = max(worst, float(np.abs(whole[0] - expected).max()))
        scale = max(scale, float(np.abs(expected).max()))
        same.append(bool(whole[0][0, -1].argmax() == expected[0, -1].argmax()))
        top_two = np.sort(expected[0, -1])[-2:]
        margins.append(float(top_two[-1] - top_two[0]) if len(top_two) == 2 else np.inf)
        for size in chunks:
            logits, state = run_long_stream(lambda x, s: run_graph(joined, x, s), frontend(samples), start, size)
            chunked_worst[str(size)] = max(chunked_worst[str(size)], max_abs_difference([logits[None], *state], whole))
    return {"max_abs_diff": worst, "logit_scale": scale, "top1_agreement": float(np.mean(same)),
            "ties": sum(margin <= 2 * worst for margin in margins),
            "stream_max_abs_diff": max(chunked_worst.values()), "per_chunk": chunked_worst,
            "sequences": len(recordings)}
