# aether_nb developer entry points. Every target first creates or refreshes .venv (see $(STAMP)).
.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

PYTHON_BOOT := $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.aether-installed
BUNDLES := aether_nb/notebook/static/run_widget.js
JS_SOURCES := $(wildcard js/*.ts js/lib/*.ts)
LINT_PATHS := $(wildcard aether_nb tests bench) hatch_build.py
PYTEST := $(PY) -m pytest
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: help setup lab demo lint unit kernel notebooks browser test bench

help:
	@echo "make lab        set up everything, open notebooks/quickstart.ipynb in JupyterLab (PORT=8888, NO_BROWSER=1)"
	@echo "make demo       set up everything, run notebooks/quickstart.ipynb headless"
	@echo "make test       set up everything, then lint, unit, kernel, notebooks, browser (stops at the first failure)"
	@echo "make lint|unit|kernel|notebooks|browser   one tier"
	@echo "make bench      performance suite (bench/), prints a table and writes bench/results/*.json"

# The venv is rebuilt when the Python or npm dependencies change; `pip install -e` runs hatch_build.py, which
# bundles the widgets with npm.
$(STAMP): pyproject.toml package.json package-lock.json hatch_build.py
	test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

# Editing js/ after the install: rebundle without reinstalling.
$(BUNDLES): $(JS_SOURCES) package.json | $(STAMP)
	test -d node_modules || npm ci --no-audit --no-fund
	npm run build
	touch $@

setup: $(STAMP) $(BUNDLES)

# make lab PORT=9999 NO_BROWSER=1 : another port (Jupyter moves on to the next free one if it is taken), and no
# browser tab (open the printed URL yourself, e.g. over SSH).
PORT ?= 8888
lab: setup
	cd notebooks && ../$(VENV)/bin/jupyter lab $(ALLOW_ROOT) --port=$(PORT) $(if $(NO_BROWSER),--no-browser,) \
	  --LabApp.default_url=/lab/tree/quickstart.ipynb

# Notebooks answer their own questions when AETHER_NB_SCRIPTED=1 (aether_nb.testing.answer_or_wait).
demo: setup
	AETHER_NB_SCRIPTED=1 $(PY) -m aether_nb.testing.notebook_runner notebooks/quickstart.ipynb

lint: setup
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(VENV)/bin/ruff format --check $(LINT_PATHS)
	$(VENV)/bin/mypy aether_nb
	npm run --silent typecheck

# pytest exits 5 when it collects no test; make treats that as a failure, on purpose.
unit: setup
	$(PYTEST) tests -m "not kernel and not browser" --ignore=tests/browser

kernel: setup
	$(PYTEST) tests -m kernel --ignore=tests/browser

# --nbval-lax: only cells marked `# NBVAL_CHECK_OUTPUT` compare outputs (ids and timings differ run to run).
# The notebooks run on copies in a temporary folder: their stores and files never land in notebooks/.
notebooks: setup
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && cp notebooks/*.ipynb "$$tmp"/ && cd "$$tmp" && \
	AETHER_NB_SCRIPTED=1 $(CURDIR)/$(PYTEST) -c $(CURDIR)/pyproject.toml --rootdir="$$tmp" -p no:cacheprovider \
	  --nbval-lax --nbval-cell-timeout=300 --timeout=300 "$$tmp"

browser: setup
	$(PYTEST) tests/browser

# Performance: ratios against baselines measured in the same run (never a timed unit test). The bench extra
# (LangGraph and its SQLite checkpointer, the baselines) is installed once, next to the dev one.
BENCH_STAMP := $(VENV)/.aether-bench-installed
$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install --quiet -e ".[dev,bench]"
	touch $@

bench: setup $(BENCH_STAMP)
	$(PY) bench/suite.py

test: setup
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory unit
	$(MAKE) --no-print-directory kernel
	$(MAKE) --no-print-directory notebooks
	$(MAKE) --no-print-directory browser
