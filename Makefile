# mmuda: one-command set-up, demo and tests. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
# CPU wheel by default; GPU users: make install TORCH="torch==2.6.0 --index-url ..." (torch >= 2.6)
TORCH ?= torch==2.13.0
MAX_JOBS ?= 2
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
REQS := requirements/build.txt requirements/mmcv.txt requirements/runtime.txt requirements/tests.txt

.PHONY: install demo test test-cpus smoke smoke-ci lint clean-venv

install: $(VENV)/.deps-installed
	@# (checked from / so that the current directory is not on sys.path)
	@(cd / && $(abspath $(PY)) -c "import mmuda, os, sys; sys.exit(os.path.realpath(os.path.dirname(mmuda.__path__[0])) != os.path.realpath('$(CURDIR)'))") 2>/dev/null \
	  || $(PIP) install --no-deps --no-build-isolation -q -e .

$(VENV)/.deps-installed: $(REQS)
	@test -x $(PY) || $(PYTHON) -m venv "$$(readlink -f $(VENV))"
	$(PIP) install -q -U pip
	$(PIP) install -q -r requirements/build.txt
	$(PIP) install -q $(TORCH)
	@echo "Building mmcv 2.1.0 with its ops (about 9 minutes cold on 2 cores; cached by pip afterwards)"
	MMCV_WITH_OPS=1 MAX_JOBS=$(MAX_JOBS) $(PIP) install --no-build-isolation -r requirements/mmcv.txt
	$(PIP) install -q -r requirements/runtime.txt -r requirements/tests.txt
	touch $@

demo: install
	$(PY) tools/demo.py

PYTEST := $(PY) -m pytest -q -n 2 --dist loadfile

test: install
	$(PYTEST) -m 'not smoke' tests

# Real-size smoke (tools/smoke_real_configs.py, docs/benchmark.md#real-size-smoke): every
# GTA5 / SYNTHIA / Cross-City config trains 2 iterations on fixture datasets at the real image
# sizes, the paper rows stage by stage. Hours on 2 CPU cores; smoke-ci is the subset CI runs.
SMOKE_ROOT ?= work_dirs/smoke
smoke: install
	$(PY) tools/smoke_real_configs.py --root $(SMOKE_ROOT) --with-cp

smoke-ci: install
	MMUDA_SMOKE_ROOT=$(abspath $(SMOKE_ROOT))-ci $(PY) -m pytest -q -m smoke tests/test_tools/test_smoke_real_configs.py

# The suite as other CPUs would run it (tests/README.md): float32 results depend on which
# MKL / oneDNN kernels a CPU selects, so a tolerance that holds on one CPU only fails here.
test-cpus: install
	MKL_ENABLE_INSTRUCTIONS=AVX2 $(PYTEST) -m 'not smoke' tests
	MKL_ENABLE_INSTRUCTIONS=AVX512 $(PYTEST) -m 'not smoke' tests
	MMUDA_TEST_MKLDNN=0 $(PYTEST) tests/test_models
	ONEDNN_MAX_CPU_ISA=AVX2 $(PYTEST) tests/test_models

lint: install
	$(PY) -m ruff check mmuda tools tests configs

clean-venv:
	rm -rf $(VENV)
