#!/usr/bin/env python3
"""Writes Tests/NNTests/Fixtures/parity.h5: PyTorch's answers for small models of
../shared/reference/pytorch/models.py, which the Swift tests must reproduce tensor by tensor.
Run by hand (needs torch and h5py): python3 scripts/make_parity_fixture.py

For each model (resnet8, wrn_16_1, mnist_student), in group /<model>:
  state/<name>        the initial state_dict (parameters and buffers), PyTorch's default init, seed 0
  input [3,C,H,W]     a random batch; labels [3]
  logits, features/<k>, pre/<k>   the training-mode forward pass (k = 0, 1, 2)
  loss                cross-entropy of that pass
  grad/<name>         gradients of the loss
  after/<name>        the state_dict after one SGD step (lr 0.1, momentum 0.9, nesterov, weight decay 5e-4)
  eval_logits         the evaluation-mode logits after the step (running statistics updated)
  input_grad          d(loss)/d(input) of the evaluation-mode model after the step, and
  input_grad_grad     d/d(input) of 0.5 * ||input_grad||^2 (double backpropagation)
"""
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "shared", "reference", "pytorch"))
from models import MODELS  # noqa: E402

torch.set_num_threads(1)
out = os.path.join(here, "..", "Tests", "NNTests", "Fixtures", "parity.h5")


cases = [("resnet8", (3, 32, 32)), ("wrn_16_1", (3, 32, 32)), ("mnist_student", (1, 28, 28))]
with h5py.File(out, "w") as f:
    for name, shape in cases:
        torch.manual_seed(0)
        model = MODELS[name](num_classes=10, in_channels=shape[0])
        x = torch.randn(3, *shape)
        y = torch.tensor([3, 0, 9])
        g = f.create_group(name)
        for k, v in model.state_dict().items():
            g[f"state/{k}"] = v.numpy()
        g["input"] = x.numpy()
        g["labels"] = y.numpy().astype(np.int32)
        model.train()
        logits, feats, pre = model(x)
        loss = F.cross_entropy(logits, y)
        g["logits"] = logits.detach().numpy()
        for k, t in enumerate(feats):
            g[f"features/{k}"] = t.detach().numpy()
        for k, t in enumerate(pre):
            g[f"pre/{k}"] = t.detach().numpy()
        g["loss"] = loss.item()
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
        opt.zero_grad()
        loss.backward()
        for k, p in model.named_parameters():
            g[f"grad/{k}"] = p.grad.numpy()
        opt.step()
        for k, v in model.state_dict().items():
            g[f"after/{k}"] = v.numpy()
        model.eval()
        xi = x.clone().requires_grad_(True)
        eval_logits, _, _ = model(xi)
        g["eval_logits"] = eval_logits.detach().numpy()
        (gx,) = torch.autograd.grad(F.cross_entropy(eval_logits, y), xi, create_graph=True)
        g["input_grad"] = gx.detach().numpy()
        (ggx,) = torch.autograd.grad(0.5 * gx.pow(2).sum(), xi)
        g["input_grad_grad"] = ggx.numpy()
print("wrote", os.path.normpath(out), os.path.getsize(out), "bytes")
