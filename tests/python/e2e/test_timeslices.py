"""Exports over time: AIPerf's time-sliced metrics (--slice-duration) and the concurrency/throughput timeline,
on synthetic records with hand-computed answers, then end to end against the mock server."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from aiperf.cli import main
from aiperf.engine import ClockAnchor
from aiperf.results.timeslices import (
    TIMELINE_CSV,
    TIMELINE_JSON,
    TIMESLICES_CSV,
    TIMESLICES_JSON,
    compute_timeslices,
    timeline_of,
    write_time_exports,
)

S = 1_000_000_000
ANCHOR_WALL_NS = 1000 * S  # engine clock 5 s is wall clock 1000 s, a multiple of the 1 s slices
ANCHOR_MONO_NS = 5 * S
ANCHOR = ClockAnchor(wall_ns=ANCHOR_WALL_NS, mono_ns=ANCHOR_MONO_NS)


def _run():
    """Five profiling requests and a warm-up one (engine clock, seconds):
    0: 5.1-5.3 ok   1: 5.5-5.9 ok   2: 5.8-6.4 failed   3: 6.2-6.6 ok   4: 8.5-8.7 ok   5: 4.5-4.7 warm-up."""
    start = np.array([5.1, 5.5, 5.8, 6.2, 8.5, 4.5])
    end = np.array([5.3, 5.9, 6.4, 6.6, 8.7, 4.7])
    ok = np.array([True, True, False, True, True, True])
    columns = {
        "start_ns": np.round(start * S).astype(np.int64),
        "response_end_ns": np.round(end * S).astype(np.int64),
        "end_ns": np.round(end * S).astype(np.int64),
        "intended_ns": np.full(6, -1, dtype=np.int64),
        "phase": np.array([1, 1, 1, 1, 1, 0], dtype=np.int8),
        "error_kind": np.where(ok, 0, 3).astype(np.int8),
    }
    tokens = np.where(ok, [10.0, 20.0, 0.0, 30.0, 40.0, 5.0], np.nan)
    per_record = {
        "request_latency": np.where(ok, (end - start) * 1000, np.nan),
        "output_token_count": tokens,
        "output_sequence_length": tokens,
    }
    return columns, per_record


def _slices(**kwargs):
    columns, per_record = _run()
    return compute_timeslices(columns, per_record, slice_duration_s=1.0, anchor=ANCHOR, **kwargs)


def test_requests_fall_in_the_wall_clock_slice_of_their_start_and_empty_slices_are_left_out():
    slices = _slices()
    # starts at wall 1000.1, 1000.5, 1000.8 | 1001.2 | 1003.5: the slice from 1002 s has no request
    assert [s.index for s in slices] == [0, 1, 2]
    assert [(s.start_wall_ns // S, s.end_wall_ns // S) for s in slices] == [(1000, 1001), (1001, 1002), (1003, 1004)]
    assert [s.summary["request_count"]["avg"] for s in slices] == [2, 1, 1]  # the warm-up request is in none
    assert [s.summary["error_request_count"]["avg"] for s in slices] == [1, 0, 0]
    assert slices[0].summary["request_latency"]["avg"] == pytest.approx(300.0)
    assert slices[0].summary["request_latency"]["count"] == 2
    assert slices[1].summary["request_latency"]["max"] == pytest.approx(400.0)


def test_slice_throughputs_use_the_slice_requests_own_window():
    slices = _slices()
    # slice 0 spans its first start (5.1) to its last response end (the failed request's, 6.4): 1.3 s
    assert slices[0].summary["benchmark_duration"]["avg"] == pytest.approx(1.3)
    assert slices[0].summary["request_throughput"]["avg"] == pytest.approx(2 / 1.3)
    assert slices[0].summary["output_token_throughput"]["avg"] == pytest.approx(30 / 1.3)
    assert slices[0].summary["min_request_timestamp"]["avg"] == pytest.approx(1000.1 * S)
    assert slices[1].summary["request_throughput"]["avg"] == pytest.approx(1 / 0.4)
    assert slices[2].summary["output_token_throughput"]["avg"] == pytest.approx(40 / 0.2)
    assert slices[2].summary["total_osl"]["avg"] == 40


def test_goodput_is_counted_per_slice():
    slices = _slices(goodput={"request_latency": 250.0, "time_to_first_token": 1.0})  # TTFT: not in this run
    assert [s.summary["good_request_count"]["avg"] for s in slices] == [1, 0, 1]


def test_a_slice_duration_that_is_not_positive_is_rejected():
    columns, per_record = _run()
    for bad in (0, -0.5, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="--slice-duration: must be a finite number > 0"):
            compute_timeslices(columns, per_record, slice_duration_s=bad, anchor=ClockAnchor(0, 0))


def test_timeline_buckets_count_starts_ends_and_requests_in_flight():
    columns, per_record = _run()
    timeline = timeline_of(columns, per_record, anchor=ANCHOR,
                           bin_s=1.0)
    # origin: the first profiling start (wall 1000.1 s); requests at 0-0.2, 0.4-0.8, 0.7-1.3 (failed), 1.1-1.5,
    # 3.4-3.6 s; the run ends at 3.6 s, so the last bucket covers 0.6 s
    assert timeline.origin_ns == round(1000.1 * S)
    assert timeline.started.tolist() == [3, 1, 0, 1]
    assert timeline.completed.tolist() == [2, 1, 0, 1]
    assert timeline.failed.tolist() == [0, 1, 0, 0]
    assert timeline.covered_s.tolist() == pytest.approx([1, 1, 1, 0.6])
    assert timeline.output_tokens.tolist() == [30, 30, 0, 40]
    assert timeline.concurrency.tolist() == pytest.approx([0.9, 0.7, 0.0, 0.2 / 0.6])
    assert timeline.max_concurrency.tolist() == [2, 2, 0, 1]
    assert timeline.request_throughput.tolist() == pytest.approx([2, 1, 0, 1 / 0.6])


def test_files_follow_aiperf_layouts(tmp_path):
    columns, per_record = _run()
    written = write_time_exports(tmp_path, columns=columns, per_record=per_record, slice_duration_s=1.0,
                                 export_level="records", anchor=ANCHOR, input_config={"slice_duration": 1.0})
    assert [p.name for p in written] == [TIMESLICES_JSON, TIMESLICES_CSV, TIMELINE_JSON, TIMELINE_CSV]
    doc = json.loads((tmp_path / TIMESLICES_JSON).read_text())
    assert list(doc) == ["timeslices", "input_config"] and doc["input_config"]["slice_duration"] == 1.0
    first = doc["timeslices"][0]
    assert first["timeslice_index"] == 0
    assert first["request_latency"]["unit"] == "ms" and first["request_latency"]["p50"] == pytest.approx(300.0)
    assert set(first["request_latency"]) >= {"avg", "min", "max", "p1", "p99", "std", "count"}
    assert first["request_count"] == {"unit": "requests", "avg": 2.0}

    rows = list(csv.reader((tmp_path / TIMESLICES_CSV).open()))
    assert rows[0] == ["Timeslice", "Metric", "Unit", "Stat", "Value"]
    assert ["0", "Request Latency", "ms", "avg", "300.00"] in rows
    assert ["0", "Request Latency", "ms", "count", "2"] in rows
    assert ["0", "Request Count", "requests", "avg", "2"] in rows
    assert ["2", "Request Throughput", "requests/sec", "avg", "5.00"] in rows

    timeline = json.loads((tmp_path / TIMELINE_JSON).read_text())
    assert timeline["bin_s"] == 1.0 and timeline["origin_ns"] == round(1000.1 * S)
    assert [b["requests_started"] for b in timeline["buckets"]] == [3, 1, 0, 1]
    table = list(csv.DictReader((tmp_path / TIMELINE_CSV).open()))
    assert [int(r["max_concurrency"]) for r in table] == [2, 2, 0, 1]
    assert float(table[3]["duration_s"]) == pytest.approx(0.6)


def test_summary_level_writes_no_timeline_and_no_slice_duration_writes_no_timeslices(tmp_path):
    columns, per_record = _run()
    common = {"columns": columns, "per_record": per_record, "anchor": ANCHOR}
    assert [p.name for p in write_time_exports(tmp_path, slice_duration_s=None, export_level="raw", **common)] == \
        [TIMELINE_JSON, TIMELINE_CSV]
    assert write_time_exports(tmp_path / "x", slice_duration_s=None, export_level="summary", **common) == []


# ---- end to end ------------------------------------------------------------------------------------------------

def _profile(server, out, *extra: str) -> int:
    return main(["profile", "--model", "m", "--tokenizer", "gpt2", "--url", server.url.replace("http://", ""),
                 "--endpoint-type", "chat", "--streaming", "--request-rate", "40", "--arrival-pattern", "constant",
                 "--request-count", "60", "--ui-type", "none", "--artifact-dir", str(out), *extra])


def test_profile_with_slice_duration_writes_slices_that_add_up(mock_server, tmp_path, capsys):
    import aiperf

    out = tmp_path / "run"
    assert _profile(mock_server, out, "--slice-duration", "0.5") == 0
    console = capsys.readouterr().out
    assert f"Timeslice JSON Export: {out / TIMESLICES_JSON}" in console
    assert f"CSV Export: {out / TIMELINE_CSV}" in console
    summary = json.loads((out / "profile_export_aiperf.json").read_text())
    assert summary["input_config"]["slice_duration"] == 0.5
    doc = json.loads((out / TIMESLICES_JSON).read_text())
    slices = doc["timeslices"]
    # 60 requests sent 25 ms apart take about 1.5 s: at least 3 slices of 0.5 s
    assert len(slices) >= 3 and [s["timeslice_index"] for s in slices] == list(range(len(slices)))
    assert sum(s["request_count"]["avg"] for s in slices) == summary["request_count"]["avg"] == 60
    assert sum(s["time_to_first_token"]["count"] for s in slices) == 60
    assert all(s["request_throughput"]["avg"] > 0 for s in slices)
    rows = list(csv.DictReader((out / TIMESLICES_CSV).open()))
    counts = [float(r["Value"]) for r in rows if r["Metric"] == "Request Count"]
    assert sum(counts) == 60 and len(counts) == len(slices)

    # the timeline file: buckets of the slice duration, the same numbers as Run.timeline
    timeline = json.loads((out / TIMELINE_JSON).read_text())
    buckets = timeline["buckets"]
    assert timeline["bin_s"] == 0.5
    assert sum(b["requests_started"] for b in buckets) == sum(b["requests_completed"] for b in buckets) == 60
    assert sum(b["output_tokens"] for b in buckets) == summary["total_osl"]["avg"]
    assert all(b["max_concurrency"] >= 1 for b in buckets[:-1])
    assert "intended_rate" in buckets[0]  # open loop: the schedule too
    frame = aiperf.load(out).timeline_frame(bin_s=0.5)
    assert frame["max_concurrency"].tolist() == [b["max_concurrency"] for b in buckets]
    assert frame["concurrency"].tolist() == pytest.approx([b["concurrency"] for b in buckets], abs=1e-6)


def test_profile_without_slice_duration_writes_an_automatic_timeline(fast_mock_server, tmp_path):
    out = tmp_path / "run"
    assert _profile(fast_mock_server, out, "--export-level", "summary") == 0
    assert not (out / TIMELINE_JSON).exists() and not (out / TIMESLICES_JSON).exists()
    out = tmp_path / "run2"
    assert _profile(fast_mock_server, out) == 0
    timeline = json.loads((out / TIMELINE_JSON).read_text())
    assert timeline["bin_s"] > 0 and 1 <= len(timeline["buckets"]) <= 60
    assert sum(b["requests_completed"] for b in timeline["buckets"]) == 60
    assert not (out / TIMESLICES_JSON).exists()


@pytest.mark.parametrize(("value", "shown"), [("0", "0.0"), ("-1", "-1.0"), ("nan", "nan")])
def test_a_slice_duration_that_is_not_positive_stops_the_run_before_anything_is_sent(value, shown, closed_port,
                                                                                       tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["profile", "--model", "m", "--tokenizer", "gpt2", "--url", f"127.0.0.1:{closed_port}",
                 "--request-count", "1", "--ui-type", "none", "--artifact-dir", str(out), "--slice-duration", value])
    err = capsys.readouterr().err
    assert code == 2
    assert "--slice-duration: must be" in err and shown in err, err
    assert not (out / "profile_export_aiperf.json").exists()  # a run against the closed port would write it
