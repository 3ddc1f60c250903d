#!/usr/bin/env bash
# `make faults`, second half: kill -9 the teacher, precompute and distill stages of a tiny pipeline
# at random moments, resume each, and require the same files as an uninterrupted run (every
# dataset of every checkpoint and of the cache equal). Needs python3 with h5py for the comparison.
set -euo pipefail
kd="$(pwd)/.build/release/kd"
rounds=${ROUNDS:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$kd" data fashion-mnist --output "$work/fm" >/dev/null
"$kd" data split "$work/fm/test.h5" --test-per-class 100 --seed 1 --train "$work/train.h5" --test "$work/test.h5" >/dev/null
cat > "$work/tiny.yaml" <<YAML
name: tiny
data: {train: $work/train.h5, test: $work/test.h5, mean: [0.286], std: [0.353]}
teacher: {arch: mnist_student, epochs: 3, batch_size: 64, seed: 3, augment: {crop_padding: 2, flip: true},
          optimizer: {lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 0.0005, schedule: cosine}}
cache: {views: 2, augment: {crop_padding: 2, flip: true}, batch_size: 64, features: [conv2], attention: {layers: [conv1]},
        boundary: [conv1, fc1], input_grad: true, embedding: true}
students:
  - {name: ab, method: ab, arch: mnist_student, epochs: 2, batch_size: 32, seeds: [0], labels: 100,
     optimizer: {lr: 0.05, momentum: 0.9, nesterov: true, weight_decay: 0.0005, schedule: cosine, clip_norm: 5},
     init_stage: {kind: ab, epochs: 2, margin: 1, pairs: [[conv1, conv1], [fc1, fc1]]},
     terms: [{loss: ce, weight: 0.1}, {loss: kd, weight: 0.9, temperature: 4}, {loss: crd, weight: 0.8, dimension: 32, negatives: 256, temperature: 0.07, momentum: 0.5}]}
YAML
stage() { (cd "$1" && "$kd" "$2" --config "$work/tiny.yaml" >/dev/null 2>&1); }
mkdir -p "$work/reference"
for s in teacher precompute distill; do stage "$work/reference" $s; done

compare() {
    python3 - "$1" "$2" <<'PY'
import sys, h5py, numpy as np
a, b = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
names = []
a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
bad = [n for n in names if n not in b or not np.array_equal(a[n][()], b[n][()])]
sys.exit(f"{sys.argv[2]}: {len(bad)} datasets differ from the uninterrupted run, e.g. {bad[:3]}" if bad else 0)
PY
}

for round in $(seq "$rounds"); do
    run="$work/round$round"
    mkdir -p "$run"
    for s in teacher precompute distill; do
        # Start, kill -9 after a random 0.5-4 s, then run again to the end.
        (cd "$run" && exec "$kd" $s --config "$work/tiny.yaml" >/dev/null 2>&1) &
        pid=$!
        sleep "$(awk -v seed="$RANDOM" 'BEGIN { srand(seed); printf "%.2f", 0.5 + 3.5 * rand() }')"
        kill -9 "$pid" 2>/dev/null && echo "round $round: killed kd $s" || echo "round $round: kd $s finished before the kill"
        wait "$pid" 2>/dev/null || true
        stage "$run" $s || { echo "round $round: kd $s did not resume" >&2; exit 1; }
    done
    for file in runs/tiny/teacher/last.h5 runs/tiny/cache.h5 runs/tiny/students/ab/seed0/init/last.h5 runs/tiny/students/ab/seed0/last.h5; do
        compare "$work/reference/$file" "$run/$file"
    done
    echo "round $round: every resumed file equals the uninterrupted run's"
done
