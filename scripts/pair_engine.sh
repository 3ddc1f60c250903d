#!/bin/bash
# Two kdbench binaries (say, before and after a change) timed in turn on the same models, so load
# changes hit both alike: `kdbench engine` (forward and training step, batch 128) for each model,
# old then new, PAIRS times. Prints each run's table row; compare pair by pair (BENCHMARKS.md).
#
#     scripts/pair_engine.sh OLD_KDBENCH NEW_KDBENCH MODELS [PAIRS=3] [THREADS=2]
#     scripts/pair_engine.sh /tmp/old/.build/release/kdbench .build/release/kdbench wrn_16_2,resnet8
set -euo pipefail
[ $# -ge 3 ] || { sed -n 2,7p "$0" >&2; exit 2; }
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Haswell} OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
old=$1 new=$2 pairs=${4:-3} threads=${5:-2}
for model in ${3//,/ }; do
    for i in $(seq "$pairs"); do
        echo "$model pair $i old $(KDBENCH_MODELS=$model KDBENCH_THREADS=$threads "$old" engine | tail -1)"
        echo "$model pair $i new $(KDBENCH_MODELS=$model KDBENCH_THREADS=$threads "$new" engine | tail -1)"
    done
done
