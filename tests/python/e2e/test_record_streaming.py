"""Records streamed out of the engine in batches during the run (Engine.drain() -> RecordCollector -> JSONL) give
exactly what the same records processed in one piece give: summary, per-record lines, raw lines, history."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

import aiperf
from aiperf import _engine
from aiperf import run as run_module
from aiperf.inputs.endpoints import get_endpoint
from aiperf.results.collect import RecordCollector
from helpers import process_records

# ragged columns: offsets -> the data they index
_RAGGED = {"error_message_offsets": "error_message", "chunk_offsets": "chunk_ns", "content_offsets": "content",
           "reasoning_offsets": "reasoning", "raw_offsets": "raw", "response_header_offsets": "response_headers",
           "request_header_offsets": "request_headers"}


def concat_batches(batches: list[dict]) -> dict:
    """One records dict from several drain() batches, as if the engine had returned them at once."""
    out = {}
    for key in batches[0]:
        if key in _RAGGED:
            if not len(batches[0][key]):
                out[key] = batches[0][key]
                continue
            parts, base = [np.zeros(1, dtype=np.int64)], 0
            for batch in batches:
                parts.append(np.asarray(batch[key][1:], dtype=np.int64) + base)
                base += len(batch[_RAGGED[key]])
            out[key] = np.concatenate(parts)
        else:
            out[key] = np.concatenate([np.asarray(batch[key]) for batch in batches])
    return out


class _Batches(list):
    collector: RecordCollector | None = None


@pytest.fixture
def captured_batches(monkeypatch):
    """Drain every 10 ms and keep a copy of each non-empty batch as the collector receives it."""
    monkeypatch.setattr(run_module, "_DRAIN_INTERVAL_S", 0.01)
    # normal priority: on a busy machine an idle-priority thread may take few batches, and this test needs several
    monkeypatch.setattr(run_module, "_may_raise_priority", lambda: False)
    batches = _Batches()
    original = RecordCollector.add

    def add(self, batch):
        if len(batch["request_index"]):
            batches.append({key: np.array(value) for key, value in batch.items()})
        original(self, batch)
        batches.collector = self

    monkeypatch.setattr(RecordCollector, "add", add)
    return batches


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_streamed_run_equals_the_same_records_processed_at_once(mock_server, tmp_path, captured_batches):
    result = aiperf.profile(model="m", tokenizer="gpt2", url=mock_server.url, endpoint_type="chat", streaming=True,
                            conversation_num=24, conversation_turn_mean=3, concurrency=6, isl=16, random_seed=5,
                            warmup_request_count=2, export_level="raw", ui_type="none",
                            artifact_dir=str(tmp_path / "streamed"))
    batches = captured_batches
    assert len(batches) >= 3, "the run should have been taken out in several batches"
    # a conversation whose turns arrived in different batches: its history crossed a batch boundary
    seen_in = {}
    for number, batch in enumerate(batches):
        for session in np.asarray(batch["session_num"]).tolist():
            seen_in.setdefault(session, set()).add(number)
    assert any(len(numbers) > 1 for numbers in seen_in.values())

    # the same records in one piece, through the in-memory path
    records = concat_batches(batches)
    streamed = tmp_path / "streamed"
    lines = _lines(streamed / "profile_export.jsonl")
    assert len(lines) == len(records["request_index"]) == 2 * 3 + 24 * 3  # warm-up sessions have 3 turns too
    ids = [json.loads(line)["metadata"]["x_request_id"] for line in lines]
    assert len(set(ids)) == len(ids)

    collector = batches.collector
    writer = collector._writer
    endpoint = get_endpoint("chat")
    tokenizer = collector._tokenizer
    inputs, input_tokens = writer._inputs, collector._input_tokens
    at_once = tmp_path / "at_once"
    metrics = process_records(records, at_once, endpoint=endpoint, streaming=True, tokenizer=tokenizer,
                              input_tokens=input_tokens, request_inputs=inputs, export_level="raw",
                              anchor=writer._anchor, request_id_prefix=writer._prefix).metrics
    assert _lines(at_once / "profile_export.jsonl") == lines
    assert _lines(at_once / "profile_export_raw.jsonl") == _lines(streamed / "profile_export_raw.jsonl")
    assert set(result.summary) == set(metrics.summary)
    for tag, stats in metrics.summary.items():
        assert result.summary[tag] == pytest.approx(stats), tag
    assert len(collector._history) == 0  # every conversation ended: no history is held any more

    # the fresh run's records frame is the one read back from the files
    fresh = result.records
    loaded = aiperf.load(streamed).records
    assert list(fresh.columns) == list(loaded.columns)
    assert fresh["x_request_id"].tolist() == loaded["x_request_id"].tolist()
    assert np.allclose(fresh["input_sequence_length"], loaded["input_sequence_length"], equal_nan=True)
    assert fresh["request_start_ns"].tolist() == loaded["request_start_ns"].tolist()


def test_drain_and_records_do_not_mix(fast_mock_server):
    config = _engine.EngineConfig()
    config.url = fast_mock_server.url + "/v1/chat/completions"
    config.request_count = 20
    config.concurrency = 2
    engine = _engine.Engine(config, [b'{"model":"m","messages":[{"role":"user","content":"hi"}]}'])
    with pytest.raises(_engine.EngineError):
        engine.drain()  # not started
    engine.start()
    taken = []
    while not engine.wait(0.01):
        taken.append(engine.drain())
    taken.append(engine.drain())
    indices = sorted(i for batch in taken for i in batch["request_index"].tolist())
    assert indices == list(range(20))
    assert len(engine.drain()["request_index"]) == 0
    with pytest.raises(_engine.EngineError, match="drain"):
        engine.records()


def test_server_token_counts_come_from_each_responses_usage(mock_server, tmp_path):
    result = aiperf.profile(model="m", tokenizer="gpt2", url=mock_server.url, endpoint_type="chat", streaming=True,
                            concurrency=4, request_count=20, isl=30, use_server_token_count=True,
                            export_level="raw", ui_type="none", artifact_dir=str(tmp_path / "usage"))
    raw = [json.loads(line) for line in _lines(tmp_path / "usage" / "profile_export_raw.jsonl")]
    records = {json.loads(line)["metadata"]["x_request_id"]: json.loads(line)
               for line in _lines(tmp_path / "usage" / "profile_export.jsonl")}
    assert len(raw) == 20
    prompt_tokens = []
    for line in raw:
        events = [json.loads(r["text"]) for r in line["responses"]]
        usage = next(e["usage"] for e in reversed(events) if e.get("usage"))
        metrics = records[line["metadata"]["x_request_id"]]["metrics"]
        assert metrics["input_sequence_length"]["value"] == usage["prompt_tokens"]
        assert metrics["output_sequence_length"]["value"] == usage["completion_tokens"] == 20
        prompt_tokens.append(usage["prompt_tokens"])
    # the mock estimates prompt tokens from characters: not the 30 GPT-2 tokens the tokenizer would count
    assert any(count != 30 for count in prompt_tokens)
    assert result.summary["input_sequence_length"]["avg"] == pytest.approx(np.mean(prompt_tokens))


class _FakeEngine:
    def __init__(self, undrained=0):
        self.undrained = undrained
        self.stopped = False

    def progress(self):
        return type("P", (), {"completed": self.undrained})()

    def drain(self):
        n, self.undrained = self.undrained, 0
        return {"request_index": np.arange(n)}

    def stop(self):
        self.stopped = True


def test_the_batch_thread_is_idle_unless_records_pile_up():
    engine = _FakeEngine()
    taker = run_module._BatchTaker(engine, lambda batch: None)
    if not taker._may_switch:
        pytest.skip("this process may not raise a thread's priority back (not root, RLIMIT_NICE < 20)")
    taker.start()
    deadline = time.monotonic() + 5
    while taker._native_id is None and time.monotonic() < deadline:
        time.sleep(0.01)
    policy = lambda: os.sched_getscheduler(taker._native_id)  # noqa: E731
    assert policy() == os.SCHED_IDLE
    taker.pace(run_module._BACKLOG_RECORDS + 1)  # more waiting than the limit: normal priority
    assert policy() == os.SCHED_OTHER
    taker.pace(0)  # caught up
    assert policy() == os.SCHED_IDLE
    taker.finish()


def test_a_failing_batch_stops_the_engine_and_is_raised_by_finish(monkeypatch):
    monkeypatch.setattr(run_module, "_DRAIN_INTERVAL_S", 0.01)
    engine = _FakeEngine(undrained=5)

    def fail(batch):
        raise OSError(28, "No space left on device")

    taker = run_module._BatchTaker(engine, fail)
    taker.start()
    taker.join(timeout=10)  # the thread ends on the error
    assert engine.stopped
    with pytest.raises(OSError, match="No space left"):
        taker.finish()
