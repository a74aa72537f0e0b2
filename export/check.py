"""`edgernn check MODEL.onnx --data ...`: every parity gate that applies to one exported file.

- fp32 vs PyTorch (when the checkpoint is given), at batch 1 and 3; for an audio file that
  computes its own frames, on whole recordings, PyTorch fed the Python front end's frames;
- streaming in chunks of 1, 7 and 16 steps vs one call;
- a long stream (10,000 steps by default) carried through the state: drift of logits and state
  against PyTorch (fp32 file with a checkpoint) or the fp32 graph (a quantized file), and
  whether everything stays finite;
- quantized vs fp32 (a quantized file; the fp32 graph is ``--reference`` or model.fp32.onnx
  beside it): top-1 agreement, accuracy difference, logit differences relative to their spread.
All gates are measured, then judged; the result lists each gate's value, limit and verdict.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgernn.export.gates import (
    FP32_GATES, FRONTEND_FP32_GATES, FRONTEND_STREAM_GATE, QUANTIZED_GATES, Gate, ParityLimits, frontend_in_graph, judge,
    long_stream_drift, long_stream_input, quantized_measurements, run_graph, streaming_vs_whole,
)
from edgernn.runtime.files import file_sha256
from edgernn.runtime.splits import check_fits_model, read_held_out
from edgernn.runtime.errors import InputError
from edgernn.runtime.metadata import baselines_line
from edgernn.runtime.model import Model
from edgernn.runtime.scoring import StreamScore, Utterance, score_stream
from edgernn.runtime.metadata import baseline_warnings


@dataclass
class CheckResult:
    model: str
    precision: str
    gates: list[Gate] = field(default_factory=list)
    details: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    @property
    def failures(self) -> list[str]:
        return [g.describe() for g in self.gates if not g.passed]

    def to_json(self) -> dict:
        return {"model": self.model, "precision": self.precision, "passed": self.passed,
                "gates": [g.to_json() for g in self.gates], "details": self.details}


def check(model_path: str | Path, data: str | Path, checkpoint: str | Path | None = None,
          reference: str | Path | None = None, limits: ParityLimits = ParityLimits(),
          label_regex: str | None = None, test_regex: str | None = None, strip: tuple[str, ...] = ()) -> CheckResult:
    """Run every gate that applies to ``model_path`` on held-out ``data`` (a file, or a folder
    whose test split is used: for WAV folders, the one ``test_regex`` picks); judged by the same
    rules as `export`'s gates."""
    model = Model(model_path, threads=1)
    data = Path(data)
    held_out = read_held_out(data, label_regex, test_regex, strip)
    check_fits_model(held_out, model)
    checked = [model.frontend.check(s, f"{held_out.source} case {i}", model.allow_nonfinite)
               for i, s in enumerate(held_out.sequences[: limits.max_sequences])]
    audio_in_graph = model.frontend.kind == "logmel" and model.frontend.in_graph
    prepare = model.frontend.hops_from_silence if audio_in_graph else model.frontend  # in-graph audio: from zero state
    sequences = [prepare(samples) for samples in checked]
    labels = held_out.label_ids(model.labels)[: len(sequences)] if held_out.labels is not None else None
    zero = list(model.zero_state(1).values())
    stream = long_stream_input(sequences, limits.long_stream_steps)

    if model.metadata.precision == "fp32":
        summary = streaming_vs_whole(model.session, sequences, zero, limits.chunks)
        rules = FP32_GATES
        if checkpoint is None:  # without a checkpoint the long stream is judged on finiteness alone
            summary["long_stream"] = long_stream_drift(model.session, None, zero, stream)
        else:
            from edgernn.export.exporter import standardise_in_graph  # the PyTorch side: torch from here on
            from edgernn.export.parity import fp32_vs_torch, long_stream_vs_torch, run_torch
            from edgernn.runtime.frontend import frontend_from_json
            from edgernn.trainer.checkpoint import load_checkpoint

            same_source(model_path, model.metadata.source, checkpoint_file(checkpoint), file_sha256(checkpoint_file(checkpoint)))
            torch_model, payload = load_checkpoint(checkpoint)
            if model.metadata.schema_version >= 2:  # the graph standardises its raw input: so must PyTorch's model
                standardise_in_graph(torch_model, frontend_from_json(payload["frontend"]))
            if audio_in_graph:  # PyTorch takes frames, the file samples: compared on whole recordings
                torch_zero = [s.numpy() for s in torch_model.zero_state(1)]
                summary["frontend_in_graph"] = frontend_in_graph(
                    model.session, lambda frames: run_torch(torch_model, frames, torch_zero)[0], checked, model.frontend,
                    limits.chunks)
                summary["long_stream"] = long_stream_drift(model.session, None, zero, stream)
                rules = (*FP32_GATES, *FRONTEND_FP32_GATES, FRONTEND_STREAM_GATE)
            else:
                summary.update(fp32_vs_torch(model.session, torch_model, sequences))
                summary["long_stream"] = long_stream_vs_torch(model.session, torch_model, zero, stream, limits)
    else:
        reference = Path(reference) if reference is not None else Path(model_path).with_name("model.fp32.onnx")
        if not reference.is_file():
            raise InputError(f"a {model.metadata.precision} file is checked against its fp32 graph: pass --reference "
                             f"(no {reference.name} beside {model_path})")
        fp32 = Model(reference, threads=1)
        same_source(model_path, model.metadata.source, reference, fp32.metadata.source)
        summary = quantized_measurements(model.session, fp32.session, sequences, labels, zero, limits)
        summary["long_stream"] = long_stream_drift(model.session, lambda x, s: run_graph(fp32.session, x, s), zero, stream)
        own = fp32.metadata.parity.get("long_stream", {}).get("float32_top1_agreement")
        if isinstance(own, (int, float)):  # how often the model agrees with itself in float64 (fp32 export)
            summary["long_stream"]["float32_top1_agreement"] = float(own)
        rules = QUANTIZED_GATES
    result = CheckResult(str(model_path), model.metadata.precision, judge(summary, rules, limits), summary)
    if labels is not None:
        result.details["baselines"] = against_baselines(model, checked, labels)
    return result


def checkpoint_file(checkpoint: str | Path) -> Path:
    path = Path(checkpoint)
    return path / "model.pt" if path.is_dir() else path


def same_source(model_path: str | Path, model_source: str, other: str | Path, other_source: str) -> None:
    """Refuse to compare a graph with a checkpoint or graph of another training run: the parity
    gates would fail for a reason that is not the export's. ``*_source``: the SHA-256 of the
    checkpoint each was exported from (``edgernn.source``; a checkpoint's own SHA-256)."""
    if model_source and other_source and model_source != other_source:
        raise InputError(f"{model_path} and {other} come from different training runs (checkpoint SHA-256 "
                         f"{model_source[:12]}... against {other_source[:12]}...): check a graph against the "
                         "checkpoint and fp32 graph of its own run")


def against_baselines(model: Model, inputs: list, labels: np.ndarray) -> dict:
    """The file's accuracy on the checked cases (raw inputs, answered as ``Model.predict`` answers
    them), and the baselines its training run measured on its test split (the graph's
    ``dataset`` metadata), with a warning for each one it does not beat."""
    accuracy = float((model.predict(inputs).argmax(1) == labels).mean())
    recorded = model.metadata.dataset.get("baselines") or {}
    return {"accuracy": accuracy, "cases": len(inputs), "recorded": recorded,
            "warnings": baseline_warnings(accuracy, recorded)}


def format_table(result: CheckResult) -> str:
    rows = [("gate", "value", "limit", "result")]
    rows += [(g.name, f"{g.value:.4g}", f"{g.relation} {g.limit:g}", "pass" if g.passed else "FAIL") for g in result.gates]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def baseline_lines(result: CheckResult) -> list[str]:
    """The accuracy on the checked cases beside the recorded baselines, and any warning, in words."""
    entry = result.details.get("baselines")
    if not entry:
        return []
    lines = [f"accuracy {entry['accuracy']:.4f} on {entry['cases']} cases"]
    recorded = entry["recorded"]
    if recorded:
        lines.append(baselines_line(recorded, "on the training run's test split"))
    return lines + [f"warning: {w}" for w in entry["warnings"]]


def read_truth(path: str | Path) -> list[Utterance]:
    """A stream's truth: a JSON list of {"label", "start_s", "end_s"} (or {"truth": [...]})."""
    try:
        rows = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: not a JSON truth file ({exc})") from None
    rows = rows.get("truth") if isinstance(rows, dict) else rows
    if not isinstance(rows, list):
        raise InputError(f"{path}: expected a JSON list of {{\"label\", \"start_s\", \"end_s\"}} entries")
    bad = [i for i, row in enumerate(rows) if not isinstance(row, dict)]
    if bad:
        raise InputError(f"{path}: entry {bad[0]} is not a {{\"label\", \"start_s\", \"end_s\"}} object")
    return [Utterance.from_json(row) for row in rows]


def stream_check(model_path: str | Path, streams: list[tuple[str, str]], min_recall: float = 0.9,
                 max_false_alarms_per_hour: float | None = None) -> CheckResult:
    """Judge an audio model on recordings with their truth ((WAV, truth JSON) pairs): stream each
    hop by hop, detect events with the model's own detector (its calibrated operating point, else
    the defaults: ``Detector.for_model``), score them by runtime/scoring.py's rule. Gates: recall
    >= ``min_recall`` and false alarms per hour <= ``max_false_alarms_per_hour`` (None: the
    budget the file was calibrated for, else 1)."""
    from edgernn.runtime.calibration import clock_of, stream_probabilities
    from edgernn.runtime.detect import Detector
    from edgernn.runtime.wav import read_wav

    model = Model(model_path, threads=1)
    if model.frontend.kind != "logmel":
        raise InputError(f"--stream judges an audio model on recordings; {model_path} takes {model.frontend.kind} input")
    detector, clock = Detector.for_model(model), clock_of(model)
    keywords = [label for label in model.labels if label not in detector.config.ignore]
    total = StreamScore(keywords)
    for wav, truth_path in streams:
        samples, rate = read_wav(wav)
        if rate != model.frontend.config.sample_rate:
            raise InputError(f"{wav}: {rate} Hz; the model was trained at {model.frontend.config.sample_rate} Hz")
        truth = read_truth(truth_path)
        events = detector.events_of(stream_probabilities(model, samples))
        total.add(score_stream([(e.label, clock.at(e.start)) for e in events], truth, len(samples) / rate, keywords))
    if max_false_alarms_per_hour is None:
        max_false_alarms_per_hour = float(model.metadata.detector.get("target_false_alarms_per_hour", 1.0))
    recall = total.recall()
    gates = [Gate("stream_recall", float("nan") if recall is None else recall, ">=", min_recall),
             Gate("stream_false_alarms_per_hour", total.false_alarms_per_hour(), "<=", max_false_alarms_per_hour)]
    config = detector.config
    return CheckResult(str(model_path), model.metadata.precision, gates, {"stream": {
        **total.to_json(), "detector": {"window": config.window, "min_steps": config.min_steps, "refractory": config.refractory,
                                        "hold": config.hold, "thresholds": config.threshold,
                                        "calibrated": bool(model.metadata.detector)}}})


def stream_lines(result: CheckResult) -> list[str]:
    """The stream gates' counts and the detector they were measured with, in words."""
    entry = result.details.get("stream")
    if not entry:
        return []
    detector = entry["detector"]
    return [f"streams: {entry['seconds']:g} s, {entry['caught']} of {entry['said']} keywords caught, {entry['false_alarms']} "
            f"false alarms ({entry['false_alarms_per_hour']:g} per hour, 95% bound {entry['false_alarms_per_hour_upper95']:g}); "
            f"detector {'calibrated' if detector['calibrated'] else 'defaults'}: window {detector['window']}, "
            f"min steps {detector['min_steps']}, refractory {detector['refractory']}, hold {detector['hold']}"]
