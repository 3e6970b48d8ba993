"""Console output: the metrics table, the error summary, footer lines, and the progress display of a running run.

`rich` is imported lazily so that importing aiperf stays cheap; rich renders in terminals and in Jupyter alike.
"""
from __future__ import annotations

import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from typing_extensions import Self

from aiperf.engine import Phase
from aiperf.results.metrics import METRICS, ErrorEntry, RunMetrics, RunWarning, console_metrics

if TYPE_CHECKING:
    from aiperf.inputs.endpoints import Endpoint

__all__ = ["TABLE_STATS", "ProgressDisplay", "error_table", "errors_by_type", "metric_label", "metrics_table",
           "print_summary", "warning_panel"]

TITLE_PREFIX = "aiperf"
TABLE_STATS = ("avg", "min", "max", "p99", "p90", "p50", "std")
NOT_AVAILABLE = "N/A"
_LONG_HEADER = 30  # longer headers put "(unit)" on a second line
_FILE_LABELS = {".json": "JSON Export", ".csv": "CSV Export", ".jsonl": "JSONL Export"}


def metric_label(tag: str) -> str:
    spec = METRICS[tag]
    separator = "\n" if len(spec.header) > _LONG_HEADER else " "
    return f"{spec.header}{separator}({spec.unit})"


def _number(value: Any) -> str:
    if value is None:
        return NOT_AVAILABLE
    value = float(value)
    if math.isnan(value):
        return NOT_AVAILABLE
    return f"{value:,.2f}"


def metrics_table(metrics: RunMetrics, endpoint: Endpoint) -> Any:
    """The main table: one row per console metric; per-run metrics fill only `avg`."""
    from rich.table import Table

    table = Table(title=f"{TITLE_PREFIX} | {endpoint.metrics_title}")
    table.add_column("Metric", justify="right", style="cyan")
    for stat in TABLE_STATS:
        table.add_column(stat, justify="right", style="green")
    for spec in console_metrics(metrics.summary):
        stats = metrics.summary[spec.tag]
        if spec.kind == "record":
            cells = [_number(stats.get(stat)) for stat in TABLE_STATS]
        else:
            cells = [_number(stats.get("avg"))] + [NOT_AVAILABLE] * (len(TABLE_STATS) - 1)
        table.add_row(metric_label(spec.tag), *cells)
    return table


def errors_by_type(errors: Sequence[ErrorEntry]) -> list[tuple[str, int]]:
    """(type, count) per error type of an error summary, most frequent first."""
    totals: dict[str, int] = {}
    for error in errors:
        kind = str(error.get("type") or "Error")
        totals[kind] = totals.get(kind, 0) + int(error.get("count", 0))
    return sorted(totals.items(), key=lambda item: -item[1])


def error_table(errors: Sequence[ErrorEntry]) -> Any:
    """One row per error kind and message pattern, with counts; the caption totals each kind."""
    from rich.table import Table
    from rich.text import Text

    by_type = ", ".join(f"{kind} {count:,}" for kind, count in errors_by_type(errors))
    table = Table(title=f"{TITLE_PREFIX} | Error Summary", caption=f"Errors by type: {by_type}",
                  caption_justify="left")
    table.add_column("Code", justify="right", style="yellow")
    table.add_column("Type", justify="right", style="yellow")
    table.add_column("Message", justify="left", style="yellow")
    table.add_column("Count", justify="right", style="yellow")
    for error in errors:
        code = error.get("code")
        # server-controlled text: Text() keeps rich from reading it as markup
        table.add_row(str(code) if code is not None else NOT_AVAILABLE, Text(str(error.get("type") or "")),
                      Text(str(error.get("message") or "")), f"{int(error.get('count', 0)):,}")
    return table


def warning_panel(warning: RunWarning) -> Any:
    """One warning of a run, boxed as AIPerf shows its warnings."""
    from rich.panel import Panel
    from rich.text import Text

    return Panel(Text(warning.text()), title=warning.title, border_style="bold yellow", expand=False)


def print_summary(metrics: RunMetrics, *, endpoint: Endpoint, console: Any = None,
                  exported_files: Sequence[Path] = (), log_file: Path | None = None,
                  was_cancelled: bool = False) -> None:
    """Print the metrics table, the error summary (when errors occurred) and the footer lines."""
    from rich.console import Console
    from rich.text import Text

    # Piped output (CI logs, notebooks' captured stdout) gets a table wide enough not to wrap its rows.
    console = console if console is not None else Console(width=None if sys.stdout.isatty() else 140)
    console.print()
    console.print(metrics_table(metrics, endpoint))
    if metrics.errors:
        console.print()
        console.print(error_table(metrics.errors))
    for warning in metrics.warnings:
        console.print()
        console.print(warning_panel(warning))
    console.print()
    lag = metrics.summary.get("schedule_lag")
    if lag and lag.get("count"):
        console.print(Text(schedule_line(lag, metrics.summary.get("intended_request_latency"))))
    cancelled = " (cancelled early)" if was_cancelled else ""
    console.print(Text(f"Benchmark Duration: {metrics.benchmark_duration_s:,.2f} sec{cancelled}"))
    for path in exported_files:
        label = _FILE_LABELS.get(Path(path).suffix, "Export")
        if Path(path).stem.endswith("_timeslices"):  # AIPerf's label for these
            label = f"Timeslice {label}"
        console.print(Text(f"{label}: {path}"))
    if log_file is not None:
        console.print(Text(f"Log File: {log_file}"))


def schedule_line(lag: dict[str, Any], intended_latency: dict[str, Any] | None) -> str:
    """How far behind its schedule the client sent (open loop), and what latency is when timed from the schedule."""
    def ms(value: float) -> str:
        return f"{value * 1000:,.0f} us" if abs(value) < 1 else f"{value:,.2f} ms"

    line = f"Schedule: sent p50 {ms(lag['p50'])}, p99 {ms(lag['p99'])}, max {ms(lag['max'])} after intended time"
    if intended_latency and intended_latency.get("count"):
        line += f"; request latency from intended start p99 {ms(intended_latency['p99'])}"
    if lag["p99"] > 1.0:
        line += " (the client fell behind: compare with Request Latency)"
    return line


class ProgressDisplay:
    """Progress of a running benchmark, fed by polled engine progress snapshots.

    ui_type "simple" (and "dashboard") shows a rich progress bar: requests completed of total, errors, elapsed,
    requests/sec; "none" shows nothing. Usable as a context manager; update() may be called at any rate.
    """

    _REFRESH_S = 0.25

    def __init__(self, ui_type: str, total: int | None, warmup_total: int, duration_s: float | None,
                 console: Any = None) -> None:
        self.enabled = ui_type in ("simple", "dashboard")
        self.total = total
        self.warmup_total = int(warmup_total or 0)
        self.duration_s = duration_s
        self._console = console
        self._progress: Any = None
        self._task: Any = None
        self._phase = -1
        self._profiling_started: float | None = None
        self._last_refresh = 0.0

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        if not self.enabled or self._progress is not None:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("errors: {task.fields[errors]}"), TimeElapsedColumn(),
            TextColumn("{task.fields[rate]} req/s"),
            console=self._console, auto_refresh=False, transient=False)
        self._progress.start()
        self._task = self._progress.add_task("Starting", total=None, errors=0, rate="-")

    def update(self, progress: Any) -> None:
        """Take one snapshot (sent, completed, errors, in_flight, phase) and redraw at most a few times a second."""
        if not self.enabled:
            return
        if self._progress is None:
            self.start()
        phase = int(getattr(progress, "phase", Phase.PROFILING))  # past PROFILING: finished
        completed = int(getattr(progress, "completed", 0))
        errors = int(getattr(progress, "errors", 0))
        now = time.monotonic()
        if phase >= Phase.PROFILING and self._profiling_started is None:
            self._profiling_started = now
        if phase == Phase.WARMUP:
            description, done, total = "Warm-up", completed, self.warmup_total or None
        else:
            description = "Profiling" if phase == Phase.PROFILING else "Finished"
            done = max(completed - self.warmup_total, 0)
            total = self.total
        rate = "-"
        if self._profiling_started is not None and now > self._profiling_started and phase >= Phase.PROFILING:
            rate = f"{done / (now - self._profiling_started):,.1f}"
        if total is None and self.duration_s and phase == Phase.PROFILING and self._profiling_started is not None:
            description = f"Profiling {now - self._profiling_started:,.0f}/{self.duration_s:,.0f} s"
        self._progress.update(self._task, description=description, completed=done, total=total, errors=errors,
                              rate=rate)
        if phase != self._phase or now - self._last_refresh >= self._REFRESH_S:
            self._progress.refresh()
            self._last_refresh = now
            self._phase = phase

    def close(self) -> None:
        if self._progress is not None:
            self._progress.refresh()
            self._progress.stop()
            self._progress = None
