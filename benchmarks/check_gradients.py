"""Checks that PyTorch computes the same function as ExpertStream: loads the initial
weights and the batch `expertstream bench gradients --out FILE` wrote, runs the same mixture
(benchmarks/pytorch_reference.py) and compares the loss and every gradient.

Usage: python3 benchmarks/check_gradients.py FILE [--tolerance 1e-4]
Prints the worst relative difference per parameter and exits 1 if any exceeds the tolerance.
"""
import argparse
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from pytorch_reference import Mixture, sample_similarity  # noqa: E402


def torch_name(key, arch):
    parts = key.split(".")
    if parts[0] == "experts":
        index, rest = int(parts[1]), parts[2:]
        if rest[0] == "output":
            return f"experts.{index}.out.{rest[1]}"
        layer = {"0": "conv1", "4": "fc1", "6": "fc2"}[rest[2]]
        return f"experts.{index}.{layer}.{rest[3]}"
    if parts[1] in ("query", "key"):
        return {"query": "wq", "key": "wk"}[parts[1]] + "." + parts[2]
    if parts[1] == "rows":
        return f"out.{parts[3]}[{parts[2]}]"
    layers = ({"0": "conv1", "1": "bn", "5": "fc1", "7": "fc2"} if arch == "paper-fmnist"
              else {"0": "conv1", "4": "fc1", "6": "fc2"})
    name = {"runningMean": "running_mean", "runningVariance": "running_var"}.get(parts[4], parts[4])
    return f"trunk.{layers[parts[3]]}.{name}"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("file")
    p.add_argument("--tolerance", type=float, default=1e-4)
    a = p.parse_args()
    f = h5py.File(a.file, "r")
    arch, gate, experts = f.attrs["architecture"], f.attrs["gate"], int(f.attrs["experts"])
    model = Mixture(arch, experts, 10, "attentive" if gate == "attentive" else "softmax")
    state = model.state_dict()
    for key, dataset in f["weights"].items():
        name = torch_name(key, arch)
        value = torch.from_numpy(dataset[()])
        if "[" in name:
            base, row = name[:-1].split("[")
            state[base][int(row)] = value.reshape(state[base][int(row)].shape)
        else:
            state[name].copy_(value.reshape(state[name].shape))
    model.load_state_dict(state)
    model.train()
    x = torch.from_numpy(f["input"][()])
    y = torch.from_numpy(f["labels"][()])
    p_mix, g = model(x)
    loss = -torch.log(p_mix[torch.arange(len(y)), y] + 1e-15).mean()
    if "beta_same" in f.attrs:
        loss = loss + sample_similarity(x, g, f.attrs["beta_same"], f.attrs["beta_different"])
    loss.backward()
    params = dict(model.named_parameters())
    worst = 0.0
    print(f"loss: ExpertStream {f.attrs['loss']:.7f}, PyTorch {loss.item():.7f}")
    for key, dataset in f["gradients"].items():
        name = torch_name(key, arch)
        if "[" in name:
            base, row = name[:-1].split("[")
            theirs = params[base].grad[int(row)].numpy().ravel()
        else:
            theirs = params[name].grad.numpy().ravel()
        ours = dataset[()].ravel()
        # An absolute floor: a bias feeding batch normalisation has a gradient of exactly 0
        # in theory, and rounding noise of ~1e-9 in both implementations.
        scale = max(np.abs(theirs).max(), 1e-6)
        difference = np.abs(ours - theirs).max() / scale
        worst = max(worst, difference)
        print(f"{key:45s} max |Δ| / max |g| = {difference:.2e}")
    loss_difference = abs(loss.item() - f.attrs["loss"]) / abs(loss.item())
    print(f"worst gradient difference {worst:.2e}, loss difference {loss_difference:.2e}")
    sys.exit(0 if worst <= a.tolerance and loss_difference <= a.tolerance else 1)


if __name__ == "__main__":
    main()
