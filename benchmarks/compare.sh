#!/usr/bin/env bash
# Training throughput of ExpertStream against PyTorch on the same machine, same model, loss,
# regularizer, data and batch: both run alternately, ROUNDS rounds each, and the median
# ratio (ExpertStream samples/s ÷ PyTorch samples/s) is printed per configuration.
#
# Usage: bash benchmarks/compare.sh [ROUNDS] [THREADS]
# Installs torch (CPU) into benchmarks/.venv when the system Python has none.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
THREADS=${2:-2}
PYTHON=python3
if ! python3 -c "import torch" 2>/dev/null; then
  if [ ! -x benchmarks/.venv/bin/python ]; then
    python3 -m venv benchmarks/.venv
    benchmarks/.venv/bin/pip install -q -r benchmarks/requirements.txt
  fi
  PYTHON=benchmarks/.venv/bin/python
fi
swift build -c release --product expertstream > /dev/null
BIN=.build/release/expertstream
BATCHES=${BATCHES:-60}

rate() { sed -n 's/^samples\/s \([0-9]*\).*/\1/p'; }

printf "%-13s %-10s %-16s %12s %12s %8s\n" arch gate regularizer "swift s/s" "torch s/s" ratio
for arch in paper-mnist paper-fmnist; do
  data=/usr/share/datasets/fashion-mnist
  for gate in softmax attentive; do
    for ls in none 1e-6,1e-6; do
      if [ "$arch" = paper-mnist ] && [ "$gate" = attentive ] && [ "$ls" != none ]; then ls=1e-6,1e-2; fi
      swift_args=(bench train --architecture "$arch" --gate "$gate" --batch 512 --experts 5
        --threads "$THREADS" --batches "$BATCHES" --warmup 20)
      torch_args=(benchmarks/pytorch_reference.py --architecture "$arch"
        --gate "$gate" --batch 512
        --threads "$THREADS" --batches "$BATCHES" --warmup 20 --data-dir "$data")
      if [ "$ls" != none ]; then swift_args+=(--ls "$ls"); torch_args+=(--ls "$ls"); fi
      ratios=(); swift_rates=(); torch_rates=()
      for _ in $(seq "$ROUNDS"); do
        s=$("$BIN" "${swift_args[@]}" | rate)
        t=$("$PYTHON" "${torch_args[@]}" | rate)
        swift_rates+=("$s"); torch_rates+=("$t")
        ratios+=("$(python3 -c "print(f'{$s / $t:.2f}')")")
      done
      median() { printf "%s\n" "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
      printf "%-13s %-10s %-16s %12s %12s %8s\n" "$arch" "$gate" "$ls" \
        "$(median "${swift_rates[@]}")" "$(median "${torch_rates[@]}")" "$(median "${ratios[@]}")×"
    done
  done
done
