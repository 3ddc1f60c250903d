#!/usr/bin/env python3
"""PyTorch's FitNet hint step with the regressor this project trains (RepDistiller's ConvReg:
1x1 convolution, batch norm, ReLU), beside kd_bench.py's case d, whose regressor is the 1x1
convolution alone. Same pair, batch, data and measurement as kd_bench's mnist pair: the student
mnist_student up to its second stage, the teacher's hint features [64, 24, 24], MSE, SGD.

    python3 scripts/pytorch_hint_step.py --threads 2

Prints one JSON object: {"case": "d-convreg", "img_per_s": ...}. Needs torch.
"""
import argparse
import json
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "reference", "pytorch"))
from benchutil import measure  # noqa: E402
from models import MODELS  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(args.batch, 1, 28, 28)
    with torch.no_grad():
        _, teacher_features, _ = MODELS["mnist_teacher"]().eval()(x)
    hint = torch.randn_like(teacher_features[1])
    student = MODELS["mnist_student"]().train()
    regressor = nn.Sequential(nn.Conv2d(student.stage_channels[1], hint.shape[1], 1, bias=False),
                              nn.BatchNorm2d(hint.shape[1]), nn.ReLU())
    parameters = list(student.parameters()) + list(regressor.parameters())
    optimizer = torch.optim.SGD(parameters, lr=0.01, momentum=0.9, weight_decay=5e-4)

    def step():
        optimizer.zero_grad(set_to_none=True)
        _, features, _ = student(x, upto=2)
        F.mse_loss(regressor(features[1]), hint).backward()
        optimizer.step()

    result = measure(step)
    print(json.dumps({"case": "d-convreg", "img_per_s": args.batch / result["median_s"]}))


if __name__ == "__main__":
    main()
