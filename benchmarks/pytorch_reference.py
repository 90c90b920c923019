"""The paper's FashionMNIST/MNIST mixture in PyTorch, as the authors' code builds it, for
comparing training curves and speed with ExpertStream on the same machine.

Usage:
  python3 benchmarks/pytorch_reference.py --gate attentive --epochs 20 --seed 0 \
      [--architecture paper-fmnist|paper-mnist] [--ls BETA_S,BETA_D] [--threads T] [--data-dir DIR]
  python3 benchmarks/pytorch_reference.py --batches 40 --warmup 5 ...   # timing only

Reads the IDX files (raw or .gz) of FashionMNIST (default /usr/share/datasets/fashion-mnist)
or MNIST. Prints one line per epoch (mean training loss, seconds, samples/s) and the final
train and test error in evaluation mode.
"""
import argparse
import gzip
import os
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def read_idx(directory, name):
    for candidate in (name, name + ".gz"):
        path = os.path.join(directory, candidate)
        if os.path.exists(path):
            opener = gzip.open if path.endswith(".gz") else open
            with opener(path, "rb") as f:
                data = f.read()
            dims = data[3]
            shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
            return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)
    raise FileNotFoundError(os.path.join(directory, name))


class Expert(nn.Module):
    """paper-fmnist: conv 1→1, pool, 169→64→32 (h), ReLU → K; paper-mnist: 169→5→32, ReLU (h) → K."""

    def __init__(self, arch, classes):
        super().__init__()
        self.arch = arch
        self.conv1 = nn.Conv2d(1, 1, 3)
        width = 64 if arch == "paper-fmnist" else 5
        self.fc1 = nn.Linear(169, width)
        self.fc2 = nn.Linear(width, 32)
        self.out = nn.Linear(32, classes)

    def forward(self, x):
        t = F.max_pool2d(F.relu(self.conv1(x)), 2).reshape(-1, 169)
        t = self.fc2(F.relu(self.fc1(t)))
        if self.arch == "paper-mnist":
            t = F.relu(t)
            self.hidden = t
        else:
            self.hidden = t
            t = F.relu(t)
        return self.out(t)


class GateTrunk(nn.Module):
    def __init__(self, arch):
        super().__init__()
        self.arch = arch
        filters = 8 if arch == "paper-fmnist" else 1
        self.conv1 = nn.Conv2d(1, filters, 3)
        self.bn = nn.BatchNorm2d(filters) if arch == "paper-fmnist" else nn.Identity()
        self.fc1 = nn.Linear(filters * 169, 512 if arch == "paper-fmnist" else 128)
        self.fc2 = nn.Linear(self.fc1.out_features, 32)
        self.filters = filters

    def forward(self, x):
        t = F.max_pool2d(F.relu(self.bn(self.conv1(x))), 2).reshape(-1, self.filters * 169)
        t = self.fc2(F.relu(self.fc1(t)))
        return F.relu(t) if self.arch == "paper-fmnist" else t


class Mixture(nn.Module):
    def __init__(self, arch, experts, classes, gate):
        super().__init__()
        self.experts = nn.ModuleList([Expert(arch, classes) for _ in range(experts)])
        self.trunk = GateTrunk(arch)
        self.gate_kind = gate
        if gate == "attentive":
            self.wq = nn.Linear(32, 32, bias=False)
            self.wk = nn.Linear(32, 32, bias=False)
        else:
            self.out = nn.Linear(32, experts)

    def forward(self, x):
        logits = [e(x) for e in self.experts]
        y = torch.stack([F.softmax(o, 1) for o in logits], 1)  # B, E, K
        h_g = self.trunk(x)
        if self.gate_kind == "attentive":
            h = torch.stack([e.hidden for e in self.experts], 1)  # B, E, d
            q = self.wq(h_g).unsqueeze(1)
            k = self.wk(h)
            g = F.softmax((q * k).sum(2) / 32 ** 0.5, 1)
        else:
            g = F.softmax(self.out(F.relu(h_g)), 1)
        return (g.unsqueeze(2) * y).sum(1), g


def sample_similarity(x, g, beta_s, beta_d):
    b, e = g.shape
    flat = x.reshape(b, -1)
    d = torch.cdist(flat, flat)
    d = d / d.max()
    within = g @ g.t()
    rows = g.sum(1, keepdim=True)
    same = (within * d).sum() / e
    diff = ((rows @ rows.t() - within) * d).sum() / (e * e - e)
    return beta_s * same - beta_d * diff / (b * b)  # the authors' placement


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--architecture", default="paper-fmnist")
    p.add_argument("--gate", default="attentive")
    p.add_argument("--experts", type=int, default=5)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch", type=int, default=512)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--ls", default=None)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    p.add_argument("--batches", type=int, default=0,
                   help="time this many training batches after --warmup and exit")
    p.add_argument("--warmup", type=int, default=5)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    mean, std = (0.2860, 0.3530) if a.architecture == "paper-fmnist" else (0.1307, 0.3081)
    def load(prefix):
        x = read_idx(a.data_dir, f"{prefix}-images-idx3-ubyte").astype(np.float32) / 255
        y = read_idx(a.data_dir, f"{prefix}-labels-idx1-ubyte").astype(np.int64)
        return torch.from_numpy((x - mean) / std).unsqueeze(1), torch.from_numpy(y)
    xtr, ytr = load("train")
    xte, yte = load("t10k")
    model = Mixture(a.architecture, a.experts, 10, a.gate)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=a.weight_decay)
    betas = tuple(float(v) for v in a.ls.split(",")) if a.ls else None

    def step(idx):
        x, y = xtr[idx], ytr[idx]
        p_mix, g = model(x)
        loss = -torch.log(p_mix[torch.arange(len(y)), y] + 1e-15).mean()
        total_loss = loss + (sample_similarity(x, g, *betas) if betas else 0)
        opt.zero_grad()
        total_loss.backward()
        opt.step()
        return loss.item()

    if a.batches:
        import resource
        model.train()
        order = torch.randperm(len(xtr))
        batch = lambda i: order[(i * a.batch) % (len(xtr) - a.batch):][:a.batch]
        for i in range(a.warmup):
            step(batch(i))
        start = time.time()
        for i in range(a.batches):
            step(batch(a.warmup + i))
        seconds = time.time() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"samples/s {a.batches * a.batch / seconds:.0f} ({a.batches} batches in {seconds:.2f} s "
              f"after {a.warmup} warm-up); peak memory {peak:.0f} MiB")
        return
    for epoch in range(1, a.epochs + 1):
        model.train()
        start = time.time()
        order = torch.randperm(len(xtr))
        total, batches = 0.0, 0
        for i in range(0, len(xtr), a.batch):
            total += step(order[i:i + a.batch])
            batches += 1
        seconds = time.time() - start
        print(f"epoch {epoch}: loss {total / batches:.4f}, {seconds:.1f} s, {len(xtr) / seconds:.0f} samples/s", flush=True)
    model.eval()
    with torch.no_grad():
        for name, x, y in (("train", xtr, ytr), ("test", xte, yte)):
            wrong = sum((model(x[i:i + 2048])[0].argmax(1) != y[i:i + 2048]).sum().item()
                        for i in range(0, len(x), 2048))
            print(f"{name} error {wrong / len(x):.4f}")


if __name__ == "__main__":
    main()
