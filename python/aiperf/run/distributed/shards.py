"""Splitting one run's workload into per-worker shards, by session (a conversation stays on one worker).

Profiling session g of the whole run goes to worker g % N, as its local session g // N; the engine of worker k
numbers its sessions and requests k + N * (its own count) (EngineConfig.shard_index/shard_count), so numbers stay
unique across workers and sessions keep the dataset entry they would have on one machine (entry g % D, or
entry g of a fixed schedule). The open-loop schedule is computed once, here, and each worker gets its share of it;
concurrency and warm-up requests are split as evenly as possible.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Shard:
    """What worker `index` of `count` runs: engine settings that differ from the driver's, and its workload."""

    index: int
    count: int
    engine_fields: dict[str, Any] = field(default_factory=dict)  # overrides of the driver's EngineConfig
    order: np.ndarray | None = None           # body index per turn (int32)
    sessions: np.ndarray | None = None        # turn offsets per session (int64), multi-turn only
    turn_delays_ns: np.ndarray | None = None  # per turn (int64), multi-turn only
    schedule_ns: np.ndarray | None = None     # open loop: start offset of each local session from the common start
    planned_requests: int | None = None       # profiling requests this shard sends (None: bounded by a duration)


def even_share(total: int, parts: int, index: int) -> int:
    """Part `index` of `total` split into `parts` shares differing by at most one (the first ones larger)."""
    return total // parts + (1 if index < total % parts else 0)


@dataclass
class _Dataset:
    """The dataset entries sessions draw from: entry e sends turns first[e] .. first[e] + turns[e] - 1."""

    first: np.ndarray
    turns: np.ndarray
    order: np.ndarray
    turn_delays_ns: np.ndarray | None

    @classmethod
    def of(cls, workload: Any, body_count: int) -> _Dataset:
        order = (np.asarray(workload.order, dtype=np.int32) if workload.order is not None
                 else np.arange(body_count, dtype=np.int32))
        delays = None if workload.turn_delays_ns is None else np.asarray(workload.turn_delays_ns, dtype=np.int64)
        if workload.sessions is not None:
            offsets = np.asarray(workload.sessions, dtype=np.int64)
            return cls(offsets[:-1], np.diff(offsets), order, delays)
        return cls(np.arange(len(order), dtype=np.int64), np.ones(len(order), dtype=np.int64), order, delays)

    def __len__(self) -> int:
        return len(self.first)

    def turn_rows(self, entries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The dataset turns (in order) of these entries, and the session offsets over them."""
        counts = self.turns[entries]
        offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        rows = np.repeat(self.first[entries] - offsets[:-1], counts) + np.arange(offsets[-1], dtype=np.int64)
        return rows, offsets


def global_schedule(engine_config: Any, workload: Any) -> np.ndarray | None:
    """The open-loop schedule of the whole run (ns from the start of profiling), or None in closed loop:
    the fixed schedule as given, else the one the engine itself would draw from --request-rate."""
    from aiperf.engine import arrival_offsets_ns
    if workload.schedule_ns is not None:
        return np.asarray(workload.schedule_ns, dtype=np.int64)
    if engine_config.request_rate > 0:
        return np.asarray(arrival_offsets_ns(engine_config, engine_config.request_count,
                                                     engine_config.benchmark_duration_s, 1), dtype=np.int64)
    return None


def split_workload(engine_config: Any, workload: Any, body_count: int, worker_count: int,
                   schedule_ns: np.ndarray | None) -> list[Shard]:
    """One shard per worker. `schedule_ns` is global_schedule(); `workload` is run.Workload."""
    from aiperf.config import ConfigError

    dataset = _Dataset.of(workload, body_count)
    fixed = workload.schedule_ns is not None
    bounded = schedule_ns is not None or engine_config.request_count > 0
    total_sessions = len(schedule_ns) if schedule_ns is not None else engine_config.request_count
    if bounded and total_sessions < worker_count:
        raise ConfigError(f"--ray-workers {worker_count}: the run has only {total_sessions} session(s) to share; "
                          "lower --ray-workers")
    shards = []
    for k in range(worker_count):
        # Local session j is global session k + N * j; bounded runs have a fixed share, unbounded ones cycle
        # through a period of the dataset (entry (k + N * j) % D repeats with period D in j).
        local_count = even_share(total_sessions, worker_count, k) if bounded else len(dataset)
        global_sessions = k + worker_count * np.arange(local_count, dtype=np.int64)
        entries = global_sessions if fixed else global_sessions % len(dataset)
        rows, offsets = dataset.turn_rows(entries)
        multi_turn = bool((dataset.turns > 1).any())
        shard = Shard(index=k, count=worker_count, order=dataset.order[rows].astype(np.int32))
        if multi_turn:
            shard.sessions = offsets
            if dataset.turn_delays_ns is not None:
                shard.turn_delays_ns = dataset.turn_delays_ns[rows]
        if schedule_ns is not None:
            shard.schedule_ns = schedule_ns[k::worker_count].copy()
        shard.planned_requests = int(offsets[-1]) if bounded else None
        warmup = even_share(engine_config.warmup_request_count, worker_count, k)
        shard.engine_fields = {
            "request_count": local_count if bounded else 0,
            "concurrency": max(1, even_share(engine_config.concurrency, worker_count, k)),
            "warmup_request_count": warmup,
            # a worker left without warm-up requests must not warm up by duration alone instead
            "warmup_duration_s": (0.0 if engine_config.warmup_request_count > 0 and warmup == 0
                                  else engine_config.warmup_duration_s),
            # the profiling schedule is given (the engine takes a schedule or a rate, not both): warm-up requests
            # are then sent as in a --fixed-schedule run, closed loop
            "request_rate": 0.0 if schedule_ns is not None else engine_config.request_rate,
            "shard_index": k,
            "shard_count": worker_count,
        }
        shards.append(shard)
    return shards
