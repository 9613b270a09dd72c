# gangway: `make up` starts the whole stack on embedded defaults, `make test` runs the
# whole test suite. Both install what is missing first (see scripts/setup.sh), and skip
# what is already up to date: the environments are installed (from the lock files under
# locks/, with uv when it can be had, else pip) only when a lock file (or pyproject.toml)
# changed, Rasa trains only when bot/rasa/, data/ or locks/rasa.txt changed, the
# sensitivity model only when data/sensitivity/ or its training code changed. `make lock`
# writes the lock files again after a change to pyproject.toml or bot/rasa/requirements.txt.

VENV := .venv
PYTHON := $(VENV)/bin/python
SETUP := bash scripts/setup.sh
# Extra pytest arguments, e.g. `make test PYTEST_ARGS="-k webhook -x"`.
PYTEST_ARGS ?=
# Each part ends by naming its slowest tests, where a slower run starts to be looked at.
DURATIONS ?= 15
# Processes for the unit, integration and fuzz tests (each gets its own PostgreSQL test
# database); the end-to-end tests run after them in one process, sharing one Rasa server.
TEST_WORKERS ?= 2
# `make lock UPGRADE=1` moves every pin to the newest version the requirements allow;
# plain `make lock` keeps the pins that still fit.
UPGRADE ?=
# When this `make` started: each step's banner shows the time since (scripts/setup.sh).
export SETUP_STARTED := $(shell date +%s)

# The steps depend on each other's results: never run them in parallel.
.NOTPARALLEL:
.DEFAULT_GOAL := help
.PHONY: help install service-env rasa-env lock model up test lint chromium graphviz clean

help:
	@echo "make up       install everything, train the Rasa model if needed, start the stack"
	@echo "make test     install everything, train if needed, then ruff, mypy and pytest"
	@echo "make install  the two virtual environments: .venv (service) and .venv-rasa (Rasa), from locks/"
	@echo "make lock     write locks/ again after editing pyproject.toml or bot/rasa/requirements.txt"
	@echo "make model    train the Rasa and sensitivity models into var/models/ if their data changed"
	@echo "make graphviz Debian's graphviz, which draws the statechart (gangway flows diagram)"
	@echo "make lint     ruff check . and mypy"
	@echo "make clean    remove var/ (models, local database), .venv and .venv-rasa"

install: service-env rasa-env

service-env:
	@$(SETUP) service

rasa-env:
	@$(SETUP) rasa

lock:
	@$(SETUP) lock $(if $(filter-out 0 no false,$(UPGRADE)),--upgrade)

model: install
	@$(SETUP) model

chromium:
	@$(SETUP) chromium

graphviz:
	@$(SETUP) graphviz

up: install model graphviz
	@model="$$($(PYTHON) -m bot.rasa_project model-path)" && \
	echo "==> starting gangway: $(VENV)/bin/gangway up (GANGWAY_RASA_MODEL=$$model)" && \
	export GANGWAY_RASA_MODEL="$$model" && \
	exec $(VENV)/bin/gangway up

lint: service-env
	@echo "==> ruff check ."
	@$(VENV)/bin/ruff check .
	@echo "==> mypy"
	@$(VENV)/bin/mypy

# pytest's exit 5 (no test ran) stays a failure when neither part ran a test: a run that
# tested nothing must not pass. A PYTEST_ARGS filter may leave one part empty.
test: install model chromium graphviz lint
	@model="$$($(PYTHON) -m bot.rasa_project model-path)" || exit 1; \
	export GANGWAY_RASA_MODEL="$$model"; \
	echo "==> pytest: unit, integration and fuzz tests ($(TEST_WORKERS) processes)"; \
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadfile --durations=$(DURATIONS) tests/unit tests/integration tests/fuzz $(PYTEST_ARGS); \
	fast=$$?; \
	echo "==> pytest: end-to-end tests (GANGWAY_RASA_MODEL=$$model)"; \
	$(VENV)/bin/pytest --durations=$(DURATIONS) tests/e2e tests/faults $(PYTEST_ARGS); \
	e2e=$$?; \
	if [ $$fast -eq 5 ] && [ $$e2e -eq 5 ]; then \
	  echo "error: pytest ran no tests (exit 5); that counts as a failure" >&2; exit 5; fi; \
	for rc in $$fast $$e2e; do [ $$rc -eq 0 ] || [ $$rc -eq 5 ] || exit $$rc; done

clean:
	@$(SETUP) clean
