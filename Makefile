# Fresh machine: `make plan` (offline plan of staging) and `make test` set up .venv themselves.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STACK ?= staging
BASE ?= origin/main

.PHONY: setup plan plan-prod check diff render test bench clean config-doc tools

$(BIN)/modelctl: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

setup: $(BIN)/modelctl

plan: setup ## offline plan of $(STACK) (default staging)
	$(BIN)/modelctl plan $(STACK)

plan-prod: setup
	$(BIN)/modelctl plan prod

check: setup ## offline policy check of $(STACK)
	$(BIN)/modelctl check $(STACK)

diff: setup ## what this branch's change to $(STACK)'s stack file does, against $(BASE)
	$(BIN)/modelctl diff $(STACK) --base $(BASE)

render: setup ## Kubernetes manifests of $(STACK) into out/$(STACK)
	$(BIN)/modelctl render $(STACK) --out out/$(STACK)

config-doc: setup ## regenerate docs/CONFIG.md from the schema
	$(BIN)/modelctl config-doc > docs/CONFIG.md

tools: ## actionlint + shellcheck for tests/test_workflow_linters.py (idempotent)
	scripts/install-tools.sh

test: setup tools ## the whole test suite
	$(BIN)/python -m pytest -q

bench: setup ## plan time and memory for 1, 10 and 50 models
	$(BIN)/python benchmarks/plan_bench.py
	$(BIN)/python benchmarks/render_bench.py

clean:
	rm -rf $(VENV) out .pytest_cache
