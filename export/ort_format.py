"""`edgernn export --format ort`: the graphs in ORT format, for onnxruntime's minimal builds.

A minimal (reduced-operator) onnxruntime build runs only ORT-format files and only the operators
it was built with. For every graph exported, ``model.<precision>.ort`` is the graph as
onnxruntime saves it after its *basic* optimisations (constant folding, redundant-node removal:
portable to any CPU; the hardware-specific fusions of the higher levels are left to the device);
its ``edgernn.*`` metadata is kept. It passes the same gates as the graph it came from, run
against that graph on the held-out data, before it is written. ``required_operators.config``
beside them lists the operators of every ORT file of the folder, in the form onnxruntime's
build takes (``--include_ops_by_config``).

An int8-dynamic graph stores its weights int8 and scales them with ``Cast`` + ``Mul``; the basic
level folds those into float32, so its ORT file is the size of the fp32 one but steps as fast
(keeping them unfolded keeps the size and costs a dequantisation per call: 83 KB and 130 us a
step against 279 KB and 30 us for a GRU of 128 units, `edgernn bench` on both files on this
project's development CPU).
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import onnxruntime as ort

OPERATORS_CONFIG = "required_operators.config"


def convert_to_ort(onnx_path: Path, folder: Path) -> Path:
    """Save ``onnx_path`` in ORT format under ``folder`` (same name, ``.ort``); returns the path."""
    target = folder / (onnx_path.stem + ".ort")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(target)
    options.add_session_config_entry("session.save_model_format", "ORT")
    ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
    return target


def operators_config(ort_files: list[Path]) -> str:
    """The text of a ``required_operators.config`` covering ``ort_files``."""
    from onnxruntime.tools.ort_format_model import create_config_from_models

    logging.getLogger("ort_format_model.utils").setLevel(logging.WARNING)  # it logs each config it writes
    with tempfile.TemporaryDirectory() as scratch:
        config = Path(scratch) / OPERATORS_CONFIG
        create_config_from_models([Path(p) for p in ort_files], config, enable_type_reduction=False)
        lines = config.read_text().splitlines()
    # the tool's header names the files by their (temporary) paths: name them by file name
    return "\n".join([line for line in lines if not line.startswith("#")]) + "\n"
