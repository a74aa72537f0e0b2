"""`edgernn export --triton DIR`: a Triton Inference Server model repository for the streaming
graph, served with Triton's sequence batcher and implicit state.

Triton batches requests along the first axis of every tensor, state included, so the repository
holds a variant of the fp32 graph whose state tensors take the batch first ([batch, layers,
hidden]; the graph transposes them around the recurrent op). It passes a parity gate against
the fp32 graph before it is written. Layout (no Triton server runs here; the files follow the
model-configuration protobuf that the ``tritonclient`` package ships, and a test parses them):

    DIR/NAME/config.pbtxt      the model configuration (below)
    DIR/NAME/labels.txt        one class name per line (Triton's classification extension)
    DIR/NAME/1/model.onnx      the graph, edgernn metadata included

config.pbtxt: backend onnxruntime; ``x`` and ``logits`` with a variable time axis; sequence
batching with the *oldest* strategy (requests of different sequences batched together, each
sequence's requests in order) and one implicit ``state`` entry per state tensor (the model's
``h_out`` of one request is its ``h`` in the next), each starting from zeros (``initial_state``
``zero_data``). With zero initial state Triton needs no control input: a new sequence starts
from zeros and its end frees its state. A client sends each hop (or any chunk of steps) with a
sequence id, ``sequence_start`` on its first request and ``sequence_end`` on its last; requests
batched together must have the same number of steps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort

from edgernn.export.gates import run_graph
from edgernn.export.parity import random_state
from edgernn.runtime.files import write_bytes_atomic
from edgernn.runtime.datasets import pad_sequences

MAX_BATCH_SIZE = 64          # sequences batched into one execution
MAX_IDLE_MICROSECONDS = 60_000_000  # a sequence silent this long is ended by Triton
TYPES = {"float32": "TYPE_FP32", "int64": "TYPE_INT64"}


def model_config(name: str, input_kind: str, features: int | None, classes: int, states: list) -> str:
    """config.pbtxt for the batch-first graph (``states``: its StateSpecs, batch on axis 0)."""
    x_dims = "[ -1 ]" if input_kind == "tokens" else f"[ -1, {features} ]"
    x_type = TYPES["int64"] if input_kind == "tokens" else TYPES["float32"]
    state_entries = []
    for spec in states:
        dims = ", ".join(str(d) for d in spec.shape[1:])
        state_entries.append(
            "    {\n"
            f'      input_name: "{spec.name}"\n      output_name: "{spec.output}"\n'
            f"      data_type: TYPE_FP32\n      dims: [ {dims} ]\n"
            f'      initial_state: {{ data_type: TYPE_FP32 dims: [ {dims} ] zero_data: true name: "zero" }}\n'
            "    }")
    return (f'name: "{name}"\nbackend: "onnxruntime"\nmax_batch_size: {MAX_BATCH_SIZE}\n'
            f'input [\n  {{ name: "x" data_type: {x_type} dims: {x_dims} }}\n]\n'
            f'output [\n  {{ name: "logits" data_type: TYPE_FP32 dims: [ -1, {classes} ] label_filename: "labels.txt" }}\n]\n'
            "sequence_batching {\n"
            f"  max_sequence_idle_microseconds: {MAX_IDLE_MICROSECONDS}\n"
            f"  oldest {{ max_candidate_sequences: {MAX_BATCH_SIZE} }}\n"
            "  state [\n" + ",\n".join(state_entries) + "\n  ]\n}\n")


def batch_first_parity(variant: bytes, fp32_session: ort.InferenceSession, model, sequences: list[np.ndarray],
                       zero: list[np.ndarray], seed: int = 0) -> dict:
    """The batch-first graph against the fp32 graph: each sequence alone from zero state, and
    groups of three padded together from random states; the largest logit or state difference."""
    session = ort.InferenceSession(variant, providers=["CPUExecutionProvider"])
    first = lambda states: [np.ascontiguousarray(np.swapaxes(s, 0, 1)) for s in states]  # noqa: E731
    rng = np.random.default_rng(seed)
    worst = 0.0
    cases = [(seq[None], zero) for seq in sequences]
    cases += [(pad_sequences(sequences[i:i + 3])[0], random_state(model, len(sequences[i:i + 3]), rng))
              for i in range(0, len(sequences), 3)]
    for x, state in cases:
        reference = run_graph(fp32_session, x, state)
        got = run_graph(session, x, first(state))
        worst = max(worst, float(np.abs(got[0] - reference[0]).max()),
                    *(float(np.abs(g - r).max()) for g, r in zip(got[1:], first(reference[1:]))))
    return {"max_abs_diff": worst, "sequences": len(sequences)}


def write_repository(folder: Path, name: str, graph: bytes, labels: list[str], config: str) -> Path:
    """Write the repository's three files (each through a temporary name); returns the model folder."""
    model_dir = folder / name
    write_bytes_atomic(model_dir / "1" / "model.onnx", graph)
    write_bytes_atomic(model_dir / "labels.txt", ("\n".join(labels) + "\n").encode())
    write_bytes_atomic(model_dir / "config.pbtxt", config.encode())
    return model_dir
