"""Exports over time: AIPerf's time-sliced metrics (`--slice-duration`) and concurrency/throughput per time bucket.

- `profile_export_aiperf_timeslices.{json,csv}` (with `--slice-duration S`, as AIPerf): profiling requests are put
  in the slice of their start time, slices being multiples of S on the wall clock (so the first and last slices are
  usually partial); each non-empty slice, numbered from 0, gets the run summary computed over its requests alone:
  record-metric statistics, counts, totals, and throughputs over its own window (its first request start to its
  last response end, the run's rule).
- `profile_export_timeline.{json,csv}` (export levels records and raw): fixed buckets from the benchmark start,
  `--slice-duration` wide or chosen from the run's length; per bucket the requests started, completed and failed,
  mean and peak requests in flight, and the rates. The same numbers as `Run.timeline` (`timeline.compute_timeline`).

Everything here works on numeric per-record arrays only (engine clock ns, see `time_columns`), so it can run on
columns kept from records streamed to disk.
"""
from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aiperf.engine import ClockAnchor, ErrorKind, Phase
from aiperf.results.columns import int64
from aiperf.results.formats import (
    STAT_KEYS,
    TIMELINE_CSV,
    TIMELINE_JSON,
    TIMESLICES_CSV,
    TIMESLICES_JSON,
    metric_json_block,
)
from aiperf.results.metrics import METRICS, NS_PER_S, measurement_window, response_end_times, summary_stats
from aiperf.results.timeline import Timeline, compute_timeline

__all__ = [
    "TIMELINE_CSV",
    "TIMELINE_JSON",
    "TIMESLICES_CSV",
    "TIMESLICES_JSON",
    "TimeSlice",
    "compute_timeslices",
    "time_columns",
    "timeline_of",
    "write_time_exports",
]

_CSV_STATS = (*STAT_KEYS, "count")


@dataclass(frozen=True)
class TimeSlice:
    """One non-empty slice: the wall-clock window [start_wall_ns, end_wall_ns) its requests started in."""

    index: int  # 0, 1, ... over the non-empty slices, in time order (AIPerf's timeslice_index)
    start_wall_ns: int
    end_wall_ns: int
    summary: dict[str, dict[str, float]]  # like RunMetrics.summary, over this slice's requests


def time_columns(records: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The numeric columns `write_time_exports` needs, taken from the engine's records."""
    return {
        "start_ns": int64(records, "start_ns"),
        "response_end_ns": response_end_times(records),
        "end_ns": int64(records, "end_ns"),
        "intended_ns": int64(records, "intended_ns"),
        "phase": np.asarray(records["phase"], dtype=np.int8),
        "error_kind": np.asarray(records["error_kind"], dtype=np.int8),
    }


def compute_timeslices(columns: Mapping[str, np.ndarray], per_record: Mapping[str, np.ndarray], *,
                       slice_duration_s: float, anchor: ClockAnchor,
                       goodput: Mapping[str, float] | None = None) -> list[TimeSlice]:
    """AIPerf's time slices of the profiling requests (see the module docstring); empty slices are left out."""
    if not (slice_duration_s > 0 and math.isfinite(slice_duration_s)):
        raise ValueError(f"--slice-duration: must be a finite number > 0 (got {slice_duration_s})")
    slice_ns = max(round(slice_duration_s * NS_PER_S), 1)
    start = int64(columns, "start_ns")
    rows = np.flatnonzero((columns["phase"] == Phase.PROFILING) & (start >= 0))
    start_wall = anchor.to_wall_ns(start[rows])
    slot = start_wall // slice_ns
    order = np.argsort(slot, kind="stable")
    rows, slot = rows[order], slot[order]
    if rows.size == 0:
        return []
    bounds = np.flatnonzero(np.diff(slot)) + 1  # where the next slice's requests begin
    groups = zip(np.split(rows, bounds), slot[np.concatenate(([0], bounds))].tolist())
    # goodput SLOs on metrics this run has none of are reported once, by the run summary
    slos = {tag: value for tag, value in (goodput or {}).items() if tag in per_record} or None
    ok = columns["error_kind"] == ErrorKind.OK
    response_end = int64(columns, "response_end_ns")
    end = int64(columns, "end_ns")
    slices = []
    for index, (members, first_slot) in enumerate(groups):
        everyone = np.ones(len(members), bool)
        window_start, window_end = measurement_window(start[members], response_end[members], end[members],
                                                      everyone, default_ns=anchor.mono_ns)
        summary = summary_stats({tag: np.asarray(values)[members] for tag, values in per_record.items()},
                            ok[members], ~ok[members], duration_s=(window_end - window_start) / NS_PER_S,
                            start_wall_ns=window_start - anchor.mono_ns + anchor.wall_ns,
                            end_wall_ns=window_end - anchor.mono_ns + anchor.wall_ns, goodput=slos)
        slices.append(TimeSlice(index=index, start_wall_ns=int(first_slot) * slice_ns,
                                end_wall_ns=(int(first_slot) + 1) * slice_ns, summary=summary))
    return slices


def timeline_of(columns: Mapping[str, np.ndarray], per_record: Mapping[str, np.ndarray], *, anchor: ClockAnchor,
                bin_s: float | None = None) -> Timeline:
    """Concurrency and throughput per bucket of the profiling phase, on the wall clock (what Run.timeline shows)."""
    profiling = columns["phase"] == Phase.PROFILING

    def wall(name: str) -> np.ndarray:
        mono = int64(columns, name)[profiling]
        return anchor.to_wall_ns(mono)

    tokens = per_record.get("output_sequence_length")
    return compute_timeline(wall("start_ns"), wall("end_ns"), ok=columns["error_kind"][profiling] == ErrorKind.OK,
                            output_tokens=None if tokens is None else np.asarray(tokens)[profiling],
                            intended_start_ns=wall("intended_ns"), bin_s=bin_s)


def write_time_exports(artifact_dir: Path, *, columns: Mapping[str, np.ndarray],
                       per_record: Mapping[str, np.ndarray], slice_duration_s: float | None, export_level: str,
                       anchor: ClockAnchor, goodput: Mapping[str, float] | None = None,
                       input_config: dict[str, Any] | None = None) -> list[Path]:
    """Write the timeslice files (with a slice duration) and the timeline files (export levels records and raw);
    returns the paths written.

    `columns`: int64 `start_ns`, `response_end_ns` (last chunk, or end), `end_ns`, `intended_ns` (-1: none) on the
    engine clock, int8 `phase` (1: profiling) and `error_kind` (0: ok), one entry per record; `per_record`: the
    record metrics (`RunMetrics.per_record`: tag -> float64 per record, NaN where not applicable).
    """
    artifact_dir = Path(artifact_dir)
    written: list[Path] = []
    if slice_duration_s is not None:
        slices = compute_timeslices(columns, per_record, slice_duration_s=slice_duration_s,
                                    anchor=anchor, goodput=goodput)
        written.append(_write_json(artifact_dir / TIMESLICES_JSON, {
            "timeslices": [{"timeslice_index": s.index, **{tag: metric_json_block(tag, stats)
                                                            for tag, stats in s.summary.items()}}
                           for s in slices],
            "input_config": input_config or {},
        }))
        written.append(_write_timeslices_csv(artifact_dir / TIMESLICES_CSV, slices))
    if export_level in ("records", "raw"):
        timeline = timeline_of(columns, per_record, anchor=anchor,
                               bin_s=slice_duration_s)
        rows = _timeline_rows(timeline)
        written.append(_write_json(artifact_dir / TIMELINE_JSON, {
            "origin_ns": timeline.origin_ns, "bin_s": timeline.bin_s,
            "buckets": [dict(zip(rows[0], row)) for row in rows[1:]],
        }))
        path = artifact_dir / TIMELINE_CSV
        with path.open("w", encoding="utf-8", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows(
                [rows[0]] + [["" if v is None else v for v in row] for row in rows[1:]])
        written.append(path)
    return written


# ------------------------------------------------------------------------------------------------ files

def _write_json(path: Path, doc: dict[str, Any]) -> Path:
    with path.open("w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2, ensure_ascii=False, allow_nan=False, default=str)
        f.write("\n")
    return path


def _csv_value(tag: str, stat: str, value: float) -> str:
    """AIPerf's number format: whole counts as integers, everything else with 2 decimals."""
    spec = METRICS.get(tag)
    if (stat == "count" or (spec is not None and spec.kind == "aggregate")) and float(value).is_integer():
        return str(int(value))
    return f"{float(value):.2f}"


def _write_timeslices_csv(path: Path, slices: list[TimeSlice]) -> Path:
    """Tidy CSV as AIPerf: `Timeslice,Metric,Unit,Stat,Value`, one row per statistic, metrics by tag."""
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["Timeslice", "Metric", "Unit", "Stat", "Value"])
        for time_slice in slices:
            for tag in sorted(time_slice.summary):
                stats = time_slice.summary[tag]
                spec = METRICS.get(tag)
                record_metric = spec is not None and spec.kind == "record"
                for stat in _CSV_STATS if record_metric else ("avg",):
                    value = stats.get(stat)
                    if value is not None and np.isfinite(value):
                        writer.writerow([time_slice.index, spec.header if spec else tag, stats.get("unit", ""),
                                         stat, _csv_value(tag, stat, value)])
    return path


def _timeline_rows(timeline: Timeline) -> list[list[Any]]:
    """Header, then one row per bucket: JSON-ready numbers (None for an undefined mean)."""
    columns: dict[str, np.ndarray | None] = {
        "time_s": timeline.time_s,
        "duration_s": timeline.covered_s,
        "requests_started": timeline.started,
        "requests_completed": timeline.completed,
        "requests_failed": timeline.failed,
        "concurrency": timeline.concurrency,
        "max_concurrency": timeline.max_concurrency,
        "send_rate": timeline.send_rate,
        "request_throughput": timeline.request_throughput,
        "error_rate": timeline.error_rate,
        "output_tokens": timeline.output_tokens,
        "output_token_throughput": timeline.output_token_throughput,
        "intended_rate": timeline.intended_rate,
        "send_lag_ms": timeline.send_lag_ms,
    }
    present = {name: values for name, values in columns.items() if values is not None}
    as_lists = []
    for values in present.values():
        if values.dtype.kind in "iu":
            as_lists.append(values.tolist())
        else:
            as_lists.append([round(v, 6) if np.isfinite(v) else None for v in values.tolist()])
    return [list(present), *map(list, zip(*as_lists))]
