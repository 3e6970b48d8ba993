"""Shared fixtures: a built-in mock server on 127.0.0.1 with a free port, and a gpt2 tokenizer check."""
from __future__ import annotations

import socket

import pytest


@pytest.fixture(scope="session")
def mock_server():
    """Streaming chat mock: TTFT 50 ms, ITL 5 ms, 20 output tokens."""
    from aiperf.mock import MockServer

    with MockServer(host="127.0.0.1", port=0, ttft_ms=50, itl_ms=5, output_tokens=20) as server:
        yield server


@pytest.fixture(scope="session")
def fast_mock_server():
    """No artificial latency: for tests that only check shapes and counts."""
    from aiperf.mock import MockServer

    with MockServer(host="127.0.0.1", port=0, ttft_ms=0, itl_ms=0, output_tokens=8) as server:
        yield server


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
