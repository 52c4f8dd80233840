# Every target installs what it needs into .venv first, so a fresh checkout needs only Python 3.11+.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint bench simulate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/videobot demo

lint: $(STAMP)
	$(BIN)/ruff check bot adapters storage tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m bench.run

simulate: $(STAMP)
	$(BIN)/videobot simulate --port 8765

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache videobot-output
