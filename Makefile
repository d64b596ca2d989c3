# Two commands work on a fresh machine: `make demo` and `make test`.
# Both create .venv when missing and install the project with the extras they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet
PACKAGES := motia_client motia_client_tui server_stub
SOURCES := pyproject.toml $(shell find $(PACKAGES) -name '*.py' -o -name '*.tcss' -o -name py.typed)
# The release wheel, its core compiled with mypyc (pyproject.toml says which modules),
# installed (not editable) in its own venv: `make test` runs the suite once, on it.
COMPILED := .venv-compiled

.PHONY: demo test lint typecheck coverage pytest pytest-compiled wheel install-matrix docs bench stress install clean fleet

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

# The suite on the editable install: pure Python, what a developer edits.
pytest: $(VENV)/.stamp-dev
	$(BIN)/pytest

# Built through the sdist (python -m build), so no compiled module lands in the sources.
dist/.stamp-wheel: $(SOURCES) | $(VENV)/.stamp-dev
	rm -rf dist
	HATCH_BUILD_HOOK_ENABLE_MYPYC=true $(BIN)/python -m build --outdir dist . >/dev/null
	touch $@

wheel: dist/.stamp-wheel

$(COMPILED)/.stamp: dist/.stamp-wheel
	rm -rf $(COMPILED)
	$(PYTHON) -m venv $(COMPILED)
	$(COMPILED)/bin/python -m pip --disable-pip-version-check --quiet install \
	  "$$(ls dist/*.whl)[all,dev]"
	touch $@

# The suite on the compiled wheel. --import-mode=append puts the checkout after
# site-packages, so the tests import the installed package (tests/conftest.py checks).
pytest-compiled: $(COMPILED)/.stamp $(VENV)/.stamp-system
	MOTIA_CLIENT_EXPECT=compiled $(COMPILED)/bin/pytest --import-mode=append

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

# The user guide (docs/, mkdocs.yml) into site/ (git-ignored); --strict turns every
# warning (a broken link or anchor, a page missing from nav) into a failure.
docs: $(VENV)/.stamp-dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

# install-matrix before pytest, so that pytest's summary is the last line.
test: lint typecheck install-matrix docs coverage pytest-compiled

bench: $(VENV)/.stamp-dev $(COMPILED)/.stamp
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
	rm -rf $(VENV) $(COMPILED) dist site .mypy_cache .pytest_cache .ruff_cache build
