#!/usr/bin/env python3
"""Runs `kdbench engine` and scripts/bench_pytorch.py back to back on the same models, batch and
thread counts, and prints one table with the ratios (PyTorch time / ours: above 1 means we are
faster). `make bench` calls it when torch is installed.

    python3 scripts/compare_engine.py [--models mnist_teacher,resnet8x4] [--threads 1,2] [--json]
                                      [--kdbench .build/release/kdbench]

With --json, after the table: one JSON object per line for each model, thread count and pass,
{"model", "threads", "pass" ("forward" or "train"), "kd_img_s", "pytorch_img_s"}, both from this run.
"""
import argparse
import json
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


def thread_counts(text):
    counts = [int(t) for t in text.split(",")]
    if not counts or any(t < 1 for t in counts):
        raise argparse.ArgumentTypeError(f"--threads {text}: expected positive counts such as 1,2")
    return counts


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="mnist_teacher,mnist_student,resnet8x4,wrn_16_1,wrn_16_2,resnet32x4")
    parser.add_argument("--threads", type=thread_counts, default=[1, 2], help="comma-separated thread counts (default 1,2)")
    parser.add_argument("--json", action="store_true", help="also print one JSON object per model, thread count and pass")
    parser.add_argument("--kdbench", default=os.path.join(root, ".build", "release", "kdbench"), help="the kdbench executable")
    args = parser.parse_args()
    env = dict(os.environ, KDBENCH_MODELS=args.models, KDBENCH_THREADS=",".join(map(str, args.threads)))
    ours = subprocess.run([args.kdbench, "engine"], env=env, capture_output=True, text=True, check=True).stdout
    kd = {(c[0], int(c[1])): (float(c[2]), float(c[4])) for c in rows(ours)}
    torch = {}
    for threads in args.threads:
        out = subprocess.run([sys.executable, os.path.join(here, "bench_pytorch.py"), "--threads", str(threads),
                              "--models", args.models], capture_output=True, text=True, check=True).stdout
        torch.update({(c[0], int(c[1])): (float(c[2]), float(c[3])) for c in rows(out)})
    missing = sorted(set(kd) ^ set(torch))
    if missing:
        sys.exit(f"compare_engine: measured by only one side: {missing}")
    print("| model | threads | forward img/s kd | forward img/s PyTorch | PyTorch time / kd | "
          "train step img/s kd | train step img/s PyTorch | PyTorch time / kd |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for key in kd:
        (kf, ks), (tf, ts) = kd[key], torch[key]
        print(f"| {key[0]} | {key[1]} | {kf:.0f} | {tf:.0f} | {kf / tf:.2f} | {ks:.0f} | {ts:.0f} | {ks / ts:.2f} |")
    if args.json:
        print()
        for (model, threads), (kf, ks) in kd.items():
            tf, ts = torch[(model, threads)]
            for name, ours_rate, theirs in (("forward", kf, tf), ("train", ks, ts)):
                print(json.dumps({"model": model, "threads": threads, "pass": name, "kd_img_s": ours_rate, "pytorch_img_s": theirs}))


if __name__ == "__main__":
    main()
