#!/usr/bin/env python3
"""Mean ± std over seeds of the evidence probe's JSON lines (benchmarks/evidence/results).

Usage: benchmarks/evidence/summarise.py [results-dir] [--all]
Without --all, prints the learned gate, every h-space and x-space score, and the best fused
combination per calibration; with --all every row.
"""
import glob, json, os, re, statistics, sys
from collections import defaultdict

directory = next((a for a in sys.argv[1:] if not a.startswith("--")), "benchmarks/evidence/results")
everything = "--all" in sys.argv
rows = defaultdict(list)
rss = defaultdict(list)
for path in sorted(glob.glob(os.path.join(directory, "*.jsonl"))):
    run = os.path.basename(path)[: -len(".jsonl")]
    group = re.sub(r"-s\d+$", "", run)
    timing = path[: -len(".jsonl")] + ".time.txt"
    if os.path.exists(timing):
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(timing).read())
        if m: rss[group].append(int(m.group(1)) / 1024)
    for line in open(path):
        try:
            r = json.loads(line)
        except json.JSONDecodeError:  # a run still writing
            continue
        key = (group, r.get("space", "-"), r.get("kind", r["router"]), r.get("calibration", "-"))
        rows[key].append(r)

def ms(values, scale=100, digits=1):
    if not values: return "-"
    mean = statistics.mean(values) * scale
    std = statistics.stdev(values) * scale if len(values) > 1 else 0
    return f"{mean:.{digits}f} ± {std:.{digits}f}"

print("| run | space | score | calibration | seeds | routing (%) | class-IL (%) | task-IL (%) | training (s) | fit (s) | peak RSS (MiB) |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
best_fused = {}
for key, rs in rows.items():
    if key[1] == "h+x":
        score = statistics.mean(r["class_il"] for r in rs)
        k = (key[0], key[3])
        if k not in best_fused or score > best_fused[k][0]: best_fused[k] = (score, key)
for key in sorted(rows):
    rs = rows[key]
    if key[1] == "h+x" and not everything and best_fused.get((key[0], key[3]), (0, None))[1] != key:
        continue
    group, space, kind, calibration = key
    fit = [r["fit_seconds"] for r in rs if "fit_seconds" in r]
    print(f"| {group} | {space} | {kind} | {calibration} | {len(rs)} | {ms([r['routing'] for r in rs])} | "
          f"{ms([r['class_il'] for r in rs])} | {ms([r['task_il'] for r in rs])} | "
          f"{ms([r['training_seconds'] for r in rs], 1)} | {ms(fit, 1) if fit else '-'} | "
          f"{max(rss[group]) if rss[group] else 0:.0f} |")

# --notebook: the main table of notebooks-md/replay-free.md.
if "--notebook" in sys.argv:
    print()
    chosen = [
        ("replay-task", "-", "learned-gate", "-", "attentive gate on a 1000-sample buffer (`moe`)", "1000"),
        ("trainable-task", "-", "learned-gate", "-", "attentive gate, no buffer", "0"),
        ("isolated-task", "x", "subspace", "raw", "**evidence: pixel subspace, raw**", "0"),
        ("isolated-task", "x", "subspace", "expert-z", "evidence: pixel subspace, expert-z", "0"),
        ("isolated-task", "x", "ppca", "raw", "evidence: pixel PPCA (rank 32), raw", "0"),
        ("isolated-task", "x", "gaussian", "expert-z", "evidence: pixel Gaussian (shared Σ), expert-z", "0"),
        ("isolated-task", "x", "diagonal-gaussian", "expert-z", "evidence: pixel diagonal Gaussian, expert-z", "0"),
        ("isolated-task", "h", "gaussian", "raw", "evidence: h_i Gaussian, raw", "0"),
        ("isolated-task", "h", "gaussian", "rank", "evidence: h_i Gaussian, rank", "0"),
        ("isolated-task", "h", "gaussian", "expert-z", "evidence: h_i Gaussian, expert-z", "0"),
        ("isolated-task", "h", "subspace", "raw", "evidence: h_i subspace (rank 8), raw", "0"),
        ("isolated-task", "h", "ppca", "rank", "evidence: h_i PPCA (rank 8), rank", "0"),
        ("isolated-task", "h", "energy", "raw", "evidence: energy, raw", "0"),
        ("isolated-task", "h", "energy", "class-z", "evidence: energy, class-z", "0"),
        ("isolated-task", "h+x", "gaussian+subspace", "expert-z", "evidence: h_i Gaussian + pixel subspace, expert-z", "0"),
        ("trainable-task", "x", "subspace", "raw", "evidence: pixel subspace, raw", "0"),
        ("replay-task", "h", "gaussian", "rank", "evidence: h_i Gaussian, rank (experts saw replay)", "(1000)"),
        ("replay-task", "x", "subspace", "raw", "evidence: pixel subspace, raw (experts saw replay)", "(1000)"),
        ("trainable-class", "-", "learned-gate", "-", "attentive gate, no buffer", "0"),
        ("trainable-class", "x", "subspace", "raw", "evidence: pixel subspace, raw", "0"),
        ("trainable-class", "h", "gaussian", "expert-z", "evidence: h_i Gaussian, expert-z", "0"),
        ("trainable-class", "h", "subspace", "raw", "evidence: h_i subspace, raw", "0"),
    ]
    experts = {"replay-task": "per task, trained with the gate", "trainable-task": "per task, trained with the gate",
               "isolated-task": "per task, trained alone", "trainable-class": "per class, trained with the gate"}
    for dataset, title in [("mnist", "Split-MNIST"), ("fashion-mnist", "Split-FashionMNIST")]:
        for run, space, kind, calibration, label, stored in chosen:
            group = f"{dataset}-{run}"
            rs = rows.get((group, space, kind, calibration))
            if not rs: continue
            fit = [r["fit_seconds"] for r in rs if "fit_seconds" in r]
            til = "n/a" if run.endswith("class") else ms([r["task_il"] for r in rs])
            print(f"| {title} | {experts[run]} | {label} | {ms([r['class_il'] for r in rs])} | "
                  f"{ms([r['routing'] for r in rs])} | {til} | "
                  f"{ms([r['training_seconds'] for r in rs], 1)} | {ms(fit, 1) if fit else '-'} | "
                  f"{stored} | {max(rss[group]) if rss[group] else 0:.0f} ({len(rs)} seeds) |")
