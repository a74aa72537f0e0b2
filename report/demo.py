"""`edgernn demo RUN`: a static folder that runs an exported graph in the browser with
onnxruntime-web (WebAssembly, one thread), copied into the folder so that it needs no network.

    RUN/demo/index.html   the page: streams the bundled input step by step and draws the
                          probabilities live; for an audio graph that computes its own log-mel
                          frames, also the microphone (where the browser allows it)
    RUN/demo/demo.js      the streaming loop: the graph's state fed back step by step
    RUN/demo/demo.json    labels, input and state names and shapes, the bundled input's steps
                          (the front end already applied where the graph does not apply it)
                          and the Python runtime's probabilities for them
    RUN/demo/model.<precision>.onnx, RUN/demo/ort/   the graph, and onnxruntime-web's files

Browsers load WebAssembly and modules only over HTTP, so the folder is served, by any static
server or `edgernn demo RUN --serve` (a local server, nothing leaves the machine).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from edgernn.runtime.files import write_bytes_atomic, write_json_atomic
from edgernn.runtime.errors import InputError
from edgernn.runtime.softmax import softmax

ORT_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")
# Where `cd interop/web && npm ci` puts onnxruntime-web, beside this package in a source checkout.
BUNDLED_ORT = Path(__file__).resolve().parents[1] / "interop" / "web" / "node_modules" / "onnxruntime-web" / "dist"
PAGE = Path(__file__).with_name("demo_page")


def find_ort_web(given: str | Path | None) -> Path:
    """The folder holding onnxruntime-web's ORT_FILES: ``given``, else the source checkout's."""
    folder = Path(given) if given else BUNDLED_ORT
    missing = [name for name in ORT_FILES if not (folder / name).is_file()]
    if missing:
        raise InputError(f"{folder}: no onnxruntime-web files ({', '.join(missing)}); install them with "
                         "`cd interop/web && npm ci`, or give --ort-web DIR (node_modules/onnxruntime-web/dist)")
    return folder


def write_demo(run_dir: str | Path, precision: str = "fp32", out: str | Path | None = None,
               ort_web: str | Path | None = None) -> Path:
    """Write the demo folder for ``run_dir``'s ``precision`` graph; returns the folder."""
    from edgernn.report.html import read_json, sample_input
    from edgernn.runtime import Model

    run_dir = Path(run_dir)
    graph = run_dir / f"model.{precision}.onnx"
    if not graph.is_file():
        raise InputError(f"{run_dir}: no {graph.name} (export it first: edgernn export {run_dir} --precision {precision})")
    ort_folder = find_ort_web(ort_web)
    model = Model(graph, threads=1)
    sequence, what = sample_input(read_json(run_dir, "metrics.json", "the run folder is incomplete").get("dataset") or {}, model)
    steps = graph_steps(model, sequence)
    expected = stream_steps(model, steps)
    folder = Path(out) if out else run_dir / "demo"
    (folder / "ort").mkdir(parents=True, exist_ok=True)
    for name in ORT_FILES:
        shutil.copyfile(ort_folder / name, folder / "ort" / name)
    shutil.copyfile(graph, folder / graph.name)
    for name in ("index.html", "demo.js"):
        write_bytes_atomic(folder / name, (PAGE / name).read_bytes())
    write_json_atomic(folder / "demo.json", demo_config(model, graph.name, steps, expected, what))
    return folder


def graph_steps(model, sequence) -> np.ndarray:
    """What the graph reads, one row per step: float32 feature frames [steps, features], int64
    token ids [steps], or for an audio graph with its own front end the hops of samples
    [steps, hop] of a stream that starts in silence (its zero state)."""
    checked = model.frontend.check(sequence, "the demo input")
    if model.frontend.kind == "logmel" and model.frontend.in_graph:
        return model.frontend.hops_from_silence(checked)
    return model.frontend(checked)


def stream_steps(model, steps: np.ndarray) -> np.ndarray:
    """Probabilities after each step of ``steps`` fed one at a time from zero state (the graph's
    own x), as the page feeds them: float32 [steps, classes]."""
    state = model.zero_state(1)
    rows = []
    for step in steps:
        logits, state = model.run(step[None, None], state)
        rows.append(softmax(logits[0, 0]))
    return np.asarray(rows, np.float32)


def demo_config(model, graph_name: str, steps: np.ndarray, expected: np.ndarray, what: str) -> dict:
    frontend = model.frontend
    audio = frontend.kind == "logmel"
    return {
        "model": graph_name, "labels": model.labels, "what": what,
        "x": {"dtype": "int64" if steps.dtype == np.int64 else "float32", "step_shape": list(steps.shape[1:])},
        "state": [{"name": s.name, "output": s.output, "shape": list(s.zeros_shape(1))} for s in model.state_specs],
        "audio": {"sample_rate": frontend.config.sample_rate, "hop": frontend.config.hop,
                  "microphone": bool(frontend.in_graph)} if audio else None,
        "step_s": frontend.config.hop / frontend.config.sample_rate if audio else None,
        "steps": steps.tolist(), "expected": np.round(expected.astype(np.float64), 7).tolist(),
    }
