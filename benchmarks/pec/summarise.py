"""Markdown table of benchmarks/pec/results/*.json: mean ± std over seeds, per dataset.

Usage: python3 benchmarks/pec/summarise.py [RESULTS_DIR]
std is the sample standard deviation (n - 1); one seed shows ± n/a.
"""

import glob
import json
import os
import statistics
import sys

here = os.path.dirname(os.path.abspath(__file__))
results = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "results")

rows = []
for path in sorted(glob.glob(os.path.join(results, "*.json"))):
    with open(path) as f:
        rows.append(json.loads(f.readline()))


def mean_std(values, digits):
    m = statistics.mean(values)
    if len(values) < 2:
        return f"{m:.{digits}f} ± n/a"
    return f"{m:.{digits}f} ± {statistics.stdev(values):.{digits}f}"


print("| dataset | seeds | class-IL accuracy (%) | training s | evaluation s | wall s | peak RSS (MiB) |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for dataset in sorted({r["dataset"] for r in rows}):
    rs = sorted((r for r in rows if r["dataset"] == dataset), key=lambda r: r["seed"])
    col = lambda k: [r[k] for r in rs]  # noqa: E731
    print(
        f"| {dataset} | {', '.join(str(s) for s in col('seed'))} "
        f"| {mean_std(col('final_class_il_accuracy'), 2)} "
        f"| {mean_std(col('training_seconds'), 0)} "
        f"| {mean_std(col('evaluation_seconds'), 0)} "
        f"| {mean_std(col('wall_seconds'), 0)} "
        f"| {max(col('peak_rss_mb')):.0f} (max) |"
    )

print()
print("| dataset | seed | class-IL % | training s | wall s | peak RSS MiB |")
print("| --- | --- | --- | --- | --- | --- |")
for r in sorted(rows, key=lambda r: (r["dataset"], r["seed"])):
    print(
        f"| {r['dataset']} | {r['seed']} | {r['final_class_il_accuracy']:.2f} "
        f"| {r['training_seconds']:.0f} | {r['wall_seconds']:.0f} | {r['peak_rss_mb']:.0f} |"
    )

if rows:
    meta = {(r["torch_version"], r["torch_threads"], r["cpu_model"], r["pec_commit"]) for r in rows}
    for torch_version, threads, cpu, commit in sorted(meta):
        print(
            f"\ntorch {torch_version}, {threads} thread(s), CPU: {cpu}, PEC commit {commit[:7]}"
        )
