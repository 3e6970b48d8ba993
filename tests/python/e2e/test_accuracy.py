"""Measurement accuracy (issue 7): the mock server's --timing-log, and `aiperf analyze-accuracy` joining it with a
run's exports. Checks shapes, matches and causality (a client never sees an event before the server sent it), never
how small the differences are."""
from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

import aiperf
from aiperf._engine import EngineError
from aiperf.analysis.timing_accuracy import DIFFERENCES, AccuracyError, analyze_accuracy, read_timing_log
from aiperf.cli import main
from aiperf.mock import MockServer
from aiperf.mock.server import build_parser

TOKENS = 8
BOUND_US = 2_000_000  # "bounded": far above any plausible difference on loopback, far below a broken join (epochs)
# Durations reported in ms floats come back to ns with rounding well under a nanosecond.
ROUNDING_US = 0.01


def _profile(server: MockServer, out: Path, **options):
    settings = dict(model="m", tokenizer="gpt2", url=server.url, endpoint_type="chat", streaming=True,
                    concurrency=4, request_count=24, synthetic_input_tokens_mean=16, export_level="raw",
                    artifact_dir=str(out), print_table=False)
    settings.update(options)
    return aiperf.profile(**settings)


@pytest.fixture(scope="module")
def streamed(tmp_path_factory):
    """A streaming run (2 warm-up requests, 24 profiled) and the server's timing log of it."""
    folder = tmp_path_factory.mktemp("accuracy")
    log = folder / "timing.jsonl"
    with MockServer(port=0, ttft_ms=5, itl_ms=1, output_tokens=TOKENS, timing_log=log) as server:
        run = _profile(server, folder / "run", warmup_request_count=2)
    return run.artifact_dir, log


def _lines(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def test_timing_log_has_a_header_and_one_line_per_request_with_every_event(streamed):
    _, log = streamed
    header, *requests = _lines(log)
    assert header["aiperf_mock_timing_log"] == 1 and header["clock"] == "CLOCK_MONOTONIC"
    assert len(requests) == 26
    for request in requests:
        assert request["path"] == "/v1/chat/completions" and request["stream"] is True
        assert request["outcome"] == "complete"
        # tokens, the finish_reason event, the usage event ([DONE] is not an event with data)
        assert len(request["send_ns"]) == TOKENS + 2
        assert request["recv_ns"] < request["send_ns"][0]
        assert request["send_ns"] == sorted(request["send_ns"])
        assert request["end_ns"] == request["send_ns"][-1]
        assert 0 <= request["queued"] <= len(request["send_ns"])
        assert "fault" not in request


def test_every_request_and_event_is_matched_and_differences_are_causal_and_bounded(streamed):
    folder, log = streamed
    report = analyze_accuracy(folder, log)
    counts = report.counts
    assert report.exact_clock and report.client_source == "profile_export_raw.jsonl"
    assert counts["client_requests"] == counts["matched_requests"] == 26
    assert counts["client_without_server"] == counts["server_without_client"] == counts["server_without_id"] == 0
    assert counts["client_events_without_server"] == counts["server_events_without_client"] == 0
    assert counts["client_warmup"] == 2  # matched, then left out of the statistics
    assert counts["matched_events"] == 24 * (TOKENS + 2)
    assert report.stats["event_arrival"]["count"] == 24 * (TOKENS + 2)
    assert report.stats["inter_token_latency"]["count"] == 24 * (TOKENS - 1)
    for key, _, _ in DIFFERENCES:
        values = report.differences_us[key]
        assert values.size > 0, key
        assert abs(values).max() < BOUND_US, key
        if key != "inter_token_latency":  # a gap can shrink on the client: its first event read late
            assert values.min() >= -ROUNDING_US, key
    written = json.loads((folder / "accuracy.json").read_text())
    assert written["unit"] == "us" and written["counts"]["matched_requests"] == 26
    assert written["differences"]["event_arrival"]["count"] == 24 * (TOKENS + 2)
    assert (folder / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_analyze_accuracy_command_prints_the_table(streamed, capsys):
    folder, log = streamed
    assert main(["analyze-accuracy", str(folder), "--server-log", str(log), "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert "Measurement Accuracy" in out and "Inter-token gap" in out
    assert "26 of 26 matched" in out


def test_non_streaming_bodies_are_timed_when_written(tmp_path):
    log = tmp_path / "timing.jsonl"
    with MockServer(port=0, ttft_ms=2, itl_ms=0, output_tokens=4, timing_log=log) as server:
        run = _profile(server, tmp_path / "run", streaming=False, request_count=12)
    report = analyze_accuracy(run.artifact_dir, log, plot=False)
    assert report.counts["matched_requests"] == 12
    assert report.counts["matched_events"] == 12  # one body each
    for key in ("request_start", "event_arrival", "request_end", "request_latency"):
        assert report.stats[key]["count"] == 12
        assert report.differences_us[key].min() >= 0 and report.differences_us[key].max() < BOUND_US
    assert report.stats["time_to_first_token"]["count"] == 0


def test_records_export_alone_goes_through_the_server_anchor(tmp_path):
    log = tmp_path / "timing.jsonl"
    with MockServer(port=0, ttft_ms=2, itl_ms=1, output_tokens=4, timing_log=log) as server:
        run = _profile(server, tmp_path / "run", export_level="records", request_count=8)
    report = analyze_accuracy(run.artifact_dir, log, plot=False)
    assert not report.exact_clock and report.client_source == "profile_export.jsonl"
    assert report.counts["matched_requests"] == 8
    assert report.stats["event_arrival"]["count"] == 8 * 4  # the content events, rebuilt from TTFT and the gaps
    assert report.stats["time_to_first_token"]["count"] == 8
    # converted through the server's anchor: still causal up to the anchors' skew (well under 100 us on one machine)
    for key in ("request_start", "event_arrival", "request_end"):
        assert report.differences_us[key].min() > -100 and report.differences_us[key].max() < BOUND_US


def test_a_request_without_x_request_id_is_logged_with_a_null_id_and_counted(tmp_path):
    log = tmp_path / "timing.jsonl"
    with MockServer(port=0, ttft_ms=0, itl_ms=0, output_tokens=2, timing_log=log) as server:
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode()
        request = urllib.request.Request(server.url + "/v1/chat/completions", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request) as response:
            response.read()
        with urllib.request.urlopen(server.url + "/health") as response:
            response.read()
    _, *lines = _lines(log)
    assert [line["x_request_id"] for line in lines] == [None, None]
    assert [line["path"] for line in lines] == ["/v1/chat/completions", "/health"]
    assert all(len(line["send_ns"]) == 1 and line["outcome"] == "complete" for line in lines)
    _, counts, _ = read_timing_log(log)
    assert counts == {"server_lines": 2, "server_without_id": 2, "server_repeated_id": 0}


def test_faulty_replies_are_logged_with_their_fault_and_outcome(tmp_path):
    log = tmp_path / "timing.jsonl"
    with MockServer(port=0, ttft_ms=1, itl_ms=0, output_tokens=4, timing_log=log,
                    faults=["http-500:0.5", "reset-before-response:0.5"], seed=1) as server:
        _profile(server, tmp_path / "run", request_count=8, request_timeout_seconds=5)
    _, *lines = _lines(log)
    assert {line["fault"] for line in lines} == {"http-500", "reset-before-response"}
    for line in lines:
        assert line["outcome"] == ("complete" if line["fault"] == "http-500" else "reset")


def test_timing_log_that_cannot_be_created_fails_the_start(tmp_path):
    with pytest.raises(EngineError, match="timing log"):
        MockServer(port=0, timing_log=tmp_path / "missing" / "timing.jsonl").start()


def test_mock_server_cli_takes_the_timing_log_flag():
    assert build_parser().parse_args(["--timing-log", "t.jsonl"]).timing_log == "t.jsonl"


def test_a_file_that_is_not_a_timing_log_is_an_error(tmp_path, streamed):
    folder, _ = streamed
    bogus = tmp_path / "bogus.jsonl"
    bogus.write_text('{"hello": 1}\n')
    with pytest.raises(AccuracyError, match="not a timing log line"):
        analyze_accuracy(folder, bogus, write=False)
    assert main(["analyze-accuracy", str(folder), "--server-log", str(tmp_path / "none.jsonl")]) == 2


@pytest.mark.parametrize("kernel_timestamps", ["on", "off"])
def test_kernel_and_clock_timestamps_both_join_causally(tmp_path, kernel_timestamps):
    # "auto" (the fixture above) is on for streams; both ways every event is timed after the server sent it
    log = tmp_path / "timing.jsonl"
    with MockServer(port=0, ttft_ms=5, itl_ms=1, output_tokens=TOKENS, timing_log=log) as server:
        run = _profile(server, tmp_path / "run", request_count=12, kernel_timestamps=kernel_timestamps)
    assert run.config["kernel_timestamps"] == kernel_timestamps
    report = analyze_accuracy(run.artifact_dir, log, plot=False)
    assert report.counts["matched_events"] == 12 * (TOKENS + 2)
    for key in ("request_start", "event_arrival", "request_end"):
        assert report.stats[key]["min"] >= 0 and report.stats[key]["max"] < BOUND_US, key
