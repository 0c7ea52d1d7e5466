# Every target creates .venv and installs the project on first use.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# XPERTBENCH_PROFILE=team selects the team instance (deploy/dagster.yaml: Postgres); default: embedded.
export DAGSTER_HOME := $(CURDIR)/$(if $(filter team,$(XPERTBENCH_PROFILE)),deploy,.dagster_home)
export PYTHONUNBUFFERED := 1

.PHONY: run test test-real ui refresh bench check clean-assets browser

# Browser tests (tests/ui) drive Debian's chromium through Playwright; never a browser download.
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
BROWSER_DEP := $(if $(wildcard $(CHROMIUM)),,browser)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip>=24,<27"
	$(BIN)/pip install -q -e '.[dev,team]'
	touch $(STAMP)

run: $(STAMP)  ## materialise the whole pipeline on the built-in stand-in models
	$(BIN)/xpertbench run

refresh: $(STAMP)  ## materialise only stale and missing assets/partitions
	$(BIN)/xpertbench refresh

test: $(STAMP) $(BROWSER_DEP)  ## definitions check + the test suite
	$(BIN)/dagster definitions validate -m pipelines.definitions
	$(BIN)/python -m pytest -q

ui: $(STAMP)  ## Dagster UI + daemon on http://127.0.0.1:3000
	$(BIN)/python -m pipelines.cli.run_with_default_signals $(BIN)/dagster dev -h 127.0.0.1 -p 3000

bench: $(STAMP)
	$(BIN)/python bench/llm_throughput.py

clean-assets:
	rm -rf assets/*.parquet assets/*/ .dagster_home/storage .dagster_home/history .dagster_home/schedules

test-real: $(STAMP)  ## opt-in: the pipeline on SmolLM2-135M served by llama.cpp (builds llama-server once, ~10-25 min)
	XPERTBENCH_REAL=1 $(BIN)/python -m pytest -s -q -p no:cacheprovider --timeout 5400 tests/real

browser:  ## Debian's chromium for tests/ui (apt-get; Playwright never downloads a browser)
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium fonts-liberation
