#!/usr/bin/env python3
"""Writes Tests/PipelineTests/Fixtures/foreign/: a cache written by scripts/precompute_pytorch.py
from a tiny torch teacher (scripts/fixtures/tiny_teacher.py) that kd never saw, for the tests of a
foreign teacher (Tests/PipelineTests/ForeignCacheTests.swift), which CI runs without torch.
Needs torch, h5py, numpy and Debian's dataset-fashion-mnist. Run by hand:

    python3 scripts/make_foreign_cache_fixture.py

train.h5: the first 64 Fashion-MNIST training images; test.h5: the first 200 test images;
cache.h5: precompute_pytorch.py over train.h5, teaching the tiny teacher's weights after 2 epochs
on training images 1,000..4,999 (seeded; the weights file itself is not kept, its SHA-256 is), with 2 views (crop padding 2, flips), every group.
"""
import gzip
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "fixtures"))
from tiny_teacher import make_teacher  # noqa: E402

SOURCE = "/usr/share/datasets/fashion-mnist"
OUT = os.path.normpath(os.path.join(here, "..", "Tests", "PipelineTests", "Fixtures", "foreign"))
CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
MEAN, STD = 0.286, 0.353


def idx(name):
    with gzip.open(os.path.join(SOURCE, name)) as f:
        data = f.read()
    return np.frombuffer(data, np.uint8, offset=16 if "images" in name else 8)


def pack(path, images, labels):
    with h5py.File(path, "w") as f:
        f.create_dataset("images", data=images[..., None], chunks=(64, 28, 28, 1), compression="gzip", compression_opts=9)
        f.create_dataset("labels", data=labels.astype(np.int32))
        f.attrs["classes"] = CLASSES
        f.attrs["format"] = "kd packed images"
        f.attrs["schema_version"] = np.int64(1)


def main():
    if not os.path.isdir(SOURCE):
        sys.exit(f"make_foreign_cache_fixture: {SOURCE}: missing (apt-get install dataset-fashion-mnist)")
    os.makedirs(OUT, exist_ok=True)
    train_images = idx("train-images-idx3-ubyte.gz").reshape(-1, 28, 28)
    train_labels = idx("train-labels-idx1-ubyte.gz")
    test_images = idx("t10k-images-idx3-ubyte.gz").reshape(-1, 28, 28)
    test_labels = idx("t10k-labels-idx1-ubyte.gz")
    pack(os.path.join(OUT, "train.h5"), train_images[:64], train_labels[:64])
    pack(os.path.join(OUT, "test.h5"), test_images[:200], test_labels[:200])

    torch.manual_seed(0)
    model = make_teacher()
    x = torch.from_numpy((train_images[1000:5000].astype(np.float32) / 255 - MEAN) / STD)[:, None]
    y = torch.from_numpy(train_labels[1000:5000].astype(np.int64))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    for _ in range(2):
        order = torch.randperm(len(x))
        for start in range(0, len(x), 64):
            batch = order[start:start + 64]
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            optimizer.step()
    weights = os.path.join(tempfile.mkdtemp(), "teacher.pt")
    torch.save(model.state_dict(), weights)

    subprocess.run([sys.executable, os.path.join(here, "precompute_pytorch.py"),
                    "--model", os.path.join(here, "fixtures", "tiny_teacher.py") + ":make_teacher",
                    "--weights", weights, "--data", os.path.join(OUT, "train.h5"),
                    "--test", os.path.join(OUT, "test.h5"), "--output", os.path.join(OUT, "cache.h5"),
                    "--mean", str(MEAN), "--std", str(STD), "--views", "2", "--crop-padding", "2", "--flip", "--seed", "1",
                    "--features", "pool", "--attention", "pool", "--boundary", "conv2", "--input-grad", "--embedding", "fc2",
                    "--batch-size", "32", "--gzip", "9", "--verify", "32"], check=True)
    total = sum(os.path.getsize(os.path.join(OUT, name)) for name in os.listdir(OUT))
    print(f"wrote {os.path.normpath(OUT)}: {total} bytes")


if __name__ == "__main__":
    main()
