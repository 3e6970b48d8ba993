"""Faulty servers: a real profile against the mock server with one fault kind at a fixed fraction. The faulty
requests (the mock server says which, from their X-Request-ID) must be error records of the right type, code and
message; the others must be measured as usual; the console error summary and the exports must count them."""
from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from io import StringIO
from typing import Any

import pandas as pd
import pytest
from rich.console import Console

from aiperf.config import make_config
from aiperf.mock import MockServer
from aiperf.mock.server import fault_kinds, parse_faults
from aiperf.run import run_profile

OUTPUT_TOKENS = 8
REQUESTS = 24
FRACTION = 0.5
MAX_RESPONSE_BYTES = 1 << 20


@dataclass(frozen=True)
class Case:
    fault: str
    endpoint_type: str
    streaming: bool
    error_type: str
    code: int | None
    message: str  # regex the whole message must match

    @property
    def id(self) -> str:
        return f"{self.fault}-{self.endpoint_type}-{'stream' if self.streaming else 'plain'}"


RESET = r"Failure when receiving data from the peer: Recv failure: Connection reset by peer|Server returned nothing.*"
# A reset before the response reaches libcurl while it reads the reply, or (a race on a loaded machine) while it still
# checks the socket right after sending the request: the same transport error, reported from either side.
RESET_BEFORE_RESPONSE = RESET + r"|Failed sending data to the peer: .*"
CASES = [
    Case("http-500", "chat", True, "HTTPError", 500,
         r'HTTP 500: \{"error":\{"message":"mock fault http-500: .*","type":"server_error".*'),
    Case("http-429", "chat", False, "HTTPError", 429,
         r'HTTP 429 \(Retry-After: 1\): \{"error":\{"message":"mock fault http-429: .*'),
    Case("http-400", "embeddings", False, "HTTPError", 400,
         r'HTTP 400: \{"error":\{"message":"mock fault http-400: .*","type":"invalid_request_error".*'),
    Case("reset-before-response", "chat", False, "TransportError", None, RESET_BEFORE_RESPONSE),
    Case("reset-mid-stream", "chat", True, "TransportError", 200, RESET),
    Case("reset-mid-stream", "completions", False, "TransportError", 200, RESET),
    Case("no-done", "chat", True, "InvalidResponse", 200,
         r"invalid response: the stream ended without data: \[DONE\] after 10 events"),
    Case("bad-json", "chat", True, "InvalidResponse", 200,
         r'invalid response: not a valid JSON object: \{"id":"chatcmpl-mock-.*'),
    Case("bad-json", "embeddings", False, "InvalidResponse", 200,
         r'invalid response: not a valid JSON object: \{"object":"list".*'),
    Case("bad-sse", "completions", True, "InvalidResponse", 200,
         r"invalid response: bad SSE framing: 4 line\(s\) not 'field: value', the first: \{\"id\":\"cmpl-mock-.*"),
    Case("huge-response", "chat", False, "ResponseTooLarge", 200,
         r"response too large: over the limit of 1048576 bytes \(--max-response-bytes\)"),
    Case("huge-response", "chat", True, "ResponseTooLarge", 200,
         r"response too large: over the limit of 1048576 bytes \(--max-response-bytes\)"),
    Case("hang", "chat", True, "TimeoutError", None,
         r"Timeout was reached: Operation timed out after \d+ milliseconds with 0 bytes received"),
    Case("trickle", "chat", False, "TimeoutError", 200,
         r"Timeout was reached: Operation timed out after \d+ milliseconds with \d+ (out of -1 )?bytes received"),
    Case("wrong-content-type", "chat", False, "InvalidResponse", 200,
         r"invalid response: Content-Type text/html; charset=utf-8, expected JSON"),
    Case("wrong-content-type", "chat", True, "InvalidResponse", 200,
         r"invalid response: Content-Type text/html; charset=utf-8, expected text/event-stream"),
    Case("bad-base64", "image_generation", False, "InvalidResponse", 200,
         r"invalid response: b64_json is not valid base64 \(\d+ characters\)"),
    Case("bad-base64", "image_generation", True, "InvalidResponse", 200,
         r"invalid response: b64_json is not valid base64 \(\d+ characters\)"),
    Case("empty-response", "image_generation", False, "InvalidInferenceResultError", None,
         r"No responses with actual content were received from the server \(no image in the response\)"),
    *[Case("empty-response", endpoint_type, streaming, "InvalidInferenceResultError", None,
           r"No responses with actual content were received from the server \(only usage/metadata, null/empty "
           r"data, or \[DONE\] markers\)")
      for endpoint_type in ("chat", "completions") for streaming in (False, True)],
]
# Faults whose replies are well formed: aiperf measures them (tests below), it does not record errors.
MEASURED_FAULTS = {"no-usage", "ignore-max-tokens"}


def test_every_fault_kind_has_a_profile_test():
    assert {case.fault for case in CASES} | MEASURED_FAULTS == set(fault_kinds())


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_faulty_requests_become_error_records_and_the_others_are_measured(case: Case, tmp_path):
    with MockServer(ttft_ms=1, itl_ms=0, output_tokens=OUTPUT_TOKENS, image_latency_ms=1,
                    faults=[f"{case.fault}:{FRACTION}"], seed=11, huge_response_bytes=4 << 20) as server:
        console = Console(file=StringIO(), width=300)
        config = make_config(
            model="m", url=server.url, endpoint_type=case.endpoint_type, streaming=case.streaming, tokenizer="gpt2",
            request_count=REQUESTS, concurrency=8, request_timeout_seconds=1.0, max_response_bytes=MAX_RESPONSE_BYTES,
            export_level="records", artifact_dir=str(tmp_path / "run"), ui_type="none",
            extra_inputs=["size:32x32"] if case.endpoint_type.startswith("image") else [])
        result = run_profile(config, console=console)
        records = result.records
        faulty = [server.fault_for(request_id) == case.fault for request_id in records["x_request_id"]]
        assert server.stats()[f"fault_{case.fault.replace('-', '_')}"] >= sum(faulty)

    n_faulty = sum(faulty)
    assert len(records) == REQUESTS and 0 < n_faulty < REQUESTS
    for row, is_faulty in zip(records.itertuples(), faulty):
        if is_faulty:
            assert row.error_type == case.error_type, row.error_message
            assert re.fullmatch(case.message, row.error_message), row.error_message
            assert (None if pd.isna(row.error_code) else int(row.error_code)) == case.code
        else:
            assert pd.isna(row.error_type), row.error_message

    # The healthy requests' metrics.
    summary = result.summary
    assert summary["request_count"]["avg"] == REQUESTS - n_faulty
    assert summary["error_request_count"]["avg"] == n_faulty
    if case.endpoint_type in ("chat", "completions"):
        assert summary["output_sequence_length"]["min"] == summary["output_sequence_length"]["max"] == OUTPUT_TOKENS
    if case.endpoint_type == "image_generation":
        assert summary["num_images"]["min"] == summary["num_images"]["max"] == 1
    if case.streaming and case.endpoint_type != "image_generation":
        assert summary["time_to_first_token"]["count"] == REQUESTS - n_faulty

    # The console error summary names the type with its count.
    text = console.file.getvalue()
    assert "aiperf | Error Summary" in text
    assert f"Errors by type: {case.error_type} {n_faulty}" in text

    # The exports count them.
    artifact_dir = result.artifact_dir
    exported = json.loads((artifact_dir / "profile_export_aiperf.json").read_text())
    assert sum(entry["count"] for entry in exported["error_summary"]) == n_faulty
    assert {entry["error_details"]["type"] for entry in exported["error_summary"]} == {case.error_type}
    assert exported["error_request_count"]["avg"] == n_faulty
    lines = [json.loads(line) for line in (artifact_dir / "profile_export.jsonl").read_text().splitlines()]
    assert [line["error"] is not None for line in lines] == faulty
    assert {line["error"]["type"] for line in lines if line["error"]} == {case.error_type}
    assert f"Error Request Count,{n_faulty:.2f}" in (artifact_dir / "profile_export_aiperf.csv").read_text()


def test_errors_with_per_request_ids_in_their_message_are_one_group(tmp_path):
    # bad-json messages quote the event, whose id (chatcmpl-mock-000000000000001a …) differs per request.
    with MockServer(ttft_ms=0, itl_ms=0, output_tokens=4, faults=["bad-json:1"]) as server:
        config = make_config(model="m", url=server.url, streaming=True, tokenizer="gpt2", request_count=40,
                             concurrency=4, artifact_dir=str(tmp_path / "run"), ui_type="none")
        result = run_profile(config, print_table=False)
    assert [entry["count"] for entry in result.error_summary] == [40]


def test_a_larger_limit_lets_a_huge_response_through(tmp_path):
    with MockServer(ttft_ms=0, itl_ms=0, faults=["huge-response:1"], huge_response_bytes=1 << 20) as server:
        config = make_config(model="m", url=server.url, endpoint_type="completions", tokenizer="gpt2",
                             request_count=2, max_response_bytes=2 << 20, artifact_dir=str(tmp_path / "run"),
                             ui_type="none")
        result = run_profile(config, print_table=False)
    assert result.error_summary == []
    assert result.summary["output_sequence_length"]["avg"] > 250_000  # " the" x 1 MiB / 4


def test_fault_specs_are_checked_with_messages_naming_them():
    assert parse_faults(["http-500:0.25", ("hang", 0.5)]) == [("http-500", 0.25), ("hang", 0.5)]
    for specs, message in [
        (["http-501:0.1"], "--fault http-501: unknown kind; one of http-500, http-429"),
        (["http-500"], "--fault 'http-500': expected KIND:FRACTION"),
        (["http-500:x"], "--fault 'http-500:x': the fraction 'x' is not a number"),
        (["hang:1.5"], "--fault hang:1.5: the fraction must be between 0 and 1"),
        (["hang:0.1", "hang:0.2"], "--fault hang: given more than once"),
        (["hang:0.6", "trickle:0.6"], "--fault: the fractions add up to more than 1"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            parse_faults(specs)


def test_mock_server_cli_serves_the_faults_it_is_given():
    proc = subprocess.Popen([sys.executable, "-m", "aiperf", "mock-server", "--port", "0", "--fast", "--seed", "5",
                             "--fault", "http-500:0.3", "--fault", "http-429:0.3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().split()[-1]
        assert proc.stdout.readline().strip() == "faults (seed 5): http-500 0.3, http-429 0.3"
        expected_status = {"http-500": 500, "http-429": 429, None: 200}
        with MockServer(faults=["http-500:0.3", "http-429:0.3"], seed=5) as twin:  # same rules: same choices
            expected = [expected_status[twin.fault_for(f"req-{i}")] for i in range(30)]
        statuses = []
        retry_after = []
        for i in range(30):
            request = urllib.request.Request(url + "/v1/chat/completions", data=b'{"messages":[]}',
                                             headers={"X-Request-ID": f"req-{i}", "Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    statuses.append(response.status)
            except urllib.error.HTTPError as e:
                statuses.append(e.code)
                if e.code == 429:
                    retry_after.append(e.headers["Retry-After"])
        assert statuses == expected and {500, 429, 200} <= set(statuses)
        assert retry_after == ["1"] * statuses.count(429)
    finally:
        proc.terminate()
        proc.wait(10)


def test_mock_server_cli_rejects_a_bad_fault_with_exit_code_2():
    done = subprocess.run([sys.executable, "-m", "aiperf", "mock-server", "--fault", "http-418:0.5"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "--fault http-418: unknown kind" in done.stderr


# ---- faults that change what a 200 carries (issue 22: what real servers do), checked on the wire ----


def post(server: MockServer, path: str, body: dict[str, Any]) -> tuple[int, str, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        conn.close()


def sse_data(body: bytes) -> list[str]:
    """The data of each event of an SSE body, which must be nothing but `data: …` events."""
    text = body.decode()
    assert text.endswith("\n\n")
    events = text[:-2].split("\n\n")
    assert all(event.startswith("data: ") and "\n" not in event for event in events), text
    return [event[len("data: "):] for event in events]


CHAT = "/v1/chat/completions"
MESSAGES = [{"role": "user", "content": "hi"}]
WITH_USAGE = {"stream": True, "stream_options": {"include_usage": True}}


def test_empty_response_streams_only_the_role_then_the_usual_end_as_llama_cpp_sheds_load():
    with MockServer(ttft_ms=0, itl_ms=0, output_tokens=6, image_latency_ms=0, faults=["empty-response:1"]) as server:
        for asked_usage in (False, True):
            status, content_type, body = post(server, CHAT, {"messages": MESSAGES, "stream": True,
                                                              "stream_options": {"include_usage": asked_usage}})
            assert (status, content_type) == (200, "text/event-stream")
            *events, done = sse_data(body)
            assert done == "[DONE]"
            chunks = [json.loads(event) for event in events]
            assert [chunk["choices"][0]["delta"] for chunk in chunks[:2]] == [{"role": "assistant"}, {}]
            assert [chunk["choices"][0]["finish_reason"] for chunk in chunks[:2]] == [None, "stop"]
            if asked_usage:
                assert len(chunks) == 3 and chunks[2]["choices"] == []
                assert chunks[2]["usage"]["completion_tokens"] == 0
            else:
                assert len(chunks) == 2
        _, _, body = post(server, "/v1/completions", {"prompt": "hi", "stream": True})
        *events, done = sse_data(body)
        assert [json.loads(event)["choices"][0]["text"] for event in events] == ["", ""]
        _, _, body = post(server, CHAT, {"messages": MESSAGES})
        reply = json.loads(body)
        assert reply["choices"][0]["message"] == {"role": "assistant", "content": ""}
        assert reply["usage"]["completion_tokens"] == 0
        _, _, body = post(server, "/v1/completions", {"prompt": "hi"})
        assert json.loads(body)["choices"][0]["text"] == ""
        _, _, body = post(server, "/v1/images/generations", {"prompt": "x", "size": "16x16"})
        assert json.loads(body)["data"] == []
        _, _, body = post(server, "/v1/images/generations", {"prompt": "x", "size": "16x16", "stream": True})
        assert body == b"data: [DONE]\n\n"
        _, _, body = post(server, "/v1/embeddings", {"input": ["a", "b"]})
        assert json.loads(body)["data"] == []
        assert server.stats()["fault_empty_response"] == 8


def test_no_usage_leaves_usage_out_of_streams_and_bodies_even_when_asked():
    with MockServer(ttft_ms=0, itl_ms=0, output_tokens=5, image_latency_ms=0, faults=["no-usage:1"]) as server:
        for path, body in [(CHAT, {"messages": MESSAGES}), ("/v1/completions", {"prompt": "hi"})]:
            *events, done = sse_data(post(server, path, {**body, **WITH_USAGE})[2])
            assert done == "[DONE]" and len(events) == 5 + 1  # the tokens and the finish event
            assert all("usage" not in json.loads(event) for event in events)
            reply = json.loads(post(server, path, body)[2])
            assert "usage" not in reply and reply["choices"][0]["finish_reason"] == "stop"
        reply = json.loads(post(server, "/v1/embeddings", {"input": "a"})[2])
        assert "usage" not in reply and len(reply["data"]) == 1
        reply = json.loads(post(server, "/v1/images/generations", {"prompt": "x", "size": "16x16"})[2])
        assert "usage" not in reply and len(reply["data"]) == 1
        body = post(server, "/v1/images/generations", {"prompt": "x", "size": "16x16", "stream": True})[2]
        assert b"usage" not in body and b"image_generation.completed" in body


def test_ignore_max_tokens_sends_the_configured_output_tokens_whatever_was_asked():
    with MockServer(ttft_ms=0, itl_ms=0, output_tokens=7, faults=["ignore-max-tokens:1"]) as server:
        for limit in ({"max_tokens": 2}, {"max_completion_tokens": 3}, {"max_tokens": 100}, {}):
            reply = json.loads(post(server, CHAT, {"messages": MESSAGES, **limit})[2])
            assert reply["usage"]["completion_tokens"] == 7, limit
            assert reply["choices"][0]["message"]["content"] == " the of and to in a is"
            assert reply["choices"][0]["finish_reason"] == "stop"
        *events, _ = sse_data(post(server, "/v1/completions", {"prompt": "hi", "max_tokens": 1, **WITH_USAGE})[2])
        chunks = [json.loads(event) for event in events]
        assert "".join(chunk["choices"][0]["text"] for chunk in chunks if chunk["choices"]) == " the of and to in a is"
        assert chunks[-1]["usage"]["completion_tokens"] == 7
        # The limit still holds for embeddings and images, where the fault does not apply.
        post(server, "/v1/embeddings", {"input": "a"})
        assert server.stats()["fault_ignore_max_tokens"] == 5


def _profile(server: MockServer, tmp_path, **options: Any):
    config = make_config(model="m", url=server.url, tokenizer="gpt2", request_count=REQUESTS, concurrency=4,
                         artifact_dir=str(tmp_path / "run"), ui_type="none", **options)
    return run_profile(config, print_table=False)


def test_a_server_ignoring_max_tokens_is_measured_with_the_tokens_it_sent(tmp_path):
    with MockServer(ttft_ms=0, itl_ms=0, output_tokens=OUTPUT_TOKENS, faults=["ignore-max-tokens:0.5"],
                    seed=3) as server:
        result = _profile(server, tmp_path, streaming=True, output_tokens_mean=2)
        ignored = [server.fault_for(rid) == "ignore-max-tokens" for rid in result.records["x_request_id"]]
    assert 0 < sum(ignored) < REQUESTS and result.error_summary == []
    lengths = result.records["output_sequence_length"].tolist()
    assert lengths == [OUTPUT_TOKENS if was_ignored else 2 for was_ignored in ignored]


def test_a_server_without_usage_is_measured_with_the_tokenizers_counts(tmp_path):
    with MockServer(ttft_ms=0, itl_ms=0, output_tokens=OUTPUT_TOKENS, faults=["no-usage:0.5"], seed=3) as server:
        result = _profile(server, tmp_path, streaming=True)
        missing = [server.fault_for(rid) == "no-usage" for rid in result.records["x_request_id"]]
    assert 0 < sum(missing) < REQUESTS and result.error_summary == []
    assert result.records["output_sequence_length"].tolist() == [OUTPUT_TOKENS] * REQUESTS


# ---- what aiperf reports about those answers (issue 22): AIPerf's warnings, and no zeros for what was not sent ----


def _profile_to_console(server: MockServer, tmp_path, **options: Any) -> tuple[Any, str]:
    console = Console(file=StringIO(), width=300)
    config = make_config(model="m", url=server.url, tokenizer="gpt2", request_count=REQUESTS, concurrency=4,
                         artifact_dir=str(tmp_path / "run"), ui_type="none", export_level="records", **options)
    return run_profile(config, console=console), console.file.getvalue()


def test_a_server_ignoring_max_tokens_gets_aiperfs_output_length_mismatch_warning(tmp_path):
    with MockServer(ttft_ms=0, itl_ms=0, output_tokens=OUTPUT_TOKENS, faults=["ignore-max-tokens:0.5"],
                    seed=3) as server:
        result, text = _profile_to_console(server, tmp_path, streaming=True, output_tokens_mean=2)
        ignored = [server.fault_for(rid) == "ignore-max-tokens" for rid in result.records["x_request_id"]]
    n_ignored = sum(ignored)
    assert 0 < n_ignored < REQUESTS
    assert text.index("Output Sequence Length Mismatch Warning") > text.index("Request Count (requests)")
    assert f"{n_ignored:,} of {REQUESTS:,} requests ({n_ignored / REQUESTS * 100:.1f}%) have output length" in text
    assert "min(requested x 5%, 50)" in text
    exported = json.loads((result.artifact_dir / "profile_export_aiperf.json").read_text())
    assert exported["osl_mismatch_count"] == {"unit": "requests", "avg": float(n_ignored)}
    lines = [json.loads(line) for line in (result.artifact_dir / "profile_export.jsonl").read_text().splitlines()]
    by_id = {line["metadata"]["x_request_id"]: line["metrics"] for line in lines}
    for request_id, was_ignored in zip(result.records["x_request_id"], ignored):
        # 8 tokens sent for 2 asked: +300%; the others as asked
        assert by_id[request_id]["osl_mismatch_diff_pct"] == {"value": 300.0 if was_ignored else 0.0, "unit": "%"}
        assert "osl_mismatch_count" not in by_id[request_id]
    assert "Output Sequence Length Mismatch Warning" in (result.artifact_dir / "logs" / "aiperf.log").read_text()


def test_server_token_counts_from_a_server_without_usage_are_left_out_with_one_warning(tmp_path):
    with MockServer(ttft_ms=0, itl_ms=0, output_tokens=OUTPUT_TOKENS, faults=["no-usage:1"], seed=3) as server:
        result, text = _profile_to_console(server, tmp_path, streaming=True, use_server_token_count=True)
    assert result.error_summary == []
    assert text.count("Server Token Counts Missing") == 1
    assert f"{REQUESTS:,} of {REQUESTS:,} successful responses carried no usage token counts" in text
    for row in ("Output Sequence Length (tokens)", "Input Sequence Length (tokens)", "Inter Token Latency (ms)",
                "Output Token Throughput (tokens/sec)", "Output Token Throughput Per User"):
        assert row not in text, row  # never a row of zeros
    assert "Time to First Token (ms)" in text and "Request Latency (ms)" in text
    exported = json.loads((result.artifact_dir / "profile_export_aiperf.json").read_text())
    for tag in ("output_sequence_length", "input_sequence_length", "inter_token_latency", "output_token_throughput",
                "total_osl", "total_isl", "total_output_tokens", "total_token_throughput"):
        assert tag not in exported, tag
    assert exported["request_count"]["avg"] == REQUESTS and exported["time_to_first_token"]["count"] == REQUESTS
    timeline = json.loads((result.artifact_dir / "profile_export_timeline.json").read_text())
    assert all("output_token_throughput" not in bucket for bucket in timeline["buckets"])
    assert "Server Token Counts Missing" in (result.artifact_dir / "logs" / "aiperf.log").read_text()
