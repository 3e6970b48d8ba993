"""Exit codes of `aiperf profile` (docs/reliability.md#exit-codes): a run in which no profiling request succeeded
exits 3 with every artifact written, as NVIDIA AIPerf exits non-zero; one success among failures is a run (0).
`aiperf.profile()` raises NoSuccessfulRequestsError there, carrying the Run."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import aiperf
from aiperf.cli import main
from aiperf.errors import AiperfError, NoSuccessfulRequestsError
from aiperf.mock import MockServer

REPLY = json.dumps({"id": "x", "object": "chat.completion", "model": "m",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello there"},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}).encode()
ARTIFACTS = ("profile_export_aiperf.json", "profile_export_aiperf.csv", "profile_export.jsonl", "inputs.json",
             "logs/aiperf.log")


class _FirstRequestSucceeds(BaseHTTPRequestHandler):
    """Chat: the first request gets a reply, every later one a 500."""

    protocol_version = "HTTP/1.1"
    lock = threading.Lock()
    served = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        with self.lock:
            first = type(self).served == 0
            type(self).served += 1
        body = REPLY if first else b'{"error": {"message": "overloaded", "type": "server_error"}}'
        self.send_response(200 if first else 500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def one_success_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FirstRequestSucceeds)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _profile(url: str, artifact_dir, *extra: str) -> int:
    return main(["profile", "--model", "m", "--tokenizer", "gpt2", "--url", url, "--request-count", "6",
                 "--concurrency", "2", "--artifact-dir", str(artifact_dir), "--ui-type", "none", *extra])


def _exported(artifact_dir) -> dict:
    for name in ARTIFACTS:
        assert (artifact_dir / name).is_file(), name
    return json.loads((artifact_dir / "profile_export_aiperf.json").read_text())


def test_every_request_refused_exits_3_with_the_artifacts_written(closed_port, tmp_path, capsys):
    assert _profile(f"127.0.0.1:{closed_port}", tmp_path) == 3
    summary = _exported(tmp_path)
    assert sum(e["count"] for e in summary["error_summary"]) == 6
    assert "request_count" not in summary or summary["request_count"]["avg"] == 0
    out, err = capsys.readouterr()
    assert "Error Summary" in out
    assert "aiperf profile: error: no profiling request succeeded (all 6 failed, 6 of them ConnectionError" in err
    assert str(tmp_path) in err
    lines = (tmp_path / "profile_export.jsonl").read_text().splitlines()
    assert len(lines) == 6 and all(json.loads(line)["error"] for line in lines)


def test_every_request_answered_with_http_500_exits_3_with_the_artifacts_written(tmp_path, capsys):
    with MockServer(ttft_ms=0, itl_ms=0, output_tokens=4, faults=["http-500:1"]) as server:
        code = _profile(server.url, tmp_path, "--streaming", "--export-level", "raw")
    assert code == 3
    summary = _exported(tmp_path)
    assert (tmp_path / "profile_export_raw.jsonl").is_file()
    assert [(e["error_details"]["code"], e["error_details"]["type"], e["count"]) for e in summary["error_summary"]] == [
        (500, "HTTPError", 6)]
    assert "6 of them HTTPError 500: HTTP 500: " in capsys.readouterr().err


def test_a_server_that_sheds_every_stream_exits_3(tmp_path, capsys):
    # 200s with only the assistant role and [DONE] (llama.cpp's way of shedding load) measured nothing
    with MockServer(ttft_ms=0, itl_ms=0, output_tokens=4, faults=["empty-response:1"]) as server:
        assert _profile(server.url, tmp_path, "--streaming") == 3
    assert [e["error_details"]["type"] for e in _exported(tmp_path)["error_summary"]] == [
        "InvalidInferenceResultError"]
    assert "6 of them InvalidInferenceResultError: No responses with actual content" in capsys.readouterr().err


def test_one_success_among_failures_exits_0(one_success_server, tmp_path):
    assert _profile(one_success_server, tmp_path) == 0
    summary = _exported(tmp_path)
    assert summary["request_count"]["avg"] == 1
    assert summary["error_request_count"]["avg"] == 5


def test_warmup_successes_do_not_count(one_success_server, tmp_path):
    # the one success is the warm-up request: the profiling phase has none
    assert _profile(one_success_server, tmp_path, "--warmup-request-count", "1") == 3
    assert _exported(tmp_path)["error_request_count"]["avg"] == 6


def test_the_python_api_raises_after_writing_and_hands_over_the_run(closed_port, tmp_path):
    with pytest.raises(NoSuccessfulRequestsError, match="no profiling request succeeded") as caught:
        aiperf.profile(model="m", tokenizer="gpt2", url=f"127.0.0.1:{closed_port}", request_count=3,
                       artifact_dir=tmp_path, print_table=False)
    error = caught.value
    assert isinstance(error, AiperfError) and isinstance(error, RuntimeError) and error.exit_code == 3
    run = error.run
    assert run.artifact_dir == tmp_path and not run.was_cancelled
    assert run.summary["error_request_count"]["avg"] == 3
    assert len(run.records) == 3 and run.records["error_type"].eq("ConnectionError").all()
    _exported(tmp_path)
    assert aiperf.load(tmp_path).summary["error_request_count"]["avg"] == 3
