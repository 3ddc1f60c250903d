#!/usr/bin/env bash
# Installs the Debian packages the project needs, only those missing; instant when all are there.
set -euo pipefail
# Open MPI (libopenmpi-dev, openmpi-bin) for `mpirun -np N kd precompute`; a plain `kd` never starts it.
packages=(libhdf5-dev hdf5-tools libpng-dev libopenblas-dev libdnnl-dev zlib1g-dev pkg-config dataset-fashion-mnist libopenmpi-dev openmpi-bin)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "swift is not on PATH: install Swift 6 (https://www.swift.org/install/)" >&2; exit 1; }
