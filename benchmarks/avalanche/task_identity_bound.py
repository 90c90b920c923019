"""How often a network trained on every task at once tells a test sample's task.

Routing accuracy on Split-FashionMNIST is the share of test samples whose highest-weight
expert belongs to their own task: task identification. A gate that may store at most 1000
samples learns it from less than joint training does, so joint training on all 60,000
images bounds it from above. This script trains two networks jointly on the Debian
FashionMNIST files, offline, for 1 and for 5 epochs (batch 128, pixels normalised with mean
0.2860 and std 0.3530):

- mlp: the reference setting's MLP 784-400-400-10 with its optimizer (SGD lr 0.01,
  momentum 0.9);
- cnn: a stronger convolutional network than any expert or gate here (3×3 convolutions
  with 32 and 64 filters, each with BatchNorm, ReLU and 2×2 max pooling, then 1600-128-10),
  with Adam at lr 0.001.

For each it prints the 10-way accuracy and the task identification: the share of test
samples whose predicted class lies in the true class's task (tasks are classes 0-1, 2-3,
4-5, 6-7, 8-9).

Usage: python task_identity_bound.py [--data-dir DIR] [--threads T] [--seed S]
                                     [--models mlp cnn]
"""

import argparse
import gzip
import os

import numpy as np
import torch
from torch import nn


def read_idx(path, offset):
    with gzip.open(path) as file:
        return np.frombuffer(file.read(), np.uint8, offset=offset)


def load(directory, split):
    images = read_idx(os.path.join(directory, f"{split}-images-idx3-ubyte.gz"), 16)
    labels = read_idx(os.path.join(directory, f"{split}-labels-idx1-ubyte.gz"), 8)
    pixels = (images.reshape(-1, 1, 28, 28).astype(np.float32) / 255 - 0.2860) / 0.3530
    return torch.tensor(pixels), torch.tensor(labels.astype(np.int64))


def make(kind):
    """The network and its optimizer."""
    if kind == "mlp":
        model = nn.Sequential(
            nn.Flatten(), nn.Linear(784, 400), nn.ReLU(), nn.Linear(400, 400), nn.ReLU(),
            nn.Linear(400, 10))
        return model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Linear(128, 10))
    return model, torch.optim.Adam(model.parameters(), lr=0.001)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", nargs="+", choices=["mlp", "cnn"], default=["mlp", "cnn"])
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    train_x, train_y = load(arguments.data_dir, "train")
    test_x, test_y = load(arguments.data_dir, "t10k")
    for kind in arguments.models:
        torch.manual_seed(arguments.seed)
        model, optimizer = make(kind)
        for epoch in range(1, 6):
            model.train()
            order = torch.randperm(len(train_x))
            for start in range(0, len(order), 128):
                batch = order[start:start + 128]
                optimizer.zero_grad()
                nn.functional.cross_entropy(model(train_x[batch]), train_y[batch]).backward()
                optimizer.step()
            if epoch not in (1, 5):
                continue
            model.eval()
            with torch.no_grad():
                predicted = torch.cat([model(test_x[i:i + 1000]).argmax(dim=1)
                                       for i in range(0, len(test_x), 1000)])
            accuracy = (predicted == test_y).float().mean().item() * 100
            task_identity = (predicted // 2 == test_y // 2).float().mean().item() * 100
            print(f"joint {kind}, {epoch} epoch(s): 10-way accuracy {accuracy:.1f}%, "
                  f"task identification {task_identity:.1f}%", flush=True)


if __name__ == "__main__":
    main()
