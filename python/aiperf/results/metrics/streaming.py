"""Streaming (SSE) timing: time to first and second token, and the gaps between chunks.

TTFT = first chunk carrying text - request start; TTST = second text chunk - first; inter_chunk_latency = the
gaps between consecutive text chunks of a request (all chunks for endpoints that return no text).
"""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

from aiperf.engine import Records
from aiperf.inputs.endpoints import Endpoint
from aiperf.results.columns import int64, row_lengths
from aiperf.results.metrics.spec import NS_PER_MS, MetricSpec, PerRecord, metric

__all__ = ["STREAMING_METRICS", "RaggedMetric", "streaming_metrics"]

# a list-valued metric: (offsets int64[n+1], values float64[...]) in display units
RaggedMetric = tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]

STREAMING_METRICS: tuple[MetricSpec, ...] = (
    metric("time_to_first_token", "Time to First Token", "ms", 100, streaming_only=True, tokens_only=True),
    metric("time_to_second_token", "Time to Second Token", "ms", 200, streaming_only=True, tokens_only=True),
    metric("inter_chunk_latency", "Inter Chunk Latency", "ms", None, streaming_only=True, list_valued=True,
           no_console=True),
)


def streaming_metrics(records: Records, endpoint: Endpoint, ok: npt.NDArray[np.bool_]
                      ) -> tuple[PerRecord, dict[str, RaggedMetric]]:
    """TTFT and TTST (text endpoints) and inter_chunk_latency of the successful records of a streamed run."""
    n = len(ok)
    start_ns = int64(records, "start_ns")
    chunk_ns = int64(records, "chunk_ns")
    chunk_bytes = np.asarray(records["chunk_content_bytes"])
    owner = np.repeat(np.arange(n), row_lengths(records, "chunk_offsets"))
    per_record: PerRecord = {}
    if endpoint.produces_tokens:
        content_chunks = np.flatnonzero(chunk_bytes > 0)
        content_count = np.bincount(owner[content_chunks], minlength=n)
        first_pos = np.concatenate(([0], np.cumsum(content_count)[:-1])).astype(np.int64)
        content_ns = chunk_ns[content_chunks]
        last = max(len(content_ns) - 1, 0)
        has1 = ok & (content_count >= 1)
        has2 = ok & (content_count >= 2)
        first_ns = np.where(has1, content_ns[np.minimum(first_pos, last)] if content_ns.size else 0, 0)
        second_ns = np.where(has2, content_ns[np.minimum(first_pos + 1, last)] if content_ns.size else 0, 0)
        per_record["time_to_first_token"] = np.where(has1, (first_ns - start_ns) / NS_PER_MS, np.nan)
        per_record["time_to_second_token"] = np.where(has2, (second_ns - first_ns) / NS_PER_MS, np.nan)
    chunk_rows = np.flatnonzero(chunk_bytes > 0) if endpoint.produces_tokens else np.arange(len(chunk_ns))
    chunk_owner = owner[chunk_rows]
    same = chunk_owner[1:] == chunk_owner[:-1]
    gap_owner = chunk_owner[1:][same]
    keep = ok[gap_owner]
    gap_owner = gap_owner[keep]
    gaps = np.diff(chunk_ns[chunk_rows])[same][keep] / NS_PER_MS
    gap_offsets = np.concatenate(([0], np.cumsum(np.bincount(gap_owner, minlength=n)))).astype(np.int64)
    return per_record, {"inter_chunk_latency": (gap_offsets, gaps.astype(np.float64))}
