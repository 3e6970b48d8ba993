"""Open-loop schedule accuracy: how late each request is sent relative to its intended time (actual - intended).

The built-in mock server runs in its own process (`aiperf mock-server`, no artificial latency); the engine offers
--request-rate R (constant, then poisson) for D seconds, one loop thread. For reference, the same schedules are
offered in the same run by a plain Python asyncio loop (keep-alive connections, `loop.call_at`-style sleeping until
each intended time, the send time read just before the request is written). Target (design §4): engine p99
<= 200 us at 5,000 req/s.

    python bench/schedule_accuracy/run.py [--rate 5000] [--duration 60]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time

import numpy as np

from aiperf import _engine

BODY = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 4})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_mock(port: int, cpu: int | None) -> subprocess.Popen:
    pin = ["taskset", "-c", str(cpu)] if cpu is not None else []
    process = subprocess.Popen(pin + [sys.executable, "-m", "aiperf", "mock-server", "--host", "127.0.0.1", "--port",
                                str(port), "--ttft-ms", "0", "--itl-ms", "0", "--output-tokens", "4"],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    if "listening on" not in process.stdout.readline():
        raise SystemExit("mock server did not start")
    return process


def schedule(pattern: str, rate: float, duration_s: float, seed: int) -> np.ndarray:
    config = _engine.EngineConfig()
    config.request_rate = rate
    config.arrival_pattern = pattern
    config.random_seed = seed
    return _engine.arrival_offsets_ns(config, 0, duration_s)


def engine_errors_us(url: str, pattern: str, rate: float, duration_s: float, seed: int) -> np.ndarray:
    config = _engine.EngineConfig()
    config.url = url
    config.request_rate = rate
    config.arrival_pattern = pattern
    config.random_seed = seed
    config.request_count = 0
    config.benchmark_duration_s = duration_s
    config.concurrency = 100_000
    engine = _engine.Engine(config, [BODY.encode()])
    engine.start()
    engine.wait(-1)
    records = engine.records()
    ok = records["error_kind"] == 0
    if not ok.all():
        print(f"  engine: {int((~ok).sum())} errors", file=sys.stderr)
    return (records["start_ns"] - records["intended_ns"]) / 1e3


async def asyncio_errors_us(port: int, offsets_ns: np.ndarray, connections: int = 64) -> np.ndarray:
    request = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(BODY)}\r\n\r\n{BODY}").encode()
    pool: asyncio.Queue = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await asyncio.open_connection("127.0.0.1", port))
    errors = np.zeros(len(offsets_ns))

    async def send(i: int, intended_ns: int) -> None:
        reader, writer = await pool.get()
        errors[i] = (time.monotonic_ns() - intended_ns) / 1e3
        writer.write(request)
        length = 0
        while (line := await reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        pool.put_nowait((reader, writer))

    tasks = []
    start_ns = time.monotonic_ns() + 50_000_000
    for i, offset in enumerate(offsets_ns.tolist()):
        intended_ns = start_ns + offset
        delay_s = (intended_ns - time.monotonic_ns()) / 1e9
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        tasks.append(asyncio.create_task(send(i, intended_ns)))
    await asyncio.gather(*tasks)
    while not pool.empty():
        _, writer = pool.get_nowait()
        writer.close()
    return errors


def row(name: str, errors_us: np.ndarray) -> str:
    p50, p90, p99, p999 = np.percentile(errors_us, [50, 90, 99, 99.9])
    return (f"{name:34} {len(errors_us):>8} {p50:>9.1f} {p90:>9.1f} {p99:>9.1f} {p999:>9.1f} "
            f"{errors_us.max():>10.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=5000.0)
    parser.add_argument("--duration", type=float, default=60.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-pin", action="store_true",
                        help="do not pin the mock server to the first CPU and this process to the second")
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    pin = not args.no_pin and len(cpus) >= 2 and shutil.which("taskset") is not None
    port = free_port()
    mock = start_mock(port, cpus[0] if pin else None)
    if pin:  # the engine's loop thread inherits this
        os.sched_setaffinity(0, {cpus[1]})
    try:
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        print(f"send-time error (actual - intended), microseconds; {args.rate:g} req/s for {args.duration:g} s")
        print(f"{'client / pattern':34} {'requests':>8} {'p50':>9} {'p90':>9} {'p99':>9} {'p99.9':>9} {'max':>10}")
        results = {}
        for pattern in ("constant", "poisson"):
            errors = engine_errors_us(url, pattern, args.rate, args.duration, args.seed)
            results[pattern] = float(np.percentile(errors, 99))
            print(row(f"aiperf engine, {pattern}", errors), flush=True)
            offsets = schedule(pattern, args.rate, args.duration, args.seed)
            print(row(f"python asyncio, {pattern}", asyncio.run(asyncio_errors_us(port, offsets))), flush=True)
        for pattern, p99 in results.items():
            print(f"engine p99 {pattern}: {p99:.1f} us (target 200 us): {'ok' if p99 <= 200 else 'MISS'}")
    finally:
        mock.terminate()
        mock.wait()


if __name__ == "__main__":
    main()
