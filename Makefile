# Every target installs what it needs into .venv first, so a fresh checkout needs only Python 3.11+.
# The exact versions (with hashes) come from the lock files, so every install runs the code CI
# tested; `make lock` refreshes them after a change to pyproject.toml (README: Upgrading).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PIP    := $(BIN)/python -m pip --disable-pip-version-check
UV     := uv==0.13.9
LOCKED := --universal --python-version 3.11 --generate-hashes --no-header --quiet

.PHONY: demo test lint bench simulate clean lock upgrade

$(STAMP): pyproject.toml requirements.lock requirements-test.lock
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --require-hashes --no-deps -r requirements-test.lock
	$(PIP) install --quiet --no-deps -e .
	@$(PIP) check >/dev/null || { $(PIP) check; echo "the lock files miss what pyproject.toml asks for: run make lock"; exit 1; }
	touch $(STAMP)

# `make lock` keeps every pin it can (after adding a dependency); `make upgrade` moves them all
# to the newest versions pyproject.toml allows.
lock:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet $(UV)
	$(BIN)/uv pip compile pyproject.toml $(LOCKED) $(UPGRADE) -o requirements.lock
	$(BIN)/uv pip compile pyproject.toml --extra test $(LOCKED) -c requirements.lock \
		-o requirements-test.lock

upgrade:
	$(MAKE) lock UPGRADE=--upgrade

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
