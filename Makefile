# Cap: the two commands of a fresh clone are `make demo` and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
UV_VERSION := 0.13.9
# uv from the PATH when there is one, else a copy bootstrapped with pip into .tools/.
UV ?= $(or $(shell command -v uv 2>/dev/null),$(CURDIR)/.tools/bin/uv)
VENV := $(CURDIR)/.venv
CAP := $(VENV)/bin/cap

export CAP_HOME ?= $(CURDIR)/data
export DAGSTER_HOME ?= $(CAP_HOME)/dagster
export DAGSTER_DISABLE_TELEMETRY := 1
# Email (see .env.example): without CAP_SMTP_HOST, emails are written to $(CAP_HOME)/outbox.
# Each is set, if only to empty, because the Dagster resource reads them with dg.EnvVar.
export CAP_SMTP_HOST ?=
export CAP_SMTP_PORT ?=
export CAP_SMTP_SECURITY ?=
export CAP_SMTP_USER ?=
export CAP_SMTP_PASSWORD ?=
export CAP_SMTP_FROM ?=
export CAP_CONSULTANT_EMAIL ?=
export UV_PYTHON_DOWNLOADS := never
# Compile the packages' bytecode once at install: where PYTHONDONTWRITEBYTECODE is set, every
# process would otherwise recompile Dagster, pandas and Great Expectations on import (4 s -> 1.5 s
# for the Definitions here).
export UV_COMPILE_BYTECODE := 1

# Debian packages the test suite uses, installed by `make test` when missing.
DEBIAN_PACKAGES := chromium
# Debian packages of `make test-deploy`: the PostgreSQL server its deployment runs on.
DEPLOY_DEBIAN_PACKAGES := postgresql

.PHONY: help install system-deps deploy-deps demo run ui test test-deploy bench proof lint format clean

help:
	@echo "make demo   install, build the demo workspace ($(CAP_HOME)), run the whole pipeline"
	@echo "make test   install (Python and Debian packages) and run the test suite, test-deploy too"
	@echo "make test-deploy  a deployment on this machine: PostgreSQL, Dagster's daemon, code server"
	@echo "            and webserver as separate processes; the demo's night, a run's worker killed"
	@echo "make ui     the Dagster UI on http://127.0.0.1:3000 over the same workspace"
	@echo "make run    run the pipeline for every client of the workspace"
	@echo "make bench  ingestion and report speed against their floors (benchmarks/*RESULTS.md)"
	@echo "make proof  the calibration study: Cap's intervals on simulated clients (benchmarks/CALIBRATION.md)"
	@echo "make lint   ruff check and format check"

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/pip install --quiet "uv==$(UV_VERSION)"

$(VENV)/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --python $(PYTHON)
	@touch $@

install: $(VENV)/.synced

system-deps deploy-deps:
	@missing=""; \
	for package in $(if $(filter deploy-deps,$@),$(DEPLOY_DEBIAN_PACKAGES),$(DEBIAN_PACKAGES)); do \
	  dpkg -s $$package >/dev/null 2>&1 || missing="$$missing $$package"; \
	done; \
	if [ -n "$$missing" ]; then \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo="sudo"; \
	  echo "Installing Debian packages:$$missing"; \
	  $$sudo apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$missing; \
	fi

demo: install
	$(CAP) demo
	$(CAP) run

run: install
	$(CAP) run

ui: install
	$(CAP) init
	$(VENV)/bin/dagster dev -m pipelines.definitions -h 127.0.0.1 -p 3000

# The deployment tests last, in their own pytest run (they install PostgreSQL first).
test: install system-deps
	$(VENV)/bin/pytest -m "not deploy"
	$(MAKE) --no-print-directory test-deploy

# PostgreSQL in a temporary folder, then Dagster's code server, webserver and daemon over it as a
# production host runs them; the demo clients' night through the queue (tests/deploy/).
test-deploy: install deploy-deps
	$(VENV)/bin/pytest tests/deploy -m deploy

# Ingestion speed against its floors; options through BENCH_ARGS (e.g. BENCH_ARGS="--repeats 1").
# The nightly run over a scaled portfolio; options through PORTFOLIO_ARGS (e.g. "--clients 5").
bench: install
	$(VENV)/bin/python -m benchmarks.ingest $(BENCH_ARGS)
	$(VENV)/bin/python -m benchmarks.reports
	$(VENV)/bin/python -m benchmarks.portfolio $(PORTFOLIO_ARGS)

# Cap's analysis on simulated clients whose true effects are known: coverage of the 95 % intervals,
# errors against the naive before/after, false positives (benchmarks/CALIBRATION.md and
# reports/calibration.json). Options through PROOF_ARGS (e.g. "--series-per-family 50").
proof: install
	$(VENV)/bin/python -m pipelines.impact.calibration --series-per-family 300 --seed 20261207 \
	  --jobs 2 --output benchmarks/CALIBRATION.md $(PROOF_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean:
	rm -rf $(CAP_HOME) .pytest_cache .ruff_cache
