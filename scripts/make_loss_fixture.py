#!/usr/bin/env python3
"""Writes Tests/LossesTests/Fixtures/losses.h5: PyTorch's values and gradients of the distillation
losses on small random tensors, following the reference formulas of
../shared/reference/pytorch/kd_bench.py (kd_loss, at_map, ab_loss) and the papers.
Run by hand (needs torch and h5py): python3 scripts/make_loss_fixture.py
"""
import os

import h5py
import torch
import torch.nn.functional as F

torch.manual_seed(0)
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "LossesTests", "Fixtures", "losses.h5")
os.makedirs(os.path.dirname(out), exist_ok=True)
s = torch.randn(4, 10, dtype=torch.float64, requires_grad=True)
t = torch.randn(4, 10, dtype=torch.float64)
y = torch.tensor([3, 0, 9, 3])
fs = torch.randn(4, 3, 5, 5, dtype=torch.float64, requires_grad=True)
ft = torch.randn(4, 6, 5, 5, dtype=torch.float64)
pre_s = torch.randn(4, 6, 5, 5, dtype=torch.float64, requires_grad=True)
pre_t = torch.randn(4, 6, 5, 5, dtype=torch.float64)


def at_map(f):
    return F.normalize(f.pow(2).mean(1).flatten(1))


with h5py.File(out, "w") as f:
    f["student_logits"], f["teacher_logits"], f["labels"] = s.detach().numpy(), t.numpy(), y.numpy().astype("int32")
    f["student_features"], f["teacher_features"] = fs.detach().numpy(), ft.numpy()
    f["student_pre"], f["teacher_pre"] = pre_s.detach().numpy(), pre_t.numpy()
    # KD with T = 4: T^2 * KL(softmax(t/T) || softmax(s/T)), batchmean; and the full alpha/beta mix.
    soft = F.kl_div(F.log_softmax(s / 4, 1), F.softmax(t / 4, 1), reduction="batchmean") * 16
    f["kd_soft"] = soft.item()
    f["kd_soft_grad"] = torch.autograd.grad(soft, s)[0].numpy()
    full = 0.9 * soft + 0.1 * F.cross_entropy(s, y)
    f["kd_full"] = full.item()
    # AT: normalised maps (mean over channels, as kd_bench; sum gives the same after normalising).
    at = (at_map(fs) - at_map(ft)).pow(2).mean()
    f["at_maps_teacher"] = at_map(ft).numpy()
    f["at"] = at.item()
    f["at_grad"] = torch.autograd.grad(at, fs)[0].numpy()
    # AB with margin 1 (kd_bench.ab_loss).
    m = 1.0
    ab = ((pre_s + m) ** 2 * ((pre_s > -m) & (pre_t <= 0)).double()
          + (pre_s - m) ** 2 * ((pre_s <= m) & (pre_t > 0)).double()).abs().sum() / pre_s.shape[0] / 1000.0
    f["ab"] = ab.item()
    f["ab_grad"] = torch.autograd.grad(ab, pre_s)[0].numpy()
    # Hint: MSE.
    hint = F.mse_loss(pre_s, pre_t)
    f["hint"] = hint.item()
print("wrote", os.path.normpath(out))
