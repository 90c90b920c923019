"""Markdown tables of a continual run's metrics JSON (`expertstream run … --metrics-json`).

Usage: python3 notebooks-md/tools/continual_tables.py METRICS.json [--decompositions POLICY]
Prints mean ± std over seeds per policy, then, for POLICY's first seed, the accuracy
matrices and the gate decomposition after each task.
"""
import json
import statistics
import sys


def ms(values, scale=100.0, digits=1):
    values = [scale * v for v in values]
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def main():
    data = json.load(open(sys.argv[1]))
    runs = data.get("runs", [data])
    policies = []
    for run in runs:
        if run["policy"] not in policies:
            policies.append(run["policy"])
    print("| policy | seeds | task-IL acc (%) | task-IL BWT | class-IL acc (%) | class-IL BWT | class-IL forgetting | oracle-routing class-IL (%) | routing forgetting (TV) | task-IL FWT | experts | train s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for policy in policies:
        rs = [r for r in runs if r["policy"] == policy]
        print(f"| {policy} | {len(rs)} | {ms([r['average_accuracy_task_il'] for r in rs])} | "
              f"{ms([r['bwt_task_il'] for r in rs])} | {ms([r['average_accuracy_class_il'] for r in rs])} | "
              f"{ms([r['bwt_class_il'] for r in rs])} | {ms([r['forgetting_class_il'] for r in rs])} | "
              f"{ms([r['oracle_accuracy_class_il'] for r in rs])} | "
              f"{ms([r['routing_forgetting'] for r in rs], 1, 3)} | "
              f"{ms([r['fwt_task_il'] for r in rs]) if 'fwt_task_il' in rs[0] else '–'} | "
              f"{len(rs[0]['experts'])} | "
              f"{ms([sum(r['training_seconds']) for r in rs], 1, 0)} |")
    if "--decompositions" in sys.argv:
        policy = sys.argv[sys.argv.index("--decompositions") + 1]
        run = next(r for r in runs if r["policy"] == policy)
        print()
        print(f"#### {policy}, seed {run['seed']}: accuracy matrices (%), row = after task i, column = task j")
        for name in ("accuracy_matrix_task_il", "accuracy_matrix_class_il", "oracle_accuracy_matrix_class_il"):
            matrix = run[name]
            print()
            print(f"{name.replace('_', ' ')}:")
            print()
            print("| after | " + " | ".join(f"T{j + 1}" for j in range(len(matrix))) + " |")
            print("| --- |" + " --- |" * len(matrix))
            for i, row in enumerate(matrix):
                cells = [f"{100 * v:.1f}" for v in row] + [""] * (len(matrix) - len(row))
                print(f"| T{i + 1} | " + " | ".join(cells) + " |")
        for task, table in enumerate(run["decompositions"]):
            seen = sorted({c for classes in run["tasks"][:task + 1] for c in classes})
            print()
            print(f"p(expert | class) after task {task + 1} (test samples of the classes seen):")
            print()
            print("| expert | " + " | ".join(str(c) for c in seen) + " |")
            print("| --- |" + " --- |" * len(seen))
            for expert, row in enumerate(table):
                print(f"| {expert} | " + " | ".join(f"{row[c]:.2f}" for c in seen) + " |")


if __name__ == "__main__":
    main()
