#!/usr/bin/env python3
"""Each method's gain over the plain student in a pipeline's report, beside RepDistiller's
published CIFAR-100 gains for the same method on wrn_40_2 -> wrn_16_2 (Tian et al., "Contrastive
Representation Distillation", ICLR 2020, Table 1: student 73.26%).

    python3 scripts/compare_repdistiller.py runs/cifar10/report.json

Prints a markdown table: method, our last accuracy (mean over seeds) and gain over `none`, its
spread (the larger of the two standard deviations, 0 with one seed), RepDistiller's gain, and
whether the two gains have the same sign. Methods RepDistiller's table lacks get '-'.
"""
import argparse
import json
import sys

# Points of top-1 accuracy over the student trained alone (CRD paper, Table 1, wrn_40_2 -> wrn_16_2).
REPDISTILLER_GAINS = {"kd": 1.7, "fitnet": 0.3, "at": 0.8, "ab": -0.8, "crd": 2.2}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report", help="runs/<name>/report.json, written by kd distill")
    args = parser.parse_args()
    try:
        with open(args.report) as f:
            students = json.load(f)["students"]
    except (OSError, ValueError, KeyError) as error:
        sys.exit(f"{args.report}: not a kd report ({error})")
    by_method = {s["method"]: s for s in students}
    if "none" not in by_method:
        sys.exit(f"{args.report}: no `none` student to measure gains against")
    base = by_method["none"]
    print("| method | last acc % | gain vs none | spread | RepDistiller gain (CIFAR-100) | same sign |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for s in students:
        if s["method"] == "none":
            continue
        gain = 100 * (s["last_accuracy_mean"] - base["last_accuracy_mean"])
        spread = 100 * max(s.get("last_accuracy_std", 0), base.get("last_accuracy_std", 0))
        theirs = REPDISTILLER_GAINS.get(s["method"])
        same = "-" if theirs is None else ("yes" if (gain > 0) == (theirs > 0) else "no")
        print(f"| {s['method']} | {100 * s['last_accuracy_mean']:.2f} | {gain:+.2f} | {spread:.2f} | "
              f"{'-' if theirs is None else f'{theirs:+.1f}'} | {same} |")


if __name__ == "__main__":
    main()
