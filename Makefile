# Two commands work on a fresh machine: `make demo` and `make test`.
# Both create .venv when missing and install the project with the extras they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet
PACKAGES := motia_client motia_client_tui server_stub

.PHONY: demo test lint typecheck pytest install-matrix bench stress install clean fleet

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.stamp-demo: pyproject.toml motia_client/_version.py | $(BIN)/python
	$(PIP) install -e '.[tui,server,fast]'
	touch $@

$(VENV)/.stamp-dev: pyproject.toml motia_client/_version.py | $(BIN)/python $(VENV)/.stamp-system
	$(PIP) install -e '.[all,dev]'
	touch $@

# System tools the tests drive for real: tmux (the TUI's real-terminal check) and
# redis-server (the Redis store and the fleet tests start their own, on a free port).
$(VENV)/.stamp-system: | $(BIN)/python
	@command -v tmux >/dev/null 2>&1 || { \
	  echo "installing tmux (apt-get)"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux; } >/dev/null \
	  || echo "warning: could not install tmux; the real-terminal TUI test will skip"; }
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "installing redis-server (apt-get)"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; } >/dev/null \
	  || echo "warning: could not install redis-server; the Redis store and fleet tests will skip"; }
	touch $@

$(VENV)/.stamp-fleet: pyproject.toml motia_client/_version.py | $(BIN)/python $(VENV)/.stamp-system
	$(PIP) install -e '.[server,redis]'
	touch $@

install: $(VENV)/.stamp-dev

demo: $(VENV)/.stamp-demo
	$(BIN)/motia-tui --demo

lint: $(VENV)/.stamp-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.stamp-dev
	$(BIN)/mypy --strict $(PACKAGES)

pytest: $(VENV)/.stamp-dev
	$(BIN)/pytest

# The built wheel in fresh venvs, as users install it: Python 3.10 with no extras,
# 3.13 with [fast], the dev Python with [all] (tests/install/matrix.py; about 30 s).
install-matrix: $(VENV)/.stamp-dev
	$(BIN)/python -m tests.install.matrix

# install-matrix before pytest, so that pytest's summary is the last line.
test: lint typecheck install-matrix pytest

bench: $(VENV)/.stamp-dev
	$(BIN)/python -m benchmarks
	$(BIN)/python -m benchmarks.apply
	$(BIN)/python -m benchmarks.resync

stress: $(VENV)/.stamp-dev
	$(BIN)/python -m tests.reliability.stress

# Redis and 3 motia-stub instances sharing it (ports 3001-3003), until Ctrl-C; every
# process is stopped by its PID. FLEET_ARGS passes options: make fleet FLEET_ARGS="--help".
fleet: $(VENV)/.stamp-fleet
	$(BIN)/python -m server_stub.fleet $(FLEET_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build
