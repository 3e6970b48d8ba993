"""The Run object: records, timeline, config and images checked against the export files; aiperf.load errors."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

import aiperf
from aiperf.analysis.runs import RECORD_COLUMNS, ArtifactError, find_artifact_dirs


def _jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_profile_returns_a_run_and_the_old_name_still_works(streaming_run):
    assert isinstance(streaming_run, aiperf.Run)
    assert aiperf.ProfileResult is aiperf.Run
    assert streaming_run.config["streaming"] is True and streaming_run.config["concurrency"] == 4
    assert streaming_run.label == "chat-streaming"


def test_records_of_a_fresh_run_equal_the_records_loaded_from_its_files(streaming_run):
    loaded = aiperf.load(streaming_run.artifact_dir)
    pd.testing.assert_frame_equal(streaming_run.records, loaded.records)
    exported = json.loads((streaming_run.artifact_dir / "profile_export_aiperf.json").read_text())
    assert loaded.summary["time_to_first_token"] == exported["time_to_first_token"]
    assert loaded.config == exported["input_config"]


def test_records_columns_and_values_match_profile_export_jsonl(streaming_run):
    records = aiperf.load(streaming_run.artifact_dir).records
    lines = _jsonl(streaming_run.artifact_dir / "profile_export.jsonl")
    assert len(records) == len(lines) == 42
    assert tuple(records.columns[:len(RECORD_COLUMNS)]) == RECORD_COLUMNS
    metric_columns = list(records.columns[len(RECORD_COLUMNS):])
    for tag in ("time_to_first_token", "inter_token_latency", "request_latency", "output_sequence_length",
                "input_sequence_length"):
        assert tag in metric_columns
    assert "inter_chunk_latency" not in metric_columns  # list-valued: not a column
    assert records["benchmark_phase"].value_counts().to_dict() == {"profiling": 40, "warmup": 2}
    for row, line in zip(records.itertuples(index=False), lines):
        meta = line["metadata"]
        assert row.x_request_id == meta["x_request_id"]
        assert row.request_start_ns == meta["request_start_ns"] and row.request_end_ns == meta["request_end_ns"]
        for tag, value in line["metrics"].items():
            if not isinstance(value["value"], list):
                assert getattr(row, tag) == value["value"], tag
    assert (records["output_sequence_length"][records["benchmark_phase"] == "profiling"] == 10).all()
    assert records["error_type"].isna().all() and records["error_code"].isna().all()
    # times in ms since the benchmark start (the first profiling request), warm-up before it
    origin = records.loc[records["benchmark_phase"] == "profiling", "request_start_ns"].min()
    expected_start_ms = (records["request_start_ns"] - origin).astype(float) / 1e6
    assert np.allclose(records["start_ms"], expected_start_ms)
    assert records.loc[records["benchmark_phase"] == "profiling", "start_ms"].min() == 0.0
    assert (records.loc[records["benchmark_phase"] == "warmup", "start_ms"] < 0).all()
    latency = records["end_ms"] - records["start_ms"]
    assert np.allclose(latency, records["request_latency"], atol=1e-6)
    assert records["intended_start_ns"].isna().all()  # closed loop: no schedule


def test_timeline_accounts_for_every_profiling_request(streaming_run):
    timeline = streaming_run.timeline_frame(bin_s=0.01)
    assert list(timeline.columns[:6]) == ["time_s", "request_throughput", "error_rate", "send_rate", "concurrency",
                                          "max_concurrency"]
    assert "output_token_throughput" in timeline and "intended_rate" not in timeline
    records = streaming_run.records
    profiling = records[records["benchmark_phase"] == "profiling"]
    end_s = (profiling["request_end_ns"].max() - profiling["request_start_ns"].min()) / 1e9
    covered = np.minimum(timeline["time_s"] + 0.01, end_s) - timeline["time_s"]
    assert (timeline["request_throughput"] * covered).sum() == pytest.approx(40)
    assert (timeline["output_token_throughput"] * covered).sum() == pytest.approx(400)
    assert timeline["max_concurrency"].max() == 4  # closed loop at concurrency 4: never more
    assert 0 < timeline["concurrency"].mean() <= 4
    assert streaming_run.timeline is streaming_run.timeline  # computed once


def test_intended_start_and_cancellation_time_from_the_exports_are_used(streaming_run, tmp_path):
    """Open-loop exports carry metadata.intended_start_ns: records get send_lag_ms, the timeline the schedule."""
    folder = tmp_path / "open-loop"
    shutil.copytree(streaming_run.artifact_dir, folder)
    lines = _jsonl(folder / "profile_export.jsonl")
    for i, line in enumerate(lines):
        meta = line["metadata"]
        meta["intended_start_ns"] = meta["request_start_ns"] - 2_000_000 * (i % 2)  # every other one 2 ms late
    last = lines[-1]["metadata"]
    last["cancellation_time_ns"], last["request_end_ns"], last["was_cancelled"] = last["request_end_ns"], None, True
    (folder / "profile_export.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    run = aiperf.load(folder)
    records = run.records
    assert records["send_lag_ms"].tolist() == pytest.approx([2.0 * (i % 2) for i in range(len(lines))])
    assert records["was_cancelled"].iloc[-1] and pd.isna(records["request_end_ns"].iloc[-1])
    timeline = run.timeline_frame(bin_s=0.01)
    assert timeline["intended_rate"].sum() * 0.01 == pytest.approx(40, abs=1)
    assert timeline["send_lag_ms"].max() <= 2.0 + 1e-9
    # the cancelled request still occupied a slot until its cancellation time
    assert timeline["max_concurrency"].max() == 4


def test_images_are_decoded_with_prompt_size_and_latency(image_edit_run):
    images = image_edit_run.images()
    assert len(images) == 6
    by_prompt = {image.prompt: image.size for image in images}
    assert by_prompt == {"Make it a watercolor": "32x24", "Add snow": "64x48"}
    raw = _jsonl(image_edit_run.artifact_dir / "profile_export_raw.jsonl")
    meta = raw[0]["metadata"]
    assert images[0].request_latency_ms == pytest.approx((meta["request_end_ns"] - meta["request_start_ns"]) / 1e6)
    assert images[0].x_request_id == meta["x_request_id"]
    assert images[0].data.startswith(b"\x89PNG") and images[0].data_url().startswith("data:image/png;base64,")
    assert len(image_edit_run.images(limit=2)) == 2


def test_images_of_a_run_without_raw_export_name_the_missing_file(plain_run):
    with pytest.raises(ArtifactError, match="profile_export_raw.jsonl.*--export-level raw"):
        plain_run.images()


# ---------------------------------------------------------------------------------------------- bad input

def test_loading_a_folder_that_is_not_an_artifact_folder_names_the_missing_file(tmp_path):
    with pytest.raises(ArtifactError, match="profile_export_aiperf.json is missing"):
        aiperf.load(tmp_path)
    with pytest.raises(ArtifactError, match="not a folder"):
        aiperf.load(tmp_path / "nowhere")


def test_a_summary_from_another_tool_names_the_missing_field(tmp_path):
    (tmp_path / "profile_export_aiperf.json").write_text('{"aiperf_version": "0.3"}')
    with pytest.raises(ArtifactError, match="field 'input_config' is missing"):
        aiperf.load(tmp_path)
    (tmp_path / "profile_export_aiperf.json").write_text("{not json")
    with pytest.raises(ArtifactError, match="profile_export_aiperf.json: not valid JSON"):
        aiperf.load(tmp_path)


def test_bad_record_lines_name_the_file_line_and_field(streaming_run, tmp_path):
    folder = tmp_path / "broken"
    shutil.copytree(streaming_run.artifact_dir, folder)
    lines = (folder / "profile_export.jsonl").read_text().splitlines()
    (folder / "profile_export.jsonl").write_text("\n".join(lines[:2] + ["garbage"] + lines[3:]) + "\n")
    with pytest.raises(ArtifactError, match=r"profile_export.jsonl:3: not a record line"):
        aiperf.load(folder).records
    record = json.loads(lines[0])
    del record["metadata"]["request_start_ns"]
    (folder / "profile_export.jsonl").write_text(json.dumps(record) + "\n")
    with pytest.raises(ArtifactError, match=r"profile_export.jsonl:1: field 'metadata.request_start_ns'"):
        aiperf.load(folder).records


def test_a_summary_only_run_loads_but_has_no_records(streaming_run, tmp_path):
    folder = tmp_path / "summary-only"
    folder.mkdir()
    shutil.copy(streaming_run.artifact_dir / "profile_export_aiperf.json", folder)
    run = aiperf.load(folder)
    assert run.summary["request_count"]["avg"] == 40
    with pytest.raises(ArtifactError, match="profile_export.jsonl is missing"):
        run.records


def test_a_sweep_folder_expands_to_its_artifact_folders(streaming_run, plain_run, tmp_path):
    sweep = tmp_path / "sweep"
    for i, run in enumerate((streaming_run, plain_run)):
        shutil.copytree(run.artifact_dir, sweep / f"c{i}")
    assert find_artifact_dirs([sweep]) == [sweep / "c0", sweep / "c1"]
    with pytest.raises(ArtifactError, match="profile_export_aiperf.json is missing, and no folder in it has one"):
        find_artifact_dirs([tmp_path / "sweep" / "c0" / "logs"])


def test_importing_aiperf_and_its_notebook_helpers_leaves_pandas_and_matplotlib_unloaded():
    import subprocess
    import sys

    code = ("import sys, aiperf, aiperf.notebook; aiperf.Run; "
            "print([m for m in ('pandas', 'matplotlib', 'IPython') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
