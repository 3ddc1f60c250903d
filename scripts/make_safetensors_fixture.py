#!/usr/bin/env python3
"""Writes Tests/NNTests/Fixtures/safetensors/: mnist_student of ../shared/reference/pytorch/models.py
(PyTorch's default init, seed 0) saved as safetensors in three dtypes, and the logits PyTorch
computes from each, which the Swift reader must reproduce after loading.
Run by hand (needs torch, safetensors and h5py): python3 scripts/make_safetensors_fixture.py

  mnist_student_f32.safetensors   float32, __metadata__ arch, classes (10 names), input_mean, input_std
  mnist_student_f16.safetensors   floating tensors as float16, __metadata__ {"arch": "mnist_student"}
  mnist_student_bf16.safetensors  floating tensors as bfloat16, no __metadata__
  (integer tensors, such as BatchNorm's int64 num_batches_tracked, keep their dtype in all three)

  expected.h5
    input [4,1,28,28]             a fixed random batch (seed 1)
    logits/<f32|f16|bf16> [4,10]  evaluation-mode logits of the model whose weights were rounded to
                                  that dtype and widened back to float32
    weights/<f32|f16|bf16>        conv1.weight as stored in each file, widened to float32
"""
import os
import sys

import h5py
import torch
from safetensors.torch import save_file

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "shared", "reference", "pytorch"))
from models import MODELS  # noqa: E402

torch.set_num_threads(1)
out = os.path.join(here, "..", "Tests", "NNTests", "Fixtures", "safetensors")
os.makedirs(out, exist_ok=True)

torch.manual_seed(0)
model = MODELS["mnist_student"](num_classes=10, in_channels=1)
model.eval()
state = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
torch.manual_seed(1)
x = torch.randn(4, 1, 28, 28)

classes = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
variants = [
    ("f32", torch.float32, {"arch": "mnist_student", "classes": ",".join(classes), "input_mean": "0.286", "input_std": "0.353"}),
    ("f16", torch.float16, {"arch": "mnist_student"}),
    ("bf16", torch.bfloat16, None),
]
with h5py.File(os.path.join(out, "expected.h5"), "w") as f:
    f["input"] = x.numpy()
    for tag, dtype, metadata in variants:
        stored = {k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}
        path = os.path.join(out, f"mnist_student_{tag}.safetensors")
        save_file(stored, path, metadata=metadata)
        os.chmod(path, 0o644)  # save_file writes through a private temporary file
        widened = {k: v.to(state[k].dtype) for k, v in stored.items()}
        model.load_state_dict(widened)
        with torch.no_grad():
            logits, _, _ = model(x)
        f[f"logits/{tag}"] = logits.numpy()
        f[f"weights/{tag}"] = widened["conv1.weight"].numpy()
        print("wrote", os.path.normpath(path), os.path.getsize(path), "bytes")
print("wrote", os.path.normpath(os.path.join(out, "expected.h5")), os.path.getsize(os.path.join(out, "expected.h5")), "bytes")
