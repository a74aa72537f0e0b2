"""The log-mel front end per 10 ms hop: the ONNX graph of export/logmel_graph.py against the numpy
stream of runtime/audio.py, at one thread.

    python benchmarks/logmel_graph_cost.py [RUN/model.fp32.onnx RUN/model.int8-dynamic.onnx ...]
        [--rounds 5] [--hops 2000] [--out FILE]

Front end alone: both take one hop of samples and return its frame, standardised; the graph
also carries its overlap and running mean through its state tensors, fed back each call as a
stream would. With exported audio graphs given (they compute their own frames), the whole step
too: ``Model.stream().push(hop)`` on the file against the same push on the file's core graph
(``without_frontend``: log-mel frames in, written with the metadata of a file that takes them),
where the runtime's numpy front end computes the frames, as it did for every audio file before
the front end moved into the graph; their probabilities are compared first. Timed with
runtime/bench.py's ``compare_latency`` (rounds interleaved in a shuffled order, so machine noise
affects all alike). Writes JSON: p50 and p99 microseconds per hop, and the paired ratios.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np
import onnx
import onnxruntime as ort

from edgernn.export.logmel_graph import logmel_graph, without_frontend
from edgernn.export.torch_to_onnx import set_metadata
from edgernn.runtime import Model
from edgernn.runtime.audio import LogMelConfig
from edgernn.runtime.bench import compare_latency
from edgernn.runtime.frontend import FeatureFrontend, LogMelFrontend
from edgernn.runtime.metadata import GraphMetadata
from results_file import write_result


def front_end_state(config: LogMelConfig) -> dict[str, np.ndarray]:
    """The front-end graph's states at a stream's start, the audio heard before being silence."""
    return {"audio": np.zeros((1, config.window - config.hop), np.float32),
            "norm_mean": np.zeros((1, config.mel_bands), np.float32), "norm_frames": np.zeros((1, 1), np.float32)}


def frames_in_file(path: Path, folder: Path) -> Path:
    """The core of the audio file at ``path`` as a file that takes log-mel frames (metadata
    schema 2: the runtime computes the frames in numpy), written into ``folder``."""
    joined = onnx.load(str(path))
    meta = GraphMetadata.from_props({p.key: p.value for p in joined.metadata_props})
    meta.frontend = {k: v for k, v in meta.frontend.items() if k != "in_graph"}
    meta.features, meta.schema_version = meta.frontend["features"], 2
    meta.state = [spec for spec in meta.state if not spec.frontend]
    core = without_frontend(joined)
    set_metadata(core, meta.to_props())
    out = folder / f"{path.stem}.frames_in.onnx"
    onnx.save(core, str(out))
    return out


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


def check_agreement(model: Model, frames_in: Model, hops: np.ndarray, count: int = 500) -> dict:
    """Both files' streams over ``count`` hops: the largest probability difference."""
    joined, numpy_first = model.stream(), frames_in.stream()
    worst = max(float(np.abs(joined.push(hops[i % len(hops)]) - numpy_first.push(hops[i % len(hops)])).max(initial=0.0))
                for i in range(count))
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
    with tempfile.TemporaryDirectory() as scratch:
        for path in args.models:
            model = Model(path, threads=1)
            frames_in = Model(frames_in_file(path, Path(scratch)), threads=1)
            joined_stream, numpy_stream = model.stream(), frames_in.stream()
            result[model.metadata.precision] = {
                "model": str(path), "agreement": check_agreement(model, frames_in, hops),
                **compare_latency({
                    "numpy_then_graph": lambda i, stream=numpy_stream: stream.push(hops[i % len(hops)]),
                    "joined_graph": lambda i, stream=joined_stream: stream.push(hops[i % len(hops)]),
                }, args.hops, args.rounds)}
    write_result(result, "logmel_graph_cost", args.out, echo=True)
    return result


if __name__ == "__main__":
    main()
