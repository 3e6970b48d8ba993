"""SIGINT / SIGTERM during `aiperf profile` (a subprocess against a slow mock server): the run stops, in-flight
requests are cancelled, valid exports marked was_cancelled are written; a second signal exits at once."""
from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aiperf.mock import MockServer

# Every request would stream for 500 x 200 ms = 100 s: only a cancellation ends the run within the bounds below.
SLOW = dict(ttft_ms=100, itl_ms=200, output_tokens=500)
CONCURRENCY = 4
EXIT_BOUND_S = 30  # generous for a loaded CI machine; an uncancelled run would take 100 s or more
F_SETPIPE_SZ = 1031


@pytest.fixture(scope="module")
def slow_server():
    with MockServer(host="127.0.0.1", port=0, **SLOW) as server:
        yield server


def _start_profile(server: MockServer, artifact_dir: Path, **popen: object) -> subprocess.Popen:
    popen.setdefault("stdout", subprocess.PIPE)
    return subprocess.Popen(
        [sys.executable, "-m", "aiperf", "profile", "--model", "m", "--tokenizer", "gpt2", "--url", server.url,
         "--streaming", "--concurrency", str(CONCURRENCY), "--request-count", "1000", "--export-level", "raw",
         "--artifact-dir", str(artifact_dir), "--ui-type", "none"],
        stderr=subprocess.PIPE, **popen)


def _wait_until(condition, what: str, timeout_s: float = EXIT_BOUND_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _wait_for_streams(server: MockServer, before: dict[str, int], proc: subprocess.Popen) -> None:
    """Until every one of the run's CONCURRENCY requests is streaming (so the signal lands mid-run)."""
    def streaming() -> bool:
        assert proc.poll() is None, proc.stderr.read()
        stats = server.stats()
        return stats["chat_completions"] - before["chat_completions"] >= CONCURRENCY and stats["streams_open"] >= 1
    _wait_until(streaming, "the run's requests to reach the server")


def _is_whole_json(path: Path) -> bool:
    try:
        json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return True


def _check_cancelled_exports(artifact_dir: Path) -> None:
    summary = json.loads((artifact_dir / "profile_export_aiperf.json").read_text())
    assert summary["was_cancelled"] is True
    records = [json.loads(line) for line in (artifact_dir / "profile_export.jsonl").read_text().splitlines()]
    raw = [json.loads(line) for line in (artifact_dir / "profile_export_raw.jsonl").read_text().splitlines()]
    assert len(records) == len(raw) >= CONCURRENCY
    cancelled = [r for r in records if r["metadata"]["was_cancelled"]]
    assert len(cancelled) >= CONCURRENCY, "the in-flight requests are recorded as cancelled"
    for record in cancelled:
        assert record["metadata"]["cancellation_time_ns"] is not None
        assert record["error"]["code"] == 499 and "cancelled" in record["error"]["message"]
    assert summary["error_summary"], "cancellations appear in the error summary"
    assert "interrupted" in (artifact_dir / "logs" / "aiperf.log").read_text()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_cancels_in_flight_requests_and_writes_valid_exports(slow_server, tmp_path, sig):
    before = slow_server.stats()
    proc = _start_profile(slow_server, tmp_path, text=True)
    try:
        _wait_for_streams(slow_server, before, proc)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=EXIT_BOUND_S)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert f"{sig.name}: stopping the run" in err
    assert "(cancelled early)" in out
    _check_cancelled_exports(tmp_path)
    # The server saw the client go away: the cancelled streams were closed, not left running.
    _wait_until(lambda: slow_server.stats()["client_disconnects"] - before["client_disconnects"] >= CONCURRENCY,
                "the server to see the cancelled connections close")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_second_signal_exits_at_once_even_when_the_process_is_stuck(slow_server, tmp_path, sig):
    # stdout is a full pipe nobody reads: after the first signal the process writes the exports, then blocks
    # printing the summary table. Only the second signal can end it.
    read_end, write_end = os.pipe()
    try:
        fcntl.fcntl(write_end, F_SETPIPE_SZ, 4096)
        os.set_blocking(write_end, False)
        try:
            while True:
                os.write(write_end, b"x" * 4096)
        except BlockingIOError:
            pass
        os.set_blocking(write_end, True)
        before = slow_server.stats()
        proc = _start_profile(slow_server, tmp_path, stdout=write_end, text=True)
        try:
            _wait_for_streams(slow_server, before, proc)
            proc.send_signal(sig)
            # inputs.json is the last export written before the table: once it is whole, only printing is left
            _wait_until(lambda: _is_whole_json(tmp_path / "inputs.json"), "the exports")
            assert proc.poll() is None, "the first signal does not kill the process"
            proc.send_signal(sig)
            proc.wait(timeout=EXIT_BOUND_S)
            err = proc.stderr.read()
        finally:
            proc.kill()
            proc.stderr.close()
    finally:
        os.close(read_end)
        os.close(write_end)
    assert proc.returncode == 130, err
    assert f"{sig.name} again: exiting at once" in err
    _check_cancelled_exports(tmp_path)


def test_signal_before_the_first_request_abandons_the_run(tmp_path, monkeypatch, capsys):
    # Before the engine starts there is nothing to save: the run ends with 130 and a one-line message.
    from aiperf import run
    from aiperf.cli import main

    original = run._load_tokenizer

    def interrupted_tokenizer_load(config):
        os.kill(os.getpid(), signal.SIGINT)  # the handler runs (and raises) before the next line
        return original(config)

    monkeypatch.setattr(run, "_load_tokenizer", interrupted_tokenizer_load)
    code = main(["profile", "--model", "m", "--tokenizer", "gpt2", "--url", "127.0.0.1:9",
                 "--artifact-dir", str(tmp_path), "--ui-type", "none"])
    assert code == 130
    assert "interrupted before the first request" in capsys.readouterr().err
    assert not (tmp_path / "profile_export_aiperf.json").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, "the previous handler is restored"
