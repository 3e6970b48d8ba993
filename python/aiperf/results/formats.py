"""The artifact folder's fixed formats (AIPerf's): file and folder names, the statistics of a summary, and how one
metric of a summary is written as JSON. Shared by the exports of a run and of its time slices."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from aiperf.results.metrics.registry import METRICS

__all__ = [
    "INPUTS_JSON",
    "JSON_STAT_KEYS",
    "RAW_JSONL",
    "RECORDS_JSONL",
    "SCHEMA_VERSION",
    "STAT_KEYS",
    "SUMMARY_CSV",
    "SUMMARY_JSON",
    "TIMELINE_CSV",
    "TIMELINE_JSON",
    "TIMESLICES_CSV",
    "TIMESLICES_JSON",
    "artifact_dir_name",
    "json_number",
    "metric_json_block",
]

SCHEMA_VERSION = "1.5"
SUMMARY_JSON = "profile_export_aiperf.json"
SUMMARY_CSV = "profile_export_aiperf.csv"
RECORDS_JSONL = "profile_export.jsonl"
RAW_JSONL = "profile_export_raw.jsonl"
INPUTS_JSON = "inputs.json"
TIMESLICES_JSON = "profile_export_aiperf_timeslices.json"
TIMESLICES_CSV = "profile_export_aiperf_timeslices.csv"
TIMELINE_JSON = "profile_export_timeline.json"
TIMELINE_CSV = "profile_export_timeline.csv"
STAT_KEYS = ("avg", "min", "max", "p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99", "std")
JSON_STAT_KEYS = (*STAT_KEYS, "count", "sum")


def artifact_dir_name(model: str, endpoint_type: str, *, concurrency: int | None, request_rate: float | None,
                      fixed_schedule: bool = False) -> str:
    """AIPerf's folder name: `<model, '/'→'_'>-openai-<endpoint_type>-<stimulus>`."""
    if fixed_schedule:
        stimulus = ["fixed_schedule"]
    else:
        stimulus = []
        if concurrency is not None:
            stimulus.append(f"concurrency{int(concurrency)}")
        if request_rate is not None:
            stimulus.append(f"request_rate{float(request_rate)}")
    parts = [model.replace("/", "_"), "openai", endpoint_type]
    if stimulus:
        parts.append("-".join(stimulus))
    return "-".join(parts)


def json_number(value: float) -> float | None:
    """A float for JSON: whole numbers stay floats, NaN/inf become null (JSON has no NaN)."""
    value = float(value)
    return value if np.isfinite(value) else None


def metric_json_block(tag: str, stats: Mapping[str, float]) -> dict[str, Any]:
    """One metric of a summary as AIPerf writes it: `unit` and the statistics (record metrics), or `unit` and
    `avg` (counts, totals, throughputs)."""
    spec = METRICS.get(tag)
    block: dict[str, Any] = {"unit": stats.get("unit", spec.unit if spec else "")}
    keys = JSON_STAT_KEYS if spec is not None and spec.kind == "record" else ("avg",)
    for key in keys:
        if key in stats:
            block[key] = int(stats[key]) if key == "count" else json_number(stats[key])
    return block
