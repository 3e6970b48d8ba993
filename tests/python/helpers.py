"""Test helpers: columnar records built by hand (as Engine.records() documents them), and `process_records`, which
takes records through the production path of a run (RecordCollector, RecordsWriter, the summary and time
exports) the way run_profile does, so unit tests check what a real run writes."""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from aiperf.engine import ClockAnchor, ErrorKind, Phase, Records
from aiperf.inputs.endpoints import Endpoint, get_endpoint
from aiperf.results.collect import RecordCollector
from aiperf.results.export import RecordsWriter, RequestInputs, write_summary_files
from aiperf.results.formats import RECORDS_JSONL
from aiperf.results.metrics import RunMetrics
from aiperf.results.timeslices import write_time_exports

MS = 1_000_000  # ns
ANCHOR_MONO = 500 * MS
ANCHOR_WALL = 1_700_000_000_000_000_000
ANCHOR = ClockAnchor(wall_ns=ANCHOR_WALL, mono_ns=ANCHOR_MONO)
PREFIX = "0123abcd-prefix-"
INPUT_TOKENS = np.array([10, 20], dtype=np.int64)


@dataclass
class Req:
    """One request for the records builder; times in ms of CLOCK_MONOTONIC."""

    start_ms: float
    chunks: list[tuple[float, str]] = field(default_factory=list)  # (arrival ms, raw event data / body text)
    content: str = ""
    reasoning: str = ""
    phase: int = Phase.PROFILING
    error_kind: int = ErrorKind.OK
    status: int = 200
    message: str = ""
    end_ms: float | None = None
    body_index: int = 0
    num_images: int = 0
    worker_id: int = 0
    content_bytes: list[int] | None = None  # per chunk; default: len of the chunk text unless it is "[DONE]"
    request_headers: bytes = b""  # the header block sent (raw-only column)


def make_records(reqs: Sequence[Req]) -> Records:
    """Columnar records exactly as Engine.records() documents them."""
    n = len(reqs)

    def ragged(items: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
        offsets = np.zeros(len(items) + 1, dtype=np.int64)
        offsets[1:] = np.cumsum([len(b) for b in items]) if items else []
        return offsets, np.frombuffer(b"".join(items), dtype=np.uint8).copy()

    chunk_counts = [len(r.chunks) for r in reqs]
    chunk_offsets = np.zeros(n + 1, dtype=np.int64)
    chunk_offsets[1:] = np.cumsum(chunk_counts) if n else []
    chunk_ns, chunk_bytes, raw_items = [], [], []
    for r in reqs:
        sizes = r.content_bytes or [0 if text == "[DONE]" else len(text.encode()) for _, text in r.chunks]
        for (t, text), size in zip(r.chunks, sizes):
            chunk_ns.append(int(t * MS))
            chunk_bytes.append(size)
            raw_items.append(text.encode())
    content_offsets, content = ragged([r.content.encode() for r in reqs])
    reasoning_offsets, reasoning = ragged([r.reasoning.encode() for r in reqs])
    message_offsets, message = ragged([r.message.encode() for r in reqs])
    raw_offsets, raw = ragged(raw_items)
    header_offsets, headers = ragged([b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nSet-Cookie: s=1\r\n\r\n"
                                      if r.status else b"" for r in reqs])
    request_header_offsets, request_headers = ragged([r.request_headers for r in reqs])
    end = [r.end_ms if r.end_ms is not None else (r.chunks[-1][0] if r.chunks else r.start_ms) for r in reqs]
    ack = [r.chunks[0][0] if r.chunks else -1 for r in reqs]
    return {
        "request_index": np.arange(n, dtype=np.int64),
        "body_index": np.array([r.body_index for r in reqs], dtype=np.int32),
        "worker_id": np.array([r.worker_id for r in reqs], dtype=np.int32),
        "phase": np.array([r.phase for r in reqs], dtype=np.int8),
        "session_num": np.arange(n, dtype=np.int64),
        "turn_index": np.zeros(n, dtype=np.int32),
        "intended_ns": np.full(n, -1, dtype=np.int64),
        "start_ns": np.array([int(r.start_ms * MS) for r in reqs], dtype=np.int64),
        "ack_ns": np.array([int(a * MS) if a >= 0 else -1 for a in ack], dtype=np.int64),
        "end_ns": np.array([int(e * MS) for e in end], dtype=np.int64),
        "status": np.array([r.status for r in reqs], dtype=np.int32),
        "error_kind": np.array([r.error_kind for r in reqs], dtype=np.int8),
        "was_cancelled": np.array([r.error_kind == ErrorKind.CANCELLED for r in reqs], dtype=bool),
        "error_message_offsets": message_offsets, "error_message": message,
        "chunk_offsets": chunk_offsets,
        "chunk_ns": np.array(chunk_ns, dtype=np.int64),
        "chunk_content_bytes": np.array(chunk_bytes, dtype=np.int32),
        "content_offsets": content_offsets, "content": content,
        "reasoning_offsets": reasoning_offsets, "reasoning": reasoning,
        "usage_prompt_tokens": np.full(n, -1, dtype=np.int64),
        "usage_completion_tokens": np.full(n, -1, dtype=np.int64),
        "usage_reasoning_tokens": np.full(n, -1, dtype=np.int64),
        "num_images": np.array([r.num_images for r in reqs], dtype=np.int32),
        "response_bytes": np.zeros(n, dtype=np.int64),
        "raw_offsets": raw_offsets, "raw": raw,
        "response_header_offsets": header_offsets, "response_headers": headers,
        "request_header_offsets": request_header_offsets, "request_headers": request_headers,
    }


class WordTokenizer:
    """Counts whitespace-separated words; records how it was called (one batch per text column expected)."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def count_tokens(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([len(t.split()) for t in texts], dtype=np.int64)


def chat_inputs(bodies: int = 2, **payload_fields: Any) -> RequestInputs:
    """One streamed chat payload per body index, each its own session."""
    payloads = [{"model": "m", "messages": [{"role": "user", "content": f"prompt {i}"}], "stream": True,
                 **payload_fields} for i in range(bodies)]
    return RequestInputs(payloads=payloads, session_ids=[f"s-{i}" for i in range(bodies)],
                         turn_indices=[0] * bodies)


@dataclass
class Processed:
    """What the production path made of some records: the run's metrics, kept columns and files."""

    metrics: RunMetrics
    columns: Records
    files: list[Path]
    artifact_dir: Path

    def lines(self, name: str = RECORDS_JSONL) -> list[dict[str, Any]]:
        text = (self.artifact_dir / name).read_text(encoding="utf-8")
        return [json.loads(line) for line in text.splitlines()]


def process_records(records: Records | Sequence[Records], artifact_dir: Path, *,
                    endpoint: str | Endpoint = "chat", streaming: bool = True, tokenizer: Any = None,
                    input_tokens: np.ndarray = INPUT_TOKENS, request_inputs: RequestInputs | None = None,
                    export_level: str = "records", goodput: dict[str, float] | None = None,
                    server_token_counts: bool = False, input_config: dict[str, Any] | None = None,
                    anchor: ClockAnchor = ANCHOR,
                    request_id_prefix: str = PREFIX, redact_headers: Any = None,
                    last_turn_of_body: np.ndarray | None = None) -> Processed:
    """Records (one batch, or several as the engine hands them over) through a run's collector and writers."""
    from aiperf.redaction import redact_headers as default_redaction

    ep = get_endpoint(endpoint) if isinstance(endpoint, str) else endpoint
    batches = [records] if isinstance(records, dict) else list(records)
    bodies = max((int(b["body_index"].max()) + 1 for b in batches if len(b["body_index"])), default=1)
    request_inputs = request_inputs or chat_inputs(max(bodies, len(input_tokens)))
    input_config = {"model": ["m"], "streaming": streaming, **(input_config or {})}
    if last_turn_of_body is None and any(request_inputs.turn_indices):  # conversations: as run_profile does
        last: dict[str, int] = {}
        for session, turn in zip(request_inputs.session_ids, request_inputs.turn_indices):
            last[session] = max(last.get(session, 0), turn)
        last_turn_of_body = np.array([turn == last[session] for session, turn in
                                      zip(request_inputs.session_ids, request_inputs.turn_indices)])
    writer = RecordsWriter(artifact_dir, export_level=export_level, request_inputs=request_inputs,
                           anchor=anchor, request_id_prefix=request_id_prefix,
                           redact_headers=redact_headers or default_redaction)
    collector = RecordCollector(endpoint=ep, streaming=streaming, tokenizer=tokenizer or WordTokenizer(),
                                input_tokens=lambda: input_tokens, writer=writer,
                                server_token_counts=server_token_counts, last_turn_of_body=last_turn_of_body)
    try:
        for batch in batches:
            collector.add(batch)
    finally:
        record_files = writer.close()
    metrics, columns = collector.finish(anchor=anchor, goodput=goodput)
    summary_json, summary_csv, inputs_json = write_summary_files(
        artifact_dir, metrics=metrics, request_inputs=request_inputs, input_config=input_config,
        aiperf_version="0.1.0", was_cancelled=False)
    times = write_time_exports(artifact_dir, columns=columns, per_record=metrics.per_record,
                               slice_duration_s=input_config.get("slice_duration"), export_level=export_level,
                               anchor=anchor, goodput=goodput, input_config=input_config)
    return Processed(metrics=metrics, columns=columns, artifact_dir=Path(artifact_dir),
                     files=[summary_json, summary_csv, *record_files, inputs_json, *times])


def streaming_requests() -> list[Req]:
    """Two good profiling requests, one warm-up, three failures (two 500s differing only by a number, a timeout)."""
    return [
        Req(0, [(10, '{"c":"w"}'), (20, "[DONE]")], content="warm up words here", phase=Phase.WARMUP),
        Req(1000, [(1010, '{"role":"assistant"}'), (1020, '{"c":"hello"}'), (1025, '{"c":" world"}'),
                   (1040, '{"c":" foo"}'), (1050, "[DONE]")], content="hello world foo",
            content_bytes=[0, 5, 6, 4, 0]),
        Req(1005, [(1030, '{"c":"one"}'), (1060, '{"c":" two"}'), (1100, "[DONE]")], content="one two",
            body_index=1, content_bytes=[3, 4, 0]),
        Req(1010, end_ms=1200, error_kind=ErrorKind.HTTP_STATUS, status=500, message="Internal error 123",
            body_index=1),
        Req(1020, end_ms=1150, error_kind=ErrorKind.HTTP_STATUS, status=500, message="Internal error 456"),
        Req(1030, end_ms=1180, error_kind=ErrorKind.TIMEOUT, status=0, message="Operation timed out"),
    ]
