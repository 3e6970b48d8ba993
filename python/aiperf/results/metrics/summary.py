"""A run's summary: statistics of each per-record metric over the successful profiling records, and the per-run
metrics (counts, totals, throughputs) of the window those records span. The run's summary and each time slice's
(results/timeslices.py) are both `summary_stats`."""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from aiperf.engine import ClockAnchor, ErrorKind, Phase, Records, compute_stats
from aiperf.inputs.endpoints import Endpoint
from aiperf.results.columns import int64
from aiperf.results.metrics.errors import ErrorEntry
from aiperf.results.metrics.registry import METRICS, applies
from aiperf.results.metrics.spec import NS_PER_S, PerRecord, Window
from aiperf.results.metrics.streaming import RaggedMetric
from aiperf.results.metrics.warnings import RunWarning, run_warnings

log = logging.getLogger("aiperf")

__all__ = ["RunMetrics", "Summary", "measurement_window", "summarize", "summary_stats"]

# tag -> {"unit": text, "avg": number, "p99": number, ...}
Summary = dict[str, dict[str, Any]]


@dataclass
class RunMetrics:
    """Everything measured in one run, in display units."""

    per_record: PerRecord  # tag -> float64[n_records], NaN where not applicable/failed (all phases)
    summary: Summary  # profiling, successful records only
    errors: list[ErrorEntry]  # profiling phase, most frequent first
    benchmark_duration_s: float
    start_wall_ns: int  # profiling window, epoch ns
    end_wall_ns: int
    per_record_lists: dict[str, RaggedMetric] = field(default_factory=dict)  # inter_chunk_latency
    warnings: list[RunWarning] = field(default_factory=list)  # printed after the table, logged


def _stats(values: npt.NDArray[np.float64]) -> dict[str, float]:
    return dict(compute_stats(np.ascontiguousarray(values, dtype=np.float64)))


def summarize(per_record: PerRecord, columns: Records, *, endpoint: Endpoint, streaming: bool, anchor: ClockAnchor,
              images_seen: bool, reasoning_seen: bool, errors: list[ErrorEntry],
              goodput: Mapping[str, float] | None = None,
              per_record_lists: dict[str, RaggedMetric] | None = None,
              server_token_counts: bool = False) -> RunMetrics:
    """The run's summary from the per-record metrics of all its records and their numeric `columns` (phase,
    error_kind, start_ns, end_ns, response_end_ns, intended_ns). `errors`: ErrorGroups.entries()."""
    phase = columns["phase"]
    ok = columns["error_kind"] == ErrorKind.OK
    profiling = phase == Phase.PROFILING
    start_ns = int64(columns, "start_ns")
    end_ns = int64(columns, "end_ns")
    response_end_ns = int64(columns, "response_end_ns")
    intended_ns = int64(columns, "intended_ns")
    applicable = {tag: applies(spec, endpoint, streaming=streaming, images_seen=images_seen,
                               reasoning_seen=reasoning_seen, goodput=bool(goodput),
                               scheduled=bool(((intended_ns >= 0) & profiling).any()),
                               server_token_counts=server_token_counts)
                  for tag, spec in METRICS.items()}
    per_record = {tag: values for tag, values in per_record.items() if applicable.get(tag, True)}

    # ---- profiling window: first request start to last response end, failed requests included
    window_start, window_end = measurement_window(start_ns, response_end_ns, end_ns, profiling,
                                                  default_ns=anchor.mono_ns)
    duration_s = (window_end - window_start) / NS_PER_S
    start_wall_ns = anchor.wall_ns + (window_start - anchor.mono_ns)
    end_wall_ns = anchor.wall_ns + (window_end - anchor.mono_ns)
    summary = summary_stats(per_record, ok & profiling, profiling & ~ok, duration_s=duration_s,
                            start_wall_ns=start_wall_ns, end_wall_ns=end_wall_ns, goodput=goodput,
                            applicable=applicable)
    return RunMetrics(per_record=per_record, summary=summary, errors=errors, benchmark_duration_s=duration_s,
                      start_wall_ns=int(start_wall_ns), end_wall_ns=int(end_wall_ns),
                      per_record_lists=dict(per_record_lists or {}),
                      warnings=run_warnings(summary, endpoint=endpoint, server_token_counts=server_token_counts))


def measurement_window(start_ns: npt.NDArray[np.int64], response_end_ns: npt.NDArray[np.int64],
                       end_ns: npt.NDArray[np.int64], rows: npt.NDArray[np.bool_], *, default_ns: int
                       ) -> tuple[int, int]:
    """(first request start, last response end) over the records selected by the mask `rows`, failed ones
    included; (default_ns, default_ns) when none of them started."""
    starts = start_ns[rows]
    starts = starts[starts >= 0]
    ends = np.where(response_end_ns[rows] >= 0, response_end_ns[rows], end_ns[rows])
    ends = ends[ends >= 0]
    if starts.size and ends.size:
        return int(starts.min()), int(max(ends.max(), starts.min()))
    return default_ns, default_ns


def _good(per_record: Mapping[str, npt.NDArray[np.float64]], valid: npt.NDArray[np.bool_],
          goodput: Mapping[str, float]) -> npt.NDArray[np.bool_]:
    """The successful records meeting every SLO, each in its metric's better direction."""
    good = valid.copy()
    for tag, threshold in goodput.items():
        values = per_record.get(tag)
        if values is None:
            log.warning("--goodput: %s does not apply to this run; the SLO is ignored", tag)
            continue
        with np.errstate(invalid="ignore"):
            good &= (values >= threshold) if METRICS[tag].larger_is_better else (values <= threshold)
    return good


def summary_stats(per_record: Mapping[str, npt.NDArray[np.float64]], valid: npt.NDArray[np.bool_],
                  failed: npt.NDArray[np.bool_], *, duration_s: float, start_wall_ns: int, end_wall_ns: int,
                  goodput: Mapping[str, float] | None = None,
                  applicable: Mapping[str, bool] | None = None) -> Summary:
    """Statistics of the records in `valid` for each per-record metric, then each per-run metric of the window
    they span (`duration_s`; `failed` marks the window's failed records); a per-run metric with no value (nothing
    measured) is left out."""
    applicable = applicable or {}
    summary: Summary = {}
    for tag, values in per_record.items():
        spec = METRICS[tag]
        if spec.kind != "record" or spec.error_only:
            continue
        stats = _stats(values[valid])
        if stats.get("count", 0):
            summary[tag] = {"unit": spec.unit, **stats}
    window = Window(per_record=per_record, valid=valid, failed=failed, duration_s=duration_s,
                    start_wall_ns=start_wall_ns, end_wall_ns=end_wall_ns,
                    good=_good(per_record, valid, goodput) if goodput else None)
    for tag, spec in METRICS.items():
        if spec.aggregate is None or not applicable.get(tag, True):
            continue
        value = spec.aggregate(window)
        if value is not None:
            summary[tag] = {"unit": spec.unit, "avg": float(value)}
    order = {tag: i for i, tag in enumerate(METRICS)}
    return dict(sorted(summary.items(), key=lambda kv: order[kv[0]]))
