"""GRU and SimpleRNN int8 through a decomposed cell in an ONNX ``Scan``, against the forms edgernn uses.

    python benchmarks/graph_forms.py RUN_DIR [RUN_DIR ...] --out benchmarks/results/graph_forms.json [--rounds 7]

onnxruntime has no quantized GRU or RNN kernel, so edgernn stores their weights int8 and computes
in float32 (``weight_only_int8``). The alternative measured here writes the cell out of MatMul,
Sigmoid, Tanh and elementwise ops: the input projection of every step as one MatMul outside the
loop, and the recurrent MatMul plus the gate math as the body of a ``Scan`` over time. Then
``quantize_dynamic`` (MatMul only, ``EnableSubgraph``) can make every matrix product integer,
the recurrent one inside the body included. Forms, each built from the run's model.fp32.onnx:
- "fp32": the exported graph (the ONNX GRU/RNN op);
- "weight_only_int8": edgernn's int8-stored weights, Cast + Mul back to float32 (folded at load);
- "scan_fp32": the decomposed graph, checked against "fp32" before anything is measured;
- "scan_int8_rr" / "scan_int8_full": "scan_fp32" through quantize_dynamic with reduce_range
  True (7-bit weights) / False.
For each form: graph bytes (serialized, without edgernn's metadata, which every form would carry
alike), the share of parameters stored int8, op counts (Scan bodies included, as written and as
onnxruntime runs them after its optimisations), top-1 agreement with "fp32" and accuracy on the
run's test split (last-step logits, each sequence alone from zero state), and latency with one
intra-op thread at batch 1: one step per call, and a 100-step chunk per call reported per step.
Forms are interleaved round by round in a shuffled order so machine noise affects them alike;
medians, p99s and each form's ratio to "fp32" are written. Only one-layer GRU/RNN runs with
feature inputs are measured; others are listed with the reason they were skipped.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from edgernn.export.torch_to_onnx import STANDARDISE_NODES
from edgernn.export.quantize import count_ops, quantize_with_onnxruntime, subgraphs, weight_only_int8, weight_storage
from edgernn.runtime import Model
from edgernn.runtime.files import write_json_atomic
from edgernn.runtime.bench import compare_latency
from edgernn.runtime.datasets import pad_sequences, read_sequences
from edgernn.runtime.model import make_session
from edgernn.trainer.checkpoint import load_checkpoint

SEQUENCE_STEPS = 100
STEP_CALLS = 1000  # timed one-step calls per form and round
SEQUENCE_CALLS = 100  # timed 100-step calls per form and round
WARMUP_CALLS = 20  # untimed calls before each sample: caches and branch predictors after switching graphs
PARITY_LIMIT = 1e-4  # max |diff| of scan_fp32 vs fp32 (logits and h_out) accepted before measuring
FORMS = ("fp32", "weight_only_int8", "scan_fp32", "scan_int8_rr", "scan_int8_full")
FLOAT = TensorProto.FLOAT


# ---------------------------------------------------------------------------------------------
# Reading the exported graph


def _attributes(node: onnx.NodeProto) -> dict:
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def read_cell(proto: onnx.ModelProto) -> dict:
    """The recurrent op's weights and the head's of the exported fp32 graph.

    Returns {"op", "hidden", "linear_before_reset", "W" [gates*H, in], "R" [gates*H, H],
    "Wb" [gates*H], "Rb" [gates*H], "head_w" [H, classes], "head_b" [classes]} (float32 arrays).
    Raises ValueError for what the decomposition does not cover.
    """
    graph = proto.graph
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    cells = [n for n in graph.node if n.op_type in ("GRU", "RNN", "LSTM")]
    if len(cells) != 1 or cells[0].op_type == "LSTM":
        raise ValueError(f"expected one GRU or RNN op, found {[n.op_type for n in cells]}")
    node = cells[0]
    attrs = _attributes(node)
    if attrs.get("direction", b"forward") not in (b"forward", "forward") or attrs.get("layout", 0) != 0 or "clip" in attrs:
        raise ValueError(f"{node.op_type} attributes not covered: {attrs}")
    default_acts = [b"Sigmoid", b"Tanh"] if node.op_type == "GRU" else [b"Tanh"]
    if [a if isinstance(a, bytes) else a.encode() for a in attrs.get("activations", default_acts)] != default_acts:
        raise ValueError(f"{node.op_type} activations {attrs['activations']} not covered")
    if len(node.input) > 4 and node.input[4]:
        raise ValueError(f"{node.op_type} has sequence_lens; not covered")
    w, r, b = (inits[name][0] for name in node.input[1:4])  # drop the direction axis (1 direction)
    gates_h = w.shape[0]
    consumers = {name: n for n in graph.node for name in n.input}
    matmuls = [n for n in graph.node if n.op_type == "MatMul" and n.input[1] in inits]
    if len(matmuls) != 1:
        raise ValueError(f"expected one head MatMul with a weight initializer, found {len(matmuls)}")
    head = matmuls[0]
    add = consumers.get(head.output[0])
    if add is None or add.op_type != "Add" or add.output[0] != "logits":
        raise ValueError("the head MatMul does not feed an Add producing 'logits'")
    bias_name = next(name for name in add.input if name != head.output[0])
    return {"op": node.op_type, "hidden": int(attrs["hidden_size"]),
            "linear_before_reset": int(attrs.get("linear_before_reset", 0)),
            "W": w.astype(np.float32), "R": r.astype(np.float32),
            "Wb": b[:gates_h].astype(np.float32), "Rb": b[gates_h:].astype(np.float32),
            "head_w": inits[head.input[1]].astype(np.float32), "head_b": inits[bias_name].astype(np.float32)}


# ---------------------------------------------------------------------------------------------
# The decomposed graph


def _init(name: str, array: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.ascontiguousarray(array), name)


def _ints(name: str, values: list[int]) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


def scan_body(cell: dict, weights_in_body: bool) -> tuple[onnx.GraphProto, list[onnx.TensorProto]]:
    """The Scan body (h [batch, H], xp_t [batch, gates*H]) -> (h_next, h_t), and the
    initializers it reads from the outer graph (empty when ``weights_in_body``).

    xp_t is the step's input projection with every bias that adds linearly already in it; the
    body adds only what sits inside the reset gate (Rb_h, linear_before_reset=1).
    """
    hidden = cell["hidden"]
    nodes: list[onnx.NodeProto] = []
    weights: list[onnx.TensorProto] = []
    ins = [helper.make_tensor_value_info("h_prev", FLOAT, ["batch", hidden]),
           helper.make_tensor_value_info("xp_t", FLOAT, ["batch", cell["W"].shape[0]])]
    if cell["op"] == "RNN":
        # h = tanh(x W^T + Wb + Rb + h R^T): the biases are in xp_t.
        weights.append(_init("rT", cell["R"].T))
        nodes += [helper.make_node("MatMul", ["h_prev", "rT"], ["hr"]),
                  helper.make_node("Add", ["xp_t", "hr"], ["pre"]),
                  helper.make_node("Tanh", ["pre"], ["h_next"])]
    elif cell["linear_before_reset"]:
        # ONNX gate order z, r, h. z, r = sigmoid(x W_zr^T + Wb_zr + Rb_zr + h R_zr^T);
        # h~ = tanh(x W_h^T + Wb_h + r * (h R_h^T + Rb_h)); h' = (1 - z) h~ + z h = h~ + z (h - h~).
        rb_h = np.concatenate([np.zeros(2 * hidden, np.float32), cell["Rb"][2 * hidden:]])
        weights += [_init("rT", cell["R"].T), _init("rb_h", rb_h)]
        nodes += [helper.make_node("MatMul", ["h_prev", "rT"], ["hr_raw"]),
                  helper.make_node("Add", ["hr_raw", "rb_h"], ["hr"]),
                  helper.make_node("Split", ["xp_t", "split_2h_h"], ["x_zr", "x_h"], axis=1),
                  helper.make_node("Split", ["hr", "split_2h_h"], ["h_zr", "h_h"], axis=1),
                  helper.make_node("Add", ["x_zr", "h_zr"], ["zr_pre"]),
                  helper.make_node("Sigmoid", ["zr_pre"], ["zr"]),
                  helper.make_node("Split", ["zr", "split_h_h"], ["z", "r"], axis=1),
                  helper.make_node("Mul", ["r", "h_h"], ["rh"]),
                  helper.make_node("Add", ["x_h", "rh"], ["n_pre"]),
                  helper.make_node("Tanh", ["n_pre"], ["n"]),
                  helper.make_node("Sub", ["h_prev", "n"], ["h_minus_n"]),
                  helper.make_node("Mul", ["z", "h_minus_n"], ["z_h_minus_n"]),
                  helper.make_node("Add", ["n", "z_h_minus_n"], ["h_next"])]
    else:
        # linear_before_reset=0: h~ = tanh(x W_h^T + Wb_h + Rb_h + (r * h) R_h^T): two recurrent MatMuls.
        weights += [_init("rT_zr", cell["R"][:2 * hidden].T), _init("rT_h", cell["R"][2 * hidden:].T)]
        nodes += [helper.make_node("MatMul", ["h_prev", "rT_zr"], ["h_zr"]),
                  helper.make_node("Split", ["xp_t", "split_2h_h"], ["x_zr", "x_h"], axis=1),
                  helper.make_node("Add", ["x_zr", "h_zr"], ["zr_pre"]),
                  helper.make_node("Sigmoid", ["zr_pre"], ["zr"]),
                  helper.make_node("Split", ["zr", "split_h_h"], ["z", "r"], axis=1),
                  helper.make_node("Mul", ["r", "h_prev"], ["rh"]),
                  helper.make_node("MatMul", ["rh", "rT_h"], ["h_h"]),
                  helper.make_node("Add", ["x_h", "h_h"], ["n_pre"]),
                  helper.make_node("Tanh", ["n_pre"], ["n"]),
                  helper.make_node("Sub", ["h_prev", "n"], ["h_minus_n"]),
                  helper.make_node("Mul", ["z", "h_minus_n"], ["z_h_minus_n"]),
                  helper.make_node("Add", ["n", "z_h_minus_n"], ["h_next"])]
    # Split sizes stay in the body whatever happens to the weights: quantize_dynamic infers the
    # body's shapes without the outer graph, and outer-scope split sizes come out as equal halves.
    local = [_ints("split_2h_h", [2 * hidden, hidden]), _ints("split_h_h", [hidden, hidden])] if cell["op"] == "GRU" else []
    # Scan's state and scan outputs must be distinct names: the stacked copy goes through Identity.
    nodes.append(helper.make_node("Identity", ["h_next"], ["h_t"]))
    outs = [helper.make_tensor_value_info("h_next", FLOAT, ["batch", hidden]),
            helper.make_tensor_value_info("h_t", FLOAT, ["batch", hidden])]
    if weights_in_body:
        return helper.make_graph(nodes, "cell", ins, outs, initializer=[*weights, *local]), []
    return helper.make_graph(nodes, "cell", ins, outs, initializer=local), weights


def scan_graph(fp32: onnx.ModelProto, cell: dict, weights_in_body: bool) -> onnx.ModelProto:
    """The decomposed graph with the fp32 graph's inputs and outputs (names, shapes, dtypes)."""
    hidden = cell["hidden"]
    # Every bias that adds linearly goes into the input projection once for all steps: Wb always,
    # and Rb except for GRU's Rb_h under linear_before_reset=1 (it is multiplied by r in the body).
    bias = cell["Wb"] + cell["Rb"]
    if cell["op"] == "GRU" and cell["linear_before_reset"]:
        bias = cell["Wb"] + np.concatenate([cell["Rb"][:2 * hidden], np.zeros(hidden, np.float32)])
    body, outer_weights = scan_body(cell, weights_in_body)
    standardise = [n for n in fp32.graph.node if n.name in STANDARDISE_NODES]  # the input's own standardisation
    x = standardise[-1].output[0] if standardise else "x"
    nodes = [
        *standardise,
        helper.make_node("MatMul", [x, "wT"], ["xw"]),  # [batch, time, gates*H]
        helper.make_node("Add", ["xw", "xw_bias"], ["xp"]),
        helper.make_node("Transpose", ["xp"], ["xp_tm"], perm=[1, 0, 2]),  # time-major for Scan
        helper.make_node("Squeeze", ["h", "axis0"], ["h0"]),  # [batch, H]: one layer, one direction
        helper.make_node("Scan", ["h0", "xp_tm"], ["h_last", "hs"], body=body, num_scan_inputs=1),
        helper.make_node("MatMul", ["hs", "head_w"], ["head_raw"]),  # [time, batch, classes]
        helper.make_node("Add", ["head_raw", "head_b"], ["logits_tm"]),
        helper.make_node("Transpose", ["logits_tm"], ["logits"], perm=[1, 0, 2]),
        helper.make_node("Unsqueeze", ["h_last", "axis0"], ["h_out"]),
    ]
    inits = [_init("wT", cell["W"].T), _init("xw_bias", bias), _init("head_w", cell["head_w"]),
             _init("head_b", cell["head_b"]), _ints("axis0", [0]), *outer_weights]
    graph = helper.make_graph(nodes, "edgernn_scan", list(fp32.graph.input), list(fp32.graph.output), initializer=inits)
    model = helper.make_model(graph, opset_imports=list(fp32.opset_import), ir_version=fp32.ir_version)
    onnx.checker.check_model(model, full_check=True)
    return model


def scan_int8(scan: onnx.ModelProto, reduce_range: bool) -> onnx.ModelProto:
    """``scan`` through onnxruntime's dynamic quantization: every MatMul with an initializer
    weight, those in the Scan body included, to int8 weights (one scale per tensor) and
    activations quantized per call."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    return quantize_with_onnxruntime(scan, lambda source, target: quantize_dynamic(
        source, target, op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8, per_channel=False,
        reduce_range=reduce_range, extra_options={"EnableSubgraph": True}))


# ---------------------------------------------------------------------------------------------
# Footprint


INTEGER_MATMULS = ("MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "QLinearMatMul")


def op_counts(proto: onnx.ModelProto) -> dict:
    """{"graph": op counts of the top graph, "body": op counts of its subgraphs together}."""
    return {"graph": count_ops(proto.graph.node), "body": count_ops(n for sub in subgraphs(proto.graph) for n in sub.node)}


def graph_bytes(proto: onnx.ModelProto) -> int:
    """Serialized size without edgernn's metadata (the same for every form, ~2-3 KB of JSON)."""
    bare = onnx.ModelProto()
    bare.CopyFrom(proto)
    del bare.metadata_props[:]
    return len(bare.SerializeToString())


def runtime_op_counts(proto: onnx.ModelProto) -> dict:
    """Op counts of the graph onnxruntime runs: after its optimisations (level "all", fusions
    such as DynamicQuantizeMatMul included), as it writes them out on request."""
    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.log_severity_level = 3
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.optimized_model_filepath = str(Path(tmp) / "optimized.onnx")
        ort.InferenceSession(proto.SerializeToString(), sess_options=options, providers=["CPUExecutionProvider"])
        return op_counts(onnx.load(options.optimized_model_filepath))


def body_integer_matmuls(counts: dict) -> int:
    return sum(n for op, n in counts["body"].items() if op in INTEGER_MATMULS)


def placement_check(fp32: onnx.ModelProto, cell: dict) -> dict:
    """Does quantize_dynamic quantize the body's recurrent MatMul with its weight initializer in
    the body itself and in the outer graph (read by the body from outer scope)? The measured
    forms keep it in the body."""
    result = {}
    for where, in_body in (("body", True), ("outer_graph", False)):
        quantized = scan_int8(scan_graph(fp32, cell, in_body), reduce_range=True)
        entry = {"body_integer_matmuls": body_integer_matmuls(op_counts(quantized))}
        try:
            make_session(quantized.SerializeToString(), "cpu", 1)
            entry["loads"] = True
        except Exception as exc:  # onnxruntime's own exception classes; recorded, not fatal
            entry["loads"] = False
            entry["error"] = str(exc)[:300]
        result[f"recurrent_weight_in_{where}"] = entry
    return result


# ---------------------------------------------------------------------------------------------
# Accuracy and parity


def last_step_logits(session: ort.InferenceSession, sequences: list[np.ndarray], h0: np.ndarray) -> np.ndarray:
    """float32 [n, classes]: each sequence alone (batch 1) from zero state, its last step."""
    return np.stack([session.run(["logits"], {"x": seq[None], "h": h0})[0][0, -1] for seq in sequences])


def parity(reference: ort.InferenceSession, candidate: ort.InferenceSession, sequences: list[np.ndarray],
           hidden: int) -> dict:
    """Max |diff| of every step's logits and of h_out: each sequence alone from zero state, and
    one zero-padded batch of 8 from a random state (the batch axis and the state input)."""
    names = ["logits", "h_out"]
    worst = {"logits": 0.0, "h_out": 0.0}
    h0 = np.zeros((1, 1, hidden), np.float32)
    for seq in sequences:
        for name, a, b in zip(names, reference.run(names, {"x": seq[None], "h": h0}),
                              candidate.run(names, {"x": seq[None], "h": h0})):
            worst[name] = max(worst[name], float(np.abs(a - b).max()))
    x, _ = pad_sequences(sequences[:8])
    h = np.random.default_rng(0).standard_normal((1, len(x), hidden)).astype(np.float32) * 0.5
    batch = {name: float(np.abs(a - b).max()) for name, a, b in
             zip(names, reference.run(names, {"x": x, "h": h}), candidate.run(names, {"x": x, "h": h}))}
    return {"logits_max_abs_diff": worst["logits"], "h_out_max_abs_diff": worst["h_out"], "sequences": len(sequences),
            "batch8_logits_max_abs_diff": batch["logits"], "batch8_h_out_max_abs_diff": batch["h_out"]}


# ---------------------------------------------------------------------------------------------
# Latency


def latency(sessions: dict[str, ort.InferenceSession], step: dict, chunk: dict, rounds: int) -> dict:
    """Median and p99 in microseconds of one-step calls and of 100-step calls (per step), every
    call timed alone; forms interleaved round by round in a shuffled order (the first form is
    the baseline of the paired ratios)."""
    names = ["logits", "h_out"]

    def calls(feeds: dict) -> dict:
        return {name: (lambda i, s=session: s.run(names, feeds)) for name, session in sessions.items()}
    measured = {"step": compare_latency(calls(step), STEP_CALLS * rounds, rounds, WARMUP_CALLS),
                "sequence": compare_latency(calls(chunk), SEQUENCE_CALLS * rounds, rounds, WARMUP_CALLS,
                                            steps_per_call=SEQUENCE_STEPS)}
    first = next(iter(sessions))
    return {name: {f"{kind}_{key}": value for kind, m in measured.items()
                   for key, value in (("us_p50", m[name]["step_us_p50"]), ("us_p99", m[name]["step_us_p99"]),
                                      (f"vs_{first}", m.get(f"{name}_vs_{first}", 1.0)))}
            for name in sessions}


# ---------------------------------------------------------------------------------------------
# One run


def skip_reason(meta) -> str | None:
    if meta.cell == "lstm":
        return "LSTM: not measured (onnxruntime's dynamic quantization already has an integer LSTM kernel, DynamicQuantizeLSTM)"
    if meta.cell not in ("gru", "rnn"):
        return f"cell {meta.cell!r} not covered"
    if meta.layers != 1:
        return f"{meta.layers} layers: only one-layer models are decomposed"
    if meta.input_kind != "features":
        return "token inputs (embedding Gather): not covered"
    return None


def measure_run(run_dir: Path, rounds: int) -> dict:
    model = Model(run_dir / "model.fp32.onnx")
    meta = model.metadata
    reason = skip_reason(meta)
    if reason:
        print(f"{run_dir}: skipped: {reason}")
        return {"run": str(run_dir), "cell": meta.cell, "layers": meta.layers, "skipped": reason}
    _, payload = load_checkpoint(run_dir / "model.pt")
    data = read_sequences(payload["dataset"]["test_path"])
    sequences = [model.prepare(seq) for seq in data.sequences]
    labels = data.label_ids(model.labels)

    fp32 = onnx.load(run_dir / "model.fp32.onnx")
    cell = read_cell(fp32)
    scan = scan_graph(fp32, cell, weights_in_body=True)
    forms = {"fp32": fp32, "weight_only_int8": weight_only_int8(fp32), "scan_fp32": scan,
             "scan_int8_rr": scan_int8(scan, reduce_range=True), "scan_int8_full": scan_int8(scan, reduce_range=False)}
    sessions = {name: make_session(proto.SerializeToString(), "cpu", 1) for name, proto in forms.items()}

    # The decomposition must compute what the ONNX op computes before anything is compared.
    check = parity(sessions["fp32"], sessions["scan_fp32"], sequences, cell["hidden"])
    if max(v for k, v in check.items() if k.endswith("diff")) > PARITY_LIMIT:
        raise SystemExit(f"{run_dir}: scan_fp32 differs from fp32 beyond {PARITY_LIMIT}: {check}")

    h0 = np.zeros((1, 1, cell["hidden"]), np.float32)
    reference = last_step_logits(sessions["fp32"], sequences, h0)
    result = {}
    for name, proto in forms.items():
        logits = reference if name == "fp32" else last_step_logits(sessions[name], sequences, h0)
        ops = op_counts(proto)
        result[name] = {
            "bytes": graph_bytes(proto), "weights": weight_storage(proto), "ops": ops, "runtime_ops": runtime_op_counts(proto),
            "body_integer_matmuls": body_integer_matmuls(ops),
            "agreement_vs_fp32": round(float(np.mean(logits.argmax(1) == reference.argmax(1))), 4),
            "accuracy": round(float(np.mean(logits.argmax(1) == labels)), 4),
            "last_logits_max_abs_diff_vs_fp32": round(float(np.abs(logits - reference).max()), 6),
        }

    # Timed feeds from the test data: the first step of the first sequence, and the first 100
    # steps of the sequences laid end to end; batch 1, zero state.
    stream = np.concatenate(sequences)
    if len(stream) < SEQUENCE_STEPS:
        stream = np.resize(stream, (SEQUENCE_STEPS, stream.shape[1]))
    step = {"x": stream[None, :1], "h": h0}
    chunk = {"x": np.ascontiguousarray(stream[None, :SEQUENCE_STEPS]), "h": h0}
    times = latency(sessions, step, chunk, rounds)  # "fp32" is the first form: the baseline
    base = result["fp32"]
    for name, entry in result.items():
        entry.update(times[name])
        entry["bytes_vs_fp32"] = round(entry["bytes"] / base["bytes"], 3)
    return {"run": str(run_dir), "cell": meta.cell, "op": cell["op"], "hidden": cell["hidden"], "layers": meta.layers,
            "features": int(cell["W"].shape[1]), "classes": int(cell["head_w"].shape[1]),
            "linear_before_reset": cell["linear_before_reset"] if cell["op"] == "GRU" else None,
            "test_path": payload["dataset"]["test_path"], "test_sequences": len(sequences),
            "threads": 1, "batch": 1, "rounds": rounds, "step_calls_per_round": STEP_CALLS,
            "sequence_calls_per_round": SEQUENCE_CALLS, "sequence_steps": SEQUENCE_STEPS,
            "scan_parity_vs_fp32": check, "quantizer_placement_check": placement_check(fp32, cell),
            "quantizer": {"scan_int8_rr": "quantize_dynamic MatMul, QInt8, per_channel=False, reduce_range=True, EnableSubgraph",
                          "scan_int8_full": "quantize_dynamic MatMul, QInt8, per_channel=False, reduce_range=False, EnableSubgraph"},
            "onnxruntime": ort.__version__, "forms": result}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/graph_forms.json"))
    args = parser.parse_args()
    logging.getLogger().setLevel(logging.ERROR)  # the quantizer's pre-processing advice; these graphs are built here
    results = [measure_run(run, args.rounds) for run in args.runs]
    write_json_atomic(args.out, results)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
