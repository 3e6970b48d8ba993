"""Artifact files of a run, in AIPerf's formats: summary JSON and CSV, per-request JSONL, raw JSONL, inputs.json.

JSONL files are streamed to disk in batches. Per-record lines are assembled from columns converted to text once
(numbers formatted in bulk, payloads serialised once per body), so large runs stay fast and memory stays flat.
"""
from __future__ import annotations

import csv
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from aiperf.engine import ClockAnchor, ErrorKind, Phase, Records
from aiperf.inputs.payloads import fill_history
from aiperf.results.columns import decode_ragged, int64

# artifact_dir_name, RAW_JSONL and RECORDS_JSONL are imported from here by run/ and analysis/
from aiperf.results.formats import (
    INPUTS_JSON,
    RAW_JSONL,
    RECORDS_JSONL,
    SCHEMA_VERSION,
    STAT_KEYS,
    SUMMARY_CSV,
    SUMMARY_JSON,
    artifact_dir_name,
    json_number,
    metric_json_block,
)
from aiperf.results.metrics import METRICS, PerRecord, RunMetrics, SessionHistory, error_code, error_type_name

__all__ = [
    "RAW_JSONL",
    "RECORDS_JSONL",
    "RecordsWriter",
    "RequestInputs",
    "artifact_dir_name",
    "error_columns",
    "write_summary_files",
]

_BATCH = 8192  # lines written per write() call
_SSE_DONE = "[DONE]"


@dataclass
class RequestInputs:
    """What was sent, indexed by records["body_index"]."""

    payloads: list[dict[str, Any]]  # the JSON body (payload description) per body index
    session_ids: list[str]
    turn_indices: list[int]

    def requested_output_tokens(self) -> npt.NDArray[np.float64]:
        """Per body: the output tokens the request asked for (max_completion_tokens or max_tokens), NaN where none."""
        asked = np.full(len(self.payloads), np.nan)
        for i, payload in enumerate(self.payloads):
            value = payload.get("max_completion_tokens", payload.get("max_tokens"))
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                asked[i] = value
        return asked


# ------------------------------------------------------------------------------------------------ helpers

def _wall(mono_ns: npt.ArrayLike, anchor: ClockAnchor) -> npt.NDArray[np.int64]:
    return anchor.to_wall_ns(np.asarray(mono_ns, dtype=np.int64))


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


def error_columns(records: Records) -> dict[str, Any]:
    """error_code / error_type / error_message per record (None when the request succeeded)."""
    kinds = np.asarray(records["error_kind"])
    n = len(kinds)
    code = np.full(n, None, dtype=object)
    etype = np.full(n, None, dtype=object)
    message = np.full(n, None, dtype=object)
    failed = np.flatnonzero(kinds != ErrorKind.OK)
    if failed.size:
        statuses = np.asarray(records["status"])[failed].tolist()
        fkinds = kinds[failed].tolist()
        code[failed] = [error_code(k, s) for k, s in zip(fkinds, statuses)]
        etype[failed] = [error_type_name(k) for k in fkinds]
        message[failed] = decode_ragged(records["error_message_offsets"], records["error_message"], failed)
    return {"error_code": code, "error_type": etype, "error_message": message}


def _error_json(records: Records) -> list[str]:
    """JSON text of each record's `error` field ("null" when it succeeded)."""
    columns = error_columns(records)
    out = ["null"] * len(columns["error_code"])
    for i in np.flatnonzero(records["error_kind"] != ErrorKind.OK).tolist():
        out[i] = json.dumps({"code": columns["error_code"][i], "type": columns["error_type"][i],
                             "message": columns["error_message"][i]})
    return out


def _metadata_json(records: Records, request_inputs: RequestInputs, anchor: ClockAnchor,
                   request_id_prefix: str) -> list[str]:
    """JSON text of each record's `metadata` object, built from columns."""
    request_index = int64(records, "request_index").tolist()
    n = len(request_index)
    session_num = int64(records, "session_num").tolist()
    intended = _int_or_null_strings(_wall(records.get("intended_ns", np.full(n, -1, dtype=np.int64)),
                                          anchor))
    body = int64(records, "body_index")
    session_ids = [json.dumps(s) for s in request_inputs.session_ids]
    turn_indices = [str(int(t)) for t in request_inputs.turn_indices]
    start = _int_or_null_strings(_wall(records["start_ns"], anchor))
    ack = _int_or_null_strings(_wall(records["ack_ns"], anchor))
    end_wall = _wall(records["end_ns"], anchor)
    end = _int_or_null_strings(end_wall)
    cancelled = np.asarray(records["was_cancelled"], dtype=bool)
    cancel_time = _int_or_null_strings(np.where(cancelled, end_wall, -1))
    worker = int64(records, "worker_id").tolist()
    phase = np.where(records["phase"] == Phase.PROFILING, '"profiling"', '"warmup"').tolist()
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


def _metrics_json(per_record: PerRecord, per_record_lists: dict[str, tuple[np.ndarray, np.ndarray]],
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
    out = np.empty(n if len(masks) > 1 else 0, dtype=object)  # the single-mask case returns below
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


# the first line of a request or response head: "POST /v1/chat/completions HTTP/1.1", "HTTP/1.1 200 OK"
_START_LINE = re.compile(r"HTTP/\S+ \d{3}\b|[A-Z]+ \S+ HTTP/\S+$")


def _parse_header_block(block: str, redact: Callable[[dict[str, str]], dict[str, str]] | None) -> dict[str, str]:
    """Headers of the last head in a raw header block: the last response (after 1xx interim ones), or the last
    request libcurl sent (after a redirect or a retry); the start line is not a header."""
    headers: dict[str, str] = {}
    for line in block.replace("\r\n", "\n").split("\n"):
        if _START_LINE.match(line):
            headers = {}
        elif ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip()] = value.strip()
    return redact(headers) if redact else headers


# ------------------------------------------------------------------------------------------------ files

def _summary_json(metrics: RunMetrics, input_config: dict[str, Any], aiperf_version: str, was_cancelled: bool
                  ) -> dict[str, Any]:
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
        doc["benchmark_duration"] = {"unit": "sec", "avg": json_number(metrics.benchmark_duration_s)}
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
    sessions: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for payload, session, turn in zip(request_inputs.payloads, request_inputs.session_ids,
                                      request_inputs.turn_indices):
        sessions.setdefault(session, []).append((turn, payload))
    data = [{"session_id": session, "payloads": [p for _, p in sorted(turns, key=lambda t: t[0])]}
            for session, turns in sessions.items()]
    with path.open("w", encoding="utf-8") as f:
        json.dump({"data": data}, f, indent=2, ensure_ascii=False)
        f.write("\n")


_HOLE_MARK = '"\\u0000aiperf-turn:'


def _raw_lines(records: Records, request_inputs: RequestInputs, metadata: list[str],
               errors: list[str], redact: Callable[[dict[str, str]], dict[str, str]] | None,
               history: SessionHistory | None) -> Iterator[str]:
    """profile_export_raw.jsonl lines. A later turn of a conversation shows the history as it was sent: the
    answers of the earlier turns, from `history` (which learns this batch's answers here)."""
    n = len(records["request_index"])
    payload_json: dict[int, str] = {}  # each body serialised once
    body = int64(records, "body_index").tolist()
    start = int64(records, "start_ns").tolist()
    status = int64(records, "status").tolist()
    chunk_offsets = int64(records, "chunk_offsets").tolist()
    chunk_ns = int64(records, "chunk_ns").tolist()
    raw_offsets = np.asarray(records.get("raw_offsets", np.zeros(1, dtype=np.int64)), dtype=np.int64)
    raw = np.asarray(records.get("raw", np.zeros(0, dtype=np.uint8)), dtype=np.uint8).tobytes()
    has_raw = len(raw_offsets) == len(chunk_ns) + 1
    raw_bounds = raw_offsets.tolist()
    response_heads = _header_blocks(records, "response_header_offsets", "response_headers", redact)
    request_heads = _header_blocks(records, "request_header_offsets", "request_headers", redact)
    sessions = int64(records, "session_num")
    turns = int64(records, "turn_index", default=0)
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
        yield (f'{{"metadata":{metadata[i]},"start_perf_ns":{start[i]},"payload":{payload},'
               f'"request_headers":{request_heads[i]},"status":{status[i] if status[i] > 0 else "null"},'
               f'"response_headers":{response_heads[i]},"responses":[{",".join(responses)}],"error":{errors[i]}}}')


def _header_blocks(records: Records, offsets: str, blob: str,
                   redact: Callable[[dict[str, str]], dict[str, str]] | None) -> list[str]:
    """JSON text of each record's headers from a raw header-block column ("{}" where it holds none: the request
    was never sent, or the engine kept no raw data)."""
    n = len(records["request_index"])
    bounds = np.asarray(records.get(offsets, np.zeros(1, dtype=np.int64)), dtype=np.int64)
    if len(bounds) != n + 1:
        return ["{}"] * n
    data = np.asarray(records[blob], dtype=np.uint8).tobytes()
    starts, ends = bounds[:-1].tolist(), bounds[1:].tolist()
    return [json.dumps(_parse_header_block(data[s:e].decode("latin-1"), redact), ensure_ascii=False) if e > s
            else "{}" for s, e in zip(starts, ends)]


class RecordsWriter:
    """profile_export.jsonl and, at export level raw, profile_export_raw.jsonl, written batch by batch while the
    run goes on (nothing per record is kept once its lines are written)."""

    def __init__(self, artifact_dir: Path, *, export_level: str, request_inputs: RequestInputs, anchor: ClockAnchor,
                 request_id_prefix: str,
                 redact_headers: Callable[[dict[str, str]], dict[str, str]] | None = None) -> None:
        _check_export_level(export_level)
        self._inputs = request_inputs
        self._anchor = anchor
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

    @property
    def request_inputs(self) -> RequestInputs:
        """What was sent, by body index."""
        return self._inputs

    def write(self, records: Records, per_record: PerRecord,
              per_record_lists: dict[str, tuple[np.ndarray, np.ndarray]],
              history: SessionHistory | None = None) -> None:
        """The lines of one batch. `history`: answers of earlier turns (multi-turn runs), shared across batches."""
        if self._records_file is None:
            return
        n = len(records["request_index"])
        if n == 0:
            return
        metadata = _metadata_json(records, self._inputs, self._anchor, self._prefix)
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
                        input_config: dict[str, Any], aiperf_version: str, was_cancelled: bool) -> list[Path]:
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
