# Targets are the artefacts: `make distill` needs the cache, which needs the teacher, which
# needs the dataset, which needs the executable and the system packages.
SHELL := /bin/bash
PIPELINE ?= pipelines/fashion-mnist.yaml
# Older OpenBLAS misbehaves on this AVX-512 CPU without it; an environment that sets it wins.
export OPENBLAS_CORETYPE ?= Haswell
# oneDNN's OpenMP threads sleep when idle instead of spinning beside the engine's Swift workers
# (BENCHMARKS.md, "oneDNN convolutions"); `kd` sets the same default for itself.
export OMP_WAIT_POLICY ?= passive

KD := .build/release/kd
DATA := data/fashion-mnist
NAME := $(shell sed -n 's/^name: *//p' $(PIPELINE))
# The cache: runs/<name>/cache.h5, or the foreign cache a pipeline's cache.external names.
CACHE := $(or $(shell sed -n '/^cache:/,/^[^ #]/s/^ *external: *\([^ #}]*\).*/\1/p' $(PIPELINE)),runs/$(NAME)/cache.h5)
SHARED_CIFAR := ../shared/datasets/cifar10/train.h5
# `make precompute NP=4`: 4 MPI ranks on this host, each one shard; `make distill NP=4` deals the
# student runs to 4 ranks, and DATA_PARALLEL=1 trains each student on all of them (README, "Running on a cluster").
# As root (containers) mpirun also needs OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1.
NP ?= 1
MPIRUN_FLAGS ?=
MPIRUN := $(if $(filter-out 1,$(NP)),mpirun -np $(NP) $(if $(filter 0,$(shell id -u)),--allow-run-as-root) $(MPIRUN_FLAGS))

.PHONY: deps build data teacher pytorch-teacher precompute distill test faults bench clean

deps:
	@bash scripts/deps.sh

build: deps
	swift build -c release --product kd

$(KD): deps
	swift build -c release --product kd

$(DATA)/train.h5 $(DATA)/test.h5 &: | $(KD)
	$(KD) data fashion-mnist --output $(DATA)

data/cifar10/train.h5 data/cifar10/test.h5 &: | $(KD)
	@test -f $(SHARED_CIFAR) || { echo "$(SHARED_CIFAR) is missing: the CIFAR-10 pipeline needs it" >&2; exit 1; }
	$(KD) data split $(SHARED_CIFAR) --test-per-class 500 --seed 0 --train data/cifar10/train.h5 --test data/cifar10/test.h5

# The dataset files the pipeline names.
PIPELINE_DATA := $(shell sed -n 's/^ *\(train\|test\): *\(data\/[^ ]*\).*/\2/p' $(PIPELINE))

data: deps $(KD) $(PIPELINE_DATA)
	$(KD) data describe $(word 1,$(PIPELINE_DATA))

# A teacher trained in PyTorch rather than by kd (needs torch and h5py), brought in as safetensors:
# the teacher of pipelines/fashion-mnist-pytorch.yaml, made first when that pipeline names it.
PYTORCH_TEACHER := runs/fashion-mnist-pytorch/teacher.safetensors
GIVEN_TEACHER := $(filter $(PYTORCH_TEACHER),$(shell sed -n 's/^ *teacher_checkpoint: *\([^ ]*\).*/\1/p' $(PIPELINE)))

$(PYTORCH_TEACHER): | $(DATA)/train.h5
	python3 scripts/train_pytorch_teacher.py --arch mnist_teacher --epochs 3 --train $(DATA)/train.h5 --test $(DATA)/test.h5 \
	    --mean 0.286 --std 0.353 --output $(@D)/teacher.pth
	python3 scripts/import_pytorch.py $(@D)/teacher.pth --output $@ --arch mnist_teacher --mean 0.286 --std 0.353 \
	    --classes "$$(python3 -c 'import json, sys; print(",".join(json.load(open(sys.argv[1]))["classes"]))' $(@D)/teacher.pth.json)"

pytorch-teacher: $(PYTORCH_TEACHER)

# Each stage resumes or reuses its own finished work, so these always run `kd` and let it decide.
teacher: data $(GIVEN_TEACHER)
	$(KD) teacher --config $(PIPELINE)

precompute: teacher
	$(MPIRUN) $(KD) precompute --config $(PIPELINE)
	$(KD) verify-cache $(CACHE)

distill: precompute
	$(MPIRUN) $(KD) distill --config $(PIPELINE) $(if $(DATA_PARALLEL),--data-parallel)

test: deps
	swift build --build-tests
	swift test --skip-build

# The fault cases of `make test` again, then kill -9 at random moments of every stage, resumed and compared.
faults: deps
	swift build --build-tests
	swift test --skip-build --filter FaultTests
	swift build -c release --product kd
	bash scripts/kill_resume.sh

bench: deps
	swift build -c release
	.build/release/kdbench
	@if python3 -c "import torch" 2>/dev/null; then python3 scripts/compare_engine.py; \
	else echo "torch is not installed: skipping the side-by-side PyTorch comparison (see BENCHMARKS.md)"; fi
	@if [ -f runs/$(NAME)/cache.h5 ]; then python3 scripts/bench_distill.py --pipeline $(PIPELINE); \
	else echo "no runs/$(NAME)/cache.h5: run make precompute to time the students (scripts/bench_distill.py)"; fi

clean:
	rm -rf .build
