#!/usr/bin/env python3
"""Times one epoch of every student method of a pipeline, three ways, side by side in one run:
from the cache, with the teacher run live (`kd distill --online-teacher`), and PyTorch's training
step for the same student and loss (../shared/reference/pytorch/kd_bench.py, when torch is
installed). `make bench` calls it after the cache exists (`make precompute`).

    python3 scripts/bench_distill.py [--pipeline pipelines/fashion-mnist.yaml] [--no-online]

It writes a copy of the pipeline named <name>-bench whose students train 1 epoch (and 1 epoch of
any init stage) with seed 0, plus `none-all` (cross-entropy on every training image: the epoch
every method is compared with), pointing at the real pipeline's teacher and cache.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

import yaml

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.abspath(os.path.join(here, ".."))
kd_bench = os.path.join(root, "..", "shared", "reference", "pytorch", "kd_bench.py")
hint_step = os.path.join(here, "pytorch_hint_step.py")
# Which PyTorch step is the same as each stage of our methods: kd_bench's cases, and for FitNet's
# hint stage pytorch_hint_step.py's (kd_bench's case d regresses with a 1x1 convolution alone,
# this project with RepDistiller's convolution, batch norm and ReLU; both are printed).
pytorch_case = {("none-all", "main"): "b", ("kd", "main"): "c", ("fitnet", "init"): "d-convreg", ("fitnet", "main"): "c",
                ("at", "main"): "e", ("at-grad", "main"): "f", ("ab", "init"): "g", ("ab", "main"): "c"}


def epoch(folder, stage):
    path = os.path.join(folder, "init" if stage == "init" else "", "metrics.jsonl")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        records = [json.loads(line) for line in f if line.strip()]
    return records[-1] if records else None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--pipeline", default="pipelines/fashion-mnist.yaml")
    parser.add_argument("--no-online", action="store_true", help="skip the live-teacher runs")
    args = parser.parse_args()
    os.chdir(root)
    with open(args.pipeline) as f:
        config = yaml.safe_load(f)
    name = config["name"]
    if not os.path.exists(f"runs/{name}/cache.h5"):
        sys.exit(f"runs/{name}/cache.h5 is missing: run make precompute PIPELINE={args.pipeline} first")
    bench = f"{name}-bench"
    students = []
    for student in config["students"]:
        student = dict(student, epochs=1, seeds=[0])
        if "init_stage" in student:
            student["init_stage"] = dict(student["init_stage"], epochs=1)
        if student["method"] == "none":
            student = dict(student, name="none-all")
            student.pop("labels", None)
        students.append(student)
    config = dict(config, name=bench, students=students)
    shutil.rmtree(f"runs/{bench}", ignore_errors=True)
    os.makedirs(f"runs/{bench}")
    os.symlink(f"../{name}/teacher", f"runs/{bench}/teacher")
    os.symlink(f"../{name}/cache.h5", f"runs/{bench}/cache.h5")
    path = os.path.join(tempfile.mkdtemp(), f"{bench}.yaml")
    with open(path, "w") as f:
        yaml.safe_dump(config, f, sort_keys=False)
    kd = os.path.join(root, ".build", "release", "kd")
    env = dict(os.environ, OPENBLAS_CORETYPE=os.environ.get("OPENBLAS_CORETYPE", "Haswell"))
    subprocess.run([kd, "distill", "--config", path], check=True, env=env, stdout=subprocess.DEVNULL)
    if not args.no_online:
        subprocess.run([kd, "distill", "--config", path, "--online-teacher"], check=True, env=env, stdout=subprocess.DEVNULL)
    torch = {}
    if os.path.exists(kd_bench) and subprocess.run([sys.executable, "-c", "import torch"], capture_output=True).returncode == 0:
        out = os.path.join(tempfile.mkdtemp(), "kd_bench.json")
        subprocess.run([sys.executable, kd_bench, "--pairs", "mnist", "--threads", "2", "--json", out], check=True,
                       cwd=os.path.dirname(kd_bench), stdout=subprocess.DEVNULL)
        with open(out) as f:
            torch = {row["case"]: row["img_per_s"] for row in json.load(f)["rows"]}
        step = subprocess.run([sys.executable, hint_step, "--threads", "2"], check=True, capture_output=True, text=True)
        row = json.loads(step.stdout.strip().splitlines()[-1])
        torch[row["case"]] = row["img_per_s"]

    base = epoch(f"runs/{bench}/students/none-all/seed0", "main")
    print("| student | stage | img/s from the cache | epoch time / none-all | img/s online teacher | cache speed-up "
          "| PyTorch img/s (kd_bench case) | PyTorch time / ours |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for student in students:
        for stage in ("init", "main"):
            cached = epoch(f"runs/{bench}/students/{student['name']}/seed0", stage)
            if cached is None:
                continue
            online = epoch(f"runs/{bench}/online/{student['name']}/seed0", stage)
            case = pytorch_case.get((student["method"] if student["name"] != "none-all" else "none-all", stage))
            reference = torch.get(case)
            cells = [student["name"], stage, f"{cached['images_per_second']:.0f}",
                     f"{cached['seconds'] / base['seconds']:.2f}" if base and stage == "main" else "-",
                     f"{online['images_per_second']:.0f}" if online else "-",
                     f"{cached['images_per_second'] / online['images_per_second']:.2f}x" if online else "-",
                     f"{reference:.0f} ({case})" if reference else "-",
                     f"{cached['images_per_second'] / reference:.2f}" if reference else "-"]
            print("| " + " | ".join(cells) + " |")
    if "d" in torch:
        print(f"\nkd_bench's hint step d (1x1 convolution alone as the regressor): {torch['d']:.0f} img/s")


if __name__ == "__main__":
    main()
