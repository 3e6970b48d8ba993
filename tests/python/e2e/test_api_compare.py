"""aiperf.compare: metrics of several runs side by side with the relative change."""
from __future__ import annotations

import json
import math

import pytest

import aiperf


def _artifact(folder, name: str, metrics: dict) -> str:
    """A minimal artifact folder with the given summary metrics."""
    path = folder / name
    path.mkdir()
    summary = {"schema_version": "1.5", "aiperf_version": "0.1.0", "input_config": {"model": ["m"]},
               "was_cancelled": False, "error_summary": [], **metrics}
    (path / "profile_export_aiperf.json").write_text(json.dumps(summary))
    return str(path)


def test_two_runs_with_known_differences(tmp_path):
    a = _artifact(tmp_path, "a", {"time_to_first_token": {"unit": "ms", "avg": 10.0, "p50": 8.0, "p99": 40.0},
                                  "request_throughput": {"unit": "requests/sec", "avg": 100.0},
                                  "request_count": {"unit": "requests", "avg": 50},
                                  "min_request_timestamp": {"unit": "ns", "avg": 1}})
    b = _artifact(tmp_path, "b", {"time_to_first_token": {"unit": "ms", "avg": 15.0, "p50": 8.0, "p99": 20.0},
                                  "request_throughput": {"unit": "requests/sec", "avg": 125.0},
                                  "request_count": {"unit": "requests", "avg": 50},
                                  "image_latency": {"unit": "ms/image", "avg": 3.0}})
    table = aiperf.compare([a, b])
    assert list(table.columns) == ["unit", "a", "b", "b change %"]
    assert table.loc[("time_to_first_token", "avg"), "b change %"] == pytest.approx(50.0)
    assert table.loc[("time_to_first_token", "p50"), "b change %"] == 0.0
    assert table.loc[("time_to_first_token", "p99"), "b change %"] == pytest.approx(-50.0)
    assert table.loc[("request_throughput", "avg"), "b change %"] == pytest.approx(25.0)
    assert table.loc[("request_throughput", "avg"), "unit"] == "requests/sec"
    assert ("request_throughput", "p99") not in table.index  # per-run metrics have one value
    assert math.isnan(table.loc[("image_latency", "avg"), "a"])  # only b has it
    assert math.isnan(table.loc[("image_latency", "avg"), "b change %"])
    assert "min_request_timestamp" not in table.index.get_level_values("metric")  # a timestamp, not performance
    # rows follow the metric registry's order (TTFT before throughput before counts)
    assert list(dict.fromkeys(table.index.get_level_values("metric"))) == [
        "time_to_first_token", "image_latency", "request_throughput", "request_count"]


def test_baseline_metrics_and_stats_can_be_chosen(tmp_path):
    a = _artifact(tmp_path, "a", {"request_latency": {"unit": "ms", "avg": 20.0, "p90": 30.0}})
    b = _artifact(tmp_path, "b", {"request_latency": {"unit": "ms", "avg": 10.0, "p90": 15.0}})
    table = aiperf.compare([a, b], baseline=1, stats=["p90"], metrics=["request_latency"])
    assert list(table.columns) == ["unit", "a", "b", "a change %"]
    assert table.index.tolist() == [("request_latency", "p90")]
    assert table.loc[("request_latency", "p90"), "a change %"] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="no run has metric.*time_to_first_token"):
        aiperf.compare([a, b], metrics=["time_to_first_token"])
    with pytest.raises(ValueError, match="baseline 2"):
        aiperf.compare([a, b], baseline=2)


def test_runs_with_the_same_folder_name_get_distinct_columns(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    a = _artifact(tmp_path / "x", "run", {"request_count": {"unit": "requests", "avg": 1}})
    b = _artifact(tmp_path / "y", "run", {"request_count": {"unit": "requests", "avg": 2}})
    assert list(aiperf.compare([a, b]).columns) == ["unit", "run", "run (2)", "run (2) change %"]
    named = aiperf.compare([aiperf.load(a, name="before"), aiperf.load(b, name="after")])
    assert list(named.columns) == ["unit", "before", "after", "after change %"]


def test_real_runs_differing_in_output_length(streaming_run, api_server, tmp_path):
    """Same settings but max tokens 5 instead of the mock's 10: output length -50 %, request count unchanged."""
    shorter = aiperf.profile(model="m", tokenizer="gpt2", url=api_server.url, endpoint_type="chat", streaming=True,
                             concurrency=4, request_count=40, synthetic_input_tokens_mean=16, output_tokens_mean=5,
                             artifact_dir=tmp_path / "short", print_table=False)
    table = aiperf.compare([streaming_run, shorter])
    assert table.loc[("output_sequence_length", "avg"), "chat-streaming"] == 10
    assert table.loc[("output_sequence_length", "avg"), "short"] == 5
    assert table.loc[("output_sequence_length", "avg"), "short change %"] == pytest.approx(-50.0)
    assert table.loc[("request_count", "avg"), "short change %"] == 0.0
    assert table.loc[("total_output_tokens", "avg"), "short change %"] == pytest.approx(-50.0)
