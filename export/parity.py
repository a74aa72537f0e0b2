"""The PyTorch side of the parity gates (export/gates.py holds the gates themselves, their
limits and every measurement that needs only onnxruntime): the exported graph against the
trained model, at batch 1 and 3 from zero and random states, in float32 and float64, and over a
long stream."""

from __future__ import annotations

import copy

import numpy as np
import onnxruntime as ort
import torch

from edgernn.export.gates import max_abs_difference, long_stream_drift, run_graph, streaming_vs_whole
from edgernn.export.limits import ParityLimits
from edgernn.runtime.datasets import pad_sequences
from edgernn.trainer.network import RecurrentClassifier


def run_torch(model: RecurrentClassifier, x: np.ndarray, state: list[np.ndarray]) -> list[np.ndarray]:
    with torch.inference_mode():
        logits, new_state = model(torch.from_numpy(x), tuple(torch.from_numpy(s) for s in state))
    return [logits.numpy(), *(s.numpy() for s in new_state)]


def float64_runner(model: RecurrentClassifier):
    """A ``run_torch``-like callable for a float64 copy of ``model``: PyTorch's float32 error is
    measured against it. Returns float64 arrays."""
    model64 = copy.deepcopy(model).double().eval()

    def run(x: np.ndarray, state: list[np.ndarray]) -> list[np.ndarray]:
        tensor = torch.from_numpy(x)
        with torch.inference_mode():
            logits, new_state = model64(tensor.double() if tensor.is_floating_point() else tensor,
                                        tuple(torch.from_numpy(s).double() for s in state))
        return [logits.numpy(), *(s.numpy() for s in new_state)]
    return run


def random_state(model: RecurrentClassifier, batch: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A state the model could have reached, float32 per ``model.state_shapes(batch)``: recurrent
    state ~ N(0, 0.5^2); a pooled read-out's pool in (-1, 1) over a total weight of 1 to 50 steps
    (a negative or zero total weight is no state the model can reach, and dividing by it is
    meaningless)."""
    state = []
    for name, shape in zip(model.config.state_names, model.state_shapes(batch)):
        if name == "pool_weight":
            state.append(rng.integers(1, 51, size=shape).astype(np.float32))
        elif name == "pool":
            state.append(rng.uniform(-1, 1, size=shape).astype(np.float32))
        else:
            state.append((0.5 * rng.standard_normal(shape)).astype(np.float32))
    return state


def fp32_vs_torch(session: ort.InferenceSession, model: RecurrentClassifier, sequences: list[np.ndarray], seed: int = 0) -> dict:
    """Max |graph - torch| over logits and states at batch 1 and batch 3, and PyTorch's own float32
    error on the same inputs (max |torch float32 - torch float64|). sequences: prepared x [time, ...]."""
    rng = np.random.default_rng(seed)
    zero = [s.numpy() for s in model.zero_state(1)]
    run64 = float64_runner(model)
    batch1 = batch3 = error32 = graph_error = scale = 0.0
    cases = [(seq[None], zero, 1) for seq in sequences]
    for start in range(0, len(sequences), 3):
        group = sequences[start:start + 3]
        cases.append((pad_sequences(group)[0], random_state(model, len(group), rng), 3))
    for x, state, batch in cases:
        torch32, graph, exact = run_torch(model, x, state), run_graph(session, x, state), run64(x, state)
        scale = max(scale, float(np.abs(torch32[0]).max()))
        diff = max_abs_difference(graph, torch32)
        batch1, batch3 = (max(batch1, diff), batch3) if batch == 1 else (batch1, max(batch3, diff))
        error32 = max(error32, max_abs_difference(torch32, exact))
        graph_error = max(graph_error, max_abs_difference(graph, exact))
    lengths = [len(s) for s in sequences]
    return {"max_abs_diff": max(batch1, batch3), "max_abs_diff_batch1": batch1, "max_abs_diff_batch3": batch3,
            "float32_error": error32, "graph_float64_error": graph_error, "logit_scale": scale,
            "sequences": len(sequences), "lengths": [min(lengths), max(lengths)]}


def fp32_measurements(session: ort.InferenceSession, model: RecurrentClassifier, sequences: list[np.ndarray],
                      limits: ParityLimits = ParityLimits()) -> dict:
    """The fp32 graph vs PyTorch and chunked vs one call, on the first ``limits.max_sequences`` sequences."""
    sequences = sequences[: limits.max_sequences]
    zero = [s.numpy() for s in model.zero_state(1)]
    return {**fp32_vs_torch(session, model, sequences),
            **streaming_vs_whole(session, sequences, zero, limits.chunks), "chunks": list(limits.chunks)}


def long_stream_vs_torch(session: ort.InferenceSession, model: RecurrentClassifier, zero_state: list[np.ndarray],
                         stream: np.ndarray, limits: "ParityLimits") -> dict:
    """The fp32 graph's long-stream drift against PyTorch float32, with PyTorch's own float32
    drift against float64 and the horizon over which the model stays reproducible."""
    return long_stream_drift(session, lambda x, s: run_torch(model, x, s), zero_state, stream,
                             reference64=float64_runner(model), horizon_tolerance=limits.long_stream_max_abs_diff)
