"""Token metrics: output and input sequence lengths, inter-token latency, token throughputs, and the checks of the
server's answer against the request (output length asked for) and against its own `usage` counts.

OSL = output tokens + reasoning tokens (tokenizer over the response text, or the server's completion_tokens with
--use-server-token-count); ITL = (request_latency - TTFT) / (OSL - 1); ISL = the prompt's tokens, with the earlier
answers a later chat turn sends back.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from aiperf.engine import Records
from aiperf.inputs.endpoints import Endpoint
from aiperf.results.columns import decode_ragged, int64, row_lengths
from aiperf.results.metrics.history import SessionHistory
from aiperf.results.metrics.spec import MetricSpec, PerRecord, Window, metric

if TYPE_CHECKING:
    from aiperf.inputs.tokenizer import Tokenizer

__all__ = ["OSL_MISMATCH_MAX_TOKENS", "OSL_MISMATCH_PCT", "TOKEN_METRICS", "USAGE_DIFF_PCT", "token_metrics"]

# AIPerf's thresholds: a response's length is off when |OSL - asked| > min(5% of asked, 50 tokens); the server's
# usage disagrees with the client's count when they differ by more than 10%.
OSL_MISMATCH_PCT = 5.0
OSL_MISMATCH_MAX_TOKENS = 50.0
USAGE_DIFF_PCT = 10.0


def _error_isl_total(w: Window) -> float | None:
    if "input_sequence_length" not in w.per_record or "error_isl" not in w.per_record:
        return None
    return float(np.nansum(w.per_record["error_isl"][w.failed]))


def _token_throughput(w: Window) -> float | None:
    isl, osl = w.total("input_sequence_length"), w.total("output_sequence_length")
    return None if isl is None or osl is None else w.per_second(isl + osl)


TOKEN_METRICS: tuple[MetricSpec, ...] = (
    metric("inter_token_latency", "Inter Token Latency", "ms", 400, streaming_only=True, tokens_only=True),
    metric("output_token_throughput_per_user", "Output Token Throughput Per User", "tokens/sec/user", 500,
           larger_is_better=True, streaming_only=True, tokens_only=True),
    metric("output_sequence_length", "Output Sequence Length", "tokens", 600, tokens_only=True, integer=True),
    metric("input_sequence_length", "Input Sequence Length", "tokens", 700, input_tokens_only=True, integer=True),
    metric("output_token_count", "Output Token Count", "tokens", None, tokens_only=True, integer=True),
    metric("reasoning_token_count", "Reasoning Token Count", "tokens", None, tokens_only=True, reasoning_only=True,
           integer=True),
    metric("error_isl", "Error Input Sequence Length", "tokens", None, input_tokens_only=True, error_only=True,
           integer=True),
    metric("osl_mismatch_diff_pct", "OSL Mismatch Diff", "%", None, tokens_only=True, no_console=True),
    metric("usage_prompt_tokens_diff_pct", "Usage Prompt Diff", "%", None, input_tokens_only=True,
           client_tokens_only=True, no_console=True),
    metric("usage_completion_tokens_diff_pct", "Usage Completion Diff", "%", None, tokens_only=True,
           client_tokens_only=True, no_console=True),
    metric("usage_reasoning_tokens_diff_pct", "Usage Reasoning Diff", "%", None, tokens_only=True,
           reasoning_only=True, client_tokens_only=True, no_console=True),
    metric("output_token_throughput", "Output Token Throughput", "tokens/sec", 800, "derived", tokens_only=True,
           larger_is_better=True, aggregate=lambda w: w.per_second(w.total("output_sequence_length"))),
    metric("osl_mismatch_count", "OSL Mismatch Count", "requests", None, "counter", tokens_only=True,
           no_console=True, aggregate=lambda w: w.total("osl_mismatch_count")),
    metric("usage_discrepancy_count", "Usage Discrepancy Count", "requests", None, "counter", tokens_only=True,
           client_tokens_only=True, no_console=True, aggregate=lambda w: w.total("usage_discrepancy_count")),
    metric("total_output_tokens", "Total Output Tokens", "tokens", None, "aggregate", tokens_only=True,
           aggregate=lambda w: w.total("output_token_count")),
    metric("total_reasoning_tokens", "Total Reasoning Tokens", "tokens", None, "aggregate", tokens_only=True,
           reasoning_only=True, aggregate=lambda w: w.total("reasoning_token_count")),
    metric("total_osl", "Total Output Sequence Length", "tokens", None, "aggregate", tokens_only=True,
           aggregate=lambda w: w.total("output_sequence_length")),
    metric("total_isl", "Total Input Sequence Length", "tokens", None, "aggregate", input_tokens_only=True,
           aggregate=lambda w: w.total("input_sequence_length")),
    metric("total_error_isl", "Total Error Input Sequence Length", "tokens", None, "aggregate",
           input_tokens_only=True, error_only=True, aggregate=_error_isl_total),
    metric("total_token_throughput", "Total Token Throughput", "tokens/sec", None, "derived", tokens_only=True,
           no_console=True, aggregate=_token_throughput),
)


def _usage(records: Records, column: str) -> npt.NDArray[np.float64]:
    """A usage count per record as float, NaN where the response did not report it."""
    values = int64(records, column).astype(np.float64)
    return np.where(values >= 0, values, np.nan)


def _count_tokens(tokenizer: Tokenizer, records: Records, text: str, rows: npt.NDArray[np.int64]
                  ) -> npt.NDArray[np.float64]:
    """Token count per record of a text column (0 outside `rows` and for empty texts), in one batch call."""
    offsets = f"{text}_offsets"
    counts = np.zeros(len(records[offsets]) - 1, dtype=np.float64)
    rows = rows[row_lengths(records, offsets)[rows] > 0]
    if rows.size:
        texts = decode_ragged(records[offsets], records[text], rows)
        counts[rows] = np.asarray(tokenizer.count_tokens(texts), dtype=np.float64)
    return counts


def _pct_diff(ok: npt.NDArray[np.bool_], server: npt.NDArray[np.float64], client: npt.NDArray[np.float64]
              ) -> npt.NDArray[np.float64]:
    """|server - client| / client in %, where both exist and the client counted something."""
    usable = ok & np.isfinite(server) & np.isfinite(client) & (client > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(usable, np.abs(server - client) / client * 100.0, np.nan)


def token_metrics(records: Records, *, endpoint: Endpoint, ok: npt.NDArray[np.bool_], streaming: bool,
                  latency_ms: npt.NDArray[np.float64], ttft_ms: npt.NDArray[np.float64] | None,
                  input_tokens_per_body: npt.ArrayLike, tokenizer: Tokenizer, history: SessionHistory | None,
                  reasoning_seen: bool, server_token_counts: bool,
                  requested_output_tokens: npt.NDArray[np.float64] | None) -> tuple[PerRecord, bool]:
    """The token metrics of a batch, and whether reasoning text has been seen (in it or an earlier batch).

    `requested_output_tokens`: per body, the output tokens the request asked for (NaN: none)."""
    n = len(ok)
    out: PerRecord = {}
    ok_rows = np.flatnonzero(ok)
    body_index = int64(records, "body_index")
    reasoning_seen = bool(endpoint.produces_tokens and (
        reasoning_seen or (row_lengths(records, "reasoning_offsets")[ok] > 0).any()))
    output_tokens = np.zeros(n)
    reasoning_tokens = np.zeros(n)
    osl = np.zeros(n)
    if endpoint.produces_tokens and server_token_counts:
        completion = _usage(records, "usage_completion_tokens")
        reasoning_tokens = np.nan_to_num(_usage(records, "usage_reasoning_tokens"), nan=0.0)
        reasoning_seen = reasoning_seen or bool((reasoning_tokens[ok] > 0).any())
        output_tokens = completion - reasoning_tokens  # completion_tokens counts the reasoning tokens too
        osl = completion
    elif endpoint.produces_tokens:
        output_tokens = _count_tokens(tokenizer, records, "content", ok_rows)
        if reasoning_seen:
            reasoning_tokens = _count_tokens(tokenizer, records, "reasoning", ok_rows)
        osl = output_tokens + reasoning_tokens
    if endpoint.produces_tokens:
        out["output_token_count"] = np.where(ok, output_tokens, np.nan)
        if reasoning_seen:
            out["reasoning_token_count"] = np.where(ok, reasoning_tokens, np.nan)
        out["output_sequence_length"] = np.where(ok, osl, np.nan)
        if streaming and ttft_ms is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                itl_ms = np.where(ok & (osl >= 2) & np.isfinite(ttft_ms), (latency_ms - ttft_ms) / (osl - 1), np.nan)
                out["inter_token_latency"] = itl_ms
                out["output_token_throughput_per_user"] = np.where(itl_ms > 0, 1000.0 / itl_ms, np.nan)
    isl: npt.NDArray[np.float64] | None = None
    if endpoint.tokenizes_input and server_token_counts:
        isl = _usage(records, "usage_prompt_tokens")  # the server counted the whole prompt, history included
    elif endpoint.tokenizes_input:
        isl = np.asarray(input_tokens_per_body, dtype=np.float64)[body_index] if n else np.zeros(0)
        turns = int64(records, "turn_index", default=0)
        if history is None and endpoint.produces_tokens and (turns > 0).any():
            history = SessionHistory()
        if history is not None and endpoint.produces_tokens and n:
            # a later chat turn sends the answers to the earlier ones (partial answers of failed turns too)
            sessions = int64(records, "session_num")
            answers = np.where(ok, output_tokens, 0.0) + _count_tokens(tokenizer, records, "content",
                                                                       np.flatnonzero(~ok))
            history.remember(sessions, turns, answers)
            isl = isl + history.tokens_before(sessions, turns)
    if isl is not None:
        out["input_sequence_length"] = np.where(ok, isl, np.nan)
        out["error_isl"] = np.where(~ok, isl, np.nan)
    if endpoint.produces_tokens and requested_output_tokens is not None and n:
        out.update(_length_mismatch(ok, osl, requested_output_tokens[body_index]))
    if not server_token_counts:
        out.update(_usage_discrepancy(records, ok, out, reasoning_tokens if reasoning_seen else None))
    return out, reasoning_seen


def _length_mismatch(ok: npt.NDArray[np.bool_], osl: npt.NDArray[np.float64], asked: npt.NDArray[np.float64]
                     ) -> PerRecord:
    """AIPerf's OSL mismatch: the signed % difference from the output tokens asked for, and whether it is past
    min(5% of asked, 50 tokens)."""
    usable = ok & np.isfinite(asked) & (asked > 0) & np.isfinite(osl)
    if not usable.any():
        return {}
    with np.errstate(divide="ignore", invalid="ignore"):
        diff_pct = np.where(usable, (osl - asked) / asked * 100.0, np.nan)
    threshold = np.minimum(asked * OSL_MISMATCH_PCT / 100.0, OSL_MISMATCH_MAX_TOKENS)
    exceeds = np.where(usable, (np.abs(osl - asked) > threshold).astype(np.float64), np.nan)
    return {"osl_mismatch_diff_pct": diff_pct, "osl_mismatch_count": exceeds}


def _usage_discrepancy(records: Records, ok: npt.NDArray[np.bool_], measured: PerRecord,
                       reasoning_tokens: npt.NDArray[np.float64] | None) -> PerRecord:
    """The server's usage counts against the client's (ISL, OSL, reasoning tokens), where the server sent them."""
    out: PerRecord = {}
    pairs = (("usage_prompt_tokens_diff_pct", "usage_prompt_tokens", measured.get("input_sequence_length")),
             ("usage_completion_tokens_diff_pct", "usage_completion_tokens", measured.get("output_sequence_length")),
             ("usage_reasoning_tokens_diff_pct", "usage_reasoning_tokens", reasoning_tokens))
    for tag, column, client in pairs:
        if client is None:
            continue
        diff = _pct_diff(ok, _usage(records, column), client)
        if np.isfinite(diff).any():
            out[tag] = diff
    prompt = out.get("usage_prompt_tokens_diff_pct")
    completion = out.get("usage_completion_tokens_diff_pct")
    if prompt is not None and completion is not None:  # AIPerf counts a request only where both were compared
        reasoning = out.get("usage_reasoning_tokens_diff_pct", np.full(len(ok), np.nan))
        with np.errstate(invalid="ignore"):
            off = (prompt > USAGE_DIFF_PCT) | (completion > USAGE_DIFF_PCT) | (reasoning > USAGE_DIFF_PCT)
        out["usage_discrepancy_count"] = np.where(np.isfinite(prompt) & np.isfinite(completion),
                                                  off.astype(np.float64), np.nan)
    return out
