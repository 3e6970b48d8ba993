"""End-to-end checks against a real llama.cpp server (`llama-cpp-python[server]`), run by `make test-real-server`.

Session fixtures: a tiny random-weight GGUF written with the `gguf` package (tiny_gguf.py), and one
`python -m llama_cpp.server` on a free loopback port, at its default settings (as a new user starts it),
stopped at the end. Each test runs the real `aiperf profile` CLI (the venv's console script) against it.
Not collected by `make test` (that runs tests/python only).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from support import ProfileRun, read_jsonl  # noqa: E402
from tiny_gguf import write_tiny_gguf  # noqa: E402

SERVER_START_TIMEOUT_S = 180
PROFILE_TIMEOUT_S = 600


def _gpt2_tokenizer_json() -> Path:
    """The offline GPT-2 tokenizer of `make tokenizer-assets`, where docs/tokenizers.md says it is (not through
    aiperf's internal modules, which move)."""
    if os.environ.get("AIPERF_CACHE_DIR"):
        cache = Path(os.environ["AIPERF_CACHE_DIR"]).expanduser()
    elif os.environ.get("XDG_CACHE_HOME"):
        cache = Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "aiperf"
    else:
        cache = Path.home() / ".cache" / "aiperf"
    path = cache / "tokenizers" / "gpt2" / "tokenizer.json"
    if not path.is_file():
        pytest.fail(f"{path} is missing: run `make tokenizer-assets` (docs/tokenizers.md)")
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LlamaServer:
    host: str
    port: int
    model_path: Path
    log_path: Path
    proc: subprocess.Popen

    @property
    def url(self) -> str:
        return f"{self.host}:{self.port}"

    def post(self, path: str, body: dict, timeout: float = 120.0) -> dict:
        req = urllib.request.Request(f"http://{self.url}{path}", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read())

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("model") / "tiny-random-gpt2bpe.gguf"
    facts = write_tiny_gguf(path, _gpt2_tokenizer_json())
    print(f"tiny GGUF: {facts}")
    return path


@pytest.fixture(scope="session")
def llama_server(tiny_model, tmp_path_factory):
    port = _free_port()
    log_path = tmp_path_factory.mktemp("server") / "llama_cpp_server.log"
    log = open(log_path, "wb")  # noqa: SIM115  (open for the whole session; closed in the finally below)
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(tiny_model), "--host", "127.0.0.1",
         "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = LlamaServer("127.0.0.1", port, tiny_model, log_path, proc)
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}:\n{server.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://{server.url}/v1/models", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"llama_cpp.server not up after {SERVER_START_TIMEOUT_S} s:\n{server.log_tail()}")
            time.sleep(0.25)
        yield server
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        log.close()
        print(f"llama_cpp.server log: {log_path}")


def _aiperf_bin() -> str:
    exe = Path(sys.executable).parent / "aiperf"
    return str(exe) if exe.exists() else "aiperf"


@pytest.fixture
def profile(llama_server, tmp_path):
    """profile(*args) runs `aiperf profile` against the server with the common options; returns a ProfileRun."""

    def run(*args: str, name: str = "run", timeout: float = PROFILE_TIMEOUT_S) -> ProfileRun:
        artifact_dir = tmp_path / name
        full = ["--model", "tiny-random", "--tokenizer", "gpt2", "--url", llama_server.url,
                "--export-level", "raw", "--artifact-dir", str(artifact_dir), "--ui-type", "none",
                "--random-seed", "7", *args]
        env = dict(os.environ, HF_HUB_OFFLINE="1", NO_COLOR="1", COLUMNS="200", TERM="dumb")
        t0 = time.monotonic()
        p = subprocess.run([_aiperf_bin(), "profile", *full], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=timeout, env=env)
        print(f"aiperf profile {' '.join(args)}: exit {p.returncode} in {time.monotonic() - t0:.1f} s")
        summary_path = artifact_dir / "profile_export_aiperf.json"
        summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
        return ProfileRun(full, p.returncode, p.stdout, artifact_dir,
                          read_jsonl(artifact_dir / "profile_export.jsonl"),
                          read_jsonl(artifact_dir / "profile_export_raw.jsonl"), summary)

    return run
