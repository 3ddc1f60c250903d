# Targets are the artefacts: `make distill` needs the cache, which needs the teacher, which
# needs the dataset, which needs the executable and the system packages.
SHELL := /bin/bash
PIPELINE ?= pipelines/fashion-mnist.yaml
# Older OpenBLAS misbehaves on this AVX-512 CPU without it; an environment that sets it wins.
export OPENBLAS_CORETYPE ?= Haswell

KD := .build/release/kd
DATA := data/fashion-mnist

.PHONY: deps build data teacher precompute distill test bench clean

deps:
	@bash scripts/deps.sh

build: deps
	swift build -c release --product kd

$(KD): deps
	swift build -c release --product kd

$(DATA)/train.h5 $(DATA)/test.h5 &: | $(KD)
	$(KD) data fashion-mnist --output $(DATA)

data: deps $(KD) $(DATA)/train.h5 $(DATA)/test.h5
	$(KD) inspect $(DATA)/train.h5

# Each stage resumes or reuses its own finished work, so these always run `kd` and let it decide.
teacher: data
	$(KD) teacher --config $(PIPELINE)

precompute: teacher
	@echo "make precompute: the teacher is trained (runs/); the precompute stage is not built yet (see the open issues)." >&2
	@exit 2

distill: precompute

test: deps
	swift build --build-tests
	swift test --skip-build

bench: deps
	swift build -c release --product kdbench
	.build/release/kdbench
	@if python3 -c "import torch" 2>/dev/null; then python3 scripts/compare_engine.py; \
	else echo "torch is not installed: skipping the side-by-side PyTorch comparison (see BENCHMARKS.md)"; fi

clean:
	rm -rf .build
