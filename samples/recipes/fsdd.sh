#!/usr/bin/env bash
# Free Spoken Digit Dataset: 3,000 recordings of the digits 0-9, 8 kHz mono 16-bit PCM,
# 6 speakers x 50 takes x 10 digits; files are named <digit>_<speaker>_<take>.wav.
# Official split: takes 0-4 of every speaker and digit are the test set (300 recordings).
# Log-mel front end: 25 ms windows every 10 ms, 40 bands (the defaults).
#   samples/recipes/fsdd.sh [recordings folder] [run folder prefix] [--speakers]
# With --speakers it also trains once per speaker with that speaker held out as the test set.
set -euo pipefail
data=${1:-../shared/data/fsdd/recordings}
out=${2:-runs/fsdd}
# The settings the figures in docs/training.md were measured with: the training defaults before they
# were decided from the data's size (see docs/training.md; drop them to use those).
measured=(--epochs 60 --batch-size 16 --lr 1e-2 --val-fraction 0 --warmup 0 --frame 1)
edgernn pipeline "$data" --label-regex '^(\d)_' --test-regex '_[0-4]\.wav$' --cell gru "${measured[@]}" --out "$out-gru"
if [[ "${3:-}" == "--speakers" ]]; then
  for speaker in george jackson lucas nicolas theo yweweler; do
    edgernn train "$data" --label-regex '^(\d)_' --test-regex "_${speaker}_" --cell gru "${measured[@]}" --threads 1 \
      --out "$out-heldout-$speaker" --json | python -c "import json, sys; r = json.load(sys.stdin); print('$speaker', r['test_accuracy'])"
  done
fi
