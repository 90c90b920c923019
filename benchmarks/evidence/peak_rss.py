#!/usr/bin/env python3
"""Runs every configuration of a sweep file once, each in its own `expertstream run`
process under `/usr/bin/time -v`, and prints its peak RSS (MiB) and training seconds:
the memory of one run as a researcher starts it (a sweep's single process keeps every
dataset it has loaded).

Usage (from the package root, `expertstream` built in release):
  python3 benchmarks/evidence/peak_rss.py tasks/replay-free.json [--data-dir DIR] [--seed S]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

parser = argparse.ArgumentParser()
parser.add_argument("sweep")
parser.add_argument("--data-dir")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--binary", default=".build/release/expertstream")
arguments = parser.parse_args()

with open(arguments.sweep) as file:
    plan = json.load(file)
scenario = os.path.join(os.path.dirname(arguments.sweep), plan["scenario"])
print("| configuration | dataset | class-IL (%) | training s | peak RSS (MiB) |")
print("|---|---|---|---|---|")
for name, variant in plan.get("variants", {"default": {}}).items():
    settings = {**plan.get("set", {}), **variant, "training.seed": arguments.seed}
    with tempfile.TemporaryDirectory() as scratch:
        settings["checkpoint.directory"] = os.path.join(scratch, "checkpoints")
        metrics = os.path.join(scratch, "metrics.json")
        command = ["/usr/bin/time", "-v", arguments.binary, "run", scenario, "--quiet",
                   "--threads", "1", "--metrics-json", metrics]
        for key, value in settings.items():
            command += ["--set", f"{key}={json.dumps(value)}"]
        if arguments.data_dir and settings.get("dataset.name") == "mnist":
            command += ["--data-dir", arguments.data_dir]
        finished = subprocess.run(command, capture_output=True, text=True)
        if finished.returncode != 0:
            sys.exit(f"{name}: exit {finished.returncode}\n{finished.stderr[-2000:]}")
        peak = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", finished.stderr)[1])
        with open(metrics) as file:
            run = json.load(file)
        print(f"| {name} | {run['dataset']} | {100 * run['average_accuracy_class_il']:.1f} "
              f"| {sum(run['training_seconds']):.1f} | {peak / 1024:.0f} |", flush=True)
