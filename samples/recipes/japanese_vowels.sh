#!/usr/bin/env bash
# JapaneseVowels (UCI, CC BY 4.0): 9 speakers, 12 LPC cepstrum coefficients per frame, 7-29 frames,
# 270 train / 370 test. Trains, exports and checks each cell; one run folder per cell.
#   samples/recipes/japanese_vowels.sh [TRAIN.ts or folder] [run folder prefix]
set -euo pipefail
data=${1:-samples/japanese_vowels}
out=${2:-runs/japanese_vowels}
# The settings the figures in docs/training.md were measured with: the training defaults before they
# were decided from the data's size (see docs/training.md; drop them to use those).
measured=(--epochs 60 --batch-size 16 --lr 1e-2 --val-fraction 0 --warmup 0 --frame 1)
edgernn pipeline "$data" --cell gru "${measured[@]}" --out "$out-gru"
edgernn pipeline "$data" --cell lstm "${measured[@]}" --batch-size 8 --out "$out-lstm"  # LSTM: smaller batches, steadier
edgernn pipeline "$data" --cell rnn "${measured[@]}" --out "$out-rnn"
