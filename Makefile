# Two commands work on a fresh machine: `make demo` and `make test`.
# Both create .venv when missing and install the project with the extras they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet
PACKAGES := motia_client motia_client_tui server_stub

.PHONY: demo test lint typecheck coverage pytest install-matrix bench stress install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.stamp-demo: pyproject.toml motia_client/_version.py | $(BIN)/python
	$(PIP) install -e '.[tui,server,fast]'
	touch $@

$(VENV)/.stamp-dev: pyproject.toml motia_client/_version.py | $(BIN)/python $(VENV)/.stamp-system
	$(PIP) install -e '.[all,dev]'
	touch $@

# System tools the tests drive for real: tmux (the TUI's real-terminal check).
$(VENV)/.stamp-system: | $(BIN)/python
	@command -v tmux >/dev/null 2>&1 || { \
	  echo "installing tmux (apt-get)"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux; } >/dev/null \
	  || echo "warning: could not install tmux; the real-terminal TUI test will skip"; }
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

# The sans-I/O core (the session, its reducers, views, codec and dialects) reaches 100 %
# of its lines from its own unit tests, in a few seconds; pyproject's [tool.coverage]
# names the modules and holds the gate (fail_under).
CORE_TESTS := tests/client/test_session.py tests/client/test_state.py \
	tests/client/test_views.py tests/client/test_protocol.py
coverage: $(VENV)/.stamp-dev
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest -q -p no:cacheprovider $(CORE_TESTS)
	$(BIN)/coverage report

# The built wheel in fresh venvs, as users install it: Python 3.10 with no extras,
# 3.13 with [fast], the dev Python with [all] (tests/install/matrix.py; about 30 s).
install-matrix: $(VENV)/.stamp-dev
	$(BIN)/python -m tests.install.matrix

# install-matrix and coverage before pytest, so that pytest's summary is the last line.
test: lint typecheck install-matrix coverage pytest

bench: $(VENV)/.stamp-dev
	$(BIN)/python -m benchmarks
	$(BIN)/python -m benchmarks.apply
	$(BIN)/python -m benchmarks.resync

stress: $(VENV)/.stamp-dev
	$(BIN)/python -m tests.reliability.stress

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build
