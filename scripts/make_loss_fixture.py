#!/usr/bin/env python3
"""Writes Tests/LossesTests/Fixtures/losses.h5: PyTorch's values and gradients of the distillation
losses on small random tensors, following the reference formulas of
../shared/reference/pytorch/kd_bench.py (kd_loss, at_map, ab_loss) and the papers: decoupled KD
(Zhao et al. 2022), DIST (Huang et al. 2022), logit standardisation (Sun et al. 2024) and CRD
(Tian et al. 2020), each written here from the paper's formula.
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

# Decoupled KD (arXiv:2203.08679, eq. 7): the binary target/non-target KL and the KL over the
# non-target classes renormalised, each times T^2, batch-averaged.
def dkd_terms(zs, zt, target, T):
    gt = F.one_hot(target, zs.shape[1]).to(zs.dtype)
    ps, pt = F.softmax(zs / T, 1), F.softmax(zt / T, 1)
    bs = torch.stack([(ps * gt).sum(1), (ps * (1 - gt)).sum(1)], 1)
    bt = torch.stack([(pt * gt).sum(1), (pt * (1 - gt)).sum(1)], 1)
    tckd = (bt * (bt.log() - bs.log())).sum() * T * T / zs.shape[0]
    others_t = F.softmax(zt / T - 1000 * gt, 1)
    others_s = F.log_softmax(zs / T - 1000 * gt, 1)
    nckd = (others_t * (others_t.clamp_min(1e-30).log() - others_s)).sum() * T * T / zs.shape[0]
    return tckd, nckd


# DIST (arXiv:2205.10536, eqs. 5-9): 1 - mean Pearson correlation of softmax(z/tau), along rows
# (inter-class) and along columns (intra-class), each times tau^2.
def decorrelation(a, b):
    ca, cb = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    return 1 - ((ca * cb).sum(1) / (ca.norm(dim=1) * cb.norm(dim=1) + 1e-8)).mean()


def dist_relations(zs, zt, tau):
    ys, yt = F.softmax(zs / tau, 1), F.softmax(zt / tau, 1)
    return tau * tau * decorrelation(ys, yt), tau * tau * decorrelation(ys.t(), yt.t())


# Logit standardisation (arXiv:2403.01427, eq. 8): z-score with the sample std, then KD.
def standardize(z):
    return (z - z.mean(1, keepdim=True)) / (1e-7 + z.std(1, keepdim=True))


# CRD (arXiv:1910.10699, eqs. 10-19 with RepDistiller's memory and NCE): scores exp(v . m / tau) / Z
# against the other side's memory rows [positive, negatives...], Z = mean * N on the first batch.
# The negatives are drawn once for the batch and shared by its images (as kd does; the formula is
# RepDistiller's per-row one).
def crd(fs, ft, mem_s, mem_t, idx, neg, tau):
    n = mem_s.shape[0]
    rows = torch.cat([idx[:, None], neg], 1)
    def probs(v, mem):
        scores = torch.exp(torch.bmm(mem[rows], v[:, :, None]).squeeze(2) / tau)
        z = scores.detach().mean() * n
        return scores / z, z
    def nce(p):
        m = p.shape[1] - 1
        pn = 1.0 / n
        d1 = torch.log(p[:, 0] / (p[:, 0] + m * pn + 1e-7))
        d0 = torch.log((m * pn) / (p[:, 1:] + m * pn + 1e-7))
        return -(d1.sum() + d0.sum()) / p.shape[0]
    p_s, z_s = probs(fs, mem_t)
    p_t, z_t = probs(ft, mem_s)
    return nce(p_s) + nce(p_t), z_s, z_t


with h5py.File(out, "a") as f:
    tckd, nckd = dkd_terms(s, t, y, 4.0)
    f["dkd_target"], f["dkd_non_target"] = tckd.item(), nckd.item()
    f["dkd_target_grad"] = torch.autograd.grad(tckd, s, retain_graph=True)[0].numpy()
    f["dkd_non_target_grad"] = torch.autograd.grad(nckd, s)[0].numpy()
    inter, intra = dist_relations(s, t, 4.0)
    f["dist_inter"], f["dist_intra"] = inter.item(), intra.item()
    f["dist_inter_grad"] = torch.autograd.grad(inter, s, retain_graph=True)[0].numpy()
    f["dist_intra_grad"] = torch.autograd.grad(intra, s)[0].numpy()
    f["standardized_teacher"] = standardize(t).numpy()
    kd_ls = F.kl_div(F.log_softmax(standardize(s) / 2, 1), F.softmax(standardize(t) / 2, 1), reduction="batchmean") * 4
    f["kd_standardized"] = kd_ls.item()
    f["kd_standardized_grad"] = torch.autograd.grad(kd_ls, s)[0].numpy()

    n, d, k, b = 50, 8, 10, 4
    fs = F.normalize(torch.randn(b, d, dtype=torch.float64), dim=1).requires_grad_()
    ft = F.normalize(torch.randn(b, d, dtype=torch.float64), dim=1).requires_grad_()
    mem_s = F.normalize(torch.randn(n, d, dtype=torch.float64), dim=1)
    mem_t = F.normalize(torch.randn(n, d, dtype=torch.float64), dim=1)
    idx = torch.tensor([3, 17, 0, 42])
    neg = torch.randint(0, n, (k,)).expand(b, k)
    loss, z_s, z_t = crd(fs, ft, mem_s, mem_t, idx, neg, 0.07)
    gs, gt = torch.autograd.grad(loss, [fs, ft])
    for name, value in [("crd_student", fs.detach()), ("crd_teacher", ft.detach()), ("crd_memory_student", mem_s),
                        ("crd_memory_teacher", mem_t), ("crd_student_grad", gs), ("crd_teacher_grad", gt)]:
        f[name] = value.numpy()
    f["crd_indices"], f["crd_negatives"] = idx.numpy().astype("int32"), neg[0].numpy().astype("int32")
    f["crd_loss"], f["crd_z"] = loss.item(), torch.stack([z_s, z_t]).numpy()
    # The momentum update (0.5) of the rows idx, renormalised.
    for name, mem, v in [("crd_memory_student_updated", mem_s.clone(), fs.detach()), ("crd_memory_teacher_updated", mem_t.clone(), ft.detach())]:
        rows = mem[idx] * 0.5 + v * 0.5
        mem[idx] = rows / rows.norm(dim=1, keepdim=True)
        f[name] = mem.numpy()
print("wrote", os.path.normpath(out))
