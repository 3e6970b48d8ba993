#!/usr/bin/env bash
# The same engine built against the system's libcurl and against Debian's bookworm-backports libcurl (unpacked into
# a folder, never installed): callgrind instructions per request of each (callgrind.py), then run.py for each,
# interleaved, every timed run under `flock /tmp/aiperf-bench.lock` (the machine's cores are shared).
#
# Usage: bench/throughput_vs_wrk/with_libcurl.sh [--rounds N] [--no-callgrind] [--no-timed] [--prefix DIR]
#                                                [-- run.py arguments]
# Needs: the venv (.venv, `make venv`), the build dependencies (`make system-deps`), nginx, wrk, valgrind, and apt
# reaching the Debian archive the machine's own apt sources name. Builds go to build/libcurl-*; nothing is installed.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SUITE=bookworm-backports
PREFIX=$ROOT/build/libcurl-$SUITE
ROUNDS=2
CALLGRIND=1
TIMED=1
RUN_ARGS=()
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) ROUNDS=$2; shift 2 ;;
    --no-callgrind) CALLGRIND=0; shift ;;
    --no-timed) TIMED=0; shift ;;
    --prefix) PREFIX=$(realpath -m "$2"); shift 2 ;;
    --) shift; RUN_ARGS=("$@"); break ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
VENV=$ROOT/.venv
PY=$VENV/bin/python
MULTIARCH=$(gcc -print-multiarch)

# 1. libcurl4 and libcurl4-openssl-dev from $SUITE, by a private apt configuration (the system's is not changed),
#    on the same archive as the machine's own Debian source; unpacked with dpkg -x.
fetch_libcurl() {
  local lib=$PREFIX/root/usr/lib/$MULTIARCH/libcurl.so
  [ -e "$lib" ] && return 0
  local mirror
  # The deb822 stanza whose Suites has plain "bookworm" (not bookworm-security), its first URI.
  mirror=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
           awk 'BEGIN {RS = ""} /\nSuites:[^\n]*[ \t]bookworm([ \t]|\n|$)/ {
                  for (i = 1; i <= NF; i++) if ($i == "URIs:") {print $(i + 1); exit}
                }')
  if [ -z "$mirror" ]; then
    mirror=$(awk '$1 == "deb" && $3 ~ /^bookworm/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  fi
  [ -n "$mirror" ] || { echo "no Debian archive found in the apt sources" >&2; exit 1; }
  local apt_dir=$PREFIX/apt
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial" "$PREFIX/debs"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $SUITE main" > "$apt_dir/sources.list"
  local apt_options=(-o "Dir::Etc::sourcelist=$apt_dir/sources.list" -o "Dir::Etc::sourceparts=-"
                     -o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
                     -o "APT::Get::List-Cleanup=0")
  apt-get "${apt_options[@]}" -qq update
  (cd "$PREFIX/debs" && apt-get "${apt_options[@]}" -qq download "libcurl4/$SUITE" "libcurl4-openssl-dev/$SUITE")
  local deb
  for deb in "$PREFIX"/debs/*.deb; do dpkg -x "$deb" "$PREFIX/root"; done
  # libcurl4's run-time dependencies must already be on the machine (bookworm has all of them for 8.14.1).
  local dependency missing=""
  for dependency in $(dpkg-deb -f "$PREFIX"/debs/libcurl4_*.deb Depends | tr ',' '\n' | awk '{print $1}'); do
    dpkg -s "$dependency" > /dev/null 2>&1 || missing="$missing $dependency"
  done
  [ -z "$missing" ] || echo "warning: not installed, needed by $SUITE's libcurl4:$missing" >&2
}

# 2. One build per libcurl (and per -march: valgrind 3.19 cannot run AVX-512 code, so callgrind gets an AVX2 build
#    where the CPU has AVX-512); each gets a python/ tree of symlinks whose aiperf/_engine*.so is that build's.
build_variant() {  # name, native (1/0), extra cmake arguments...
  local name=$1 native=$2; shift 2
  local dir=$ROOT/build/libcurl-$name
  mkdir -p "$dir"
  local arch=(-DAIPERF_NATIVE_ARCH=ON)
  [ "$native" = 1 ] || arch=(-DAIPERF_NATIVE_ARCH=OFF "-DCMAKE_CXX_FLAGS=-march=x86-64-v3 -mpclmul")
  "$VENV/bin/cmake" -S "$ROOT" -B "$dir" -G Ninja -DCMAKE_MAKE_PROGRAM="$VENV/bin/ninja" -DCMAKE_BUILD_TYPE=Release \
    -DAIPERF_BUILD_PYTHON=ON -DAIPERF_BUILD_TESTS=OFF -DAIPERF_INPLACE=OFF "${arch[@]}" \
    -DPython_EXECUTABLE="$PY" -Dpybind11_DIR="$("$PY" -m pybind11 --cmakedir)" "$@" > "$dir/configure.log" 2>&1 ||
    { cat "$dir/configure.log" >&2; exit 1; }
  "$VENV/bin/cmake" --build "$dir" -j2 > "$dir/build.log" 2>&1 || { tail -30 "$dir/build.log" >&2; exit 1; }
  rm -rf "$dir/py"
  mkdir -p "$dir/py"
  cp -rs "$ROOT/python/aiperf" "$dir/py/"
  rm -f "$dir"/py/aiperf/_engine*.so
  ln -s "$dir"/_engine*.so "$dir/py/aiperf/"
  echo "$dir/py: $(PYTHONPATH=$dir/py "$PY" -c 'from aiperf import _engine; print(_engine.libcurl_version())')"
}

fetch_libcurl
BACKPORTS_CURL=(-DCURL_INCLUDE_DIR="$PREFIX/root/usr/include/$MULTIARCH"
                -DCURL_LIBRARY_RELEASE="$PREFIX/root/usr/lib/$MULTIARCH/libcurl.so")
VARIANTS=(system backports)
if [ "$TIMED" = 1 ]; then
  build_variant system 1
  build_variant backports 1 "${BACKPORTS_CURL[@]}"  # CMake's build RPATH points the module at $PREFIX
fi
CALLGRIND_SUFFIX=""
if [ "$CALLGRIND" = 1 ]; then
  if grep -qw avx512f /proc/cpuinfo || [ "$TIMED" = 0 ]; then
    CALLGRIND_SUFFIX=-avx2
    build_variant system$CALLGRIND_SUFFIX 0
    build_variant backports$CALLGRIND_SUFFIX 0 "${BACKPORTS_CURL[@]}"
  fi
  for variant in "${VARIANTS[@]}"; do
    PYTHONPATH=$ROOT/build/libcurl-$variant$CALLGRIND_SUFFIX/py "$PY" "$ROOT/bench/throughput_vs_wrk/callgrind.py"
  done
fi
if [ "$TIMED" = 1 ]; then
  for round in $(seq "$ROUNDS"); do
    for variant in "${VARIANTS[@]}"; do
      echo "== round $round, $variant libcurl, $(date +%T), load $(cut -d' ' -f1-3 /proc/loadavg)"
      flock /tmp/aiperf-bench.lock env PYTHONPATH="$ROOT/build/libcurl-$variant/py" \
        "$PY" "$ROOT/bench/throughput_vs_wrk/run.py" "${RUN_ARGS[@]}"
    done
  done
fi
