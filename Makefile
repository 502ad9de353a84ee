# PolyLOL: the two commands a new user runs are `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# What was installed, and from which pins: a stamp is older than pyproject or its lock -> reinstall.
RUNTIME_STAMP := $(VENV)/.installed-runtime
DEV_STAMP     := $(VENV)/.installed-dev
RUNTIME_LOCK  := requirements/runtime.txt
DEV_LOCK      := requirements/dev.txt
UV_VERSION    := 0.13.9

.PHONY: install install-runtime test lint run lock clean venv-stale

# The demo: simulator + gateway + 2 shards + engine, paper trading, report in runs/<run_id>/.
DEMO_ARGS ?=

# An interpreter's identity: "ok|too-old", its real base executable and version. A venv's python
# reports its base interpreter, so a venv built by another Python (or a broken one) differs.
PY_ID_CODE := import os, sys; \
  print("ok" if sys.version_info >= (3, 11) else "too-old", \
        os.path.realpath(getattr(sys, "_base_executable", sys.executable)), \
        sys.version.split()[0])

ifneq ($(MAKECMDGOALS),clean)
PY_ID := $(shell $(PYTHON) -c '$(PY_ID_CODE)' 2>/dev/null)
ifeq ($(PY_ID),)
$(error $(PYTHON) does not run: install Python 3.11+ or run make PYTHON=/path/to/python3.11)
endif
ifneq ($(firstword $(PY_ID)),ok)
$(error Python 3.11+ required, $(PYTHON) is $(lastword $(PY_ID)): install 3.11+ or run make PYTHON=python3.11)
endif
VENV_ID := $(shell $(BIN)/python -c '$(PY_ID_CODE)' 2>/dev/null)
# A venv whose python is gone, broken, too old or from another interpreter is rebuilt.
ifneq ($(VENV_ID),$(PY_ID))
VENV_STALE := venv-stale
endif
endif

venv-stale:
	@if [ -e $(VENV) ]; then echo "$(VENV) was not made by $(PYTHON) ($(lastword $(PY_ID))) or its python no longer runs: rebuilding it"; fi

$(BIN)/python: $(VENV_STALE)
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# `make run` installs the runtime pins only; `make test`/`make lint` add the dev extra.
$(RUNTIME_STAMP): $(BIN)/python pyproject.toml $(RUNTIME_LOCK)
	$(BIN)/python -m pip install --quiet -c $(RUNTIME_LOCK) -e .
	touch $@

$(DEV_STAMP): $(BIN)/python pyproject.toml $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet -c $(DEV_LOCK) -e '.[dev]'
	touch $@ $(RUNTIME_STAMP)

install-runtime: $(RUNTIME_STAMP)

install: $(DEV_STAMP)

test: $(DEV_STAMP)
	$(BIN)/python -m pytest tests

run: $(RUNTIME_STAMP)
	$(BIN)/polyloly demo $(DEMO_ARGS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy  # what it checks, and how strictly: [tool.mypy] in pyproject.toml

# Re-pin after a dependency change in pyproject.toml (docs/DECISIONS.md, "Pins": why uv).
lock: $(BIN)/python
	$(BIN)/python -m pip install --quiet "uv==$(UV_VERSION)"
	$(BIN)/uv pip compile pyproject.toml --python-version 3.11 --annotation-style line \
	  --no-header --quiet -o $(RUNTIME_LOCK).new
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 \
	  --annotation-style line --no-header --quiet -o $(DEV_LOCK).new
	for f in $(RUNTIME_LOCK) $(DEV_LOCK); do \
	  { sed -n '/^#/p' $$f; cat $$f.new; } > $$f.tmp && rm $$f.new && mv $$f.tmp $$f; done

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
