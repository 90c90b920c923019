#!/usr/bin/env python3
"""Reliability audit of an `expertstream` binary: feeds it bad inputs and hostile conditions
and classifies what it does.

Categories: bad scenario files, corrupt dataset directories, corrupt checkpoints, kill -9
and resume, a full disk, unwritable checkpoint directories, concurrent runs into one
directory, and a few odd invocations. Every case runs in a temporary directory (the
repository is never written to), with a fixed seed so the corpus and the counts are
reproducible, and a per-run timeout (a timeout is the outcome "hang").

Outcomes per case:
  clear error       exit 1 or 2, no signal, stderr names the file/directory/field involved,
                    no raw NSError text, no leftover `.partial` file
  identical result  exit 0 and the same metrics/checkpoints as the reference run
  accepted          exit 0 where accepting is right (a valid multi-member gzip, a valid value)
  failures:
  crash (signal N)  killed by a signal
  hang              still running at the timeout
  unclear error     exit != 0 but the message names nothing involved, has raw NSError
                    text, the exit code is not 1 or 2, or a `.partial` file was left behind
  silently wrong    exit 0 where it should have failed, or a different result
  wrongly rejected  exit != 0 for an input that must be accepted (a valid multi-member gzip)

Usage: python3 scripts/reliability-audit.py --binary .build/release/expertstream [--quick]
Exit status: 0 when no case failed, 1 otherwise.
"""
import argparse
import concurrent.futures
import copy
import datetime
import gzip
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

try:
    import h5py
    import numpy as np
except ImportError:  # the h5py-style checkpoint edits are then skipped
    h5py = None
    np = None

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FMNIST = "/usr/share/datasets/fashion-mnist"
FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
TRAIN_PER_CLASS, TEST_PER_CLASS = 40, 15      # the small dataset written for the audit
KILL_EPOCHS = 12                               # epochs per task of the runs killed
OUTCOMES = ["clear error", "identical result", "accepted", "crash", "hang", "unclear error",
            "silently wrong", "wrongly rejected"]
FAILURES = {"crash", "hang", "unclear error", "silently wrong", "wrongly rejected"}
RAW_NSERROR = ("NSCocoaErrorDomain", "Error Domain=", "NSPOSIXErrorDomain", "NSUnderlyingError")
MEMORY_LIMIT = 6 << 30  # address space per run: a huge model fails instead of swapping


# ----------------------------------------------------------------------------------------
# running and classifying


class Result:
    def __init__(self, cmd, rc, out, err, hung, seconds):
        self.cmd, self.rc, self.out, self.err, self.hung = cmd, rc, out, err, hung
        self.seconds = seconds

    @property
    def signal(self):
        return -self.rc if self.rc is not None and self.rc < 0 else None

    @property
    def first_err(self):
        """The first line of stderr; for a crash, the runtime's fatal-error line."""
        lines = self.err.splitlines()
        for line in lines:
            if "Fatal error" in line or "fatal error" in line:
                return line.strip()[:300]
        crashed = next((l.strip(" *") for l in lines if "Program crashed" in l), None)
        if crashed:   # the backtrace's first frame in the project's sources
            crashed = re.sub(r" at 0x[0-9a-f]+", "", crashed)
            for line in lines:
                m = re.search(r"0x[0-9a-f]+ (\S.*?) \+ \d+ in \S+ at (\S*/Sources/\S+)", line)
                if m:
                    return f"{crashed} in {m.group(1)} ({m.group(2).split('/Sources/')[1]})"
            return crashed
        for line in self.err.splitlines():
            if line.strip():
                return line.strip()[:300]
        return "(stderr empty)"


def _limits():
    try:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    except (ValueError, OSError):
        pass


class Audit:
    def __init__(self, args):
        self.args = args
        self.binary = os.path.abspath(args.binary)
        self.tmp = tempfile.mkdtemp(prefix="es-audit-")
        # every run's working directory, deep enough that a relative checkpoint directory
        # such as "a/../../.." stays inside the temporary directory
        self.work = os.path.join(self.tmp, "work", "w1", "w2", "w3", "w4")
        os.makedirs(self.work)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("EXPERTSTREAM_")}
        self.env["XDG_CACHE_HOME"] = os.path.join(self.tmp, "cache")
        self.env["LC_ALL"] = "C.UTF-8"
        self.rng = random.Random(args.seed)
        self.cases = []          # dicts: category, name, outcome, note, cmd, err
        self.lock = threading.Lock()
        self.counter = 0
        self.mounts = []

    # paths ---------------------------------------------------------------------------
    def path(self, *parts):
        p = os.path.join(self.tmp, *parts)
        return p

    def fresh(self, prefix):
        with self.lock:
            self.counter += 1
            n = self.counter
        p = self.path("c", f"{prefix}-{n:04d}")
        os.makedirs(p, exist_ok=True)
        return p

    def short(self, text):
        return text.replace(self.tmp, "$TMP").replace(self.binary, "expertstream")

    # processes -----------------------------------------------------------------------
    def case_cwd(self, d):
        """A working directory of one case's own, as deep as `self.work`."""
        p = os.path.join(d, "w1", "w2", "w3", "w4")
        os.makedirs(p, exist_ok=True)
        return p

    def run(self, argv, timeout=None, cwd=None):
        cmd = [self.binary] + argv
        timeout = timeout or self.args.timeout
        start = time.time()
        p = subprocess.Popen(cmd, cwd=cwd or self.work, env=self.env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True, preexec_fn=_limits)
        hung = False
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            hung = True
            os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate()
        return Result(cmd, p.returncode, out.decode("utf-8", "replace"),
                      err.decode("utf-8", "replace"), hung, time.time() - start)

    def run_flags(self, ckpt, metrics=None, data=None, touched=()):
        """Flags that make a quick run small and keep it inside the temporary directory;
        fields in `touched` (changed by a mutation) are not overridden."""
        flags = ["--threads", "1", "--quiet", "--data-dir", data or self.data]
        if "checkpoint.directory" not in touched and "checkpoint" not in touched:
            flags += ["--set", f"checkpoint.directory={ckpt}"]
        if not any(t.startswith("dataset") for t in touched):
            flags += ["--set", f"dataset.train_samples_per_class={TRAIN_PER_CLASS}",
                      "--set", f"dataset.test_samples_per_class={TEST_PER_CLASS}"]
        if metrics:
            flags += ["--metrics-json", metrics]
        return flags

    def classify(self, res, expect, names=(), same=None, partial_dirs=()):
        """expect: "error" (must fail), "ok" (must succeed), "either".
        same: callable telling whether an exit-0 result equals the reference."""
        if res.hung:
            return "hang", f"no exit after {self.args.timeout if res.seconds > 1 else 0:.0f} s"
        if res.signal:
            return "crash", f"signal {res.signal} ({signal.Signals(res.signal).name})"
        partial = []
        for d in partial_dirs:
            for root, _, files in os.walk(d):
                partial += [os.path.join(root, f) for f in files if ".partial" in f]
        if res.rc == 0:
            if expect == "error":
                return "silently wrong", "exit 0 for an input that should fail"
            if same is not None:
                ok, why = same()
                return ("identical result", "") if ok else ("silently wrong", why)
            if partial:
                return "unclear error", "exit 0 but left " + os.path.basename(partial[0])
            return "accepted", ""
        if expect == "ok":
            return "wrongly rejected", f"exit {res.rc} for a valid input"
        if res.rc not in (1, 2):
            return "unclear error", f"exit code {res.rc}"
        if any(s in res.err for s in RAW_NSERROR):
            return "unclear error", "raw NSError text"
        if partial:
            return "unclear error", "left " + self.short(partial[0])
        names = [n for n in names if n]
        if names and not any(n in res.err for n in names):
            return "unclear error", "stderr names none of: " + ", ".join(
                self.short(n)[:60] for n in names[:3])
        return "clear error", ""

    def record(self, category, name, res, outcome, note=""):
        case = {"category": category, "name": name, "outcome": outcome,
                "note": self.short(note),
                "cmd": self.short(" ".join(_quote(a) for a in res.cmd)) if res else "",
                "err": self.short(res.first_err) if res else ""}
        with self.lock:
            self.cases.append(case)
        if self.args.verbose:
            print(f"  [{category}] {name}: {outcome} {note}", file=sys.stderr)

    def parallel(self, jobs):
        with concurrent.futures.ThreadPoolExecutor(self.args.jobs) as pool:
            for f in [pool.submit(j) for j in jobs]:
                f.result()

    # comparisons ---------------------------------------------------------------------
    def normalised_metrics(self, path):
        with open(path) as f:
            data = json.load(f)

        def clean(v):
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()
                        if "second" not in k and k not in ("timing", "seconds", "threads",
                                                           "resumed_from", "checkpoint")}
            if isinstance(v, list):
                return [clean(x) for x in v]
            if isinstance(v, str) and self.tmp in v:
                return "<path>"
            return v
        return clean(data)

    def same_metrics(self, path, reference):
        def check():
            if not os.path.exists(path):
                return False, "no metrics JSON written"
            try:
                a, b = self.normalised_metrics(path), self.normalised_metrics(reference)
            except (ValueError, OSError) as e:
                return False, f"metrics JSON unreadable: {e}"
            return (a == b), ("" if a == b else "metrics differ from the reference")
        return check

    def compare_runs(self, a, b):
        """Whether the checkpoint directories a and b hold the same .h5 files with equal
        datasets and attributes (timings, the tool version, the digests that cover them
        (content_sha256) and the scenario's checkpoint directory left out, as
        scripts/compare-runs.sh does but for the directory)."""
        if not h5py:
            return True, "no h5py: checkpoints not compared (metrics only)"
        files = lambda d: sorted(f for f in os.listdir(d) if f.endswith(".h5")) \
            if os.path.isdir(d) else []
        if files(a) != files(b):
            return False, f"files {files(a)} vs {files(b)}"

        def attrs(obj):
            out = {}
            for k, v in obj.attrs.items():
                if "second" in k or k in ("tool_version", "content_sha256"):
                    continue
                if k == "scenario":
                    try:
                        v = json.loads(v)
                        v.pop("checkpoint", None)
                    except ValueError:
                        pass
                out[k] = v.tolist() if hasattr(v, "tolist") else v
            return out

        def content(path):
            items = {}
            with h5py.File(path, "r") as f:
                items["/"] = ("attrs", attrs(f))

                def visit(name, obj):
                    if isinstance(obj, h5py.Dataset):
                        v = obj[()]
                        items[name] = (str(obj.dtype), obj.shape,
                                       v.tobytes() if hasattr(v, "tobytes") else v, attrs(obj))
                    else:
                        items[name] = ("group", attrs(obj))
                f.visititems(visit)
            return items
        for name in files(a):
            try:
                x, y = content(os.path.join(a, name)), content(os.path.join(b, name))
            except Exception as e:
                return False, f"{name} unreadable: {e}"
            if x != y:
                diff = next((k for k in sorted(set(x) | set(y)) if x.get(k) != y.get(k)), "?")
                what = ""
                if diff not in y or diff not in x:
                    what = " (only in the reference)" if diff in x else " (not in the reference)"
                elif isinstance(x[diff][-1], dict):
                    ax, ay = x[diff][-1], y[diff][-1]
                    keys = sorted(k for k in set(ax) | set(ay) if ax.get(k) != ay.get(k))
                    what = f" (attribute {', '.join(keys)})" if keys else " (data)"
                return False, f"{name}: {diff} differs{what}"
        return True, ""

    # set-up --------------------------------------------------------------------------
    def setup(self):
        self.data = self.path("data")
        self.write_small_dataset(self.data)
        # the reference run: quick.json on the small data
        self.ref_ckpt = self.path("ref", "ckpt")
        self.ref_metrics = self.path("ref", "metrics.json")
        os.makedirs(self.path("ref"))
        res = self.run(["run", self.scenario("quick.json")]
                       + self.run_flags(self.ref_ckpt, self.ref_metrics))
        if res.rc != 0:
            sys.exit(f"the reference run failed (exit {res.rc}): {res.err[-2000:]}")
        self.ref_seconds = res.seconds
        print(f"reference run: {res.seconds:.1f} s, checkpoints "
              + ", ".join(sorted(os.listdir(self.ref_ckpt))), file=sys.stderr)

    def scenario(self, name):
        """A copy of tasks/NAME in the temporary directory."""
        dst = self.path("tasks", name)
        if not os.path.exists(dst):
            os.makedirs(self.path("tasks"), exist_ok=True)
            shutil.copy(os.path.join(REPO, "tasks", name), dst)
        return dst

    def write_small_dataset(self, directory):
        """Valid IDX gz files with the first TRAIN/TEST_PER_CLASS samples of each class."""
        os.makedirs(directory, exist_ok=True)
        self.raw = {}
        for split, per_class in (("train", TRAIN_PER_CLASS), ("t10k", TEST_PER_CLASS)):
            with gzip.open(os.path.join(FMNIST, f"{split}-labels-idx1-ubyte.gz")) as f:
                labels = f.read()[8:]
            with gzip.open(os.path.join(FMNIST, f"{split}-images-idx3-ubyte.gz")) as f:
                images = f.read()[16:]
            taken, chosen = [0] * 10, []
            for i, y in enumerate(labels):
                if taken[y] < per_class:
                    taken[y] += 1
                    chosen.append(i)
                if len(chosen) == 10 * per_class:
                    break
            img = struct.pack(">IIII", 0x803, len(chosen), 28, 28) + b"".join(
                images[i * 784:(i + 1) * 784] for i in chosen)
            lab = struct.pack(">II", 0x801, len(chosen)) + bytes(labels[i] for i in chosen)
            self.raw[f"{split}-images-idx3-ubyte"] = img
            self.raw[f"{split}-labels-idx1-ubyte"] = lab
        for name, raw in self.raw.items():
            with open(os.path.join(directory, name + ".gz"), "wb") as f:
                f.write(gzip.compress(raw, mtime=0))

    def mount_tmpfs(self, directory, options):
        os.makedirs(directory, exist_ok=True)
        p = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", directory],
                           capture_output=True, text=True)
        if p.returncode == 0:
            self.mounts.append(directory)
            return True
        return False

    def cleanup(self):
        for m in reversed(self.mounts):
            subprocess.run(["umount", "-l", m], capture_output=True)
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


def _quote(a):
    if a and all(c.isalnum() or c in "-_./=:,+@%$" for c in a):
        return a
    a = a if len(a) < 120 else a[:100] + "…"
    return "'" + a.replace("'", "'\\''") + "'"


# ----------------------------------------------------------------------------------------
# 1. bad scenario files

BAD = "error"
OK = "ok"
EITHER = "either"

# (path, value, expectation) for each scenario; paths use dots, "+" means "add this key"
QUICK_VALUES = [
    ("dataset.train_samples_per_class", -1, BAD), ("dataset.train_samples_per_class", 0, BAD),
    ("dataset.train_samples_per_class", 1, BAD), ("dataset.train_samples_per_class", 10**12, EITHER),
    ("dataset.test_samples_per_class", 0, BAD), ("dataset.test_samples_per_class", -5, BAD),
    ("dataset.validation_fraction", -0.1, BAD), ("dataset.validation_fraction", 0.95, BAD),
    ("dataset.validation_fraction", 1e400, BAD), ("dataset.name", "cifar10", BAD),
    ("dataset.name", "", BAD), ("dataset.evaluate_on", "train", BAD),
    ("split.tasks", 0, BAD), ("split.tasks", -1, BAD), ("split.tasks", 6, BAD),
    ("split.tasks", 10**30, BAD), ("split.classes_per_task", 0, BAD),
    ("split.classes_per_task", 11, BAD), ("split.order", "random", BAD),
    ("split.+seed", -1, BAD), ("split.+groups", [[0, 1], [-1, 2]], BAD),
    ("split.+groups", [[0, 1], [1, 2]], BAD), ("split.+groups", [[]], BAD),
    ("split.+groups", [], BAD), ("split.+groups", [[0, 10]], BAD),
    ("split.+groups", [[0, 1.5]], BAD),
    ("model.experts", 0, BAD), ("model.experts", -1, BAD), ("model.hidden", [], BAD),
    ("model.hidden", [0, 32], BAD), ("model.hidden", [-64, 32], BAD),
    ("model.hidden", [65536, 65536], EITHER), ("model.hidden", [64, "32"], BAD),
    ("model.expert", "transformer", BAD), ("model.expert", "paper-cifar100", BAD),
    ("model.gate", "hard", BAD), ("model.+attention_dim", 31, BAD),
    ("model.+gate_hidden", [16], BAD), ("model.+channels", 0, BAD),
    ("training.epochs", -1, BAD), ("training.epochs", 0, OK),
    ("training.batch_size", 1, BAD), ("training.batch_size", 0, BAD),
    ("training.batch_size", -64, BAD), ("training.seed", -1, BAD),
    ("training.seed", 2**64, BAD), ("training.seed", int("9" * 1000), BAD),
    ("training.optimizer.learning_rate", 0, BAD), ("training.optimizer.learning_rate", -0.1, BAD),
    ("training.optimizer.learning_rate", 1e400, BAD), ("training.optimizer.name", "lion", BAD),
    ("training.optimizer.+momentum", 1.0, BAD), ("training.optimizer.+weight_decay", -1, BAD),
    ("training.loss", "mse", BAD),
    ("lifecycle.policy", "grow", BAD), ("lifecycle.experts_per_task", 0, BAD),
    ("lifecycle.gate", "frozen", BAD), ("lifecycle.replay_samples", -1, BAD),
    ("lifecycle.+reuse_threshold", 1.5, BAD), ("lifecycle.+gate_epochs", -1, BAD),
    ("lifecycle.+ewc_lambda", -1, BAD),
    ("checkpoint.directory", "", BAD), ("checkpoint.+every_task", "yes", BAD),
    ("name", "", BAD), ("name", "a/b", BAD), ("scenario", "domain-incremental", BAD),
    ("mode", "offline", BAD),
    ("regularizers", {"sample_similarity": {"beta_same": 1, "beta_different": 1,
                                            "placement": "everywhere"}}, BAD),
    ("regularizers", {"importance": {"weight": "high"}}, BAD),
]
QUICK_DELETE_CHECKPOINT_NAME = [("..", BAD), ("a/b", BAD), (".", BAD), ("", BAD)]
PAPER_VALUES = [
    ("paper.methods", [], BAD), ("paper.methods", ["bogus"], BAD),
    ("paper.methods", ["single", "single"], EITHER), ("paper.methods", "single", BAD),
    ("paper.seeds", 0, BAD), ("paper.seeds", -1, BAD), ("paper.seeds", 10**20, BAD),
    ("paper.distillation_epochs", -1, BAD), ("paper.distill_from", "single", BAD),
    ("paper.distill_from", "original", BAD), ("paper.single_weight_decay", -1e-6, BAD),
    ("model.attention_dim", 33, BAD), ("model.expert", "paper-mnist", EITHER),
    ("model.expert", "paper-cifar100", BAD), ("model.experts", 0, BAD),
    ("training.batch_size", 1, BAD), ("mode", "Paper", BAD),
    ("regularizers.sample_similarity.placement", "nowhere", BAD),
    ("regularizers.importance.weight", -1, BAD), ("split.classes_per_task", 11, BAD),
    ("+pape", {"seeds": 1}, BAD),
]
TYPOS = [("quick.json", ["nmae", "datset", "trainig", "lifecycel"]),
         ("paper-fashion-mnist.json", ["modle", "regularisers", "papr"])]
NESTED_TYPOS = [("quick.json", "dataset", "train_samples_per_clas"),
                ("quick.json", "split", "task"), ("quick.json", "model", "hiden"),
                ("quick.json", "training", "optimiser"), ("quick.json", "training", "epoch"),
                ("quick.json", "lifecycle", "replay_sample"), ("quick.json", "checkpoint", "dir"),
                ("paper-fashion-mnist.json", "paper", "method"),
                ("paper-fashion-mnist.json", "training", "batchsize")]


def _set(obj, path, value):
    keys = path.split(".")
    for k in keys[:-1]:
        obj = obj[k.lstrip("+")]
    obj[keys[-1].lstrip("+")] = value


def _leaves(obj, prefix=""):
    for k, v in obj.items():
        p = f"{prefix}{k}"
        if isinstance(v, dict):
            yield from _leaves(v, p + ".")
        else:
            yield p, v


# fields of type number whose value in a file may be written as an integer
NUMBER_FIELDS = {"validation_fraction", "learning_rate", "momentum", "weight_decay",
                 "single_weight_decay", "beta_same", "beta_different", "weight",
                 "reuse_threshold", "ewc_lambda"}


def _wrong_types(value, field):
    """Replacement values of another JSON type than `value`."""
    options = {"string": "x", "bool": True, "list": [], "object": {}, "float": 2.5, "int": 3}
    if field in NUMBER_FIELDS:
        value = float(value)
    kind = ("bool" if isinstance(value, bool) else "int" if isinstance(value, int)
            else "float" if isinstance(value, float) else "string" if isinstance(value, str)
            else "list" if isinstance(value, list) else "object")
    drop = {kind}
    if kind == "int":
        drop.add("float")          # 2.5 for an integer field is its own case below
    if kind == "float":
        drop.add("int")            # an integer is a valid number
    return [v for k, v in options.items() if k not in drop]


def scenario_corpus(audit):
    """(name, file-writer, expectation, field) for every bad scenario file."""
    rng = random.Random(audit.args.seed + 1)
    corpus = []
    for base in ("quick.json", "paper-fashion-mnist.json"):
        text = open(os.path.join(REPO, "tasks", base)).read()
        data = json.loads(text)
        tag = base.split(".")[0][:5]
        table = QUICK_VALUES if base == "quick.json" else PAPER_VALUES
        for path, value, expect in table:
            m = copy.deepcopy(data)
            if path.startswith("+"):
                m[path[1:]] = value
            else:
                _set(m, path, value)
            corpus.append((f"{tag}: {path.replace('+', '')}={json.dumps(value)[:40]}",
                           json.dumps(m, indent=1), expect, path.split(".")[-1].lstrip("+")))
        for path, value in _leaves(data):
            leaf = path.split(".")[-1]
            for wrong in rng.sample(_wrong_types(value, leaf), 2):
                m = copy.deepcopy(data)
                _set(m, path, wrong)
                corpus.append((f"{tag}: {path} of wrong type {json.dumps(wrong)}",
                               json.dumps(m, indent=1), BAD, path.split(".")[-1]))
            if isinstance(value, int) and not isinstance(value, bool) and \
                    leaf not in NUMBER_FIELDS:
                m = copy.deepcopy(data)
                _set(m, path, value + 0.5)
                corpus.append((f"{tag}: {path}={value + 0.5}", json.dumps(m, indent=1), BAD,
                               path.split(".")[-1]))
        for b, keys in TYPOS:
            if b == base:
                for k in keys:
                    m = dict(data)
                    m[k] = m.get(k.replace("nmae", "name"), 1)
                    corpus.append((f"{tag}: unknown top-level key {k}", json.dumps(m), BAD, k))
        for b, section, key in NESTED_TYPOS:
            if b == base:
                m = copy.deepcopy(data)
                m[section][key] = 1
                corpus.append((f"{tag}: unknown key {section}.{key}", json.dumps(m), BAD, key))
        # duplicate keys: the second value would silently win in most parsers
        corpus.append((f"{tag}: duplicate top-level key",
                       text.replace("{", '{"name": "dup", ', 1), BAD, "name"))
        inner = text.replace('"training": {', '"training": {"seed": 7, ', 1)
        corpus.append((f"{tag}: duplicate key training.seed", inner, BAD, "seed"))
        # syntax
        syntax = [
            ("trailing comma", text.rstrip().rstrip("}") + ",}"),
            ("missing closing brace", text.rstrip().rstrip("}")),
            ("single quotes", text.replace('"', "'")),
            ("comment", "// scenario\n" + text),
            ("NaN literal", text.replace('"training": {', '"training": {"x": NaN, ', 1)),
            ("unquoted key", text.replace('"name"', "name", 1)),
            ("empty file", ""), ("whitespace only", "  \n\t\n"), ("null", "null"),
            ("array", "[]"), ("number", "42"), ("string", '"quick"'),
            ("two documents", text + text),
            ("deep nesting", "[" * 200000 + "]" * 200000),
            ("deep nesting in a field",
             text.replace('"training": {', '"training": {"x": ' + "[" * 100000
                          + "]" * 100000 + ", ", 1)),
            ("NUL byte", text.replace('"name"', '"na\x00me"', 1)),
        ]
        for what, t in syntax:
            corpus.append((f"{tag}: {what}", t, BAD, None))
        corpus.append((f"{tag}: byte-order mark", "\ufeff" + text, EITHER, None))
        for _ in range(6):
            cut = rng.randrange(1, len(text) - 2)
            corpus.append((f"{tag}: truncated at byte {cut}", text[:cut], BAD, None))
        raw = text.encode()
        corpus.append((f"{tag}: latin-1 byte in a string",
                       raw.replace(b'"name": "', b'"name": "\xe9', 1), BAD, None))
        corpus.append((f"{tag}: 0xff first byte", b"\xff" + raw, BAD, None))
        corpus.append((f"{tag}: UTF-16", text.encode("utf-16"), EITHER, None))
        corpus.append((f"{tag}: 1e400 as epochs",
                       text.replace('"epochs": ', '"epochs": 1e400, "x_": ', 1)
                       .replace(', "x_": ', ', "zz_unused": ', 1), BAD, "epochs"))
        corpus.append((f"{tag}: 1000-digit batch size",
                       json.dumps(dict(data, training=dict(data["training"],
                                                           batch_size=int("1" * 1000)))),
                       BAD, "batch_size"))
    # the name and directory of checkpoints with the default directory
    data = json.loads(open(os.path.join(REPO, "tasks", "quick.json")).read())
    for name, expect in QUICK_DELETE_CHECKPOINT_NAME:
        m = copy.deepcopy(data)
        del m["checkpoint"]
        m["name"] = name
        corpus.append((f"quick: name={json.dumps(name)} with the default directory",
                       json.dumps(m), expect, "name"))
    for d in ["..", "a/../../..", "/", "/dev/null"]:
        m = copy.deepcopy(data)
        m["checkpoint"]["directory"] = d
        corpus.append((f"quick: checkpoint.directory={json.dumps(d)}", json.dumps(m),
                       EITHER, "directory"))
    return corpus


def category_scenarios(audit):
    cat = "1. bad scenario files"
    corpus = scenario_corpus(audit)
    if audit.args.quick:
        corpus = audit.rng.sample(corpus, len(corpus) // 4)
    jobs = []
    run_rng = random.Random(audit.args.seed + 5)
    run_subset = {i for i, c in enumerate(corpus) if c[2] != BAD or run_rng.random() < 0.25}
    for i, (name, content, expect, field) in enumerate(corpus):
        def job(i=i, name=name, content=content, expect=expect, field=field):
            d = audit.fresh("scen")
            f = os.path.join(d, "scenario.json")
            with open(f, "wb") as out:
                out.write(content.encode() if isinstance(content, str) else content)
            cwd = audit.case_cwd(d)   # relative checkpoint directories stay in this case
            res = audit.run(["scenario", "check", f], cwd=cwd)
            names = [f, field] if field else [f]
            o, note = audit.classify(res, expect if expect != EITHER else EITHER, names)
            audit.record(cat, "check " + name, res, o, note)
            quick_based = name.startswith("quick")
            # absolute checkpoint directories ("/", "/dev/null") are only checked, never run
            absolute = 'directory="/' in name
            if i in run_subset and quick_based and not absolute:
                ck, mj = os.path.join(d, "ckpt"), os.path.join(d, "m.json")
                touched = ("checkpoint",) if "checkpoint" in name or "name=" in name else ()
                if "dataset." in name:
                    touched += ("dataset",)
                # "either" scenarios that pass `check` must run or fail cleanly
                res = audit.run(["run", f] + audit.run_flags(ck, mj, touched=touched), cwd=cwd)
                o, note = audit.classify(res, expect, names, partial_dirs=[d])
                audit.record(cat, "run " + name, res, o, note)
        jobs.append(job)
    # not a regular file
    def special():
        d = audit.fresh("scen")
        os.mkdir(os.path.join(d, "dir.json"))
        os.mkfifo(os.path.join(d, "fifo.json"))
        os.symlink(os.path.join(d, "loop.json"), os.path.join(d, "loop.json"))
        for what, f in [("a directory", "dir.json"), ("a FIFO", "fifo.json"),
                        ("a symlink loop", "loop.json"), ("a missing file", "missing.json")]:
            p = os.path.join(d, f)
            res = audit.run(["scenario", "check", p],
                            timeout=min(audit.args.timeout, 20) if "FIFO" in what else None)
            o, note = audit.classify(res, BAD, [p])
            audit.record(cat, f"check {what} instead of a file", res, o, note)
        res = audit.run(["scenario", "check", "/dev/null"])
        o, note = audit.classify(res, BAD, ["/dev/null"])
        audit.record(cat, "check /dev/null", res, o, note)
    jobs.append(special)
    audit.parallel(jobs)


# ----------------------------------------------------------------------------------------
# 2. corrupt dataset directories

def _gz(raw):
    return gzip.compress(raw, mtime=0)


def _gunzip_ok(blob, original):
    try:
        return gzip.decompress(blob) == original
    except Exception:
        return False


def dataset_corpus(audit):
    """(name, writer(dir), expectation, file involved) per mutant data directory."""
    rng = random.Random(audit.args.seed + 2)
    raws = audit.raw
    names = list(raws)
    corpus = []

    def replace(file, blob):
        def w(d):
            with open(os.path.join(d, file + ".gz"), "wb") as f:
                f.write(blob)
        return w

    for file in names:
        raw = raws[file]
        gz = _gz(raw)
        short = file.replace("-ubyte", "")
        for cut in sorted({0, 1, 9, 10, 18, len(gz) // 4, len(gz) // 2, 3 * len(gz) // 4,
                           len(gz) - 8, len(gz) - 4, len(gz) - 1}):
            corpus.append((f"{short}: gzip truncated to {cut} bytes", replace(file, gz[:cut]),
                           BAD, file))
        for _ in range(26):
            pos = rng.choice([rng.randrange(0, 10), rng.randrange(10, len(gz) - 8),
                              rng.randrange(10, len(gz) - 8), rng.randrange(len(gz) - 8, len(gz))])
            bit = rng.randrange(8)
            b = bytearray(gz)
            b[pos] ^= 1 << bit
            b = bytes(b)
            exp = OK if _gunzip_ok(b, raw) else BAD
            corpus.append((f"{short}: gzip bit flip at byte {pos} bit {bit}", replace(file, b),
                           exp, file))
        header = 16 if "images" in file else 8
        mutations = []
        for val in (0x00000803 if "images" in file else 0x00000801,):
            for bad in (0x803 ^ 0x2 if "images" in file else 0x803, 0x0801 ^ 0x0100,
                        0x0d03, 0x08030000, 0xffffffff, 0x00000800):
                if bad != val:
                    mutations.append((f"magic 0x{bad:08x}", struct.pack(">I", bad) + raw[4:]))
        n = struct.unpack(">I", raw[4:8])[0]
        for count in (0, n - 1, n + 1, 2 * n, 0x7fffffff, 0xffffffff):
            mutations.append((f"count {count}", raw[:4] + struct.pack(">I", count) + raw[8:]))
        if "images" in file:
            for rows, cols in ((27, 28), (28, 29), (0, 28), (784, 1), (0xffff, 0xffff),
                               (0xffffffff, 0xffffffff)):
                mutations.append((f"dims {rows}x{cols}",
                                  raw[:8] + struct.pack(">II", rows, cols) + raw[16:]))
        mutations.append(("body short by 1 byte", raw[:-1]))
        mutations.append(("body short by a sample", raw[:-(784 if "images" in file else 1)]))
        mutations.append(("1 trailing byte", raw + b"\0"))
        mutations.append(("header only", raw[:header]))
        mutations.append(("header cut", raw[:header - 2]))
        for what, m in mutations:
            corpus.append((f"{short}: IDX {what}", replace(file, _gz(m)), BAD, file))
        # valid variants: must be accepted with the same result
        for members in (2, 3, 7):
            cuts = sorted(rng.sample(range(1, len(raw)), members - 1))
            parts = [raw[a:b] for a, b in zip([0] + cuts, cuts + [len(raw)])]
            corpus.append((f"{short}: valid {members}-member gzip",
                           replace(file, b"".join(_gz(p) for p in parts)), OK, file))
        corpus.append((f"{short}: valid gzip of one member per byte of the header",
                       replace(file, b"".join(_gz(raw[i:i + 1]) for i in range(4))
                               + _gz(raw[4:])), OK, file))

        def raw_file(d, file=file, raw=raw):
            os.remove(os.path.join(d, file + ".gz"))
            with open(os.path.join(d, file), "wb") as f:
                f.write(raw)
        corpus.append((f"{short}: valid uncompressed file", raw_file, OK, file))

        def missing(d, file=file):
            os.remove(os.path.join(d, file + ".gz"))
        corpus.append((f"{short}: missing", missing, BAD, file))

        def directory(d, file=file):
            os.remove(os.path.join(d, file + ".gz"))
            os.mkdir(os.path.join(d, file + ".gz"))
        corpus.append((f"{short}: a directory", directory, BAD, file))

        def dangling(d, file=file):
            os.remove(os.path.join(d, file + ".gz"))
            os.symlink("/nonexistent/x.gz", os.path.join(d, file + ".gz"))
        corpus.append((f"{short}: dangling symlink", dangling, BAD, file))

        def empty(d, file=file):
            open(os.path.join(d, file + ".gz"), "wb").close()
        corpus.append((f"{short}: empty file", empty, BAD, file))
        corpus.append((f"{short}: not gzip (plain text)", replace(file, b"hello\n" * 100), BAD,
                       file))
        corpus.append((f"{short}: gzip + trailing garbage", replace(file, gz + b"garbage!"),
                       BAD, file))

        if "labels" in file:
            for label, where in ((10, 0), (255, n - 1), (10, n // 2), (11, 3)):
                b = bytearray(raw)
                b[8 + where] = label
                corpus.append((f"{short}: label {label} at sample {where}",
                               replace(file, _gz(bytes(b))), BAD, file))
            zero = struct.pack(">II", 0x801, 0)
            corpus.append((f"{short}: 0 labels", replace(file, _gz(zero)), BAD, file))
        else:
            zero = struct.pack(">IIII", 0x803, 0, 28, 28)
            corpus.append((f"{short}: 0 images", replace(file, _gz(zero)), BAD, file))

    def swap(a, b):
        def w(d):
            pa, pb = (os.path.join(d, x + ".gz") for x in (a, b))
            os.rename(pa, pa + ".x")
            os.rename(pb, pa)
            os.rename(pa + ".x", pb)
        return w
    corpus.append(("train/test images swapped", swap(names[0], names[2]), BAD, "images"))
    corpus.append(("train/test labels swapped", swap(names[1], names[3]), BAD, "labels"))
    corpus.append(("train images <-> train labels", swap(names[0], names[1]), BAD, "train"))

    def both(d):
        swap(names[0], names[2])(d)
        swap(names[1], names[3])(d)
    corpus.append(("train and test swapped (valid files)", both, EITHER, None))

    def zero_all(d):
        for f in names:
            hdr = (struct.pack(">IIII", 0x803, 0, 28, 28) if "images" in f
                   else struct.pack(">II", 0x801, 0))
            replace(f, _gz(hdr))(d)
    corpus.append(("every file 0 samples", zero_all, BAD, "idx"))

    def official_size_bad(d):   # official size -> checksum checked
        b = bytearray(struct.pack(">II", 0x801, 10000) + bytes(i % 10 for i in range(10000)))
        replace(names[3], _gz(bytes(b)))(d)
    corpus.append(("t10k-labels: official size, wrong checksum", official_size_bad, BAD,
                   names[3]))

    def all_missing(d):
        for f in names:
            os.remove(os.path.join(d, f + ".gz"))
    corpus.append(("empty data directory", all_missing, BAD, "data"))

    def not_dir(d):
        pass
    corpus.append(("data directory is a file", not_dir, BAD, None))
    return corpus


def category_datasets(audit):
    cat = "2. corrupt dataset directories"
    corpus = dataset_corpus(audit)
    if audit.args.quick:
        corpus = audit.rng.sample(corpus, len(corpus) // 4)
    scen = audit.scenario("quick.json")
    jobs = []
    for name, writer, expect, file in corpus:
        def job(name=name, writer=writer, expect=expect, file=file):
            d = audit.fresh("data")
            data = os.path.join(d, "fashion-mnist")
            shutil.copytree(audit.data, data)
            if name == "data directory is a file":
                shutil.rmtree(data)
                open(data, "w").write("not a directory\n")
            else:
                writer(data)
            ck, mj = os.path.join(d, "ckpt"), os.path.join(d, "m.json")
            res = audit.run(["run", scen] + audit.run_flags(ck, mj, data=data))
            names = [os.path.join(data, file) if file and "-" in file else data]
            if file and "-" in file:
                names.append(file)       # the file's name (with or without .gz)
            else:
                names.append(data)
            # valid re-encodings of the same data must give the reference's result
            same = audit.same_metrics(mj, audit.ref_metrics) if expect == OK else None
            o, note = audit.classify(res, expect, names, same=same, partial_dirs=[ck])
            audit.record(cat, name, res, o, note)
        jobs.append(job)
    audit.parallel(jobs)


# ----------------------------------------------------------------------------------------
# 3. corrupt checkpoints

def _data_regions(path):
    regions = []
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                off = obj.id.get_offset()
                size = obj.id.get_storage_size()
                if off is not None and size:
                    regions.append((off, off + size, name))
        f.visititems(visit)
    return regions


def checkpoint_h5py_edits(src, rng):
    """(name, edit(file)) h5py edits of a checkpoint."""
    edits = []
    with h5py.File(src, "r") as f:
        datasets = []
        f.visititems(lambda n, o: datasets.append(n) if isinstance(o, h5py.Dataset) else None)
        groups = []
        f.visititems(lambda n, o: groups.append(n) if isinstance(o, h5py.Group) else None)
        attrs = [("/", k) for k in f.attrs] + [
            (g, k) for g in groups for k in f[g].attrs]

    def delete(name):
        def e(f):
            del f[name]
        return e

    def reshape(name, how):
        def e(f):
            v = f[name][()]
            dt = f[name].dtype
            del f[name]
            a = np.asarray(v)
            if how == "append":
                a = np.concatenate([a.reshape(-1), a.reshape(-1)[:1]]) if a.size else np.zeros(1, dt)
            elif how == "drop":
                a = a.reshape(-1)[:-1]
            elif how == "2d":
                a = a.reshape(1, -1)
            elif how == "scalar":
                a = np.asarray(a.reshape(-1)[0] if a.size else 0, dtype=dt)
            elif how == "empty":
                a = np.zeros((0,), dt)
            f.create_dataset(name, data=a.astype(dt))
        return e

    def retype(name, dt):
        def e(f):
            v = f[name][()]
            del f[name]
            if dt == "str":
                f.create_dataset(name, data="not numbers")
            else:
                f.create_dataset(name, data=np.asarray(v).astype(dt))
        return e

    def values(name, how):
        def e(f):
            a = np.array(f[name][()])
            if how == "nan":
                a.reshape(-1)[0] = np.nan
            elif how == "inf":
                a.reshape(-1)[-1] = np.inf
            elif how == "negative":
                a.reshape(-1)[0] = -1
            elif how == "huge":
                a.reshape(-1)[0] = 10**9 if a.dtype.kind in "iu" else 1e30
            f[name][...] = a
        return e

    pick = rng.sample(datasets, min(len(datasets), 34))
    essential = [n for n in datasets if n.startswith(("stream", "rng", "history", "metrics"))
                 or n.endswith("classes")]
    for name in sorted(set(pick) | set(essential)):
        edits.append((f"delete {name}", delete(name)))
        for how in ("append", "drop", "2d") if name in essential else (
                rng.choice(["append", "drop", "2d", "scalar", "empty"]),):
            edits.append((f"{name} reshaped ({how})", reshape(name, how)))
        kind = h5py_kind = None
        with h5py.File(src, "r") as f:
            kind = f[name].dtype.kind
        h5py_kind = "float64" if kind == "f" else "float32"
        edits.append((f"{name} as {h5py_kind}", retype(name, h5py_kind)))
        if name in essential:
            edits.append((f"{name} as a string", retype(name, "str")))
            edits.append((f"{name} with a negative value", values(name, "negative")))
            edits.append((f"{name} with a huge value", values(name, "huge")))
        elif kind == "f":
            edits.append((f"{name} with a NaN", values(name, rng.choice(["nan", "inf"]))))

    def set_attr(group, key, value):
        def e(f):
            f[group].attrs[key] = value
        return e

    def del_attr(group, key):
        def e(f):
            del f[group].attrs[key]
        return e
    for g, k in attrs:
        edits.append((f"delete attribute {g}:{k}", del_attr(g, k)))
        edits.append((f"attribute {g}:{k} = 'x'", set_attr(g, k, "x")))
        edits.append((f"attribute {g}:{k} = -1", set_attr(g, k, -1)))
    # specific shapes the brief names
    hist = sorted(n for n in groups if n.startswith("history/task_") and n.count("/") == 1)
    if hist:
        h = hist[-1]

        def events4(f, h=h):
            if f"{h}/events" in f:
                del f[f"{h}/events"]
            f.create_dataset(f"{h}/events", data=np.array([1, 0, 0, 0], dtype=np.int64))
        edits.append((f"{h}/events with 4 values", events4))

        def events_n4(f, h=h):
            if f"{h}/events" in f:
                del f[f"{h}/events"]
            f.create_dataset(f"{h}/events", data=np.ones((2, 4), dtype=np.int64))
        edits.append((f"{h}/events shaped [2, 4]", events_n4))

        def events_kind(f, h=h):
            if f"{h}/events" in f:
                del f[f"{h}/events"]
            f.create_dataset(f"{h}/events", data=np.array([[1, 0, 99]], dtype=np.int64))
        edits.append((f"{h}/events with kind index 99", events_kind))

        def counts_1x10(f, h=h):
            c = f[f"{h}/counts"][()]
            del f[f"{h}/counts"]
            f.create_dataset(f"{h}/counts", data=c.reshape(-1)[:c.shape[-1]].reshape(1, -1))
        edits.append((f"{h}/counts stored 1×K instead of E×K", counts_1x10))

        def acc_long(f, h=h):
            a = f[f"{h}/accuracy_task_il"][()]
            del f[f"{h}/accuracy_task_il"]
            f.create_dataset(f"{h}/accuracy_task_il", data=np.concatenate([a, a]))
        edits.append((f"{h}/accuracy_task_il of the wrong length", acc_long))

        def rm_task(f, h=h):
            del f[h]
        edits.append((f"delete group {h}", rm_task))

    def rm_expert(f):
        experts = sorted(f["model/experts"])
        del f[f"model/experts/{experts[-1]}"]
    edits.append(("delete the last expert", rm_expert))

    def extra_expert(f):
        experts = sorted(f["model/experts"])
        f.copy(f[f"model/experts/{experts[0]}"], f"model/experts/expert_{len(experts) + 5:03d}")
    edits.append(("an extra expert with a gap in the numbers", extra_expert))

    def replay_oob(f):
        a = f["stream/replay_indices"][()]
        if a.size:
            a[0] = 10**9
            f["stream/replay_indices"][...] = a
    edits.append(("stream/replay_indices out of range", replay_oob))

    def rng_short(f):
        del f["rng/state"]
        f.create_dataset("rng/state", data=np.zeros(3, dtype=np.int64))
    edits.append(("rng/state of 3 values", rng_short))

    def rng_zero(f):
        f["rng/state"][...] = np.zeros(4, dtype=np.int64)
    edits.append(("rng/state all zeros (an invalid xoshiro state)", rng_zero))

    def scenario_text(f):
        f.attrs["scenario"] = "{not json"
    edits.append(("scenario attribute not JSON", scenario_text))
    return edits


def category_checkpoints(audit):
    cat = "3. corrupt checkpoints"
    scen = audit.scenario("quick.json")
    # the checkpoint after the second-to-last task: a resume from it has a task to run
    tasks = sorted(f for f in os.listdir(audit.ref_ckpt) if f.startswith("task_"))
    if len(tasks) < 2:
        audit.record(cat, "fewer than 2 task checkpoints in the reference run", None,
                     "skipped: no checkpoint to mutate")
        return
    src = os.path.join(audit.ref_ckpt, tasks[-2])
    # the unmodified resume: the reference for every mutant
    base = audit.fresh("ckpt")
    os.makedirs(os.path.join(base, "ckpt"))
    shutil.copy(src, os.path.join(base, "ckpt", "latest.h5"))
    ref_resume = os.path.join(base, "m.json")
    res = audit.run(["run", scen, "--resume"]
                    + audit.run_flags(os.path.join(base, "ckpt"), ref_resume))
    o, note = audit.classify(res, OK, same=audit.same_metrics(ref_resume, audit.ref_metrics))
    audit.record(cat, f"unmodified resume from {tasks[-2]} vs the uninterrupted run", res, o, note)
    if res.rc != 0:
        ref_resume = audit.ref_metrics
    blob = open(src, "rb").read()
    rng = random.Random(audit.args.seed + 3)
    mutants = []   # (name, writer(path))

    def bytes_writer(b):
        def w(p):
            open(p, "wb").write(b)
        return w
    for cut in sorted({0, 1, 8, 96, 512, 2048, len(blob) // 4, len(blob) // 2,
                       3 * len(blob) // 4, len(blob) - 4096, len(blob) - 512, len(blob) - 1}):
        if 0 <= cut < len(blob):
            mutants.append((f"truncated to {cut} of {len(blob)} bytes", bytes_writer(blob[:cut])))
    regions = _data_regions(src) if h5py else []
    in_data = lambda pos: any(a <= pos < b for a, b, _ in regions)
    flips = 0
    while flips < 60:
        pos = rng.randrange(len(blob))
        if regions:
            want_data = flips % 2 == 0
            if in_data(pos) != want_data:
                continue
        bit = rng.randrange(8)
        b = bytearray(blob)
        b[pos] ^= 1 << bit
        where = ("data" if in_data(pos) else "metadata") if regions else "file"
        mutants.append((f"bit flip in {where} at byte {pos} bit {bit}", bytes_writer(bytes(b))))
        flips += 1
    mutants.append(("not an HDF5 file (JSON text)", bytes_writer(b'{"format": 1}\n')))
    mutants.append(("zero-filled file of the same size", bytes_writer(b"\0" * len(blob))))
    if h5py:
        edits = checkpoint_h5py_edits(src, rng)
        # the shapes the schema names explicitly always, then a sample of the rest
        named = [e for e in edits if not e[0].startswith(("delete attribute", "attribute "))
                 and ("history/task_" in e[0] and ("events" in e[0] or "counts" in e[0]
                      or "wrong length" in e[0]) or "stream" in e[0] or "rng" in e[0]
                      or "expert" in e[0] and "delete" in e[0])]
        named += [e for e in edits if "with a NaN" in e[0]][:4]   # NaN/Inf weights
        rest = [e for e in edits if e not in named]
        edits = named + rng.sample(rest, max(0, min(len(rest), 95 - len(named))))
        for name, edit in edits:
            def w(p, edit=edit):
                shutil.copy(src, p)
                with h5py.File(p, "r+") as f:
                    edit(f)
            mutants.append(("h5py: " + name, w))
    else:
        audit.record(cat, "h5py edits", None, "skipped: needs h5py")
    if audit.args.quick:
        mutants = rng.sample(mutants, len(mutants) // 4)
    jobs = []
    for name, writer in mutants:
        def job(name=name, writer=writer):
            d = audit.fresh("ckpt")
            ck = os.path.join(d, "ckpt")
            os.makedirs(ck)
            latest = os.path.join(ck, "latest.h5")
            try:
                writer(latest)
            except Exception as e:   # an edit this file does not allow
                audit.record(cat, name, None, "skipped", f"edit failed: {e}")
                return
            res = audit.run(["inspect", latest])
            o, note = audit.classify(res, EITHER, [latest, "latest.h5"])
            audit.record(cat, "inspect " + name, res, o, note)
            mj = os.path.join(d, "m.json")
            res = audit.run(["run", scen, "--resume"] + audit.run_flags(ck, mj))
            # naming the directory counts: a run that skips an unreadable file says so in
            # a note naming it, which --quiet leaves out, then names the directory
            o, note = audit.classify(res, EITHER, [latest, "latest.h5", ck],
                                     same=audit.same_metrics(mj, ref_resume), partial_dirs=[ck])
            audit.record(cat, "resume " + name, res, o, note)
        jobs.append(job)
    audit.parallel(jobs)


# ----------------------------------------------------------------------------------------
# 4. kill -9 and resume

def category_kill(audit):
    cat = "4. kill -9 and resume"
    scen = audit.scenario("quick.json")
    n = 8 if audit.args.quick else 30
    rng = random.Random(audit.args.seed + 4)
    # more epochs than the other categories' runs, for a wider window to kill in
    longer = ["--set", f"training.epochs={KILL_EPOCHS}"]
    ref = audit.fresh("kill")
    ref_ck, ref_mj = os.path.join(ref, "ckpt"), os.path.join(ref, "m.json")
    res = audit.run(["run", scen] + audit.run_flags(ref_ck, ref_mj) + longer)
    if res.rc != 0:
        audit.record(cat, "reference run", res, *audit.classify(res, OK))
        return
    span = res.seconds * 1.05
    for i in range(n):
        delay = span * (i + rng.random()) / n
        d = audit.fresh("kill")
        ck = os.path.join(d, "ckpt")
        cmd = [audit.binary, "run", scen] + audit.run_flags(
            ck, os.path.join(d, "killed.json")) + longer
        p = subprocess.Popen(cmd, cwd=audit.work, env=audit.env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True,
                             preexec_fn=_limits)
        time.sleep(delay)
        finished_before = p.poll() is not None
        if not finished_before:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        have = os.path.isdir(ck) and any(f.endswith(".h5") for f in os.listdir(ck))
        mj = os.path.join(d, "m.json")
        argv = ["run", scen] + (["--resume"] if have else []) + audit.run_flags(ck, mj) + longer
        res = audit.run(argv)
        files = sorted(os.listdir(ck)) if os.path.isdir(ck) else []

        def same():
            ok, why = audit.same_metrics(mj, ref_mj)()
            if not ok:
                return ok, why
            ok, why = audit.compare_runs(ref_ck, ck)
            return ok, ("" if ok else "checkpoints differ: " + why)
        o, note = audit.classify(res, OK, [ck], same=same)
        stale = [f for f in files if ".partial" in f]
        if stale and o in ("identical result", "accepted"):
            note = f"stale {stale[0]} left by the killed run"
        state = "finished before the kill" if finished_before else (
            "no checkpoint yet, fresh run" if not have else "resumed")
        audit.record(cat, f"kill -9 after {delay:.2f} s ({state})", res, o, note)


# ----------------------------------------------------------------------------------------
# 5. disk full

def category_disk_full(audit):
    cat = "5. disk full"
    scen = audit.scenario("quick.json")
    size = os.path.getsize(os.path.join(audit.ref_ckpt, "latest.h5"))
    sizes = sorted({16 << 10, size // 2, size + size // 2, 3 * size, 300 << 10, 6 * size})
    if audit.args.quick:
        sizes = [300 << 10, size // 2]
    for i, s in enumerate(sizes):
        d = audit.fresh("full")
        mnt = os.path.join(d, "mnt")
        if not audit.mount_tmpfs(mnt, f"size={max(s, 4096)}"):
            audit.record(cat, "tmpfs checkpoint directory", None, "skipped: cannot mount")
            return
        ck = os.path.join(mnt, "ckpt")
        mj = os.path.join(d, "m.json")
        res = audit.run(["run", scen] + audit.run_flags(ck, mj))

        def same(mj=mj, ck=ck):
            ok, why = audit.same_metrics(mj, audit.ref_metrics)()
            if ok:
                ok, why = audit.compare_runs(audit.ref_ckpt, ck)
            return ok, why
        o, note = audit.classify(res, EITHER, [ck, mnt, "No space", "space"], same=same,
                                 partial_dirs=[mnt])
        audit.record(cat, f"checkpoints on a {s // 1024} KiB tmpfs "
                     f"(a checkpoint is {size // 1024} KiB)", res, o, note)
    # metrics JSON on a full file system
    d = audit.fresh("full")
    mnt = os.path.join(d, "mnt")
    if audit.mount_tmpfs(mnt, "size=4k"):
        with open(os.path.join(mnt, "fill"), "wb") as f:
            try:
                f.write(b"\0" * 65536)
            except OSError:
                pass
        mj = os.path.join(mnt, "m.json")
        res = audit.run(["run", scen] + audit.run_flags(os.path.join(d, "ckpt"), mj))
        o, note = audit.classify(res, BAD, [mj, mnt, "space"], partial_dirs=[mnt])
        audit.record(cat, "--metrics-json on a full file system", res, o, note)


# ----------------------------------------------------------------------------------------
# 6. unwritable checkpoint directories

def category_unwritable(audit):
    cat = "6. unwritable directories"
    scen = audit.scenario("quick.json")
    cases = []
    d = audit.fresh("ro")
    ro = os.path.join(d, "ro")
    if audit.mount_tmpfs(ro, "ro,size=1m"):
        cases += [("read-only file system as the directory", ro, None),
                  ("directory inside a read-only file system", os.path.join(ro, "sub"), None)]
    else:
        cases.append(("read-only mount", None, "skipped: cannot mount"))
    if os.geteuid() != 0:
        locked = os.path.join(d, "locked")
        os.makedirs(locked)
        os.chmod(locked, 0o555)
        cases.append(("directory mode 555", locked, None))
        cases.append(("inside a mode-555 directory", os.path.join(locked, "sub"), None))
    cases.append(("a directory under /proc", "/proc/expertstream-audit/ckpt", None))
    f = os.path.join(d, "afile")
    open(f, "w").write("x\n")
    cases.append(("the directory is a regular file", f, None))
    cases.append(("a path through a regular file", os.path.join(f, "ckpt"), None))
    cases.append(("a path through /dev/null", "/dev/null/ckpt", None))
    long1 = os.path.join(d, "n" * 300)
    cases.append(("a 300-character name", long1, None))
    long2 = os.path.join(d, *(["m" * 200] * 25))
    cases.append(("a 5000-character path", long2, None))
    latest_dir = os.path.join(d, "latestdir")
    os.makedirs(os.path.join(latest_dir, "latest.h5"))
    cases.append(("latest.h5 exists as a directory", latest_dir, None))
    task_dir = os.path.join(d, "taskdir")
    os.makedirs(os.path.join(task_dir, "task_001.h5", "x"))
    cases.append(("task_001.h5 exists as a non-empty directory", task_dir, None))
    jobs = []
    for name, ck, skipped in cases:
        if skipped:
            audit.record(cat, name, None, skipped)
            continue

        def job(name=name, ck=ck):
            e = audit.fresh("ro")
            mj = os.path.join(e, "m.json")
            res = audit.run(["run", scen] + audit.run_flags(ck, mj))
            names = [ck, ck[:200], os.path.basename(ck)[:50]]
            o, note = audit.classify(res, BAD, names, partial_dirs=[e] + (
                [ck] if os.path.isdir(ck) and "proc" not in ck else []))
            audit.record(cat, "checkpoint.directory: " + name, res, o, note)
        jobs.append(job)
    for name, target, expect in [
            ("in a missing directory (creating it is fine)", "missing/m.json", EITHER),
            ("is a directory", "DIR", BAD), ("through a regular file", "FILE/m.json", BAD),
            ("with a 300-character name", "n" * 300 + ".json", BAD)]:
        def job(name=name, target=target, expect=expect):
            e = audit.fresh("ro")
            t = target.replace("DIR", e).replace("FILE", f)
            if not t.startswith("/"):
                t = os.path.join(e, t)
            res = audit.run(["run", scen] + audit.run_flags(os.path.join(e, "ckpt"), t))
            o, note = audit.classify(res, expect, [t, t[:200], os.path.basename(t)[:50],
                                                   os.path.dirname(t)])
            if o == "accepted" and not os.path.isfile(t):
                o, note = "silently wrong", "exit 0 but no metrics file written"
            audit.record(cat, "--metrics-json " + name, res, o, note)
        jobs.append(job)
    audit.parallel(jobs)


# ----------------------------------------------------------------------------------------
# 7. concurrent runs into one directory

def _hashes(directory):
    out = set()
    if not h5py or not os.path.isdir(directory):
        return out
    for f in os.listdir(directory):
        if f.endswith(".h5"):
            try:
                with h5py.File(os.path.join(directory, f), "r") as h:
                    out.add(str(h.attrs.get("scenario_hash")))
            except Exception:
                out.add(f"unreadable {f}")
    return out


def category_concurrent(audit):
    cat = "7. concurrent runs, one directory"
    scen = audit.scenario("quick.json")
    plans = [("2 identical runs", [[]] * 2), ("3 identical runs", [[]] * 3),
             ("2 runs, seeds 0 and 1", [[], ["--set", "training.seed=1"]]),
             ("2 runs, spawn-and-freeze and shared",
              [[], ["--set", "lifecycle.policy=shared"]])]
    if audit.args.quick:
        plans = plans[::2]
    for name, extras in plans:
        d = audit.fresh("conc")
        ck = os.path.join(d, "ckpt")
        procs = []
        for i, extra in enumerate(extras):
            cmd = [audit.binary, "run", scen] + audit.run_flags(
                ck, os.path.join(d, f"m{i}.json")) + extra
            procs.append((cmd, subprocess.Popen(
                cmd, cwd=audit.work, env=audit.env, stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, start_new_session=True, preexec_fn=_limits)))
        results = []
        for cmd, p in procs:
            try:
                _, err = p.communicate(timeout=audit.args.timeout)
                hung = False
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                _, err = p.communicate()
                hung = True
            results.append(Result(cmd, p.returncode, "", err.decode("utf-8", "replace"), hung, 0))
        outcomes = []
        for i, res in enumerate(results):
            same = None
            if not any(extras):   # identical runs: each that finishes has the reference's result
                same = audit.same_metrics(os.path.join(d, f"m{i}.json"), audit.ref_metrics)
            o, note = audit.classify(res, EITHER, [ck], same=same)
            outcomes.append((o, note, res))
        bad = [x for x in outcomes if x[0] in FAILURES]
        all_ok = all(r.rc == 0 for r in results)
        if bad:
            o, note, res = bad[0]
        elif all_ok and not any(extras):
            ok, why = audit.compare_runs(audit.ref_ckpt, ck)
            o, note, res = ("identical result", "", results[0]) if ok else (
                "silently wrong", "directory differs from one run's: " + why, results[0])
        elif all_ok:
            hashes = _hashes(ck)
            o, note, res = ("silently wrong", f"both exit 0; checkpoints of {len(hashes)} "
                            "scenarios mixed in one directory", results[1]) if len(hashes) > 1 \
                else ("accepted", "both exit 0; one run's checkpoints overwrote the other's",
                      results[1])
        else:
            o, note, res = next(x for x in outcomes if x[2].rc != 0)
        audit.record(cat, name, res, o, note)


# ----------------------------------------------------------------------------------------
# 8. misc

def category_misc(audit):
    cat = "8. misc"
    scen = audit.scenario("quick.json")
    # SIGPIPE: run ... | head -1
    for fmt in ("text", "json"):
        d = audit.fresh("misc")
        ck = os.path.join(d, "ckpt")
        flags = [a for a in audit.run_flags(ck) if a != "--quiet"] + ["--log-format", fmt]
        cmd = [audit.binary, "run", scen] + flags
        p = subprocess.Popen(cmd, cwd=audit.work, env=audit.env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True, preexec_fn=_limits)
        p.stdout.readline()
        p.stdout.close()
        try:
            err = p.stderr.read()
            p.wait(timeout=audit.args.timeout)
            res = Result(cmd, p.returncode, "", err.decode("utf-8", "replace"), False, 0)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            res = Result(cmd, p.returncode, "", "", True, 0)
        if res.signal == signal.SIGPIPE:
            o, note = "accepted", "ended by SIGPIPE, as `yes | head -1` does"
            stale = [f for f in os.listdir(ck) if ".partial" in f] if os.path.isdir(ck) else []
            if stale:
                o, note = "unclear error", f"SIGPIPE left {stale[0]}"
        else:
            o, note = audit.classify(res, EITHER, ["pipe", "stdout", "output", "write"],
                                     partial_dirs=[ck])
        res.cmd = cmd + ["|", "head", "-1"]
        audit.record(cat, f"run | head -1 (--log-format {fmt})", res, o, note)

    # a sweep with a failing run: one run's output directory is a regular file
    d = audit.fresh("misc")
    sweep_dir = os.path.join(d, "tasks")
    os.makedirs(sweep_dir)
    shutil.copy(os.path.join(REPO, "tasks", "quick.json"), sweep_dir)
    sweep = json.load(open(os.path.join(REPO, "tasks", "sweep-quick.json")))
    sweep["set"] = dict(sweep.get("set", {}), **{
        "dataset.train_samples_per_class": TRAIN_PER_CLASS,
        "dataset.test_samples_per_class": TEST_PER_CLASS})
    sf = os.path.join(sweep_dir, "sweep.json")
    json.dump(sweep, open(sf, "w"))
    out = os.path.join(d, "out")
    dry = audit.run(["sweep", sf, "--dry-run", "--out", out, "--data-dir", audit.data])
    ids = [w for line in dry.out.splitlines() for w in line.split()
           if "_seed" in w and len(w) > 12]
    if ids:
        os.makedirs(os.path.join(out, "runs"))
        open(os.path.join(out, "runs", ids[1 % len(ids)]), "w").write("in the way\n")
        res = audit.run(["sweep", sf, "--out", out, "--data-dir", audit.data, "--threads", "1",
                         "--quiet"])
        try:
            recs = [json.loads(l) for l in open(os.path.join(out, "results.jsonl"))]
        except (OSError, ValueError):
            recs = []
        failed = [r for r in recs if r.get("status") == "failed"]
        if res.hung or res.signal:
            o, note = audit.classify(res, EITHER)
        elif len(failed) == 1 and len(recs) == len(ids) and ids[1 % len(ids)] in str(
                failed[0].get("error", "")) + str(failed[0].get("run_id")):
            if res.rc == 0:
                o, note = ("accepted", "exit 0, the failed run recorded and reported") if \
                    "fail" in res.out + res.err else ("silently wrong",
                                                      "exit 0 and no mention of the failure")
            else:
                o, note = audit.classify(res, BAD, [ids[1 % len(ids)], "failed"])
        else:
            o, note = "silently wrong", (f"{len(recs)} records, {len(failed)} failed, "
                                         f"exit {res.rc}")
        audit.record(cat, "sweep with one run failing (its directory is a file)", res, o, note)
    else:
        audit.record(cat, "sweep --dry-run", dry, "unclear error", "no run ids listed")

    simple = []
    e = audit.fresh("misc")
    simple.append(("--data-dir /nonexistent",
                   ["run", scen] + audit.run_flags(os.path.join(e, "ckpt"), data="/nonexistent"),
                   "warn", ["/nonexistent"]))
    e2 = audit.fresh("misc")
    os.makedirs(os.path.join(e2, "ckpt"))
    simple.append(("--resume with an empty checkpoint directory",
                   ["run", scen, "--resume"] + audit.run_flags(os.path.join(e2, "ckpt"),
                                                               os.path.join(e2, "m.json")),
                   "fresh", [os.path.join(e2, "ckpt"), "latest.h5", "checkpoint"]))
    e3 = audit.fresh("misc")
    simple.append(("--resume with a missing checkpoint directory",
                   ["run", scen, "--resume"] + audit.run_flags(os.path.join(e3, "ckpt"),
                                                               os.path.join(e3, "m.json")),
                   "fresh", [os.path.join(e3, "ckpt"), "latest.h5", "checkpoint"]))
    simple.append(("--resume FILE that does not exist",
                   ["run", scen, "--resume", "/nonexistent/latest.h5"]
                   + audit.run_flags(os.path.join(e3, "ckpt2")), BAD, ["/nonexistent/latest.h5"]))
    e4 = audit.fresh("misc")
    shutil.copytree(audit.ref_ckpt, os.path.join(e4, "ckpt"))
    simple.append(("--resume another seed's checkpoint",
                   ["run", scen, "--resume", "--set", "training.seed=1"]
                   + audit.run_flags(os.path.join(e4, "ckpt")), BAD,
                   ["latest.h5", "scenario", "hash", "seed"]))
    e5 = audit.fresh("misc")
    shutil.copytree(audit.ref_ckpt, os.path.join(e5, "ckpt"))
    simple.append(("--resume a finished run",
                   ["run", scen, "--resume"] + audit.run_flags(os.path.join(e5, "ckpt"),
                                                               os.path.join(e5, "m.json")),
                   "same5", ["latest.h5", "finished", "task"]))
    simple.append(("inspect a missing file", ["inspect", "/nonexistent.h5"], BAD,
                   ["/nonexistent.h5"]))
    simple.append(("inspect a directory", ["inspect", audit.ref_ckpt], BAD, [audit.ref_ckpt]))
    simple.append(("inspect a JSON file", ["inspect", scen], BAD, [scen]))
    simple.append(("inspect --task 99", ["inspect", os.path.join(audit.ref_ckpt, "latest.h5"),
                                         "--task", "99"], BAD, ["99", "--task"]))
    simple.append(("--set of an unknown field", ["scenario", "check", scen, "--set", "bogus.x=1"],
                   BAD, ["bogus"]))
    simple.append(("--threads 0", ["run", scen, "--threads", "0"], BAD, ["--threads"]))
    for name, argv, expect, names in simple:
        res = audit.run(argv)
        if expect == "warn":
            if res.rc == 0:
                o, note = ("accepted", "exit 0 with a warning") if "/nonexistent" in \
                    res.err + res.out else ("silently wrong",
                                            "exit 0, used another directory without a word")
            else:
                o, note = audit.classify(res, BAD, names)
        elif expect == "fresh":
            mj = argv[argv.index("--metrics-json") + 1]
            o, note = audit.classify(res, EITHER, names, same=audit.same_metrics(
                mj, audit.ref_metrics))
        elif expect == "same5":
            o, note = audit.classify(res, EITHER, names)
            if o == "accepted":
                ok, why = audit.compare_runs(audit.ref_ckpt, os.path.join(e5, "ckpt"))
                o, note = ("identical result", "") if ok else ("silently wrong", why)
        else:
            o, note = audit.classify(res, expect, names)
        audit.record(cat, name, res, o, note)


# ----------------------------------------------------------------------------------------
# report

CATEGORIES = [("scenarios", category_scenarios), ("datasets", category_datasets),
              ("checkpoints", category_checkpoints), ("kill", category_kill),
              ("disk-full", category_disk_full), ("unwritable", category_unwritable),
              ("concurrent", category_concurrent), ("misc", category_misc)]


def report(audit, seconds):
    cats = []
    for c in audit.cases:
        if c["category"] not in cats:
            cats.append(c["category"])
    cats.sort()
    lines = []
    head = ["category", "cases"] + OUTCOMES + ["skipped"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    total = {h: 0 for h in head[1:]}
    for cat in cats:
        cs = [c for c in audit.cases if c["category"] == cat]
        row = [cat]
        counted = [c for c in cs if not c["outcome"].startswith("skipped")]
        row.append(str(len(counted)))
        total["cases"] += len(counted)
        for o in OUTCOMES:
            n = sum(1 for c in counted if c["outcome"] == o)
            total[o] += n
            row.append(str(n) if n else "·")
        sk = [c for c in cs if c["outcome"].startswith("skipped")]
        total["skipped"] += len(sk)
        row.append(sk[0]["outcome"] if len(sk) == 1 and ":" in sk[0]["outcome"]
                   else (str(len(sk)) if sk else "·"))
        lines.append("| " + " | ".join(row) + " |")
    lines.append("| **total** | " + " | ".join(
        f"**{total[h]}**" if total[h] else "·" for h in head[1:]) + " |")
    lines.append("")
    lines.append(f"Failure outcomes: {', '.join(sorted(FAILURES))}. "
                 f"Mode: {'quick' if audit.args.quick else 'full'}, seed {audit.args.seed}, "
                 f"{audit.args.timeout:.0f} s timeout per run, {seconds / 60:.1f} min.")
    lines.append("")
    for cat in cats:
        fails = [c for c in audit.cases if c["category"] == cat and c["outcome"] in FAILURES]
        if not fails:
            continue
        lines.append(f"**{cat}**: {len(fails)} failure(s); examples:")
        lines.append("")
        # one example per distinct outcome first, then the rest
        shown, seen = [], set()
        for c in fails:
            if c["outcome"] not in seen:
                seen.add(c["outcome"])
                shown.append(c)
        for c in fails:
            if len(shown) >= 5:
                break
            if c not in shown:
                shown.append(c)
        for c in shown[:5]:
            lines.append(f"- {c['outcome']}: {c['name']}" + (f" ({c['note']})" if c["note"] else ""))
            lines.append(f"  - `{c['cmd'][:400]}`")
            lines.append(f"  - stderr: `{c['err'][:240].replace('`', chr(39))}`")
        lines.append("")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--binary", default=os.path.join(REPO, ".build/release/expertstream"))
    ap.add_argument("--quick", action="store_true", help="about a quarter of the corpus")
    ap.add_argument("--seed", type=int, default=20261202)
    ap.add_argument("--timeout", type=float, default=120, help="seconds per run")
    ap.add_argument("--jobs", type=int, default=2, help="cases run at once (independent ones)")
    ap.add_argument("--only", help="comma-separated categories: "
                    + ",".join(n for n, _ in CATEGORIES))
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--json", help="also write every case to this JSON file")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    if not os.access(args.binary, os.X_OK):
        sys.exit(f"{args.binary}: not an executable (build with swift build -c release)")
    started = time.time()
    audit = Audit(args)
    try:
        cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                    if l.startswith("model name")), platform.processor())
    except OSError:
        cpu = platform.processor()
    print(f"# reliability audit of {args.binary}", file=sys.stderr)
    print(f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {cpu}, "
          f"{os.cpu_count()} cores, temporary directory {audit.tmp}", file=sys.stderr)
    try:
        audit.setup()
        only = set(args.only.split(",")) if args.only else None
        for name, fn in CATEGORIES:
            if only and name not in only:
                continue
            t = time.time()
            n = len(audit.cases)
            fn(audit)
            print(f"{name}: {len(audit.cases) - n} cases, {time.time() - t:.0f} s",
                  file=sys.stderr)
    finally:
        audit.cleanup()
    seconds = time.time() - started
    print(f"Binary `{args.binary}`, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d} "
          f"on {cpu} ({os.cpu_count()} cores).\n")
    print(report(audit, seconds))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(audit.cases, f, indent=1)
    return 1 if any(c["outcome"] in FAILURES for c in audit.cases) else 0


if __name__ == "__main__":
    sys.exit(main())
