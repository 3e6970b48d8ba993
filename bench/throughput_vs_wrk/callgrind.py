#!/usr/bin/env python3
"""User-space instructions per request of the engine's loop thread (callgrind), against run.py's nginx.

Usage: PYTHONPATH=python python bench/throughput_vs_wrk/callgrind.py [--requests 2000 6000] [--concurrency 64 256]
Needs `valgrind` and `nginx`. Deterministic, unlike run.py's rates: it does not move with the machine's load.

For each workload the engine (one loop thread) runs twice under `valgrind --tool=callgrind --separate-threads=yes`,
with two request counts; (instructions of the loop thread at the larger count - at the smaller) / (difference in
requests) leaves out start-up, warm-up connections and shut-down. The loop thread is the one whose profile contains
aiperf::EventLoop::run. Nothing is written outside a temp folder unless --keep names a folder for the profiles
(callgrind_annotate reads them).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def child(url: str, requests: int, streaming: bool, concurrency: int) -> int:
    """Runs inside valgrind: one engine run, then prints its ok/failed counts."""
    sys.path.insert(0, str(HERE))
    import run as bench

    result = bench.run_engine(url, concurrency, requests, streaming, cap_s=600.0)
    records = result.records
    ok = int(((records["error_kind"] == 0) & (records["status"] == 200)).sum())
    print(f"ok={ok} total={len(records['start_ns'])}")
    return 0 if ok == len(records["start_ns"]) else 1


def thread_instructions(outdir: Path, tag: str) -> int:
    """Instructions (Ir) of the loop thread in the profiles callgrind wrote for one run."""
    found = []
    for path in sorted(outdir.glob(f"callgrind.{tag}.*")):
        text = path.read_text(errors="replace")
        if "EventLoop::run(" not in text:
            continue
        match = re.search(r"^(?:summary|totals):\s*(\d+)", text, re.MULTILINE)
        if match:
            found.append(int(match.group(1)))
    if len(found) != 1:
        raise RuntimeError(f"expected one loop-thread profile for {tag}, found {len(found)} in {outdir}")
    return found[0]


def measure(url: str, requests: int, streaming: bool, concurrency: int, outdir: Path, tag: str) -> int:
    command = [
        "valgrind",
        "--tool=callgrind",
        "--separate-threads=yes",
        f"--callgrind-out-file={outdir}/callgrind.{tag}.%p",
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        url,
        str(requests),
        "1" if streaming else "0",
        str(concurrency),
    ]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"callgrind run failed ({result.returncode}):\n{result.stdout}\n{result.stderr[-3000:]}")
    return thread_instructions(outdir, tag)


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        url, requests, streaming, concurrency = sys.argv[2:6]
        return child(url, int(requests), streaming == "1", int(concurrency))

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, nargs=2, default=[2000, 6000], help="the two request counts")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[64, 256], help="non-streaming runs")
    parser.add_argument("--sse-concurrency", type=int, default=64)
    parser.add_argument("--no-sse", action="store_true", help="skip the streaming (64 events) run")
    parser.add_argument("--keep", type=Path, help="keep the callgrind profiles in this folder")
    args = parser.parse_args()
    for tool in ("nginx", "valgrind"):
        if shutil.which(tool) is None:
            print(f"{tool} not found on PATH", file=sys.stderr)
            return 2
    sys.path.insert(0, str(HERE))
    import run as bench

    from aiperf import _engine

    loaded, compiled = _engine.libcurl_version()
    low, high = sorted(args.requests)
    workloads = [(f"non-streaming, c={c}", False, c) for c in args.concurrency]
    if not args.no_sse:
        workloads.append((f"streaming 64 events, c={args.sse_concurrency}", True, args.sse_concurrency))
    rows = []
    with tempfile.TemporaryDirectory(prefix="aiperf-callgrind-") as tmp:
        outdir = args.keep or Path(tmp) / "profiles"
        outdir.mkdir(parents=True, exist_ok=True)
        nginx = bench.Nginx(Path(tmp) / "nginx", None)
        try:
            for name, streaming, concurrency in workloads:
                url = nginx.url("/sse/chat" if streaming else "/v1/chat/completions")
                slug = f"{'sse' if streaming else 'chat'}-c{concurrency}"
                counts = [measure(url, n, streaming, concurrency, outdir, f"{slug}-n{n}") for n in (low, high)]
                rows.append((name, (counts[1] - counts[0]) / (high - low)))
        finally:
            nginx.stop()
    print(f"libcurl {loaded} (compiled against {compiled}); loop-thread instructions per request, "
          f"({high:,} - {low:,} requests)")
    for name, per_request in rows:
        print(f"  {name:<32} {per_request / 1000:8.1f} k")
    return 0


if __name__ == "__main__":
    sys.exit(main())
