#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and no network: install onnxruntime-gpu from a folder of wheels,
# then run benchmarks/gpu_check.py (CUDA vs CPU parity, the bench on both, the break-even stream
# count) on exported run folders, writing one JSON file.
#   benchmarks/gpu_check.sh WHEELS_DIR OUT.json RUN_DIR [RUN_DIR ...]
# WHEELS_DIR: an onnxruntime-gpu wheel for that machine's Python, plus any of its needs the machine
# lacks (numpy, protobuf, flatbuffers, packaging, sympy). They go to a private folder put first on
# PYTHONPATH, which shadows a CPU onnxruntime there without uninstalling it; edgernn itself goes
# there too, without its dependencies (the check needs only numpy and onnxruntime).
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 WHEELS_DIR OUT.json RUN_DIR [RUN_DIR ...]" >&2; exit 2; }
wheels=$1 out=$2
shift 2
site=$(mktemp -d)
python3 -m pip install -q --no-index --no-deps --no-compile --target "$site" "$wheels"/*.whl
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --target "$site" "$(dirname "$0")/.."
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
PYTHONPATH="$site" python3 -c 'import onnxruntime as o; print("onnxruntime", o.__version__, o.get_available_providers())'
PYTHONPATH="$site" python3 "$(dirname "$0")/gpu_check.py" "$@" --out "$out"
