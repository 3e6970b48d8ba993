"""Request timing: latency, schedule lag, and the per-run counts, throughputs and window of a run.

request_latency = last response chunk (or the transfer's end) - request start; an open-loop request sent late is
also timed from when it should have been sent (wrk2's discipline).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from aiperf.engine import Records
from aiperf.results.columns import int64, row_lengths
from aiperf.results.metrics.spec import NS_PER_MS, MetricSpec, PerRecord, Window, metric

__all__ = ["TIMING_METRICS", "response_end_times", "timing_metrics"]


def _good_count(w: Window) -> float | None:
    return None if w.good is None else float(w.good.sum())


TIMING_METRICS: tuple[MetricSpec, ...] = (
    metric("request_latency", "Request Latency", "ms", 300),
    metric("schedule_lag", "Schedule Lag", "ms", None, scheduled_only=True, no_console=True),
    metric("intended_request_latency", "Request Latency From Intended Start", "ms", None, scheduled_only=True,
           no_console=True),
    metric("request_throughput", "Request Throughput", "requests/sec", 900, "derived", larger_is_better=True,
           aggregate=lambda w: w.per_second(float(w.valid.sum()))),
    metric("goodput", "Goodput", "requests/sec", 1000, "derived", goodput_only=True, larger_is_better=True,
           aggregate=lambda w: w.per_second(_good_count(w))),
    metric("request_count", "Request Count", "requests", 1100, "aggregate",
           aggregate=lambda w: float(w.valid.sum())),
    metric("error_request_count", "Error Request Count", "requests", None, "aggregate", error_only=True,
           aggregate=lambda w: float(w.failed.sum())),
    metric("good_request_count", "Good Request Count", "requests", None, "aggregate", goodput_only=True,
           aggregate=_good_count),
    metric("min_request_timestamp", "Minimum Request Timestamp", "ns", None, "aggregate", no_console=True,
           aggregate=lambda w: float(w.start_wall_ns)),
    metric("max_response_timestamp", "Maximum Response Timestamp", "ns", None, "aggregate", no_console=True,
           aggregate=lambda w: float(w.end_wall_ns)),
    metric("benchmark_duration", "Benchmark Duration", "sec", None, "derived", no_console=True,
           aggregate=lambda w: w.duration_s),
)


def response_end_times(records: Mapping[str, npt.NDArray[Any]]) -> npt.NDArray[np.int64]:
    """Per record: its last response chunk's time, or its end when it had no chunks (engine clock, ns)."""
    end_ns = int64(records, "end_ns")
    chunk_ns = int64(records, "chunk_ns")
    if not chunk_ns.size:
        return end_ns
    last_chunk = np.asarray(records["chunk_offsets"], dtype=np.int64)[1:] - 1
    has_chunks = row_lengths(records, "chunk_offsets") > 0
    return np.where(has_chunks, chunk_ns[np.where(has_chunks, last_chunk, 0)], end_ns)


def timing_metrics(records: Records, ok: npt.NDArray[np.bool_], response_end_ns: npt.NDArray[np.int64]) -> PerRecord:
    """request_latency of the successful records; schedule lag where requests had an intended send time."""
    start_ns = int64(records, "start_ns")
    out: PerRecord = {"request_latency": np.where(ok, (response_end_ns - start_ns) / NS_PER_MS, np.nan)}
    intended = int64(records, "intended_ns")
    if (intended >= 0).any():
        out["schedule_lag"] = np.where(intended >= 0, (start_ns - intended) / NS_PER_MS, np.nan)
        out["intended_request_latency"] = np.where(ok & (intended >= 0), (response_end_ns - intended) / NS_PER_MS,
                                                   np.nan)
    return out
