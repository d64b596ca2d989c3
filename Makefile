# Two commands work on a fresh machine: `make demo` and `make test`.
# Both create .venv when missing and install the project with the extras they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check --quiet
PACKAGES := motia_client motia_client_tui server_stub

.PHONY: demo test lint typecheck pytest install-matrix docs bench stress install clean

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

# The built wheel in fresh venvs, as users install it: Python 3.10 with no extras,
# 3.13 with [fast], the dev Python with [all] (tests/install/matrix.py; about 30 s).
install-matrix: $(VENV)/.stamp-dev
	$(BIN)/python -m tests.install.matrix

# The user guide (docs/, mkdocs.yml) into site/ (git-ignored); --strict turns every
# warning (a broken link or anchor, a page missing from nav) into a failure.
docs: $(VENV)/.stamp-dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

# install-matrix before pytest, so that pytest's summary is the last line.
test: lint typecheck install-matrix docs pytest

bench: $(VENV)/.stamp-dev
	$(BIN)/python -m benchmarks
	$(BIN)/python -m benchmarks.apply
	$(BIN)/python -m benchmarks.resync

stress: $(VENV)/.stamp-dev
	$(BIN)/python -m tests.reliability.stress

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build site
