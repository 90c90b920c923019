"""The replay-free sweep's runs beside PEC's: class-IL accuracy (mean ± std over seeds) and
training seconds per stream, and the largest ratio of ours to PEC's smallest.

Usage: python3 benchmarks/pec/compare.py RESULTS.jsonl PEC_RESULTS_DIR
"""
import glob
import json
import os
import statistics
import sys
from collections import defaultdict


def mean_std(values):
    if len(values) < 2:
        return f"{values[0]:.1f}"
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}"


ours = defaultdict(list)
with open(sys.argv[1]) as lines:
    for line in lines:
        record = json.loads(line)
        if record.get("status") == "finished":
            ours[(record["metrics"]["dataset"], record["settings"]["configuration"])].append(record)
pec = defaultdict(list)
for path in glob.glob(os.path.join(sys.argv[2], "*.json")):
    with open(path) as file:
        run = json.loads(file.readline())
    pec[run["dataset"]].append(run)

print("| dataset | method | seeds | stored samples | class-IL (%) | training s per stream | ratio to PEC |")
print("|---|---|---|---|---|---|---|")
for dataset in sorted(set(d for d, _ in ours) | set(pec)):
    runs = pec.get(dataset, [])
    fastest = min((r["training_seconds"] for r in runs), default=None)
    if runs:
        seconds = [r["training_seconds"] for r in runs]
        print(f"| {dataset} | PEC | {len(runs)} | 0 "
              f"| {mean_std([r['final_class_il_accuracy'] for r in runs])} "
              f"| {min(seconds):.0f}–{max(seconds):.0f} | 1 |")
    for (name, configuration), records in sorted(ours.items()):
        if name != dataset:
            continue
        seconds = [sum(r["timing"]["training_seconds"]) for r in records]
        ratio = f"1/{fastest / max(seconds):.0f}" if fastest else "–"
        print(f"| {dataset} | {configuration} | {len(records)} "
              f"| {max(r['metrics']['stored_samples'] for r in records)} "
              f"| {mean_std([100 * r['metrics']['average_accuracy_class_il'] for r in records])} "
              f"| {min(seconds):.1f}–{max(seconds):.1f} | {ratio} |")
