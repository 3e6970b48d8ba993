"""Metric registry (one declarative entry per metric) and the computation of every metric from columnar records.

Per-record metrics are computed for all records at once with numpy (values in display units, NaN where a metric
does not apply or the request failed); the summary statistics come from the engine's one stats routine
(`compute_stats`) over the successful profiling records only.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from aiperf.inputs.endpoints import Endpoint

log = logging.getLogger("aiperf")

__all__ = [
    "ERROR_TYPES",
    "METRICS",
    "ErrorGroups",
    "MetricSpec",
    "RecordMetrics",
    "RunMetrics",
    "SessionHistory",
    "compute_metrics",
    "console_metrics",
    "decode_ragged",
    "error_code",
    "error_type_name",
    "measurement_window",
    "record_metrics",
    "response_end_times",
    "summarize",
    "summary_stats",
]

NS_PER_MS = 1e6
NS_PER_S = 1e9


@dataclass(frozen=True)
class MetricSpec:
    """One metric: how it is named and shown, and when it applies."""

    tag: str
    header: str
    unit: str
    display_order: int | None  # console row order; None = exported only
    kind: str  # "record" (one value per request) | "aggregate" (one value per run) | "derived" (from others)
    streaming_only: bool = False  # needs SSE chunk timings
    tokens_only: bool = False  # the endpoint returns generated text
    input_tokens_only: bool = False  # the endpoint tokenizes its input (ISL)
    images_only: bool = False  # only when responses carried images
    reasoning_only: bool = False  # only when reasoning text was returned
    goodput_only: bool = False  # only with --goodput
    scheduled_only: bool = False  # only when requests had intended send times (open loop, turn delays)
    error_only: bool = False  # computed on failed requests only; never in the main table
    no_console: bool = False  # exported, not printed
    no_individual_records: bool = False  # not in profile_export.jsonl
    larger_is_better: bool = False  # direction for goodput SLOs
    integer: bool = False  # per-record values are whole numbers (token counts)
    list_valued: bool = False  # one list per record (inter_chunk_latency); per-record export only


def _m(tag: str, header: str, unit: str, order: int | None, kind: str = "record", **flags: Any) -> MetricSpec:
    return MetricSpec(tag, header, unit, order, kind, **flags)


_STREAM_TOKENS = {"streaming_only": True, "tokens_only": True}

METRICS: dict[str, MetricSpec] = {
    m.tag: m
    for m in (
        # ---- per request
        _m("time_to_first_token", "Time to First Token", "ms", 100, **_STREAM_TOKENS),
        _m("time_to_second_token", "Time to Second Token", "ms", 200, **_STREAM_TOKENS),
        _m("request_latency", "Request Latency", "ms", 300),
        _m("inter_token_latency", "Inter Token Latency", "ms", 400, **_STREAM_TOKENS),
        _m("output_token_throughput_per_user", "Output Token Throughput Per User", "tokens/sec/user", 500,
           larger_is_better=True, **_STREAM_TOKENS),
        _m("output_sequence_length", "Output Sequence Length", "tokens", 600, tokens_only=True, integer=True),
        _m("input_sequence_length", "Input Sequence Length", "tokens", 700, input_tokens_only=True, integer=True),
        _m("image_throughput", "Image Throughput", "images/sec", 860, images_only=True, larger_is_better=True),
        _m("image_latency", "Image Latency", "ms/image", 861, images_only=True),
        _m("output_token_count", "Output Token Count", "tokens", None, tokens_only=True, integer=True),
        _m("reasoning_token_count", "Reasoning Token Count", "tokens", None, tokens_only=True, reasoning_only=True,
           integer=True),
        _m("num_images", "Number of Images", "images", None, images_only=True, integer=True),
        _m("schedule_lag", "Schedule Lag", "ms", None, scheduled_only=True, no_console=True),
        _m("intended_request_latency", "Request Latency From Intended Start", "ms", None, scheduled_only=True,
           no_console=True),
        _m("inter_chunk_latency", "Inter Chunk Latency", "ms", None, streaming_only=True, list_valued=True,
           no_console=True),
        _m("error_isl", "Error Input Sequence Length", "tokens", None, input_tokens_only=True, error_only=True,
           integer=True),
        # ---- per run
        _m("output_token_throughput", "Output Token Throughput", "tokens/sec", 800, "derived", tokens_only=True,
           larger_is_better=True),
        _m("request_throughput", "Request Throughput", "requests/sec", 900, "derived", larger_is_better=True),
        _m("goodput", "Goodput", "requests/sec", 1000, "derived", goodput_only=True, larger_is_better=True),
        _m("request_count", "Request Count", "requests", 1100, "aggregate"),
        _m("error_request_count", "Error Request Count", "requests", None, "aggregate", error_only=True),
        _m("good_request_count", "Good Request Count", "requests", None, "aggregate", goodput_only=True),
        _m("total_output_tokens", "Total Output Tokens", "tokens", None, "aggregate", tokens_only=True),
        _m("total_reasoning_tokens", "Total Reasoning Tokens", "tokens", None, "aggregate", tokens_only=True,
           reasoning_only=True),
        _m("total_osl", "Total Output Sequence Length", "tokens", None, "aggregate", tokens_only=True),
        _m("total_isl", "Total Input Sequence Length", "tokens", None, "aggregate", input_tokens_only=True),
        _m("total_error_isl", "Total Error Input Sequence Length", "tokens", None, "aggregate",
           input_tokens_only=True, error_only=True),
        _m("total_token_throughput", "Total Token Throughput", "tokens/sec", None, "derived", tokens_only=True,
           no_console=True),
        _m("min_request_timestamp", "Minimum Request Timestamp", "ns", None, "aggregate", no_console=True),
        _m("max_response_timestamp", "Maximum Response Timestamp", "ns", None, "aggregate", no_console=True),
        _m("benchmark_duration", "Benchmark Duration", "sec", None, "derived", no_console=True),
    )
}

# error_kind (engine) -> exception-style type name shown in the error summary and exports
ERROR_TYPES: dict[int, str] = {1: "ConnectionError", 2: "TimeoutError", 3: "HTTPError", 4: "TransportError",
                               5: "InvalidResponse", 6: "Cancelled", 7: "ResponseTooLarge", 8: "InvalidInferenceResultError"}
CANCELLED_CODE = 499


def error_type_name(kind: int) -> str:
    return ERROR_TYPES.get(int(kind), "Error")


def error_code(kind: int, status: int) -> int | None:
    """HTTP status when there was one, 499 for cancellations (as AIPerf), else None."""
    if int(kind) == 6:
        return CANCELLED_CODE
    return int(status) if int(status) > 0 else None


@dataclass
class RunMetrics:
    """Everything measured in one run, in display units."""

    per_record: dict[str, np.ndarray]  # tag -> float64[n_records], NaN where not applicable/failed (all phases)
    summary: dict[str, dict[str, float]]  # tag -> {"unit", "avg", ...}: profiling, successful records only
    errors: list[dict]  # [{"code", "type", "message", "count"}] profiling phase, most frequent first
    benchmark_duration_s: float
    start_wall_ns: int  # profiling window, epoch ns
    end_wall_ns: int
    # list-valued metrics (inter_chunk_latency): tag -> (offsets int64[n+1], values float64[...]) in display units
    per_record_lists: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def _applies(spec: MetricSpec, endpoint: Endpoint, streaming: bool, images_seen: bool, reasoning_seen: bool,
             goodput: bool, scheduled: bool = False) -> bool:
    return not ((spec.streaming_only and not streaming)
                or (spec.scheduled_only and not scheduled)
                or (spec.tokens_only and not endpoint.produces_tokens)
                or (spec.input_tokens_only and not endpoint.tokenizes_input)
                or (spec.images_only and not images_seen)
                or (spec.reasoning_only and not reasoning_seen)
                or (spec.goodput_only and not goodput))


def decode_ragged(offsets: np.ndarray, data: np.ndarray, rows: np.ndarray | None = None) -> list[str]:
    """UTF-8 strings of rows `rows` (default all) of a ragged byte column (offsets int64[n+1], data uint8[...])."""
    offsets = np.asarray(offsets, dtype=np.int64)
    if rows is None:
        rows = np.arange(len(offsets) - 1)
    starts = offsets[rows].tolist()
    ends = offsets[np.asarray(rows) + 1].tolist()
    buf = np.asarray(data, dtype=np.uint8)
    if buf.size == 0:
        return [""] * len(starts)
    if not (buf >= 0x80).any():  # ASCII: byte offsets are character offsets, decode once and slice
        text = buf.tobytes().decode("ascii")
        return [text[s:e] for s, e in zip(starts, ends)]
    raw = buf.tobytes()
    return [raw[s:e].decode("utf-8", errors="replace") for s, e in zip(starts, ends)]


def _count_tokens(tokenizer: Any, offsets: np.ndarray, data: np.ndarray, rows: np.ndarray, n: int) -> np.ndarray:
    """Token count per record (0 for records outside `rows` or without text), tokenized in one batch call."""
    counts = np.zeros(n, dtype=np.float64)
    offsets = np.asarray(offsets, dtype=np.int64)
    lengths = offsets[1:] - offsets[:-1]
    rows = rows[lengths[rows] > 0]
    if rows.size:
        counts[rows] = np.asarray(tokenizer.count_tokens(decode_ragged(offsets, data, rows)), dtype=np.float64)
    return counts


class SessionHistory:
    """What the earlier turns of each conversation answered, across record batches: a later chat turn sends those
    answers back as history, so they count in its ISL (tokens) and show in its raw-export payload (texts, when
    kept). Keyed by (session_num, turn_index); a conversation is forgotten once its last turn was seen, so a long
    run holds only the conversations in flight."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[int, int], float] = {}
        self._texts: dict[tuple[int, int], str] = {}

    def remember(self, sessions: np.ndarray, turns: np.ndarray, tokens: np.ndarray) -> None:
        keys = zip(np.asarray(sessions).tolist(), np.asarray(turns).tolist())
        self._tokens.update(zip(keys, np.asarray(tokens, dtype=np.float64).tolist()))

    def remember_texts(self, sessions: np.ndarray, turns: np.ndarray, texts: list[str]) -> None:
        self._texts.update(zip(zip(np.asarray(sessions).tolist(), np.asarray(turns).tolist()), texts))

    def tokens_before(self, sessions: np.ndarray, turns: np.ndarray) -> np.ndarray:
        """Per row: the answer tokens of its conversation's earlier turns (0 for first turns)."""
        get = self._tokens.get
        return np.array([sum(get((s, j), 0.0) for j in range(t)) if t else 0.0
                         for s, t in zip(np.asarray(sessions).tolist(), np.asarray(turns).tolist())],
                        dtype=np.float64)

    def texts_before(self, session: int, turn: int) -> list[str]:
        return [self._texts.get((session, j), "") for j in range(turn)]

    def forget(self, sessions: np.ndarray, turns: np.ndarray, last: np.ndarray) -> None:
        """Drops the conversations whose last turn is among these rows (`last`: bool per row)."""
        rows = np.flatnonzero(np.asarray(last, dtype=bool))
        for session, turn in zip(np.asarray(sessions)[rows].tolist(), np.asarray(turns)[rows].tolist()):
            for j in range(turn + 1):
                self._tokens.pop((session, j), None)
                self._texts.pop((session, j), None)

    def __len__(self) -> int:
        return max(len(self._tokens), len(self._texts))


def _usage(records: dict[str, np.ndarray], column: str, n: int) -> np.ndarray:
    """A usage count per record as float, NaN where the response did not report it."""
    values = np.asarray(records.get(column, np.full(n, -1)), dtype=np.float64)
    return np.where(values >= 0, values, np.nan)


def _stats(values: np.ndarray) -> dict[str, float]:
    from aiperf.engine import compute_stats
    return dict(compute_stats(np.ascontiguousarray(values, dtype=np.float64)))


# Numbers, and words holding a digit (ids such as chatcmpl-0000001a2f), do not split an error group.
_DIGITS = re.compile(r"\w*\d\w*")


class ErrorGroups:
    """Failed profiling requests grouped by (kind, status, message pattern), across record batches: numbers in
    messages (ids, byte counts, ms) do not split a group; the first message of a group is the one shown."""

    def __init__(self) -> None:
        self._groups: dict[tuple, dict] = {}

    def add(self, records: dict[str, np.ndarray], rows: np.ndarray) -> None:
        if rows.size == 0:
            return
        kinds = np.asarray(records["error_kind"])[rows].tolist()
        statuses = np.asarray(records["status"])[rows].tolist()
        messages = decode_ragged(records["error_message_offsets"], records["error_message"], rows)
        for kind, status, message in zip(kinds, statuses, messages):
            key = (kind, status, _DIGITS.sub("#", message))
            entry = self._groups.get(key)
            if entry is None:
                self._groups[key] = {"code": error_code(kind, status), "type": error_type_name(kind),
                                     "message": message, "count": 1}
            else:
                entry["count"] += 1

    def entries(self) -> list[dict]:
        """Most frequent first."""
        return sorted((dict(e) for e in self._groups.values()), key=lambda e: -e["count"])


@dataclass
class RecordMetrics:
    """The per-record metrics of one batch of records (or of all of them), in display units."""

    per_record: dict[str, np.ndarray]  # tag -> float64[n], NaN where not applicable or failed
    per_record_lists: dict[str, tuple[np.ndarray, np.ndarray]]  # tag -> (offsets int64[n+1], values)
    response_end_ns: np.ndarray  # int64[n]: last chunk's arrival, else the transfer's end
    images_seen: bool  # a successful profiling record carried images
    reasoning_seen: bool  # a successful record returned reasoning text


def response_end_times(records: dict[str, np.ndarray]) -> np.ndarray:
    """Per record: its last response chunk's time, or its end when it had no chunks (engine clock, ns)."""
    end_ns = np.asarray(records["end_ns"], dtype=np.int64)
    chunk_offsets = np.asarray(records["chunk_offsets"], dtype=np.int64)
    chunk_ns = np.asarray(records["chunk_ns"], dtype=np.int64)
    has_chunks = chunk_offsets[1:] > chunk_offsets[:-1]
    if not chunk_ns.size:
        return end_ns
    return np.where(has_chunks, chunk_ns[np.where(has_chunks, chunk_offsets[1:] - 1, 0)], end_ns)


def record_metrics(records: dict[str, np.ndarray], *, endpoint: Endpoint, streaming: bool,
                   input_tokens_per_body: np.ndarray, tokenizer: Any, history: SessionHistory | None = None,
                   reasoning_seen: bool = False, server_token_counts: bool = False) -> RecordMetrics:
    """Per-record metrics of `records` (a whole run, or one batch of a run streamed in batches).

    `history` carries the answers of earlier turns across batches (multi-turn chat ISL); without it, a run whose
    records hold later turns gets a history of its own. `reasoning_seen`: an earlier batch returned reasoning
    text, so reasoning token counts are reported from here on even for records without any.
    `server_token_counts` (--use-server-token-count): token counts come from each response's `usage` (prompt,
    completion and reasoning tokens) instead of the tokenizer; a response without them has no token metrics."""
    n = len(records["request_index"])
    error_kind = np.asarray(records["error_kind"])
    ok = error_kind == 0
    valid = ok & (np.asarray(records["phase"]) == 1)
    start_ns = np.asarray(records["start_ns"], dtype=np.int64)
    body_index = np.asarray(records["body_index"], dtype=np.int64)

    # ---- chunk timings
    chunk_offsets = np.asarray(records["chunk_offsets"], dtype=np.int64)
    chunk_ns = np.asarray(records["chunk_ns"], dtype=np.int64)
    chunk_bytes = np.asarray(records["chunk_content_bytes"])
    chunk_counts = chunk_offsets[1:] - chunk_offsets[:-1]
    response_end_ns = response_end_times(records)

    nan = np.full(n, np.nan)
    latency_ms = np.where(ok, (response_end_ns - start_ns) / NS_PER_MS, np.nan)
    per_record: dict[str, np.ndarray] = {"request_latency": latency_ms}
    if np.asarray(records.get("intended_ns", [])).size and (np.asarray(records["intended_ns"]) >= 0).any():
        # wrk2's discipline: a request sent late by the client is also timed from when it should have been sent
        intended = np.asarray(records["intended_ns"], dtype=np.int64)
        per_record["schedule_lag"] = np.where(intended >= 0, (start_ns - intended) / NS_PER_MS, np.nan)
        per_record["intended_request_latency"] = np.where(ok & (intended >= 0),
                                                          (response_end_ns - intended) / NS_PER_MS, np.nan)
    per_record_lists: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    num_images = np.asarray(records.get("num_images", np.zeros(n, dtype=np.int32)), dtype=np.float64)
    images_seen = bool((num_images[valid] > 0).any())
    reasoning_offsets = np.asarray(records["reasoning_offsets"], dtype=np.int64)
    reasoning_seen = bool(endpoint.produces_tokens and (reasoning_seen or (
        np.asarray(records["reasoning"]).size and ((reasoning_offsets[1:] - reasoning_offsets[:-1])[ok] > 0).any())))

    # ---- streaming: first/second content chunk, gaps between content chunks
    ttft_ms = nan
    if streaming and endpoint.produces_tokens:
        owner = np.repeat(np.arange(n), chunk_counts)
        content_chunks = np.flatnonzero(chunk_bytes > 0)
        content_owner = owner[content_chunks]
        content_count = np.bincount(content_owner, minlength=n)
        first_pos = np.concatenate(([0], np.cumsum(content_count)[:-1])).astype(np.int64)
        content_ns = chunk_ns[content_chunks]
        has1 = ok & (content_count >= 1)
        has2 = ok & (content_count >= 2)
        first_ns = np.where(has1, content_ns[np.minimum(first_pos, max(len(content_ns) - 1, 0))]
                            if content_ns.size else 0, 0)
        second_ns = np.where(has2, content_ns[np.minimum(first_pos + 1, max(len(content_ns) - 1, 0))]
                             if content_ns.size else 0, 0)
        ttft_ms = np.where(has1, (first_ns - start_ns) / NS_PER_MS, np.nan)
        per_record["time_to_first_token"] = ttft_ms
        per_record["time_to_second_token"] = np.where(has2, (second_ns - first_ns) / NS_PER_MS, np.nan)
    if streaming:
        # gaps between consecutive chunks that carried text (or, for non-text endpoints, between all chunks)
        chunk_rows = (np.flatnonzero(chunk_bytes > 0) if endpoint.produces_tokens
                      else np.arange(len(chunk_ns)))
        owner_all = np.repeat(np.arange(n), chunk_counts)[chunk_rows]
        times = chunk_ns[chunk_rows]
        same = owner_all[1:] == owner_all[:-1]
        gaps_owner = owner_all[1:][same]
        keep = ok[gaps_owner]
        gaps_owner = gaps_owner[keep]
        gaps = (np.diff(times)[same][keep]) / NS_PER_MS
        gap_offsets = np.concatenate(([0], np.cumsum(np.bincount(gaps_owner, minlength=n)))).astype(np.int64)
        per_record_lists["inter_chunk_latency"] = (gap_offsets, gaps.astype(np.float64))

    # ---- tokens
    ok_rows = np.flatnonzero(ok)
    output_tokens = np.zeros(n)
    if endpoint.produces_tokens and server_token_counts:
        completion = _usage(records, "usage_completion_tokens", n)
        reasoning_tokens = np.nan_to_num(_usage(records, "usage_reasoning_tokens", n), nan=0.0)
        reasoning_seen = reasoning_seen or bool((reasoning_tokens[ok] > 0).any())
        output_tokens = completion - reasoning_tokens  # completion_tokens counts the reasoning tokens too
        osl = completion
    elif endpoint.produces_tokens:
        output_tokens = _count_tokens(tokenizer, records["content_offsets"], records["content"], ok_rows, n)
        reasoning_tokens = (_count_tokens(tokenizer, reasoning_offsets, records["reasoning"], ok_rows, n)
                            if reasoning_seen else np.zeros(n))
        osl = output_tokens + reasoning_tokens
    if endpoint.produces_tokens:
        per_record["output_token_count"] = np.where(ok, output_tokens, np.nan)
        if reasoning_seen:
            per_record["reasoning_token_count"] = np.where(ok, reasoning_tokens, np.nan)
        per_record["output_sequence_length"] = np.where(ok, osl, np.nan)
        if streaming:
            with np.errstate(divide="ignore", invalid="ignore"):
                itl_ms = np.where(ok & (osl >= 2) & np.isfinite(ttft_ms), (latency_ms - ttft_ms) / (osl - 1), np.nan)
                per_record["inter_token_latency"] = itl_ms
                per_record["output_token_throughput_per_user"] = np.where(itl_ms > 0, 1000.0 / itl_ms, np.nan)
    if endpoint.tokenizes_input and server_token_counts:
        isl = _usage(records, "usage_prompt_tokens", n)  # the server counted the whole prompt, history included
        per_record["input_sequence_length"] = np.where(ok, isl, np.nan)
        per_record["error_isl"] = np.where(~ok, isl, np.nan)
    elif endpoint.tokenizes_input:
        isl = np.asarray(input_tokens_per_body, dtype=np.float64)[body_index] if n else np.zeros(0)
        turns = np.asarray(records.get("turn_index", np.zeros(n, dtype=np.int32)), dtype=np.int64)
        if history is None and endpoint.produces_tokens and (turns > 0).any():
            history = SessionHistory()
        if history is not None and endpoint.produces_tokens and n:
            # a later chat turn sends the answers to the earlier ones (partial answers of failed turns too)
            sessions = np.asarray(records["session_num"], dtype=np.int64)
            answers = np.where(ok, output_tokens, 0.0) + _count_tokens(
                tokenizer, records["content_offsets"], records["content"], np.flatnonzero(~ok), n)
            history.remember(sessions, turns, answers)
            isl = isl + history.tokens_before(sessions, turns)
        per_record["input_sequence_length"] = np.where(ok, isl, np.nan)
        per_record["error_isl"] = np.where(~ok, isl, np.nan)
    if (num_images > 0).any():
        with_images = ok & (num_images > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            per_record["num_images"] = np.where(with_images, num_images, np.nan)
            per_record["image_throughput"] = np.where(with_images & (latency_ms > 0),
                                                      num_images / (latency_ms / 1000.0), np.nan)
            per_record["image_latency"] = np.where(with_images, latency_ms / num_images, np.nan)
    return RecordMetrics(per_record=per_record, per_record_lists=per_record_lists, response_end_ns=response_end_ns,
                         images_seen=images_seen, reasoning_seen=reasoning_seen)


def summarize(per_record: dict[str, np.ndarray], columns: dict[str, np.ndarray], *, endpoint: Endpoint,
              streaming: bool, anchor_wall_ns: int, anchor_mono_ns: int, images_seen: bool, reasoning_seen: bool,
              errors: list[dict], goodput: dict[str, float] | None = None,
              per_record_lists: dict[str, tuple[np.ndarray, np.ndarray]] | None = None) -> RunMetrics:
    """The run's summary from the per-record metrics of all its records and their numeric `columns` (phase,
    error_kind, start_ns, end_ns, response_end_ns, intended_ns): statistics over the successful profiling
    records, throughputs over the profiling window, goodput. `errors`: ErrorGroups.entries()."""
    phase = np.asarray(columns["phase"])
    ok = np.asarray(columns["error_kind"]) == 0
    profiling = phase == 1
    valid = ok & profiling
    start_ns = np.asarray(columns["start_ns"], dtype=np.int64)
    end_ns = np.asarray(columns["end_ns"], dtype=np.int64)
    response_end_ns = np.asarray(columns["response_end_ns"], dtype=np.int64)
    intended_ns = np.asarray(columns.get("intended_ns", np.full(len(phase), -1)), dtype=np.int64)
    applies = {tag: _applies(spec, endpoint, streaming, images_seen, reasoning_seen, bool(goodput),
                             bool(((intended_ns >= 0) & profiling).any()))
               for tag, spec in METRICS.items()}
    per_record = {tag: values for tag, values in per_record.items() if applies.get(tag, True)}

    # ---- profiling window: first request start to last response end, failed requests included
    window_start, window_end = measurement_window(start_ns, response_end_ns, end_ns, profiling,
                                                  default_ns=anchor_mono_ns)
    duration_s = (window_end - window_start) / NS_PER_S
    start_wall_ns = anchor_wall_ns + (window_start - anchor_mono_ns)
    end_wall_ns = anchor_wall_ns + (window_end - anchor_mono_ns)
    summary = summary_stats(per_record, valid, profiling & ~ok, duration_s=duration_s, start_wall_ns=start_wall_ns,
                            end_wall_ns=end_wall_ns, goodput=goodput, applies=applies)
    return RunMetrics(per_record=per_record, summary=summary, errors=errors, benchmark_duration_s=duration_s,
                      start_wall_ns=int(start_wall_ns), end_wall_ns=int(end_wall_ns),
                      per_record_lists=dict(per_record_lists or {}))


def measurement_window(start_ns: np.ndarray, response_end_ns: np.ndarray, end_ns: np.ndarray, rows: np.ndarray,
                       *, default_ns: int) -> tuple[int, int]:
    """(first request start, last response end) over the records selected by the mask `rows`, failed ones
    included; (default_ns, default_ns) when none of them started."""
    starts = start_ns[rows]
    starts = starts[starts >= 0]
    ends = np.where(response_end_ns[rows] >= 0, response_end_ns[rows], end_ns[rows])
    ends = ends[ends >= 0]
    if starts.size and ends.size:
        return int(starts.min()), int(max(ends.max(), starts.min()))
    return default_ns, default_ns


def summary_stats(per_record: dict[str, np.ndarray], valid: np.ndarray, failed: np.ndarray, *, duration_s: float,
                  start_wall_ns: int, end_wall_ns: int, goodput: dict[str, float] | None = None,
                  applies: dict[str, bool] | None = None) -> dict[str, dict[str, float]]:
    """Summary statistics of the records in `valid` (record metrics) plus the counts, totals and throughputs of
    the window they span (`duration_s`; `failed` marks the window's failed records). The run's summary and each
    time slice's (timeslices.py) are both this."""
    applies = applies or {}
    summary: dict[str, dict[str, float]] = {}

    def per_second(count: float) -> float:
        return count / duration_s if duration_s > 0 else 0.0

    for tag, values in per_record.items():
        spec = METRICS[tag]
        if spec.error_only:
            continue
        stats = _stats(values[valid])
        if stats.get("count", 0):
            summary[tag] = {"unit": spec.unit, **stats}
    request_count = int(valid.sum())
    aggregates: dict[str, float] = {
        "request_count": request_count,
        "error_request_count": int(failed.sum()),
        "min_request_timestamp": start_wall_ns,
        "max_response_timestamp": end_wall_ns,
        "benchmark_duration": duration_s,
        "request_throughput": per_second(request_count),
    }
    if "output_sequence_length" in per_record:
        total_osl = float(np.nansum(per_record["output_sequence_length"][valid]))
        aggregates["total_output_tokens"] = float(np.nansum(per_record["output_token_count"][valid]))
        if "reasoning_token_count" in per_record:
            aggregates["total_reasoning_tokens"] = float(np.nansum(per_record["reasoning_token_count"][valid]))
        aggregates["total_osl"] = total_osl
        aggregates["output_token_throughput"] = per_second(total_osl)
    if "input_sequence_length" in per_record:
        aggregates["total_isl"] = float(np.nansum(per_record["input_sequence_length"][valid]))
        aggregates["total_error_isl"] = float(np.nansum(per_record["error_isl"][failed]))
        if "total_osl" in aggregates:
            aggregates["total_token_throughput"] = per_second(aggregates["total_isl"] + aggregates["total_osl"])
    if goodput:
        good = valid.copy()
        for tag, threshold in goodput.items():
            values = per_record.get(tag)
            if values is None:
                log.warning("--goodput: %s does not apply to this run; the SLO is ignored", tag)
                continue
            with np.errstate(invalid="ignore"):
                good &= (values >= threshold) if METRICS[tag].larger_is_better else (values <= threshold)
        aggregates["good_request_count"] = int(good.sum())
        aggregates["goodput"] = per_second(int(good.sum()))
    for tag, value in aggregates.items():
        if applies.get(tag, True):
            summary[tag] = {"unit": METRICS[tag].unit, "avg": float(value)}
    order = {tag: i for i, tag in enumerate(METRICS)}
    return dict(sorted(summary.items(), key=lambda kv: order[kv[0]]))


SUMMARY_COLUMNS = ("phase", "error_kind", "start_ns", "end_ns", "intended_ns")  # what summarize() reads of records


def compute_metrics(records: dict[str, np.ndarray], *, endpoint: Endpoint, streaming: bool,
                    input_tokens_per_body: np.ndarray, tokenizer: Any, anchor_wall_ns: int, anchor_mono_ns: int,
                    goodput: dict[str, float] | None = None, server_token_counts: bool = False) -> RunMetrics:
    """Per-record metrics for every record and the summary over successful profiling records (all records at
    once; a run streamed in batches calls record_metrics() per batch and summarize() at the end)."""
    measured = record_metrics(records, endpoint=endpoint, streaming=streaming,
                              input_tokens_per_body=input_tokens_per_body, tokenizer=tokenizer,
                              server_token_counts=server_token_counts)
    errors = ErrorGroups()
    errors.add(records, np.flatnonzero((np.asarray(records["phase"]) == 1) & (np.asarray(records["error_kind"]) != 0)))
    n = len(records["request_index"])
    columns = {name: records[name] for name in SUMMARY_COLUMNS if name in records}
    columns.setdefault("intended_ns", np.full(n, -1, dtype=np.int64))
    columns["response_end_ns"] = measured.response_end_ns
    return summarize(measured.per_record, columns, endpoint=endpoint, streaming=streaming,
                     anchor_wall_ns=anchor_wall_ns, anchor_mono_ns=anchor_mono_ns, images_seen=measured.images_seen,
                     reasoning_seen=measured.reasoning_seen, errors=errors.entries(), goodput=goodput,
                     per_record_lists=measured.per_record_lists)


def console_metrics(summary: dict[str, dict[str, float]]) -> list[MetricSpec]:
    """The metrics shown in the console table, in display order."""
    shown = [METRICS[tag] for tag in summary
             if tag in METRICS and METRICS[tag].display_order is not None
             and not (METRICS[tag].no_console or METRICS[tag].error_only)]
    return sorted(shown, key=lambda spec: spec.display_order)
