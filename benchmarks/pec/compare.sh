#!/bin/sh
# Runs the replay-free sweep (tasks/replay-free.json) and PEC's reference code in one call
# on this machine, then prints accuracy and training time side by side with their ratio.
# PEC runs already recorded in benchmarks/pec/results are kept (each takes 10-15 minutes).
#
# Usage, from the package root:
#   PEC_MIRROR=... MNIST_DIR=... sh benchmarks/pec/compare.sh
# OUT=DIR puts the sweep elsewhere (default checkpoints/sweeps/replay-free); the other
# settings are run.sh's (benchmarks/pec/README.md).
set -e
: "${MNIST_DIR:?set MNIST_DIR to a directory holding the four MNIST IDX files}"
OUT=${OUT:-checkpoints/sweeps/replay-free}
swift build -c release --product expertstream
.build/release/expertstream sweep tasks/replay-free.json --out "$OUT" \
  --data-dir "$MNIST_DIR" --threads 1 --quiet
for dataset in fashion-mnist mnist; do
  for seed in 1 2 3; do
    [ -f "benchmarks/pec/results/$dataset-s$seed.json" ] || sh benchmarks/pec/run.sh "$dataset" "$seed"
  done
done
python3 benchmarks/pec/compare.py "$OUT/results.jsonl" benchmarks/pec/results
