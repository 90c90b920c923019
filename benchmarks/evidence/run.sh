#!/bin/sh
# Runs the evidence probe for both datasets and seeds 0–2 under /usr/bin/time -v, one
# process per run; JSON lines to benchmarks/evidence/results/, time -v output beside them.
# Usage: benchmarks/evidence/run.sh [trainable|replay|isolated] [task|class] [seeds]
# (from the package root). trainable/replay: ContinualRun's spawn-and-freeze with that gate
# training; isolated: each task's expert trained alone (--train isolated).
set -e
gate=${1:-trainable}
granularity=${2:-task}
seeds=${3:-"0 1 2"}
extra=""
[ "$granularity" = class ] && extra="--per-class"
gateTraining=$gate
[ "$gate" = isolated ] && extra="$extra --train isolated" && gateTraining=trainable
out=benchmarks/evidence/results
mkdir -p "$out"
for dataset in fashion-mnist mnist; do
  for seed in $seeds; do
    name="$out/$dataset-$gate-$granularity-s$seed"
    data=""  # FashionMNIST from its installed place; MNIST from the shared directory
    [ "$dataset" = mnist ] && data="--data-dir ${MNIST_DIR:?set MNIST_DIR to a directory holding the four MNIST IDX files}"
    nice -n 15 /usr/bin/time -v .build/release/evidence-probe --dataset "$dataset" \
      $data --seed "$seed" --gate "$gateTraining" $extra \
      > "$name.jsonl" 2> "$name.time.txt"
    grep -h "Maximum resident" "$name.time.txt" | sed "s|^|$name |"
  done
done
