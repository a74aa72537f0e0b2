"""The `export` library function behind `edgernn export`: checkpoint -> gated, atomically written graphs."""

from __future__ import annotations

import json
import math

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import onnxruntime as ort

from edgernn.runtime.bench import time_calls
from edgernn.runtime.log import log_to_stderr
from edgernn.export.logmel_graph import frontend_state_specs, with_frontend
from edgernn.export.torch_to_onnx import ExportContract, export_onnx, graph_metadata, set_metadata
from edgernn.export.gates import (
    FP32_GATES, FRONTEND_FP32_GATES, FRONTEND_QUANTIZED_GATES, FRONTEND_STREAM_GATE, QUANTIZED_GATES, ParityError,
    ParityLimits, frontend_in_graph, judge, last_step_logits, long_stream_drift, long_stream_input, quantized_measurements,
    run_graph, with_verdict,
)
from edgernn.export.parity import fp32_measurements, long_stream_vs_torch
from edgernn.export.ort_format import OPERATORS_CONFIG, convert_to_ort, operators_config
from edgernn.export.quantize import (
    DYNAMIC_CANDIDATES, FLOAT16_RUNTIME, STATIC_INT8_RUNTIME, dynamic_int8, float16, op_counts,
    recurrent_weight_type, static_int8, weight_only_int8, weight_storage,
)
from edgernn.export.triton import batch_first_parity, model_config, write_repository
from edgernn.runtime.progress import Progress
from edgernn.runtime.files import file_sha256, write_bytes_atomic
from edgernn.runtime.datasets import SequenceSet, read_sequences
from edgernn.runtime.splits import load_train_test, read_held_out
from edgernn.runtime.errors import DataFormatError, InputError
from edgernn.runtime.frontend import FeatureFrontend, FramedFrontend, Frontend, LogMelFrontend, frontend_from_json
from edgernn.runtime.metadata import PREFIX, PRECISIONS
from edgernn.runtime.model import make_session
from edgernn.trainer.checkpoint import load_checkpoint
from edgernn.trainer.network import RecurrentClassifier

AVAILABLE_PRECISIONS = PRECISIONS  # runtime/metadata.py: the one list
CALIBRATION_SEQUENCES = 256  # training sequences used to choose between quantization settings
# A dynamic-int8 candidate as faithful as the best one (same top-1 agreement on the calibration
# data, logits within this share of the fp32 logits' std) may be chosen for speed instead.
FAITHFUL_REL_DIFF = 0.1


@dataclass
class Artifact:
    precision: str
    path: Path
    bytes: int
    sha256: str
    parity: dict
    footprint: dict = field(default_factory=dict)
    ort: dict = field(default_factory=dict)  # --format ort: the ORT file's path, bytes, sha256 and parity

    def to_report(self, relative_to: Path) -> dict:
        try:
            path = str(self.path.resolve().relative_to(relative_to.resolve()))
        except ValueError:
            path = str(self.path.resolve())
        entry = {"path": path, "bytes": self.bytes, "sha256": self.sha256}
        if self.ort:
            entry["ort"] = {"path": str(Path(path).with_suffix(".ort")), "bytes": self.ort["bytes"], "sha256": self.ort["sha256"]}
        return entry


class ExportGateError(ParityError):
    """Some precisions failed their gates; ``artifacts`` holds the files that passed and were written,
    ``failed`` the parity summary of each precision that did not."""

    def __init__(self, failures: list[str], artifacts: dict[str, Artifact], failed: dict[str, dict]):
        super().__init__(failures)
        self.artifacts = artifacts
        self.failed = failed


def recorded_split(checkpoint_payload: dict, which: str) -> SequenceSet | None:
    """The training or test split ("train"/"test") the checkpoint was trained with, read again;
    None when it is no longer on disk."""
    dataset = checkpoint_payload.get("dataset", {})
    load = dataset.get("load")
    if load and Path(load["data"]).exists() and (load.get("test") is None or Path(load["test"]).exists()):
        train_set, test_set = load_train_test(load["data"], load.get("test"), load.get("label_regex"), load.get("test_regex"),
                                              tuple(load.get("strip") or ()), load.get("test_fraction"), load.get("seed", 0))
        return train_set if which == "train" else test_set
    recorded = dataset.get(f"{which}_path")  # checkpoints written before "load" was recorded
    return read_sequences(recorded) if recorded and Path(recorded).is_file() else None


def dataset_summary(dataset: dict) -> dict:
    """What the graph's ``dataset`` metadata keeps of a checkpoint's data set record: no paths, the
    baselines' accuracies to 4 digits and without their timing (a small graph is a few tens of kB)."""
    summary = {k: dataset[k] for k in ("name", "train", "validation", "test", "classes", "test_split") if k in dataset}
    if "baselines" in dataset:
        summary["baselines"] = compact({name: {k: v for k, v in entry.items() if k != "seconds"}
                                        for name, entry in dataset["baselines"].items()})
    return summary


def held_out_data(checkpoint_payload: dict, data: str | Path | None) -> SequenceSet:
    """The sequences the gates run on: ``data`` (a file, or a folder whose test split is used),
    else the test split recorded in the checkpoint when it is still on disk."""
    if data is None:
        recorded = recorded_split(checkpoint_payload, "test")
        if recorded is None:
            raise InputError("the parity gates need held-out data: pass --data PATH (the checkpoint's test split is not on disk)")
        return recorded
    load = checkpoint_payload.get("dataset", {}).get("load") or {}
    return read_held_out(Path(data), load.get("label_regex"), load.get("test_regex"), tuple(load.get("strip") or ()))


def standardise_in_graph(model: RecurrentClassifier, frontend: Frontend) -> Frontend:
    """A feature model's per-channel standardisation moves into its graph (the first Sub and Mul:
    ``RecurrentClassifier.standardise_inputs``; tiled ``frame`` times for a framed front end,
    standardisation being per channel), so a plain onnxruntime session on raw frames gives the
    runtime's answers. Returns the front end written into the graph, which then only checks
    (and frames) raw frames; any other front end as it is."""
    frame = frontend.frame if isinstance(frontend, FramedFrontend) else 1
    norm = frontend.norm if isinstance(frontend, FramedFrontend) else frontend
    if not isinstance(norm, FeatureFrontend) or norm.in_graph:
        return frontend
    model.standardise_inputs(np.tile(norm.mean, frame), np.tile(norm.inverse_std, frame))
    raw = FeatureFrontend(norm.mean, norm.std, in_graph=True)
    return FramedFrontend(raw, frame) if frame > 1 else raw


FORMATS = ("onnx", "ort")


@dataclass
class AudioGraphs:
    """An audio model's files compute their own log-mel frames (export/logmel_graph.py): the front
    end in that form, the held-out recordings its gate runs on (checked float32 samples [n]), and
    the inputs of gates that compare two such files (ORT format against .onnx): each recording's
    whole hops, float32 [hops, hop], from a stream that began with ``window - hop`` samples of
    silence, which is the graph's zero state."""

    frontend: LogMelFrontend
    recordings: list[np.ndarray]
    core_zero: list[np.ndarray]

    @classmethod
    def of(cls, frontend: Frontend, raw: list, core_zero: list[np.ndarray]) -> "AudioGraphs | None":
        """The audio graphs of ``frontend`` checked on ``raw`` held-out recordings; None for another front end."""
        if not isinstance(frontend, LogMelFrontend):
            return None
        recordings = [frontend.check(s, f"recording {i}") for i, s in enumerate(raw)]
        return cls(LogMelFrontend(frontend.config, frontend.norm, in_graph=True), recordings, core_zero)

    def gate_inputs(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """(hops of every recording, the joined graph's zero state in its input order)."""
        sequences = [self.frontend.hops_from_silence(rec) for rec in self.recordings]
        return sequences, [*self.core_zero, *(np.zeros(s.zeros_shape(1), np.float32) for s in self.state_specs())]

    def state_specs(self):
        return frontend_state_specs(self.frontend.config)

    def join(self, core: onnx.ModelProto, core_session: ort.InferenceSession, runtime: dict,
             limits: ParityLimits) -> tuple[onnx.ModelProto, dict]:
        """``core`` fed by the front end in the graph, and its ``frontend_in_graph`` measurements."""
        joined = with_frontend(core, self.frontend)
        session = make_session(joined.SerializeToString(), session_config=runtime.get("session_config"),
                               optimization=runtime.get("graph_optimization_level", "all"))
        reference = lambda frames: run_graph(core_session, frames, self.core_zero)[0]  # noqa: E731
        return joined, frontend_in_graph(session, reference, self.recordings[: limits.max_sequences], self.frontend, limits.chunks)


def write_ort(artifact: Artifact, sequences: list[np.ndarray], labels: np.ndarray | None, zero: list[np.ndarray],
              stream: np.ndarray, limits: ParityLimits, log: Callable[[str], None]) -> list[str]:
    """Convert ``artifact``'s graph to ORT format, judge it by the quantized graphs' gates against
    that graph (``stream``: the long stream's input), and write it beside it only when it passes
    (``artifact.ort`` then says where); returns the failed gates."""
    props = {p.key: p.value for p in onnx.load(str(artifact.path)).metadata_props}
    runtime = json.loads(props.get(PREFIX + "runtime", "{}"))
    settings = {"session_config": runtime.get("session_config"), "optimization": runtime.get("graph_optimization_level", "all")}
    with tempfile.TemporaryDirectory() as scratch:
        converted = convert_to_ort(artifact.path, Path(scratch))
        graph, session = make_session(str(artifact.path), **settings), make_session(str(converted), **settings)
        parity = quantized_measurements(session, graph, sequences, labels, zero, limits)
        parity["long_stream"] = long_stream_drift(session, lambda x, st: run_graph(graph, x, st), zero, stream)
        with_verdict(parity, judge(parity, QUANTIZED_GATES, limits))
        if not parity["passed"]:
            return parity["failures"]
        blob = converted.read_bytes()
    path = write_bytes_atomic(artifact.path.with_suffix(".ort"), blob)
    artifact.ort = {"path": path, "bytes": len(blob), "sha256": file_sha256(path), "parity": parity}
    log(f"{artifact.precision}: wrote {path} ({len(blob)} bytes; top-1 agreement with the .onnx graph "
        f"{parity['top1_agreement']:.4f}, max logit diff {parity['logit_max_abs_diff']:.2e})")
    return []


def calibration_data(checkpoint_payload: dict, fallback: list[np.ndarray], frontend) -> tuple[list[np.ndarray], str]:
    """Up to CALIBRATION_SEQUENCES training sequences (front end applied), else the held-out inputs."""
    train = recorded_split(checkpoint_payload, "train")
    if train is not None:
        step = max(1, len(train) // CALIBRATION_SEQUENCES)
        chosen = train.sequences[::step][:CALIBRATION_SEQUENCES]
        return [frontend(frontend.check(s)) for s in chosen], f"training split, {len(chosen)} sequences"
    count = min(len(fallback), CALIBRATION_SEQUENCES)
    return fallback[:CALIBRATION_SEQUENCES], f"held-out inputs (training split not on disk), {count} sequences"


def quantize_int8_dynamic(fp32: onnx.ModelProto, model: RecurrentClassifier, fp32_session: ort.InferenceSession,
                          calibration: list[np.ndarray], calibration_source: str,
                          zero_state: list[np.ndarray]) -> tuple[onnx.ModelProto, dict]:
    """The int8 graph for CPUs and its ``runtime`` metadata.

    LSTM: onnxruntime's DynamicQuantizeLSTM; reduce_range and per-channel are chosen by measuring
    every combination on calibration data, on this CPU: the most faithful to the fp32 graph, and
    among those equally faithful (FAITHFUL_REL_DIFF) the fastest. GRU and SimpleRNN
    (no quantized kernels in onnxruntime): weight-only int8, dequantized once at session creation.
    """
    if model.config.cell != "lstm":
        # Kept short: metadata bytes count against the file size of small models.
        return weight_only_int8(fp32), {"quantization": {
            "method": "weight-only-int8", "compute": "float32, dequantized once at load"}}
    reference = last_step_logits(fp32_session, calibration, zero_state)
    spread = float(reference.std()) or 1.0
    measured, protos = {}, {}
    for candidate in DYNAMIC_CANDIDATES:
        proto = dynamic_int8(fp32, candidate)
        session = make_session(proto.SerializeToString(), threads=1)
        logits = last_step_logits(session, calibration, zero_state)
        measured[candidate.name] = {
            "top1_agreement": float((logits.argmax(1) == reference.argmax(1)).mean()),
            "logit_max_rel_diff": float(np.abs(logits - reference).max() / spread),
            "sequence_step_us": sequence_step_time(session, calibration, zero_state)}
        protos[candidate.name] = proto
    best_agreement = max(m["top1_agreement"] for m in measured.values())
    faithful = [name for name, m in measured.items()
                if m["top1_agreement"] == best_agreement and m["logit_max_rel_diff"] <= FAITHFUL_REL_DIFF]
    if faithful:  # as faithful as the best: take the fastest on this CPU
        chosen = min(faithful, key=lambda name: measured[name]["sequence_step_us"])
    else:
        chosen = max(measured, key=lambda name: (measured[name]["top1_agreement"], -measured[name]["logit_max_rel_diff"]))
    proto = protos[chosen]
    chosen = next(c for c in DYNAMIC_CANDIDATES if c.name == chosen)
    return proto, {"quantization": {"method": "dynamic-int8", "compute": "int8 kernels", "chosen": chosen.name,
                                    "candidates": measured, "calibration": calibration_source}}


def metadata_parity(parity: dict) -> dict:
    """The parity summary written into the file: the measurements and the verdict. The per-gate
    table (limits included) goes to report.json; in the file it would cost a few hundred bytes,
    which is 1% of a 20 KB int8 graph."""
    return {k: v for k, v in parity.items() if k not in ("failures", "gates")}


def sequence_step_time(session: ort.InferenceSession, sequences: list[np.ndarray], zero_state: list[np.ndarray],
                       steps: int = 100, calls: int = 30) -> float:
    """Median microseconds per step of one ``steps``-step call, batch 1 (one thread)."""
    x = np.concatenate(sequences)[:steps][None]
    feeds = dict(zip([i.name for i in session.get_inputs()], [x, *zero_state]))
    nanoseconds = time_calls(lambda i: session.run(None, feeds), calls, warmup=5)  # runtime/bench.py's timer
    return round(float(np.median(nanoseconds)) / 1000 / x.shape[1], 3)


def compact(value, digits: int = 4):
    """Floats rounded to ``digits`` significant digits, recursively: metadata stays small."""
    if isinstance(value, float):
        return float(f"{value:.{digits}g}")
    if isinstance(value, dict):
        return {k: compact(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [compact(v, digits) for v in value]
    return value


def graph_footprint(proto: onnx.ModelProto, model: RecurrentClassifier, precision: str, runtime: dict,
                    frontend_states: list = ()) -> dict:
    """What an edge developer needs to know whether the graph fits a device; written into the
    file's ``footprint`` metadata (read back by `edgernn info` without onnx) and report.json.
    frontend_states: the StateSpecs of a front end computed in the graph (its state counts too;
    its arithmetic is not in ``macs_per_step``, which counts the recurrent cells and the head)."""
    cfg = model.config
    gates = {"rnn": 1, "gru": 3, "lstm": 4}[cfg.cell]
    width = cfg.embed_dim if cfg.input_kind == "tokens" else cfg.features
    macs = sum(gates * cfg.hidden * ((width if layer == 0 else cfg.hidden) + cfg.hidden) for layer in range(cfg.layers))
    return {"op_counts": op_counts(proto), "weights": weight_storage(proto),
            "recurrent_weights": recurrent_weight_type(proto),
            "compute": runtime.get("quantization", {}).get("compute", "float32"),
            "macs_per_step": macs + cfg.hidden * cfg.classes,  # recurrent cell(s) + head, batch 1
            "state_bytes_per_stream": 4 * sum(math.prod(shape) for shape in
                                              [*model.state_shapes(1), *(s.zeros_shape(1) for s in frontend_states)]),
            **({"note": f"the recurrent weights stay {recurrent_weight_type(proto)} in this {precision} file: "
                        "only the head is quantized"}
               if precision.startswith("int8") and recurrent_weight_type(proto) != "int8" else {})}


def default_precisions(readout: str, log: Callable[[str], None]) -> tuple[str, ...]:
    """Every precision, less int8-static for a pooled read-out: its head reads a pooled vector
    whose last bits depend on how the input was chunked, and an 8-bit activation step turns that
    into different answers (a 20 Newsgroups GRU: 98.7% of documents with the same top-1 class
    chunked as whole, under the 99% gate). Asked for by name, it is still built and gated."""
    if readout == "last":
        return AVAILABLE_PRECISIONS
    log("int8-static: left out for a pooled read-out (its 8-bit head input makes chunked answers differ from whole "
        "ones); name it with --precision to build and gate it anyway")
    return tuple(p for p in AVAILABLE_PRECISIONS if p != "int8-static")


@dataclass(frozen=True)
class CoreGraph:
    """The recurrent core's fp32 graph (front end not joined) and what each lower precision is
    built from: its session, the calibration inputs, the zero state and the state input names."""
    proto: onnx.ModelProto
    model: RecurrentClassifier
    session: ort.InferenceSession
    calibration: list[np.ndarray]
    calibration_source: str
    zero_state: list[np.ndarray]
    state_names: list[str]


# precision -> (the core's graph -> (that precision's graph, its ``runtime`` metadata))
PRECISION_BUILDERS: dict[str, Callable[[CoreGraph], tuple[onnx.ModelProto, dict]]] = {
    "int8-dynamic": lambda core: quantize_int8_dynamic(core.proto, core.model, core.session, core.calibration,
                                                       core.calibration_source, core.zero_state),
    "int8-static": lambda core: (static_int8(core.proto, core.calibration, core.state_names, core.zero_state),
                                 STATIC_INT8_RUNTIME),
    "fp16": lambda core: (float16(core.proto), FLOAT16_RUNTIME),
}


def write_triton(folder: Path, name: str, variant: bytes, batch_first: ExportContract, model: RecurrentClassifier,
                 labels: list[str], fp32_session: ort.InferenceSession, sequences: list[np.ndarray],
                 zero: list[np.ndarray], limits: ParityLimits, log: Callable[[str], None]) -> Path:
    """Gate the batch-first variant (its file's bytes) against the fp32 graph, then write the
    Triton repository ``folder/name`` (export/triton.py); ExportGateError when they differ."""
    parity = batch_first_parity(variant, fp32_session, model, sequences, zero)
    if not parity["max_abs_diff"] <= limits.fp32_max_abs_diff:
        raise ExportGateError([f"triton: the batch-first graph differs from the fp32 graph by {parity['max_abs_diff']:.3g} "
                               f"(limit {limits.fp32_max_abs_diff:g})"], {}, {"triton": parity})
    config = model_config(name, model.config.input_kind, model.config.features, len(labels), batch_first.state_specs(model))
    written = write_repository(folder, name, variant, labels, config)
    log(f"triton: wrote {written} (batch-first state; max difference from the fp32 graph {parity['max_abs_diff']:.2e})")
    return written


def gated_fp32(model: RecurrentClassifier, contract: ExportContract, sequences: list[np.ndarray], zero: list[np.ndarray],
               audio: "AudioGraphs | None", limits: ParityLimits, log: Callable[[str], None]):
    """The fp32 graph, judged against PyTorch: (the recurrent core's graph, the file's graph (an
    audio model's with its front end joined), the core's session, the parity summary, the long
    stream the gates ran). ExportGateError when a gate fails: nothing else is built then."""
    fp32 = export_onnx(model, contract)
    fp32_blob = fp32.SerializeToString()
    fp32_session = make_session(fp32_blob)
    log(f"fp32: checking parity on {min(len(sequences), limits.max_sequences)} held-out sequences")
    fp32_parity = fp32_measurements(fp32_session, model, sequences, limits)
    stream = long_stream_input(sequences, limits.long_stream_steps)
    fp32_parity["long_stream"] = long_stream_vs_torch(fp32_session, model, zero, stream, limits)
    fp32_core = fp32
    if audio:
        fp32, fp32_parity["frontend_in_graph"] = audio.join(fp32_core, fp32_session, {}, limits)
    with_verdict(fp32_parity, judge(fp32_parity, (*FP32_GATES, *FRONTEND_FP32_GATES, FRONTEND_STREAM_GATE), limits))
    fp32_stream = fp32_parity["long_stream"]
    if fp32_stream["horizon_steps"] < len(stream):
        log(f"note: this model amplifies rounding: PyTorch float32 and float64 part ways after "
            f"{fp32_stream['horizon_steps']} steps of a {len(stream)}-step stream (top-1 agreement "
            f"{fp32_stream['float32_top1_agreement']:.4f} over it); reset streams within that many steps")
    if not fp32_parity["passed"]:
        raise ExportGateError([f"fp32: {f}" for f in fp32_parity["failures"]], {}, {"fp32": fp32_parity})
    return fp32_core, fp32, fp32_session, fp32_parity, stream


def export(checkpoint: str | Path, out: str | Path | None = None, precisions: tuple[str, ...] | None = ("fp32",),
           data: str | Path | None = None, limits: ParityLimits = ParityLimits(),
           log: Callable[[str], None] = log_to_stderr,
           formats: tuple[str, ...] = ("onnx",), triton: str | Path | None = None,
           triton_name: str = "edgernn", progress: bool = False) -> dict[str, Artifact]:
    """Export one graph per precision beside the checkpoint (or under ``out``).

    Each graph passes its parity gates before it is written. When any precision fails, the
    others are still written and ExportGateError names every failed gate; nothing is written
    under a failed precision's name. precisions None: ``default_precisions`` for the model.
    formats: "onnx" always; with "ort" each graph is also written in ORT format, gated against
    its .onnx graph, and ``required_operators.config`` lists their operators (export/ort_format.py).
    triton: a folder to write a Triton model repository ``triton_name`` into (export/triton.py).
    progress: a bar over the checks (fp32, each other precision, Triton) on stderr, with the time
    left (runtime/progress.py).
    """
    unknown_formats = [f for f in formats if f not in FORMATS]
    if unknown_formats:
        raise InputError(f"unknown format {unknown_formats}; available: {list(FORMATS)}")
    unknown = [p for p in precisions or () if p not in AVAILABLE_PRECISIONS]
    if unknown:
        raise InputError(f"unknown precision {unknown}; available: {list(AVAILABLE_PRECISIONS)}")
    model, payload = load_checkpoint(checkpoint)
    if precisions is None:
        precisions = default_precisions(model.config.readout, log)
    bar = Progress.start(1 + sum(p != "fp32" for p in precisions) + (triton is not None), "checks", progress)
    log = bar.around(log)
    try:
        out_dir = Path(out) if out is not None else Path(payload["path"]).parent
        frontend = standardise_in_graph(model, frontend_from_json(payload["frontend"]))
        held_out = held_out_data(payload, data)
        if len(held_out) == 0:
            raise DataFormatError(f"{held_out.source}: no sequences to check parity on")
        sequences = [frontend(frontend.check(s, f"{held_out.source} case {i}")) for i, s in enumerate(held_out.sequences)]
        labels = held_out.label_ids(payload["labels"]) if held_out.labels is not None else None
        source_sha = file_sha256(payload["path"])
        contract = ExportContract.for_model(model)
        zero = [s.numpy() for s in model.zero_state(1)]
        audio = AudioGraphs.of(frontend, held_out.sequences, zero)
        # what gates comparing two written files feed them: the frames, or an audio file's samples
        graph_sequences, graph_zero = audio.gate_inputs() if audio else (sequences, zero)

        fp32_core, fp32, fp32_session, fp32_parity, stream = gated_fp32(model, contract, sequences, zero, audio, limits, log)
        bar.advance(1, "fp32")
        fp32_stream = fp32_parity["long_stream"]

        def finished(proto: onnx.ModelProto, precision: str, parity: dict, runtime: dict,
                     graph_contract: ExportContract = contract) -> tuple[bytes, dict]:
            """The file's bytes with its metadata written in, and its footprint. An audio model's
            files take samples (``audio``), but for the Triton variant, whose front end stays with
            the client."""
            joined = audio is not None and graph_contract is contract
            foot = graph_footprint(proto, model, precision, runtime, audio.state_specs() if joined else [])
            meta = graph_metadata(model, graph_contract, payload["labels"], (audio.frontend if joined else frontend).to_json(),
                                  precision, source_sha, compact(metadata_parity(parity)), compact(runtime), foot,
                                  payload.get("background"), dataset_summary(payload.get("dataset", {})))
            if joined:
                meta.features, meta.state = audio.frontend.features, [*meta.state, *audio.state_specs()]
            set_metadata(proto, meta.to_props())
            return proto.SerializeToString(), foot

        fp32_final = finished(fp32, "fp32", fp32_parity, {})
        fp32_bytes = len(fp32_final[0])  # the reference size, metadata included
        if triton is not None:
            batch_first = ExportContract.for_model(model, state_batch_axis=0)
            variant, _ = finished(export_onnx(model, batch_first), "fp32", fp32_parity, {}, batch_first)
            write_triton(Path(triton), triton_name, variant, batch_first, model, payload["labels"], fp32_session,
                         sequences[: limits.max_sequences], zero, limits, log)
            bar.advance(1, "triton")
        graph_stream = long_stream_input(graph_sequences, limits.long_stream_steps) if audio else stream
        if any(p != "fp32" for p in precisions):
            calibration, calibration_source = calibration_data(payload, sequences, frontend)  # the core's inputs
            core = CoreGraph(fp32_core, model, fp32_session, calibration, calibration_source, zero, list(contract.input_names[1:]))
        artifacts, failed, failures = {}, {}, []
        for precision in precisions:
            if precision == "fp32":
                parity, (blob, foot) = fp32_parity, fp32_final
            else:
                proto, runtime = PRECISION_BUILDERS[precision](core)
                log(f"{precision}: {runtime['quantization']['method']}; checking it against fp32")
                session = make_session(proto.SerializeToString(), session_config=runtime.get("session_config"),
                                       optimization=runtime.get("graph_optimization_level", "all"))
                parity = quantized_measurements(session, fp32_session, sequences, labels, zero, limits)
                parity["long_stream"] = long_stream_drift(session, lambda x, st: run_graph(fp32_session, x, st), zero, stream)
                parity["long_stream"]["float32_top1_agreement"] = fp32_stream["float32_top1_agreement"]
                if audio:
                    proto, parity["frontend_in_graph"] = audio.join(proto, session, runtime, limits)
                with_verdict(parity, judge(parity, (*QUANTIZED_GATES, *FRONTEND_QUANTIZED_GATES), limits))
                bar.advance(1, precision)
                if not parity["passed"]:
                    failed[precision] = parity
                    failures += [f"{precision}: {f}" for f in parity["failures"]]
                    continue
                blob, foot = finished(proto, precision, parity, runtime)
            path = write_bytes_atomic(out_dir / f"model.{precision}.onnx", blob)
            artifacts[precision] = Artifact(precision, path, len(blob), file_sha256(path), parity,
                                            {**foot, "bytes": len(blob), "bytes_vs_fp32": round(len(blob) / fp32_bytes, 4)})
            log(f"{precision}: wrote {path} ({len(blob)} bytes, {artifacts[precision].footprint['bytes_vs_fp32']:.3f}x fp32)")
            if "ort" in formats:
                ort_failures = write_ort(artifacts[precision], graph_sequences, labels, graph_zero, graph_stream, limits, log)
                failures += [f"{precision} (ORT format): {f}" for f in ort_failures]
        ort_files = [a.ort["path"] for a in artifacts.values() if a.ort]
        if ort_files:
            config = write_bytes_atomic(out_dir / OPERATORS_CONFIG, operators_config(ort_files).encode())
            log(f"wrote {config}")
        if failures:
            raise ExportGateError(failures, artifacts, failed)
        return artifacts
    finally:
        bar.close()
