"""Artifact files written from hand-built records: names, structure and values, and AIPerf's image extractor."""
from __future__ import annotations

import base64
import csv
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from aiperf.engine import ErrorKind
from aiperf.inputs.endpoints import Endpoint
from aiperf.redaction import redact_headers
from aiperf.results.export import RequestInputs, error_columns
from aiperf.results.formats import artifact_dir_name
from helpers import ANCHOR_MONO, ANCHOR_WALL, MS, PREFIX, Req, make_records, process_records, streaming_requests

EXTRACT_IMAGES = Path("/work/shared/compat/extract_images.py")


def inputs() -> RequestInputs:
    payloads = [{"model": "m", "messages": [{"role": "user", "content": "first"}], "stream": True},
                {"model": "m", "messages": [{"role": "user", "content": "second"}], "stream": True}]
    return RequestInputs(payloads=payloads, session_ids=["s-0", "s-1"], turn_indices=[0, 0])


def export(tmp_path, reqs=None, level="raw", endpoint="chat", streaming=True, request_inputs=None, **kw):
    """The files a run of these records writes (the production path)."""
    processed = process_records(make_records(streaming_requests() if reqs is None else reqs), tmp_path,
                                endpoint=endpoint, streaming=streaming, export_level=level,
                                request_inputs=request_inputs or inputs(), **kw)
    return processed.files, processed.metrics


def wall(ms: float) -> int:
    return ANCHOR_WALL + int(ms * MS) - ANCHOR_MONO


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


# ---------------------------------------------------------------------------------------------- folder names

def test_artifact_dir_name_follows_aiperf_rule():
    assert artifact_dir_name("meta-llama/Llama-3.1-8B-Instruct", "chat", concurrency=64, request_rate=None) == \
        "meta-llama_Llama-3.1-8B-Instruct-openai-chat-concurrency64"
    assert artifact_dir_name("m", "chat", concurrency=None, request_rate=10) == "m-openai-chat-request_rate10.0"
    assert artifact_dir_name("m", "completions", concurrency=4, request_rate=2.5) == \
        "m-openai-completions-concurrency4-request_rate2.5"
    assert artifact_dir_name("black-forest-labs/FLUX.1-dev", "image_generation", concurrency=1,
                             request_rate=None) == "black-forest-labs_FLUX.1-dev-openai-image_generation-concurrency1"
    assert artifact_dir_name("m", "chat", concurrency=8, request_rate=None, fixed_schedule=True) == \
        "m-openai-chat-fixed_schedule"


# ---------------------------------------------------------------------------------------------- levels

@pytest.mark.parametrize(("level", "expected"), [
    ("summary", {"profile_export_aiperf.json", "profile_export_aiperf.csv", "inputs.json"}),
    ("records", {"profile_export_aiperf.json", "profile_export_aiperf.csv", "inputs.json", "profile_export.jsonl",
                 "profile_export_timeline.json", "profile_export_timeline.csv"}),
    ("raw", {"profile_export_aiperf.json", "profile_export_aiperf.csv", "inputs.json", "profile_export.jsonl",
             "profile_export_raw.jsonl", "profile_export_timeline.json", "profile_export_timeline.csv"}),
])
def test_export_level_decides_which_files_are_written(tmp_path, level, expected):
    files, _ = export(tmp_path, level=level)
    assert {f.name for f in files} == expected
    assert {p.name for p in tmp_path.iterdir()} == expected
    assert all(f.parent == tmp_path for f in files)


def test_unknown_export_level_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="--export-level"):
        export(tmp_path, level="everything")


# ---------------------------------------------------------------------------------------------- summary files

def test_summary_json_has_metadata_and_one_block_per_metric(tmp_path):
    export(tmp_path)
    doc = json.loads((tmp_path / "profile_export_aiperf.json").read_text())
    assert list(doc)[:8] == ["schema_version", "aiperf_version", "benchmark_id", "start_time", "end_time",
                             "was_cancelled", "input_config", "error_summary"]
    assert doc["aiperf_version"] == "0.1.0" and doc["was_cancelled"] is False
    assert doc["input_config"] == {"model": ["m"], "streaming": True}
    assert datetime.fromisoformat(doc["start_time"]).timestamp() == pytest.approx(wall(1000) / 1e9)
    assert datetime.fromisoformat(doc["end_time"]).timestamp() == pytest.approx(wall(1200) / 1e9)
    latency = doc["request_latency"]
    assert list(latency) == ["unit", "avg", "min", "max", "p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95",
                             "p99", "std", "count", "sum"]
    assert latency["unit"] == "ms" and latency["avg"] == pytest.approx(72.5) and latency["count"] == 2
    assert latency["sum"] == pytest.approx(145.0)
    assert doc["request_throughput"] == {"unit": "requests/sec", "avg": pytest.approx(10.0)}
    assert doc["request_count"] == {"unit": "requests", "avg": 2.0}
    assert doc["benchmark_duration"] == {"unit": "sec", "avg": pytest.approx(0.2)}
    assert doc["total_osl"]["avg"] == 5.0 and doc["total_isl"]["avg"] == 30.0
    assert doc["error_summary"] == [
        {"error_details": {"code": 500, "type": "HTTPError", "message": "Internal error 123"}, "count": 2},
        {"error_details": {"code": None, "type": "TimeoutError", "message": "Operation timed out"}, "count": 1}]
    assert "inter_chunk_latency" not in doc


def test_summary_csv_has_a_stats_table_then_a_value_table(tmp_path):
    export(tmp_path)
    text = (tmp_path / "profile_export_aiperf.csv").read_text()
    stats_part, values_part = text.split("\n\n")
    stats = list(csv.reader(stats_part.splitlines()))
    values = list(csv.reader(values_part.splitlines()))
    assert stats[0] == ["Metric", "avg", "min", "max", "p1", "p5", "p10", "p25", "p50", "p75", "p90", "p95", "p99",
                        "std"]
    by_name = {r[0]: r[1:] for r in stats[1:]}
    assert by_name["Request Latency (ms)"][:3] == ["72.50", "50.00", "95.00"]
    assert "Time to First Token (ms)" in by_name and "Output Sequence Length (tokens)" in by_name
    assert values[0] == ["Metric", "Value"]
    by_value = dict(values[1:])
    assert by_value["Request Throughput (requests/sec)"] == "10.00"
    assert by_value["Request Count"] == "2.00"
    assert by_value["Benchmark Duration (sec)"] == "0.20"


# ---------------------------------------------------------------------------------------------- per-record files

def test_records_jsonl_lines_carry_metadata_metrics_and_errors(tmp_path):
    export(tmp_path, level="records")
    lines = read_jsonl(tmp_path / "profile_export.jsonl")
    assert len(lines) == 6
    good = lines[1]
    assert list(good) == ["metadata", "metrics", "error"]
    meta = good["metadata"]
    assert meta == {"session_num": 1, "x_request_id": PREFIX + "000000000001", "x_correlation_id": "s-0",
                    "conversation_id": "s-0", "turn_index": 0, "intended_start_ns": None,
                    "request_start_ns": wall(1000),
                    "request_ack_ns": wall(1010), "request_end_ns": wall(1050), "worker_id": 0,
                    "record_processor_id": 0, "benchmark_phase": "profiling", "was_cancelled": False,
                    "cancellation_time_ns": None}
    metrics = good["metrics"]
    assert metrics["request_latency"] == {"value": pytest.approx(50.0), "unit": "ms"}
    assert metrics["time_to_first_token"] == {"value": pytest.approx(20.0), "unit": "ms"}
    assert metrics["output_sequence_length"] == {"value": 3, "unit": "tokens"}
    assert isinstance(metrics["output_sequence_length"]["value"], int)
    assert metrics["input_sequence_length"] == {"value": 10, "unit": "tokens"}
    assert metrics["inter_chunk_latency"]["value"] == pytest.approx([5.0, 15.0])
    assert "error_isl" not in metrics and "request_count" not in metrics
    assert good["error"] is None
    assert lines[0]["metadata"]["benchmark_phase"] == "warmup"
    failed = lines[3]
    assert failed["metrics"] == {"error_isl": {"value": 20, "unit": "tokens"}}
    assert failed["error"] == {"code": 500, "type": "HTTPError", "message": "Internal error 123"}
    assert failed["metadata"]["request_ack_ns"] is None
    assert lines[5]["error"] == {"code": None, "type": "TimeoutError", "message": "Operation timed out"}


def test_cancelled_record_has_cancellation_time_and_code_499(tmp_path):
    export(tmp_path, reqs=[Req(0, [(5, "c")], content="x"),
                           Req(1, end_ms=9, error_kind=ErrorKind.CANCELLED, status=0, message="cancelled by user")],
           level="records")
    line = read_jsonl(tmp_path / "profile_export.jsonl")[1]
    assert line["metadata"]["was_cancelled"] is True
    assert line["metadata"]["cancellation_time_ns"] == wall(9)
    assert line["error"]["code"] == 499 and line["error"]["type"] == "Cancelled"


SENT_HEAD = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nAccept: */*\r\n"
             b"Content-Type: application/json\r\nAuthorization: Bearer sk-secret-key\r\n"
             b"X-Request-ID: 0123abcd-prefix-000000000001\r\nContent-Length: 60\r\n\r\n")


def test_raw_jsonl_keeps_payload_headers_and_responses_without_done(tmp_path):
    reqs = streaming_requests()
    reqs[1].request_headers = SENT_HEAD
    export(tmp_path, reqs=reqs, level="raw", redact_headers=redact_headers)
    lines = read_jsonl(tmp_path / "profile_export_raw.jsonl")
    assert len(lines) == 6
    good = lines[1]
    assert list(good) == ["metadata", "start_perf_ns", "payload", "request_headers", "status", "response_headers",
                          "responses", "error"]
    assert good["metadata"]["x_request_id"] == PREFIX + "000000000001"
    assert good["start_perf_ns"] == 1000 * MS
    assert good["payload"] == inputs().payloads[0]
    # the header block the engine sent, as sent (the request line is not a header), credentials redacted
    assert good["request_headers"] == {"Host": "127.0.0.1:8000", "Accept": "*/*", "Content-Type": "application/json",
                                       "Authorization": "<redacted>", "X-Request-ID": PREFIX + "000000000001",
                                       "Content-Length": "60"}
    assert lines[5]["request_headers"] == {}  # nothing was recorded as sent
    assert good["status"] == 200
    assert good["response_headers"] == {"Content-Type": "text/event-stream", "Set-Cookie": "<redacted>"}
    assert good["responses"] == [{"perf_ns": 1010 * MS, "text": '{"role":"assistant"}'},
                                 {"perf_ns": 1020 * MS, "text": '{"c":"hello"}'},
                                 {"perf_ns": 1025 * MS, "text": '{"c":" world"}'},
                                 {"perf_ns": 1040 * MS, "text": '{"c":" foo"}'}]
    for line in lines:
        for response in line["responses"]:
            json.loads(response["text"])  # every text is JSON: the [DONE] sentinel is left out
    assert lines[2]["payload"] == inputs().payloads[1]
    assert lines[5]["status"] is None and lines[5]["responses"] == []
    assert lines[3]["error"]["code"] == 500


def test_only_the_last_request_libcurl_sent_is_shown(tmp_path):
    reqs = [Req(0, [(5, "c")], content="x",
                request_headers=b"POST /old HTTP/1.1\r\nX-First: 1\r\n\r\n" + SENT_HEAD)]
    export(tmp_path, reqs=reqs, level="raw")
    [line] = read_jsonl(tmp_path / "profile_export_raw.jsonl")
    assert "X-First" not in line["request_headers"] and line["request_headers"]["Accept"] == "*/*"


def test_inputs_json_groups_payloads_by_session_in_turn_order(tmp_path):
    request_inputs = RequestInputs(payloads=[{"p": "a1"}, {"p": "b0"}, {"p": "a0"}], session_ids=["a", "b", "a"],
                                   turn_indices=[1, 0, 0])
    export(tmp_path, reqs=[Req(0, [(5, "c")], content="x")], level="summary", request_inputs=request_inputs)
    doc = json.loads((tmp_path / "inputs.json").read_text())
    assert doc == {"data": [{"session_id": "a", "payloads": [{"p": "a0"}, {"p": "a1"}]},
                            {"session_id": "b", "payloads": [{"p": "b0"}]}]}


def test_error_columns_name_errors_per_record():
    cols = error_columns(make_records(streaming_requests()))
    assert list(cols["error_type"]) == [None, None, None, "HTTPError", "HTTPError", "TimeoutError"]
    assert list(cols["error_code"]) == [None, None, None, 500, 500, None]
    assert cols["error_message"][4] == "Internal error 456"


def test_json_strings_are_escaped(tmp_path):
    reqs = [Req(0, [(5, 'line "one"\nline\ttwo \\ é')], content="x"),
            Req(0, end_ms=3, error_kind=ErrorKind.INVALID_RESPONSE, status=200, message='bad "json" \\ here')]
    request_inputs = RequestInputs(payloads=[{"q": 'quote " and \\'}], session_ids=['s"x'], turn_indices=[0])
    export(tmp_path, reqs=reqs, streaming=False, request_inputs=request_inputs)
    lines = read_jsonl(tmp_path / "profile_export_raw.jsonl")
    assert lines[0]["responses"][0]["text"] == 'line "one"\nline\ttwo \\ é'
    assert lines[0]["metadata"]["conversation_id"] == 's"x'
    assert lines[1]["error"]["message"] == 'bad "json" \\ here'


def test_extract_images_script_reads_the_raw_export(tmp_path):
    png = b"\x89PNG\r\n\x1a\nfake image bytes"
    body = json.dumps({"created": 1, "data": [{"b64_json": base64.b64encode(png).decode()}]})
    images = Endpoint(type="image_generation", path="/v1/images/generations", metrics_title="Image Generation Metrics",
                      produces_tokens=False, supports_streaming=True, tokenizes_input=True, produces_images=True)
    request_inputs = RequestInputs(payloads=[{"prompt": "a cat", "model": "m", "response_format": "b64_json", "n": 1}],
                                   session_ids=["s"], turn_indices=[0])
    run_dir = tmp_path / "run"
    export(run_dir, reqs=[Req(0, [(40, body)], num_images=1), Req(0, [(50, body)], num_images=1)],
           endpoint=images, streaming=False, request_inputs=request_inputs)
    out = tmp_path / "images"
    result = subprocess.run([sys.executable, str(EXTRACT_IMAGES), str(run_dir / "profile_export_raw.jsonl"),
                             str(out)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    extracted = sorted(out.iterdir())
    assert [p.name for p in extracted] == ["image_0001_00.jpg", "image_0002_00.jpg"]
    assert extracted[0].read_bytes() == png


def test_many_records_export_every_line(tmp_path):
    n = 2000
    reqs = [Req(i, [(i + 5, "a"), (i + 7, "b"), (i + 9, "[DONE]")], content="a b", body_index=i % 2)
            for i in range(n)]
    export(tmp_path, reqs=reqs, level="raw")
    lines = (tmp_path / "profile_export.jsonl").read_text().splitlines()
    assert len(lines) == n
    last = json.loads(lines[-1])
    assert last["metrics"]["request_latency"]["value"] == pytest.approx(9.0)
    assert len((tmp_path / "profile_export_raw.jsonl").read_text().splitlines()) == n
    assert np.isclose(json.loads((tmp_path / "profile_export_aiperf.json").read_text())["request_count"]["avg"], n)
