#!/usr/bin/env bash
# BasicMotions (UEA archive): smartwatch accelerometer + gyroscope, 6 channels x 100 steps,
# 4 activities, 40 train / 40 test.
#   samples/recipes/basic_motions.sh [BasicMotions_TRAIN.ts] [run folder prefix]
set -euo pipefail
data=${1:-../shared/data/uea/BasicMotions_TRAIN.ts}
out=${2:-runs/basic_motions}
# The settings the figures in docs/training.md were measured with: the training defaults before they
# were decided from the data's size (see docs/training.md; drop them to use those).
measured=(--epochs 60 --batch-size 16 --lr 1e-2 --val-fraction 0 --warmup 0 --frame 1)
edgernn pipeline "$data" --cell gru "${measured[@]}" --out "$out-gru"
# 40 training cases give an LSTM few updates per epoch: a lower rate and smaller batches.
edgernn pipeline "$data" --cell lstm "${measured[@]}" --lr 3e-3 --batch-size 8 --out "$out-lstm"
# A tanh SimpleRNN over 100 steps trains unsteadily (vanishing gradients): slower and longer.
edgernn pipeline "$data" --cell rnn "${measured[@]}" --lr 5e-4 --batch-size 8 --epochs 150 --out "$out-rnn"
