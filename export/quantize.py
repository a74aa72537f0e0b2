"""Quantized forms of the fp32 streaming graph.

- ``weight_only_int8``: every weight matrix (the recurrent op's input and recurrent weights, the
  head's MatMul weight, an embedding table) stored as int8 with one float scale per output row,
  turned back into float32 by ``Cast`` + ``Mul`` nodes feeding the unchanged float op. onnxruntime
  has no quantized GRU or RNN kernel, so this is how their recurrent weights get to int8 at all.
  Cast and Mul of constants are constant-folded when any onnxruntime session is created, so a step
  costs what fp32 costs with no session setting at all. (``DequantizeLinear`` would say the same
  thing, but onnxruntime keeps it out of constant folding and runs it every step — 1.5x slower
  per step here — unless the session sets ``session.disable_quant_qdq=1``, which other runtimes
  loading the file would not know to do, and which also switches off QDQ fusion.)
- ``dynamic_int8``: onnxruntime's ``quantize_dynamic``: LSTM -> ``DynamicQuantizeLSTM`` (int8
  weights, integer kernels) and the head's MatMul -> dynamic int8 MatMul. Whether 7-bit weights
  (``reduce_range``) and per-channel scales are needed depends on the CPU's int8 instructions, so
  the exporter measures every candidate on held-out data and keeps the most faithful one.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from edgernn.export.torch_to_onnx import STANDARDISE_NODES

RECURRENT_OPS = ("RNN", "GRU", "LSTM")
WEIGHT_OPS = (*RECURRENT_OPS, "MatMul", "Gather")


def _weight_inputs(graph: onnx.GraphProto, op_types: tuple[str, ...]) -> list[tuple[int, int, str, int | None]]:
    """(node index, input index, initializer name, per-row axis or None for one scale) of every
    weight of an ``op_types`` node to quantize."""
    inits = {i.name: i for i in graph.initializer}
    found = []
    for n, node in enumerate(graph.node):
        slots: list[tuple[int, int | None]] = []
        if node.op_type not in op_types:
            continue
        if node.op_type in RECURRENT_OPS:
            # W [dirs, gates*H, in] and R [dirs, gates*H, H]: one scale per gate row; the biases
            # B [dirs, 2*gates*H] with one scale (they are 1-2% of a small model's bytes).
            slots = [(1, 1), (2, 1), (3, None)]
        elif node.op_type == "MatMul":
            slots = [(1, 1)]  # x @ B with B [in, out]: one scale per output column
        elif node.op_type == "Gather":
            slots = [(0, 0)]  # embedding table [vocab, dim]: one scale per token row
        for index, axis in slots:
            if index < len(node.input) and node.input[index] in inits and len(inits[node.input[index]].dims) >= 2:
                found.append((n, index, node.input[index], axis))
    return found


def quantize_per_axis(weights: np.ndarray, axis: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 with one scale per index along ``axis`` (one scale in all when None):
    weights ~= q * scale.

    Returns q int8 (same shape, values in [-127, 127]) and scale float32 [weights.shape[axis]] (or a scalar).
    """
    if axis is None:
        scale = np.float32(np.abs(weights).max() / 127.0 or 1.0)
        return np.clip(np.rint(weights / scale), -127, 127).astype(np.int8), np.array(scale, dtype=np.float32)
    moved = np.moveaxis(weights, axis, 0).reshape(weights.shape[axis], -1)
    scale = np.abs(moved).max(axis=1) / 127.0
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    shape = [1] * weights.ndim
    shape[axis] = -1
    q = np.clip(np.rint(weights / scale.reshape(shape)), -127, 127).astype(np.int8)
    return q, scale


def weight_only_int8(proto: onnx.ModelProto, op_types: tuple[str, ...] = WEIGHT_OPS) -> onnx.ModelProto:
    """A copy of ``proto`` whose weight matrices (those of ``op_types`` nodes) are int8
    initializers, scaled back to float32 by Cast + Mul (folded when a session is created)."""
    model = onnx.ModelProto()
    model.CopyFrom(proto)
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    new_nodes: list[tuple[int, list[onnx.NodeProto]]] = []
    done: dict[str, str] = {}
    for n, index, name, axis in _weight_inputs(graph, op_types):
        if name not in done:
            weights = numpy_helper.to_array(inits[name])
            q, scale = quantize_per_axis(weights, axis)
            if axis is not None:  # shaped to broadcast along the weight's other axes
                scale = scale.reshape([-1 if d == axis else 1 for d in range(weights.ndim)])
            graph.initializer.remove(inits[name])
            short = f"w{len(done)}"  # short names: every byte counts in a 20 KB file
            # Symmetric: no zero point, so q * scale is the whole dequantization.
            graph.initializer.extend([numpy_helper.from_array(q, f"{short}_int8"),
                                      numpy_helper.from_array(scale, f"{short}_scale")])
            done[name] = short
            new_nodes.append((n, [
                helper.make_node("Cast", [f"{short}_int8"], [f"{short}_f"], to=onnx.TensorProto.FLOAT),
                helper.make_node("Mul", [f"{short}_f", f"{short}_scale"], [short])]))
        graph.node[n].input[index] = done[name]
    for n, nodes in sorted(new_nodes, key=lambda item: item[0], reverse=True):
        for node in reversed(nodes):
            graph.node.insert(n, node)
    onnx.checker.check_model(model, full_check=True)
    return model


@dataclass(frozen=True)
class DynamicCandidate:
    reduce_range: bool
    per_channel: bool

    @property
    def name(self) -> str:
        return f"reduce_range={self.reduce_range},per_channel={self.per_channel}"


DYNAMIC_CANDIDATES = tuple(DynamicCandidate(r, p) for r in (True, False) for p in (False, True))


def quantize_with_onnxruntime(proto: onnx.ModelProto, quantize) -> onnx.ModelProto:
    """Run one of onnxruntime's quantizers, which read and write files, on ``proto``.

    quantize(source_path, target_path). Their warning about missing pre-processing is silenced:
    these graphs come straight from the exporter. The metadata is left for the caller to write.
    """
    quant_logger = logging.getLogger()
    level = quant_logger.level
    quant_logger.setLevel(logging.ERROR)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            source, target = Path(tmp) / "fp32.onnx", Path(tmp) / "quantized.onnx"
            onnx.save(proto, source)
            quantize(source, target)
            model = onnx.load(target)
    finally:
        quant_logger.setLevel(level)
    del model.metadata_props[:]
    return model


def dynamic_int8(proto: onnx.ModelProto, candidate: DynamicCandidate) -> onnx.ModelProto:
    """onnxruntime's dynamic quantization (LSTM and MatMul) with the given weight settings; an
    embedding table (which onnxruntime's dynamic quantizer leaves float) weight-only int8 first."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    proto = weight_only_int8(proto, op_types=("Gather",))
    return quantize_with_onnxruntime(proto, lambda source, target: quantize_dynamic(
        source, target, op_types_to_quantize=["LSTM", "MatMul"], per_channel=candidate.per_channel,
        reduce_range=candidate.reduce_range, weight_type=QuantType.QInt8))


def count_ops(nodes) -> dict[str, int]:
    """{op type: how many of ``nodes`` have it}, sorted by op type."""
    counts: dict[str, int] = {}
    for node in nodes:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return dict(sorted(counts.items()))


def op_counts(proto: onnx.ModelProto) -> dict[str, int]:
    """Op counts of the top graph."""
    return count_ops(proto.graph.node)


def subgraphs(graph: onnx.GraphProto):
    """Every graph held in an attribute of ``graph``'s nodes (Scan/Loop/If bodies), recursively."""
    for node in graph.node:
        for attr in node.attribute:
            for sub in ([attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)):
                yield sub
                yield from subgraphs(sub)


STORAGE_TYPES = {
    onnx.TensorProto.INT8: "int8", onnx.TensorProto.UINT8: "int8",
    onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.FLOAT16: "float16",
}


def weight_storage(proto: onnx.ModelProto) -> dict:
    """Parameters by storage type over the graph and its subgraphs:
    {"int8": n, "float32": n, "float16": n, "int8_fraction": f}.

    Scales and zero points are bookkeeping, not parameters, and are left out; shape constants
    (int64) are not parameters either.
    """
    counts = {"int8": 0, "float32": 0, "float16": 0}
    for graph in (proto.graph, *subgraphs(proto.graph)):
        for init in graph.initializer:
            kind = STORAGE_TYPES.get(init.data_type)
            if kind is None or init.name.endswith(("_scale", "_zero_point")) or len(init.dims) == 0:
                continue
            counts[kind] += int(np.prod(init.dims))
    total = sum(counts.values())
    counts["int8_fraction"] = round(counts["int8"] / total, 4) if total else 0.0
    return counts


def float16(proto: onnx.ModelProto) -> onnx.ModelProto:
    """Weights and compute in float16, inputs and outputs kept float32 (Cast at the edges), and
    the input's standardisation too.

    onnxruntime 1.32 crashes (segmentation fault) creating a session for such a streaming graph
    at the default optimisation level; the file therefore asks for basic optimisation in its
    ``runtime`` metadata, and nothing here ever opens it otherwise.
    """
    from onnxruntime.transformers.float16 import convert_float_to_float16

    # A raw input's standardisation stays float32 (float16 would round large raw values before
    # the mean is taken off): it is set aside, the rest converted, and it is put back before it.
    proto, standardisation = split_standardisation(proto)
    model = convert_float_to_float16(proto, keep_io_types=True, disable_shape_infer=True)
    if standardisation:
        standardised = standardisation[-1].output[0]
        for node in model.graph.node:
            node.input[:] = [standardised if name == "x" else name for name in node.input]
        model.graph.node.extend(standardisation)
    sort_topologically(model.graph)  # the converter appends its input Casts after their consumers
    onnx.checker.check_model(model, full_check=True)
    return model


def split_standardisation(proto: onnx.ModelProto) -> tuple[onnx.ModelProto, list[onnx.NodeProto]]:
    """(a copy of ``proto`` whose nodes read the input ``x`` where they read its standardisation,
    the standardisation's nodes in order: STANDARDISE_NODES); ``proto`` and [] when it has none."""
    nodes = {n.name: n for n in proto.graph.node if n.name in STANDARDISE_NODES}
    if not nodes:
        return proto, []
    taken = [onnx.NodeProto() for _ in STANDARDISE_NODES]
    for copy_, name in zip(taken, ("standardise_mean", "standardise_sub", "standardise_scale", "standardise_mul")):
        copy_.CopyFrom(nodes[name])
    rest = onnx.ModelProto()
    rest.CopyFrom(proto)
    kept = [n for n in rest.graph.node if n.name not in STANDARDISE_NODES]
    standardised = taken[-1].output[0]
    for node in kept:
        node.input[:] = ["x" if name == standardised else name for name in node.input]
    copies = [onnx.NodeProto() for _ in kept]
    for copy_, node in zip(copies, kept):
        copy_.CopyFrom(node)
    del rest.graph.node[:]
    rest.graph.node.extend(copies)
    return rest, taken


def sort_topologically(graph: onnx.GraphProto) -> None:
    """Reorder ``graph.node`` so every node comes after the producers of its inputs (stable)."""
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(name in available for name in n.input)]
        if not ready:
            raise ValueError(f"graph has a cycle or a dangling input near node {pending[0].name!r}")
        for node in ready:
            ordered.append(node)
            available.update(node.output)
        pending = [n for n in pending if n not in ready]
    copies = [onnx.NodeProto() for _ in ordered]
    for copy_, node in zip(copies, ordered):
        copy_.CopyFrom(node)
    del graph.node[:]
    graph.node.extend(copies)


FLOAT16_RUNTIME = {"graph_optimization_level": "basic",
                   "quantization": {"method": "float16", "compute": "float16 (inputs, outputs and state float32)"}}


class SequenceReader:
    """onnxruntime's CalibrationDataReader over prepared sequences, one sequence per call from zero state."""

    def __init__(self, sequences: list[np.ndarray], state_names: list[str], zero_state: list[np.ndarray]):
        self._feeds = iter([{"x": seq[None], **dict(zip(state_names, zero_state))} for seq in sequences])

    def get_next(self) -> dict | None:
        return next(self._feeds, None)


def static_int8(proto: onnx.ModelProto, calibration: list[np.ndarray], state_names: list[str],
                zero_state: list[np.ndarray]) -> onnx.ModelProto:
    """Static int8: the head's MatMul in QDQ form with its input's range calibrated (min/max) on
    ``calibration`` sequences; the recurrent op's weights (and an embedding table) weight-only int8.

    onnxruntime's static quantizer has no rule for RNN/GRU/LSTM, so the recurrent op computes in
    float32 from int8-stored weights. The logits stay float32 (the MatMul's output is not
    quantized): they feed a softmax and detection thresholds, and a quantize/dequantize pair on
    them would cost a step two more nodes for nothing. On CPU onnxruntime fuses the head into
    ``MatMulIntegerToFloat``; the one activation ``QuantizeLinear`` per step is what static
    quantization costs there (measured 1.05-1.1x the fp32 step).
    """
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    CalibrationDataReader.register(SequenceReader)
    stored_int8 = weight_only_int8(proto, op_types=(*RECURRENT_OPS, "Gather"))
    return quantize_with_onnxruntime(stored_int8, lambda source, target: quantize_static(
        source, target, SequenceReader(calibration, state_names, zero_state), quant_format=QuantFormat.QDQ,
        op_types_to_quantize=["MatMul"], activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
        per_channel=True, extra_options={"OpTypesToExcludeOutputQuantization": ["MatMul"]}))


STATIC_INT8_RUNTIME = {"quantization": {
    "method": "static-int8-qdq", "compute": "head: QDQ int8, calibrated; recurrent op: float32 from int8-stored "
    "weights (onnxruntime's static quantizer has no rule for RNN/GRU/LSTM)"}}


def recurrent_weight_type(proto: onnx.ModelProto) -> str:
    """How the recurrent op's input weights W are stored: "int8", "float16" or "float32"."""
    inits = {i.name: i.data_type for i in proto.graph.initializer}
    producers = {out: node for node in proto.graph.node for out in node.output}
    names = {onnx.TensorProto.INT8: "int8", onnx.TensorProto.UINT8: "int8", onnx.TensorProto.FLOAT16: "float16"}
    for node in proto.graph.node:
        if node.op_type in (*RECURRENT_OPS, "DynamicQuantizeLSTM"):
            weight = node.input[1]
            while weight not in inits and weight in producers and producers[weight].op_type in ("DequantizeLinear", "Cast", "Mul"):
                weight = producers[weight].input[0]
            return names.get(inits.get(weight), "float32")
    return "float32"
