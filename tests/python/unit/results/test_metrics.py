"""Metric computation from hand-built columnar records (no engine run): every metric against hand-computed values."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import numpy as np
import pytest

from aiperf.engine import ErrorKind, Phase, Records
from aiperf.inputs.endpoints import Endpoint
from aiperf.results.metrics import METRICS, RunMetrics, console_metrics
from aiperf.results.timeline import compute_timeline
from helpers import (
    ANCHOR_MONO,
    ANCHOR_WALL,
    MS,
    Processed,
    Req,
    WordTokenizer,
    chat_inputs,
    make_records,
    process_records,
    streaming_requests,
)


def run(reqs: list[Req] | Records, endpoint: str | Endpoint = "chat", streaming: bool = True, tokenizer=None,
        goodput=None, **kw) -> RunMetrics:
    """The metrics a run of these records gets (the production path, summary export only)."""
    records = reqs if isinstance(reqs, dict) else make_records(reqs)
    with tempfile.TemporaryDirectory() as folder:
        return process_records(records, Path(folder), endpoint=endpoint, streaming=streaming, tokenizer=tokenizer,
                               goodput=goodput, export_level="summary", **kw).metrics


def run_with_lines(tmp_path: Path, reqs: list[Req], **kw) -> Processed:
    return process_records(make_records(reqs), tmp_path, **kw)


def test_streaming_record_metrics_match_hand_computed_values(tmp_path):
    processed = run_with_lines(tmp_path, streaming_requests())
    m = processed.metrics
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
    gaps = [line["metrics"].get("inter_chunk_latency", {}).get("value") for line in processed.lines()]
    assert gaps[1] == pytest.approx([5.0, 15.0])
    assert gaps[2] == pytest.approx([30.0])


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
    m = run([Req(0, end_ms=5, error_kind=ErrorKind.CONNECT, status=0, message="refused", phase=Phase.WARMUP),
             Req(10, [(20, "x")], content="x"),
             Req(10, end_ms=30, error_kind=ErrorKind.CANCELLED, status=0, message="cancelled")])
    assert m.errors == [{"code": 499, "type": "Cancelled", "message": "cancelled", "count": 1}]


def test_output_tokens_are_counted_in_one_batch_call():
    tokenizer = WordTokenizer()
    run(streaming_requests(), tokenizer=tokenizer)
    assert len(tokenizer.calls) == 1
    assert tokenizer.calls[0] == ["warm up words here", "hello world foo", "one two"]


def test_non_streaming_chat_has_no_chunk_timing_metrics(tmp_path):
    reqs = [Req(0, [(40, '{"choices":[]}')], content="a b c d"), Req(10, [(30, "{}")], content="e f")]
    processed = run_with_lines(tmp_path, reqs, streaming=False)
    m = processed.metrics
    assert m.per_record["request_latency"].tolist() == pytest.approx([40.0, 20.0])
    assert m.per_record["output_sequence_length"].tolist() == [4, 2]
    for tag in ("time_to_first_token", "time_to_second_token", "inter_token_latency",
                "output_token_throughput_per_user"):
        assert tag not in m.per_record and tag not in m.summary
    assert all("inter_chunk_latency" not in line["metrics"] for line in processed.lines())
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
    m = run([Req(0, end_ms=100, error_kind=ErrorKind.CONNECT, status=0, message="Connection refused")])
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
        assert spec.kind in ("record", "counter", "derived", "aggregate")
        assert (spec.aggregate is not None) == (spec.kind != "record"), tag
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
    metrics = run(records, tokenizer=None, server_token_counts=True)
    per = metrics.per_record
    assert per["output_sequence_length"][1] == 30 and per["output_token_count"][1] == 20
    assert per["reasoning_token_count"][1] == 10
    assert per["input_sequence_length"][1] == 101
    assert np.isnan(per["output_sequence_length"][2]) and np.isnan(per["inter_token_latency"][2])
    assert per["error_isl"][3] == 103  # failed requests keep the server's prompt count
    assert metrics.summary["output_sequence_length"]["count"] == 1


# ---- issue 22: empty answers, output lengths, the server's usage -------------------------------------------------


def test_an_empty_answer_is_an_error_named_as_aiperf_and_not_measured():
    empty = "No responses with actual content were received from the server (only usage/metadata, null/empty data, " \
            "or [DONE] markers)"
    m = run([Req(0, [(10, '{"c":"a"}'), (20, "[DONE]")], content="a"),
             Req(0, [(5, '{"role":"assistant"}'), (6, "[DONE]")], content_bytes=[0, 0],
                 error_kind=ErrorKind.EMPTY_RESPONSE, message=empty)])
    assert m.errors == [{"code": None, "type": "InvalidInferenceResultError", "message": empty, "count": 1}]
    assert m.summary["request_count"]["avg"] == 1 and m.summary["error_request_count"]["avg"] == 1
    assert m.summary["request_latency"]["count"] == 1 and m.summary["time_to_first_token"]["count"] == 1
    assert np.isnan(m.per_record["request_latency"][1])


def _answers(words: list[int]) -> list[Req]:
    return [Req(i, [(i + 1, "c"), (i + 2, "[DONE]")], content=" ".join(["w"] * n)) for i, n in enumerate(words)]


def test_output_length_mismatch_uses_aiperfs_threshold_of_5_percent_capped_at_50_tokens():
    # asked 100: 96 is within 5 tokens, 94 is not; asked 2000: 1951 is within the 50-token cap, 1949 is not
    asked = chat_inputs(4)
    for payload, tokens in zip(asked.payloads, (100, 100, 2000, 2000)):
        payload["max_completion_tokens"] = tokens
    reqs = _answers([96, 94, 1951, 1949])
    for i, r in enumerate(reqs):
        r.body_index = i
    m = run(reqs, request_inputs=asked, input_tokens=np.zeros(4))
    assert m.per_record["osl_mismatch_diff_pct"].tolist() == pytest.approx([-4.0, -6.0, -2.45, -2.55])
    assert m.summary["osl_mismatch_count"] == {"unit": "requests", "avg": 2.0}
    assert m.summary["osl_mismatch_diff_pct"]["avg"] == pytest.approx(-3.75)
    [warning] = m.warnings
    assert warning.title == "Output Sequence Length Mismatch Warning"
    assert warning.lines[0].startswith("2 of 4 requests (50.0%) have output length differing from requested")
    assert "Average mismatch: -3.8%" in warning.text()


def test_no_length_check_without_a_limit_and_max_tokens_counts_too():
    m = run(_answers([5, 5]))
    assert "osl_mismatch_diff_pct" not in m.per_record and "osl_mismatch_count" not in m.summary
    assert m.warnings == []
    asked = chat_inputs(2, max_tokens=5)  # --use-legacy-max-tokens, or completions
    m = run(_answers([5, 5]), request_inputs=asked)
    assert m.summary["osl_mismatch_count"]["avg"] == 0 and m.warnings == []


def test_usage_counts_more_than_10_percent_off_the_clients_get_aiperfs_discrepancy_warning():
    records = make_records(_answers([10, 10, 10]))  # ISL 10 (body 0), OSL 10
    records["usage_prompt_tokens"] = np.array([10, 11, 10])  # 10% off is not more than 10%
    records["usage_completion_tokens"] = np.array([10, 10, 12])  # 20% off
    m = run(records)
    assert m.per_record["usage_prompt_tokens_diff_pct"].tolist() == pytest.approx([0.0, 10.0, 0.0])
    assert m.per_record["usage_completion_tokens_diff_pct"].tolist() == pytest.approx([0.0, 0.0, 20.0])
    assert m.summary["usage_discrepancy_count"] == {"unit": "requests", "avg": 1.0}
    [warning] = m.warnings
    assert warning.title == "Token Count Discrepancy Warning"
    assert warning.lines[0].startswith("1 of 3 requests (33.3%) show a difference exceeding 10%")
    # with the server's counts there is nothing to compare
    m = run(records, server_token_counts=True)
    assert not any(tag.startswith("usage_") for tag in m.summary) and m.warnings == []


def test_server_token_counts_without_usage_leave_the_token_metrics_out_with_a_warning(tmp_path):
    processed = run_with_lines(tmp_path, streaming_requests(), server_token_counts=True)  # no record has usage
    m = processed.metrics
    timeline = json.loads((tmp_path / "profile_export_timeline.json").read_text())
    assert all("output_tokens" not in b and "output_token_throughput" not in b for b in timeline["buckets"])
    summary = json.loads((tmp_path / "profile_export_aiperf.json").read_text())
    assert "output_token_throughput" not in summary and "total_osl" not in summary
    assert compute_timeline(np.array([1, 2]), np.array([3, 4]), output_tokens=np.full(2, np.nan)).output_tokens \
        is None  # what Run.timeline shows too
    for tag in ("output_sequence_length", "input_sequence_length", "inter_token_latency",
                "output_token_throughput_per_user", "output_token_throughput", "total_osl", "total_isl",
                "total_output_tokens", "total_token_throughput"):
        assert tag not in m.summary, tag
    assert m.summary["request_count"]["avg"] == 2 and m.summary["time_to_first_token"]["count"] == 2
    [warning] = m.warnings
    assert warning.title == "Server Token Counts Missing"
    assert "2 of 2 successful responses carried no usage token counts" in warning.lines[0]
    assert "are left out" in warning.lines[0]


def test_server_token_counts_from_some_responses_are_reported_for_those_with_a_warning():
    records = make_records(streaming_requests())
    records["usage_completion_tokens"][1] = 3
    records["usage_prompt_tokens"][1] = 10
    m = run(records, server_token_counts=True)
    assert m.summary["output_sequence_length"]["count"] == 1 and m.summary["total_osl"]["avg"] == 3
    [warning] = m.warnings
    assert "1 of 2 successful responses" in warning.lines[0] and "cover only the 1 responses" in warning.lines[0]


def test_every_error_kind_has_a_type_name():
    from aiperf.results.metrics import ERROR_TYPES, error_type_name

    assert set(ERROR_TYPES) == set(ErrorKind) - {ErrorKind.OK}
    assert error_type_name(ErrorKind.EMPTY_RESPONSE) == "InvalidInferenceResultError"
    assert error_type_name(99) == "Error"  # a kind newer than the table still gets a name
