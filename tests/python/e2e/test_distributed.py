"""Distributed runs on Ray (issue 8): shards, clock offsets, merging, and real runs on a local 2-CPU Ray cluster.

The Ray tests start one Ray cluster for the module, on 127.0.0.1 only, without dashboard or usage stats, and run
profiles against the built-in mock server; they are skipped only when ray is not importable (`make test` installs
it).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import aiperf
from aiperf.config import ConfigError, make_config
from aiperf.engine import empty_records
from aiperf.run.distributed.clock import measure_offset
from aiperf.run.distributed.merge import concat, sorted_by_request_index, take, to_driver_clock
from aiperf.run.distributed.shards import split_workload

# The folder holding the aiperf this test imports (the source tree with an in-place build, or site-packages):
# subprocesses and Ray workers import the same one.
PACKAGE_PARENT = str(Path(aiperf.__file__).resolve().parents[1])


# ---- without Ray ------------------------------------------------------------------------------------------------

def _engine_config(**overrides):
    values = dict(request_count=10, concurrency=4, warmup_request_count=0, warmup_duration_s=0.0, request_rate=0.0,
                  benchmark_duration_s=0.0)
    values.update(overrides)
    return SimpleNamespace(**values)


def _workload(**overrides):
    values = dict(order=None, sessions=None, turn_delays_ns=None, schedule_ns=None)
    values.update(overrides)
    return SimpleNamespace(**values)


def test_closed_loop_split_gives_every_session_once_and_shares_concurrency():
    shards = split_workload(_engine_config(request_count=11, concurrency=5, warmup_request_count=3), _workload(),
                            body_count=4, worker_count=2, schedule_ns=None)
    assert [s.engine_fields["request_count"] for s in shards] == [6, 5]
    assert [s.engine_fields["concurrency"] for s in shards] == [3, 2]
    assert [s.engine_fields["warmup_request_count"] for s in shards] == [2, 1]
    # global session g = k + 2 j sends body g % 4, as on one machine
    bodies = {k + 2 * j: int(body) for s in shards for k in [s.index] for j, body in enumerate(s.order)}
    assert bodies == {g: g % 4 for g in range(11)}
    assert sum(s.planned_requests for s in shards) == 11


def test_open_loop_split_hands_each_worker_every_nth_scheduled_start():
    schedule = np.arange(0, 7_000_000, 1_000_000, dtype=np.int64)
    shards = split_workload(_engine_config(request_count=7, request_rate=1000.0), _workload(), body_count=3,
                            worker_count=3, schedule_ns=schedule)
    assert [s.schedule_ns.tolist() for s in shards] == [[0, 3_000_000, 6_000_000], [1_000_000, 4_000_000],
                                                        [2_000_000, 5_000_000]]
    assert sorted(np.concatenate([s.schedule_ns for s in shards]).tolist()) == schedule.tolist()
    assert all(s.engine_fields["request_rate"] == 0 for s in shards)  # the engine takes a schedule or a rate


def test_multi_turn_sessions_stay_whole_on_one_worker():
    # three conversations of 2, 3 and 1 turns; bodies 0..5; 4 sessions to run
    workload = _workload(sessions=np.array([0, 2, 5, 6]), turn_delays_ns=np.arange(6, dtype=np.int64) * 10)
    shards = split_workload(_engine_config(request_count=4, concurrency=2), workload, body_count=6, worker_count=2,
                            schedule_ns=None)
    first, second = shards
    # worker 0: global sessions 0 and 2 (conversations 0 and 2); worker 1: sessions 1 and 3 (conversations 1, 0)
    assert first.order.tolist() == [0, 1, 5] and first.sessions.tolist() == [0, 2, 3]
    assert second.order.tolist() == [2, 3, 4, 0, 1] and second.sessions.tolist() == [0, 3, 5]
    assert second.turn_delays_ns.tolist() == [20, 30, 40, 0, 10]
    assert [s.planned_requests for s in shards] == [3, 5]


def test_duration_bound_closed_loop_cycles_the_dataset_as_one_machine_would():
    shards = split_workload(_engine_config(request_count=0, benchmark_duration_s=5.0), _workload(), body_count=5,
                            worker_count=2, schedule_ns=None)
    for s in shards:
        assert s.engine_fields["request_count"] == 0 and s.planned_requests is None
        # local session j is global session k + 2 j; the engine cycles its order with period len(order)
        assert all(s.order[j % len(s.order)] == (s.index + 2 * j) % 5 for j in range(20))


def test_more_workers_than_sessions_is_refused():
    with pytest.raises(ConfigError, match="--ray-workers 3: the run has only 2 session"):
        split_workload(_engine_config(request_count=2), _workload(), body_count=2, worker_count=3, schedule_ns=None)


def test_clock_offset_takes_the_probe_with_the_shortest_round_trip():
    driver = iter([0, 100, 1000, 1010, 5000, 5400])
    worker = iter([1_000_040, 1_001_005, 1_005_150])
    offset = measure_offset(lambda: next(worker), lambda: next(driver), probes=3)
    assert (offset.offset_ns, offset.round_trip_ns) == (1_000_000, 10)
    assert offset.to_driver(1_000_500) == 500 and offset.to_worker(500) == 1_000_500


def _batch(indices, chunks_per_row, worker=0):
    n = len(indices)
    chunk_offsets = np.concatenate([[0], np.cumsum(chunks_per_row)]).astype(np.int64)
    texts = [f"r{i}".encode() for i in indices]
    records = empty_records()
    records.update(
        request_index=np.asarray(indices, dtype=np.int64), worker_id=np.full(n, worker, dtype=np.int32),
        intended_ns=np.full(n, -1, dtype=np.int64), start_ns=np.asarray(indices, dtype=np.int64) * 10 + 1000,
        end_ns=np.asarray(indices, dtype=np.int64) * 10 + 1005, phase=np.ones(n, dtype=np.int8),
        chunk_offsets=chunk_offsets, chunk_ns=np.arange(chunk_offsets[-1], dtype=np.int64) + 2000,
        chunk_content_bytes=np.ones(chunk_offsets[-1], dtype=np.int32),
        content_offsets=np.concatenate([[0], np.cumsum([len(t) for t in texts])]).astype(np.int64),
        content=np.frombuffer(b"".join(texts), dtype=np.uint8),
        error_message_offsets=np.zeros(n + 1, dtype=np.int64), reasoning_offsets=np.zeros(n + 1, dtype=np.int64))
    for name in ("body_index", "status", "num_images"):
        records[name] = np.zeros(n, dtype=records[name].dtype)
    for name in ("session_num", "usage_prompt_tokens", "usage_completion_tokens", "usage_reasoning_tokens",
                 "response_bytes", "ack_ns"):
        records[name] = np.zeros(n, dtype=np.int64)
    records["turn_index"] = np.zeros(n, dtype=np.int32)
    records["error_kind"] = np.zeros(n, dtype=np.int8)
    records["was_cancelled"] = np.zeros(n, dtype=bool)
    return records


def _contents(records):
    offsets, data = records["content_offsets"], records["content"].tobytes()
    return [data[offsets[i]:offsets[i + 1]].decode() for i in range(len(records["request_index"]))]


def test_batches_from_two_workers_merge_onto_the_driver_clock_sorted_by_request_index():
    a = to_driver_clock(_batch([0, 2, 4], [1, 2, 0]), offset_ns=500, first_worker_id=0)
    b = to_driver_clock(_batch([1, 3], [3, 1]), offset_ns=-700, first_worker_id=4)
    merged = sorted_by_request_index(concat([a, b]))
    assert merged["request_index"].tolist() == [0, 1, 2, 3, 4]
    assert _contents(merged) == ["r0", "r1", "r2", "r3", "r4"]
    assert merged["worker_id"].tolist() == [0, 4, 0, 4, 0]
    assert merged["start_ns"].tolist() == [500, 1710, 520, 1730, 540]
    assert merged["intended_ns"].tolist() == [-1] * 5  # "never happened" is not shifted
    assert merged["chunk_offsets"].tolist() == [0, 1, 4, 6, 7, 7]
    # each record keeps its own chunks: record 1 (worker b, 3 chunks) has chunk times 2000..2002 + 700
    assert merged["chunk_ns"][1:4].tolist() == [2700, 2701, 2702]


def test_taking_rows_of_no_batch_gives_empty_columns_of_the_right_types():
    empty = concat([], like=empty_records())
    assert len(empty["request_index"]) == 0 and empty["chunk_offsets"].tolist() == [0]
    assert take(_batch([5, 6], [1, 1]), np.array([1]))["request_index"].tolist() == [6]


def test_ray_workers_needs_a_ray_address():
    with pytest.raises(ConfigError, match="--ray-workers: needs --ray-address"):
        make_config(model="m", ray_workers=2)


def test_closed_loop_needs_a_concurrency_slot_per_worker():
    with pytest.raises(ConfigError, match="--ray-workers 4: each worker needs at least one of the --concurrency 2"):
        make_config(model="m", ray_address="auto", ray_workers=4, concurrency=2)


def test_without_ray_the_option_names_the_extra_and_import_aiperf_does_not_need_it():
    code = ("import sys; sys.modules['ray'] = None\n"  # ray cannot be imported in this interpreter
            "import aiperf, aiperf.run.distributed\n"
            "from aiperf.cli import main\n"
            "sys.exit(main(['profile', '--model', 'm', '--url', '127.0.0.1:9', '--ray-address', 'auto']))\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([PACKAGE_PARENT, os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 2, done.stderr
    assert "pip install 'aiperf[ray]'" in done.stderr
    imported = subprocess.run([sys.executable, "-c", "import sys, aiperf; print('ray' in sys.modules)"],
                              capture_output=True, text=True, env=env, timeout=60)
    assert imported.stdout.strip() == "False"


# ---- on a local Ray cluster ---------------------------------------------------------------------------------------

# Ray replaces a 127.0.0.1 node address by the host's routable one (and then listens on every interface) unless
# it believes it runs on a laptop without clusters; read when ray is imported, inherited by its processes.
LOOPBACK_RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


@pytest.fixture(scope="module")
def ray_cluster():
    """A Ray cluster of this process: 127.0.0.1 only, 2 CPUs (2 worker processes), no dashboard, no usage stats."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in LOOPBACK_RAY_ENV.items():
            patch.setenv(name, value)
        ray = pytest.importorskip("ray")
        temp_dir = tempfile.mkdtemp(prefix="aiperf-ray-")
        ray.init(num_cpus=2, include_dashboard=False, _node_ip_address="127.0.0.1", _temp_dir=temp_dir,
                 object_store_memory=200 * 1024 * 1024, namespace="aiperf", log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": PACKAGE_PARENT}})
        try:
            assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")
            yield ray
        finally:
            ray.shutdown()


def _profile(server, folder, **options):
    import aiperf

    values = dict(model="m", tokenizer="gpt2", url=server.url, endpoint_type="chat", synthetic_input_tokens_mean=8,
                  output_tokens_mean=4, random_seed=7, ray_address="auto", ray_workers=2, workers_max=1,
                  artifact_dir=folder, print_table=False)
    values.update(options)
    return aiperf.profile(**values)


def _jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def test_two_ray_workers_give_the_union_of_their_shards_on_one_schedule(ray_cluster, fast_mock_server, tmp_path):
    from aiperf import _engine

    before = fast_mock_server.stats()["chat_completions"]
    _profile(fast_mock_server, tmp_path / "run", request_rate=400.0, arrival_pattern="constant",
             request_count=2000)
    lines = _jsonl(tmp_path / "run" / "profile_export.jsonl")
    workers = json.loads((tmp_path / "run" / "profile_export_workers.json").read_text())
    summary = json.loads((tmp_path / "run" / "profile_export_aiperf.json").read_text())

    # every request present once, from both workers, and nothing else reached the server
    assert len(lines) == 2000 and fast_mock_server.stats()["chat_completions"] - before == 2000
    ids = [line["metadata"]["x_request_id"] for line in lines]
    assert len(set(ids)) == 2000
    assert all(line["error"] is None for line in lines)
    worker_of = np.array([line["metadata"]["worker_id"] for line in lines])
    assert sorted(np.unique(worker_of).tolist()) == [0, 1]
    assert [int((worker_of == k).sum()) for k in (0, 1)] == [1000, 1000]
    assert workers["complete"] and [w["records"] for w in workers["workers"]] == [1000, 1000]
    assert [w["status"] for w in workers["workers"]] == ["finished", "finished"]
    assert all(w["lost_requests"] == 0 for w in workers["workers"])

    # the schedule: intended send times are the run's schedule from the common start, shard k holding every
    # other entry (the engine's timestamps came back onto this machine's clock through the measured offsets)
    config = _engine.EngineConfig()
    config.request_rate, config.arrival_pattern, config.random_seed = 400.0, "constant", 7
    schedule = np.asarray(_engine.arrival_offsets_ns(config, 2000), dtype=np.int64)
    intended = np.array([line["metadata"]["intended_start_ns"] for line in lines], dtype=np.int64)
    offsets = intended - workers["common_start_wall_ns"]
    for k in (0, 1):
        assert np.array_equal(np.sort(offsets[worker_of == k]), schedule[k::2])
    sent = np.array([line["metadata"]["request_start_ns"] for line in lines], dtype=np.int64)
    assert (sent >= intended).all()  # nothing was sent before its time

    # metrics are those of the merged records
    latency = np.array([line["metrics"]["request_latency"]["value"] for line in lines])
    assert summary["request_count"]["avg"] == 2000
    assert summary["request_latency"]["avg"] == pytest.approx(latency.mean(), rel=1e-9)
    assert summary["request_latency"]["max"] == pytest.approx(latency.max(), rel=1e-9)


def test_conversations_stay_on_one_worker_and_keep_their_turns(ray_cluster, fast_mock_server, tmp_path):
    _profile(fast_mock_server, tmp_path / "conv", concurrency=4, conversation_num=12, conversation_turn_mean=3,
             streaming=True, export_level="raw")
    lines = _jsonl(tmp_path / "conv" / "profile_export.jsonl")
    assert len(lines) == 36
    # raw export: every record's own chunks, and later turns carry the answers the same worker received
    raw = {line["metadata"]["x_request_id"]: line for line in _jsonl(tmp_path / "conv" / "profile_export_raw.jsonl")}
    assert len(raw) == 36
    assert all(line["status"] == 200 and len(line["responses"]) >= 2 for line in raw.values())
    answered = [line for line in raw.values() if line["metadata"]["turn_index"] == 2]
    assert all(sum(m["role"] == "assistant" and bool(m["content"]) for m in line["payload"]["messages"]) == 2
               for line in answered)
    by_session: dict[int, set] = {}
    for line in lines:
        meta = line["metadata"]
        by_session.setdefault(meta["session_num"], set()).add((meta["worker_id"], meta["turn_index"]))
    assert len(by_session) == 12
    for turns in by_session.values():
        assert len({worker for worker, _ in turns}) == 1
        assert sorted(turn for _, turn in turns) == [0, 1, 2]


def test_a_worker_killed_mid_run_is_reported_and_the_run_ends(ray_cluster, fast_mock_server, tmp_path):
    killed: list[str] = []
    before = fast_mock_server.stats()["chat_completions"]

    def kill_worker_1() -> None:
        # once the server has answered 400 requests (2 s into the 6 s schedule, ~200 of them from worker 1)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if fast_mock_server.stats()["chat_completions"] - before >= 400:
                names = [a["name"] for a in ray_cluster.util.list_named_actors(all_namespaces=True)
                         if a["name"].endswith("-worker-1")]
                ray_cluster.kill(ray_cluster.get_actor(names[0], namespace="aiperf"))
                killed.append(names[0])
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_worker_1, daemon=True)
    killer.start()
    started = time.monotonic()
    result = _profile(fast_mock_server, tmp_path / "killed", request_rate=200.0, arrival_pattern="constant",
                      request_count=1200)
    killer.join(timeout=5)
    assert killed, "worker 1 was never seen"
    assert time.monotonic() - started < 60

    workers = json.loads((tmp_path / "killed" / "profile_export_workers.json").read_text())
    first, second = workers["workers"]
    assert first["status"] == "finished" and first["records"] == 600 and first["lost_requests"] == 0
    assert second["status"] == "died" and "Actor" in second["error"]
    assert second["records"] + second["lost_requests"] == 600 and second["lost_requests"] > 0
    assert not workers["complete"] and workers["lost_requests"] == second["lost_requests"]
    assert second["records"] > 0  # records come back in batches while the run goes on: those are kept
    lines = _jsonl(tmp_path / "killed" / "profile_export.jsonl")
    assert len(lines) == 600 + second["records"]
    assert len(result.records) == len(lines)


def test_the_cli_connects_to_a_running_cluster_and_prints_a_line_per_worker(ray_cluster, fast_mock_server,
                                                                            tmp_path):
    address = ray_cluster.get_runtime_context().gcs_address
    env = dict(os.environ, **LOOPBACK_RAY_ENV,
               PYTHONPATH=os.pathsep.join([PACKAGE_PARENT, os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-m", "aiperf", "profile", "--model", "m", "--tokenizer", "gpt2",
                           "--url", fast_mock_server.url, "--endpoint-type", "chat", "--concurrency", "4",
                           "--request-count", "40", "--isl", "8", "--ray-address", address, "--ray-workers", "2",
                           "--workers-max", "1", "--artifact-dir", str(tmp_path / "cli"), "--ui-type", "none"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Ray worker 0 (" in done.stdout and "Ray worker 1 (" in done.stdout
    assert "Request Count" in done.stdout
    workers = json.loads((tmp_path / "cli" / "profile_export_workers.json").read_text())
    assert sum(w["records"] for w in workers["workers"]) == 40


def test_the_rayjob_manifest_runs_a_valid_distributed_profile():
    import shlex

    yaml = pytest.importorskip("yaml")
    pytest.importorskip("ray")  # --ray-address is refused where ray is not installed
    from aiperf.cli import config_from_args

    manifest = yaml.safe_load((Path(__file__).resolve().parents[3] / "docs" / "kuberay-rayjob.yaml").read_text())
    assert manifest["kind"] == "RayJob"
    words = shlex.split(manifest["spec"]["entrypoint"])
    assert words[:2] == ["aiperf", "profile"]
    config = config_from_args(words[2:])
    assert (config.ray_address, config.ray_workers) == ("auto", 4)
    cpus = {group["groupName"]: int(group["replicas"]) * int(
        group["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"])
        for group in manifest["spec"]["rayClusterSpec"]["workerGroupSpecs"]}
    assert sum(cpus.values()) >= config.ray_workers * config.num_threads  # the workers fit in the worker pods


def test_an_address_where_no_cluster_listens_is_an_error_at_once(closed_port, tmp_path):
    pytest.importorskip("ray")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([PACKAGE_PARENT, os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-m", "aiperf", "profile", "--model", "m", "--tokenizer", "gpt2", "--url",
                           f"127.0.0.1:{closed_port}", "--concurrency", "2", "--request-count", "4", "--ray-address",
                           f"127.0.0.1:{closed_port}", "--artifact-dir", str(tmp_path / "none"), "--ui-type", "none"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1
    assert f"--ray-address 127.0.0.1:{closed_port}: no Ray cluster answers there" in done.stderr
