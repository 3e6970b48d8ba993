"""Load modes: open-loop rates, fixed schedules, conversations, random pools, traces, warm-up by time and
cancellation, checked through the offered schedule the engine records (no timing assertions)."""
from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

import aiperf
from aiperf import _engine
from aiperf.config import ConfigError
from aiperf.inputs.dataset import InputFileError


def _profile(server, tmp_path: Path, name: str, **options):
    options.setdefault("ui_type", "none")
    return aiperf.profile(model="m", tokenizer="gpt2", url=server.url, artifact_dir=str(tmp_path / name),
                          **options)


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _write(tmp_path: Path, lines: list[dict], name: str = "input.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


# ------------------------------------------------------------------------------------------ arrival schedules

def _schedule(pattern: str, rate: float, count: int, seed: int = 7, smoothness: float = 1.0) -> np.ndarray:
    config = _engine.EngineConfig()
    config.request_rate = rate
    config.arrival_pattern = pattern
    config.arrival_smoothness = smoothness
    config.random_seed = seed
    return _engine.arrival_offsets_ns(config, count)


def test_constant_schedule_is_evenly_spaced_from_zero():
    offsets = _schedule("constant", 400.0, 1000)
    assert offsets[0] == 0
    assert np.all(np.diff(offsets) == 2_500_000)


@pytest.mark.parametrize(("pattern", "smoothness", "expected_cv"), [("poisson", 1.0, 1.0), ("gamma", 4.0, 0.5),
                                                                   ("gamma", 0.25, 2.0)])
def test_random_schedules_have_the_rate_and_spread_of_their_distribution(pattern, smoothness, expected_cv):
    gaps = np.diff(_schedule(pattern, 1000.0, 50_001, smoothness=smoothness)) / 1e6  # ms
    assert gaps.mean() == pytest.approx(1.0, rel=0.05)
    assert gaps.std() / gaps.mean() == pytest.approx(expected_cv, rel=0.1)


def test_schedules_are_reproducible_from_the_seed():
    assert np.array_equal(_schedule("poisson", 100.0, 500, seed=1), _schedule("poisson", 100.0, 500, seed=1))
    assert not np.array_equal(_schedule("poisson", 100.0, 500, seed=1), _schedule("poisson", 100.0, 500, seed=2))


def test_duration_bound_schedule_stops_at_the_duration():
    config = _engine.EngineConfig()
    config.request_rate = 200.0
    config.arrival_pattern = "constant"
    offsets = _engine.arrival_offsets_ns(config, 0, 0.5)
    assert len(offsets) == 100 and offsets[-1] < 500_000_000


def test_rate_ramp_stretches_the_schedule_then_holds_the_rate():
    config = _engine.EngineConfig()
    config.request_rate = 100.0
    config.arrival_pattern = "constant"
    config.request_rate_ramp_s = 2.0
    offsets = _engine.arrival_offsets_ns(config, 400) / 1e9  # s
    assert offsets[0] == 0
    gaps = np.diff(offsets)
    assert np.all(np.diff(gaps[offsets[1:] < 2.0]) < 1e-12)  # gaps shrink during the ramp
    # the rate climbs linearly from 100 x 0.1 / 2 = 5/s to 100/s: expected arrivals by t are 5 t + 95 t^2 / 4
    for t in (0.5, 1.0, 1.5, 2.0):
        assert np.count_nonzero(offsets < t) == pytest.approx(5 * t + 95 * t * t / 4, abs=1)
    after = gaps[offsets[:-1] >= 2.0]
    assert after.size > 100 and np.allclose(after, 0.01, atol=1e-9)  # then exactly the target rate
    # a duration-bound schedule ends at the duration on the ramped clock
    assert _engine.arrival_offsets_ns(config, 0, 1.0).size == pytest.approx(5 + 95 / 4, abs=1)


# --------------------------------------------------------------------------------------------- open loop runs

def test_request_rate_run_sends_every_request_on_its_schedule(fast_mock_server, tmp_path):
    result = _profile(fast_mock_server, tmp_path, "rate", endpoint_type="chat", request_rate=400,
                      arrival_pattern="constant", request_count=120, random_seed=1)
    assert result.summary["request_count"]["avg"] == 120
    lines = _jsonl(tmp_path / "rate" / "profile_export.jsonl")
    intended = np.array(sorted(line["metadata"]["intended_start_ns"] for line in lines))
    gaps = np.diff(intended)
    assert np.all(np.abs(gaps - 2_500_000) <= 1)  # the schedule as computed (wall-clock conversion rounds to 1 ns)
    starts = np.array([line["metadata"]["request_start_ns"] for line in lines])
    assert np.all(starts >= np.array([line["metadata"]["intended_start_ns"] for line in lines]))
    assert "schedule_lag" in result.summary and result.summary["schedule_lag"]["count"] == 120
    assert "schedule_lag" in lines[0]["metrics"]


def test_request_rate_with_concurrency_cap_never_exceeds_the_cap(mock_server, tmp_path):
    # 200 req/s of 150 ms requests would need ~30 in flight; a cap of 4 makes requests wait (and be sent late)
    _profile(mock_server, tmp_path, "cap", endpoint_type="chat", streaming=True, request_rate=200,
             arrival_pattern="constant", concurrency=4, request_count=40)
    lines = _jsonl(tmp_path / "cap" / "profile_export.jsonl")
    events = sorted([(m["request_start_ns"], 1) for m in (x["metadata"] for x in lines)]
                    + [(m["request_end_ns"], -1) for m in (x["metadata"] for x in lines)], key=lambda e: (e[0], e[1]))
    in_flight = np.cumsum([delta for _, delta in events])
    assert in_flight.max() <= 4
    lag = [m["request_start_ns"] - m["intended_start_ns"] for m in (x["metadata"] for x in lines)]
    assert max(lag) > 50_000_000  # the cap held requests back: the record shows it


def _in_flight_at_starts(lines: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """(seconds since the first start, requests in flight just after it) for every request start."""
    meta = [line["metadata"] for line in lines]
    events = sorted([(m["request_start_ns"], 1) for m in meta] + [(m["request_end_ns"], -1) for m in meta],
                    key=lambda e: (e[0], e[1]))
    in_flight = np.cumsum([delta for _, delta in events])
    origin = events[0][0]
    starts = [(t - origin) / 1e9 for t, delta in events if delta == 1]
    return np.array(starts), in_flight[[i for i, (_, delta) in enumerate(events) if delta == 1]]


@pytest.mark.parametrize("rate", [None, 400.0])
def test_concurrency_ramp_adds_one_in_flight_at_a_time(mock_server, tmp_path, rate):
    # 8 sessions over 1 s: 1 at the start, one more every 1/7 s; requests take ~150 ms
    options = {"request_rate": rate, "arrival_pattern": "constant"} if rate else {}
    _profile(mock_server, tmp_path, "ramp", endpoint_type="chat", streaming=True, concurrency=8,
             concurrency_ramp_duration=1.0, benchmark_duration=1.6, **options)
    starts, in_flight = _in_flight_at_starts(_jsonl(tmp_path / "ramp" / "profile_export.jsonl"))
    cap = np.minimum(1 + np.floor(starts * 7 + 1e-3), 8)  # 1 ms of slack for the clock conversion
    assert np.all(in_flight <= cap)
    assert in_flight[starts < 0.1].max() == 1
    assert in_flight[starts > 1.1].max() == 8  # the full concurrency once the ramp is over


def test_default_artifact_folder_names_the_rate(fast_mock_server, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    aiperf.profile(model="org/m", tokenizer="gpt2", url=fast_mock_server.url, endpoint_type="chat",
                   request_rate=1000, request_count=10, ui_type="none")
    assert (tmp_path / "artifacts" / "org_m-openai-chat-request_rate1000.0" / "profile_export_aiperf.json").is_file()


# ------------------------------------------------------------------------------------------- fixed schedules

def test_fixed_schedule_replays_timestamps_inside_the_window(fast_mock_server, tmp_path):
    stamps = [100, 150, 150, 400, 900]
    path = _write(tmp_path, [{"text": f"prompt {i}", "timestamp": t} for i, t in enumerate(stamps)])
    _profile(fast_mock_server, tmp_path, "fixed", endpoint_type="chat", input_file=str(path), fixed_schedule=True,
             fixed_schedule_start_offset=150, fixed_schedule_end_offset=400, export_level="raw")
    lines = _jsonl(tmp_path / "fixed" / "profile_export_raw.jsonl")
    assert [line["payload"]["messages"][0]["content"] for line in lines] == ["prompt 1", "prompt 2", "prompt 3"]
    intended = np.array([line["metadata"]["intended_start_ns"] for line in lines])
    assert np.array_equal(intended - intended[0], [0, 0, 250_000_000])


def test_fixed_schedule_auto_offset_starts_at_once(fast_mock_server, tmp_path):
    path = _write(tmp_path, [{"text": "a", "timestamp": 5000}, {"text": "b", "timestamp": 5020}])
    result = _profile(fast_mock_server, tmp_path, "auto", endpoint_type="chat", input_file=str(path),
                      fixed_schedule=True, fixed_schedule_auto_offset=True)
    assert result.summary["request_count"]["avg"] == 2
    lines = _jsonl(tmp_path / "auto" / "profile_export.jsonl")
    first = min(line["metadata"]["intended_start_ns"] for line in lines)
    assert max(line["metadata"]["intended_start_ns"] for line in lines) - first == 20_000_000


@pytest.mark.parametrize(("lines", "message"), [
    ([{"text": "a", "timestamp": 10}, {"text": "b"}], r"input.jsonl \(line 2\): timestamp: missing"),
    ([{"text": "a", "timestamp": 10}, {"text": "b", "timestamp": 5}], r"line 2\): timestamp: 5 ms is before"),
])
def test_bad_schedules_are_refused_before_any_request(tmp_path, closed_port, lines, message):
    path = _write(tmp_path, lines)
    with pytest.raises(ConfigError, match=message):
        aiperf.profile(model="m", tokenizer="gpt2", url=f"127.0.0.1:{closed_port}", endpoint_type="chat",
                       input_file=str(path), fixed_schedule=True, artifact_dir=str(tmp_path / "x"), ui_type="none")


@pytest.mark.parametrize(("options", "message"), [
    ({"request_rate": 0}, "--request-rate: must be a number > 0"),
    ({"request_rate": -5}, "--request-rate: must be a number > 0"),
    ({"request_cancellation_rate": 150}, r"--request-cancellation-rate: must be a percentage in \(0, 100\]"),
    ({"request_cancellation_rate": 0}, r"--request-cancellation-rate: must be a percentage"),
    ({"fixed_schedule": True}, "--fixed-schedule: needs an --input-file"),
    ({"arrival_pattern": "constant"}, "needs --request-rate"),
    ({"request_rate": 5, "arrival_pattern": "bursty"}, "--arrival-pattern: 'bursty' is not one of"),
    ({"fixed_schedule_auto_offset": True}, "need --fixed-schedule"),
    ({"conversation_turn_mean": 0}, "--conversation-turn-mean: must be >= 1"),
    ({"warmup_duration": -1}, "--warmup-duration: must be a number > 0"),
    ({"request_rate_ramp_duration": 5}, "--request-rate-ramp-duration: needs --request-rate"),
    ({"request_rate": 5, "request_rate_ramp_duration": 0}, "--request-rate-ramp-duration: must be > 0"),
    ({"concurrency_ramp_duration": 5}, "--concurrency-ramp-duration: needs --concurrency"),
    ({"request_rate": 5, "arrival_pattern": "concurrency_burst"}, "concurrency_burst: sends as fast as"),
])
def test_bad_load_options_name_the_option(options, message):
    with pytest.raises(ConfigError, match=message):
        aiperf.profile(model="m", url="127.0.0.1:1", **options)


# --------------------------------------------------------------------------------------------- conversations

class _Recorder(BaseHTTPRequestHandler):
    """Answers chat requests with 'answer-<n>' and keeps every request body."""

    bodies: ClassVar[list[dict]] = []
    lock = threading.Lock()

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with self.lock:
            self.bodies.append(body)
            n = len(self.bodies)
        reply = json.dumps({"choices": [{"message": {"role": "assistant", "content": f"answer-{n}"}}],
                            "usage": {"prompt_tokens": 1, "completion_tokens": 1}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args):
        pass


@pytest.fixture
def recording_server():
    _Recorder.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield server
    server.shutdown()
    server.server_close()


def test_multi_turn_sends_the_conversation_so_far_with_each_turn(recording_server, tmp_path):
    path = _write(tmp_path, [
        {"session_id": "s1", "turns": [{"text": "one"}, {"text": "two", "delay": 30}, {"text": "three"}]},
        {"session_id": "s2", "turns": [{"text": "uno"}, {"text": "dos"}]},
    ])
    result = _profile(recording_server, tmp_path, "mt", endpoint_type="chat", input_file=str(path),
                      custom_dataset_type="multi_turn", concurrency=2, export_level="raw")
    assert result.summary["request_count"]["avg"] == 5
    by_last = {body["messages"][-1]["content"]: body["messages"] for body in _Recorder.bodies}
    assert [m["role"] for m in by_last["three"]] == ["user", "assistant", "user", "assistant", "user"]
    assert [m["content"] for m in by_last["three"][0::2]] == ["one", "two", "three"]
    answers = {m["content"] for m in by_last["three"][1::2]} | {by_last["dos"][1]["content"]}
    assert all(answer.startswith("answer-") for answer in answers) and len(answers) == 3
    # the raw export shows each payload as sent, history included
    raw = _jsonl(tmp_path / "mt" / "profile_export_raw.jsonl")
    sent = {json.dumps(body, sort_keys=True) for body in _Recorder.bodies}
    assert {json.dumps(line["payload"], sort_keys=True) for line in raw} == sent
    # a turn waits for the previous one and its delay
    meta = {(m["conversation_id"], m["turn_index"]): m for m in (line["metadata"] for line in raw)}
    assert meta[("s1", 1)]["request_start_ns"] - meta[("s1", 0)]["request_end_ns"] >= 30_000_000
    assert meta[("s1", 2)]["request_start_ns"] >= meta[("s1", 1)]["request_end_ns"]
    assert meta[("s1", 1)]["intended_start_ns"] is not None and meta[("s1", 2)]["intended_start_ns"] is None


def test_synthetic_conversations_count_history_in_input_length(mock_server, tmp_path):
    result = _profile(mock_server, tmp_path, "syn", endpoint_type="chat", streaming=True, conversation_num=4,
                      conversation_turn_mean=3, conversation_turn_delay_mean=5, concurrency=2, isl=20,
                      random_seed=3, export_level="raw")
    assert result.summary["request_count"]["avg"] == 12
    raw = _jsonl(tmp_path / "syn" / "profile_export_raw.jsonl")
    isl = {line["metadata"]["turn_index"]: line for line in raw}
    lines = _jsonl(tmp_path / "syn" / "profile_export.jsonl")
    by_turn: dict[int, set] = {}
    for line in lines:
        by_turn.setdefault(line["metadata"]["turn_index"], set()).add(line["metrics"]["input_sequence_length"]["value"])
    # 20 prompt tokens per turn plus the mock's 20-token answers sent back as history
    assert by_turn == {0: {20}, 1: {60}, 2: {100}}
    assert len(isl[2]["payload"]["messages"]) == 5
    assert len({line["metadata"]["session_num"] for line in lines}) == 4


def test_multi_turn_session_ids_must_be_unique(tmp_path):
    path = _write(tmp_path, [{"session_id": "a", "turns": [{"text": "x"}]},
                             {"session_id": "a", "turns": [{"text": "y"}]}])
    from aiperf.inputs.dataset.multi_turn import load_multi_turn

    with pytest.raises(InputFileError, match=r"input.jsonl:2: session_id: 'a' is already the session of line 1"):
        load_multi_turn(path, osl_mean=None, osl_stddev=0, rng=np.random.default_rng(0))


# ------------------------------------------------------------------------------------- pools and traces

def test_random_pool_draws_entries_at_random_with_the_seed(fast_mock_server, tmp_path):
    path = _write(tmp_path, [{"text": f"entry {i}"} for i in range(5)])
    drawn = []
    for run in ("p1", "p2"):
        _profile(fast_mock_server, tmp_path, run, endpoint_type="chat", input_file=str(path),
                 custom_dataset_type="random_pool", request_count=60, random_seed=11, export_level="raw")
        drawn.append([line["payload"]["messages"][0]["content"]
                      for line in _jsonl(tmp_path / run / "profile_export_raw.jsonl")])
    assert drawn[0] == drawn[1]
    assert set(drawn[0]) == {f"entry {i}" for i in range(5)}
    assert drawn[0] != [f"entry {i % 5}" for i in range(60)]


def test_mooncake_trace_shares_prefix_blocks_and_replays_its_timestamps(fast_mock_server, tmp_path):
    path = _write(tmp_path, [
        {"timestamp": 0, "input_length": 600, "output_length": 7, "hash_ids": [1, 2]},
        {"timestamp": 30, "input_length": 520, "output_length": 9, "hash_ids": [1, 3]},
    ])
    _profile(fast_mock_server, tmp_path, "mc", endpoint_type="chat", input_file=str(path),
             custom_dataset_type="mooncake_trace", export_level="raw")
    lines = _jsonl(tmp_path / "mc" / "profile_export_raw.jsonl")
    first, second = (line["payload"] for line in lines)
    text_a, text_b = first["messages"][0]["content"], second["messages"][0]["content"]
    assert len(os.path.commonprefix([text_a, text_b])) > 1000  # noqa: RUF071 (a character prefix is meant)  # the first 512-token block (hash id 1) is shared
    assert (first["max_completion_tokens"], second["max_completion_tokens"]) == (7, 9)
    intended = [line["metadata"]["intended_start_ns"] for line in lines]
    assert intended[1] - intended[0] == 30_000_000  # a timestamped trace replays its schedule by default
    metrics = _jsonl(tmp_path / "mc" / "profile_export.jsonl")
    assert metrics[0]["metrics"]["input_sequence_length"]["value"] == pytest.approx(600, abs=6)


# --------------------------------------------------------------------------------- warm-up and cancellation

def test_warmup_by_duration_is_excluded_from_metrics(fast_mock_server, tmp_path):
    result = _profile(fast_mock_server, tmp_path, "wu", endpoint_type="chat", warmup_duration=0.2,
                      request_count=30, concurrency=2)
    phases = [line["metadata"]["benchmark_phase"] for line in _jsonl(tmp_path / "wu" / "profile_export.jsonl")]
    assert phases.count("profiling") == 30 and phases.count("warmup") > 0
    assert result.summary["request_count"]["avg"] == 30


def test_request_cancellation_cancels_the_chosen_share_after_the_delay(mock_server, tmp_path):
    result = _profile(mock_server, tmp_path, "cancel", endpoint_type="chat", streaming=True, request_count=100,
                      concurrency=10, request_cancellation_rate=40, request_cancellation_delay=0.01, random_seed=5)
    lines = _jsonl(tmp_path / "cancel" / "profile_export.jsonl")
    cancelled = [line for line in lines if line["metadata"]["was_cancelled"]]
    assert 25 <= len(cancelled) <= 55  # 40% of 100, drawn per request from the seed
    for line in cancelled:
        meta = line["metadata"]
        assert line["error"]["type"] == "Cancelled" and line["error"]["code"] == 499
        assert "--request-cancellation-delay" in line["error"]["message"]
        assert meta["cancellation_time_ns"] - meta["request_start_ns"] >= 10_000_000
    assert result.summary["request_count"]["avg"] == 100 - len(cancelled)
    assert result.summary["error_request_count"]["avg"] == len(cancelled)
    # the same seed picks the same requests
    again = _profile(mock_server, tmp_path, "cancel2", endpoint_type="chat", streaming=True, request_count=100,
                     concurrency=10, request_cancellation_rate=40, request_cancellation_delay=0.01, random_seed=5)
    assert again.summary["error_request_count"]["avg"] == len(cancelled)


def test_goodput_counts_requests_meeting_every_slo(mock_server, tmp_path):
    # the mock's TTFT is 50 ms: a 1000 ms SLO passes every request, a 1 ms SLO none
    loose = _profile(mock_server, tmp_path, "g1", endpoint_type="chat", streaming=True, request_count=20,
                     concurrency=4, goodput="time_to_first_token:1000")
    strict = _profile(mock_server, tmp_path, "g2", endpoint_type="chat", streaming=True, request_count=20,
                      concurrency=4, goodput="time_to_first_token:1")
    assert loose.summary["good_request_count"]["avg"] == 20
    assert strict.summary["good_request_count"]["avg"] == 0
