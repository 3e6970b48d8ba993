"""Per-record metrics of a batch of records: each metric family's function over the same batch."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from aiperf.engine import ErrorKind, Phase, Records
from aiperf.inputs.endpoints import Endpoint
from aiperf.results.metrics.history import SessionHistory
from aiperf.results.metrics.images import image_metrics
from aiperf.results.metrics.spec import PerRecord
from aiperf.results.metrics.streaming import RaggedMetric, streaming_metrics
from aiperf.results.metrics.timing import response_end_times, timing_metrics
from aiperf.results.metrics.tokens import token_metrics

if TYPE_CHECKING:
    from aiperf.inputs.tokenizer import Tokenizer

__all__ = ["RecordMetrics", "record_metrics"]


@dataclass
class RecordMetrics:
    """The per-record metrics of one batch of records (or of all of them), in display units."""

    per_record: PerRecord  # tag -> float64[n], NaN where not applicable or failed
    per_record_lists: dict[str, RaggedMetric]  # tag -> (offsets int64[n+1], values)
    response_end_ns: npt.NDArray[np.int64]  # last chunk's arrival, else the transfer's end
    images_seen: bool  # a successful profiling record carried images
    reasoning_seen: bool  # a successful record returned reasoning text


def record_metrics(records: Records, *, endpoint: Endpoint, streaming: bool, input_tokens_per_body: npt.ArrayLike,
                   tokenizer: Tokenizer, history: SessionHistory | None = None, reasoning_seen: bool = False,
                   server_token_counts: bool = False,
                   requested_output_tokens: npt.NDArray[np.float64] | None = None) -> RecordMetrics:
    """Per-record metrics of `records` (a whole run, or one batch of a run streamed in batches).

    `history` carries the answers of earlier turns across batches (multi-turn chat ISL); without it, a run whose
    records hold later turns gets a history of its own. `reasoning_seen`: an earlier batch returned reasoning
    text, so reasoning token counts are reported from here on. `server_token_counts` (--use-server-token-count):
    token counts from each response's `usage`; a response without them has no token metrics.
    `requested_output_tokens`: per body index, the output tokens asked for (NaN: none), for the length check."""
    ok = records["error_kind"] == ErrorKind.OK
    valid = ok & (records["phase"] == Phase.PROFILING)
    response_end_ns = response_end_times(records)
    per_record = timing_metrics(records, ok, response_end_ns)
    lists: dict[str, RaggedMetric] = {}
    if streaming:
        streamed, lists = streaming_metrics(records, endpoint, ok)
        per_record.update(streamed)
    tokens, reasoning_seen = token_metrics(
        records, endpoint=endpoint, ok=ok, streaming=streaming, latency_ms=per_record["request_latency"],
        ttft_ms=per_record.get("time_to_first_token"), input_tokens_per_body=input_tokens_per_body,
        tokenizer=tokenizer, history=history, reasoning_seen=reasoning_seen,
        server_token_counts=server_token_counts, requested_output_tokens=requested_output_tokens)
    per_record.update(tokens)
    images = image_metrics(records, ok, per_record["request_latency"])
    per_record.update(images)
    images_seen = bool(images) and bool((np.asarray(records["num_images"])[valid] > 0).any())
    return RecordMetrics(per_record=per_record, per_record_lists=lists, response_end_ns=response_end_ns,
                         images_seen=images_seen, reasoning_seen=reasoning_seen)
