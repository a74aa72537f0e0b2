"""Checkpoints: one dict that rebuilds the model alone, loadable with ``weights_only=True``.

{"format": "edgernn.checkpoint", "version": 1, "model_config": {...}, "state_dict": {...},
 "labels": [...], "frontend": {...}, "train_config": {...}, "dataset": {...}, "metrics": {...}}
Only tensors, numbers, strings, lists and dicts: nothing that needs unpickling code.
"""

from __future__ import annotations

import io
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from edgernn.runtime.files import write_bytes_atomic
from edgernn.runtime.file_kinds import graph_given_as_checkpoint
from edgernn.runtime.errors import CheckpointError
from edgernn.trainer.network import ModelConfig, RecurrentClassifier

CHECKPOINT_FORMAT = "edgernn.checkpoint"
CHECKPOINT_VERSION = 1
REQUIRED = ("model_config", "state_dict", "labels", "frontend")


def save_checkpoint(path: str | Path, model: RecurrentClassifier, labels: list[str], frontend: dict, **extra: Any) -> Path:
    """Write atomically; ``extra`` holds JSON-like values (train_config, dataset, metrics...)."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "model_config": model.config.to_dict(),
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "labels": list(labels),
        "frontend": frontend,
        **extra,
    }
    return save_payload(path, payload)


def save_payload(path: str | Path, payload: dict) -> Path:
    """``torch.save`` of a dict of tensors and plain values, written atomically (an interrupted
    write leaves the previous file in place)."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return write_bytes_atomic(path, buffer.getvalue())


def read_checkpoint(path: str | Path) -> dict:
    """Load the dict with ``torch.load(weights_only=True)``: a pickle that would run code is refused."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.pt"
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint")
    advice = graph_given_as_checkpoint(path)
    if advice:
        raise CheckpointError(advice)
    payload = load_payload(path, "checkpoint", CHECKPOINT_FORMAT, CHECKPOINT_VERSION, REQUIRED)
    payload["path"] = str(path)
    return payload


def load_payload(path: Path, kind: str, payload_format: str, version: int, required: tuple[str, ...] = ()) -> dict:
    """A dict written by ``save_payload``, loaded with ``torch.load(weights_only=True)`` (a pickle
    that would run code is refused) and checked: its ``format`` is ``payload_format``, it holds
    ``required``, its version is at most ``version``. ``kind`` names the file in the errors
    (CheckpointError): "checkpoint", "training state"."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: refused to load: not a weights-only {kind} of tensors and plain containers "
            f"({_unpickler_detail(str(exc))})"
        ) from None
    except Exception as exc:  # torch.load on arbitrary bytes raises assorted types (IndexError, RuntimeError, ...)
        raise CheckpointError(f"{path}: not a readable torch {kind} ({type(exc).__name__}: {str(exc)[:200]})") from None
    if not isinstance(payload, dict) or payload.get("format") != payload_format:
        raise CheckpointError(f"{path}: not an edgernn {kind} (expected a dict with format {payload_format!r})")
    missing = [key for key in required if key not in payload]
    if missing:
        raise CheckpointError(f"{path}: {kind} lacks {missing}")
    if payload.get("version", 0) > version:
        raise CheckpointError(f"{path}: {kind} version {payload['version']} is newer than {version}; upgrade edgernn")
    return payload


def _unpickler_detail(message: str) -> str:
    """The one informative line of torch's weights-only error (never its advice to disable the check)."""
    match = re.search(r"WeightsUnpickler error:\s*(.+?)(?:\. Please|\n\n|$)", message, flags=re.S)
    return " ".join(match.group(1).split())[:200] if match else message.splitlines()[0][:200]


def load_checkpoint(path: str | Path) -> tuple[RecurrentClassifier, dict]:
    """Rebuild the model (eval mode) from a checkpoint file or a run folder holding model.pt."""
    payload = read_checkpoint(path)
    try:
        model = RecurrentClassifier(ModelConfig(**payload["model_config"]))
        model.load_state_dict(payload["state_dict"])
    except (TypeError, RuntimeError) as exc:
        raise CheckpointError(f"{payload['path']}: weights do not fit the model config ({str(exc)[:300]})") from None
    model.eval()
    return model, payload

