#!/usr/bin/env python3
"""One Avalanche strategy on Split-FashionMNIST, offline, as ExpertStream runs it.

The setting (Avalanche's usual one): 5 tasks x 2 classes in the order 0-1, 2-3, 4-5, 6-7,
8-9; pixels scaled to [0, 1], then normalised with mean 0.2860 and std 0.3530; one epoch
per task; batch 128; an MLP 784-400-400-10 trained with SGD (lr 0.01, momentum 0.9).

The benchmark is built from tensors read from the Debian FashionMNIST files (no
download). After every task the script evaluates the model itself, with ExpertStream's
definitions: class-IL is the argmax over the classes seen so far, task-IL the argmax
within the task's classes. It writes one JSON record: the accuracy matrices, ACC, BWT,
training seconds (the time inside `strategy.train`, evaluation excluded) and peak RSS.

ExpertGate as Avalanche ships it downloads AlexNet weights and expects 3-channel images.
Here (and only here) it is changed, by replacing two classes of
`avalanche.training.supervised.expert_gate` before the strategy is built:
- `ExpertModel` -> `MLPExpert`: the same MLP as the other strategies (feature module
  784-400-400, classifier 400-10); a new expert copies the feature module of the most
  related earlier expert, as Avalanche's does with AlexNet's.
- `ExpertAutoencoder` -> `PixelAutoencoder`: Avalanche's autoencoder (sigmoid of the
  features, Linear-ReLU encoder to `ae_latent_dim`, Linear-sigmoid decoder, summed squared
  error) with the 784 pixels as its features instead of a pretrained AlexNet's.
- The model is `PerSampleExpertGate`: Avalanche's `ExpertGate` picks one expert for a
  whole evaluation batch (the lowest summed reconstruction error); this one picks the
  expert per sample, records the choice (routing accuracy), and builds no AlexNet.
Everything else keeps Avalanche's defaults: autoencoders trained for 2 epochs with SGD
(lr 1e-3, momentum 0.9, weight decay 5e-4) at minibatch 1, latent size 100, relatedness
threshold 0.85 for LwF (alpha 0.01, temperature 2). Task-IL for ExpertGate uses the
expert of the given task, as an oracle gate would.
"""

import argparse
import gzip
import json
import os
import random
import resource
import sys
import time
import warnings
from copy import deepcopy

import numpy as np
import torch
import torch.nn as nn

warnings.filterwarnings("ignore")

MEAN, STD = 0.2860, 0.3530
TASKS = [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
STRATEGIES = [
    "naive", "ewc", "lwf", "replay-200", "replay-1000", "joint", "cumulative", "expertgate",
]


def read_idx(path):
    """An IDX file (gzipped) as a numpy array."""
    with gzip.open(path) as handle:
        data = handle.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def load(data_dir):
    """(train x, train y, test x, test y), images normalised as [N, 1, 28, 28] float32."""
    def part(prefix):
        images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
        labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
        x = (images.astype(np.float32) / 255 - MEAN) / STD
        return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))
    return (*part("train"), *part("t10k"))


def mlp():
    """The single-network baselines' MLP 784-400-400-10 (PyTorch's default initialisation)."""
    return nn.Sequential(
        nn.Flatten(), nn.Linear(784, 400), nn.ReLU(), nn.Linear(400, 400), nn.ReLU(),
        nn.Linear(400, 10))


class MLPExpert(nn.Module):
    """ExpertGate's expert with the MLP instead of AlexNet (same constructor)."""

    def __init__(self, num_classes, arch, device, pretrained_flag, provided_template=None):
        super().__init__()
        self.device = device
        self.num_classes = num_classes
        if provided_template is None:
            self.feature_module = nn.Sequential(
                nn.Flatten(), nn.Linear(784, 400), nn.ReLU(), nn.Linear(400, 400), nn.ReLU())
        else:
            self.feature_module = deepcopy(provided_template.feature_module)
        self.classifier_module = nn.Linear(400, num_classes)

    def forward(self, x):
        return self.classifier_module(self.feature_module(x))


def make_pixel_autoencoder():
    from avalanche.models.expert_gate import ExpertAutoencoder

    class PixelAutoencoder(ExpertAutoencoder):
        """Avalanche's autoencoder on the pixels instead of pretrained AlexNet features."""

        def __init__(self, shape, latent_dim, device, **_):
            nn.Module.__init__(self)
            self.feature_module = nn.Flatten()
            self.shape = (784,)
            self.device = device
            self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(784, latent_dim), nn.ReLU())
            self.decoder = nn.Sequential(nn.Linear(latent_dim, 784), nn.Sigmoid())

    return PixelAutoencoder


def make_expert_gate_model():
    from avalanche.models.expert_gate import ExpertGate

    class PerSampleExpertGate(ExpertGate):
        """ExpertGate choosing the expert per sample at evaluation; no AlexNet."""

        def __init__(self, device):
            nn.Module.__init__(self)
            self.shape = (784,)
            self.arch = "mlp"
            self.pretrained_flag = False
            self.device = device
            self.autoencoder_dict = nn.ModuleDict()
            self.expert_dict = nn.ModuleDict()
            self.expert = MLPExpert(10, "mlp", device, False)
            self.last_choice = None

        def reconstruction_errors(self, x):
            """[B, tasks]: each autoencoder's summed squared error on each sample."""
            errors = []
            for key in sorted(self.autoencoder_dict, key=int):
                autoencoder = self.autoencoder_dict[key]
                target = torch.sigmoid(autoencoder.feature_module(x))
                errors.append(((autoencoder(x) - target) ** 2).sum(dim=1))
            return torch.stack(errors, dim=1)

        def forward(self, x):
            if self.training or len(self.autoencoder_dict) == 0:
                return self.expert(x)
            choice = self.reconstruction_errors(x).argmin(dim=1)
            self.last_choice = choice
            output = torch.zeros(x.shape[0], self.expert.num_classes)
            for key in choice.unique().tolist():
                rows = choice == key
                output[rows] = self.expert_dict[str(key)](x[rows])
            return output

    return PerSampleExpertGate


class SeenClassesLoss(nn.Module):
    """Cross-entropy over the classes seen so far (`seen`, set before each task): the loss
    ExpertStream's single-network baselines use. Avalanche's default criterion covers all
    10 outputs, also the classes of tasks still to come."""

    def __init__(self):
        super().__init__()
        self.seen = list(range(10))

    def forward(self, logits, targets):
        mask = torch.full((logits.shape[1],), float("-inf"))
        mask[self.seen] = 0
        return nn.functional.cross_entropy(logits + mask, targets)


def build(name, args):
    """The strategy, its model, and whether the benchmark needs task labels."""
    from avalanche.training import (
        EWC, Cumulative, ExpertGateStrategy, JointTraining, LwF, Naive, Replay)
    from avalanche.training.plugins import EvaluationPlugin

    common = dict(
        criterion=args.criterion, train_mb_size=args.batch, train_epochs=args.epochs,
        eval_mb_size=1024, device="cpu", evaluator=EvaluationPlugin(loggers=[]))

    def sgd(model):
        return torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)

    if name == "expertgate":
        import avalanche.training.supervised.expert_gate as expert_gate
        expert_gate.ExpertModel = MLPExpert
        expert_gate.ExpertAutoencoder = make_pixel_autoencoder()
        model = make_expert_gate_model()("cpu")
        strategy = ExpertGateStrategy(model=model, optimizer=sgd(model), **common)
        return strategy, model, True
    model = mlp()
    if name == "naive":
        strategy = Naive(model=model, optimizer=sgd(model), **common)
    elif name == "ewc":
        # ExpertStream's online EWC: one Fisher summed over tasks, anchored at the last
        # task's weights; its penalty is λ/2·ΣF(θ−θ*)², Avalanche's λ·ΣF(θ−θ*)².
        strategy = EWC(
            model=model, optimizer=sgd(model), ewc_lambda=args.ewc_lambda / 2, mode="online",
            decay_factor=1.0, **common)
    elif name == "lwf":
        strategy = LwF(model=model, optimizer=sgd(model), alpha=1.0, temperature=2.0, **common)
    elif name.startswith("replay-"):
        strategy = Replay(
            model=model, optimizer=sgd(model), mem_size=int(name.split("-")[1]), **common)
    elif name == "joint":
        strategy = JointTraining(model=model, optimizer=sgd(model), **common)
    elif name == "cumulative":
        strategy = Cumulative(model=model, optimizer=sgd(model), **common)
    else:
        raise SystemExit(f"run_avalanche.py: --strategy: unknown '{name}'; one of {STRATEGIES}")
    return strategy, model, False


@torch.no_grad()
def evaluate(model, test_x, test_y, seen, expert_gate=False):
    """Per task seen: (class-IL accuracy, task-IL accuracy, routing accuracy or None)."""
    model.eval()
    classes_seen = [c for task in TASKS[:seen] for c in task]
    rows = []
    for index, classes in enumerate(TASKS[:seen]):
        mask = (test_y == classes[0]) | (test_y == classes[1])
        x, y = test_x[mask], test_y[mask]
        logits = model(x)
        class_il = torch.tensor(classes_seen)[logits[:, classes_seen].argmax(1)]
        routing = None
        if expert_gate:
            routing = (model.last_choice == index).float().mean().item()
            logits = model.expert_dict[str(index)](x)
        task_il = torch.tensor(classes)[logits[:, classes].argmax(1)]
        rows.append(((class_il == y).float().mean().item(), (task_il == y).float().mean().item(),
                     routing))
    model.train()
    return rows


def backward_transfer(matrix):
    last = matrix[-1]
    if len(matrix) < 2:
        return 0.0
    return float(np.mean([last[j] - matrix[j][j] for j in range(len(matrix) - 1)]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--strategy", required=True, choices=STRATEGIES)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--momentum", type=float, default=0.9)
    parser.add_argument("--ewc-lambda", type=float, default=100.0,
                        help="λ of ExpertStream's EWC penalty λ/2·ΣF(θ−θ*)²")
    parser.add_argument("--loss-over", choices=["all", "seen"], default="all",
                        help="the classes the training loss covers: all 10 outputs "
                             "(Avalanche's default) or the classes seen so far "
                             "(ExpertStream's); not for expertgate")
    parser.add_argument("--out", required=True, help="the JSON record to write")
    args = parser.parse_args()
    for name in ["train-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]:
        if not os.path.exists(os.path.join(args.data_dir, name)):
            raise SystemExit(f"run_avalanche.py: --data-dir: {args.data_dir}/{name} not found")

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    import avalanche
    from avalanche.benchmarks import nc_benchmark
    from avalanche.benchmarks.utils.classification_dataset import (
        _make_taskaware_tensor_classification_dataset as tensor_dataset)

    if args.loss_over == "seen" and args.strategy == "expertgate":
        raise SystemExit("run_avalanche.py: --loss-over seen: expertgate trains one expert "
                         "per task, on that task's classes")
    args.criterion = SeenClassesLoss() if args.loss_over == "seen" else nn.CrossEntropyLoss()
    train_x, train_y, test_x, test_y = load(args.data_dir)
    strategy, model, task_labels = build(args.strategy, args)
    benchmark = nc_benchmark(
        tensor_dataset(train_x, train_y), tensor_dataset(test_x, test_y), n_experiences=5,
        task_labels=task_labels, fixed_class_order=list(range(10)), seed=args.seed)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    expert_gate = args.strategy == "expertgate"
    seconds = []
    rows = []
    if args.strategy == "joint":
        start = time.perf_counter()
        strategy.train(benchmark.train_stream)
        seconds.append(time.perf_counter() - start)
        rows.append(evaluate(model, test_x, test_y, len(TASKS)))
    else:
        for index, experience in enumerate(benchmark.train_stream):
            if isinstance(args.criterion, SeenClassesLoss):
                args.criterion.seen = [c for task in TASKS[:index + 1] for c in task]
            start = time.perf_counter()
            strategy.train(experience)
            seconds.append(time.perf_counter() - start)
            rows.append(evaluate(model, test_x, test_y, index + 1, expert_gate))
            print(f"{args.strategy} seed {args.seed}: task {index + 1}/5 trained in "
                  f"{seconds[-1]:.1f} s; class-IL (%) "
                  + " ".join(f"{100 * r[0]:.1f}" for r in rows[-1]), file=sys.stderr)

    class_il = [[r[0] for r in row] for row in rows]
    task_il = [[r[1] for r in row] for row in rows]
    routing = [float(np.mean([r[2] for r in row])) for row in rows] if expert_gate else None
    # Routing accuracy over every test sample seen, as ExpertStream counts it (the tasks
    # have 2000 test samples each, so the mean over tasks is the mean over samples).
    record = {
        "tool": "avalanche", "version": avalanche.__version__, "torch": torch.__version__,
        "strategy": args.strategy, "seed": args.seed, "tasks": TASKS,
        "settings": {"epochs": args.epochs, "batch_size": args.batch, "learning_rate": args.lr,
                     "momentum": args.momentum, "threads": args.threads,
                     "ewc_lambda": args.ewc_lambda if args.strategy == "ewc" else None,
                     "loss_over": args.loss_over},
        "accuracy_matrix_class_il": class_il, "accuracy_matrix_task_il": task_il,
        "average_accuracy_class_il": float(np.mean(class_il[-1])),
        "average_accuracy_task_il": float(np.mean(task_il[-1])),
        "bwt_class_il": backward_transfer(class_il) if len(rows) > 1 else None,
        "bwt_task_il": backward_transfer(task_il) if len(rows) > 1 else None,
        "routing_accuracy": routing[-1] if routing else None,
        "routing_accuracy_per_task": routing,
        "training_seconds": sum(seconds), "training_seconds_per_task": seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_before_training_mb": rss_before,
    }
    temporary = args.out + ".tmp"
    with open(temporary, "w") as handle:
        json.dump(record, handle, indent=1)
    os.replace(temporary, args.out)
    print(f"{args.strategy} seed {args.seed}: class-IL {100 * record['average_accuracy_class_il']:.1f}%, "
          f"task-IL {100 * record['average_accuracy_task_il']:.1f}%, "
          f"trained in {record['training_seconds']:.1f} s, peak RSS {record['peak_rss_mb']:.0f} MB",
          file=sys.stderr)


if __name__ == "__main__":
    main()
