#!/usr/bin/env python3
"""Throughput of aiperf's engine against wrk on the same nginx, and SSE events parsed per engine CPU-second.

Usage: PYTHONPATH=python python bench/throughput_vs_wrk/run.py [--duration-s 5] [--concurrency 64 256]
Needs `nginx` and `wrk` on PATH (Debian packages). Prints one table; nothing is written outside a temp folder.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

# OpenBLAS's idle worker threads spin inside this process and would be counted as engine CPU time.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

from aiperf import _engine

HERE = Path(__file__).resolve().parent
SSE_EVENTS_PER_RESPONSE = 64
THROUGHPUT_TARGET_RATIO = 0.8
SSE_TARGET_EVENTS_PER_CPU_S = 2.5e6

CHAT_COMPLETION = {
    "id": "chatcmpl-bench",
    "object": "chat.completion",
    "created": 1700000000,
    "model": "bench-model",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello from nginx."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 8, "completion_tokens": 4, "total_tokens": 12},
}
REQUEST_BODY = {
    "model": "bench-model",
    "messages": [{"role": "user", "content": "Say hello."}],
    "max_tokens": 16,
}


def sse_body() -> bytes:
    """64 chat.completion.chunk events (the last carries finish_reason and usage), then [DONE]."""
    events = []
    for i in range(SSE_EVENTS_PER_RESPONSE):
        last = i == SSE_EVENTS_PER_RESPONSE - 1
        chunk: dict = {
            "id": "chatcmpl-bench",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": "bench-model",
            "choices": [
                {"index": 0, "delta": {"content": f" tok{i}"}, "finish_reason": "stop" if last else None}
            ],
        }
        if last:
            chunk["usage"] = {
                "prompt_tokens": 8,
                "completion_tokens": SSE_EVENTS_PER_RESPONSE,
                "total_tokens": 8 + SSE_EVENTS_PER_RESPONSE,
            }
        events.append(b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n")
    events.append(b"data: [DONE]\n\n")
    return b"".join(events)


def pinned(cpu: int | None) -> list[str]:
    """Command prefix running a child on one CPU (nothing when not pinning)."""
    return [] if cpu is None else ["taskset", "-c", str(cpu)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx:
    """nginx as a non-daemon child with its own prefix in a temp folder."""

    def __init__(self, prefix: Path, cpu: int | None) -> None:
        self.prefix = prefix
        self.port = free_port()
        (prefix / "html" / "sse").mkdir(parents=True)
        (prefix / "html" / "sse" / "chat").write_bytes(sse_body())
        # Workers of a root master switch to `nobody` unless told otherwise; the temp folder is private to us.
        user_line = "user root;" if os.geteuid() == 0 else ""
        config = (
            (HERE / "nginx.conf.template")
            .read_text()
            .format(
                user_line=user_line,
                prefix=prefix,
                port=self.port,
                chat_json=json.dumps(CHAT_COMPLETION, separators=(",", ":")),
            )
        )
        (prefix / "nginx.conf").write_text(config)
        self.process = subprocess.Popen(
            pinned(cpu)
            + ["nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 5
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    err = self.process.stderr.read().decode() if self.process.stderr else ""
                    self.stop()
                    raise RuntimeError(f"nginx did not start: {err}") from None
                time.sleep(0.05)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def run_wrk(
    url: str, concurrency: int, duration_s: float, workdir: Path, cpu: int | None, threads: int = 1
) -> tuple[float, float, int]:
    """(requests/s, CPU seconds, requests) of `wrk -t<threads>` POSTing REQUEST_BODY."""
    script = workdir / "post.lua"
    body = json.dumps(REQUEST_BODY, separators=(",", ":"))
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
    )
    # RUSAGE_CHILDREN counts waited-for children only: wrk, not the still running nginx.
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(
        pinned(cpu) + ["wrk", f"-t{threads}", f"-c{concurrency}", f"-d{duration_s:g}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    )
    usage_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (usage_after.ru_utime - usage_before.ru_utime) + (usage_after.ru_stime - usage_before.ru_stime)
    if "Non-2xx" in result.stdout or "Socket errors" in result.stdout:
        print(result.stdout, file=sys.stderr)
    match = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    total = re.search(r"(\d+) requests in", result.stdout)
    if not match or not total:
        raise RuntimeError(f"unexpected wrk output:\n{result.stdout}\n{result.stderr}")
    return float(match.group(1)), cpu_s, int(total.group(1))


@dataclass
class EngineRun:
    records: dict
    wall_s: float
    cpu_s: float


def run_engine(
    url: str, concurrency: int, request_count: int, streaming: bool, cap_s: float, threads: int = 1,
    kernel_timestamps: bool = False,
) -> EngineRun:
    config = _engine.EngineConfig()
    config.url = url
    config.streaming = streaming
    config.kernel_timestamps = kernel_timestamps
    config.concurrency = concurrency
    config.request_count = request_count
    config.warmup_request_count = concurrency
    config.benchmark_duration_s = cap_s  # a safety cap; request_count normally ends the run first
    config.grace_period_s = 2.0
    config.request_timeout_s = 10.0
    config.num_threads = threads
    body = dict(REQUEST_BODY, stream=True) if streaming else REQUEST_BODY
    engine = _engine.Engine(config, [_engine.build_json(body)])
    # RUSAGE_SELF covers every thread of this process (the engine's loop included), not nginx or wrk.
    usage_before = resource.getrusage(resource.RUSAGE_SELF)
    wall_before = time.perf_counter()
    engine.start()
    while not engine.wait(1.0):
        pass
    wall_s = time.perf_counter() - wall_before
    usage_after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = (usage_after.ru_utime - usage_before.ru_utime) + (usage_after.ru_stime - usage_before.ru_stime)
    return EngineRun(engine.records(), wall_s, cpu_s)


def profiling_requests_per_s(records: dict) -> tuple[float, int, int]:
    """(requests/s over the profiling window, successful profiling requests, failed ones).

    Requests cancelled by the duration cap are neither; the window ends at the last successful response.
    """
    profiling = records["phase"] == 1
    ok = profiling & (records["error_kind"] == 0) & (records["status"] == 200)
    failed = profiling & ~ok & ~records["was_cancelled"]
    start_ns = records["start_ns"][profiling]
    window_s = (records["end_ns"][ok].max() - start_ns[start_ns >= 0].min()) / 1e9
    return int(ok.sum()) / window_s, int(ok.sum()), int(failed.sum())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration-s", type=float, default=5.0, help="wrk duration and engine run length")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--sse-concurrency", type=int, default=64)
    parser.add_argument(
        "--threads", type=int, nargs="+", default=[1],
        help="loop threads of the engine and of wrk (-tN); with more than 1 nothing is pinned",
    )
    parser.add_argument("--no-sse", action="store_true", help="skip the SSE events/CPU-s measurement")
    parser.add_argument(
        "--no-pin",
        action="store_true",
        help="do not pin nginx to CPU 0 and the client (wrk, or this process with the engine) to CPU 1",
    )
    args = parser.parse_args()
    for tool in ("nginx", "wrk") + (() if args.no_pin else ("taskset",)):
        if shutil.which(tool) is None:
            print(f"{tool} not found on PATH", file=sys.stderr)
            return 2
    cpus = sorted(os.sched_getaffinity(0))
    pin = not args.no_pin and len(cpus) >= 2
    server_cpu, client_cpu = (cpus[0], cpus[1]) if pin else (None, None)
    if pin:
        # Threads inherit the affinity of the thread that creates them: the engine's loop thread lands on client_cpu.
        os.sched_setaffinity(0, {client_cpu})

    rows: list[tuple[str, str, str, str, str]] = []
    failures = 0
    with tempfile.TemporaryDirectory(prefix="aiperf-bench-") as tmp:
        workdir = Path(tmp)
        nginx = Nginx(workdir / "nginx", server_cpu)
        try:
            for threads, concurrency in [(t, c) for t in args.threads for c in args.concurrency]:
                chat_url = nginx.url("/v1/chat/completions")
                wrk_rps, wrk_cpu_s, wrk_requests = run_wrk(
                    chat_url, concurrency, args.duration_s, workdir, client_cpu if threads == 1 else None, threads
                )
                # Sized from wrk's rate so the engine runs about as long as wrk did.
                request_count = max(1000, int(wrk_rps * args.duration_s * 0.8))
                if threads > 1 and pin:
                    os.sched_setaffinity(0, set(cpus))
                run = run_engine(chat_url, concurrency, request_count, False, cap_s=2 * args.duration_s,
                                 threads=threads)
                if threads > 1 and pin:
                    os.sched_setaffinity(0, {client_cpu})
                engine_rps, ok, errors = profiling_requests_per_s(run.records)
                failures += errors
                ratio = engine_rps / wrk_rps
                rows.append(
                    (
                        f"requests/s, c={concurrency}, {threads} thread{'s' if threads > 1 else ''}",
                        f"{wrk_rps:,.0f}",
                        f"{engine_rps:,.0f} ({ok:,} ok, {errors} errors)",
                        f"{ratio:.2f}",
                        f">= {THROUGHPUT_TARGET_RATIO} {'PASS' if ratio >= THROUGHPUT_TARGET_RATIO else 'FAIL'}",
                    )
                )
                # Client CPU per request (warm-up included for the engine): less sensitive to what else shares the
                # machine than requests/s. Ratio: wrk's cost / the engine's cost.
                wrk_us = wrk_cpu_s / max(wrk_requests, 1) * 1e6
                engine_us = run.cpu_s / max(len(run.records["start_ns"]), 1) * 1e6
                rows.append(
                    (
                        f"  client CPU-us/request, c={concurrency}",
                        f"{wrk_us:.1f}",
                        f"{engine_us:.1f}",
                        f"{wrk_us / engine_us:.2f}",
                        "(information)",
                    )
                )

            if not args.no_sse:
                sse_url = nginx.url("/sse/chat")
                # Calibrate roughly, then size the measured run to take about duration_s. Measured with the engine's
                # plain clock, and with kernel receive timestamps as `aiperf profile --streaming` runs by default
                # (a MSG_PEEK per socket wake-up, per-event arrival marks).
                probe = run_engine(sse_url, args.sse_concurrency, 2000, True, cap_s=args.duration_s)
                probe_rate = max(1.0, 2000 / max(probe.wall_s, 1e-3))
                request_count = max(2000, int(probe_rate * args.duration_s * 0.8))
                for kernel_timestamps in (False, True):
                    run = run_engine(sse_url, args.sse_concurrency, request_count, True, cap_s=2 * args.duration_s,
                                     kernel_timestamps=kernel_timestamps)
                    records = run.records
                    completed = (records["error_kind"] == 0) & (records["status"] == 200)
                    chunks_per_record = np.diff(records["chunk_offsets"])
                    # Every data event parsed (warm-up included, as the CPU time is), minus [DONE]s.
                    json_events = int(chunks_per_record.sum()) - int(completed.sum())
                    expected = SSE_EVENTS_PER_RESPONSE + 1
                    wrong = int((chunks_per_record[completed] != expected).sum())
                    failures += int((~completed).sum()) + wrong
                    events_per_cpu_s = json_events / run.cpu_s
                    rows.append(
                        (
                            f"SSE events/CPU-s, c={args.sse_concurrency}"
                            + (", kernel timestamps" if kernel_timestamps else ""),
                            "-",
                            (
                                f"{events_per_cpu_s / 1e6:.2f} M ({json_events:,} events, {run.cpu_s:.2f} CPU-s, "
                                f"{run.wall_s:.2f} s wall)"
                            ),
                            "-",
                            (
                                f">= {SSE_TARGET_EVENTS_PER_CPU_S / 1e6:.1f} M "
                                f"{'PASS' if events_per_cpu_s >= SSE_TARGET_EVENTS_PER_CPU_S else 'FAIL'}"
                            ),
                        )
                    )
                    if wrong:
                        print(f"warning: {wrong} streams did not have {expected} events", file=sys.stderr)
        finally:
            nginx.stop()

    loaded, compiled = _engine.libcurl_version()
    print(f"libcurl {loaded} (engine compiled against {compiled})")
    print(f"nginx on CPU {server_cpu}, client on CPU {client_cpu}" if pin else "not pinned to CPUs")
    headers = ("benchmark", "wrk", "aiperf engine", "ratio", "target")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    print(" | ".join(h.ljust(w) for h, w in zip(headers, widths)))
    print("-+-".join("-" * w for w in widths))
    for row in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths)))
    if failures:
        print(f"\n{failures} requests failed or were incomplete", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
