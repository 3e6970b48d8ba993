"""Metric computation from hand-built columnar records (no engine run): every metric against hand-computed values."""
from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field

import numpy as np
import pytest

from aiperf.inputs.endpoints import Endpoint, get_endpoint


def _install_compute_stats_stand_in() -> None:
    """Only while the compiled module is not built: a numpy stand-in with compute_stats's documented contract."""
    try:
        from aiperf import _engine

        if hasattr(_engine, "compute_stats"):
            return
    except ImportError:
        pass

    def compute_stats(values):
        values = np.asarray(values, dtype=np.float64)
        values = values[~np.isnan(values)]
        if values.size == 0:
            return {"count": 0, "sum": 0.0}
        out = {"avg": float(values.mean()), "min": float(values.min()), "max": float(values.max())}
        for p in (1, 5, 10, 25, 50, 75, 90, 95, 99):
            out[f"p{p}"] = float(np.percentile(values, p))
        out.update(std=float(values.std()), count=int(values.size), sum=float(values.sum()))
        return out

    module = sys.modules.get("aiperf._engine") or types.ModuleType("aiperf._engine")
    module.compute_stats = compute_stats
    sys.modules["aiperf._engine"] = module
    import aiperf

    aiperf._engine = module


_install_compute_stats_stand_in()

from aiperf.results.metrics import METRICS, RunMetrics, compute_metrics, console_metrics

MS = 1_000_000  # ns
ANCHOR_MONO = 500 * MS
ANCHOR_WALL = 1_700_000_000_000_000_000


@dataclass
class Req:
    """One request for the records builder; times in ms of CLOCK_MONOTONIC."""

    start_ms: float
    chunks: list[tuple[float, str]] = field(default_factory=list)  # (arrival ms, raw event data / body text)
    content: str = ""
    reasoning: str = ""
    phase: int = 1
    error_kind: int = 0
    status: int = 200
    message: str = ""
    end_ms: float | None = None
    body_index: int = 0
    num_images: int = 0
    worker_id: int = 0
    content_bytes: list[int] | None = None  # per chunk; default: len of the chunk text unless it is "[DONE]"


def make_records(reqs: list[Req]) -> dict[str, np.ndarray]:
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
    end = [r.end_ms if r.end_ms is not None else (r.chunks[-1][0] if r.chunks else r.start_ms) for r in reqs]
    ack = [r.chunks[0][0] if r.chunks else -1 for r in reqs]
    return {
        "request_index": np.arange(n, dtype=np.int64),
        "body_index": np.array([r.body_index for r in reqs], dtype=np.int32),
        "worker_id": np.array([r.worker_id for r in reqs], dtype=np.int32),
        "phase": np.array([r.phase for r in reqs], dtype=np.int8),
        "start_ns": np.array([int(r.start_ms * MS) for r in reqs], dtype=np.int64),
        "ack_ns": np.array([int(a * MS) if a >= 0 else -1 for a in ack], dtype=np.int64),
        "end_ns": np.array([int(e * MS) for e in end], dtype=np.int64),
        "status": np.array([r.status for r in reqs], dtype=np.int32),
        "error_kind": np.array([r.error_kind for r in reqs], dtype=np.int8),
        "was_cancelled": np.array([r.error_kind == 6 for r in reqs], dtype=bool),
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
    }


class WordTokenizer:
    """Counts whitespace-separated words; records how it was called (one batch per text column expected)."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def count_tokens(self, texts):
        self.calls.append(list(texts))
        return np.array([len(t.split()) for t in texts], dtype=np.int64)


INPUT_TOKENS = np.array([10, 20], dtype=np.int64)


def streaming_requests() -> list[Req]:
    """Two good profiling requests, one warm-up, three failures (two 500s differing only by a number, a timeout)."""
    return [
        Req(0, [(10, '{"c":"w"}'), (20, "[DONE]")], content="warm up words here", phase=0),
        Req(1000, [(1010, '{"role":"assistant"}'), (1020, '{"c":"hello"}'), (1025, '{"c":" world"}'),
                   (1040, '{"c":" foo"}'), (1050, "[DONE]")], content="hello world foo",
            content_bytes=[0, 5, 6, 4, 0]),
        Req(1005, [(1030, '{"c":"one"}'), (1060, '{"c":" two"}'), (1100, "[DONE]")], content="one two",
            body_index=1, content_bytes=[3, 4, 0]),
        Req(1010, end_ms=1200, error_kind=3, status=500, message="Internal error 123", body_index=1),
        Req(1020, end_ms=1150, error_kind=3, status=500, message="Internal error 456"),
        Req(1030, end_ms=1180, error_kind=2, status=0, message="Operation timed out"),
    ]


def run(reqs: list[Req], endpoint: str | Endpoint = "chat", streaming: bool = True, tokenizer=None,
        goodput=None) -> RunMetrics:
    ep = get_endpoint(endpoint) if isinstance(endpoint, str) else endpoint
    return compute_metrics(make_records(reqs), endpoint=ep, streaming=streaming, input_tokens_per_body=INPUT_TOKENS,
                           tokenizer=tokenizer or WordTokenizer(), anchor_wall_ns=ANCHOR_WALL,
                           anchor_mono_ns=ANCHOR_MONO, goodput=goodput)


def test_streaming_record_metrics_match_hand_computed_values():
    m = run(streaming_requests())
    pr = m.per_record
    # record 1: start 1000, content chunks at 1020/1025/1040, last chunk ([DONE]) at 1050, 3 tokens
    assert pr["request_latency"][1] == pytest.approx(50.0)
    assert pr["time_to_first_token"][1] == pytest.approx(20.0)
    assert pr["time_to_second_token"][1] == pytest.approx(5.0)
    assert pr["output_sequence_length"][1] == 3
    assert pr["inter_token_latency"][1] == pytest.approx((50 - 20) / 2)
    assert pr["output_token_throughput_per_user"][1] == pytest.approx(1000 / 15)
    assert pr["input_sequence_length"][1] == 10
    # record 2: start 1005, content at 1030/1060, last chunk at 1100, 2 tokens
    assert pr["request_latency"][2] == pytest.approx(95.0)
    assert pr["time_to_first_token"][2] == pytest.approx(25.0)
    assert pr["time_to_second_token"][2] == pytest.approx(30.0)
    assert pr["inter_token_latency"][2] == pytest.approx(70.0)
    assert pr["input_sequence_length"][2] == 20
    # warm-up records get values too (exports index them), failed records only error_isl
    assert pr["request_latency"][0] == pytest.approx(20.0)
    assert pr["output_sequence_length"][0] == 4
    for tag in ("request_latency", "time_to_first_token", "output_sequence_length", "input_sequence_length"):
        assert np.isnan(pr[tag][3:]).all(), tag
    assert list(pr["error_isl"][3:]) == [20, 10, 10]
    assert np.isnan(pr["error_isl"][:3]).all()
    offsets, gaps = m.per_record_lists["inter_chunk_latency"]
    assert gaps[offsets[1]:offsets[2]].tolist() == pytest.approx([5.0, 15.0])
    assert gaps[offsets[2]:offsets[3]].tolist() == pytest.approx([30.0])


def test_summary_covers_successful_profiling_records_only():
    m = run(streaming_requests())
    s = m.summary
    assert s["request_latency"]["unit"] == "ms"
    assert s["request_latency"]["avg"] == pytest.approx(72.5)
    assert s["request_latency"]["min"] == pytest.approx(50.0)
    assert s["request_latency"]["max"] == pytest.approx(95.0)
    assert s["request_latency"]["p50"] == pytest.approx(72.5)
    assert s["request_latency"]["p99"] == pytest.approx(50 + 0.99 * 45)
    assert s["request_latency"]["std"] == pytest.approx(22.5)
    assert s["request_latency"]["count"] == 2
    assert s["output_sequence_length"]["avg"] == pytest.approx(2.5)
    assert s["input_sequence_length"]["avg"] == pytest.approx(15.0)
    assert s["request_count"] == {"unit": "requests", "avg": 2.0}
    assert s["error_request_count"]["avg"] == 3.0
    # window: first profiling start (1000 ms) to the latest end, failures included (1200 ms)
    assert m.benchmark_duration_s == pytest.approx(0.2)
    assert s["benchmark_duration"]["avg"] == pytest.approx(0.2)
    assert s["request_throughput"]["avg"] == pytest.approx(2 / 0.2)
    assert s["total_osl"]["avg"] == 5.0 and s["total_isl"]["avg"] == 30.0
    assert s["output_token_throughput"]["avg"] == pytest.approx(5 / 0.2)
    assert m.start_wall_ns == ANCHOR_WALL + 1000 * MS - ANCHOR_MONO
    assert m.end_wall_ns == ANCHOR_WALL + 1200 * MS - ANCHOR_MONO
    assert "goodput" not in s and "reasoning_token_count" not in s and "image_throughput" not in s


def test_errors_are_grouped_by_kind_and_message_pattern():
    m = run(streaming_requests())
    assert m.errors == [
        {"code": 500, "type": "HTTPError", "message": "Internal error 123", "count": 2},
        {"code": None, "type": "TimeoutError", "message": "Operation timed out", "count": 1},
    ]


def test_warmup_failures_are_not_in_the_error_summary_and_cancellation_is_499():
    m = run([Req(0, end_ms=5, error_kind=1, status=0, message="refused", phase=0),
             Req(10, [(20, "x")], content="x"), Req(10, end_ms=30, error_kind=6, status=0, message="cancelled")])
    assert m.errors == [{"code": 499, "type": "Cancelled", "message": "cancelled", "count": 1}]


def test_output_tokens_are_counted_in_one_batch_call():
    tokenizer = WordTokenizer()
    run(streaming_requests(), tokenizer=tokenizer)
    assert len(tokenizer.calls) == 1
    assert tokenizer.calls[0] == ["warm up words here", "hello world foo", "one two"]


def test_non_streaming_chat_has_no_chunk_timing_metrics():
    reqs = [Req(0, [(40, '{"choices":[]}')], content="a b c d"), Req(10, [(30, "{}")], content="e f")]
    m = run(reqs, streaming=False)
    assert m.per_record["request_latency"].tolist() == pytest.approx([40.0, 20.0])
    assert m.per_record["output_sequence_length"].tolist() == [4, 2]
    for tag in ("time_to_first_token", "time_to_second_token", "inter_token_latency",
                "output_token_throughput_per_user"):
        assert tag not in m.per_record and tag not in m.summary
    assert "inter_chunk_latency" not in m.per_record_lists
    rows = [spec.tag for spec in console_metrics(m.summary)]
    assert rows == ["request_latency", "output_sequence_length", "input_sequence_length", "output_token_throughput",
                    "request_throughput", "request_count"]


def test_streaming_console_rows_follow_display_order():
    m = run(streaming_requests())
    assert [spec.tag for spec in console_metrics(m.summary)] == [
        "time_to_first_token", "time_to_second_token", "request_latency", "inter_token_latency",
        "output_token_throughput_per_user", "output_sequence_length", "input_sequence_length",
        "output_token_throughput", "request_throughput", "request_count"]


def test_embeddings_have_latency_and_input_length_but_no_output_tokens():
    tokenizer = WordTokenizer()
    m = run([Req(0, [(12, '{"data":[]}')]), Req(0, [(18, '{"data":[]}')])], endpoint="embeddings",
            streaming=False, tokenizer=tokenizer)
    assert tokenizer.calls == []
    assert [spec.tag for spec in console_metrics(m.summary)] == [
        "request_latency", "input_sequence_length", "request_throughput", "request_count"]
    assert m.summary["request_latency"]["avg"] == pytest.approx(15.0)


def test_reasoning_tokens_count_towards_output_sequence_length():
    m = run([Req(0, [(10, "r"), (20, "c"), (30, "c")], content="x y", reasoning="think think think")])
    assert m.per_record["output_token_count"][0] == 2
    assert m.per_record["reasoning_token_count"][0] == 3
    assert m.per_record["output_sequence_length"][0] == 5
    assert m.summary["total_reasoning_tokens"]["avg"] == 3
    assert m.per_record["inter_token_latency"][0] == pytest.approx((30 - 10) / 4)


def test_single_token_stream_has_no_inter_token_latency_or_second_token():
    m = run([Req(0, [(10, "c"), (12, "[DONE]")], content="x")])
    assert np.isnan(m.per_record["inter_token_latency"][0])
    assert np.isnan(m.per_record["time_to_second_token"][0])
    assert "inter_token_latency" not in m.summary and "time_to_second_token" not in m.summary
    assert m.summary["time_to_first_token"]["avg"] == pytest.approx(10.0)


def test_image_metrics_come_from_images_returned():
    images = Endpoint(type="image_generation", path="/v1/images/generations", metrics_title="Image Generation Metrics",
                      produces_tokens=False, supports_streaming=True, tokenizes_input=True, produces_images=True)
    m = run([Req(0, [(50, '{"data":[{},{}]}')], num_images=2), Req(0, [(100, '{"data":[{}]}')], num_images=1)],
            endpoint=images, streaming=False)
    assert m.per_record["image_throughput"].tolist() == pytest.approx([40.0, 10.0])
    assert m.per_record["image_latency"].tolist() == pytest.approx([25.0, 100.0])
    assert [spec.tag for spec in console_metrics(m.summary)] == [
        "request_latency", "input_sequence_length", "image_throughput", "image_latency", "request_throughput",
        "request_count"]


def test_goodput_counts_requests_meeting_every_slo():
    m = run(streaming_requests(), goodput={"request_latency": 60.0})
    assert m.summary["good_request_count"]["avg"] == 1
    assert m.summary["goodput"]["avg"] == pytest.approx(1 / 0.2)
    m = run(streaming_requests(), goodput={"request_latency": 100.0, "output_token_throughput_per_user": 50.0})
    assert m.summary["good_request_count"]["avg"] == 1  # record 2 has 1000/70 ≈ 14 tokens/sec/user
    assert "goodput" in [spec.tag for spec in console_metrics(m.summary)]


def test_run_with_only_failures_reports_zero_requests_and_no_latency():
    m = run([Req(0, end_ms=100, error_kind=1, status=0, message="Connection refused")])
    assert m.summary["request_count"]["avg"] == 0
    assert "request_latency" not in m.summary
    assert m.benchmark_duration_s == pytest.approx(0.1)
    assert m.errors[0]["type"] == "ConnectionError" and m.errors[0]["count"] == 1


def test_empty_run_does_not_divide_by_zero():
    m = run([])
    assert m.summary["request_count"]["avg"] == 0
    assert m.summary["request_throughput"]["avg"] == 0.0
    assert m.benchmark_duration_s == 0.0 and m.errors == []


def test_utf8_content_is_decoded_before_tokenizing():
    tokenizer = WordTokenizer()
    run([Req(0, [(10, "c")], content="héllo wörld"), Req(0, [(10, "c")], content="ok")], tokenizer=tokenizer)
    assert tokenizer.calls == [["héllo wörld", "ok"]]


def test_registry_entries_are_consistent():
    for tag, spec in METRICS.items():
        assert spec.tag == tag
        assert spec.kind in ("record", "derived", "aggregate")
        assert spec.unit
    orders = [s.display_order for s in METRICS.values() if s.display_order is not None]
    assert len(orders) == len(set(orders))


def test_server_token_counts_use_usage_and_split_out_reasoning():
    reqs = streaming_requests()
    records = make_records(reqs)
    n = len(reqs)
    records["usage_prompt_tokens"] = np.arange(100, 100 + n, dtype=np.int64)
    records["usage_completion_tokens"] = np.full(n, 30, dtype=np.int64)
    records["usage_reasoning_tokens"] = np.full(n, 10, dtype=np.int64)
    records["usage_completion_tokens"][2] = -1  # a response without usage has no token metrics
    metrics = compute_metrics(records, endpoint=get_endpoint("chat"), streaming=True,
                              input_tokens_per_body=INPUT_TOKENS, tokenizer=None, anchor_wall_ns=ANCHOR_WALL,
                              anchor_mono_ns=ANCHOR_MONO, server_token_counts=True)
    per = metrics.per_record
    assert per["output_sequence_length"][1] == 30 and per["output_token_count"][1] == 20
    assert per["reasoning_token_count"][1] == 10
    assert per["input_sequence_length"][1] == 101
    assert np.isnan(per["output_sequence_length"][2]) and np.isnan(per["inter_token_latency"][2])
    assert per["error_isl"][3] == 103  # failed requests keep the server's prompt count
    assert metrics.summary["output_sequence_length"]["count"] == 1
