"""Measurement accuracy: how far the client's timestamps are from the moment the server sent the bytes.

For each setting the built-in mock server runs in its own process with `--timing-log`, pinned to the first CPU; the
client (this process, whose engine loop thread inherits the pinning) runs on the second. Each run exports raw
records and is joined with the server's log by `aiperf.analyze_accuracy` (docs/accuracy.md defines every
difference). Settings (streaming chat, TTFT 10 ms, ITL 10 ms):

    c1       concurrency 1, 50 tokens
    c100     concurrency 100, 50 tokens
    c1000    concurrency 1,000, 50 tokens (100,000 tokens/s)
    rate5000 open loop, 5,000 requests/s (constant), 5 tokens (50 tokens would be 2,500 streams at once)

Target (design §4): event arrival p99 <= 100 us at 1,000 concurrent streams. With `--nvidia-aiperf PATH` (the
`aiperf` executable of NVIDIA AIPerf, installed in its own venv) the same settings are run with it too, pinned the
same way, and its TTFT and inter-token gaps are compared with the server's the same way.

    python bench/accuracy/run.py [--scale 1.0] [--only c1 c100 ...] [--nvidia-aiperf /work/venv-nvidia-aiperf/bin/aiperf]
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import aiperf
from aiperf.analysis.timing_accuracy import DIFFERENCES, AccuracyReport, analyze_accuracy, read_client, read_timing_log

TTFT_MS = 10.0
ITL_MS = 10.0
REALTIME_PRIORITY = 10
TOKENIZER_DIR = Path.home() / ".cache" / "aiperf" / "tokenizers" / "gpt2"  # tools/fetch_gpt2_tokenizer.py


@dataclass
class Setting:
    name: str
    tokens: int
    requests: int
    warmup: int
    concurrency: int | None = None
    rate: float | None = None


SETTINGS = (
    Setting("c1", 50, 20, 1, concurrency=1),
    Setting("c100", 50, 1000, 100, concurrency=100),
    Setting("c1000", 50, 4000, 1000, concurrency=1000),
    Setting("rate5000", 5, 20000, 0, rate=5000.0),
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def placement(cpu: int | None, realtime: bool) -> list[str]:
    """Command prefix: pinned to a CPU (taskset), and with --realtime under SCHED_FIFO (chrt), so that other
    processes of a shared machine do not preempt it."""
    return ((["chrt", "-f", str(REALTIME_PRIORITY)] if realtime else []) +
            (["taskset", "-c", str(cpu)] if cpu is not None else []))


def start_mock(port: int, tokens: int, timing_log: Path, cpu: int | None, realtime: bool) -> subprocess.Popen:
    pin = placement(cpu, realtime)
    process = subprocess.Popen(pin + [sys.executable, "-m", "aiperf", "mock-server", "--port", str(port),
                                      "--ttft-ms", str(TTFT_MS), "--itl-ms", str(ITL_MS), "--output-tokens",
                                      str(tokens), "--timing-log", str(timing_log)],
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    if "listening on" not in process.stdout.readline():
        raise SystemExit("mock server did not start")
    return process


def stop_mock(process: subprocess.Popen) -> None:
    process.terminate()  # SIGTERM: the server stops and completes its timing log
    process.wait(timeout=60)


def run_ours(setting: Setting, url: str, folder: Path, kernel_timestamps: str = "auto") -> None:
    options = dict(model="m", tokenizer="gpt2", url=url, endpoint_type="chat", streaming=True,  # noqa: C408
                   kernel_timestamps=kernel_timestamps,
                   request_count=setting.requests, warmup_request_count=setting.warmup,
                   synthetic_input_tokens_mean=100, export_level="raw", artifact_dir=str(folder), print_table=False)
    if setting.concurrency:
        options["concurrency"] = setting.concurrency
    if setting.rate:
        options.update(request_rate=setting.rate, arrival_pattern="constant")
    aiperf.profile(**options)


def run_nvidia(executable: str, setting: Setting, url: str, folder: Path, cpu: int | None, realtime: bool,
               timeout_s: float) -> str | None:
    """Runs NVIDIA AIPerf; None when it finished, else why not."""
    command = ([*placement(cpu, realtime), executable, "profile", "--model", "m",
                "--tokenizer", str(TOKENIZER_DIR), "--url", url, "--endpoint-type", "chat", "--streaming",
                "--request-count", str(setting.requests), "--synthetic-input-tokens-mean", "100",
                "--artifact-dir", str(folder), "--ui-type", "none"])
    if setting.warmup:
        command += ["--warmup-request-count", str(setting.warmup)]
    if setting.concurrency:
        command += ["--concurrency", str(setting.concurrency)]
    if setting.rate:
        command += ["--request-rate", str(setting.rate), "--arrival-pattern", "constant"]
    with (folder.parent / f"{folder.name}.out").open("w") as out:
        try:
            result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, timeout=timeout_s,
                                    cwd=folder.parent)
        except subprocess.TimeoutExpired:
            return f"did not finish within {timeout_s:g} s"
    if result.returncode != 0:
        return f"exited with {result.returncode} (see {out.name})"
    return None


def row(label: str, stats: dict[str, float]) -> str:
    if not stats.get("count"):
        return f"  {label:22} {'0':>8}"
    return (f"  {label:22} {int(stats['count']):>8,} {stats['p50']:>9.1f} {stats['p90']:>9.1f} {stats['p99']:>9.1f} "
            f"{stats['max']:>10.1f} {stats['min']:>9.1f}")


def print_report(title: str, report: AccuracyReport) -> None:
    c = report.counts
    print(f"{title}: {c['matched_requests']:,}/{c['client_requests']:,} requests matched "
          f"({c['client_warmup']:,} warm-up left out), {c['matched_events']:,} events matched, "
          f"{c['server_queued_events']:,} server events queued; clock {'exact' if report.exact_clock else 'anchor'}")
    print(f"  {'client - server (us)':22} {'count':>8} {'p50':>9} {'p90':>9} {'p99':>9} {'max':>10} {'min':>9}")
    for key, label, _ in DIFFERENCES:
        print(row(label, report.stats[key]))
    for key, label in (("time_to_first_token", "server's own TTFT"), ("inter_token_latency", "server's own gaps")):
        print(row(label, report.server_stats[key]))


def arrival_by_position(folder: Path, log: Path) -> str:
    """Event arrival (us) of a request's first 3 events, its middle ones and its last 3: the closed loop's turnover
    (every stream ending and the next starting together) shows at both ends."""
    server, _, anchor = read_timing_log(log)
    client, _, _ = read_client(folder, anchor)
    parts: dict[str, list[float]] = {"first 3": [], "middle": [], "last 3": []}
    for request_id, c in client.items():
        s = server.get(request_id)
        if c.warmup or c.failed or s is None or not c.event_ns:
            continue
        lags = (np.asarray(c.event_ns[:len(s.send_ns)]) - np.asarray(s.send_ns[:len(c.event_ns)])) / 1e3
        parts["first 3"].extend(lags[:3])
        parts["middle"].extend(lags[3:-3])
        parts["last 3"].extend(lags[-3:])
    return "  event arrival by position (p50 / p90 / p99 us): " + ", ".join(
        f"{name} {np.percentile(v, 50):.1f} / {np.percentile(v, 90):.1f} / {np.percentile(v, 99):.1f}"
        for name, v in parts.items() if v)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="+", choices=[s.name for s in SETTINGS], help="run only these settings")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every request count by this")
    parser.add_argument("--nvidia-aiperf", metavar="PATH", help="NVIDIA AIPerf's aiperf executable (own venv)")
    parser.add_argument("--nvidia-timeout", type=float, default=600.0, help="seconds per NVIDIA AIPerf run")
    parser.add_argument("--out", metavar="DIR", help="keep the artifacts here [default: a temporary folder]")
    parser.add_argument("--no-pin", action="store_true",
                        help="do not pin the mock server to the first CPU and the clients to the second")
    parser.add_argument("--kernel-timestamps", choices=("auto", "on", "off"), default="auto",
                        help="aiperf's --kernel-timestamps (auto: on, these runs stream) [default: auto]")
    parser.add_argument("--realtime", action="store_true",
                        help="run the mock server and the clients under SCHED_FIFO (needs root): on a machine shared "
                             "with other work, this keeps their wake-ups from waiting behind it")
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    pin = not args.no_pin and len(cpus) >= 2 and shutil.which("taskset") is not None
    server_cpu, client_cpu = (cpus[0], cpus[1]) if pin else (None, None)
    if pin:  # the engine's loop thread inherits this
        os.sched_setaffinity(0, {client_cpu})
    if args.realtime:  # likewise; the Python work of a run (exports, metrics) is short next to RT throttling's window
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(REALTIME_PRIORITY))
    nvidia = args.nvidia_aiperf
    if nvidia and not (Path(nvidia).is_file() and os.access(nvidia, os.X_OK)):
        print(f"NVIDIA AIPerf: skipped: {nvidia} is not an executable", flush=True)
        nvidia = None
    elif not nvidia:
        print("NVIDIA AIPerf: skipped (give --nvidia-aiperf PATH to its aiperf executable)", flush=True)
    if not TOKENIZER_DIR.is_dir() and nvidia:
        print(f"NVIDIA AIPerf: skipped: no offline GPT-2 tokenizer at {TOKENIZER_DIR} (make deps)", flush=True)
        nvidia = None
    root = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="aiperf-accuracy-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"pinning: {'server CPU %d, clients CPU %d' % (server_cpu, client_cpu) if pin else 'off'}; "
          f"{'SCHED_FIFO %d; ' % REALTIME_PRIORITY if args.realtime else ''}artifacts in {root}", flush=True)
    settings = [s for s in SETTINGS if not args.only or s.name in args.only]
    summary: list[tuple[str, str, AccuracyReport | str]] = []
    for base in settings:
        setting = Setting(base.name, base.tokens, max(1, round(base.requests * args.scale)),
                          round(base.warmup * min(1.0, args.scale)) if base.warmup else 0, base.concurrency, base.rate)
        tools = [("aiperf", None)] + ([("nvidia", nvidia)] if nvidia else [])
        for tool, executable in tools:
            folder = root / f"{setting.name}-{tool}"
            log = root / f"{setting.name}-{tool}-timing.jsonl"
            port = free_port()
            mock = start_mock(port, setting.tokens, log, server_cpu, args.realtime)
            before = load()
            started = time.monotonic()
            cpu_before = resource.getrusage(resource.RUSAGE_SELF if not executable else resource.RUSAGE_CHILDREN)
            failure = None
            try:
                if executable:
                    failure = run_nvidia(executable, setting, f"127.0.0.1:{port}", folder, client_cpu, args.realtime,
                                         args.nvidia_timeout)
                else:
                    run_ours(setting, f"127.0.0.1:{port}", folder, args.kernel_timestamps)
                took = time.monotonic() - started
                # the client's CPU time (NVIDIA AIPerf: its processes, waited for; the mock server is not yet)
                cpu_after = resource.getrusage(resource.RUSAGE_SELF if not executable else resource.RUSAGE_CHILDREN)
            finally:
                stop_mock(mock)
            cpu_s = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
            title = (f"[{setting.name}] {tool}: {setting.requests:,} requests "
                     f"{'at concurrency %d' % setting.concurrency if setting.concurrency else 'at %g req/s' % setting.rate}"
                     f", {setting.tokens} tokens, {took:.1f} s (client CPU {cpu_s:.1f} s), load before {before}, "
                     f"after {load()}")
            if failure:
                print(f"{title}\n  NVIDIA AIPerf {failure}", flush=True)
                summary.append((setting.name, tool, failure))
                continue
            report = analyze_accuracy(folder, log)
            print_report(title, report)
            print(arrival_by_position(folder, log))
            sys.stdout.flush()
            summary.append((setting.name, tool, report))
    print("\nsummary, client - server in us (p50 / p99)")
    print(f"  {'setting':9} {'tool':7} {'event arrival':>17} {'TTFT':>17} {'inter-token gap':>19} {'request end':>17}")
    for name, tool, report in summary:
        if isinstance(report, str):
            print(f"  {name:9} {tool:7} {report}")
            continue
        cells = []
        for key in ("event_arrival", "time_to_first_token", "inter_token_latency", "request_end"):
            s = report.stats[key]
            cells.append(f"{s['p50']:.1f} / {s['p99']:.1f}" if s.get("count") else "n/a")
        print(f"  {name:9} {tool:7} {cells[0]:>17} {cells[1]:>17} {cells[2]:>19} {cells[3]:>17}")
    for name, tool, report in summary:
        if name == "c1000" and tool == "aiperf" and not isinstance(report, str):
            p99 = report.stats["event_arrival"]["p99"]
            print(f"target: event arrival p99 at 1,000 streams {p99:.1f} us (<= 100 us): {'ok' if p99 <= 100 else 'MISS'}")


if __name__ == "__main__":
    main()
