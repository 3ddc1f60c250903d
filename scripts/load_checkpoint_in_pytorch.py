#!/usr/bin/env python3
"""Loads a kd checkpoint into the PyTorch models of ../shared/reference/pytorch/models.py and
evaluates it on a packed HDF5 image file, to show the weights move to PyTorch unchanged.

    python3 scripts/load_checkpoint_in_pytorch.py runs/fashion-mnist/teacher/best.h5 data/fashion-mnist/test.h5

The load itself is two lines of h5py (see `load`); the rest is evaluation. Needs torch and h5py.
"""
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "reference", "pytorch"))
from models import MODELS  # noqa: E402


def load(path):
    with h5py.File(path, "r") as f:
        state = {name: torch.from_numpy(np.array(d)) for name, d in f.items() if isinstance(d, h5py.Dataset)}
        return state, dict(f.attrs)


def main(checkpoint, data):
    state, attrs = load(checkpoint)
    with h5py.File(data, "r") as f:
        images, labels = f["images"][:], f["labels"][:].astype(np.int64)
    model = MODELS[attrs["arch"]](num_classes=int(attrs["num_classes"]), in_channels=images.shape[3])
    model.load_state_dict(state, strict=True)
    model.eval()
    mean = torch.tensor(attrs["input_mean"], dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(attrs["input_std"], dtype=torch.float32).view(1, -1, 1, 1)
    correct = 0
    with torch.no_grad():
        for start in range(0, len(images), 500):
            x = torch.from_numpy(images[start:start + 500]).permute(0, 3, 1, 2).float() / 255
            logits, _, _ = model((x - mean) / std)
            correct += (logits.argmax(1).numpy() == labels[start:start + 500]).sum()
    print(f"PyTorch {attrs['arch']} from {checkpoint} on {data}: top-1 accuracy {100 * correct / len(images):.2f}% ({len(images)} images)")


if __name__ == "__main__":
    main(*sys.argv[1:3])
