#!/usr/bin/env python3
"""Offered load of 2 Ray workers (one engine thread each) against 1 local engine with 2 loop threads, same run.

Both offer the same closed-loop load (--concurrency C for D seconds, non-streaming chat) to the built-in mock server
(its own process, no artificial latency), alternating local and distributed runs R times; each run's request
throughput comes from its own profile_export_aiperf.json. Printed: the medians, and the ratio of each pair of runs
(run next to each other, so under the same conditions on a shared machine) with its median (issue 8: within 10%).
With --rate, both offer an open-loop --request-rate instead and the achieved send rate is compared. The Ray
cluster is started by this script on 127.0.0.1 only (no dashboard, no usage stats) and shut down at the end.

    PYTHONPATH=python python bench/distributed/run.py [--duration 5] [--concurrency 64] [--repeats 3] [--rate R]
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

# Read when ray is imported: keep the cluster on the loopback address (see tests/python/e2e/test_distributed.py).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_mock(port: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "aiperf", "mock-server", "--host", "127.0.0.1", "--port",
                                str(port), "--fast", "--output-tokens", "8"], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    if "listening on" not in process.stdout.readline():
        raise SystemExit("mock server did not start")
    return process


def offered(folder: Path, open_loop: bool) -> float:
    """Requests/s of one run: the summary's request throughput, or (open loop) requests sent per second of sending."""
    summary = json.loads((folder / "profile_export_aiperf.json").read_text())
    if not open_loop:
        return float(summary["request_throughput"]["avg"])
    starts = [json.loads(line)["metadata"]["request_start_ns"]
              for line in (folder / "profile_export.jsonl").read_text().splitlines()]
    return (len(starts) - 1) / ((max(starts) - min(starts)) / 1e9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run [5]")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight (with --rate: the cap) [64]")
    parser.add_argument("--rate", type=float, default=None, help="open loop instead: --request-rate")
    parser.add_argument("--repeats", type=int, default=3, help="runs per configuration, alternating [3]")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]

    import ray

    import aiperf

    ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1",
             _temp_dir=tempfile.mkdtemp(prefix="aiperf-ray-"), object_store_memory=200 * 1024 * 1024,
             log_to_driver=False)
    port = free_port()
    server = start_mock(port)
    # With --rate, --concurrency caps requests in flight (a server that falls behind would else take a
    # connection per scheduled request).
    load = {"concurrency": args.concurrency, "benchmark_duration": args.duration}
    if args.rate:
        load.update(request_rate=args.rate, arrival_pattern="constant")
    configurations = {"local engine, --workers-max 2": {"workers_max": 2},
                      "2 Ray workers x --workers-max 1": {"workers_max": 1, "ray_address": "auto", "ray_workers": 2}}
    results: dict[str, list[float]] = {name: [] for name in configurations}
    try:
        with tempfile.TemporaryDirectory(prefix="aiperf-bench-") as out:
            for repeat in range(args.repeats):
                for index, (name, options) in enumerate(configurations.items()):
                    folder = Path(out) / f"run{repeat}-{index}"
                    aiperf.profile(model="m", tokenizer="gpt2", url=f"127.0.0.1:{port}", endpoint_type="chat",
                                   synthetic_input_tokens_mean=16, output_tokens_mean=8, random_seed=1,
                                   export_level="records", artifact_dir=folder, print_table=False, ui_type="none",
                                   **load, **options)
                    results[name].append(offered(folder, bool(args.rate)))
                    print(f"  {name:34s} run {repeat + 1}: {results[name][-1]:10,.0f} requests/s", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=10)
        ray.shutdown()
    what = f"--request-rate {args.rate:g} (achieved send rate)" if args.rate else f"--concurrency {args.concurrency}"
    print(f"\nnon-streaming chat, {what}, {args.duration:g} s per run, {args.repeats} runs each, "
          f"load average (1 min) before {load_before:.2f}, after {os.getloadavg()[0]:.2f}")
    medians = {name: statistics.median(values) for name, values in results.items()}
    for name, value in medians.items():
        print(f"{name:34s} median {value:10,.0f} requests/s  (runs: "
              + ", ".join(f"{v:,.0f}" for v in results[name]) + ")")
    local, distributed = medians.values()
    # Runs next to each other share the machine's conditions (other jobs on the two cores): their ratio is the
    # steadier figure.
    pairs = [d / loc for loc, d in zip(*results.values())]
    paired = statistics.median(pairs)
    print(f"ratio Ray / local: of the medians {distributed / local:.3f}; median of the {len(pairs)} paired runs "
          f"{paired:.3f} ({', '.join(f'{r:.3f}' for r in pairs)})  "
          f"({'within' if abs(paired - 1) <= 0.10 else 'NOT within'} 10%)")


if __name__ == "__main__":
    main()
