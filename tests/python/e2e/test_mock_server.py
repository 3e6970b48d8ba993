"""The mock server over real HTTP on 127.0.0.1: routes, reply shapes, streaming, limits, errors and the CLI."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import aiperf
from aiperf.mock import MockServer

TOKENS = [" the", " of", " and", " to", " in", " a", " is", " that", " for", " it"]


def request(
    server: MockServer, method: str, path: str, body: Any = None, raw: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {"Content-Type": "application/json"} if data is not None else {}
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def sse_events(body: bytes) -> list[str]:
    text = body.decode()
    assert text.endswith("\n\n")
    events = text[:-2].split("\n\n")
    assert all(e.startswith("data: ") for e in events)
    return [e[len("data: ") :] for e in events]


@pytest.fixture(scope="module")
def fast_server():
    with MockServer(port=0, ttft_ms=0, itl_ms=0, output_tokens=12) as server:
        yield server


def test_health_returns_ok(fast_server: MockServer) -> None:
    status, headers, body = request(fast_server, "GET", "/health")
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"status": "ok"}


def test_url_points_at_the_bound_port(fast_server: MockServer) -> None:
    assert fast_server.url == f"http://127.0.0.1:{fast_server.port}"
    assert fast_server.port > 0


def test_models_lists_mock(fast_server: MockServer) -> None:
    status, _, body = request(fast_server, "GET", "/v1/models")
    assert status == 200
    reply = json.loads(body)
    assert reply["object"] == "list"
    assert [m["id"] for m in reply["data"]] == ["mock"]


def test_chat_non_streaming_has_openai_shape_and_usage(fast_server: MockServer) -> None:
    prompt = "x" * 40
    status, headers, body = request(
        fast_server,
        "POST",
        "/v1/chat/completions",
        {"model": 'org/My "Model"', "messages": [{"role": "user", "content": prompt}]},
    )
    assert status == 200
    assert headers["content-type"] == "application/json"
    reply = json.loads(body)
    assert reply["object"] == "chat.completion"
    assert reply["id"].startswith("chatcmpl-")
    assert isinstance(reply["created"], int)
    assert reply["model"] == 'org/My "Model"'
    choice = reply["choices"][0]
    assert choice["message"]["role"] == "assistant"
    assert choice["message"]["content"] == "".join(TOKENS[i % 10] for i in range(12))
    assert choice["finish_reason"] == "stop"
    assert reply["usage"] == {"prompt_tokens": 10, "completion_tokens": 12, "total_tokens": 22}


def test_max_tokens_and_max_completion_tokens_limit_the_output(fast_server: MockServer) -> None:
    for field in ("max_tokens", "max_completion_tokens"):
        _, _, body = request(fast_server, "POST", "/v1/chat/completions", {"messages": [], field: 3})
        reply = json.loads(body)
        assert reply["choices"][0]["message"]["content"] == " the of and"
        assert reply["usage"]["completion_tokens"] == 3
        assert reply["choices"][0]["finish_reason"] == "length"
    # A limit above the server's cap is capped.
    _, _, body = request(fast_server, "POST", "/v1/completions", {"prompt": "a", "max_tokens": 500})
    assert json.loads(body)["usage"]["completion_tokens"] == 12


def test_output_text_is_exactly_n_gpt2_tokens(fast_server: MockServer) -> None:
    from aiperf.inputs.tokenizer import TokenizerError, gpt2_asset_dir, load_tokenizer

    if not gpt2_asset_dir().is_dir():
        pytest.skip("no offline GPT-2 tokenizer (make tokenizer-assets)")
    try:
        tokenizer = load_tokenizer(str(gpt2_asset_dir()))  # a local path: never the network
    except TokenizerError as e:
        pytest.skip(str(e))
    for n in (1, 7, 12):
        _, _, body = request(fast_server, "POST", "/v1/chat/completions", {"messages": [], "max_tokens": n})
        assert len(tokenizer.encode(json.loads(body)["choices"][0]["message"]["content"])) == n
        _, _, body = request(
            fast_server, "POST", "/v1/completions", {"prompt": "", "max_tokens": n, "stream": True}
        )
        text = "".join(json.loads(e)["choices"][0]["text"] for e in sse_events(body)[:-1])
        assert len(tokenizer.encode(text)) == n


def test_chat_streaming_sends_one_event_per_token_then_finish_and_done(fast_server: MockServer) -> None:
    status, headers, body = request(
        fast_server,
        "POST",
        "/v1/chat/completions",
        {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True, "max_tokens": 5},
    )
    assert status == 200
    assert headers["content-type"] == "text/event-stream"
    assert headers["transfer-encoding"] == "chunked"
    events = sse_events(body)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "m" for c in chunks)
    assert len({c["id"] for c in chunks}) == 1
    deltas = [c["choices"][0]["delta"].get("content") for c in chunks[:-1]]
    assert deltas == TOKENS[:5]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert all("usage" not in c for c in chunks)  # no usage without stream_options.include_usage


def test_chat_streaming_with_include_usage_ends_with_a_usage_chunk(fast_server: MockServer) -> None:
    _, _, body = request(
        fast_server,
        "POST",
        "/v1/chat/completions",
        {
            "messages": [{"role": "user", "content": "abcdefgh"}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": 4,
        },
    )
    events = sse_events(body)
    assert events[-1] == "[DONE]"
    usage_chunk = json.loads(events[-2])
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == {"prompt_tokens": 2, "completion_tokens": 4, "total_tokens": 6}
    assert len(events) == 4 + 1 + 1 + 1  # tokens, finish, usage, [DONE]


def test_completions_non_streaming_and_streaming(fast_server: MockServer) -> None:
    _, _, body = request(
        fast_server, "POST", "/v1/completions", {"model": "c", "prompt": "12345678", "max_tokens": 2}
    )
    reply = json.loads(body)
    assert reply["object"] == "text_completion"
    assert reply["id"].startswith("cmpl-")
    assert reply["choices"][0]["text"] == " the of"
    assert reply["usage"] == {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4}

    _, headers, body = request(
        fast_server,
        "POST",
        "/v1/completions",
        {"prompt": ["a", "b"], "max_tokens": 3, "stream": True, "stream_options": {"include_usage": True}},
    )
    assert headers["content-type"] == "text/event-stream"
    events = sse_events(body)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    texts = [c["choices"][0]["text"] for c in chunks if c["choices"]]
    assert "".join(texts) == " the of and"
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["usage"]["completion_tokens"] == 3


def test_embeddings_return_one_768_vector_per_input(fast_server: MockServer) -> None:
    status, _, body = request(
        fast_server, "POST", "/v1/embeddings", {"model": "e", "input": ["one", "two", "six"]}
    )
    assert status == 200
    reply = json.loads(body)
    assert reply["object"] == "list"
    assert reply["model"] == "e"
    assert [d["index"] for d in reply["data"]] == [0, 1, 2]
    assert all(d["object"] == "embedding" and len(d["embedding"]) == 768 for d in reply["data"])
    assert reply["usage"]["prompt_tokens"] >= 1
    _, _, body = request(fast_server, "POST", "/v1/embeddings", {"input": "just one"})
    assert len(json.loads(body)["data"]) == 1


def test_unknown_path_is_404_with_openai_error(fast_server: MockServer) -> None:
    status, headers, body = request(fast_server, "POST", "/v1/nothing", {"a": 1})
    assert status == 404
    assert headers["content-type"] == "application/json"
    error = json.loads(body)["error"]
    assert error["message"] == "Invalid URL (POST /v1/nothing)"
    assert error["type"]


def test_invalid_json_is_400_with_openai_error(fast_server: MockServer) -> None:
    status, _, body = request(fast_server, "POST", "/v1/chat/completions", raw=b"{not json")
    assert status == 400
    error = json.loads(body)["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"]
    status, _, body = request(fast_server, "POST", "/v1/embeddings", {"model": "no input"})
    assert status == 400


def test_wrong_method_on_known_path_is_405(fast_server: MockServer) -> None:
    status, _, body = request(fast_server, "GET", "/v1/chat/completions")
    assert status == 405
    assert "error" in json.loads(body)


def test_keep_alive_serves_many_requests_on_one_connection(fast_server: MockServer) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", fast_server.port, timeout=10)
    try:
        for _ in range(20):
            conn.request("POST", "/v1/chat/completions", body=b'{"stream":true,"max_tokens":2}')
            response = conn.getresponse()
            assert sse_events(response.read())[-1] == "[DONE]"
    finally:
        conn.close()


def test_stats_count_requests_per_route() -> None:
    with MockServer(ttft_ms=0, itl_ms=0) as server:
        request(server, "GET", "/health")
        request(server, "POST", "/v1/completions", {"prompt": "x", "max_tokens": 1})
        request(server, "POST", "/v1/completions", raw=b"[")
        stats = server.stats()
    assert stats["health"] == 1
    assert stats["completions"] == 1
    assert stats["bad_request"] == 1
    assert stats["requests"] == 3
    assert stats["streams_open"] == 0


def test_streaming_takes_at_least_ttft_plus_itl_per_further_token() -> None:
    ttft_ms, itl_ms, tokens = 60.0, 15.0, 6
    with MockServer(ttft_ms=ttft_ms, itl_ms=itl_ms, output_tokens=50) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        start = time.perf_counter()
        conn.request("POST", "/v1/chat/completions", body=json.dumps({"stream": True, "max_tokens": tokens}))
        response = conn.getresponse()
        arrivals = []
        while line := response.readline():
            if line.startswith(b"data: ") and b'"content"' in line:
                arrivals.append(time.perf_counter() - start)
        conn.close()
        non_streaming_start = time.perf_counter()
        request(server, "POST", "/v1/completions", {"prompt": "x", "max_tokens": tokens})
        non_streaming_s = time.perf_counter() - non_streaming_start
    assert len(arrivals) == tokens
    assert arrivals[0] >= ttft_ms / 1000
    assert arrivals[-1] >= (ttft_ms + (tokens - 1) * itl_ms) / 1000
    assert non_streaming_s >= (ttft_ms + (tokens - 1) * itl_ms) / 1000


def test_client_disconnect_mid_stream_is_survived() -> None:
    with MockServer(ttft_ms=0, itl_ms=2, output_tokens=500) as server:
        for _ in range(3):
            sock = socket.create_connection(("127.0.0.1", server.port))
            body = b'{"stream":true}'
            sock.sendall(
                b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
            sock.close()
        deadline = time.monotonic() + 5
        while server.stats()["streams_open"] and time.monotonic() < deadline:
            time.sleep(0.01)
        stats = server.stats()
        assert stats["streams_open"] == 0
        assert stats["client_disconnects"] == 3
        assert request(server, "GET", "/health")[0] == 200


def test_stop_is_idempotent_and_closes_the_port() -> None:
    server = MockServer(ttft_ms=0, itl_ms=0).start()
    port = server.port
    assert not server.wait(0.0)
    server.stop()
    server.stop()
    assert server.wait(0.0)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_port_in_use_is_an_error() -> None:
    from aiperf._engine import EngineError

    with MockServer() as first, pytest.raises(EngineError, match="cannot listen"):
        MockServer(port=first.port).start()


def _cli_env() -> dict[str, str]:
    env = dict(os.environ)
    # The subprocess imports the same aiperf as this test (installed package or source tree with PYTHONPATH).
    package_root = str(Path(aiperf.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    return env


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_cli_prints_listening_line_serves_and_exits_0_on_signal(stop_signal: int) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiperf.mock",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--ttft",
            "1",
            "--itl-ms",
            "0",
            "--output-tokens",
            "3",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_cli_env(),
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:")
        port = int(line.strip().rsplit(":", 1)[1])
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/v1/chat/completions", body=b'{"messages":[]}')
        reply = json.loads(conn.getresponse().read())
        conn.close()
        assert reply["usage"]["completion_tokens"] == 3
        proc.send_signal(stop_signal)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_reports_a_port_in_use_and_exits_1() -> None:
    with MockServer() as taken:
        proc = subprocess.run(
            [sys.executable, "-m", "aiperf.mock", "-p", str(taken.port)],
            check=False,
            capture_output=True,
            text=True,
            timeout=30,
            env=_cli_env(),
        )
    assert proc.returncode == 1
    assert "cannot listen" in proc.stderr
    assert proc.stdout == ""


def test_cli_rejects_negative_latency() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "aiperf.mock", "--itl-ms", "-1"],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
        env=_cli_env(),
    )
    assert proc.returncode == 2
    assert "--itl-ms" in proc.stderr


def test_cli_rejects_negative_image_latency_and_documents_the_flag() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "aiperf.mock", "--image-latency-ms", "-5"],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
        env=_cli_env(),
    )
    assert proc.returncode == 2
    assert "--image-latency-ms" in proc.stderr
    from aiperf.mock import build_parser

    assert "--image-latency-ms" in build_parser().format_help()


def test_chat_content_parts_with_images_are_counted_not_rejected(fast_server: MockServer) -> None:
    before = fast_server.stats()["chat_image_parts"]
    content = [
        {"type": "text", "text": "x" * 40},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        {"type": "image_url", "image_url": {"url": "https://picsum.photos/200"}},
    ]
    status, _, body = request(
        fast_server,
        "POST",
        "/v1/chat/completions",
        {"model": "m", "messages": [{"role": "user", "content": content}]},
    )
    assert status == 200, body
    # 40 text characters are 10 tokens; every image part adds a fixed 85.
    assert json.loads(body)["usage"]["prompt_tokens"] == 10 + 2 * 85
    assert fast_server.stats()["chat_image_parts"] == before + 2


def test_chat_streaming_with_image_parts_streams_tokens(fast_server: MockServer) -> None:
    content = [
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        {"type": "text", "text": "hi"},
    ]
    status, _, body = request(
        fast_server,
        "POST",
        "/v1/chat/completions",
        {"messages": [{"role": "user", "content": content}], "stream": True, "max_tokens": 3},
    )
    assert status == 200
    assert sse_events(body)[-1] == "[DONE]"


def test_mock_server_repr_and_config_carry_image_latency() -> None:
    server = MockServer(image_latency_ms=7.5)
    assert server.config.image_latency_ms == 7.5
    assert "image_latency_ms=7.5" in repr(server)


# The flags `aiperf mock-server --help` listed before its parser was built from an option table.
MOCK_SERVER_FLAGS = [
    "-h", "--help", "--host", "--port", "-p", "--ttft-ms", "--ttft", "-t", "--itl-ms", "--itl", "--output-tokens",
    "--threads", "--workers", "-w", "--image-latency-ms", "--fast", "--fault", "--seed", "--huge-response-bytes",
    "--timing-log",
]


def test_cli_help_lists_the_same_flags_with_their_defaults() -> None:
    proc = subprocess.run([sys.executable, "-m", "aiperf", "mock-server", "--help"], check=True, capture_output=True,
                          text=True, timeout=30, env={**_cli_env(), "COLUMNS": "200"})
    options = proc.stdout.split("\noptions:\n", 1)[1].split("\n\n", 1)[0]
    listed = [flag for line in options.splitlines() if line.startswith("  -")
              for flag in re.findall(r"(?:^|, )(--?[a-z][\w-]*)", line.strip())]
    assert listed == MOCK_SERVER_FLAGS
    for shown in ("bind address [default: 127.0.0.1]", "[default: 8000]", "time to first token in ms [default: 20.0]",
                  "[default: 5.0]", "[default: 128]", "sharing the port [default: 1]", "in ms [default: 100.0]",
                  "X-Request-ID) [default: 0]", "reply [default: 1073741824]", "--fault KIND:FRACTION",
                  "--timing-log PATH", "--ttft-ms MS, --ttft MS, -t MS", "--threads T, --workers T, -w T"):
        assert shown in options, shown
    assert "[default: ()]" not in options and "[default: []]" not in options and "[default: None]" not in options


def test_cli_options_parse_to_the_defaults_the_server_has() -> None:
    from aiperf.mock.server import CLI_OPTIONS, build_parser, fault_kinds

    args = vars(build_parser().parse_args([]))
    assert args == {"host": "127.0.0.1", "port": 8000, "ttft_ms": 20.0, "itl_ms": 5.0, "output_tokens": 128,
                    "threads": 1, "image_latency_ms": 100.0, "fast": False, "faults": [], "seed": 0,
                    "huge_response_bytes": 1 << 30, "timing_log": None}
    config = MockServer().config  # port aside (0 there), the Python API has the same defaults
    for name in ("host", "ttft_ms", "itl_ms", "output_tokens", "threads", "image_latency_ms", "seed",
                 "huge_response_bytes"):
        assert getattr(config, name) == args[name], name
    # --fault's help names every kind.
    fault_help = next(option.help for option in CLI_OPTIONS if option.dest == "faults")
    assert all(kind in fault_help for kind in fault_kinds())
    # The repeatable flag's default list is fresh per parse.
    assert build_parser().parse_args(["--fault", "hang:0.1"]).faults == ["hang:0.1"]
    assert build_parser().parse_args([]).faults == []
