#!/usr/bin/env python3
"""Times one epoch of every student method of a pipeline, three ways, side by side in one run:
from the cache, with the teacher run live (`kd distill --online-teacher`), and PyTorch's training
step for the same student and loss (../shared/reference/pytorch/kd_bench.py, when torch is
installed). `make bench` calls it after the cache exists (`make precompute`).

    python3 scripts/bench_distill.py [--pipeline pipelines/fashion-mnist.yaml] [--no-online] [--rounds 3]

It writes a copy of the pipeline named <name>-bench whose students train 1 epoch (and 1 epoch of
any init stage) with seed 0, plus `none-all` (cross-entropy on every training image: the epoch
every method is compared with), pointing at the real pipeline's teacher and cache. With
--rounds N, ours and PyTorch's run in turn N times, and the table gives medians, with the lowest
and highest of the N per-round ratios.
"""
import argparse
import json
import os
import shutil
import statistics
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
    parser.add_argument("--rounds", type=int, default=1, help="rounds of ours then PyTorch's, alternating (medians printed)")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds takes a count of 1 or more")
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
    have_torch = os.path.exists(kd_bench) and subprocess.run([sys.executable, "-c", "import torch"], capture_output=True).returncode == 0
    stages = [(student, stage) for student in students for stage in ("init", "main")]
    # One record per figure and round: ours and PyTorch's alternate, so that the machine's changes of
    # speed hit both alike, and each ratio is taken within its own round.
    rounds = []
    for _ in range(args.rounds):
        subprocess.run([kd, "distill", "--config", path, "--restart"], check=True, env=env, stdout=subprocess.DEVNULL)
        if not args.no_online:
            subprocess.run([kd, "distill", "--config", path, "--online-teacher", "--restart"], check=True, env=env,
                           stdout=subprocess.DEVNULL)
        figures = {"torch": pytorch_speeds() if have_torch else {}}
        for student, stage in stages:
            for kind, folder in (("cached", "students"), ("online", "online")):
                record = epoch(f"runs/{bench}/{folder}/{student['name']}/seed0", stage)
                if record:
                    figures[kind, student["name"], stage] = record
        rounds.append(figures)

    def per_round(value):
        """`value(round)` for every round where it is defined (not None)."""
        return [v for v in map(value, rounds) if v is not None]

    def median(values):
        return statistics.median(values) if values else None

    print(f"Medians of {args.rounds} rounds; in brackets, the lowest and highest of the per-round ratios.\n" if args.rounds > 1 else "", end="")
    print("| student | stage | img/s from the cache | epoch time / none-all | img/s online teacher | cache speed-up "
          "| PyTorch img/s (case) | PyTorch time / ours |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")

    def cell(values, digits=2, suffix=""):
        if not values:
            return "-"
        spread = f" [{min(values):.{digits}f}-{max(values):.{digits}f}]" if len(values) > 1 else ""
        return f"{median(values):.{digits}f}{suffix}{spread}"

    for student, stage in stages:
        name = student["name"]
        ours = lambda r: r.get(("cached", name, stage))
        if not per_round(ours):
            continue
        live = lambda r: r.get(("online", name, stage))
        base = lambda r: r.get(("cached", "none-all", "main"))
        case = pytorch_case.get((student["method"] if name != "none-all" else "none-all", stage))
        reference = lambda r: r["torch"].get(case)
        speed = lambda r: ours(r)["images_per_second"] if ours(r) else None
        cells = [name, stage, cell(per_round(speed), 0),
                 cell(per_round(lambda r: ours(r)["seconds"] / base(r)["seconds"] if ours(r) and base(r) else None)) if stage == "main" else "-",
                 cell(per_round(lambda r: live(r)["images_per_second"] if live(r) else None), 0),
                 cell(per_round(lambda r: speed(r) / live(r)["images_per_second"] if speed(r) and live(r) else None), suffix="x"),
                 f"{median(per_round(reference)):.0f} ({case})" if per_round(reference) else "-",
                 cell(per_round(lambda r: speed(r) / reference(r) if speed(r) and reference(r) else None))]
        print("| " + " | ".join(cells) + " |")
    conv_only = per_round(lambda r: r["torch"].get("d"))
    if conv_only:
        print(f"\nkd_bench's hint step d (1x1 convolution alone as the regressor): {median(conv_only):.0f} img/s")


def pytorch_speeds():
    """One run of kd_bench's mnist pair and of the hint step with this project's regressor: img/s by case."""
    out = os.path.join(tempfile.mkdtemp(), "kd_bench.json")
    subprocess.run([sys.executable, kd_bench, "--pairs", "mnist", "--threads", "2", "--json", out], check=True,
                   cwd=os.path.dirname(kd_bench), stdout=subprocess.DEVNULL)
    with open(out) as f:
        speeds = {row["case"]: row["img_per_s"] for row in json.load(f)["rows"]}
    step = subprocess.run([sys.executable, hint_step, "--threads", "2"], check=True, capture_output=True, text=True)
    row = json.loads(step.stdout.strip().splitlines()[-1])
    speeds[row["case"]] = row["img_per_s"]
    return speeds


if __name__ == "__main__":
    main()
