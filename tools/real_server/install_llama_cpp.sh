#!/usr/bin/env bash
# Install llama-cpp-python[server] (a CPU build, as short as it can be while correct) and gguf into a venv,
# for `make test-real-server` (docs/real-server.md). Only what is missing: nothing is done when the venv
# already has that version, its server's dependencies and gguf.
#
# usage: install_llama_cpp.sh VENV_PYTHON VERSION WHEEL_DIR
#
# PyPI has only llama-cpp-python's sdist: pip compiles llama.cpp. The compiled wheel is kept in
# WHEEL_DIR/<key>/ (key: version, CMake arguments, this script), so a new venv on the same checkout installs it
# in seconds; `make clean` removes it (it lies under build/). pip's own wheel cache is not used: it is keyed by
# the sdist's URL alone, so a wheel built with other CMAKE_ARGS would be taken for this one.
set -euo pipefail

PY=$1
VERSION=$2
WHEEL_DIR=$3
HERE=$(cd "$(dirname "$0")" && pwd)

# The CPU backend only, built for ggml's portable defaults rather than this very CPU (GGML_NATIVE=OFF: no
# -march=native; on x86-64 that is AVX2/FMA/F16C code, so a kept venv or wheel runs on another machine of this
# kind), without what the Python package never loads: the multimodal
# library (mtmd, LLAVA_BUILD=OFF), llama.cpp's "common" utility library (the CMake hook below) and llamafile's
# sgemm kernels (GGML_LLAMAFILE=OFF: an optional speed-up of large matrix products). Examples, tests, tools and
# the C++ server are off already when llama.cpp is built as a subproject; no GPU backend is on by default.
CMAKE_ARGS_MIN="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_LLAMAFILE=OFF"
CMAKE_ARGS_MIN+=" -DCMAKE_PROJECT_llama.cpp_INCLUDE=$HERE/llama_cpp_no_common.cmake"

have() {
    "$PY" - "$VERSION" <<'EOF' 2>/dev/null
import sys
from importlib.metadata import version
assert version("llama_cpp_python") == sys.argv[1], "other version"
import gguf  # noqa: F401
import llama_cpp  # noqa: F401  (loads libllama)
import llama_cpp.server.app  # noqa: F401  (fastapi, uvicorn, sse-starlette, pydantic-settings, ...)
EOF
}

if have; then
    echo "llama-cpp-python $VERSION[server] and gguf: already installed"
    exit 0
fi

key=$( { echo "$VERSION $CMAKE_ARGS_MIN"; cat "$0" "$HERE/llama_cpp_no_common.cmake"; } | sha256sum | cut -c1-12)
dir="$WHEEL_DIR/$key"
wheel=$(ls "$dir"/llama_cpp_python-"$VERSION"-*.whl 2>/dev/null | head -1 || true)
if [ -z "$wheel" ]; then
    echo "building llama-cpp-python $VERSION (llama.cpp, CPU) with CMAKE_ARGS=$CMAKE_ARGS_MIN"
    mkdir -p "$dir"
    start=$(date +%s)
    # The venv has the build backend (scikit-build-core, cmake, ninja: the project's own build tools).
    CMAKE_ARGS="$CMAKE_ARGS_MIN" CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
        "$PY" -m pip wheel -q --no-deps --no-build-isolation --no-cache-dir -w "$dir" \
        "llama-cpp-python==$VERSION"
    echo "built llama-cpp-python $VERSION in $(( $(date +%s) - start )) s"
    wheel=$(ls "$dir"/llama_cpp_python-"$VERSION"-*.whl | head -1)
fi
"$PY" -m pip install -q "$wheel[server]" gguf
have || { echo "llama-cpp-python $VERSION[server] or gguf does not import after installing $wheel" >&2; exit 1; }
echo "installed $(basename "$wheel")[server] and gguf"
