"""The log-mel front end per 10 ms hop: the ONNX graph of export/logmel_graph.py against the numpy
stream of runtime/audio.py (the path `Model.stream` takes today), at one thread.

    python benchmarks/logmel_graph_cost.py [--rounds 5] [--hops 2000] [--out FILE]

Both take one hop of samples and return its frame, standardised; the graph also carries its
overlap and running mean through its state tensors, fed back each call as a stream would. The
two are interleaved round by round so machine noise affects them alike. Writes JSON: per front
end the median and p99 microseconds per hop, and the graph's ratio to numpy.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edgernn.export.logmel_graph import logmel_graph
from edgernn.runtime.audio import LogMelConfig
from edgernn.runtime.frontend import FeatureFrontend, LogMelFrontend


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
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

    measured = {"onnx_graph": [], "numpy": []}
    graph_round(), numpy_round()  # warm-up
    for _ in range(args.rounds):
        for name, run in (("onnx_graph", graph_round), ("numpy", numpy_round)):
            measured[name] += run()
    summary = {name: {"median_us": round(float(np.median(t)) * 1e6, 2), "p99_us": round(float(np.percentile(t, 99)) * 1e6, 2)}
               for name, t in measured.items()}
    result = {"config": {"sample_rate": config.sample_rate, "window": config.window, "hop": config.hop,
                         "mel_bands": config.mel_bands, "mean_norm_ms": config.mean_norm_ms},
              "hops_per_round": args.hops, "rounds": args.rounds, "threads": 1, **summary,
              "graph_vs_numpy_median": round(summary["onnx_graph"]["median_us"] / summary["numpy"]["median_us"], 3)}
    out = args.out or Path(__file__).resolve().parent / "results" / f"logmel_graph_cost-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(json.dumps(result))
    print(f"wrote {out}", file=sys.stderr)
    return result


if __name__ == "__main__":
    main()
