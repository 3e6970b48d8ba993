"""TLS: certificates are verified by default; --no-ssl-verify turns verification off; --url takes http(s) only."""
from __future__ import annotations

import json
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from aiperf.cli import main

REPLY = json.dumps({"id": "x", "object": "chat.completion", "model": "m",
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello there"},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}}).encode()


class _ChatHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(REPLY)))
        self.end_headers()
        self.wfile.write(REPLY)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def self_signed_server(tmp_path_factory):
    """An HTTPS chat server on 127.0.0.1 whose certificate no CA signed."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out",
                    str(cert)], check=True, capture_output=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ChatHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _profile(url: str, artifact_dir, *extra: str) -> dict:
    code = main(["profile", "--model", "m", "--tokenizer", "gpt2", "--url", url, "--request-count", "3",
                 "--artifact-dir", str(artifact_dir), "--ui-type", "none", *extra])
    assert code == 0
    return json.loads((artifact_dir / "profile_export_aiperf.json").read_text())


def test_self_signed_certificate_is_rejected_by_default(self_signed_server, tmp_path):
    summary = _profile(self_signed_server, tmp_path)
    assert sum(e["count"] for e in summary["error_summary"]) == 3
    messages = " ".join(e["error_details"]["message"] for e in summary["error_summary"]).lower()
    assert "certificate" in messages
    assert summary["input_config"]["no_ssl_verify"] is False


def test_no_ssl_verify_accepts_a_self_signed_certificate(self_signed_server, tmp_path):
    summary = _profile(self_signed_server, tmp_path, "--no-ssl-verify")
    assert summary["error_summary"] == []
    assert summary["request_count"]["avg"] == 3
    assert summary["input_config"]["no_ssl_verify"] is True


def test_url_scheme_is_case_insensitive(self_signed_server, tmp_path):
    summary = _profile(self_signed_server.replace("https://", "HTTPS://"), tmp_path, "--no-ssl-verify")
    assert summary["request_count"]["avg"] == 3
