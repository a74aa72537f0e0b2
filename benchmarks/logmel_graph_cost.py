"""The log-mel front end per 10 ms hop: the ONNX graph of export/logmel_graph.py against the numpy
stream of runtime/audio.py (the path `Model.stream` takes today), at one thread.

    python benchmarks/logmel_graph_cost.py [RUN/model.fp32.onnx RUN/model.int8-dynamic.onnx ...]
        [--rounds 5] [--hops 2000] [--out FILE]

Front end alone: both take one hop of samples and return its frame, standardised; the graph
also carries its overlap and running mean through its state tensors, fed back each call as a
stream would. With audio graphs given, the whole step too: ``Model.stream().push(hop)`` (numpy
front end, then the graph) against one call of the front-end graph joined to that graph
(``onnx.compose.merge_models``, frames into ``x``), every state fed back; their probabilities
are compared first. Everything is interleaved round by round so machine noise affects all
alike. Writes JSON: medians and p99s in microseconds per hop, and each graph's ratio to numpy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import compose

from edgernn.export.logmel_graph import logmel_graph
from edgernn.runtime import Model
from edgernn.runtime.audio import LogMelConfig
from edgernn.runtime.frontend import FeatureFrontend, LogMelFrontend


def joined_session(path: Path, model: Model) -> ort.InferenceSession:
    """The front-end graph of ``model``'s own front end joined to its graph, at one thread."""
    graph = onnx.load(str(path))
    front = logmel_graph(model.frontend.config, model.frontend.norm)
    front.ir_version = graph.ir_version
    joined = compose.merge_models(front, graph, io_map=[("frames", "x")])
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(joined.SerializeToString(), options, providers=["CPUExecutionProvider"])


def joined_feeds(model: Model) -> dict[str, np.ndarray]:
    """The joined graph's states at a stream's start: the overlap zeros (the audio heard before is
    silence here), the running mean and frame count zero, the graph's own zero state."""
    config = model.frontend.config
    return {"audio": np.zeros((1, config.window - config.hop), np.float32),
            "norm_mean": np.zeros((1, config.mel_bands), np.float32), "norm_frames": np.zeros((1, 1), np.float32),
            **model.zero_state(1)}


def joined_step(session: ort.InferenceSession, state: dict, hop: np.ndarray) -> np.ndarray:
    """One hop through the joined graph, ``state`` updated in place; returns the step's logits."""
    outputs = session.run(None, {"samples": hop[None], **state})
    names = [o.name for o in session.get_outputs()]
    produced = dict(zip(names, outputs))
    for name in state:
        state[name] = produced[f"{name}_out"]
    return produced["logits"][0, -1]


def check_agreement(model: Model, session: ort.InferenceSession, hops: np.ndarray) -> dict:
    """Both paths from a stream that heard silence before: the largest probability difference."""
    overlap = model.frontend.config.window - model.frontend.config.hop
    stream, state, worst = model.stream(), joined_feeds(model), 0.0
    stream.push(np.zeros(overlap, np.float32))
    for hop in hops[:500]:
        expected = stream.push(hop)[-1]
        logits = joined_step(session, state, hop).astype(np.float64)
        probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        worst = max(worst, float(np.abs(probs - expected).max()))
    return {"hops": min(500, len(hops)), "max_probability_diff": worst}


def whole_step_numpy(model: Model, hops: np.ndarray):
    def run() -> list[float]:
        stream = model.stream()
        stream.push(np.zeros(model.frontend.config.window - model.frontend.config.hop, np.float32))
        times = []
        for hop in hops:
            started = time.perf_counter()
            stream.push(hop)
            times.append(time.perf_counter() - started)
        return times
    return run


def whole_step_joined(model: Model, session: ort.InferenceSession, hops: np.ndarray):
    def run() -> list[float]:
        state, times = joined_feeds(model), []
        for hop in hops:
            started = time.perf_counter()
            joined_step(session, state, hop)
            times.append(time.perf_counter() - started)
        return times
    return run


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path, help="exported audio graphs for the whole-step comparison")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--hops", type=int, default=2000, help="hops timed per round and front end")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    config = LogMelConfig(sample_rate=16000, mean_norm_ms=200.0)  # the trainer's defaults: 25 ms windows, 10 ms hops, 40 bands
    norm = FeatureFrontend(np.zeros(config.mel_bands, np.float32), np.ones(config.mel_bands, np.float32))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(logmel_graph(config, norm).SerializeToString(), options, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    hops = (0.1 * rng.standard_normal((args.hops, config.hop))).astype(np.float32)
    overlap = config.window - config.hop

    def graph_round() -> list[float]:
        state = {"audio": np.zeros((1, overlap), np.float32), "norm_mean": np.zeros((1, config.mel_bands), np.float32),
                 "norm_frames": np.zeros((1, 1), np.float32)}
        times = []
        for hop in hops:
            started = time.perf_counter()
            _, *states = session.run(None, {"samples": hop[None], **state})
            state = dict(zip(state, states))
            times.append(time.perf_counter() - started)
        return times

    def numpy_round() -> list[float]:
        stream = LogMelFrontend(config, norm).stream()
        stream.push(np.zeros(overlap, np.float32))
        times = []
        for hop in hops:
            started = time.perf_counter()
            stream.push(hop)
            times.append(time.perf_counter() - started)
        return times

    runs = {"onnx_graph": graph_round, "numpy": numpy_round}
    whole = {}
    for path in args.models:
        model = Model(path, threads=1)
        joined = joined_session(path, model)
        whole[model.metadata.precision] = check_agreement(model, joined, hops)
        runs[f"{model.metadata.precision}_numpy_then_graph"] = whole_step_numpy(model, hops)
        runs[f"{model.metadata.precision}_joined_graph"] = whole_step_joined(model, joined, hops)
    measured = {name: [] for name in runs}
    for run in runs.values():  # warm-up
        run()
    for _ in range(args.rounds):
        for name, run in runs.items():
            measured[name] += run()
    summary = {name: {"median_us": round(float(np.median(t)) * 1e6, 2), "p99_us": round(float(np.percentile(t, 99)) * 1e6, 2)}
               for name, t in measured.items()}
    ratios = {"front_end_graph_vs_numpy": round(summary["onnx_graph"]["median_us"] / summary["numpy"]["median_us"], 3)}
    for precision in whole:
        ratios[f"{precision}_joined_vs_numpy_then_graph"] = round(
            summary[f"{precision}_joined_graph"]["median_us"] / summary[f"{precision}_numpy_then_graph"]["median_us"], 3)
    result = {"config": {"sample_rate": config.sample_rate, "window": config.window, "hop": config.hop,
                         "mel_bands": config.mel_bands, "mean_norm_ms": config.mean_norm_ms},
              "hops_per_round": args.hops, "rounds": args.rounds, "threads": 1, **summary, "ratios": ratios,
              "agreement": whole}
    out = args.out or Path(__file__).resolve().parent / "results" / f"logmel_graph_cost-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result))
    print(f"wrote {out}", file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
