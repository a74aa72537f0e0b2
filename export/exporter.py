"""The `export` library function behind `edgernn export`: checkpoint -> gated, atomically written graphs."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from edgernn.export.onnx_export import ExportContract, export_onnx, graph_metadata, set_metadata
from edgernn.export.parity import ParityError, ParityLimits, fp32_gates
from edgernn.runtime._files import file_sha256, write_bytes_atomic
from edgernn.runtime.datasets import SequenceSet, load_train_test, read_sequences
from edgernn.runtime.errors import DataFormatError, InputError
from edgernn.runtime.frontend import frontend_from_json
from edgernn.runtime.model import make_session
from edgernn.trainer.checkpoint import load_checkpoint

AVAILABLE_PRECISIONS = ("fp32",)


@dataclass
class Artifact:
    precision: str
    path: Path
    bytes: int
    sha256: str
    parity: dict

    def to_report(self, relative_to: Path) -> dict:
        try:
            path = str(self.path.resolve().relative_to(relative_to.resolve()))
        except ValueError:
            path = str(self.path.resolve())
        return {"path": path, "bytes": self.bytes, "sha256": self.sha256}


def held_out_data(checkpoint_payload: dict, data: str | Path | None) -> SequenceSet:
    """The sequences the gates run on: ``data`` (a file, or a folder whose test split is used),
    else the test split recorded in the checkpoint when it is still on disk."""
    if data is None:
        recorded = checkpoint_payload.get("dataset", {}).get("test_path")
        if not recorded or not Path(recorded).is_file():
            raise InputError("the parity gates need held-out data: pass --data PATH (the checkpoint's test split is not on disk)")
        data = recorded
    data = Path(data)
    if data.is_dir():
        return load_train_test(data)[1]
    return read_sequences(data)


def export(checkpoint: str | Path, out: str | Path | None = None, precisions: tuple[str, ...] = ("fp32",),
           data: str | Path | None = None, limits: ParityLimits = ParityLimits(),
           log: Callable[[str], None] = lambda m: print(m, file=sys.stderr, flush=True)) -> dict[str, Artifact]:
    """Export one graph per precision beside the checkpoint (or under ``out``).

    Each graph passes its parity gates before it is written; a failed gate raises ParityError
    naming every failed gate, and nothing is written under the final name.
    """
    unknown = [p for p in precisions if p not in AVAILABLE_PRECISIONS]
    if unknown:
        raise InputError(f"unknown precision {unknown}; available: {list(AVAILABLE_PRECISIONS)}")
    model, payload = load_checkpoint(checkpoint)
    out_dir = Path(out) if out is not None else Path(payload["path"]).parent
    frontend = frontend_from_json(payload["frontend"])
    held_out = held_out_data(payload, data)
    if len(held_out) == 0:
        raise DataFormatError(f"{held_out.source}: no sequences to check parity on")
    sequences = [frontend(frontend.check(s, f"{held_out.source} case {i}")) for i, s in enumerate(held_out.sequences)]
    source_sha = file_sha256(payload["path"])
    contract = ExportContract.for_model(model)
    artifacts = {}
    for precision in precisions:
        proto = export_onnx(model, contract)
        log(f"{precision}: checking parity on {min(len(sequences), limits.max_sequences)} held-out sequences")
        parity = fp32_gates(make_session(proto.SerializeToString()), model, sequences, limits)
        if not parity["passed"]:
            raise ParityError([f"{precision}: {f}" for f in parity["failures"]])
        meta = graph_metadata(model, contract, payload["labels"], payload["frontend"], precision, source_sha,
                              {k: v for k, v in parity.items() if k != "failures"})
        set_metadata(proto, meta.to_props())
        blob = proto.SerializeToString()
        path = write_bytes_atomic(out_dir / f"model.{precision}.onnx", blob)
        log(f"{precision}: wrote {path} ({len(blob)} bytes), max |onnx - torch| {parity['max_abs_diff']:.2e}, "
            f"streaming {parity['stream_max_abs_diff']:.2e}")
        artifacts[precision] = Artifact(precision, path, len(blob), file_sha256(path), parity)
    return artifacts
