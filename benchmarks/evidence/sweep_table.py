#!/usr/bin/env python3
"""Prints a markdown table of an evidence sweep's results.jsonl: per configuration and
dataset, mean ± std over seeds of class-IL, task-IL, oracle class-IL and routing accuracy
(%, after the last task), the stored samples, and the training seconds per stream (the
sum of the tasks' training seconds, which include fitting the evidence).

Usage: python3 benchmarks/evidence/sweep_table.py RESULTS.jsonl
"""
import json
import statistics
import sys
from collections import defaultdict


def mean_std(values, scale=1.0):
    values = [v * scale for v in values]
    if len(values) < 2:
        return f"{values[0]:.1f}"
    return f"{statistics.mean(values):.1f} ± {statistics.stdev(values):.1f}"


def main(path):
    groups = defaultdict(list)
    with open(path) as lines:
        for line in lines:
            record = json.loads(line)
            if record.get("status") != "finished":
                print(f"not finished: {record.get('run_id')}", file=sys.stderr)
                continue
            metrics = record["metrics"]
            key = (record["settings"].get("configuration") or record["settings"]["variant"],
                   metrics["dataset"])
            groups[key].append(record)
    print("| configuration | dataset | seeds | class-IL (%) | task-IL (%) | oracle class-IL (%) "
          "| routing (%) | stored samples | training s per stream |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (configuration, dataset), records in sorted(groups.items(), key=lambda item: (item[0][1], item[0][0])):
        metrics = [r["metrics"] for r in records]
        last = lambda m, key: m[key][-1] if isinstance(m[key], list) else m[key]
        oracle = [statistics.mean(m["oracle_accuracy_matrix_class_il"][-1]) for m in metrics]
        seconds = [sum(r["timing"]["training_seconds"]) for r in records]
        print(f"| {configuration} | {dataset} | {len(records)} "
              f"| {mean_std([m['average_accuracy_class_il'] for m in metrics], 100)} "
              f"| {mean_std([m['average_accuracy_task_il'] for m in metrics], 100)} "
              f"| {mean_std(oracle, 100)} "
              f"| {mean_std([m['routing_accuracy'] for m in metrics], 100)} "
              f"| {max(m['stored_samples'] for m in metrics)} "
              f"| {min(seconds):.1f}–{max(seconds):.1f} |")


if __name__ == "__main__":
    main(sys.argv[1])
