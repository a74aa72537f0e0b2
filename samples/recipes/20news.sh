#!/usr/bin/env bash
# 20 Newsgroups "bydate" (11,314 training / 7,532 test posts, 20 groups) with headers, signatures
# and quoted replies removed, as scikit-learn's fetch_20newsgroups(remove=(...)) does.
#   samples/recipes/20news.sh [20news-bydate.tar.gz] [run folder prefix] [cells]
# The tarball is extracted beside the runs (not into the repository). Words through a 30,000-word
# vocabulary into a 128-wide embedding, the first 400 words of each post, a mean read-out over
# the steps (carried as state, so the graph still streams), 10% of words dropped to unknown while
# training, and the embedding started from skip-gram vectors trained on the training posts first
# (2 epochs; they are written to the run folder as word_vectors.txt).
set -euo pipefail
tarball=${1:-../shared/data/20newsgroups/20news-bydate.tar.gz}
out=${2:-runs/20news}
cells=${3:-gru lstm rnn}
data="$out-data"
if [[ ! -d "$data/20news-bydate-train" ]]; then
  mkdir -p "$data" && tar -xzf "$tarball" -C "$data"
fi
for cell in $cells; do
  edgernn pipeline "$data/20news-bydate-train" --test "$data/20news-bydate-test" --strip headers,footers,quotes \
    --cell "$cell" --readout mean --hidden 128 --embed-dim 128 --max-tokens 400 --token-dropout 0.1 \
    --pretrain-epochs 2 --dropout 0.5 --lr 3e-3 --batch-size 32 --epochs 10 --val-fraction 0 --warmup 0 --threads 2 --out "$out-$cell"
done
