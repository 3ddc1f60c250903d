#!/usr/bin/env python3
"""Trains a teacher in PyTorch, not in kd, on a packed HDF5 dataset: the stand-in for a teacher a
user brings. Needs torch, h5py and numpy; the model comes from ../shared/reference/pytorch/models.py.

    python3 scripts/train_pytorch_teacher.py --arch mnist_teacher --epochs 3 \\
        --train data/fashion-mnist/train.h5 --test data/fashion-mnist/test.h5 \\
        --mean 0.286 --std 0.353 --output runs/pytorch-teacher/teacher.pth

The recipe is kd's teacher recipe (SGD, Nesterov momentum 0.9, weight decay 5e-4, a cosine learning
rate per iteration, batch 128). The checkpoint is saved the way RepDistiller saves its teachers,
{"model": state_dict, "epoch": E, "accuracy": A}, and the test accuracy PyTorch measures is printed
and written beside it as <output>.json, so `kd eval` on the imported file can be compared with it.
"""
import argparse
import json
import math
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "shared", "reference", "pytorch"))
from models import MODELS  # noqa: E402


def load(path, mean, std):
    """Images [N,C,H,W] normalised as kd does ((p/255 - mean) / std), labels [N], class names."""
    with h5py.File(path, "r") as f:
        images = torch.from_numpy(f["images"][:]).permute(0, 3, 1, 2).float() / 255
        labels = torch.from_numpy(f["labels"][:].astype(np.int64))
        classes = [c.decode() if isinstance(c, bytes) else str(c) for c in f.attrs["classes"]]
    mean = torch.tensor(mean).view(1, -1, 1, 1)
    std = torch.tensor(std).view(1, -1, 1, 1)
    return (images - mean) / std, labels, classes


def accuracy(model, images, labels):
    """Top-1 test accuracy of the evaluation-mode model."""
    model.eval()
    with torch.no_grad():
        correct = sum((model(images[i:i + 500])[0].argmax(1) == labels[i:i + 500]).sum().item()
                      for i in range(0, len(images), 500))
    return correct / len(images)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="mnist_teacher", choices=sorted(MODELS))
    parser.add_argument("--train", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--mean", required=True, help="per-channel, comma-separated")
    parser.add_argument("--std", required=True, help="per-channel, comma-separated")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--output", required=True, help="the .pth file to write")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    mean = [float(v) for v in args.mean.split(",")]
    std = [float(v) for v in args.std.split(",")]
    x, y, classes = load(args.train, mean, std)
    xt, yt, test_classes = load(args.test, mean, std)
    if classes != test_classes:
        sys.exit(f"train_pytorch_teacher: {args.test}: classes {test_classes} differ from {args.train}'s {classes}")
    model = MODELS[args.arch](num_classes=len(classes), in_channels=x.shape[1])
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    steps = args.epochs * math.ceil(len(x) / args.batch_size)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * step / steps)))
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(x))
        for start in range(0, len(x), args.batch_size):
            batch = order[start:start + args.batch_size]
            loss = F.cross_entropy(model(x[batch])[0], y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        print(f"epoch {epoch + 1}/{args.epochs}: test accuracy {100 * accuracy(model, xt, yt):.2f}%", flush=True)
    acc = accuracy(model, xt, yt)
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    torch.save({"model": model.state_dict(), "epoch": args.epochs, "accuracy": acc}, args.output + ".tmp")
    os.replace(args.output + ".tmp", args.output)
    facts = {"arch": args.arch, "test_accuracy": acc, "test_images": len(xt), "classes": classes,
             "mean": mean, "std": std, "epochs": args.epochs, "torch": torch.__version__}
    with open(args.output + ".json.tmp", "w") as f:
        json.dump(facts, f, indent=1)
    os.replace(args.output + ".json.tmp", args.output + ".json")
    print(f"pytorch test accuracy {100 * acc:.2f}% on {len(xt)} images; wrote {args.output} and {args.output}.json")


if __name__ == "__main__":
    main()
