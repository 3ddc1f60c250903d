#!/usr/bin/env python3
"""Writes Tests/NNTests/Fixtures/parity.h5: PyTorch's answers for small models of
../shared/reference/pytorch/models.py, which the Swift tests must reproduce tensor by tensor.
Run by hand (needs torch and h5py): python3 scripts/make_parity_fixture.py [model ...]
Named models are rewritten and every other group is copied unchanged from the existing file (PyTorch's
float32 results differ in the last bits between CPUs, so a full rewrite on another machine moves every
value slightly); with no names the whole file is written.

For each model (resnet8, wrn_16_1, mnist_student of models.py; resnet18, resnet50, mobilenetv2 of
zoo_models.py at the reduced width stored in the group's attributes `width` and `last_channels`, so
the fixture stays small), in group /<model>:
  state/<name>        the initial state_dict (parameters and buffers), PyTorch's default init, seed 0
  input [3,C,H,W]     a random batch; labels [3]
  logits, features/<k>, pre/<k>   the training-mode forward pass (k = 0, 1, ...: the named layers)
  loss                cross-entropy of that pass
  grad/<name>         gradients of the loss
  after/<name>        the state_dict after one SGD step (lr 0.1, momentum 0.9, nesterov, weight decay 5e-4)
  eval_logits         the evaluation-mode logits after the step (running statistics updated)
  input_grad          d(loss)/d(input) of the evaluation-mode model after the step, and
  input_grad_grad     d/d(input) of 0.5 * ||input_grad||^2 (double backpropagation)
The zoo_models.py models differ in two ways. Their state's running statistics are the cumulative
averages of 4 warm-up batches of 8 random images (as a trained network's, so the evaluation-mode pass
normalises its activations instead of passing near-initial statistics through 17 blocks), and every
pass after the state is computed in float64 and stored as float32: in MobileNetV2 some tensors are
zero but for rounding (the gradient of a BN bias whose output only reaches later BNs through
convolutions, which remove constants), and the deep ResNet-50's one-step evaluation pass amplifies
rounding, so PyTorch's own float32 answers differ from its float64 ones by far more than 1e-4.

For each full-size zoo_models.py model (10 classes, 3x32x32 input), in group /full/<model>, attributes only:
  parameters          PyTorch's count of trainable values
  macs                multiply-accumulates per image (kd_bench.py's count_macs)
  state               every state_dict entry as "name [d0, d1, ...]", in state_dict order
"""
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "shared", "reference", "pytorch"))
from kd_bench import count_macs  # noqa: E402
from models import MODELS  # noqa: E402
from zoo_models import ZOO  # noqa: E402

torch.set_num_threads(1)
out = os.path.join(here, "..", "Tests", "NNTests", "Fixtures", "parity.h5")


# name, input shape, the constructor, and the reduced sizes (attributes of the group).
cases = [(name, shape, MODELS[name], {}) for name, shape in
         [("resnet8", (3, 32, 32)), ("wrn_16_1", (3, 32, 32)), ("mnist_student", (1, 28, 28))]]
cases += [("resnet18", (3, 32, 32), ZOO["resnet18"], {"width": 4}),
          ("resnet50", (3, 32, 32), ZOO["resnet50"], {"width": 2}),
          ("mobilenetv2", (3, 32, 32), ZOO["mobilenetv2"], {"width": 0.1, "last_channels": 32})]


def warm_up(model, batches):
    """Sets every BN's running statistics to their cumulative average over `batches` (momentum None), then 0.1 again."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for m in norms:
        m.momentum = None
    with torch.no_grad():
        for batch in batches:
            model(batch)
    for m in norms:
        m.momentum = 0.1


def store(g, key, t):
    """Writes `t` under `key`, floating-point values as float32."""
    g[key] = (t.detach().float() if t.is_floating_point() else t).numpy()


only = sys.argv[1:]
unknown = set(only) - {case[0] for case in cases}
if unknown:
    sys.exit(f"unknown models {sorted(unknown)}; known: {[case[0] for case in cases]}")
with h5py.File(out + ".tmp", "w") as f:
    for name, shape, make, sizes in cases:
        if only and name not in only:
            with h5py.File(out, "r") as old:
                old.copy(old[name], f, name)
            continue
        torch.manual_seed(0)
        model = make(num_classes=10, in_channels=shape[0], **sizes)
        x = torch.randn(3, *shape)
        y = torch.tensor([3, 0, 9])
        zoo = make in ZOO.values()
        if zoo:
            warm_up(model, torch.randn(4, 8, *shape))
        g = f.create_group(name)
        for k, v in sizes.items():
            g.attrs[k] = v
        for k, v in model.state_dict().items():
            g[f"state/{k}"] = v.numpy()
        g["input"] = x.numpy()
        g["labels"] = y.numpy().astype(np.int32)
        if zoo:
            model, x = model.double(), x.double()
        model.train()
        logits, feats, pre = model(x)
        loss = F.cross_entropy(logits, y)
        store(g, "logits", logits)
        for k, t in enumerate(feats):
            store(g, f"features/{k}", t)
        for k, t in enumerate(pre):
            store(g, f"pre/{k}", t)
        g["loss"] = loss.item()
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
        opt.zero_grad()
        loss.backward()
        for k, p in model.named_parameters():
            store(g, f"grad/{k}", p.grad)
        opt.step()
        for k, v in model.state_dict().items():
            store(g, f"after/{k}", v)
        model.eval()
        xi = x.clone().requires_grad_(True)
        eval_logits, _, _ = model(xi)
        store(g, "eval_logits", eval_logits)
        (gx,) = torch.autograd.grad(F.cross_entropy(eval_logits, y), xi, create_graph=True)
        store(g, "input_grad", gx)
        (ggx,) = torch.autograd.grad(0.5 * gx.pow(2).sum(), xi)
        store(g, "input_grad_grad", ggx)
    for name, make in ZOO.items():
        model = make(num_classes=10, in_channels=3)
        g = f.create_group(f"full/{name}")
        g.attrs["parameters"] = sum(p.numel() for p in model.parameters())
        g.attrs["macs"] = count_macs(model, torch.zeros(1, 3, 32, 32))
        g.attrs["state"] = [f"{k} {list(v.shape)}" for k, v in model.state_dict().items()]
os.replace(out + ".tmp", out)
print("wrote", os.path.normpath(out), os.path.getsize(out), "bytes")
