"""The aiperf._engine Engine binding against a small HTTP server on 127.0.0.1 (keep-alive, SSE, errors)."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from aiperf import _engine

CHAT_BODY = json.dumps(
    {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello world"}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 2},
    }
).encode()

SSE_EVENTS = [
    {"choices": [{"delta": {"role": "assistant"}}]},
    {"choices": [{"delta": {"reasoning_content": "think"}}]},
    {"choices": [{"delta": {"content": "Hel"}}]},
    {"choices": [{"delta": {"content": "lo"}}]},
    {
        "choices": [],
        "usage": {
            "prompt_tokens": 7,
            "completion_tokens": 3,
            "completion_tokens_details": {"reasoning_tokens": 1},
        },
    },
]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive

    def log_message(self, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        server: LocalServer = self.server.owner  # type: ignore[attr-defined]
        with server.lock:
            server.request_ids.append(self.headers.get("X-Request-ID", ""))
            server.bodies.append(body)
            server.connections.add(self.client_address)
        if self.path == "/chat":
            self._send(200, CHAT_BODY)
        elif self.path == "/stream":
            payload = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in SSE_EVENTS)
            self._send(200, payload + b"data: [DONE]\n\n", "text/event-stream")
        elif self.path == "/error":
            self._send(500, b'{"error": {"message": "boom", "type": "server_error"}}')
        elif self.path == "/close-after":
            self._send(200, CHAT_BODY)  # advertises keep-alive, then closes: the client's idle socket sees EOF
            self.close_connection = True
        elif self.path == "/image-ok":
            self._send(200, b'{"created": 1, "data": [{"b64_json": "iVBORw0KGgo="}, {"url": "http://x/y.png"}]}')
        elif self.path == "/image-none":
            self._send(200, b'{"created": 1, "data": []}')
        elif self.path == "/image-bad-base64":
            self._send(200, b'{"created": 1, "data": [{"b64_json": "not base64!"}]}')
        elif self.path == "/not-json":
            self._send(200, b"<html>nope</html>", "text/html")
        elif self.path == "/slow":
            time.sleep(2.0)
            self._send(200, CHAT_BODY)
        elif self.path == "/hang":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            self.wfile.write(b'data: {"choices": [{"delta": {"content": "x"}}]}\n\n')
            self.wfile.flush()
            server.stop_event.wait(5.0)
            self.close_connection = True
        else:
            self._send(404, b'{"error": "no route"}')


class LocalServer:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.request_ids: list[str] = []
        self.bodies: list[bytes] = []
        self.connections: set[tuple[str, int]] = set()
        self.stop_event = threading.Event()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self  # type: ignore[attr-defined]
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    srv.thread.start()
    yield srv
    srv.stop_event.set()
    srv.httpd.shutdown()
    srv.httpd.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_config(url: str, **fields: object) -> _engine.EngineConfig:
    config = _engine.EngineConfig()
    config.url = url
    config.request_count = 4
    config.concurrency = 2
    config.request_timeout_s = 10.0
    for name, value in fields.items():
        setattr(config, name, value)
    return config


def run(
    config: _engine.EngineConfig, bodies: list[bytes] | None = None, order: np.ndarray | None = None
) -> tuple[_engine.Engine, dict[str, np.ndarray]]:
    engine = _engine.Engine(config, bodies or [b'{"model": "m"}'], order)
    engine.start()
    assert engine.wait(20.0)
    return engine, engine.records()


def text(records: dict[str, np.ndarray], name: str, row: int) -> str:
    offsets = records[f"{name}_offsets"]
    return records[name][offsets[row] : offsets[row + 1]].tobytes().decode()


def test_a_body_over_max_response_bytes_is_a_response_too_large_record(server: LocalServer) -> None:
    # Content-Length announces more than the limit: cut off before the body.
    _, rec = run(make_config(server.url("/chat"), request_count=2, max_response_bytes=len(CHAT_BODY) - 1))
    assert rec["error_kind"].tolist() == [7, 7]
    assert text(rec, "error_message", 0) == (
        f"response too large: over the limit of {len(CHAT_BODY) - 1} bytes (--max-response-bytes)")
    _, rec = run(make_config(server.url("/chat"), request_count=1, max_response_bytes=len(CHAT_BODY)))
    assert rec["error_kind"].tolist() == [0]


def test_max_response_bytes_must_not_be_negative() -> None:
    with pytest.raises(_engine.EngineError, match="max_response_bytes must be >= 0"):
        _engine.Engine(make_config("http://127.0.0.1:1/x", max_response_bytes=-1), [b"{}"])


def test_non_streaming_chat_records_content_usage_and_one_chunk(server: LocalServer) -> None:
    with server.lock:
        server.connections.clear()
    engine, rec = run(make_config(server.url("/chat"), warmup_request_count=2))
    assert len(server.connections) <= 2  # keep-alive: one connection per concurrency slot
    n = 6
    assert list(rec["request_index"]) == list(range(n))
    assert list(rec["phase"]) == [0, 0, 1, 1, 1, 1]
    assert (rec["status"] == 200).all() and (rec["error_kind"] == 0).all()
    assert rec["start_ns"].dtype == np.int64 and rec["was_cancelled"].dtype == np.bool_
    assert (rec["start_ns"] <= rec["ack_ns"]).all() and (rec["ack_ns"] <= rec["end_ns"]).all()
    assert list(rec["chunk_offsets"]) == list(range(n + 1))
    assert all(text(rec, "content", r) == "hello world" for r in range(n))
    assert (rec["chunk_content_bytes"] == len("hello world")).all()
    assert (rec["usage_prompt_tokens"] == 5).all() and (rec["usage_reasoning_tokens"] == -1).all()
    assert (rec["response_bytes"] == len(CHAT_BODY)).all()
    assert len(rec["raw"]) == 0 and len(rec["raw_offsets"]) == 0
    progress = engine.progress()
    assert (progress.sent, progress.completed, progress.errors, progress.phase) == (n, n, 0, 2)
    assert progress.profiling_start_ns > 0


def test_streaming_chat_records_every_event_and_keeps_raw(server: LocalServer) -> None:
    _, rec = run(make_config(server.url("/stream"), streaming=True, keep_raw=True, request_count=3))
    events = len(SSE_EVENTS) + 1  # [DONE] is a chunk too
    assert (rec["error_kind"] == 0).all()
    assert list(rec["chunk_offsets"]) == [0, events, 2 * events, 3 * events]
    assert list(rec["chunk_content_bytes"][:events]) == [0, 5, 3, 2, 0, 0]
    assert text(rec, "content", 1) == "Hello" and text(rec, "reasoning", 1) == "think"
    assert (rec["usage_completion_tokens"] == 3).all() and (rec["usage_reasoning_tokens"] == 1).all()
    raw_offsets = rec["raw_offsets"]
    assert len(raw_offsets) == 3 * events + 1
    assert rec["raw"][raw_offsets[events - 1] : raw_offsets[events]].tobytes() == b"[DONE]"
    headers = rec["response_headers"][: rec["response_header_offsets"][1]].tobytes()
    assert headers.startswith(b"HTTP/1.1 200") and b"text/event-stream" in headers


def test_request_ids_bodies_and_order(server: LocalServer) -> None:
    with server.lock:
        server.request_ids.clear()
        server.bodies.clear()
    bodies = [b'{"i": 0}', b'{"i": 1}', b'{"i": 2}']
    config = make_config(server.url("/chat"), request_count=4, concurrency=1, request_id_prefix="run-")
    _, rec = run(config, bodies, np.array([2, 0], dtype=np.int32))
    assert list(rec["body_index"]) == [2, 0, 2, 0]
    assert server.request_ids == [f"run-{i:012x}" for i in range(4)]
    assert server.bodies == [bodies[2], bodies[0], bodies[2], bodies[0]]


def test_http_500_is_an_http_status_error_with_the_body(server: LocalServer) -> None:
    _, rec = run(make_config(server.url("/error"), request_count=2))
    assert (rec["status"] == 500).all() and (rec["error_kind"] == 3).all()
    assert text(rec, "error_message", 0).startswith('HTTP 500: {"error": {"message": "boom"')
    assert engine_errors_counted(server.url("/error")) == 1


def engine_errors_counted(url: str) -> int:
    engine, _ = run(make_config(url, request_count=1, concurrency=1))
    return engine.progress().errors


def test_non_json_body_is_an_invalid_response(server: LocalServer) -> None:
    _, rec = run(make_config(server.url("/not-json"), request_count=1))
    assert rec["error_kind"][0] == 5 and rec["status"][0] == 200
    assert "invalid response" in text(rec, "error_message", 0)


def test_image_responses_are_counted_and_checked(server: LocalServer) -> None:
    _, rec = run(make_config(server.url("/image-ok"), request_count=2, expect_images=True))
    assert (rec["error_kind"] == 0).all() and (rec["num_images"] == 2).all()


@pytest.mark.parametrize(
    ("path", "message"),
    [("/image-none", "no image in the response"), ("/image-bad-base64", "not valid base64")],
)
def test_image_response_without_a_valid_image_is_an_error_record(server: LocalServer, path: str,
                                                                message: str) -> None:
    _, rec = run(make_config(server.url(path), request_count=2, expect_images=True))
    assert (rec["error_kind"] == 5).all() and (rec["status"] == 200).all()
    assert message in text(rec, "error_message", 0)
    # Without expect_images (text endpoints) the same body is not judged.
    _, rec = run(make_config(server.url(path), request_count=1))
    assert rec["error_kind"][0] == 0


def test_server_closing_idle_kept_alive_connections_loses_no_record(server: LocalServer) -> None:
    # Idle sockets that see EOF leave the epoll set (no busy loop) and the run finishes. A request that libcurl sent
    # on a connection the server was closing at that moment can still fail after libcurl's own retries: it is then
    # a transport error record, never a hang or a lost record.
    _, rec = run(make_config(server.url("/close-after"), request_count=20, concurrency=2))
    assert len(rec["error_kind"]) == 20
    failed = np.flatnonzero(rec["error_kind"] != 0)
    assert len(failed) <= 5
    for i in failed:
        assert rec["error_kind"][i] == 4 and "Connection died" in text(rec, "error_message", int(i))


def test_refused_port_is_a_connect_error() -> None:
    _, rec = run(make_config(f"http://127.0.0.1:{free_port()}/chat", request_count=2))
    assert (rec["error_kind"] == 1).all() and (rec["status"] == 0).all()
    assert (rec["ack_ns"] == -1).all()


def test_request_timeout_is_a_timeout_error(server: LocalServer) -> None:
    _, rec = run(make_config(server.url("/slow"), request_count=1, request_timeout_s=0.3))
    assert rec["error_kind"][0] == 2


def test_stop_from_another_thread_cancels_in_flight_requests(server: LocalServer) -> None:
    engine = _engine.Engine(make_config(server.url("/hang"), streaming=True, request_count=4), [b"{}"])
    engine.start()
    deadline = time.monotonic() + 5
    while engine.progress().in_flight < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    threading.Timer(0.2, engine.stop).start()
    assert engine.wait(5.0)
    rec = engine.records()
    assert len(rec["request_index"]) == 2
    assert rec["was_cancelled"].all() and (rec["error_kind"] == 6).all()
    assert text(rec, "content", 0) == "x"  # what arrived before the stop is kept


def test_duration_with_grace_cancels_what_is_left(server: LocalServer) -> None:
    config = make_config(
        server.url("/hang"), streaming=True, request_count=0, benchmark_duration_s=0.2, grace_period_s=0.1
    )
    _, rec = run(config)
    assert len(rec["request_index"]) == 2 and (rec["error_kind"] == 6).all()


def test_invalid_configs_raise_engine_error() -> None:
    with pytest.raises(_engine.EngineError, match="http"):
        _engine.Engine(make_config("ftp://x/y"), [b"{}"])
    with pytest.raises(_engine.EngineError, match="concurrency"):
        _engine.Engine(make_config("http://127.0.0.1:1/x", concurrency=0), [b"{}"])
    with pytest.raises(_engine.EngineError, match="bodies"):
        _engine.Engine(make_config("http://127.0.0.1:1/x"), [])
    with pytest.raises(_engine.EngineError, match="order"):
        _engine.Engine(make_config("http://127.0.0.1:1/x"), [b"{}"], np.array([1], dtype=np.int32))
    with pytest.raises(_engine.EngineError, match="benchmark_duration_s"):
        _engine.Engine(make_config("http://127.0.0.1:1/x", request_count=0), [b"{}"])


def test_records_before_the_run_finished_raise() -> None:
    engine = _engine.Engine(make_config("http://127.0.0.1:1/x"), [b"{}"])
    with pytest.raises(_engine.EngineError):
        engine.records()


def test_monotonic_ns_is_the_engine_clock(server: LocalServer) -> None:
    before = _engine.monotonic_ns()
    engine, rec = run(make_config(server.url("/chat"), request_count=1))
    assert before <= engine.anchor_mono_ns <= rec["start_ns"][0] <= _engine.monotonic_ns()
    assert abs(engine.anchor_wall_ns - time.time_ns()) < 60 * 10**9


def test_libcurl_version_names_the_loaded_and_the_compiled_libcurl() -> None:
    loaded, compiled = _engine.libcurl_version()
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", loaded)
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", compiled)
    # The soname (libcurl.so.4) promises only that a newer libcurl than the headers is compatible.
    assert tuple(map(int, re.findall(r"\d+", loaded)[:3])) >= tuple(map(int, re.findall(r"\d+", compiled)[:3]))




@pytest.mark.parametrize(("concurrency", "request_count", "warmup", "runs"), [(1, 300, 1, 1), (2, 8, 6, 20)])
def test_requests_to_a_fast_server_do_not_wait_for_another_event(
    fast_mock_server, concurrency: int, request_count: int, warmup: int, runs: int
) -> None:
    # A response that is complete by the time libcurl first reads (a fast server on loopback) can finish inside the
    # call that started the request; libcurl 8.x then arms neither a timer nor a socket, and a loop that only looks
    # for finished transfers after epoll_wait sits there until something else happens (a timeout, the run's end).
    # One request after another; and short runs whose profiling phase starts on warm connections (without the fix
    # about a third of these stalled with libcurl 8.14, depending on timing: hence 20 of them).
    config = make_config(
        fast_mock_server.url.rstrip("/") + "/v1/chat/completions", concurrency=concurrency,
        request_count=request_count, warmup_request_count=warmup, request_timeout_s=5.0,
    )
    body = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}'
    for _ in range(runs):
        started = time.monotonic()
        _, rec = run(config, [body])
        assert time.monotonic() - started < 4.0
        assert (rec["status"] == 200).all() and len(rec["status"]) == request_count + warmup
