# Set-up and everyday tasks. `make demo` and `make test` are the README's two commands.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
OUT ?= qa-out
SYSTEM_PACKAGES := espeak-ng sox libsox-fmt-all ffmpeg chromium chromium-driver

.PHONY: install install-test system-deps demo test test-fast test-slow bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Editable installs: setuptools prints an "Editable installation" notice on every one
# (informational: folders named like the package may shadow it); quiet installs leave it out.
QUIET_EDITABLE := PYTHONWARNINGS="ignore:Editable installation"

install: $(BIN)/python
	$(QUIET_EDITABLE) $(BIN)/pip install --quiet -e .

install-test: $(BIN)/python
	$(QUIET_EDITABLE) $(BIN)/pip install --quiet -e ".[test]"

# Debian packages the tests use (test audio, decoding, the browser tests). Needs root.
system-deps:
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES)

demo: install
	$(BIN)/qa run examples/ --meta examples/calls.csv --out $(OUT)
	@echo "Open $(OUT)/reports/index.html"

test: install-test
	$(BIN)/python -m pytest -q

# the fast tests, on every core (pytest-xdist); `make test` runs everything, one test at a time
test-fast: install-test
	$(BIN)/python -m pytest -q -m "not slow" -n auto

test-slow: install-test
	$(BIN)/python -m pytest -q -m slow

bench: install
	$(BIN)/python bench/bench_transcribe.py
	$(BIN)/python bench/bench_score.py
	$(BIN)/python bench/bench_report.py

clean:
	rm -rf $(OUT) build dist *.egg-info .pytest_cache
