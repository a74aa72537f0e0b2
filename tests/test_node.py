"""Exported graphs run from Node.js with onnxruntime-node alone (interop/node): the file's own
metadata and front end, a stream carried chunk by chunk, equal to the Python runtime's steps."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgernn.runtime import Model

NODE_DIR = Path(__file__).resolve().parent.parent / "interop" / "node"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (NODE_DIR / "node_modules" / "onnxruntime-node").is_dir(),
    reason="needs node and onnxruntime-node: cd interop/node && ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm ci "
           "(.ci/run does it)")


def stream_steps(model: Model, whole, chunks: list[int]) -> np.ndarray:
    """The Python runtime's probabilities at every step of one stream over ``whole`` pushed in
    pieces of ``chunks`` then the rest, as the Node.js check pushes it (a float16 graph's sums
    depend on the chunking)."""
    stream = model.stream()
    cuts = np.cumsum(chunks).tolist()
    pieces = [whole[a:b] for a, b in zip([0, *cuts], [*cuts, len(whole)])]
    return np.concatenate([*(stream.push(piece) for piece in pieces), stream.flush()])


def feature_cases(name: str, path: Path, sequences: list[np.ndarray], rng: np.random.Generator) -> list[dict]:
    model = Model(path)
    cases = []
    for i, seq in enumerate(sequences):
        chunks = np.diff(np.concatenate([[0], np.sort(rng.integers(1, len(seq), size=3))])).tolist()
        cases.append({"name": f"{name} case {i}", "model": str(path), "frames": seq.tolist(), "chunks": chunks,
                      "expected": stream_steps(model, seq, chunks).tolist(), "tolerance": 1e-5})
    return cases


def run_node(cases: list[dict], tmp_path: Path) -> list[dict]:
    file = tmp_path / "cases.json"
    file.write_text(json.dumps({"cases": cases}))
    done = subprocess.run(["node", str(NODE_DIR / "check.mjs"), str(file)], capture_output=True, text=True, timeout=600)
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    assert done.returncode == 0, done.stdout + done.stderr
    return lines


def test_feature_graphs_stream_from_node_as_from_python(raw_input_runs, sample_test_file, tmp_path):
    from edgernn.runtime.datasets import read_ts

    sequences = read_ts(sample_test_file).sequences[::37]  # 10 of the 370 test cases, 7-29 steps
    rng = np.random.default_rng(0)
    cases = [case for name, (_, artifacts) in raw_input_runs.items() for precision, artifact in artifacts.items()
             for case in feature_cases(f"{name} {precision}", artifact.path, sequences, rng)]
    lines = run_node(cases, tmp_path)
    assert len(lines) == len(cases) + 1 and lines[-1] == {"cases": len(cases), "failed": 0}
    for line, case in zip(lines, cases):
        assert line["passed"] and line["steps"] == len(case["expected"]) and line["max_abs_diff"] <= 1e-5, line
    framed = [line for line in lines[:-1] if line["name"].startswith("framed")]
    assert framed and all(line["steps"] < 29 // 3 + 1 for line in framed)  # steps stacked 3 at a time


def test_a_text_graph_tokenizes_and_streams_from_node_as_from_python(tmp_path):
    from test_text_model import write_posts

    from edgernn.export.exporter import export
    from edgernn.runtime.splits import load_train_test
    from edgernn.trainer.config import TrainConfig
    from edgernn.trainer.train import train

    write_posts(tmp_path / "posts-train", 12, seed=0)
    write_posts(tmp_path / "posts-test", 3, seed=1)
    outcome = train(tmp_path / "posts-train", tmp_path / "run", {"cell": "gru", "hidden": 16, "embed_dim": 8},
                    TrainConfig(epochs=2, threads=1, min_count=1, seed=0), log=lambda m: None)
    artifacts = export(outcome.checkpoint, precisions=("fp32", "int8-dynamic"), log=lambda m: None)
    _, test = load_train_test(tmp_path / "posts-train")
    texts = list(test.sequences) + ["Don't stop: the ROCKET'S orbit -- naïve café, o'neill's ΣΑΣ! unknownword 42"]
    rng = np.random.default_rng(1)
    cases = []
    for precision, artifact in artifacts.items():
        model = Model(artifact.path)
        for i, text in enumerate(texts):
            ids = model.frontend(text)  # the word ids: the check pushes them in the same pieces
            chunks = np.diff(np.concatenate([[0], np.sort(rng.integers(1, len(ids), size=2))])).tolist()
            cases.append({"name": f"text {precision} case {i}", "model": str(artifact.path), "text": text,
                          "chunks": chunks, "expected": stream_steps(model, ids, chunks).tolist(), "tolerance": 1e-5})
    lines = run_node(cases, tmp_path)
    assert lines[-1] == {"cases": len(cases), "failed": 0}
    assert all(line["passed"] and line["steps"] == len(case["expected"]) for line, case in zip(lines, cases))


def test_an_audio_graph_computes_its_frames_from_samples_in_node_as_in_python(audio_graphs, tmp_path):
    outcome, artifacts = audio_graphs
    clips = outcome.test_set.sequences
    rng = np.random.default_rng(2)
    cases = []
    for precision, artifact in artifacts.items():
        model = Model(artifact.path)
        for i, clip in enumerate(clips):
            # pieces of any size: some shorter than the primer or a hop, none a multiple of the hop
            chunks = np.diff(np.concatenate([[0], np.sort(rng.integers(1, len(clip), size=5))])).tolist()
            cases.append({"name": f"audio {precision} case {i}", "model": str(artifact.path), "samples": clip.tolist(),
                          "chunks": chunks, "expected": stream_steps(model, clip, chunks).tolist(), "tolerance": 1e-4})
    lines = run_node(cases, tmp_path)
    assert lines[-1] == {"cases": len(cases), "failed": 0}
    for line, case, clip in zip(lines, cases, [c for _ in artifacts for c in clips]):
        assert line["passed"] and line["steps"] == len(case["expected"]) == model.frontend.config.frame_count(len(clip)), line
