#!/usr/bin/env python3
"""Runs `kdbench engine` and scripts/bench_pytorch.py back to back on the same models, batch and
thread counts, and prints one table with the ratios (PyTorch time / ours: above 1 means we are
faster). `make bench` calls it when torch is installed.

    python3 scripts/compare_engine.py [--models mnist_teacher,resnet8x4]
"""
import argparse
import os
import re
import subprocess
import sys

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.join(here, "..")


def rows(text):
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and re.fullmatch(r"\d+", cells[1] or ""):
            yield cells


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="mnist_teacher,mnist_student,resnet8x4,wrn_16_1,wrn_16_2")
    args = parser.parse_args()
    env = dict(os.environ, KDBENCH_MODELS=args.models)
    ours = subprocess.run([os.path.join(root, ".build", "release", "kdbench"), "engine"], env=env,
                          capture_output=True, text=True, check=True).stdout
    kd = {(c[0], c[1]): (float(c[2]), float(c[4])) for c in rows(ours)}
    torch = {}
    for threads in (1, 2):
        out = subprocess.run([sys.executable, os.path.join(here, "bench_pytorch.py"), "--threads", str(threads),
                              "--models", args.models], capture_output=True, text=True, check=True).stdout
        torch.update({(c[0], c[1]): (float(c[2]), float(c[3])) for c in rows(out)})
    print("| model | threads | forward img/s kd | forward img/s PyTorch | PyTorch time / kd | "
          "train step img/s kd | train step img/s PyTorch | PyTorch time / kd |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for key in kd:
        (kf, ks), (tf, ts) = kd[key], torch[key]
        print(f"| {key[0]} | {key[1]} | {kf:.0f} | {tf:.0f} | {kf / tf:.2f} | {ks:.0f} | {ts:.0f} | {ks / ts:.2f} |")


if __name__ == "__main__":
    main()
