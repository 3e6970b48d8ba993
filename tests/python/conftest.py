"""Shared fixtures: a built-in mock server on 127.0.0.1 with a free port, and a gpt2 tokenizer check."""
from __future__ import annotations

import os
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


@pytest.fixture(scope="session")
def gpt2():
    """The offline GPT-2 tokenizer (`make tokenizer-assets`); a missing asset skips, except in CI where it fails."""
    from aiperf.inputs.tokenizer import gpt2_asset_dir, load_tokenizer

    asset_dir = gpt2_asset_dir()
    if not (asset_dir / "tokenizer.json").is_file():
        message = f"GPT-2 tokenizer asset missing in {asset_dir}: run `make tokenizer-assets`"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        return load_tokenizer("gpt2")


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- runs for the Python API, plot and report tests (issue 5): small, made once per session ----------------------

def _png_file(path, width: int, height: int, seed: int):
    from aiperf import _engine

    path.write_bytes(_engine.encode_png(width, height, seed))
    return path


@pytest.fixture(scope="session")
def api_server():
    """Streaming chat and images: TTFT 5 ms, ITL 1 ms, 10 output tokens, images after 2 ms."""
    from aiperf.mock import MockServer

    with MockServer(host="127.0.0.1", port=0, ttft_ms=5, itl_ms=1, output_tokens=10,
                    image_latency_ms=2) as server:
        yield server


@pytest.fixture(scope="session")
def streaming_run(api_server, tmp_path_factory):
    """Streaming chat, concurrency 4, 40 requests after 2 warm-up ones, raw export."""
    import aiperf

    return aiperf.profile(model="m", tokenizer="gpt2", url=api_server.url, endpoint_type="chat", streaming=True,
                          concurrency=4, request_count=40, warmup_request_count=2, synthetic_input_tokens_mean=16,
                          export_level="raw", artifact_dir=tmp_path_factory.mktemp("streaming") / "chat-streaming",
                          print_table=False)


@pytest.fixture(scope="session")
def plain_run(api_server, tmp_path_factory):
    """Non-streaming chat, concurrency 2, 20 requests, records export (no TTFT/ITL)."""
    import aiperf

    return aiperf.profile(model="m", tokenizer="gpt2", url=api_server.url, endpoint_type="chat", concurrency=2,
                          request_count=20, synthetic_input_tokens_mean=16, export_level="records",
                          artifact_dir=tmp_path_factory.mktemp("plain") / "chat-plain", print_table=False)


@pytest.fixture(scope="session")
def image_edit_run(api_server, tmp_path_factory):
    """Image edits of two reference images (32x24 and 64x48; the mock answers in the reference's size), raw export."""
    import json

    import aiperf

    folder = tmp_path_factory.mktemp("edit")
    small = _png_file(folder / "small.png", 32, 24, 1)
    large = _png_file(folder / "large.png", 64, 48, 2)
    prompts = folder / "edits.jsonl"
    prompts.write_text(json.dumps({"text": "Make it a watercolor", "image": str(small)}) + "\n"
                       + json.dumps({"text": "Add snow", "image": str(large)}) + "\n")
    return aiperf.profile(model="m", tokenizer="gpt2", url=api_server.url, endpoint_type="image_edit",
                          input_file=prompts, custom_dataset_type="single_turn", concurrency=2, request_count=6,
                          export_level="raw", artifact_dir=folder / "image-edit", print_table=False)
