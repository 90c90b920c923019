#!/usr/bin/env python3
"""The side-by-side table of compare.sh: ExpertStream's sweep against Avalanche's records.

Usage: compare.py OUT  (OUT/expertstream/results.jsonl, OUT/avalanche/*_seed*.json)
Writes OUT/comparison.md, OUT/comparison.json and OUT/figures/*.svg (accuracy matrices,
mean over seeds).
"""

import glob
import json
import os
import sys

import numpy as np

# ExpertStream variant -> the Avalanche strategy that is the same method.
SAME_METHOD = {"fine-tune": "naive", "ewc": "ewc", "replay-1000": "replay-1000",
               "joint": "cumulative"}
AVALANCHE_ORDER = ["naive", "ewc", "lwf", "replay-200", "replay-1000", "joint", "cumulative",
                   "expertgate"]


def mean_std(values, scale=100.0, digits=1):
    values = [v for v in values if v is not None]
    if not values:
        return "–"
    array = np.array(values) * scale
    return f"{array.mean():.{digits}f} ± {array.std(ddof=1) if len(array) > 1 else 0:.{digits}f}"


def expertstream_rows(out):
    rows = {}
    with open(os.path.join(out, "expertstream", "results.jsonl")) as handle:
        for line in handle:
            record = json.loads(line)
            if record["status"] != "finished":
                continue
            name = record["settings"].get("configuration", record["settings"]["variant"])
            metrics = record["metrics"]
            rows.setdefault(name, []).append({
                "seed": record["settings"]["seed"],
                "class_il": metrics["average_accuracy_class_il"],
                "task_il": metrics["average_accuracy_task_il"],
                "routing": metrics.get("routing_accuracy"),
                "bwt_class_il": metrics["bwt_class_il"],
                "matrix_class_il": metrics["accuracy_matrix_class_il"],
                "seconds": sum(record["timing"]["training_seconds"]),
            })
    return rows


def avalanche_rows(out):
    rows = {}
    for path in sorted(glob.glob(os.path.join(out, "avalanche", "*_seed*.json"))):
        record = json.load(open(path))
        rows.setdefault(record["strategy"], []).append({
            "seed": record["seed"],
            "class_il": record["average_accuracy_class_il"],
            "task_il": record["average_accuracy_task_il"],
            "routing": record["routing_accuracy"],
            "bwt_class_il": record["bwt_class_il"],
            "matrix_class_il": record["accuracy_matrix_class_il"],
            "seconds": record["training_seconds"],
            "rss": record["peak_rss_mb"],
        })
    return rows


def heat_map(matrix, title, path):
    """An SVG of a lower-triangular accuracy matrix (rows: after task; columns: task)."""
    size = len(matrix)
    cell, left, top = 56, 90, 50
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{max(left + cell * size + 20, 560)}" '
             f'height="{top + cell * size + 40}" font-family="sans-serif" font-size="12">',
             f'<text x="{left}" y="20" font-size="14">{title}</text>',
             f'<text x="{left}" y="38" fill="#555">class-IL accuracy (%), mean over seeds; '
             f'row = after task, column = task</text>']
    for row in range(size):
        parts.append(f'<text x="{left - 8}" y="{top + cell * row + cell / 2 + 4}" '
                     f'text-anchor="end">after T{row + 1}</text>')
        for column in range(row + 1):
            value = matrix[row][column]
            shade = int(255 - 200 * value)
            colour = f"rgb({shade},{shade},255)"
            x, y = left + cell * column, top + cell * row
            parts.append(f'<rect x="{x}" y="{y}" width="{cell - 2}" height="{cell - 2}" '
                         f'fill="{colour}"/>')
            parts.append(f'<text x="{x + cell / 2 - 1}" y="{y + cell / 2 + 4}" '
                         f'text-anchor="middle" fill="{"white" if value > 0.6 else "black"}">'
                         f'{100 * value:.1f}</text>')
    for column in range(size):
        parts.append(f'<text x="{left + cell * column + cell / 2}" '
                     f'y="{top + cell * size + 16}" text-anchor="middle">T{column + 1}</text>')
    parts.append("</svg>")
    with open(path, "w") as handle:
        handle.write("\n".join(parts) + "\n")


def mean_matrix(runs):
    size = len(runs[0]["matrix_class_il"])
    return [[float(np.mean([r["matrix_class_il"][i][j] for r in runs])) for j in range(i + 1)]
            for i in range(size)]


def main():
    out = sys.argv[1]
    ours = expertstream_rows(out)
    theirs = avalanche_rows(out)
    rss_path = os.path.join(out, "expertstream_peak_rss_mb")
    our_rss = float(open(rss_path).read()) if os.path.exists(rss_path) else None

    table = ["| tool | method | seeds | class-IL (%) | task-IL (%) | routing (%) | "
             "class-IL BWT (points) | training (s) | peak RSS (MB) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    summary = {"expertstream": {}, "avalanche": {}}

    def add(tool, name, runs, rss):
        table.append(
            f"| {tool} | {name} | {len(runs)} | {mean_std([r['class_il'] for r in runs])} | "
            f"{mean_std([r['task_il'] for r in runs])} | "
            f"{mean_std([r['routing'] for r in runs])} | "
            f"{mean_std([r['bwt_class_il'] for r in runs])} | "
            f"{mean_std([r['seconds'] for r in runs], scale=1)} | {rss} |")
        summary[tool.lower()][name] = {
            key: [r[key] for r in runs]
            for key in ["seed", "class_il", "task_il", "routing", "bwt_class_il", "seconds"]}

    for name in ["moe"] + [n for n in sorted(ours) if n != "moe"]:
        if name in ours:
            add("ExpertStream", name, ours[name],
                f"{our_rss:.0f} (whole sweep)" if our_rss else "–")
    for name in AVALANCHE_ORDER:
        if name in theirs:
            rss = max(r["rss"] for r in theirs[name])
            add("Avalanche", name, theirs[name], f"{rss:.0f}")

    lines = ["# ExpertStream against Avalanche on Split-FashionMNIST", "",
             "Mean ± standard deviation over seeds. Class-IL: argmax over the classes seen; "
             "task-IL: argmax within the task's classes; routing: share of test samples "
             "whose highest-weight expert is one trained on their task. Training seconds "
             "exclude evaluation.", ""] + table + ["", "## The same method in both tools", "",
             "| ExpertStream | Avalanche | Δ class-IL (points) | Δ task-IL (points) |",
             "| --- | --- | --- | --- |"]
    for ours_name, theirs_name in SAME_METHOD.items():
        if ours_name in ours and theirs_name in theirs:
            delta = lambda key: 100 * (np.mean([r[key] for r in ours[ours_name]])
                                       - np.mean([r[key] for r in theirs[theirs_name]]))
            lines.append(f"| {ours_name} | {theirs_name} | {delta('class_il'):+.1f} | "
                         f"{delta('task_il'):+.1f} |")
    if "moe" in ours and "expertgate" in theirs and "replay-1000" in theirs:
        moe = np.mean([r["seconds"] for r in ours["moe"]])
        lines += ["", "## Time", "",
                  f"- ExpertStream MoE: {moe:.1f} s per stream; that is "
                  f"{moe / np.mean([r['seconds'] for r in theirs['expertgate']]):.3f} of "
                  f"Avalanche ExpertGate's time and "
                  f"{moe / np.mean([r['seconds'] for r in theirs['replay-1000']]):.2f}× "
                  f"Avalanche Replay-1000's."]
    figures = os.path.join(out, "figures")
    os.makedirs(figures, exist_ok=True)
    for tool, rows, names in [("expertstream", ours, ["moe", "replay-1000"]),
                              ("avalanche", theirs, ["expertgate", "replay-1000"])]:
        for name in names:
            if name in rows:
                heat_map(mean_matrix(rows[name]), f"{tool} {name}",
                         os.path.join(figures, f"{tool}-{name}.svg"))
    with open(os.path.join(out, "comparison.md"), "w") as handle:
        handle.write("\n".join(lines) + "\n")
    with open(os.path.join(out, "comparison.json"), "w") as handle:
        json.dump(summary, handle, indent=1)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
