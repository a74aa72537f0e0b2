"""Plain onnxruntime on raw inputs against the Python runtime, on a run's whole test split.

    python benchmarks/plain_onnxruntime.py RUN [RUN ...] [--out FILE]

For every exported ``.onnx`` file of each run (``edgernn train`` + ``edgernn export``), every case
of the run's test split is answered twice: by ``Model.predict`` (batch size 1: dynamic int8
quantizes per call, so one case per call is what a bare session is compared with), and by a bare
``onnxruntime.InferenceSession`` that knows nothing of edgernn, only what the file's own metadata
says (read with onnx), doing what a deployment in another language does:
- feature models: the raw frames as they are, float32 [1, steps, features] (a ``--frame N``
  model: N raw steps stacked per graph step);
- audio models: the recording's first ``primer_samples`` samples into the ``primer_state``
  state, the rest as whole hops [1, hops, hop];
- text models: the text lowercased, its words found by the file's ``word_pattern`` (Python's
  ``re``), each word's id its index in the vocabulary (1 when absent), the first ``max_tokens``
  words, a padding id 0 when there are none;
every other state zero, the softmax of the last step's logits. Writes JSON: per file, the cases,
the share with the same top-1 answer and the largest probability difference.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

from edgernn.export.exporter import recorded_split
from edgernn.runtime import Model
from edgernn.trainer.checkpoint import load_checkpoint
from results_file import write_result


def bare_session(path: Path) -> tuple[ort.InferenceSession, dict]:
    """A session on the file at the optimisation level its metadata asks for, and its metadata."""
    meta = {p.key[len("edgernn."):]: p.value for p in onnx.load(str(path)).metadata_props if p.key.startswith("edgernn.")}
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    if json.loads(meta.get("runtime", "{}")).get("graph_optimization_level") == "basic":  # fp16 files ask for it
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"]), meta


def graph_feeds(frontend: dict, raw) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One raw case -> (x [1, steps, ...], the states it starts from other than zeros)."""
    kind = frontend["kind"]
    if kind == "logmel":
        spec = frontend["in_graph"]
        hop, primer = spec["step_samples"], spec["primer_samples"]
        hops = (len(raw) - primer) // hop
        return raw[None, primer: primer + hops * hop].reshape(1, hops, hop), {spec["primer_state"]: raw[None, :primer]}
    if kind == "text":
        words = re.findall(frontend["word_pattern"], raw.lower())[: frontend["max_tokens"]]
        index = {word: i for i, word in enumerate(frontend["vocabulary"]["words"])}
        ids = [index.get(word, 1) for word in words] or [0]
        return np.array([ids], dtype=np.int64), {}
    frames = np.asarray(raw, dtype=np.float32)
    step = frontend.get("frame", 1)
    steps = len(frames) // step
    return frames[: steps * step].reshape(1, steps, -1), {}


def plain_answers(path: Path, cases: list) -> np.ndarray:
    """float64 [cases, classes]: the bare session's probabilities after each case's last step."""
    session, meta = bare_session(path)
    frontend = json.loads(meta["frontend"])
    answers = []
    for raw in cases:
        x, primed = graph_feeds(frontend, raw)
        feeds = {i.name: np.zeros([d if isinstance(d, int) else 1 for d in i.shape], np.float32)
                 for i in session.get_inputs()[1:]}
        feeds.update(primed, x=x)
        logits = session.run(["logits"], feeds)[0][0, -1].astype(np.float64)
        exp = np.exp(logits - logits.max())
        answers.append(exp / exp.sum())
    return np.array(answers)


def compare_run(run: Path) -> dict:
    _, payload = load_checkpoint(run / "model.pt")
    test = recorded_split(payload, "test")
    if test is None:
        raise SystemExit(f"{run}: the run's test split is no longer on disk")
    result = {}
    for path in sorted(run.glob("model.*.onnx")):
        model = Model(path, threads=1)
        cases = [model.frontend.check(raw, f"case {i}") for i, raw in enumerate(test.sequences)]
        runtime = model.predict(cases, batch_size=1).astype(np.float64)
        plain = plain_answers(path, cases)
        result[path.name] = {"frontend": model.frontend.kind, "cases": len(cases),
                             "top1_agreement": float((plain.argmax(1) == runtime.argmax(1)).mean()),
                             "max_probability_diff": float(np.abs(plain - runtime).max())}
        print(f"{run.name}/{path.name}: {json.dumps(result[path.name])}", file=sys.stderr, flush=True)
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders holding model.pt and exported model.*.onnx files")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    report = {"onnxruntime": ort.__version__, "runs": {str(run): compare_run(run) for run in args.runs}}
    write_result(report, "plain_onnxruntime", args.out, echo=True)
    return report


if __name__ == "__main__":
    main()
