"""Memory of a long run: `aiperf profile` with a million requests against the built-in mock server, its resident
set size (RSS) sampled over time, and how long it takes to finish the metrics and exports once the engine is done.

Records leave the engine in batches while the run goes on (Engine.drain()), are written to profile_export.jsonl
and dropped but for a few numeric columns, so RSS should stay flat. Target (issue 4): RSS growth <= 300 MB over a
1,000,000-request run at concurrency 256, and the metrics and all exports finished <= 3 s after the run.

Growth is measured from the RSS once the run is under way (the median of the samples taken between 10% and 20% of
the run: the tokenizer, the engine's connections and the first batches are in place) to the peak. For scale, the same run at a tenth of the requests is
measured first, in the same invocation: with flat memory both show about the same growth.

    python bench/memory/run.py [--requests 1000000] [--concurrency 256] [--no-streaming]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def start_mock(port: int, output_tokens: int) -> subprocess.Popen:
    process = subprocess.Popen([sys.executable, "-m", "aiperf", "mock-server", "--host", "127.0.0.1", "--port",
                                str(port), "--fast", "--output-tokens", str(output_tokens)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    if "listening on" not in process.stdout.readline():
        raise SystemExit("mock server did not start")
    return process


def profile(url: str, requests: int, args: argparse.Namespace, artifact_dir: Path) -> dict:
    command = [sys.executable, "-m", "aiperf", "profile", "--model", "m", "--tokenizer", "gpt2", "--url", url,
               "--endpoint-type", "chat", "--concurrency", str(args.concurrency), "--request-count", str(requests),
               "--synthetic-input-tokens-mean", "32", "--output-tokens-mean", str(args.output_tokens),
               "--export-level", args.export_level, "--ui-type", "none", "--artifact-dir", str(artifact_dir),
               "--random-seed", "1"]
    if args.streaming:
        command.append("--streaming")
    began = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    samples: list[tuple[float, float]] = []
    while process.poll() is None:
        value = rss_mb(process.pid)
        if value is not None:
            samples.append((time.monotonic() - began, value))
        time.sleep(args.sample_s)
    stderr = process.stderr.read() if process.stderr else ""
    if process.returncode != 0:
        raise SystemExit(f"aiperf profile failed ({process.returncode}):\n{stderr}")
    log = (artifact_dir / "logs" / "aiperf.log").read_text(encoding="utf-8")
    engine_s = float(re.search(r"engine finished in ([\d.]+) s", log).group(1))
    finish = re.search(r"(\d+) records taken in (\d+) batches \(([\d.]+) s of metrics and export lines during the "
                       r"run\); summary and exports finished ([\d.]+) s after the run", log)
    wall = time.monotonic() - began
    early = sorted(mb for t, mb in samples if 0.1 * wall <= t <= 0.2 * wall) or [samples[-1][1] if samples else 0.0]
    baseline = early[len(early) // 2]
    peak = max((mb for _, mb in samples), default=0.0)
    return {"requests": requests, "wall_s": wall, "engine_s": engine_s,
            "records": int(finish.group(1)), "batches": int(finish.group(2)), "batch_s": float(finish.group(3)),
            "after_run_s": float(finish.group(4)), "baseline_mb": baseline, "peak_mb": peak,
            "growth_mb": peak - baseline, "samples": samples,
            "jsonl_mb": (artifact_dir / "profile_export.jsonl").stat().st_size / 1e6
            if (artifact_dir / "profile_export.jsonl").exists() else 0.0}


def show(run: dict) -> None:
    print(f"\n{run['requests']:,} requests: engine {run['engine_s']:.1f} s ({run['requests'] / run['engine_s']:,.0f} "
          f"req/s), {run['records']:,} records in {run['batches']} batches, {run['batch_s']:.1f} s of batch "
          f"processing during the run, profile_export.jsonl {run['jsonl_mb']:,.0f} MB")
    print(f"  RSS: {run['baseline_mb']:.0f} MB early in the run (median of 10-20% of it), peak {run['peak_mb']:.0f} MB, "
          f"growth {run['growth_mb']:.0f} MB (target <= 300 MB)")
    print(f"  metrics and exports finished {run['after_run_s']:.2f} s after the run (target <= 3 s)")
    samples = run["samples"]
    if samples:
        step = max(len(samples) // 10, 1)
        print("  RSS over time: " + ", ".join(f"{t:.0f}s {mb:.0f}MB" for t, mb in samples[::step]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--output-tokens", type=int, default=8)
    parser.add_argument("--streaming", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--export-level", default="records", choices=("summary", "records", "raw"))
    parser.add_argument("--sample-s", type=float, default=0.25)
    parser.add_argument("--skip-reference", action="store_true", help="only the full run")
    args = parser.parse_args()
    port = free_port()
    mock = start_mock(port, args.output_tokens)
    work = Path(tempfile.mkdtemp(prefix="aiperf-bench-memory-"))
    try:
        print(f"mock server on 127.0.0.1:{port}; {os.cpu_count()} CPUs; load {os.getloadavg()[0]:.2f}; "
              f"{'streaming' if args.streaming else 'non-streaming'} chat, {args.output_tokens} output tokens, "
              f"concurrency {args.concurrency}, export level {args.export_level}")
        runs = []
        if not args.skip_reference:
            runs.append(profile(f"127.0.0.1:{port}", args.requests // 10, args, work / "reference"))
            show(runs[-1])
        runs.append(profile(f"127.0.0.1:{port}", args.requests, args, work / "full"))
        show(runs[-1])
        if len(runs) == 2:
            extra = runs[1]["requests"] - runs[0]["requests"]
            per_request = (runs[1]["growth_mb"] - runs[0]["growth_mb"]) * 2**20 / extra if extra else 0.0
            print(f"\ngrowth full / tenth: {runs[1]['growth_mb']:.0f} / {runs[0]['growth_mb']:.0f} MB: "
                  f"{per_request:.0f} bytes per extra request (the numeric columns kept per request are about 160 "
                  "bytes; everything else is dropped batch by batch)")
    finally:
        mock.terminate()
        mock.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
