"""Runs PEC's own main.py (the authors' reference code, exported outside this repository)
unchanged, with three things set from outside, and times its training loop.

Environment:
  PEC_CODE_DIR  the exported PEC code (its main.py, utils/, datasets/, ...)
  PEC_DATA_DIR  the directory PEC's dataset classes read from (in place of ~/.torch_datasets/)
  PEC_SUMMARY   where to write this run's JSON summary (one object)
  PEC_THREADS   torch threads (default 1)
Every other argument is passed to PEC's argument parser as is.

What is set from outside, without editing PEC's files:
  * utils.conf.base_path_dataset is replaced before PEC's datasets are imported, so the
    loaders read local IDX files (torchvision's download step sees them and skips);
  * PEC's parse_args() calls torch.set_num_threads(4); it is called as PEC calls it, then
    torch.set_num_threads(PEC_THREADS) is applied before training starts;
  * utils.training.train / evaluate / get_reweighted_mean_accs are wrapped (same
    behaviour) to record when training starts, when the first evaluation starts, and
    the final accuracies.

"training_seconds" = from entry into PEC's train() to the first call of its evaluate().
With --eval_every_n_task larger than the number of tasks (PEC's scripts use 1000), the
first evaluation is the final one, after the last task, so this covers the whole one-pass
training stream over all tasks, including PEC's per-task loader set-up (it re-reads and
masks the dataset for each task and starts its DataLoader workers), and nothing of
the evaluation.
"""

import json
import os
import sys
import time

pec_dir = os.environ["PEC_CODE_DIR"]
data_dir = os.environ["PEC_DATA_DIR"].rstrip("/") + "/"
summary_path = os.environ["PEC_SUMMARY"]
threads = int(os.environ.get("PEC_THREADS", "1"))

os.chdir(pec_dir)  # PEC lists datasets/ and models/ relative to the working directory
sys.path.insert(0, pec_dir)

import torch  # noqa: E402

import utils.conf  # noqa: E402

utils.conf.base_path_dataset = lambda: data_dir

import main as pec_main  # noqa: E402
import utils.training as pec_training  # noqa: E402

marks = {"eval_seconds": 0.0}

_evaluate = pec_training.evaluate


def timed_evaluate(*args, **kwargs):
    start = time.perf_counter()
    marks.setdefault("first_eval", start)
    result = _evaluate(*args, **kwargs)
    marks["eval_seconds"] += time.perf_counter() - start
    marks["last_accs"] = result
    return result


_reweighted = pec_training.get_reweighted_mean_accs


def capturing_reweighted(accs_lists, dataset):
    result = _reweighted(accs_lists, dataset)
    marks["final_mean"] = result
    return result


_train = pec_training.train


def timed_train(model, dataset, args):
    marks["train_start"] = time.perf_counter()
    _train(model, dataset, args)
    marks["train_end"] = time.perf_counter()


pec_training.evaluate = timed_evaluate
pec_training.get_reweighted_mean_accs = capturing_reweighted
pec_main.train = timed_train

args = pec_main.parse_args()  # PEC's own: parses, seeds, sets 4 threads
torch.set_num_threads(threads)
pec_main.main(args)

cil, til = marks["final_mean"]
summary = {
    "final_class_il_accuracy": cil,
    "final_task_il_accuracy": til,
    "class_il_accuracy_per_task": marks["last_accs"][0],
    "training_seconds": marks["first_eval"] - marks["train_start"],
    "training_seconds_source": "wrapped: PEC train() entry to its first evaluate() call",
    "evaluation_seconds": marks["eval_seconds"],
    "train_call_seconds": marks["train_end"] - marks["train_start"],
    "torch_version": torch.__version__,
    "torch_threads": torch.get_num_threads(),
    "pec_args": {k: v for k, v in vars(args).items() if not k.startswith("conf_")},
}
with open(summary_path, "w") as f:
    json.dump(summary, f)
print("PEC_SUMMARY " + json.dumps(summary), file=sys.stderr)
