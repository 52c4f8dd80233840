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

# The build backend (setuptools) is locked too, and the project is built with it in place
# (--no-build-isolation), so no build fetches the newest setuptools; anything an earlier install
# left that the locks do not pin is removed, so the venv is exactly the locks.
$(STAMP): pyproject.toml requirements.lock requirements-test.lock requirements-build.lock
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --require-hashes --no-deps -r requirements-test.lock \
		-r requirements-build.lock
	$(BIN)/python .ci/prune_venv.py requirements-test.lock requirements-build.lock
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
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
	$(BIN)/python -c "import tomllib; print(*tomllib.load(open('pyproject.toml', 'rb'))\
		['build-system']['requires'], sep='\n')" > $(VENV)/build-requirements.in
	$(BIN)/uv pip compile $(VENV)/build-requirements.in $(LOCKED) $(UPGRADE) \
		-o requirements-build.lock

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
