"""Secrets: the API key, credential headers and a URL password reach the server but appear in no artifact, log
or console output, in any spelling the command line accepts, even when the server echoes them back."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from aiperf.redaction import REDACTED, redact_argv, redact_records, redact_url, secret_values

API_KEY = "sk-apikey-7f3a9c1e"
AUTH_TOKEN = "auth-token-5d2b8e4f"
X_API_KEY = "xapikey-91c7a3d2"
API_KEY_HEADER = "azurekey-4e8f1b6a"
COOKIE = "session=cookie-2a9d7c3f"
URL_PASSWORD = "urlpass-6b1e9f0d"
ALL_SECRETS = (API_KEY, AUTH_TOKEN, X_API_KEY, API_KEY_HEADER, COOKIE, URL_PASSWORD)

OK_BODY = json.dumps({"id": "x", "object": "chat.completion", "model": "m",
                      "choices": [{"index": 0, "message": {"role": "assistant", "content": "fine"},
                                   "finish_reason": "stop"}],
                      "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4}}).encode()


class _EchoingServer(ThreadingHTTPServer):
    """Answers every other request with 401 and an error that quotes the credentials it got (as some servers do),
    and sets a cookie on every response; remembers the credential headers it received."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _EchoingHandler)
        self.received: list[dict[str, str]] = []
        self.heads: list[dict[str, str]] = []  # every header of every request, as received
        self.lock = threading.Lock()


class _EchoingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _EchoingServer

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        credentials = {k.lower(): v for k, v in self.headers.items()
                       if k.lower() in ("authorization", "x-api-key", "api-key", "cookie")}
        with self.server.lock:
            self.server.received.append(credentials)
            self.server.heads.append(dict(self.headers.items()))
            fail = len(self.server.received) % 2 == 0
        body = (json.dumps({"error": {"message": f"Incorrect API key provided: {credentials}", "type": "auth",
                                      "code": 401}}).encode() if fail else OK_BODY)
        self.send_response(401 if fail else 200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Set-Cookie", COOKIE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echoing_server():
    server = _EchoingServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


# Each spelling of each credential option that argparse accepts.
SPELLINGS = {
    "separate values": ["--api-key", API_KEY, "-H", f"X-Api-Key: {X_API_KEY}", "--header", f"api-key:{API_KEY_HEADER}",
                        "-H", f"Cookie: {COOKIE}"],
    "attached values": [f"--api-key={API_KEY}", f"-Hx-api-key:{X_API_KEY}", f"--header=API-KEY:{API_KEY_HEADER}",
                        "-H", json.dumps({"Cookie": COOKIE})],
    "abbreviated flag, explicit Authorization": ["--api-ke", API_KEY, "-H", f"Authorization: Bearer {AUTH_TOKEN}",
                                                 "-H", json.dumps({"x-api-key": X_API_KEY, "api-key": API_KEY_HEADER}),
                                                 f"--header=Cookie:{COOKIE}"],
}


@pytest.mark.parametrize("spelling", list(SPELLINGS), ids=list(SPELLINGS))
def test_credentials_reach_the_server_but_no_artifact_or_console_output(echoing_server, tmp_path, spelling):
    port = echoing_server.server_address[1]
    url = f"http://user:{URL_PASSWORD}@127.0.0.1:{port}"
    proc = subprocess.run(
        [sys.executable, "-m", "aiperf", "profile", "--model", "m", "--tokenizer", "gpt2", "--url", url,
         "--request-count", "4", "--export-level", "raw", "--artifact-dir", str(tmp_path), "--ui-type", "simple",
         "--log-level", "DEBUG", *SPELLINGS[spelling]], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr

    received = echoing_server.received
    assert len(received) == 4
    expected_auth = f"Bearer {AUTH_TOKEN}" if "Authorization" in str(SPELLINGS[spelling]) else f"Bearer {API_KEY}"
    assert all(r["authorization"] == expected_auth for r in received)
    assert all(r["x-api-key"] == X_API_KEY and r["api-key"] == API_KEY_HEADER and r["cookie"] == COOKIE
               for r in received)

    artifacts = sorted(p for p in tmp_path.rglob("*") if p.is_file())
    names = {p.name for p in artifacts}
    assert {"inputs.json", "profile_export.jsonl", "profile_export_raw.jsonl", "profile_export_aiperf.json",
            "aiperf.log"} <= names
    texts = {str(p.relative_to(tmp_path)): p.read_text(errors="replace") for p in artifacts}
    texts["stdout"], texts["stderr"] = proc.stdout, proc.stderr
    for where, text in texts.items():
        for secret in ALL_SECRETS:
            assert secret not in text, f"{secret!r} leaked into {where}"
    # What was redacted is still visible as such: the reader knows a credential was there.
    assert REDACTED in texts["profile_export_raw.jsonl"]
    summary = json.loads(texts["profile_export_aiperf.json"])
    assert summary["error_summary"][0]["count"] == 2
    assert REDACTED in summary["error_summary"][0]["error_details"]["message"]
    assert REDACTED in summary["input_config"]["cli_command"]
    assert "127.0.0.1" in summary["input_config"]["base_url"]


def test_raw_export_request_headers_are_the_headers_the_server_received(echoing_server, tmp_path):
    import aiperf

    port = echoing_server.server_address[1]
    aiperf.profile(model="m", tokenizer="gpt2", url=f"127.0.0.1:{port}", request_count=4, concurrency=1,
                   api_key=API_KEY, header=["X-Team: search", f"X-Api-Key: {X_API_KEY}"], export_level="raw",
                   artifact_dir=str(tmp_path), ui_type="none", print_table=False)
    received = {head["X-Request-ID"]: head for head in echoing_server.heads}
    lines = [json.loads(line) for line in (tmp_path / "profile_export_raw.jsonl").read_text().splitlines()]
    assert len(lines) == len(received) == 4
    for line in lines:
        sent = line["request_headers"]
        head = received[sent["X-Request-ID"]]
        assert set(sent) == set(head)  # the same headers, none guessed and none missing (Host, Accept, ...)
        for name, value in head.items():
            secret = name.lower() in ("authorization", "x-api-key")
            assert sent[name] == (REDACTED if secret else value), name
        assert sent["X-Team"] == "search" and "Accept" in sent


def test_redaction_helpers():
    headers = {"Authorization": "Bearer tok-123456", "X-Other": "visible", "Cookie": "a=1"}
    secrets = secret_values("sk-abcdef", headers, "http://u:pw-98765@h:1")
    assert set(secrets) == {"sk-abcdef", "Bearer tok-123456", "tok-123456", "pw-98765"}  # 'a=1' is too short
    assert redact_url("http://u:pw-98765@h:1/v1") == f"http://u:{REDACTED}@h:1/v1"
    assert redact_url("h:1") == "h:1"
    assert redact_argv(["--api-key", "k", "-H", "Cookie:a=1", "-H", "X-Other:1", "--api-key=k2"]) == [
        "--api-key", REDACTED, "-H", f"Cookie:{REDACTED}", "-H", "X-Other:1", f"--api-key={REDACTED}"]
    assert redact_argv(["--api-ke", "sk-abcdef"], secrets) == ["--api-ke", REDACTED]


def test_records_are_redacted_without_touching_other_rows():
    import numpy as np

    messages = [b"ok", b"bad key sk-abcdef here", b""]
    offsets = np.cumsum([0] + [len(m) for m in messages]).astype(np.int64)
    records = {"error_message": np.frombuffer(b"".join(messages), dtype=np.uint8), "error_message_offsets": offsets,
               "raw": np.zeros(0, dtype=np.uint8), "raw_offsets": np.zeros(0, dtype=np.int64)}
    out = redact_records(records, ["sk-abcdef"])
    text, new_offsets = out["error_message"].tobytes(), out["error_message_offsets"]
    rows = [text[new_offsets[i]:new_offsets[i + 1]] for i in range(3)]
    assert rows == [b"ok", f"bad key {REDACTED} here".encode(), b""]
    assert out["raw"] is records["raw"], "a column without a secret is not copied"
    assert redact_records(records, []) is records
