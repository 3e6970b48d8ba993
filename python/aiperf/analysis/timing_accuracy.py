"""Measurement accuracy: a run's client timestamps joined with the server's own (`aiperf analyze-accuracy`).

The mock server's `--timing-log` records, per request (keyed by X-Request-ID), when the whole request had been
read and when the write() carrying each SSE event (or the body) returned, on CLOCK_MONOTONIC. The client side comes
from the artifact folder: `profile_export_raw.jsonl` (exact: its `start_perf_ns` and `responses[].perf_ns` are the
engine's CLOCK_MONOTONIC readings) or, without it, `profile_export.jsonl` (durations exact; its wall-clock times
are brought to CLOCK_MONOTONIC through the server log's own anchor, which is exact only up to the anchors' skew).
docs/accuracy.md defines every difference reported here.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aiperf.errors import AccuracyError
from aiperf.results.export import RAW_JSONL, RECORDS_JSONL

ACCURACY_JSON = "accuracy.json"
ACCURACY_PNG = "accuracy.png"
NS_PER_MS = 1_000_000

# Reported differences, in the order shown: (key, label, definition).
DIFFERENCES: tuple[tuple[str, str, str], ...] = (
    ("request_start", "Request start",
     "server receive - client request start (the client stamps before libcurl sends)"),
    ("event_arrival", "Event arrival",
     "client arrival - server send, every SSE event (or body) of every request"),
    ("time_to_first_token", "Time to first token",
     "client TTFT - server TTFT (first token sent - request received)"),
    ("inter_token_latency", "Inter-token gap",
     "client gap - server gap, every pair of consecutive token events"),
    ("request_end", "Request end", "client request end - server's last body write"),
    ("request_latency", "Request latency", "client latency - server (last body write - request received)"),
)
_STATS = ("count", "avg", "min", "p50", "p90", "p99", "max", "std")


@dataclass
class ServerRequest:
    """One line of a mock server timing log."""

    recv_ns: int
    send_ns: list[int]
    end_ns: int | None
    stream: bool
    outcome: str
    queued: int  # events whose send time is when they were queued in libevent's buffer (a looser lower bound)


@dataclass
class ClientRequest:
    """What the client recorded for one request, on CLOCK_MONOTONIC (ns)."""

    start_ns: int
    end_ns: int
    event_ns: list[int] | None      # every SSE event but [DONE] (raw export); without it the content events, rebuilt
                                    # from start + TTFT + inter-chunk gaps; None for a request without them
    ttft_ns: float | None           # as reported (time_to_first_token)
    token_gaps_ns: list[float]      # as reported (inter_chunk_latency)
    failed: bool
    warmup: bool                    # a warm-up request: matched, but left out of the statistics as aiperf's are


@dataclass
class AccuracyReport:
    """The join of one run with a server timing log: differences in microseconds, and what could not be matched."""

    artifact_dir: Path
    server_log: Path
    client_source: str                       # the export file the client side was read from
    exact_clock: bool                        # False: client wall-clock times converted through the server's anchor
    counts: dict[str, int]
    differences_us: dict[str, np.ndarray] = field(repr=False)
    stats: dict[str, dict[str, float]] = field(default_factory=dict)
    # The server's own TTFT and inter-token gaps (us) of the requests compared, with their statistics.
    server_us: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    server_stats: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "artifact_dir": str(self.artifact_dir),
            "server_log": str(self.server_log),
            "client_source": self.client_source,
            "clock": ("exact: raw export perf_ns and server log both CLOCK_MONOTONIC" if self.exact_clock else
                      "client wall-clock times converted to CLOCK_MONOTONIC through the server log's anchor"),
            "unit": "us",
            "counts": self.counts,
            "differences": {key: {"definition": definition, **self.stats[key]}
                            for key, _, definition in DIFFERENCES},
            "server": self.server_stats,
        }


def _parse_lines(path: Path, what: str, parse: Callable[[dict[str, Any]], Any]) -> Iterator[Any]:
    """parse(obj) of every JSON line of a file; a line that is not JSON, or lacks what parse reads, is an error."""
    with path.open(encoding="utf-8") as f:
        for line_number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield parse(json.loads(line))
            except (ValueError, KeyError, TypeError):
                raise AccuracyError(f"{path}:{line_number}: not {what}") from None


def _server_line(obj: dict[str, Any]) -> tuple[Any, ServerRequest | dict[str, int]]:
    if "aiperf_mock_timing_log" in obj:
        return "header", {"anchor_wall_ns": int(obj["anchor_wall_ns"]), "anchor_mono_ns": int(obj["anchor_mono_ns"])}
    end_ns = obj["end_ns"]
    return obj["x_request_id"], ServerRequest(int(obj["recv_ns"]), [int(t) for t in obj["send_ns"]],
                                              None if end_ns is None else int(end_ns), bool(obj["stream"]),
                                              str(obj["outcome"]), int(obj.get("queued", 0)))


def read_timing_log(path: str | Path) -> tuple[dict[str, ServerRequest], dict[str, int], dict[str, int]]:
    """Requests of a mock server timing log by X-Request-ID, counts (lines, without an id, repeated ids), and the
    header's clock anchor ({"anchor_wall_ns", "anchor_mono_ns"})."""
    path = Path(path)
    if not path.is_file():
        raise AccuracyError(f"{path}: no such file (the mock server's --timing-log)")
    requests: dict[str, ServerRequest] = {}
    counts = {"server_lines": 0, "server_without_id": 0, "server_repeated_id": 0}
    anchor: dict[str, int] = {}
    for request_id, request in _parse_lines(path, "a timing log line (written by aiperf mock-server --timing-log)",
                                            _server_line):
        if request_id == "header":
            anchor = request
            continue
        counts["server_lines"] += 1
        if request_id is None:
            counts["server_without_id"] += 1
        elif request_id in requests:  # a request libcurl sent again (after a reset): the last one answered is kept
            counts["server_repeated_id"] += 1
        if request_id is not None:
            requests[str(request_id)] = request
    if not anchor:
        raise AccuracyError(f"{path}: no header line: not a timing log of aiperf mock-server --timing-log")
    return requests, counts, anchor


def _metric_ns(metrics: dict[str, Any], tag: str) -> Any:
    entry = metrics.get(tag)
    if not isinstance(entry, dict) or entry.get("value") is None:
        return None
    value = entry["value"]
    return [v * NS_PER_MS for v in value] if isinstance(value, list) else value * NS_PER_MS


def _reported(obj: dict[str, Any]) -> tuple[str, tuple[Any, list[float], dict[str, Any], bool]]:
    """A records line: x_request_id -> (TTFT ns, inter-chunk gaps ns, metadata, failed)."""
    meta, metrics = obj["metadata"], obj.get("metrics") or {}
    return str(meta["x_request_id"]), (_metric_ns(metrics, "time_to_first_token"),
                                       _metric_ns(metrics, "inter_chunk_latency") or [], meta,
                                       obj.get("error") is not None)


def _raw_timeline(obj: dict[str, Any]) -> tuple[str, int, int, list[int], dict[str, Any], bool]:
    """A raw export line: (x_request_id, start, end, event times on CLOCK_MONOTONIC, metadata, failed)."""
    meta = obj["metadata"]
    start_mono = int(obj["start_perf_ns"])
    # Exact: the export converted request_start_ns and request_end_ns with the same anchor.
    end_mono = int(meta["request_end_ns"]) - (int(meta["request_start_ns"]) - start_mono)
    events = [int(r["perf_ns"]) for r in obj.get("responses") or []]
    return str(meta["x_request_id"]), start_mono, end_mono, events, meta, obj.get("error") is not None


def read_client(artifact_dir: str | Path, anchor: dict[str, int]) -> tuple[dict[str, ClientRequest], str, bool]:
    """The client's requests by x_request_id from an artifact folder: (requests, file read, exact clock)."""
    folder = Path(artifact_dir)
    raw_path, records_path = folder / RAW_JSONL, folder / RECORDS_JSONL
    if not records_path.is_file():
        raise AccuracyError(f"{folder}: no {RECORDS_JSONL} (profile with --export-level raw, or records)")
    # Reported TTFT and inter-chunk gaps come from the records file; the raw file adds the exact event times.
    reported = dict(_parse_lines(records_path, "a record line", _reported))
    requests: dict[str, ClientRequest] = {}
    if raw_path.is_file():
        for request_id, start, end, events, meta, failed in _parse_lines(raw_path, "a raw export line", _raw_timeline):
            ttft, gaps, _, _ = reported.get(request_id, (None, [], meta, failed))
            requests[request_id] = ClientRequest(start, end, events, ttft, gaps, failed,
                                                 meta.get("benchmark_phase") == "warmup")
        return requests, RAW_JSONL, True
    to_mono = anchor["anchor_mono_ns"] - anchor["anchor_wall_ns"]
    for request_id, (ttft, gaps, meta, failed) in reported.items():
        if meta.get("request_start_ns") is None or meta.get("request_end_ns") is None:
            continue
        start = int(meta["request_start_ns"]) + to_mono
        events = None if ttft is None else np.rint(start + ttft + np.cumsum([0.0, *gaps])).astype(np.int64).tolist()
        requests[request_id] = ClientRequest(start, int(meta["request_end_ns"]) + to_mono, events, ttft, gaps, failed,
                                             meta.get("benchmark_phase") == "warmup")
    return requests, RECORDS_JSONL, False


def _stats(values_us: np.ndarray) -> dict[str, float]:
    from aiperf.engine import compute_stats
    if values_us.size == 0:
        return {"count": 0}
    stats = dict(compute_stats(np.ascontiguousarray(values_us, dtype=np.float64)))
    return {name: float(stats[name]) for name in _STATS}


def join(client: dict[str, ClientRequest], server: dict[str, ServerRequest], *, all_events: bool = True
         ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, int]]:
    """Per-difference arrays in microseconds, the server's own TTFT and token gaps (us) of the same requests, and
    the counts of matched and unmatched requests and events.
    all_events: the client's events are all of them (raw export), so any left without a partner is counted."""
    values: dict[str, list[float]] = {key: [] for key, _, _ in DIFFERENCES}
    server_values: dict[str, list[float]] = {"time_to_first_token": [], "inter_token_latency": []}
    counts = {"client_requests": len(client), "matched_requests": 0, "client_without_server": 0,
              "server_without_client": 0, "client_warmup": 0, "client_failed": 0, "server_unfinished": 0,
              "matched_events": 0, "server_queued_events": 0,
              "client_events_without_server": 0, "server_events_without_client": 0}
    for request_id, c in client.items():
        s = server.get(request_id)
        if s is None:
            counts["client_without_server"] += 1
            continue
        counts["matched_requests"] += 1
        if c.warmup:
            counts["client_warmup"] += 1
            continue
        if c.failed:
            counts["client_failed"] += 1
            continue
        if s.outcome != "complete" or s.end_ns is None:
            counts["server_unfinished"] += 1
            continue
        values["request_start"].append(s.recv_ns - c.start_ns)
        values["request_end"].append(c.end_ns - s.end_ns)
        values["request_latency"].append((c.end_ns - c.start_ns) - (s.end_ns - s.recv_ns))
        if c.event_ns is not None:
            matched = min(len(c.event_ns), len(s.send_ns))
            counts["matched_events"] += matched
            counts["server_queued_events"] += s.queued
            if all_events:
                counts["client_events_without_server"] += len(c.event_ns) - matched
                counts["server_events_without_client"] += len(s.send_ns) - matched
            values["event_arrival"].extend(np.subtract(c.event_ns[:matched], s.send_ns[:matched]).tolist())
        # The mock sends its token events first: the client's content events are the leading server events.
        if c.ttft_ns is not None and s.send_ns:
            values["time_to_first_token"].append(c.ttft_ns - (s.send_ns[0] - s.recv_ns))
            server_values["time_to_first_token"].append(s.send_ns[0] - s.recv_ns)
        gaps = min(len(c.token_gaps_ns), len(s.send_ns) - 1)
        if gaps > 0:
            server_gaps = np.diff(s.send_ns[:gaps + 1])
            values["inter_token_latency"].extend((np.asarray(c.token_gaps_ns[:gaps]) - server_gaps).tolist())
            server_values["inter_token_latency"].extend(server_gaps.tolist())
    counts["server_without_client"] = sum(1 for request_id in server if request_id not in client)

    def microseconds(lists: dict[str, list[float]]) -> dict[str, np.ndarray]:
        return {key: np.asarray(v, dtype=np.float64) / 1e3 for key, v in lists.items()}

    return microseconds(values), microseconds(server_values), counts


def analyze_accuracy(artifact_dir: str | Path, server_log: str | Path, *, write: bool = True,
                     plot: bool = True) -> AccuracyReport:
    """Join a run's artifact folder with a mock server timing log; with `write`, also write accuracy.json (and
    with `plot`, accuracy.png) into the folder. Raises AccuracyError for files that cannot be read."""
    server, server_counts, anchor = read_timing_log(server_log)
    client, source, exact = read_client(artifact_dir, anchor)
    differences, server_values, counts = join(client, server, all_events=exact)
    counts.update(server_counts)
    report = AccuracyReport(Path(artifact_dir), Path(server_log), source, exact, counts, differences,
                            {key: _stats(v) for key, v in differences.items()}, server_values,
                            {key: _stats(v) for key, v in server_values.items()})
    if write:
        with (report.artifact_dir / ACCURACY_JSON).open("w", encoding="utf-8") as f:
            json.dump(report.to_json(), f, indent=2)
            f.write("\n")
        if plot:
            plot_accuracy(report, report.artifact_dir / ACCURACY_PNG)
    return report


def plot_accuracy(report: AccuracyReport, path: str | Path) -> Path:
    """One CDF per difference (microseconds, log scale where every value is positive) into a PNG."""
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt

    shown = [(key, label) for key, label, _ in DIFFERENCES if report.differences_us[key].size]
    columns = 3
    rows = max(1, -(-len(shown) // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(4.2 * columns, 3.2 * rows), squeeze=False)
    for ax, (key, label) in zip(axes.flat, shown):
        values = np.sort(report.differences_us[key])
        ax.plot(values, np.arange(1, values.size + 1) / values.size)
        if values[0] > 0 and values[-1] / values[0] > 20:
            ax.set_xscale("log")
        for q, style in ((50, ":"), (99, "--")):
            ax.axvline(report.stats[key][f"p{q}"], color="grey", linestyle=style, linewidth=0.8, label=f"p{q}")
        ax.set_title(f"{label} (n={values.size})", fontsize=10)
        ax.set_xlabel("client - server (µs)")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(shown):]:
        ax.axis("off")
    if shown:
        axes.flat[0].set_ylabel("fraction")
        axes.flat[0].legend(fontsize=8)
    figure.suptitle(f"Client timestamps vs the server's ({report.artifact_dir.name})", fontsize=11)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return Path(path)


def print_accuracy(report: AccuracyReport, console: Any = None) -> None:
    """The console table: per difference count, p50, p90, p99, max, min in microseconds, then what was unmatched."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console(width=max(100, Console().width))
    table = Table(title="aiperf | Measurement Accuracy (client - server, µs)")
    for name in ("Difference", "count", "p50", "p90", "p99", "max", "min"):
        table.add_column(name, justify="left" if name == "Difference" else "right", no_wrap=True)
    for key, label, _ in DIFFERENCES:
        s = report.stats[key]
        if not s.get("count"):
            table.add_row(label, "0", *["N/A"] * 5)
            continue
        table.add_row(label, f"{int(s['count']):,}", *(f"{s[k]:,.1f}" for k in ("p50", "p90", "p99", "max", "min")))
    console.print(table)
    c = report.counts
    console.print(f"Requests: {c['matched_requests']:,} of {c['client_requests']:,} matched by X-Request-ID; "
                  f"{c['client_without_server']:,} without a server line, {c['server_without_client']:,} server lines "
                  f"without a client record, {c['server_without_id']:,} without an id; {c['client_warmup']:,} warm-up, "
                  f"{c['client_failed']:,} failed and {c['server_unfinished']:,} unfinished on the server (left out).")
    if report.exact_clock:
        console.print(f"Events: {c['matched_events']:,} matched; {c['client_events_without_server']:,} client events "
                      f"and {c['server_events_without_client']:,} server events without a partner; "
                      f"{c['server_queued_events']:,} server events were queued in libevent's buffer (timed when "
                      "queued, not when written).")
    else:
        console.print(f"Client side from {report.client_source} (no raw export): {c['matched_events']:,} content "
                      "events rebuilt from request start + TTFT + inter-chunk gaps; client times converted to "
                      "CLOCK_MONOTONIC through the server's clock anchor.")
