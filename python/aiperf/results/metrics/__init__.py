"""Metrics: the registry of every metric (registry.py), one function per metric family next to its rows (timing,
streaming, tokens, images), the per-record pass over a batch (per_record.py), the run's summary (summary.py),
errors (errors.py), multi-turn history (history.py) and the warnings a summary calls for (warnings.py)."""
from __future__ import annotations

from aiperf.results.metrics.spec import NS_PER_MS, NS_PER_S, MetricSpec, PerRecord, Window  # isort: skip
from aiperf.results.metrics.registry import METRICS, applies, console_metrics  # isort: skip
from aiperf.results.metrics.errors import ERROR_TYPES, ErrorEntry, ErrorGroups, error_code, error_type_name
from aiperf.results.metrics.history import SessionHistory
from aiperf.results.metrics.per_record import RecordMetrics, record_metrics
from aiperf.results.metrics.summary import RunMetrics, Summary, measurement_window, summarize, summary_stats
from aiperf.results.metrics.timing import response_end_times
from aiperf.results.metrics.warnings import RunWarning, run_warnings

__all__ = [
    "ERROR_TYPES",
    "METRICS",
    "NS_PER_MS",
    "NS_PER_S",
    "ErrorEntry",
    "ErrorGroups",
    "MetricSpec",
    "PerRecord",
    "RecordMetrics",
    "RunMetrics",
    "RunWarning",
    "SessionHistory",
    "Summary",
    "Window",
    "applies",
    "console_metrics",
    "error_code",
    "error_type_name",
    "measurement_window",
    "record_metrics",
    "response_end_times",
    "run_warnings",
    "summarize",
    "summary_stats",
]
