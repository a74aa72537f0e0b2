#!/usr/bin/env bash
# Spoken digits in a continuous recording: train an FSDD digit model with a background class,
# export it, build a 10-second WAV of test-split digits with pauses between them, and stream it
# in 10 ms hops. The events should name the digits in order.
#   samples/recipes/fsdd_stream.sh [recordings folder] [run folder] [digits]
# The background class (--background) is made of the recordings' own quiet starts and ends and
# low-level noise; every training clip gets a lead-in of it, and some a trail labelled background,
# so the model says "background" between words; half the lead-ins are at another level than the
# word's own room noise, so that a change of level at a word's edge is not misread. `edgernn
# stream` then never reports that class (and never resets the state: docs/streams.md measures why).
set -euo pipefail
data=${1:-../shared/data/fsdd/recordings}
out=${2:-runs/fsdd-stream}
digits=${3:-31415926}
edgernn train "$data" --label-regex '^(\d)_' --test-regex '_[0-4]\.wav$' --cell gru --background _background_ \
  --epochs 40 --lr 5e-3 --batch-size 16 --val-fraction 0 --warmup 0 --dropout 0.4 --input-noise 0.3 --threads 2 --out "$out"
edgernn export "$out" --precision fp32 --precision int8-dynamic
python -m edgernn.samples.digit_recording "$data" "$out/digits.wav" --digits "$digits"
edgernn stream "$out/model.int8-dynamic.onnx" "$out/digits.wav" --json > "$out/digits.events.jsonl"
python - "$out" "$digits" <<'EOF'
import json, sys
out, digits = sys.argv[1], sys.argv[2]
rows = [json.loads(line) for line in open(f"{out}/digits.events.jsonl")]
heard = "".join(r["label"] for r in rows if "label" in r and "start" in r)
print(f"said  {digits}\nheard {heard}  ({'in order' if heard == digits else 'different'})")
EOF
