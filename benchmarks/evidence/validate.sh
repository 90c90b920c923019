#!/bin/sh
# The choice of the pixel-subspace rank on validation samples (10% of each task's training
# samples held out; experts trained alone on the other 90%), seed 0, both datasets.
# Usage: benchmarks/evidence/validate.sh [ranks]   (from the package root)
set -e
out=benchmarks/evidence/validation
mkdir -p "$out"
ranks=${1:-16 32 64}
for dataset in fashion-mnist mnist; do
  for rank in $ranks; do
    data=""
    [ "$dataset" = mnist ] && data="--data-dir ${MNIST_DIR:?set MNIST_DIR to a directory holding the four MNIST IDX files}"
    nice -n 15 .build/release/evidence-probe --dataset "$dataset" $data --seed 0 \
      --train isolated --validation --rank-x "$rank" > "$out/$dataset-rank$rank.jsonl"
  done
done
