# Fresh machine: `make plan` (offline plan of staging) and `make test` set up .venv themselves.
# `make plan` installs only what the program needs; the tests, the real model path (`make e2e`) and
# the Airflow DAG tests add their own extras (pyproject.toml). Installs go through uv (from PyPI, into
# the venv), which fetches wheels in parallel: a fresh `make plan` takes well under a minute.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# --compile-bytecode: the SDKs' bytecode written once at install, not by every process that plans (some
# environments set PYTHONDONTWRITEBYTECODE, and pulumi_databricks alone is 12 MB of source).
UV := $(BIN)/uv pip install --quiet --compile-bytecode --python $(BIN)/python
STACK ?= staging
BASE ?= origin/main

.PHONY: setup setup-test plan plan-prod check diff render test test-e2e e2e bench clean config-doc tools

# Each stamp records one install; it is redone when pyproject.toml changes.
$(VENV)/.base: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(UV) -e .
	touch $@

$(VENV)/.validate: $(VENV)/.base
	$(UV) -e '.[validate]'
	touch $@

# mleap (PyPI) at the stacks' databricks.mleapVersion, --no-deps: its scikit-learn pin has no wheel for
# Python 3.11 and mleap.pyspark does not use it. Its wheel also installs a top-level `tests` package into
# site-packages, which would shadow this repository's tests/: removed.
MLEAP_VERSION ?= 0.23.0

$(VENV)/.dev: $(VENV)/.base
	$(UV) -e '.[dev]'
	$(UV) --no-deps mleap==$(MLEAP_VERSION)
	rm -rf $(VENV)/lib/python3*/site-packages/tests
	touch $@

setup: $(VENV)/.base ## the program and modelctl, nothing else

setup-test: $(VENV)/.dev tools ## everything the tests run

plan: setup ## offline plan of $(STACK) (default staging)
	$(BIN)/modelctl plan $(STACK)

plan-prod: setup
	$(BIN)/modelctl plan prod

check: setup ## offline policy check of $(STACK)
	$(BIN)/modelctl check $(STACK)

diff: setup ## what this branch's change to $(STACK)'s stack file does, against $(BASE)
	$(BIN)/modelctl diff $(STACK) --base $(BASE)

render: $(VENV)/.validate ## Kubernetes manifests of $(STACK) into out/$(STACK), schema-checked
	$(BIN)/modelctl render $(STACK) --out out/$(STACK) --validate

config-doc: setup ## regenerate docs/CONFIG.md from the schema
	$(BIN)/modelctl config-doc > docs/CONFIG.md

tools: ## actionlint + shellcheck for tests/test_workflow_linters.py (idempotent)
	scripts/install-tools.sh

# The suite starts a dozen fresh interpreters (policy packs, `diff --base`, the import checks) besides its two
# workers: each would compile the project's modules again, and pytest would rewrite every test module again on
# every run, where PYTHONDONTWRITEBYTECODE is set (some CI images set it). The tests write bytecode (__pycache__/,
# git-ignored) whatever the environment says: about 13 s of a 73 s run on 2 cores.
PYTEST := env -u PYTHONDONTWRITEBYTECODE $(BIN)/python -m pytest

test: setup-test ## the test suite on 2 workers, without the end-to-end runs (make test-e2e)
	$(PYTEST) -q -n 2 -m "not e2e"

test-e2e: setup-test ## the end-to-end tests: the real model path (scripts/e2e.py) with its report asserted
	$(PYTEST) -q -m e2e

# Needs Java 17 and Maven (the S3A and MLeap jars). Ends BLOCKED (exit 0 with --allow-blocked) where the
# Maven repository lacks MLeap at the stack's databricks.mleapVersion; any other failure exits 1.
e2e: setup-test ## staging's training job for real (wheel, PySpark, moto S3, Maven jars), released into a stack copy; out/e2e
	$(BIN)/python scripts/e2e.py --allow-blocked

bench: setup ## plan CPU time against the Pulumi SDK's own floors and where the gap goes, then wall time/memory and render
	$(BIN)/python benchmarks/plan_floor.py
	$(BIN)/python benchmarks/plan_profile.py
	$(BIN)/python benchmarks/plan_bench.py
	$(BIN)/python benchmarks/render_bench.py

clean:
	rm -rf $(VENV) out .pytest_cache
