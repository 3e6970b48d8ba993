"""Inputs seen from a real run: the ISL the summary reports, a broken tokenizer refused before any request."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from aiperf.inputs.tokenizer import Tokenizer


def test_summary_isl_is_the_tokenizer_count_of_the_sent_prompts(gpt2: Tokenizer, fast_mock_server,
                                                                  tmp_path: Path) -> None:
    import aiperf

    result = aiperf.profile(model="m", tokenizer="gpt2", url=fast_mock_server.url, num_dataset_entries=12,
                            request_count=12, concurrency=1, synthetic_input_tokens_mean=60,
                            synthetic_input_tokens_stddev=20, random_seed=5, artifact_dir=tmp_path,
                            print_table=False)
    inputs = json.loads((tmp_path / "inputs.json").read_text())
    sent = {entry["session_id"]: gpt2.count_tokens([entry["payloads"][0]["messages"][0]["content"]])[0]
            for entry in inputs["data"]}
    records = [json.loads(line) for line in (tmp_path / "profile_export.jsonl").read_text().splitlines()]
    assert len(records) == 12
    for record in records:
        isl = record["metrics"]["input_sequence_length"]["value"]
        assert isl == sent[record["metadata"]["conversation_id"]]
    counted = [sent[r["metadata"]["conversation_id"]] for r in records]
    assert result.summary["input_sequence_length"]["avg"] == pytest.approx(np.mean(counted))


def test_broken_tokenizer_file_is_rejected_before_any_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_mock_server
) -> None:
    import aiperf
    from aiperf.config import ConfigError

    monkeypatch.setenv("AIPERF_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "tokenizer.json").write_text('{"not": "a tokenizer"}')
    before = sum(fast_mock_server.stats().values())
    for tokenizer in (str(tmp_path), str(tmp_path / "missing")):
        with pytest.raises(ConfigError, match="--tokenizer"):
            aiperf.profile(model="m", tokenizer=tokenizer, url=fast_mock_server.url, request_count=2,
                           artifact_dir=tmp_path / "run", print_table=False)
    assert not (tmp_path / "run" / "profile_export_aiperf.json").exists()
    assert sum(fast_mock_server.stats().values()) == before
