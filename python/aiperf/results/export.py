"""Artifact files of a run, in AIPerf's formats: summary JSON and CSV, per-request JSONL, raw JSONL, inputs.json.

JSONL files are streamed to disk in batches. Per-record lines are assembled from columns converted to text once
(numbers formatted in bulk, payloads serialised once per body), so large runs stay fast and memory stays flat.
"""
from __future__ import annotations

import csv
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from aiperf.inputs.payloads import fill_history
from aiperf.results.metrics import METRICS, RunMetrics, SessionHistory, decode_ragged, error_code, error_type_name

__all__ = [
    "INPUTS_JSON",
    "RAW_JSONL",
    "RECORDS_JSONL",
    "SCHEMA_VERSION",
    "STAT_KEYS",
    "SUMMARY_CSV",
    "SUMMARY_JSON",
    "RecordsWriter",
    "RequestInputs",
    "artifact_dir_name",
    "error_columns",
    "metric_json_block",
    "write_exports",
    "write_summary_files",
]

SCHEMA_VERSION = "1.5"
SUMMARY_JSON = "profile_export_aiperf.json"
SUMMARY_CSV = "profile_export_aiperf.csv"
RECORDS_JSONL = "profile_export.jsonl"
RAW_JSONL = "profile_export_raw.jsonl"
INPUTS_JSON = "inputs.json"
STAT_KEYS = ("avg", "min", "max", "p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99", "std")
_JSON_STAT_KEYS = (*STAT_KEYS, "count", "sum")
_BATCH = 8192  # lines written per write() call
_SSE_DONE = "[DONE]"


@dataclass
class RequestInputs:
    """What was sent, indexed by records["body_index"]."""

    payloads: list[dict]  # the JSON body (payload description) per body index
    session_ids: list[str]
    turn_indices: list[int]
    request_headers: dict[str, str] = field(default_factory=dict)  # sent with every request, secrets redacted


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


# ------------------------------------------------------------------------------------------------ helpers

def _wall(mono_ns: np.ndarray, anchor_wall_ns: int, anchor_mono_ns: int) -> np.ndarray:
    mono_ns = np.asarray(mono_ns, dtype=np.int64)
    return np.where(mono_ns >= 0, mono_ns - anchor_mono_ns + anchor_wall_ns, -1)


def _json_number(value: float) -> Any:
    """A float for JSON: whole numbers stay floats, NaN/inf become null (JSON has no NaN)."""
    value = float(value)
    return value if np.isfinite(value) else None


def _int_or_null_strings(values: np.ndarray) -> list[str]:
    values = np.asarray(values, dtype=np.int64)
    out = list(map(str, values.tolist()))
    for i in np.flatnonzero(values < 0).tolist():
        out[i] = "null"
    return out


def _float_strings(values: np.ndarray, integer: bool) -> list[str]:
    """JSON text of each value, formatted in bulk (NaN entries are never used by callers)."""
    values = np.asarray(values, dtype=np.float64)
    if integer:
        return list(map(str, np.nan_to_num(values, nan=0.0).astype(np.int64).tolist()))
    return list(map(repr, values.tolist()))


def _ragged_float_texts(offsets: np.ndarray, values: np.ndarray) -> list[str]:
    """Comma-separated values per row of a ragged float column, without a Python join per row."""
    strings = list(map(repr, np.asarray(values, dtype=np.float64).tolist()))
    if not strings:
        return [""] * (len(offsets) - 1)
    joined = ",".join(strings)
    lengths = np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))
    char_start = np.concatenate(([0], np.cumsum(lengths + 1)))  # value j starts at char_start[j]
    offsets = np.asarray(offsets, dtype=np.int64)
    begin = char_start[offsets[:-1]]
    end = np.maximum(char_start[offsets[1:]] - 1, begin)
    return [joined[s:e] for s, e in zip(begin.tolist(), end.tolist())]


def _iso(epoch_ns: int) -> str:
    return datetime.fromtimestamp(epoch_ns / 1e9, tz=timezone.utc).isoformat()


def error_columns(records: dict[str, np.ndarray]) -> dict[str, Any]:
    """error_code / error_type / error_message per record (None when the request succeeded)."""
    kinds = np.asarray(records["error_kind"])
    n = len(kinds)
    code = np.full(n, None, dtype=object)
    etype = np.full(n, None, dtype=object)
    message = np.full(n, None, dtype=object)
    failed = np.flatnonzero(kinds != 0)
    if failed.size:
        statuses = np.asarray(records["status"])[failed].tolist()
        fkinds = kinds[failed].tolist()
        code[failed] = [error_code(k, s) for k, s in zip(fkinds, statuses)]
        etype[failed] = [error_type_name(k) for k in fkinds]
        message[failed] = decode_ragged(records["error_message_offsets"], records["error_message"], failed)
    return {"error_code": code, "error_type": etype, "error_message": message}


def _error_json(records: dict[str, np.ndarray]) -> list[str]:
    """JSON text of each record's `error` field ("null" when it succeeded)."""
    columns = error_columns(records)
    out = ["null"] * len(columns["error_code"])
    for i in np.flatnonzero(np.asarray(records["error_kind"]) != 0).tolist():
        out[i] = json.dumps({"code": columns["error_code"][i], "type": columns["error_type"][i],
                             "message": columns["error_message"][i]})
    return out


def _metadata_json(records: dict[str, np.ndarray], request_inputs: RequestInputs, anchor_wall_ns: int,
                   anchor_mono_ns: int, request_id_prefix: str) -> list[str]:
    """JSON text of each record's `metadata` object, built from columns."""
    request_index = np.asarray(records["request_index"], dtype=np.int64).tolist()
    n = len(request_index)
    session_num = np.asarray(records.get("session_num", records["request_index"]), dtype=np.int64).tolist()
    intended = _int_or_null_strings(_wall(records.get("intended_ns", np.full(n, -1, dtype=np.int64)),
                                          anchor_wall_ns, anchor_mono_ns))
    body = np.asarray(records["body_index"], dtype=np.int64)
    session_ids = [json.dumps(s) for s in request_inputs.session_ids]
    turn_indices = [str(int(t)) for t in request_inputs.turn_indices]
    start = _int_or_null_strings(_wall(records["start_ns"], anchor_wall_ns, anchor_mono_ns))
    ack = _int_or_null_strings(_wall(records["ack_ns"], anchor_wall_ns, anchor_mono_ns))
    end_wall = _wall(records["end_ns"], anchor_wall_ns, anchor_mono_ns)
    end = _int_or_null_strings(end_wall)
    cancelled = np.asarray(records["was_cancelled"], dtype=bool)
    cancel_time = _int_or_null_strings(np.where(cancelled, end_wall, -1))
    worker = np.asarray(records["worker_id"], dtype=np.int64).tolist()
    phase = np.where(np.asarray(records["phase"]) == 1, '"profiling"', '"warmup"').tolist()
    cancelled_text = np.where(cancelled, "true", "false").tolist()
    prefix = json.dumps(request_id_prefix)[1:-1].replace("%", "%%")
    x_request_ids = [f"{i:012x}" for i in request_index]
    sessions = [session_ids[b] for b in body.tolist()]
    turns = [turn_indices[b] for b in body.tolist()]
    template = ('{"session_num":%s,"x_request_id":"' + prefix + '%s","x_correlation_id":%s,"conversation_id":%s,'
                '"turn_index":%s,"intended_start_ns":%s,"request_start_ns":%s,"request_ack_ns":%s,'
                '"request_end_ns":%s,"worker_id":%s,"record_processor_id":0,"benchmark_phase":%s,"was_cancelled":%s,'
                '"cancellation_time_ns":%s}')
    return list(map(template.__mod__, zip(session_num, x_request_ids, sessions, sessions, turns, intended, start, ack,
                                          end, worker, phase, cancelled_text, cancel_time)))


def _metrics_json(per_record: dict[str, np.ndarray], per_record_lists: dict[str, tuple[np.ndarray, np.ndarray]],
                  n: int) -> list[str]:
    """JSON text of each record's `metrics` object: the record metrics that have a value for it."""
    tags = [tag for tag, values in per_record.items()
            if METRICS[tag].kind == "record" and not METRICS[tag].no_individual_records and len(values) == n]
    lists = {tag: v for tag, v in per_record_lists.items() if tag in METRICS}
    all_tags = tags + list(lists)
    if not all_tags or n == 0:
        return ["{}"] * n
    # which metrics each record has, as a bit mask; records with the same mask share one template
    present = np.zeros(n, dtype=np.int64)
    for bit, tag in enumerate(tags):
        present |= np.isfinite(per_record[tag]).astype(np.int64) << bit
    columns: dict[str, Any] = {}
    for j, (tag, (offsets, values)) in enumerate(lists.items()):
        counts = offsets[1:] - offsets[:-1]
        present |= (counts > 0).astype(np.int64) << (len(tags) + j)
        columns[tag] = _ragged_float_texts(offsets, values)
    for tag in tags:
        columns[tag] = _float_strings(per_record[tag], METRICS[tag].integer)
    masks = np.unique(present).tolist()
    out: list[str] | np.ndarray = [] if len(masks) == 1 else np.empty(n, dtype=object)
    for mask in masks:
        chosen = [tag for bit, tag in enumerate(all_tags) if mask >> bit & 1]
        template = "{" + ",".join(
            f'"{tag}":{{"value":{"[%s]" if tag in lists else "%s"},'
            f'"unit":{json.dumps(METRICS[tag].unit).replace("%", "%%")}}}' for tag in chosen) + "}"
        if len(masks) == 1:  # the common case: every record has the same metrics
            cols = [columns[tag] for tag in chosen]
            return list(map(template.__mod__, zip(*cols))) if cols else ["{}"] * n
        rows = np.flatnonzero(present == mask)
        cols = [np.asarray(columns[tag], dtype=object)[rows].tolist() for tag in chosen]
        out[rows] = list(map(template.__mod__, zip(*cols))) if cols else ["{}"] * len(rows)
    return list(out)


def _write_lines(f: Any, lines: Any) -> None:
    batch: list[str] = []
    for line in lines:
        batch.append(line)
        if len(batch) >= _BATCH:
            f.write("\n".join(batch) + "\n")
            batch.clear()
    if batch:
        f.write("\n".join(batch) + "\n")


def _parse_header_block(block: str, redact: Callable[[dict[str, str]], dict[str, str]] | None) -> dict[str, str]:
    """Headers of the last response in a raw header block (skips 1xx interim responses)."""
    headers: dict[str, str] = {}
    for line in block.replace("\r\n", "\n").split("\n"):
        if line.startswith("HTTP/"):
            headers = {}
        elif ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip()] = value.strip()
    return redact(headers) if redact else headers


# ------------------------------------------------------------------------------------------------ files

def metric_json_block(tag: str, stats: dict[str, float]) -> dict[str, Any]:
    """One metric of a summary as AIPerf writes it: `unit` and the statistics (record metrics), or `unit` and
    `avg` (counts, totals, throughputs)."""
    block: dict[str, Any] = {"unit": stats.get("unit", METRICS[tag].unit if tag in METRICS else "")}
    keys = _JSON_STAT_KEYS if METRICS.get(tag) and METRICS[tag].kind == "record" else ("avg",)
    for key in keys:
        if key in stats:
            block[key] = int(stats[key]) if key == "count" else _json_number(stats[key])
    return block


def _summary_json(metrics: RunMetrics, input_config: dict, aiperf_version: str, was_cancelled: bool) -> dict:
    doc: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "aiperf_version": aiperf_version,
        "benchmark_id": str(uuid.uuid4()),
        "start_time": _iso(metrics.start_wall_ns),
        "end_time": _iso(metrics.end_wall_ns),
        "was_cancelled": bool(was_cancelled),
        "input_config": input_config,
        "error_summary": [{"error_details": {"code": e["code"], "type": e["type"], "message": e["message"]},
                           "count": int(e["count"])} for e in metrics.errors],
    }
    for tag, stats in metrics.summary.items():
        doc[tag] = metric_json_block(tag, stats)
    if "benchmark_duration" not in doc:
        doc["benchmark_duration"] = {"unit": "sec", "avg": _json_number(metrics.benchmark_duration_s)}
    return doc


def _csv_name(tag: str) -> str:
    spec = METRICS.get(tag)
    if spec is None:
        return tag
    return spec.header if spec.unit in ("requests", "count", "") else f"{spec.header} ({spec.unit})"


def _csv_number(value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return ""
    return f"{float(value):.2f}"


def _write_summary_csv(path: Path, metrics: RunMetrics) -> None:
    record_rows = []
    value_rows = []
    for tag in sorted(metrics.summary):
        stats = metrics.summary[tag]
        spec = METRICS.get(tag)
        if spec is not None and spec.kind == "record":
            record_rows.append([_csv_name(tag), *(_csv_number(stats.get(k)) for k in STAT_KEYS)])
        else:
            value_rows.append([_csv_name(tag), _csv_number(stats.get("avg"))])
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        if record_rows:
            writer.writerow(["Metric", *STAT_KEYS])
            writer.writerows(record_rows)
            if value_rows:
                writer.writerow([])
        if value_rows:
            writer.writerow(["Metric", "Value"])
            writer.writerows(value_rows)


def _write_inputs(path: Path, request_inputs: RequestInputs) -> None:
    sessions: dict[str, list[tuple[int, dict]]] = {}
    for payload, session, turn in zip(request_inputs.payloads, request_inputs.session_ids,
                                      request_inputs.turn_indices):
        sessions.setdefault(session, []).append((turn, payload))
    data = [{"session_id": session, "payloads": [p for _, p in sorted(turns, key=lambda t: t[0])]}
            for session, turns in sessions.items()]
    with path.open("w", encoding="utf-8") as f:
        json.dump({"data": data}, f, indent=2, ensure_ascii=False)
        f.write("\n")


_HOLE_MARK = '"\\u0000aiperf-turn:'


def _raw_lines(records: dict[str, np.ndarray], request_inputs: RequestInputs, metadata: list[str],
               errors: list[str], redact: Callable[[dict[str, str]], dict[str, str]] | None,
               history: SessionHistory | None):
    """profile_export_raw.jsonl lines. A later turn of a conversation shows the history as it was sent: the
    answers of the earlier turns, from `history` (which learns this batch's answers here)."""
    n = len(records["request_index"])
    payload_json: dict[int, str] = {}  # each body serialised once
    headers = dict(request_inputs.request_headers)
    request_headers_json = json.dumps(redact(headers) if redact else headers)
    body = np.asarray(records["body_index"], dtype=np.int64).tolist()
    start = np.asarray(records["start_ns"], dtype=np.int64).tolist()
    status = np.asarray(records["status"], dtype=np.int64).tolist()
    chunk_offsets = np.asarray(records["chunk_offsets"], dtype=np.int64).tolist()
    chunk_ns = np.asarray(records["chunk_ns"], dtype=np.int64).tolist()
    raw_offsets = np.asarray(records.get("raw_offsets", np.zeros(1, dtype=np.int64)), dtype=np.int64)
    raw = np.asarray(records.get("raw", np.zeros(0, dtype=np.uint8)), dtype=np.uint8).tobytes()
    has_raw = len(raw_offsets) == len(chunk_ns) + 1
    raw_bounds = raw_offsets.tolist()
    header_offsets = np.asarray(records.get("response_header_offsets", np.zeros(n + 1, dtype=np.int64)),
                                dtype=np.int64).tolist()
    header_bytes = np.asarray(records.get("response_headers", np.zeros(0, dtype=np.uint8)),
                              dtype=np.uint8).tobytes()
    sessions = np.asarray(records.get("session_num", records["request_index"]), dtype=np.int64)
    turns = np.asarray(records.get("turn_index", np.zeros(n, dtype=np.int32)), dtype=np.int64)
    if history is not None:
        history.remember_texts(sessions, turns, decode_ragged(records["content_offsets"], records["content"]))
    session_list, turn_list = sessions.tolist(), turns.tolist()
    for i in range(n):
        b = body[i]
        payload = payload_json.get(b)
        if payload is None:
            payload = payload_json[b] = json.dumps(request_inputs.payloads[b], ensure_ascii=False)
        if _HOLE_MARK in payload:  # a later turn of a conversation: show the history as it was sent
            answers = history.texts_before(session_list[i], turn_list[i]) if history is not None else []
            payload = json.dumps(fill_history(request_inputs.payloads[b], answers), ensure_ascii=False)
        responses = []
        if has_raw:
            for c in range(chunk_offsets[i], chunk_offsets[i + 1]):
                text = raw[raw_bounds[c]:raw_bounds[c + 1]].decode("utf-8", errors="replace")
                if text.strip() == _SSE_DONE:  # the SSE end sentinel is not JSON; readers json.loads every text
                    continue
                responses.append(f'{{"perf_ns":{chunk_ns[c]},"text":{json.dumps(text, ensure_ascii=False)}}}')
        if len(header_offsets) == n + 1 and header_offsets[i + 1] > header_offsets[i]:
            block = header_bytes[header_offsets[i]:header_offsets[i + 1]].decode("latin-1")
            response_headers = json.dumps(_parse_header_block(block, redact), ensure_ascii=False)
        else:
            response_headers = "{}"
        yield (f'{{"metadata":{metadata[i]},"start_perf_ns":{start[i]},"payload":{payload},'
               f'"request_headers":{request_headers_json},"status":{status[i] if status[i] > 0 else "null"},'
               f'"response_headers":{response_headers},"responses":[{",".join(responses)}],"error":{errors[i]}}}')


class RecordsWriter:
    """profile_export.jsonl and, at export level raw, profile_export_raw.jsonl, written batch by batch while the
    run goes on (nothing per record is kept once its lines are written)."""

    def __init__(self, artifact_dir: Path, *, export_level: str, request_inputs: RequestInputs, anchor_wall_ns: int,
                 anchor_mono_ns: int, request_id_prefix: str,
                 redact_headers: Callable[[dict[str, str]], dict[str, str]] | None = None) -> None:
        _check_export_level(export_level)
        self._inputs = request_inputs
        self._anchors = (anchor_wall_ns, anchor_mono_ns)
        self._prefix = request_id_prefix
        self._redact = redact_headers
        self.paths: list[Path] = []
        self._records_file = self._raw_file = None
        artifact_dir = Path(artifact_dir)
        if export_level in ("records", "raw"):
            artifact_dir.mkdir(parents=True, exist_ok=True)
            self.paths.append(artifact_dir / RECORDS_JSONL)
            self._records_file = self.paths[-1].open("w", encoding="utf-8")
            if export_level == "raw":
                self.paths.append(artifact_dir / RAW_JSONL)
                self._raw_file = self.paths[-1].open("w", encoding="utf-8")

    def write(self, records: dict[str, np.ndarray], per_record: dict[str, np.ndarray],
              per_record_lists: dict[str, tuple[np.ndarray, np.ndarray]],
              history: SessionHistory | None = None) -> None:
        """The lines of one batch. `history`: answers of earlier turns (multi-turn runs), shared across batches."""
        if self._records_file is None:
            return
        n = len(records["request_index"])
        if n == 0:
            return
        metadata = _metadata_json(records, self._inputs, *self._anchors, self._prefix)
        errors = _error_json(records)
        _write_lines(self._records_file, map('{"metadata":%s,"metrics":%s,"error":%s}'.__mod__,
                                             zip(metadata, _metrics_json(per_record, per_record_lists, n), errors)))
        if self._raw_file is not None:
            _write_lines(self._raw_file, _raw_lines(records, self._inputs, metadata, errors, self._redact, history))

    def close(self) -> list[Path]:
        for f in (self._records_file, self._raw_file):
            if f is not None:
                f.close()
        self._records_file = self._raw_file = None
        return list(self.paths)


def _check_export_level(export_level: str) -> None:
    if export_level not in ("summary", "records", "raw"):
        raise ValueError(f"--export-level: unknown level {export_level!r} (choose from summary, records, raw)")


def write_summary_files(artifact_dir: Path, *, metrics: RunMetrics, request_inputs: RequestInputs,
                        input_config: dict, aiperf_version: str, was_cancelled: bool) -> list[Path]:
    """profile_export_aiperf.json, profile_export_aiperf.csv and inputs.json; returns the paths written."""
    artifact_dir = Path(artifact_dir)
    artifact_dir.mkdir(parents=True, exist_ok=True)
    summary_path = artifact_dir / SUMMARY_JSON
    with summary_path.open("w", encoding="utf-8") as f:
        json.dump(_summary_json(metrics, input_config, aiperf_version, was_cancelled), f, indent=2,
                  ensure_ascii=False, allow_nan=False, default=str)
        f.write("\n")
    csv_path = artifact_dir / SUMMARY_CSV
    _write_summary_csv(csv_path, metrics)
    inputs_path = artifact_dir / INPUTS_JSON
    _write_inputs(inputs_path, request_inputs)
    return [summary_path, csv_path, inputs_path]


def write_exports(artifact_dir: Path, *, export_level: str, metrics: RunMetrics, records: dict[str, np.ndarray],
                  request_inputs: RequestInputs, input_config: dict, aiperf_version: str, was_cancelled: bool,
                  anchor_wall_ns: int, anchor_mono_ns: int, request_id_prefix: str,
                  redact_headers: Callable[[dict[str, str]], dict[str, str]] | None = None) -> list[Path]:
    """Write the artifact files for `export_level` ("summary" | "records" | "raw") of a run held in memory as one
    set of records; returns the paths written. (A run streamed in batches uses RecordsWriter per batch and
    write_summary_files() at the end, which is what this does in one go.)

    `redact_headers`, when given, is applied to the request headers and to every response's headers.
    """
    writer = RecordsWriter(artifact_dir, export_level=export_level, request_inputs=request_inputs,
                           anchor_wall_ns=anchor_wall_ns, anchor_mono_ns=anchor_mono_ns,
                           request_id_prefix=request_id_prefix, redact_headers=redact_headers)
    try:
        turns = np.asarray(records.get("turn_index", np.zeros(0, dtype=np.int32)))
        writer.write(records, metrics.per_record, metrics.per_record_lists,
                     SessionHistory() if (turns > 0).any() else None)
    finally:
        paths = writer.close()
    summary, csv_path, inputs = write_summary_files(artifact_dir, metrics=metrics, request_inputs=request_inputs,
                                                    input_config=input_config, aiperf_version=aiperf_version,
                                                    was_cancelled=was_cancelled)
    from aiperf.results.timeslices import time_columns, write_time_exports  # imports this module

    times = write_time_exports(artifact_dir, columns=time_columns(records), per_record=metrics.per_record,
                               slice_duration_s=input_config.get("slice_duration"), export_level=export_level,
                               anchor_wall_ns=anchor_wall_ns, anchor_mono_ns=anchor_mono_ns,
                               goodput=input_config.get("goodput_slos"), input_config=input_config)
    return [summary, csv_path, *paths, inputs, *times]
