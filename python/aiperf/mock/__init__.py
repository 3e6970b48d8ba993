"""The built-in OpenAI-compatible mock server (C++, libevent), for trying aiperf and testing without a GPU.

    from aiperf.mock import MockServer
    with MockServer(ttft_ms=20, itl_ms=5) as server:      # port 0: a free port
        aiperf.profile(url=server.url, model="mock", endpoint_type="chat", streaming=True, ...)

From the shell: `aiperf mock-server --port 8000 --ttft-ms 20 --itl-ms 5` (or `python -m aiperf.mock …`).
"""

from __future__ import annotations

from aiperf.mock.server import MockServer, build_parser, run_cli, serve

__all__ = ["MockServer", "build_parser", "run_cli", "serve"]
