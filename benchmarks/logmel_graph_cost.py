"""The log-mel front end per 10 ms hop: the ONNX graph of export/logmel_graph.py against the numpy
stream of runtime/audio.py (the path `Model.stream` takes today), at one thread.

    python benchmarks/logmel_graph_cost.py [RUN/model.fp32.onnx RUN/model.int8-dynamic.onnx ...]
        [--rounds 5] [--hops 2000] [--out FILE]

Front end alone: both take one hop of samples and return its frame, standardised; the graph
also carries its overlap and running mean through its state tensors, fed back each call as a
stream would. With audio graphs given, the whole step too: ``Model.stream().push(hop)`` (numpy
front end, then the graph) against one call of the front-end graph joined to that graph
(``onnx.compose.merge_models``, frames into ``x``), every state fed back; their probabilities
are compared first. Timed with runtime/bench.py's ``compare_latency`` (rounds interleaved in a
shuffled order, so machine noise affects all alike). Writes JSON: p50 and p99 microseconds per
hop, and each graph's paired ratio to numpy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import onnxruntime as ort
from onnx import compose

from edgernn.export.logmel_graph import logmel_graph
from edgernn.runtime import Model
from edgernn.runtime.audio import LogMelConfig
from edgernn.runtime.bench import compare_latency
from edgernn.runtime.frontend import FeatureFrontend, LogMelFrontend


def front_end_state(config: LogMelConfig) -> dict[str, np.ndarray]:
    """The front-end graph's states at a stream's start, the audio heard before being silence."""
    return {"audio": np.zeros((1, config.window - config.hop), np.float32),
            "norm_mean": np.zeros((1, config.mel_bands), np.float32), "norm_frames": np.zeros((1, 1), np.float32)}


def joined_session(path: Path, model: Model) -> ort.InferenceSession:
    """The front-end graph of ``model``'s own front end joined to its graph, at one thread."""
    graph = onnx.load(str(path))
    front = logmel_graph(model.frontend.config, model.frontend.norm)
    front.ir_version = graph.ir_version
    return one_thread_session(compose.merge_models(front, graph, io_map=[("frames", "x")]))


def one_thread_session(proto: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])


def graph_call(session: ort.InferenceSession, state: dict[str, np.ndarray], hops: np.ndarray) -> Callable[[int], np.ndarray]:
    """call(i): hop i (cycling) through ``session``, every state output fed back in place
    (``name_out`` -> ``name``); returns the outputs that are no state (frames or logits)."""
    names = [o.name for o in session.get_outputs()]

    def call(i: int) -> np.ndarray:
        produced = dict(zip(names, session.run(None, {"samples": hops[i % len(hops)][None], **state})))
        for name in state:
            state[name] = produced.pop(f"{name}_out")
        return next(iter(produced.values()))
    return call


def stream_call(stream, overlap: int, hops: np.ndarray) -> Callable[[int], np.ndarray]:
    """call(i): hop i (cycling) pushed to ``stream``, which first hears ``overlap`` samples of silence."""
    stream.push(np.zeros(overlap, np.float32))
    return lambda i: stream.push(hops[i % len(hops)])


def check_agreement(model: Model, session: ort.InferenceSession, hops: np.ndarray, count: int = 500) -> dict:
    """Both whole-step paths over ``count`` hops: the largest probability difference."""
    config = model.frontend.config
    numpy_step = stream_call(model.stream(), config.window - config.hop, hops)
    joined_step = graph_call(session, {**front_end_state(config), **model.zero_state(1)}, hops)
    worst = 0.0
    for i in range(count):
        expected, logits = numpy_step(i)[-1], joined_step(i)[0, -1].astype(np.float64)
        probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
        worst = max(worst, float(np.abs(probs - expected).max()))
    return {"hops": count, "max_probability_diff": worst}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", type=Path, help="exported audio graphs for the whole-step comparison")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--hops", type=int, default=10000, help="hops timed per front end, over all rounds")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    config = LogMelConfig(sample_rate=16000, mean_norm_ms=200.0)  # the trainer's defaults: 25 ms windows, 10 ms hops, 40 bands
    norm = FeatureFrontend(np.zeros(config.mel_bands, np.float32), np.ones(config.mel_bands, np.float32))
    hops = (0.1 * np.random.default_rng(0).standard_normal((2000, config.hop))).astype(np.float32)
    overlap = config.window - config.hop
    result: dict = {"config": {"sample_rate": config.sample_rate, "window": config.window, "hop": config.hop,
                               "mel_bands": config.mel_bands, "mean_norm_ms": config.mean_norm_ms},
                    "hops": args.hops, "rounds": args.rounds, "threads": 1}
    result["front_end"] = compare_latency({
        "numpy": stream_call(LogMelFrontend(config, norm).stream(), overlap, hops),
        "onnx_graph": graph_call(one_thread_session(logmel_graph(config, norm)), front_end_state(config), hops),
    }, args.hops, args.rounds)
    for path in args.models:
        model = Model(path, threads=1)
        joined = joined_session(path, model)
        model_config = model.frontend.config
        result[model.metadata.precision] = {
            "model": str(path), "agreement": check_agreement(model, joined, hops),
            **compare_latency({
                "numpy_then_graph": stream_call(model.stream(), model_config.window - model_config.hop, hops),
                "joined_graph": graph_call(joined, {**front_end_state(model_config), **model.zero_state(1)}, hops),
            }, args.hops, args.rounds)}
    out = args.out or Path(__file__).resolve().parent / "results" / f"logmel_graph_cost-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result))
    print(f"wrote {out}", file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
