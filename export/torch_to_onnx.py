"""PyTorch -> the streaming ONNX graph of DESIGN.md, with edgernn metadata inside.

The export contract is data (``ExportContract``): input/output names, dynamic axes and opset.
The exporter is torch's TorchScript path (``dynamo=False``): it emits the ONNX ``RNN``/``GRU``/
``LSTM`` ops with explicit initial state, which is what a streaming graph needs; the dynamo
exporter's handling of recurrent modules is not reliable for this.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from importlib import metadata as importlib_metadata

import onnx
import onnxruntime
import torch
from torch import nn

from edgernn.runtime.metadata import GraphMetadata, StateSpec
from edgernn.trainer.network import RecurrentClassifier

OPSET = 17


@dataclass(frozen=True)
class ExportContract:
    """Names, dynamic axes and opset of one model's graph."""

    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    dynamic_axes: dict
    opset: int = OPSET
    # The state tensors' batch axis: 1 (the recurrent ops' own layout, [layers, batch, hidden]),
    # or 0 for servers that batch along the first axis (Triton's implicit state).
    state_batch_axis: int = 1

    @classmethod
    def for_model(cls, model: RecurrentClassifier, state_batch_axis: int = 1) -> "ExportContract":
        states = model.config.state_names
        inputs = ("x", *states)
        outputs = ("logits", *(f"{s}_out" for s in states))
        axes = {"x": {0: "batch", 1: "time"}, "logits": {0: "batch", 1: "time"}}
        for name in (*states, *(f"{s}_out" for s in states)):
            axes[name] = {state_batch_axis: "batch"}
        return cls(inputs, outputs, axes, state_batch_axis=state_batch_axis)

    def state_specs(self, model: RecurrentClassifier) -> list[StateSpec]:
        specs = []
        for name, shape in zip(self.input_names[1:], model.state_shapes("batch")):
            if self.state_batch_axis == 0:
                shape = (shape[1], shape[0], *shape[2:])
            specs.append(StateSpec(name, f"{name}_out", shape, self.state_batch_axis))
        return specs


class StreamingGraph(nn.Module):
    """The classifier with its state as explicit inputs and outputs: (x, h[, c]) -> (logits, h_out[, c_out]).
    batch_first_state: every state tensor (and its output) takes the batch on axis 0 instead of 1."""

    def __init__(self, model: RecurrentClassifier, batch_first_state: bool = False):
        super().__init__()
        self.model = model
        self.batch_first_state = batch_first_state

    def forward(self, x: torch.Tensor, *state: torch.Tensor):
        if self.batch_first_state:
            state = tuple(s.transpose(0, 1) for s in state)
        logits, new_state = self.model(x, tuple(state))
        if self.batch_first_state:
            new_state = tuple(s.transpose(0, 1) for s in new_state)
        return (logits, *new_state)


def example_inputs(model: RecurrentClassifier, batch: int = 2, time: int = 5,
                   state_batch_axis: int = 1) -> tuple[torch.Tensor, ...]:
    cfg = model.config
    if cfg.input_kind == "tokens":
        x = torch.randint(0, cfg.vocab_size, (batch, time), dtype=torch.int64)
    else:
        x = torch.randn(batch, time, cfg.features)
    return (x, *(s.transpose(0, 1) if state_batch_axis == 0 else s for s in model.zero_state(batch)))


def export_onnx(model: RecurrentClassifier, contract: ExportContract) -> onnx.ModelProto:
    """Trace and export the fp32 streaming graph; checked with ``onnx.checker`` (full check)."""
    # The wrapper must be in eval mode too: the exporter restores the wrapper's mode onto every
    # submodule afterwards, and a wrapper left in training mode would switch dropout back on.
    graph = StreamingGraph(model.eval(), batch_first_state=contract.state_batch_axis == 0).eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # The TorchScript exporter warns about tracing and batch-size-dependent RNN export; the
        # explicit initial state makes both moot, and the parity gates prove the result.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph, example_inputs(model, state_batch_axis=contract.state_batch_axis), buffer, dynamo=False,
            input_names=list(contract.input_names), output_names=list(contract.output_names),
            dynamic_axes=contract.dynamic_axes, opset_version=contract.opset, do_constant_folding=True,
        )
    proto = onnx.load_from_string(buffer.getvalue())
    if model.input_mean is not None:
        name_standardisation(proto)
    onnx.checker.check_model(proto, full_check=True)
    return proto


# The graph's own input standardisation (RecurrentClassifier.standardise_inputs):
# x -> Sub(mean) -> Mul(scale), the mean and scale as Constant nodes.
STANDARDISE_NODES = ("standardise_sub", "standardise_mul", "standardise_mean", "standardise_scale")


def name_standardisation(proto: onnx.ModelProto) -> None:
    """Give the Sub that reads the input ``x``, the Mul that reads it and their constants
    STANDARDISE_NODES' names (so float16 conversion can keep them float32)."""
    nodes = proto.graph.node
    sub = next((n for n in nodes if n.op_type == "Sub" and n.input[0] == "x"), None)
    mul = next((n for n in nodes if sub is not None and n.op_type == "Mul" and n.input[0] == sub.output[0]), None)
    constants = {n.output[0]: n for n in nodes if n.op_type == "Constant"}
    if sub is None or mul is None or sub.input[1] not in constants or mul.input[1] not in constants:
        raise ValueError("the exported graph lacks its input standardisation (x - a constant, times a constant)")
    sub.name, mul.name = STANDARDISE_NODES[:2]
    constants[sub.input[1]].name, constants[mul.input[1]].name = STANDARDISE_NODES[2:]


def producer_versions() -> dict:
    try:
        edgernn_version = importlib_metadata.version("edgernn")
    except importlib_metadata.PackageNotFoundError:
        edgernn_version = "unknown"
    return {"edgernn": edgernn_version, "torch": torch.__version__, "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__}


def graph_metadata(model: RecurrentClassifier, contract: ExportContract, labels: list[str], frontend: dict,
                   precision: str, source_sha256: str, parity: dict | None = None,
                   runtime: dict | None = None, footprint: dict | None = None,
                   background: str | None = None, dataset: dict | None = None) -> GraphMetadata:
    cfg = model.config
    return GraphMetadata(
        cell=cfg.cell, layers=cfg.layers, hidden=cfg.hidden, input_kind=cfg.input_kind,
        features=cfg.features if cfg.input_kind == "features" else None,
        vocab_size=cfg.vocab_size if cfg.input_kind == "tokens" else None,
        labels=list(labels), frontend=frontend, precision=precision, state=contract.state_specs(model),
        parity=parity or {}, source=source_sha256, producer=producer_versions(), runtime=runtime or {},
        footprint=footprint or {}, background=background, dataset=dataset or {},
    )


def set_metadata(proto: onnx.ModelProto, props: dict[str, str]) -> None:
    """Merge ``props`` into the graph's metadata_props: existing keys are kept unless overwritten."""
    merged = {entry.key: entry.value for entry in proto.metadata_props}
    merged.update(props)
    del proto.metadata_props[:]
    for key, value in merged.items():
        proto.metadata_props.add(key=key, value=value)


