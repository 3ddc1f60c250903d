#!/usr/bin/env python3
"""PyTorch's side of `kdbench engine`: the same models, batch 128, random data, median of 5 after
2 warm-ups, for one thread count per process (as ../shared/reference/pytorch/RESULTS.md advises).

    python3 scripts/bench_pytorch.py --threads 2 [--models mnist_teacher,resnet8x4]

Prints markdown rows: model, threads, forward img/s (eval, no grad), training step img/s
(zero_grad + forward + cross-entropy + backward + SGD step). Needs torch.
"""
import argparse
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "reference", "pytorch"))
from models import MODELS  # noqa: E402

SHAPES = {"mnist_teacher": (1, 28), "mnist_student": (1, 28), "resnet8x4": (3, 32), "wrn_16_1": (3, 32),
          "wrn_16_2": (3, 32), "resnet32x4": (3, 32), "wrn_40_2": (3, 32)}


def median_seconds(fn, reps=5, warm=2):
    for _ in range(warm):
        fn()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--models", default="mnist_teacher,mnist_student,resnet8x4,wrn_16_1,wrn_16_2")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    batch = 128
    for name in args.models.split(","):
        channels, size = SHAPES[name]
        torch.manual_seed(0)
        model = MODELS[name](num_classes=10, in_channels=channels)
        x = torch.randn(batch, channels, size, size)
        y = torch.arange(batch) % 10
        model.eval()

        def forward():
            with torch.no_grad():
                model(x)

        forward_s = median_seconds(forward)
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)

        def step():
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x)[0], y).backward()
            opt.step()

        step_s = median_seconds(step)
        print(f"| {name} | {args.threads} | {batch / forward_s:.0f} | {batch / step_s:.0f} |", flush=True)


if __name__ == "__main__":
    main()
