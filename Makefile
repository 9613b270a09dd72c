# gangway: `make up` starts the whole stack on embedded defaults, `make test` runs the
# whole test suite. Both install what is missing first (see scripts/setup.sh), and skip
# what is already up to date: pip runs only when pyproject.toml or
# bot/rasa/requirements.txt changed, Rasa trains only when bot/rasa/ or data/ changed, the
# sensitivity model only when data/sensitivity/ or its training code changed.

VENV := .venv
PYTHON := $(VENV)/bin/python
SETUP := bash scripts/setup.sh
# Extra pytest arguments, e.g. `make test PYTEST_ARGS="-k webhook -x"`.
PYTEST_ARGS ?=

# The steps depend on each other's results: never run them in parallel.
.NOTPARALLEL:
.DEFAULT_GOAL := help
.PHONY: help install service-env rasa-env model up test lint chromium graphviz clean

help:
	@echo "make up       install everything, train the Rasa model if needed, start the stack"
	@echo "make test     install everything, train if needed, then ruff, mypy and pytest"
	@echo "make install  the two virtual environments: .venv (service) and .venv-rasa (Rasa)"
	@echo "make model    train the Rasa and sensitivity models into var/models/ if their data changed"
	@echo "make graphviz Debian's graphviz, which draws the statechart (gangway flows diagram)"
	@echo "make lint     ruff check . and mypy"
	@echo "make clean    remove var/ (models, local database), .venv and .venv-rasa"

install: service-env rasa-env

service-env:
	@$(SETUP) service

rasa-env:
	@$(SETUP) rasa

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

# pytest's exit 5 (no test ran) stays a failure: a run that tested nothing must not pass.
test: install model chromium graphviz lint
	@model="$$($(PYTHON) -m bot.rasa_project model-path)" && \
	echo "==> pytest (GANGWAY_RASA_MODEL=$$model)" && \
	export GANGWAY_RASA_MODEL="$$model" && \
	$(VENV)/bin/pytest $(PYTEST_ARGS) || { rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "error: pytest ran no tests (exit 5); that counts as a failure" >&2; fi; \
	  exit $$rc; }

clean:
	@$(SETUP) clean
