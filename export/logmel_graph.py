"""The log-mel front end (runtime/audio.py) as an ONNX graph: raw samples in, standardised log-mel
frames out, with everything it must remember between calls carried as state tensors.

Inputs and outputs (batch first; W window, H hop samples, B mel bands, all float32):
- ``samples`` [batch, n], n a multiple of H: the next samples of each stream;
- ``audio`` [batch, W - H] -> ``audio_out``: the last W - H samples heard (the window overlap);
- ``norm_mean`` [batch, B] -> ``norm_mean_out``: the running mean of every band (``mean_norm_ms``);
- ``norm_frames`` [batch, 1] -> ``norm_frames_out``: the frames the running mean has seen;
- ``frames`` [batch, n / H, B]: one frame per hop.

A stream starts with ``audio`` set to its first W - H samples (the Python front end answers
nothing for them either, having no full window yet) and the other states zero; then every hop
completes exactly the frame ``runtime/audio.py`` completes with it, so the frames line up with
the Python front end's from the first one (frame k covers samples kH .. kH + W - 1).

The arithmetic is runtime/audio.py's, in float64 up to the log as there (then float32): frame k through
the Hann window, the one-sided ``DFT`` op zero-padded to n_fft (onnxruntime runs it as an FFT),
squared and summed over the real and imaginary parts, times the mel filters (stored as float32,
widened once at load), plus LOG_FLOOR, log; the running mean as a ``Scan`` over the
frames (m_t = m_(t-1) + max(1 / t, rate) (f_t - m_(t-1)), t counting from 1); then (f - mean) / std
with the training split's per-band statistics.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, compose, helper, numpy_helper

from edgernn.runtime.audio import LOG_FLOOR, LogMel, LogMelConfig
from edgernn.runtime.frontend import FeatureFrontend, LogMelFrontend
from edgernn.runtime.metadata import StateSpec

OPSET = 17
STATE_NAMES = ("audio", "norm_mean", "norm_frames")
PREFIX = "logmel/"  # every front-end name inside a joined graph but its inputs and outputs


def _const(name: str, value, dtype=np.float32) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(value, dtype=dtype), name)


def mean_update(mean: str, seen: str, frame: str, scope: str, rate: float) -> tuple[list, list, str, str]:
    """The running mean's step for one frame: (nodes, their constants, the new mean's name, the
    new frame count's name). mean [batch, B], seen [batch, 1], frame [batch, B]; names made in
    ``scope`` (a subgraph's own prefix, so no name is defined twice in the model)."""
    name = lambda part: f"{scope}_{part}"  # noqa: E731
    nodes = [
        helper.make_node("Add", [seen, name("one")], [name("seen")]),
        helper.make_node("Reciprocal", [name("seen")], [name("inverse")]),
        helper.make_node("Max", [name("inverse"), name("rate")], [name("weight")]),  # max(1 / t, rate)
        helper.make_node("Sub", [frame, mean], [name("delta")]),
        helper.make_node("Mul", [name("delta"), name("weight")], [name("moved")]),
        helper.make_node("Add", [mean, name("moved")], [name("mean")]),
    ]
    return nodes, [_const(name("one"), 1.0), _const(name("rate"), rate)], name("mean"), name("seen")


def running_mean_body(rate: float, bands: int) -> onnx.GraphProto:
    """One Scan step: (mean [batch, B], seen [batch, 1], frame [batch, B]) -> (mean, seen, frame - mean)."""
    nodes, constants, mean, seen = mean_update("mean_in", "seen_in", "frame", "body", rate)
    nodes.append(helper.make_node("Sub", ["frame", mean], ["normalised"]))
    tensor = lambda n, shape: helper.make_tensor_value_info(n, TensorProto.FLOAT, shape)  # noqa: E731
    return helper.make_graph(nodes, "running_mean",
                             [tensor("mean_in", ["batch", bands]), tensor("seen_in", ["batch", 1]), tensor("frame", ["batch", bands])],
                             [tensor(mean, ["batch", bands]), tensor(seen, ["batch", 1]), tensor("normalised", ["batch", bands])],
                             initializer=constants)


def running_mean_step(rate: float) -> onnx.GraphProto:
    """The same step for a call of exactly one frame, as an If branch reading the outer
    ``norm_mean``, ``norm_frames`` and ``log_energy`` [batch, 1, B]."""
    nodes, constants, mean, seen = mean_update("norm_mean", "norm_frames", "frame", "step", rate)
    nodes = [helper.make_node("Squeeze", ["log_energy", "step_axis"], ["frame"]), *nodes,
             helper.make_node("Unsqueeze", [mean, "step_axis"], ["step_mean_3d"]),
             helper.make_node("Sub", ["log_energy", "step_mean_3d"], ["step_centred"])]
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in (mean, seen, "step_centred")]
    return helper.make_graph(nodes, "one_frame", [], outputs, initializer=[*constants, _const("step_axis", [1], np.int64)])


def logmel_graph(config: LogMelConfig, norm: FeatureFrontend) -> onnx.ModelProto:
    """The front end of the module's docstring for ``config``, standardising with ``norm``'s
    per-band mean and 1 / std (float32 [mel_bands] each, as the runtime multiplies by them)."""
    window, hop, bands = config.window, config.hop, config.mel_bands
    overlap = window - hop
    logmel = LogMel(config)
    nodes = [
        helper.make_node("Concat", ["audio", "samples"], ["heard"], axis=1),           # [batch, overlap + n]
        helper.make_node("Shape", ["samples"], ["samples_shape"]),
        helper.make_node("Gather", ["samples_shape", "axis1"], ["n"], axis=0),          # [] int64
        helper.make_node("Div", ["n", "hop"], ["count"]),                              # frames in this call
        helper.make_node("Range", ["zero_i", "count", "one_i"], ["frame_index"]),      # [count]
        helper.make_node("Unsqueeze", ["frame_index", "axis1_list"], ["frame_column"]),  # [count, 1]
        helper.make_node("Mul", ["frame_column", "hop"], ["starts"]),
        helper.make_node("Add", ["starts", "offsets"], ["positions"]),                 # [count, window]
        helper.make_node("Gather", ["heard", "positions"], ["windows"], axis=1),        # [batch, count, window]
        # float64 from the samples to the log, as runtime/audio.py computes: in float32 the
        # DFT's rounding reaches 1e-4 in the log of a quiet band beside a loud one
        helper.make_node("Cast", ["windows"], ["windows64"], to=TensorProto.DOUBLE),
        helper.make_node("Mul", ["windows64", "hann"], ["windowed"]),
        helper.make_node("Unsqueeze", ["windowed", "last_axis"], ["signal"]),          # [batch, count, window, 1]
        helper.make_node("DFT", ["signal", "n_fft"], ["bins"], axis=2, onesided=1),     # [batch, count, bins, 2]
        helper.make_node("Mul", ["bins", "bins"], ["squares"]),                        # re^2, im^2
        helper.make_node("ReduceSum", ["squares", "last_axis"], ["power"], keepdims=0),  # [batch, count, bins]
        # the filters travel as float32 (half the bytes; 6e-8 relative, far below the 1e-4 asked
        # of the frames) and are widened once, when onnxruntime folds this Cast at load
        helper.make_node("Cast", ["filters32"], ["filters"], to=TensorProto.DOUBLE),
        helper.make_node("MatMul", ["power", "filters"], ["energy"]),                  # [batch, count, bands]
        helper.make_node("Add", ["energy", "log_floor"], ["floored"]),
        helper.make_node("Log", ["floored"], ["log_energy64"]),
        helper.make_node("Cast", ["log_energy64"], ["log_energy"], to=TensorProto.FLOAT),
        helper.make_node("Slice", ["heard", "keep_from", "keep_to", "axis1_list"], ["audio_out"]),
    ]
    if config.mean_norm_rate > 0:
        # One frame per call (the always-on case) takes the step's ops directly; more take a Scan,
        # whose fixed cost per call is several times theirs.
        scan = helper.make_node("Scan", ["norm_mean", "norm_frames", "log_energy"],
                                ["scan_mean", "scan_frames", "scan_centred"], num_scan_inputs=1,
                                scan_input_axes=[1], scan_output_axes=[1],
                                body=running_mean_body(config.mean_norm_rate, bands))
        many = helper.make_graph([scan], "many_frames", [], [
            helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in ("scan_mean", "scan_frames", "scan_centred")])
        one = running_mean_step(config.mean_norm_rate)
        nodes += [helper.make_node("Equal", ["count", "one_i"], ["one_frame"]),
                  helper.make_node("If", ["one_frame"], ["norm_mean_out", "norm_frames_out", "centred"],
                                   then_branch=one, else_branch=many)]
    else:  # no running mean: the states pass through untouched
        nodes += [helper.make_node("Identity", ["log_energy"], ["centred"]),
                  helper.make_node("Identity", ["norm_mean"], ["norm_mean_out"]),
                  helper.make_node("Identity", ["norm_frames"], ["norm_frames_out"])]
    nodes += [helper.make_node("Sub", ["centred", "band_mean"], ["shifted"]),
              helper.make_node("Mul", ["shifted", "band_scale"], ["frames"])]
    initializers = [
        _const("axis1", 1, np.int64), _const("axis1_list", [1], np.int64), _const("hop", hop, np.int64),
        _const("zero_i", 0, np.int64), _const("one_i", 1, np.int64),
        _const("offsets", np.arange(window)[None, :], np.int64),
        _const("hann", logmel._hann, np.float64), _const("last_axis", [3], np.int64), _const("n_fft", config.n_fft, np.int64),
        _const("filters32", logmel._filters, np.float32),
        _const("log_floor", LOG_FLOOR, np.float64),
        _const("keep_from", [-overlap] if overlap else [np.iinfo(np.int64).max], np.int64),
        _const("keep_to", [np.iinfo(np.int64).max], np.int64),
        _const("band_mean", norm.mean), _const("band_scale", norm.inverse_std),
    ]
    batch = "batch"
    graph = helper.make_graph(
        nodes, "edgernn_logmel",
        [helper.make_tensor_value_info("samples", TensorProto.FLOAT, [batch, "samples"]),
         helper.make_tensor_value_info("audio", TensorProto.FLOAT, [batch, overlap]),
         helper.make_tensor_value_info("norm_mean", TensorProto.FLOAT, [batch, bands]),
         helper.make_tensor_value_info("norm_frames", TensorProto.FLOAT, [batch, 1])],
        [helper.make_tensor_value_info("frames", TensorProto.FLOAT, [batch, "steps", bands]),
         helper.make_tensor_value_info("audio_out", TensorProto.FLOAT, [batch, overlap]),
         helper.make_tensor_value_info("norm_mean_out", TensorProto.FLOAT, [batch, bands]),
         helper.make_tensor_value_info("norm_frames_out", TensorProto.FLOAT, [batch, 1])],
        initializer=initializers)
    opsets = [helper.make_opsetid("", OPSET)]
    # the oldest IR version the opset allows: onnxruntime builds (Node's among them) refuse newer
    # IR versions than they know, whatever the ops
    model = helper.make_model(graph, opset_imports=opsets, ir_version=helper.find_min_ir_version_for(opsets))
    onnx.checker.check_model(model, full_check=True)
    return model


def frontend_state_specs(config: LogMelConfig) -> list[StateSpec]:
    """The front end's state tensors (STATE_NAMES) as the graph's ``state`` metadata lists them."""
    widths = (config.window - config.hop, config.mel_bands, 1)
    return [StateSpec(name, f"{name}_out", ("batch", width), 0, frontend=True) for name, width in zip(STATE_NAMES, widths)]


def with_frontend(core: onnx.ModelProto, frontend: LogMelFrontend) -> onnx.ModelProto:
    """``core``, a graph whose x is standardised log-mel frames float32 [batch, time, mel_bands],
    fed by ``frontend`` computed in the graph: x becomes the samples, one hop per step, float32
    [batch, time, hop] (frame t is complete after step t: LogMelFrontend's ``in_graph`` form), and
    the front end's states (``frontend_state_specs``) join the core's inputs and outputs. The
    core's nodes, names and precision are untouched; the front end runs in float64 and float32
    whatever the core's precision."""
    config = frontend.config
    front = compose.add_prefix(logmel_graph(config, frontend.norm), PREFIX, rename_inputs=False, rename_outputs=False)
    samples, frames = PREFIX + "samples", PREFIX + "frames"
    renamed = {"samples": samples, "frames": frames}
    for node in front.graph.node:
        node.input[:] = [renamed.get(n, n) for n in node.input]
        node.output[:] = [renamed.get(n, n) for n in node.output]
    core_nodes = [onnx.NodeProto() for _ in core.graph.node]
    for copy, node in zip(core_nodes, core.graph.node):
        copy.CopyFrom(node)
        copy.input[:] = [frames if n == "x" else n for n in copy.input]
    flatten = helper.make_node("Reshape", ["x", PREFIX + "flat_shape"], [samples], name=PREFIX + "hops_to_samples")
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", config.hop])
    graph = helper.make_graph(
        [flatten, *front.graph.node, *core_nodes], core.graph.name,
        [x, *[i for i in core.graph.input if i.name != "x"], *[i for i in front.graph.input if i.name != "samples"]],
        [*core.graph.output, *[o for o in front.graph.output if o.name != "frames"]],
        initializer=[*front.graph.initializer, *core.graph.initializer,
                     numpy_helper.from_array(np.array([0, -1], np.int64), PREFIX + "flat_shape")],
        value_info=[*core.graph.value_info])
    opsets: dict[str, int] = {}
    for entry in [*front.opset_import, *core.opset_import]:
        opsets[entry.domain] = max(opsets.get(entry.domain, 0), entry.version)
    joined = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v) for d, v in opsets.items()],
                               producer_name=core.producer_name, producer_version=core.producer_version)
    joined.ir_version = max(core.ir_version, front.ir_version)
    joined.functions.extend(core.functions)
    joined.metadata_props.extend(core.metadata_props)
    return joined


def without_frontend(joined: onnx.ModelProto) -> onnx.ModelProto:
    """The inverse of ``with_frontend``: the core graph alone, x its standardised log-mel frames
    float32 [batch, time, mel_bands] again, the front end's states gone (metadata as it was, so
    the caller rewrites what changed). For measuring the front end against the Python one."""
    front_outputs = {f"{name}_out" for name in STATE_NAMES}
    frames = PREFIX + "frames"
    core_nodes = []
    for node in joined.graph.node:
        if all(out.startswith(PREFIX) or out in front_outputs for out in node.output):
            continue
        copy = onnx.NodeProto()
        copy.CopyFrom(node)
        copy.input[:] = ["x" if n == frames else n for n in copy.input]
        core_nodes.append(copy)
    bands = next(i for i in joined.graph.input if i.name == "norm_mean").type.tensor_type.shape.dim[1].dim_value
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "time", bands])
    graph = helper.make_graph(
        core_nodes, joined.graph.name,
        [x, *[i for i in joined.graph.input if i.name not in ("x", *STATE_NAMES)]],
        [o for o in joined.graph.output if o.name not in front_outputs],
        initializer=[i for i in joined.graph.initializer if not i.name.startswith(PREFIX)],
        value_info=[v for v in joined.graph.value_info if not v.name.startswith(PREFIX)])
    core = helper.make_model(graph, opset_imports=list(joined.opset_import), ir_version=joined.ir_version,
                             producer_name=joined.producer_name, producer_version=joined.producer_version)
    core.functions.extend(joined.functions)
    core.metadata_props.extend(joined.metadata_props)
    return core
