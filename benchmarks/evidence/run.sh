#!/bin/sh
# Runs the evidence probe for both datasets and seeds 0–2 under /usr/bin/time -v, one
# process per run; JSON lines to benchmarks/evidence/results/, time -v output beside them.
# Usage: benchmarks/evidence/run.sh [trainable|replay] [task|class]   (from the package root)
set -e
gate=${1:-trainable}
granularity=${2:-task}
extra=""
[ "$granularity" = class ] && extra="--per-class"
out=benchmarks/evidence/results
mkdir -p "$out"
for dataset in fashion-mnist mnist; do
  for seed in 0 1 2; do
    name="$out/$dataset-$gate-$granularity-s$seed"
    data=""  # FashionMNIST from its installed place; MNIST from the shared directory
    [ "$dataset" = mnist ] && data="--data-dir ${MNIST_DIR:-/work/shared/datasets/mnist}"
    nice -n 15 /usr/bin/time -v .build/release/evidence-probe --dataset "$dataset" \
      $data --seed "$seed" --gate "$gate" $extra \
      > "$name.jsonl" 2> "$name.time.txt"
    grep -h "Maximum resident" "$name.time.txt" | sed "s|^|$name |"
  done
done
