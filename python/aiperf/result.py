"""ProfileResult: what aiperf.profile() returns and aiperf.load() reads back from an artifact folder."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SUMMARY_FILE = "profile_export_aiperf.json"
RECORDS_FILE = "profile_export.jsonl"
# Summary-file keys that are not metrics.
_SUMMARY_META_KEYS = {"schema_version", "aiperf_version", "benchmark_id", "start_time", "end_time", "was_cancelled",
                      "input_config", "error_summary", "run_info", "telemetry_data", "warmup_metrics"}


class ArtifactError(ValueError):
    """An artifact folder that cannot be read back; the message names the missing file or field."""


@dataclass
class ProfileResult:
    """Summary metrics, per-request records and the artifact folder of one run."""

    summary: dict[str, dict[str, Any]]  # metric tag -> {"unit", "avg", "min", ..., "p99", "std", "count"}
    artifact_dir: Path
    config: dict[str, Any]
    was_cancelled: bool = False
    error_summary: list[dict[str, Any]] = field(default_factory=list)
    _records_builder: Any = field(default=None, repr=False)
    _records_cache: Any = field(default=None, repr=False)

    @property
    def records(self):  # -> pandas.DataFrame
        """One row per request (warm-up included, see `benchmark_phase`), times in ms, errors as columns."""
        if self._records_cache is None:
            if self._records_builder is None:
                raise ArtifactError(f"{self.artifact_dir}: no per-request records (run with --export-level records)")
            self._records_cache = self._records_builder()
        return self._records_cache

    def metric(self, tag: str, stat: str = "avg") -> float:
        return self.summary[tag][stat]

    def __repr__(self) -> str:
        count = self.summary.get("request_count", {}).get("avg")
        return f"ProfileResult(artifact_dir={str(self.artifact_dir)!r}, request_count={count})"

    # ---- construction -------------------------------------------------------------------------------------
    @classmethod
    def from_run(cls, *, config: Any, endpoint: Any, metrics: Any, records: dict, request_inputs: Any,
                 artifact_dir: Path, was_cancelled: bool, anchor_wall_ns: int, anchor_mono_ns: int,
                 request_id_prefix: str) -> "ProfileResult":
        def build():
            return records_frame(records, metrics.per_record, request_inputs, anchor_wall_ns, anchor_mono_ns,
                                 request_id_prefix)

        return cls(summary=metrics.summary, artifact_dir=artifact_dir, config=config.to_dict(),
                   was_cancelled=was_cancelled, error_summary=metrics.errors, _records_builder=build)


def records_frame(records: dict, per_record: dict, request_inputs: Any, anchor_wall_ns: int, anchor_mono_ns: int,
                  request_id_prefix: str):
    """Per-request DataFrame from the engine's columnar records (no per-record Python objects but the ids)."""
    import numpy as np
    import pandas as pd

    from .export import error_columns

    n = len(records["request_index"])
    body = records["body_index"].astype(np.int64)

    def wall(mono):
        mono = mono.astype(np.int64)
        return np.where(mono >= 0, mono - anchor_mono_ns + anchor_wall_ns, -1)

    session_ids = np.asarray(request_inputs.session_ids, dtype=object)
    turn_indices = np.asarray(request_inputs.turn_indices, dtype=np.int64)
    columns: dict[str, Any] = {
        "x_request_id": [f"{request_id_prefix}{i:012x}" for i in records["request_index"].tolist()],
        "conversation_id": session_ids[body] if n else np.array([], dtype=object),
        "turn_index": turn_indices[body] if n else np.array([], dtype=np.int64),
        "benchmark_phase": np.where(records["phase"] == 1, "profiling", "warmup"),
        "worker_id": records["worker_id"],
        "request_start_ns": wall(records["start_ns"]),
        "request_ack_ns": wall(records["ack_ns"]),
        "request_end_ns": wall(records["end_ns"]),
        "status": records["status"],
        "was_cancelled": records["was_cancelled"].astype(bool),
    }
    columns.update(error_columns(records))
    for tag, values in per_record.items():
        if isinstance(values, np.ndarray) and values.ndim == 1 and len(values) == n and values.dtype != object:
            columns[tag] = values
    return pd.DataFrame(columns)


def load(path: str | Path) -> ProfileResult:
    """Read an artifact folder written by `aiperf profile` back into a ProfileResult."""
    folder = Path(path)
    if not folder.is_dir():
        raise ArtifactError(f"{folder}: not a folder")
    summary_path = folder / SUMMARY_FILE
    if not summary_path.is_file():
        raise ArtifactError(f"{folder}: not an aiperf artifact folder ({SUMMARY_FILE} is missing)")
    try:
        data = json.loads(summary_path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise ArtifactError(f"{summary_path}: not valid JSON ({e})") from None
    for key in ("aiperf_version", "input_config"):
        if key not in data:
            raise ArtifactError(f"{summary_path}: field {key!r} is missing (written by another tool or version?)")
    summary = {k: v for k, v in data.items() if k not in _SUMMARY_META_KEYS and isinstance(v, dict) and "unit" in v}
    records_path = folder / RECORDS_FILE
    builder = (lambda: _records_from_jsonl(records_path)) if records_path.is_file() else None
    return ProfileResult(summary=summary, artifact_dir=folder, config=data["input_config"],
                         was_cancelled=bool(data.get("was_cancelled", False)),
                         error_summary=[_flat_error(e) for e in data.get("error_summary") or []],
                         _records_builder=builder)


def _flat_error(entry: dict[str, Any]) -> dict[str, Any]:
    """AIPerf's {"error_details": {code, type, message}, "count"} as the flat shape of a fresh run."""
    details = entry.get("error_details") or {}
    return {"code": details.get("code"), "type": details.get("type"), "message": details.get("message"),
            "count": entry.get("count", 0)}


def _records_from_jsonl(path: Path):
    import pandas as pd

    rows: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as f:
        for line_number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                meta = obj["metadata"]
            except (ValueError, KeyError, TypeError):
                raise ArtifactError(f"{path}:{line_number}: not a record line (field 'metadata')") from None
            row = {
                "x_request_id": meta.get("x_request_id"),
                "conversation_id": meta.get("conversation_id"),
                "turn_index": meta.get("turn_index"),
                "benchmark_phase": meta.get("benchmark_phase"),
                "worker_id": meta.get("worker_id"),
                "request_start_ns": meta.get("request_start_ns"),
                "request_ack_ns": meta.get("request_ack_ns"),
                "request_end_ns": meta.get("request_end_ns"),
                "was_cancelled": bool(meta.get("was_cancelled", False)),
            }
            error = obj.get("error") or {}
            row["error_code"] = error.get("code")
            row["error_type"] = error.get("type")
            row["error_message"] = error.get("message")
            for tag, value in (obj.get("metrics") or {}).items():
                if isinstance(value, dict) and not isinstance(value.get("value"), list):
                    row[tag] = value.get("value")
            rows.append(row)
    return pd.DataFrame(rows)
