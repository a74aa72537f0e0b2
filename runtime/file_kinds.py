"""What a file is, from its first bytes, for error messages that say what was given and what to
do: a PyTorch checkpoint given where a graph belongs, a graph given where a checkpoint belongs.
Reads bytes and zip listings only; never unpickles anything."""

from __future__ import annotations

import zipfile
from pathlib import Path

HEAD_BYTES = 4096


def file_kind(path: str | Path) -> str | None:
    """"checkpoint" (a torch.save zip archive), "onnx" (an ONNX protobuf), "ort" (onnxruntime's
    ORT format), "folder", or None when it is none of these (or unreadable)."""
    path = Path(path)
    if path.is_dir():
        return "folder"
    try:
        with open(path, "rb") as handle:
            head = handle.read(HEAD_BYTES)
    except OSError:
        return None
    if head[4:8] == b"ORTM":
        return "ort"
    if head[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError):
            return None
        return "checkpoint" if any(name.endswith("/data.pkl") or name == "data.pkl" for name in names) else None
    if head[:1] == b"\x08" and (b"onnx" in head.lower() or b"edgernn" in head):  # ModelProto: ir_version first
        return "onnx"
    return None


def graph_given_as_checkpoint(path: str | Path) -> str | None:
    """The advice for ``path`` given where a checkpoint (model.pt) belongs, when it is a graph."""
    kind = file_kind(path)
    if kind in ("onnx", "ort"):
        return (f"{path} is an exported {'ONNX' if kind == 'onnx' else 'ORT-format'} graph, not a checkpoint: give the "
                "run's model.pt (or its run folder), which export, calibrate and tune read")
    return None


def checkpoint_given_as_graph(path: str | Path) -> str | None:
    """The advice for ``path`` given where an exported graph belongs, when it is a checkpoint."""
    if file_kind(path) == "checkpoint":
        return (f"{path} is a PyTorch checkpoint (model.pt), not an exported graph: export it first "
                "(`edgernn export RUN`), then give RUN/model.<precision>.onnx")
    return None
