"""aiperf.profile() leaves the calling process (a notebook, a script) as it found it: signal handlers, the open-file
limit, TOKENIZERS_PARALLELISM, the "aiperf" logger, glibc's allocator; `aiperf profile` may change the last for its
own process."""
from __future__ import annotations

import logging
import os
import resource
import signal

import pytest

import aiperf
from aiperf.cli import main
from aiperf.run import drive


@pytest.fixture
def mmap_calls(monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(drive, "set_mmap_threshold", lambda size: calls.append(size) or True)
    return calls


@pytest.fixture
def low_file_limit():
    """A soft RLIMIT_NOFILE just above what the process has open, restored afterwards."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    lowered = len(os.listdir("/proc/self/fd")) + 64
    if hard != resource.RLIM_INFINITY and hard < lowered + 2 * drive.FILE_HEADROOM:
        pytest.skip(f"the hard open-file limit ({hard}) leaves no room to raise the soft one")
    resource.setrlimit(resource.RLIMIT_NOFILE, (lowered, hard))
    yield lowered
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _state() -> dict:
    logger = logging.getLogger("aiperf")
    return {"sigint": signal.getsignal(signal.SIGINT), "sigterm": signal.getsignal(signal.SIGTERM),
            "nofile": resource.getrlimit(resource.RLIMIT_NOFILE),
            "tokenizers_parallelism": os.environ.get("TOKENIZERS_PARALLELISM"),
            "log_level": logger.level, "log_handlers": list(logger.handlers),
            "scheduler": os.sched_getscheduler(0)}


def test_profile_puts_back_what_it_changed_for_the_run(fast_mock_server, tmp_path, monkeypatch, low_file_limit,
                                                       mmap_calls):
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "true")
    before = _state()
    # more connections than the soft limit allows: the run raises it, and must lower it again
    run = aiperf.profile(model="m", tokenizer="gpt2", url=fast_mock_server.url, concurrency=low_file_limit,
                         request_count=low_file_limit, artifact_dir=tmp_path, print_table=False, log_level="DEBUG")
    assert run.summary["request_count"]["avg"] == low_file_limit
    assert "raised the open-file limit" in (tmp_path / "logs" / "aiperf.log").read_text()
    assert _state() == before
    assert mmap_calls == []  # glibc cannot undo it: left alone in the caller's process


def test_a_failed_run_puts_things_back_too(closed_port, tmp_path, low_file_limit, mmap_calls):
    before = _state()
    with pytest.raises(aiperf.NoSuccessfulRequestsError):
        aiperf.profile(model="m", tokenizer="gpt2", url=f"127.0.0.1:{closed_port}", concurrency=low_file_limit,
                       request_count=2, artifact_dir=tmp_path, print_table=False)
    with pytest.raises(aiperf.ConfigError):
        aiperf.profile(model="m", tokenizer="gpt2", url=f"127.0.0.1:{closed_port}", input_file=tmp_path / "none",
                       custom_dataset_type="single_turn", artifact_dir=tmp_path, print_table=False)
    assert _state() == before


def test_the_cli_fixes_the_mmap_threshold_of_its_own_process(fast_mock_server, tmp_path, mmap_calls):
    assert main(["profile", "--model", "m", "--tokenizer", "gpt2", "--url", fast_mock_server.url,
                 "--request-count", "2", "--artifact-dir", str(tmp_path), "--ui-type", "none"]) == 0
    assert mmap_calls == [drive.MMAP_THRESHOLD_BYTES]
