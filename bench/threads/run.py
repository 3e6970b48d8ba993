#!/usr/bin/env python3
"""Requests/s of the engine with 1 and 2 loop threads against `wrk -t1` and `wrk -t2`, same nginx, same run.

A thin front to bench/throughput_vs_wrk (one benchmark harness): nothing is pinned when 2 threads run, since
nginx, wrk and the engine then share both cores.

Usage: PYTHONPATH=python python bench/threads/run.py [--duration-s 5] [--concurrency 256]
"""
from __future__ import annotations

import runpy
import sys
from pathlib import Path

if __name__ == "__main__":
    args = sys.argv[1:]
    if "--concurrency" not in args:
        args += ["--concurrency", "256"]
    sys.argv = [sys.argv[0], "--threads", "1", "2", "--no-sse", *args]
    runpy.run_path(str(Path(__file__).resolve().parents[1] / "throughput_vs_wrk" / "run.py"), run_name="__main__")
