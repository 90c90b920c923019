"""Markdown tables of a paper-style run's metrics JSON, beside the paper's reference rows.

Usage: python3 notebooks-md/tools/paper_tables.py METRICS.json {fashion-mnist|mnist}
"""
import json
import statistics
import sys

PAPER = {  # train err, test err, I(E;Y), H_s, H_u (paper.md, authors' result files)
    "fashion-mnist": {
        "single": (0.115, 0.132, None, None, None),
        "original": (0.041, 0.104, 2.03, 0.081, 2.05),
        "original+ls": (0.018, 0.095, 2.20, 0.110, 2.23),
        "attentive": (0.041, 0.098, 2.07, 0.114, 2.25),
        "attentive+ls": (0.014, 0.096, 2.30, 0.109, 2.32),
        "distilled": (0.004, 0.087, None, None, None),
    },
    "mnist": {
        "single": (0.097, 0.096, None, None, None),
        "original": (0.021, 0.038, 2.02, 0.092, 2.17),
        "original+importance": (0.015, 0.032, 2.26, 0.061, 2.32),
        "original+ls": (0.015, 0.029, 2.24, 0.051, 2.25),
        "attentive": (0.019, 0.033, 1.80, 0.071, 2.06),
        "attentive+ls": (0.013, 0.032, 2.28, 0.039, 2.32),
        "distilled": (0.009, 0.028, None, None, None),
    },
}
ORDER = ["single", "original", "original+importance", "original+ls", "attentive",
         "attentive+importance", "attentive+ls", "distilled"]
KEYS = ["train_error", "test_error", "mi_pred", "H_s", "H_u"]


def fmt(value, digits=3):
    return "–" if value is None else f"{value:.{digits}f}"


def mean_std(values):
    if len(values) == 1:
        return fmt(values[0])
    return f"{statistics.mean(values):.3f} ± {statistics.stdev(values):.3f}"


def main():
    runs = json.load(open(sys.argv[1]))["runs"]
    paper = PAPER[sys.argv[2]]
    methods = [m for m in ORDER if any(r["method"] == m for r in runs)]
    print("| method | seeds | train err | test err | I(E;Y) pred | I(E;Y) true | H_s | H_u | class H | paper: train / test / I / H_s / H_u |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for m in methods:
        rs = [r for r in runs if r["method"] == m]
        cells = [mean_std([r[k] for r in rs]) for k in
                 ["train_error", "test_error", "mi_pred", "mi_true", "H_s", "H_u", "class_entropy"]]
        ref = " / ".join(fmt(v, 3 if i < 2 else 2) for i, v in enumerate(paper.get(m, (None,) * 5)))
        print(f"| {m} | {len(rs)} | " + " | ".join(cells) + f" | {ref} |")
    print()
    print("Under the paper's rule (per method, the seed with the lowest training error):")
    print()
    print("| method | seed | train err | test err | I(E;Y) pred | I(E;Y) true | H_s | H_u | class H | paper test err | difference |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for m in methods:
        best = min((r for r in runs if r["method"] == m), key=lambda r: r["train_error"])
        ref = paper.get(m, (None, None))[1]
        diff = "–" if ref is None else f"{best['test_error'] - ref:+.3f}"
        cells = [fmt(best[k]) for k in
                 ["train_error", "test_error", "mi_pred", "mi_true", "H_s", "H_u", "class_entropy"]]
        print(f"| {m} | {best['seed']} | " + " | ".join(cells) + f" | {fmt(ref)} | {diff} |")
    print()
    print("| method | s/epoch (mean) | samples/s (mean) |")
    print("| --- | --- | --- |")
    for m in methods:
        rs = [r for r in runs if r["method"] == m]
        print(f"| {m} | {statistics.mean(r['seconds_per_epoch'] for r in rs):.1f} | "
              f"{statistics.mean(r['samples_per_second'] for r in rs):.0f} |")


if __name__ == "__main__":
    main()
