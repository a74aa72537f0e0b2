"""CUDA against CPU for exported graphs: parity, the bench on both, and the break-even, as JSON.

    python benchmarks/gpu_check.py RUN_DIR [RUN_DIR ...] --out benchmarks/results/gpu_check.json

Needs onnxruntime-gpu in place of onnxruntime (the `gpu` extra; `benchmarks/gpu_check.sh`
installs it from a folder of wheels) and a CUDA device; without them it stops with exit code 2,
naming the providers this onnxruntime has. For each model.<precision>.onnx (fp32 and fp16 unless
--precision says otherwise):
- parity, CUDA vs CPU, on random inputs the model takes (feature frames, token ids, or audio
  noise): ``predict`` of --sequences sequences of random lengths (largest probability
  difference, top-1 agreement); one stream pushed in random chunks (every step's probabilities);
  a StreamBatch of 64 streams, one step each per call, against the CPU's solo streams;
- ``bench`` on the CPU (default threads) and on CUDA ("checked" in the JSON): push latency at
  batch 1 against the bare session.run, and throughput at 1 to 4096 concurrent streams;
- break_even: the smallest measured stream count from which CUDA's batched throughput passes the
  CPU's (None: it never does at the counts measured).
Only numpy and onnxruntime are used (no torch): the graphs are exported beforehand.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import onnxruntime as ort

from edgernn.runtime import Model
from edgernn.runtime.files import write_json_atomic
from edgernn.runtime.bench import bench
from device_compare import break_even, device_parity
from edgernn.runtime.log import log_to_stderr

STREAM_COUNTS = (1, 16, 64, 256, 1024, 4096)
# CUDA vs CPU, largest probability difference: fp32 may run its matrix products in TF32 on recent
# GPUs (10-bit mantissa), fp16 computes in half precision on both
PROB_LIMITS = {"fp32": 2e-3, "fp16": 1e-2, "int8-dynamic": 1e-2, "int8-static": 1e-2}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--precision", action="append", default=None, help="only these precisions (repeatable; default fp32, fp16)")
    parser.add_argument("--sequences", type=int, default=256)
    parser.add_argument("--steps", type=int, default=3000, help="timed steps per latency figure")
    parser.add_argument("--streams", type=lambda v: tuple(int(c) for c in v.split(",")), default=STREAM_COUNTS,
                        help="concurrent stream counts, comma-separated (default 1,16,64,256,1024,4096)")
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda",
                        help="the device checked against the CPU; cpu: a dry run of the whole check on one machine")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/gpu_check.json"))
    args = parser.parse_args()
    if args.device == "cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
        print(f"gpu_check: this onnxruntime ({ort.__version__}) has no CUDAExecutionProvider; available: "
              f"{ort.get_available_providers()}. Install onnxruntime-gpu in place of onnxruntime.", file=sys.stderr)
        return 2
    precisions = args.precision or ["fp32", "fp16"]
    log = log_to_stderr
    report: dict = {"onnxruntime": ort.__version__, "providers": ort.get_available_providers(), "device": args.device,
                    "runs": {}}
    for run_dir in args.runs:
        models = [m for m in sorted(run_dir.glob("model.*.onnx")) if m.name.split(".")[1] in precisions]
        entry: dict = {}
        for path in models:
            precision = path.name.split(".")[1]
            checks = device_parity(Model(path, device="cpu"), Model(path, device=args.device), args.sequences)
            limit = PROB_LIMITS[precision]
            checks["limit"] = limit
            checks["passed"] = max(v for k, v in checks.items() if k.endswith("prob_diff")) <= limit
            log(f"{path}: {checks}")
            entry[precision] = {"parity": checks}
        cpu_report = bench(models, threads=(None,), stream_counts=args.streams, steps=args.steps, log=log, device="cpu")
        gpu_report = bench(models, threads=(None,), stream_counts=args.streams, steps=args.steps, log=log, device=args.device)
        for precision, gpu_entry in gpu_report["models"].items():
            cpu_entry = cpu_report["models"][precision]
            entry[precision].update(cpu=cpu_entry, checked=gpu_entry,
                                    break_even_streams=break_even(cpu_entry["throughput"], gpu_entry["throughput"]))
            log(f"{run_dir} {precision}: {args.device} passes the CPU from {entry[precision]['break_even_streams']} streams")
        report["runs"][str(run_dir)] = entry
    write_json_atomic(args.out, report)
    print(json.dumps(report, indent=2))
    return 0 if all(e["parity"]["passed"] for run in report["runs"].values() for e in run.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
