#!/usr/bin/env bash
# Why fine-tuning and EWC differ in task-IL between ExpertStream and Avalanche: 10 seeds of
# each, Avalanche once with its default loss (cross-entropy over all 10 outputs) and once
# with ExpertStream's (over the classes seen so far, `run_avalanche.py --loss-over seen`).
#
# Usage: bash benchmarks/avalanche/loss_head.sh [SEEDS]   (default 10; ≈ 10 min here)
#   OUT=DIR  where results go (default checkpoints/vs-avalanche-loss-head)
# Needs the virtual environment compare.sh installs. Skips runs recorded in OUT.
set -euo pipefail
cd "$(dirname "$0")/../.."
SEEDS=${1:-10}
OUT=${OUT:-checkpoints/vs-avalanche-loss-head}
VENV=benchmarks/avalanche/.venv
"$VENV/bin/python" -c "import avalanche" 2>/dev/null \
  || { echo "loss_head.sh: run benchmarks/avalanche/compare.sh first (it installs Avalanche)"; exit 1; }
swift build -c release --product expertstream > /dev/null
mkdir -p "$OUT/avalanche"
# The sweep's fine-tune and ewc variants, for SEEDS seeds.
python3 - "$SEEDS" "$OUT/sweep.json" <<'PY'
import json, os, sys
sweep = json.load(open("tasks/split-fashion-mnist-vs-avalanche.json"))
sweep["name"] = "vs-avalanche-loss-head"
sweep["scenario"] = os.path.abspath("tasks/split-fashion-mnist.json")
sweep["variants"] = {name: sweep["variants"][name] for name in ("fine-tune", "ewc")}
sweep["axes"] = {"seed": int(sys.argv[1])}
json.dump(sweep, open(sys.argv[2], "w"), indent=2)
PY
LAMBDA=$(python3 -c "import json; print(json.load(open('$OUT/sweep.json'))['variants']['ewc']['lifecycle.ewc_lambda'])")
.build/release/expertstream sweep "$OUT/sweep.json" --out "$OUT/expertstream" --quiet > /dev/null
for seed in $(seq 0 $((SEEDS - 1))); do
  for strategy in naive ewc; do
    for loss in all seen; do
      record="$OUT/avalanche/${strategy}_${loss}_seed${seed}.json"
      [ -f "$record" ] && continue
      "$VENV/bin/python" benchmarks/avalanche/run_avalanche.py --strategy "$strategy" \
        --seed "$seed" --loss-over "$loss" --ewc-lambda "$LAMBDA" --out "$record" \
        > "${record%.json}.log" 2>&1 || { echo "failed: see ${record%.json}.log"; exit 1; }
    done
  done
done
python3 - "$OUT" <<'PY'
import glob, json, os, statistics, sys
out = sys.argv[1]
def summary(values):
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}"
mine = {}
for line in open(os.path.join(out, "expertstream", "results.jsonl")):
    record = json.loads(line)
    mine.setdefault(record["settings"]["variant"], []).append(
        100 * record["metrics"]["average_accuracy_task_il"])
print(f"task-IL (%), mean ± std over seeds ({len(mine['ewc'])} per row)\n")
print("| ExpertStream | task-IL | Avalanche | loss over all 10 outputs | loss over the seen classes |")
print("| --- | --- | --- | --- | --- |")
for ours, theirs in (("fine-tune", "naive"), ("ewc", "ewc")):
    cells = []
    for loss in ("all", "seen"):
        paths = glob.glob(os.path.join(out, "avalanche", f"{theirs}_{loss}_seed*.json"))
        values = [100 * json.load(open(p))["average_accuracy_task_il"] for p in paths]
        delta = statistics.mean(mine[ours]) - statistics.mean(values)
        cells.append(f"{summary(values)} (Δ {delta:+.1f})")
    print(f"| {ours} | {summary(mine[ours])} | {theirs} | {cells[0]} | {cells[1]} |")
PY
