"""Run (alias ProfileResult): what aiperf.profile() returns and aiperf.load() reads back from an artifact folder.

Exports are the source of truth: a loaded run is built from the files alone and has the same records columns
as a fresh one (RECORD_COLUMNS, then the record metrics).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aiperf.errors import ArtifactError

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    from aiperf.analysis.gallery import GeneratedImage
    from aiperf.config import ProfileConfig
    from aiperf.engine import Records
    from aiperf.inputs.endpoints import Endpoint
    from aiperf.results.export import RequestInputs
    from aiperf.results.metrics import RunMetrics

SUMMARY_FILE = "profile_export_aiperf.json"
RECORDS_FILE = "profile_export.jsonl"
# Summary-file keys that are not metrics.
_SUMMARY_META_KEYS = {"schema_version", "aiperf_version", "benchmark_id", "start_time", "end_time", "was_cancelled",
                      "input_config", "error_summary", "run_info", "telemetry_data", "warmup_metrics"}


@dataclass
class Run:
    """One benchmark run: summary metrics, per-request records, timeline, config and artifact folder.

    What `aiperf.profile()` returns and `aiperf.load()` reads back; both give the same values, because a loaded
    run is read from the export files alone.
    """

    summary: dict[str, dict[str, Any]]  # metric tag -> {"unit", "avg", "min", ..., "p99", "std", "count"}
    artifact_dir: Path
    config: dict[str, Any]
    was_cancelled: bool = False
    error_summary: list[dict[str, Any]] = field(default_factory=list)
    name: str | None = None  # label in comparisons and plots; default: the artifact folder's name
    _records_builder: Callable[[], pd.DataFrame] | None = field(default=None, repr=False)
    _records_cache: pd.DataFrame | None = field(default=None, repr=False)
    _timeline_cache: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def label(self) -> str:
        return self.name or Path(self.artifact_dir).name

    @property
    def records(self) -> pd.DataFrame:
        """One row per request (warm-up included, see `benchmark_phase`), times in ms, errors as columns.

        Columns: RECORD_COLUMNS (ids, phase, epoch-ns timestamps, `start_ms`/`end_ms` since the benchmark start,
        `error_code`/`error_type`/`error_message`), then one float column per record metric in its unit.
        """
        if self._records_cache is None:
            if self._records_builder is None:
                raise ArtifactError(f"{self.artifact_dir}: no per-request records ({RECORDS_FILE} is missing; "
                                    "run with --export-level records or raw)")
            self._records_cache = _finish_records(self._records_builder())
        return self._records_cache

    @property
    def timeline(self) -> pd.DataFrame:
        """Throughput and concurrency over time of the profiling phase (see `timeline_frame()`)."""
        if self._timeline_cache is None:
            self._timeline_cache = self.timeline_frame()
        return self._timeline_cache

    def timeline_frame(self, bin_s: float | None = None, include_warmup: bool = False) -> pd.DataFrame:
        """Per time bin: `time_s` (bin start, seconds since the benchmark start), `request_throughput`,
        `error_rate`, `send_rate` (requests/s), `concurrency` (mean in flight), `max_concurrency`,
        `output_token_throughput` (tokens/s, when the run counted output tokens) and, for runs with a send
        schedule, `intended_rate` and `send_lag_ms`. `bin_s` default: about 60 bins."""
        import pandas as pd

        from aiperf.results.timeline import compute_timeline

        records = self.records
        if not include_warmup:
            records = records[records["benchmark_phase"] == "profiling"]
        intended = records.get("intended_start_ns")
        tokens = records.get("output_sequence_length")
        timeline = compute_timeline(
            _ns_array(records["request_start_ns"]), _end_ns(records), ok=records["error_type"].isna().to_numpy(),
            output_tokens=None if tokens is None else tokens.to_numpy(dtype=float, na_value=np.nan),
            intended_start_ns=None if intended is None else _ns_array(intended),
            origin_ns=_origin_ns(records), bin_s=bin_s)
        return pd.DataFrame(timeline.columns())

    def images(self, limit: int | None = None) -> list[GeneratedImage]:
        """Decoded generated/edited images with their prompts, sizes and latencies, from the raw export."""
        from aiperf.analysis.gallery import read_images

        try:
            return list(read_images(self.artifact_dir, limit))
        except FileNotFoundError as e:
            raise ArtifactError(str(e)) from None

    def metric(self, tag: str, stat: str = "avg") -> float:
        """One summary statistic, e.g. run.metric("time_to_first_token", "p99")."""
        if tag not in self.summary:
            raise KeyError(f"{self.label}: no metric {tag!r} (this run has: {', '.join(self.summary)})")
        return float(self.summary[tag][stat])

    def __repr__(self) -> str:
        count = self.summary.get("request_count", {}).get("avg")
        return f"Run(artifact_dir={str(self.artifact_dir)!r}, request_count={count})"

    # ---- construction -------------------------------------------------------------------------------------
    @classmethod
    def from_run(cls, *, config: ProfileConfig, endpoint: Endpoint, metrics: RunMetrics, records: Records,
                 request_inputs: RequestInputs, artifact_dir: Path, was_cancelled: bool, anchor_wall_ns: int,
                 anchor_mono_ns: int, request_id_prefix: str) -> Run:
        def build() -> pd.DataFrame:
            return records_frame(records, metrics.per_record, request_inputs, anchor_wall_ns, anchor_mono_ns,
                                 request_id_prefix)

        return cls(summary=metrics.summary, artifact_dir=artifact_dir, config=config.to_dict(),
                   was_cancelled=was_cancelled, error_summary=metrics.errors, _records_builder=build)


ProfileResult = Run  # the name of the first releases

# Columns every records frame starts with, in this order (metric columns follow).
RECORD_COLUMNS = ("x_request_id", "session_num", "conversation_id", "turn_index", "benchmark_phase", "worker_id",
                  "request_start_ns", "request_ack_ns", "request_end_ns", "intended_start_ns",
                  "cancellation_time_ns", "was_cancelled", "error_code", "error_type", "error_message",
                  "start_ms", "end_ms", "send_lag_ms")
_NS_COLUMNS = ("request_start_ns", "request_ack_ns", "request_end_ns", "intended_start_ns", "cancellation_time_ns")


def _ns_array(column: pd.Series) -> np.ndarray:
    """A nullable ns column as int64 with -1 for missing."""
    return np.asarray(column.astype("Int64").fillna(-1).to_numpy(dtype=np.int64))


def _end_ns(records: pd.DataFrame) -> np.ndarray:
    """When each request stopped occupying a slot: its end, or its cancellation time."""
    end = _ns_array(records["request_end_ns"])
    cancelled = _ns_array(records["cancellation_time_ns"])
    return np.where(end > 0, end, cancelled)


def _origin_ns(records: pd.DataFrame) -> int | None:
    """Benchmark start: the first profiling request's start (or scheduled start, if earlier)."""
    import pandas as pd

    profiling = records[records["benchmark_phase"] == "profiling"]
    if profiling.empty:
        profiling = records
    firsts = [profiling[c].min() for c in ("request_start_ns", "intended_start_ns") if c in profiling]
    firsts = [int(v) for v in firsts if not pd.isna(v)]
    return min(firsts) if firsts else None


def _finish_records(frame: pd.DataFrame) -> pd.DataFrame:
    """Shared last step of both builders: nullable ns columns, derived ms columns, one column order."""
    import pandas as pd

    from aiperf.results.metrics import METRICS

    for column in _NS_COLUMNS:
        frame[column] = (pd.array(frame[column], dtype="Int64") if column in frame
                         else pd.array([None] * len(frame), dtype="Int64"))
    frame["error_code"] = pd.array(frame["error_code"], dtype="Int64")
    for column in ("error_type", "error_message"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    frame["was_cancelled"] = frame["was_cancelled"].astype(bool)
    origin = _origin_ns(frame)
    origin = 0 if origin is None else origin

    def since_start_ms(column: str) -> pd.Series:
        return (frame[column] - origin).astype("Float64").astype(float) / 1e6

    frame["start_ms"] = since_start_ms("request_start_ns")
    frame["end_ms"] = since_start_ms("request_end_ns")
    frame["send_lag_ms"] = (frame["request_start_ns"] - frame["intended_start_ns"]).astype("Float64").astype(
        float) / 1e6
    # a metric no request has a value for is absent, as it is from profile_export.jsonl
    metric_columns = [c for c in frame.columns if c not in RECORD_COLUMNS and frame[c].notna().any()]
    order = {tag: i for i, tag in enumerate(METRICS)}
    metric_columns.sort(key=lambda tag: (order.get(tag, len(order)), tag))
    for column in metric_columns:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype(float)
    return frame[list(RECORD_COLUMNS) + metric_columns].reset_index(drop=True)


def records_frame(records: Records, per_record: dict[str, np.ndarray], request_inputs: RequestInputs,
                  anchor_wall_ns: int, anchor_mono_ns: int, request_id_prefix: str) -> pd.DataFrame:
    """Per-request DataFrame from the engine's columnar records (no per-record Python objects but the ids)."""
    import pandas as pd

    from aiperf.engine import Phase
    from aiperf.results.export import error_columns
    from aiperf.results.metrics import METRICS

    n = len(records["request_index"])
    body = records["body_index"].astype(np.int64)

    def wall(mono: np.ndarray) -> pd.arrays.IntegerArray:
        mono = np.asarray(mono, dtype=np.int64)
        return pd.arrays.IntegerArray(np.where(mono >= 0, mono - anchor_mono_ns + anchor_wall_ns, 0), mono < 0)

    session_ids = np.asarray(request_inputs.session_ids, dtype=object)
    turn_indices = np.asarray(request_inputs.turn_indices, dtype=np.int64)
    cancelled = records["was_cancelled"].astype(bool)
    end = np.asarray(records["end_ns"], dtype=np.int64)
    columns: dict[str, Any] = {
        "x_request_id": [f"{request_id_prefix}{i:012x}" for i in records["request_index"].tolist()],
        "conversation_id": session_ids[body] if n else np.array([], dtype=object),
        "session_num": (records["session_num"].astype(np.int64) if "session_num" in records
                        else records["request_index"].astype(np.int64)),
        "turn_index": turn_indices[body] if n else np.array([], dtype=np.int64),
        "benchmark_phase": np.where(records["phase"] == Phase.PROFILING, "profiling", "warmup"),
        "worker_id": records["worker_id"].astype(np.int64),
        "request_start_ns": wall(records["start_ns"]),
        "request_ack_ns": wall(records["ack_ns"]),
        "request_end_ns": wall(records["end_ns"]),
        "cancellation_time_ns": wall(np.where(cancelled, end, -1)),
        "was_cancelled": cancelled,
    }
    if "intended_ns" in records:  # open-loop schedules and think times (engine clock, -1: none)
        columns["intended_start_ns"] = wall(records["intended_ns"])
    columns.update(error_columns(records))
    for tag, values in per_record.items():
        if tag in METRICS and METRICS[tag].kind != "record":  # counters are summed, never per record
            continue
        if isinstance(values, np.ndarray) and values.ndim == 1 and len(values) == n and values.dtype != object:
            columns[tag] = values
    return pd.DataFrame(columns)


def load(path: str | Path, name: str | None = None) -> Run:
    """Read an artifact folder written by `aiperf profile` back into a Run (from the export files alone)."""
    folder = Path(path)
    if not folder.is_dir():
        raise ArtifactError(f"{folder}: not a folder" if not folder.exists() or folder.name != SUMMARY_FILE
                            else f"{folder}: give the artifact folder, not the file")
    summary_path = folder / SUMMARY_FILE
    if not summary_path.is_file():
        raise ArtifactError(f"{folder}: not an aiperf artifact folder ({SUMMARY_FILE} is missing)")
    try:
        data = json.loads(summary_path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ArtifactError(f"{summary_path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ArtifactError(f"{summary_path}: not a JSON object")
    for key in ("aiperf_version", "input_config"):
        if key not in data:
            raise ArtifactError(f"{summary_path}: field {key!r} is missing (written by another tool or version?)")
    summary = {k: v for k, v in data.items() if k not in _SUMMARY_META_KEYS and isinstance(v, dict) and "unit" in v}
    records_path = folder / RECORDS_FILE
    builder = (lambda: _records_from_jsonl(records_path)) if records_path.is_file() else None
    return Run(summary=summary, artifact_dir=folder, config=data["input_config"],
               was_cancelled=bool(data.get("was_cancelled", False)),
               error_summary=[_flat_error(e) for e in data.get("error_summary") or []], name=name,
               _records_builder=builder)


def find_artifact_dirs(paths: list[str | Path]) -> list[Path]:
    """Artifact folders named by `paths`: each path itself or, for a folder that is not one but holds some (a
    sweep), those, sorted by name. A path that is neither is an ArtifactError naming the missing file."""
    found: list[Path] = []
    for path in map(Path, paths):
        if (path / SUMMARY_FILE).is_file() or not path.is_dir():
            found.append(path)
            continue
        children = sorted(p.parent for p in path.glob(f"*/{SUMMARY_FILE}"))
        if not children:
            raise ArtifactError(f"{path}: not an aiperf artifact folder ({SUMMARY_FILE} is missing, and no "
                                "folder in it has one)")
        found.extend(children)
    return found


def _flat_error(entry: dict[str, Any]) -> dict[str, Any]:
    """AIPerf's {"error_details": {code, type, message}, "count"} as the flat shape of a fresh run."""
    details = entry.get("error_details") or {}
    return {"code": details.get("code"), "type": details.get("type"), "message": details.get("message"),
            "count": entry.get("count", 0)}


_METADATA_FIELDS = ("x_request_id", "session_num", "conversation_id", "turn_index", "benchmark_phase", "worker_id",
                    "request_start_ns", "request_ack_ns", "request_end_ns", "intended_start_ns",
                    "cancellation_time_ns", "was_cancelled")
_REQUIRED_METADATA = ("benchmark_phase", "request_start_ns", "request_end_ns")


def _records_from_jsonl(path: Path) -> pd.DataFrame:
    """The records frame from profile_export.jsonl, one column list per field (no per-row dicts kept)."""
    import pandas as pd

    columns: dict[str, list[Any]] = {name: [] for name in (*_METADATA_FIELDS, "error_code", "error_type",
                                                             "error_message")}
    metrics: dict[str, list[Any]] = {}
    row = 0
    with path.open(encoding="utf-8") as f:
        for line_number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                meta = obj["metadata"]
                if not isinstance(meta, dict):
                    raise TypeError
            except (ValueError, KeyError, TypeError):
                raise ArtifactError(f"{path}:{line_number}: not a record line (field 'metadata')") from None
            for required in _REQUIRED_METADATA:
                if required not in meta:
                    raise ArtifactError(f"{path}:{line_number}: field 'metadata.{required}' is missing "
                                        "(written by another tool or version?)")
            for name in _METADATA_FIELDS:
                columns[name].append(meta.get(name))
            error = obj.get("error") or {}
            columns["error_code"].append(error.get("code"))
            columns["error_type"].append(error.get("type"))
            columns["error_message"].append(error.get("message"))
            for tag, value in (obj.get("metrics") or {}).items():
                if isinstance(value, dict) and not isinstance(value.get("value"), list):
                    values = metrics.get(tag)
                    if values is None:
                        values = metrics[tag] = [None] * row
                    values.append(value.get("value"))
            row += 1
            for values in metrics.values():
                if len(values) < row:
                    values.append(None)
    columns["was_cancelled"] = [bool(v) for v in columns["was_cancelled"]]
    frame = pd.DataFrame(columns)
    for tag, values in metrics.items():
        frame[tag] = np.array(values, dtype=float)
    return frame
