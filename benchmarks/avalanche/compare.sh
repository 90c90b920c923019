#!/usr/bin/env bash
# ExpertStream against Avalanche on Split-FashionMNIST, both sides in one go on this machine.
#
# Usage: bash benchmarks/avalanche/compare.sh [THREADS]
#   THREADS  threads per process (default 2)
#   OUT=DIR  where results go (default checkpoints/vs-avalanche)
#   STRATEGIES="naive replay-1000 …"  the Avalanche strategies to run (default: all)
#
# ExpertStream side: `expertstream sweep tasks/split-fashion-mnist-vs-avalanche.json`, one
# process; its peak RSS covers every run of the sweep. Avalanche side:
# benchmarks/avalanche/run_avalanche.py, one process per strategy and seed, for as many
# seeds (0, 1, …) as the sweep file's `axes.seed` count. Both sides skip runs recorded
# by an earlier call with the same OUT (delete OUT to measure afresh). Installs
# avalanche-lib into benchmarks/avalanche/.venv when missing (it reuses the system's torch
# when there is one). Writes OUT/comparison.md, OUT/comparison.json and the accuracy-matrix
# figures under OUT/figures/.
set -euo pipefail
cd "$(dirname "$0")/../.."
THREADS=${1:-2}
SWEEP=tasks/split-fashion-mnist-vs-avalanche.json
SEEDS=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['axes']['seed'])" "$SWEEP")
# The EWC penalty's λ of the sweep's `ewc` variant, so both tools run the same EWC.
EWC_LAMBDA=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['variants']['ewc']['lifecycle.ewc_lambda'])" "$SWEEP")
OUT=${OUT:-checkpoints/vs-avalanche}
STRATEGIES=${STRATEGIES:-naive ewc lwf replay-200 replay-1000 joint cumulative expertgate}
VENV=benchmarks/avalanche/.venv
DATA=/usr/share/datasets/fashion-mnist

if ! "$VENV/bin/python" -c "import avalanche" 2>/dev/null; then
  echo "installing avalanche-lib into $VENV"
  python3 -m venv --system-site-packages "$VENV"
  "$VENV/bin/pip" install -q -r benchmarks/avalanche/requirements.txt
fi
swift build -c release --product expertstream > /dev/null
mkdir -p "$OUT/avalanche"

# Peak RSS (MiB) of a command, from the kernel's accounting of the finished child.
measure() {
  python3 -c '
import resource, subprocess, sys
status = subprocess.run(sys.argv[2:]).returncode
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
try:
    rss = max(rss, float(open(sys.argv[1]).read()))  # a resumed sweep runs less
except (OSError, ValueError):
    pass
open(sys.argv[1], "w").write(f"{rss:.1f}\n")
sys.exit(status)' "$@"
}

echo "== ExpertStream: $SWEEP, $SEEDS seeds"
measure "$OUT/expertstream_peak_rss_mb" .build/release/expertstream sweep "$SWEEP" \
  --out "$OUT/expertstream" --threads "$THREADS" --quiet

for seed in $(seq 0 $((SEEDS - 1))); do
  for strategy in $STRATEGIES; do
    record="$OUT/avalanche/${strategy}_seed${seed}.json"
    if [ -f "$record" ]; then echo "== Avalanche $strategy seed $seed: done earlier"; continue; fi
    echo "== Avalanche $strategy seed $seed"
    "$VENV/bin/python" benchmarks/avalanche/run_avalanche.py --strategy "$strategy" \
      --seed "$seed" --threads "$THREADS" --data-dir "$DATA" --ewc-lambda "$EWC_LAMBDA" --out "$record" \
      > "$OUT/avalanche/${strategy}_seed${seed}.log" 2>&1 \
      || { echo "failed: see $OUT/avalanche/${strategy}_seed${seed}.log"; exit 1; }
    tail -n 1 "$OUT/avalanche/${strategy}_seed${seed}.log"
  done
done

"$VENV/bin/python" benchmarks/avalanche/compare.py "$OUT"
