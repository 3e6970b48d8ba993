"""DistributedEngine: aiperf.engine.EngineLike over N Ray workers, each running one engine.

The run drives it exactly like a local engine (start, wait, progress, stop, drain or records, anchors); every
timestamp it hands out is on this machine's CLOCK_MONOTONIC, worker ids are run-wide (worker k's loop thread t is
k * threads + t) and request indices and session numbers are unique (shards.py). A worker that dies is reported,
its records received so far are kept and its unfinished requests are counted as lost; the run then ends with the
other workers instead of waiting for it.
"""
from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

import aiperf
from aiperf.engine import (
    ENGINE_VERSION,
    EngineConfig,
    EngineError,
    Progress,
    Records,
    empty_records,
    monotonic_ns,
)
from aiperf.errors import ConfigError, RunError
from aiperf.run.distributed import require_ray
from aiperf.run.distributed.clock import ClockOffset, measure_offset
from aiperf.run.distributed.merge import concat, sorted_by_request_index, to_driver_clock
from aiperf.run.distributed.shards import Shard, global_schedule, split_workload
from aiperf.run.distributed.worker import EngineWorker, PollAnswer, ShardWorkload

if TYPE_CHECKING:
    from ray import ObjectRef
    from ray.actor import ActorHandle

    from aiperf.run.plan import Workload

log = logging.getLogger("aiperf")

WORKERS_FILE = "profile_export_workers.json"
POLL_INTERVAL_S = 0.2          # how often each worker is asked for progress and finished records
UNREACHABLE_AFTER_S = 30.0     # a worker silent this long is given up (its node is gone or hung)
PLACEMENT_TIMEOUT_S = 120.0    # workers not started by then: the cluster cannot place them
START_DELAY_S = 1.0            # from start() to the common start of profiling (engines built and started first)




@dataclass(frozen=True)
class _SummedProgress:
    """aiperf.engine.Progress over all workers."""

    sent: int
    completed: int
    errors: int
    in_flight: int
    phase: int
    profiling_start_ns: int


@dataclass
class _Worker:
    shard: Shard
    actor: ActorHandle[Any]
    name: str
    info: dict[str, Any] = field(default_factory=dict)
    clock: ClockOffset | None = None
    clock_after: ClockOffset | None = None
    started_ns: int | None = None       # driver clock, when its engine was running
    pending: ObjectRef[Any] | None = None    # an outstanding poll
    last_poll_s: float = 0.0
    last_answer_s: float = 0.0
    progress: tuple[int, int, int, int, int, int] = (0, 0, 0, 0, 0, 0)  # PollAnswer's
    status: str = "running"             # running, finished, died, unreachable, failed
    error: str | None = None
    records: int = 0                    # received, profiling phase
    warmup_records: int = 0
    error_records: int = 0

    @property
    def offset(self) -> ClockOffset:
        """Its clock against the driver's, measured when the engine is made."""
        assert self.clock is not None
        return self.clock


class DistributedEngine:
    """aiperf.engine.EngineLike with the run split over `worker_count` Ray workers, and ReportsWorkers."""

    def __init__(self, engine_config: EngineConfig, bodies: list[bytes], workload: Workload, *, ray_address: str,
                 worker_count: int) -> None:
        self._ray = ray = require_ray()
        self._address = ray_address
        self._owns_connection = not ray.is_initialized()
        if self._owns_connection:
            _connect(ray, ray_address)
        self._threads = int(engine_config.num_threads)
        self._fields = _config_fields(engine_config)
        self._warmup_allowance_s = (float(engine_config.warmup_duration_s)
                                    + (2.0 if engine_config.warmup_request_count > 0 else 0.0))
        self._workers: list[_Worker] = []
        try:
            shards = split_workload(engine_config, workload, len(bodies), worker_count,
                                    global_schedule(engine_config, workload))
            self._check_resources(worker_count)
            run_id = os.urandom(4).hex()
            remote = ray.remote(EngineWorker)
            for shard in shards:
                name = f"aiperf-{run_id}-worker-{shard.index}"
                actor = remote.options(name=name, namespace="aiperf", num_cpus=self._threads, max_restarts=0,
                                       scheduling_strategy="SPREAD").remote()
                self._workers.append(_Worker(shard=shard, actor=actor, name=name))
            self._bodies_ref = ray.put(bodies)
            self._describe_workers()
            for worker in self._workers:
                worker.clock = measure_offset(functools.partial(self._worker_clock_ns, worker, 30.0), monotonic_ns)
        except BaseException:
            self._close()
            raise
        self._anchor_wall_ns = 0
        self._anchor_mono_ns = 0
        self._common_start_ns = 0
        self._stop_requested = False
        self._stop_sent = False
        self._finished = False
        self._kept: list[Records] | None = []  # every batch, until drain() is used
        self._pending: list[Records] = []
        self._like: Records | None = None

    # ---- set-up ------------------------------------------------------------------------------------------------
    def _check_resources(self, worker_count: int) -> None:
        needed = worker_count * self._threads
        total = self._ray.cluster_resources().get("CPU", 0)
        if total < needed:
            raise ConfigError(f"--ray-workers {worker_count}: each worker runs --workers-max {self._threads} loop "
                              f"thread(s) and reserves that many CPUs; the Ray cluster at {self._address} has "
                              f"{total:g} CPUs, {needed} are needed")

    def _describe_workers(self) -> None:
        ray = self._ray
        refs = [w.actor.describe.remote() for w in self._workers]
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=PLACEMENT_TIMEOUT_S)
        if len(ready) < len(refs):
            raise RunError(f"--ray-workers {len(refs)}: only {len(ready)} of the workers started within "
                           f"{PLACEMENT_TIMEOUT_S:g} s on the Ray cluster at {self._address} (not enough free "
                           "CPUs, or nodes without aiperf installed?)")
        for worker, info in zip(self._workers, ray.get(refs)):
            worker.info = info
            theirs = (info["aiperf_version"], info["engine_version"])
            ours = (aiperf.__version__, ENGINE_VERSION)
            if theirs != ours:
                raise RunError(f"Ray worker on {info['hostname']} runs aiperf {theirs[0]} (engine {theirs[1]}), "
                               f"this machine {ours[0]} (engine {ours[1]}): install the same version everywhere")

    # ---- the Engine interface ----------------------------------------------------------------------------------
    def start(self) -> None:
        ray = self._ray
        before = monotonic_ns()
        self._anchor_wall_ns = time.time_ns()
        after = monotonic_ns()
        self._anchor_mono_ns = before + (after - before) // 2
        self._common_start_ns = after + int((START_DELAY_S + self._warmup_allowance_s) * 1e9)
        starts: list[ObjectRef[Any]] = []
        for worker in self._workers:
            fields = dict(self._fields, **worker.shard.engine_fields,
                          profiling_start_ns=worker.offset.to_worker(self._common_start_ns))
            shard = worker.shard
            workload: ShardWorkload = {"order": shard.order, "sessions": shard.sessions,
                                       "turn_delays_ns": shard.turn_delays_ns, "schedule_ns": shard.schedule_ns}
            starts.append(worker.actor.start.remote(fields, self._bodies_ref, workload))
        for worker, ref in zip(self._workers, starts):
            try:
                worker.started_ns = worker.offset.to_driver(ray.get(ref))
            except Exception as e:
                self._stop_requested = True
                self._send_stop()
                self._close()
                raise RunError(f"Ray worker {worker.shard.index} could not start: {_short(e)}") from None
            worker.last_answer_s = time.monotonic()
            if worker.started_ns > self._common_start_ns:
                log.warning("Ray worker %d started %.1f ms after the common start of profiling",
                            worker.shard.index, (worker.started_ns - self._common_start_ns) / 1e6)

    def wait(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + max(timeout_s, 0.0)
        while True:
            if self._stop_requested and not self._stop_sent:
                self._send_stop()
            self._poll_once(max(0.0, min(deadline - time.monotonic(), POLL_INTERVAL_S)))
            if all(w.status != "running" for w in self._workers):
                self._finish()
                return True
            if time.monotonic() >= deadline:
                return False

    def stop(self) -> None:
        # Safe from a signal handler: the stop is sent by the next wait() (no Ray call here).
        self._stop_requested = True

    def progress(self) -> Progress:
        running = [w for w in self._workers if w.status == "running"]
        phase = 2 if not running else min(w.progress[4] for w in running)
        return _SummedProgress(sent=sum(w.progress[0] for w in self._workers),
                               completed=sum(w.progress[1] for w in self._workers),
                               errors=sum(w.progress[2] for w in self._workers),
                               in_flight=sum(w.progress[3] for w in running),
                               phase=phase, profiling_start_ns=self._common_start_ns if phase >= 1 else 0)

    def drain(self) -> Records:
        """Records received since the previous drain(), sorted by request_index (zero rows possible)."""
        self._kept = None
        batches, self._pending = self._pending, []
        return sorted_by_request_index(concat(batches, like=self._empty_like()))

    def records(self) -> Records:
        if not self._finished:
            raise EngineError("records are available once the run has finished (wait() returned True)")
        if self._kept is None:
            raise EngineError("records() after drain(): a run uses one or the other")
        return sorted_by_request_index(concat(self._kept, like=self._empty_like()))

    @property
    def anchor_wall_ns(self) -> int:
        return self._anchor_wall_ns

    @property
    def anchor_mono_ns(self) -> int:
        return self._anchor_mono_ns

    # ---- polling -----------------------------------------------------------------------------------------------
    def _poll_once(self, timeout_s: float) -> None:
        ray = self._ray
        now = time.monotonic()
        for w in self._workers:
            if w.status == "running" and w.pending is None and now - w.last_poll_s >= POLL_INTERVAL_S:
                w.pending = w.actor.poll.remote()
                w.last_poll_s = now
        pending = [w.pending for w in self._workers if w.pending is not None]
        if not pending:
            time.sleep(timeout_s)
            return
        ready, _ = ray.wait(pending, num_returns=len(pending), timeout=timeout_s)
        ready_ids = set(ready)
        for w in self._workers:
            if w.pending is None:
                continue
            if w.pending in ready_ids:
                ref, w.pending = w.pending, None
                try:
                    answer = ray.get(ref)
                except Exception as e:
                    self._lost(w, "died", _short(e))
                    continue
                w.last_answer_s = time.monotonic()
                self._take_answer(w, answer)
            elif time.monotonic() - w.last_answer_s > UNREACHABLE_AFTER_S:
                w.pending = None
                self._lost(w, "unreachable", f"no answer for {UNREACHABLE_AFTER_S:g} s")
                self._ray.kill(w.actor, no_restart=True)

    def _take_answer(self, w: _Worker, answer: PollAnswer) -> None:
        w.progress = answer["progress"]
        batch = answer["batch"]
        if batch is not None:
            self._add_batch(w, batch)
        if answer["error"] is not None:
            self._lost(w, "failed", answer["error"])
        elif answer["finished"]:
            w.status = "finished"

    def _add_batch(self, w: _Worker, batch: Records) -> None:
        batch = to_driver_clock(batch, offset_ns=w.offset.offset_ns, first_worker_id=w.shard.index * self._threads)
        if self._like is None:
            self._like = batch
        phase = np.asarray(batch["phase"])
        w.records += int((phase == 1).sum())
        w.warmup_records += int((phase == 0).sum())
        w.error_records += int(((np.asarray(batch["error_kind"]) != 0) & (phase == 1)).sum())
        self._pending.append(batch)
        if self._kept is not None:
            self._kept.append(batch)

    def _lost(self, w: _Worker, status: str, error: str) -> None:
        w.status, w.error = status, error
        log.warning("Ray worker %d (%s) %s: %s", w.shard.index, w.info.get("hostname", "?"), status, error)

    def _worker_clock_ns(self, w: _Worker, timeout_s: float) -> int:
        return int(self._ray.get(w.actor.clock_ns.remote(), timeout=timeout_s))

    def _send_stop(self) -> None:
        self._stop_sent = True
        for w in self._workers:
            if w.status == "running":
                w.actor.stop.remote()

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        for w in self._workers:  # the offset again, to report how far the clocks drifted during the run
            if w.status == "finished":
                try:
                    w.clock_after = measure_offset(functools.partial(self._worker_clock_ns, w, 10.0), monotonic_ns,
                                                   probes=8)
                except Exception as e:
                    log.warning("Ray worker %d: clock not measured after the run: %s", w.shard.index, _short(e))
        self._close()

    def _close(self) -> None:
        """End the workers (they hold CPUs of the cluster) and the connection this engine opened."""
        self._kill_all()
        if self._owns_connection and self._ray.is_initialized():
            self._ray.shutdown()

    def _kill_all(self) -> None:
        for w in self._workers:
            with contextlib.suppress(Exception):  # already gone
                self._ray.kill(w.actor, no_restart=True)

    def _empty_like(self) -> Records:
        return self._like if self._like is not None else empty_records()

    # ---- the per-worker summary --------------------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """What profile_export_workers.json holds: each worker's place, clock, share and fate."""
        workers = []
        for w in self._workers:
            planned = w.shard.planned_requests
            lost = 0
            if w.status != "finished":
                lost = (planned - w.records) if planned is not None else w.progress[3]
            drift = (w.clock_after.offset_ns - w.offset.offset_ns) if w.clock_after is not None else None
            workers.append({
                "worker": w.shard.index,
                "status": w.status,
                "error": w.error,
                "hostname": w.info.get("hostname"),
                "node_ip": w.info.get("node_ip"),
                "pid": w.info.get("pid"),
                "worker_ids": list(range(w.shard.index * self._threads, (w.shard.index + 1) * self._threads)),
                "clock_offset_ns": w.offset.offset_ns,
                "clock_offset_uncertainty_ns": w.offset.round_trip_ns // 2,
                "clock_drift_ns": drift,
                "start_margin_ms": ((self._common_start_ns - w.started_ns) / 1e6
                                    if w.started_ns is not None else None),
                "planned_requests": planned,
                "records": w.records,
                "error_records": w.error_records,
                "warmup_records": w.warmup_records,
                "lost_requests": int(max(lost, 0)),
            })
        return {"ray_address": self._address, "worker_count": len(self._workers),
                "loop_threads_per_worker": self._threads,
                "complete": all(w.status == "finished" for w in self._workers),
                "lost_requests": sum(entry["lost_requests"] for entry in workers),
                "common_start_ns": self._common_start_ns,
                "common_start_wall_ns": self._common_start_ns - self._anchor_mono_ns + self._anchor_wall_ns,
                "workers": workers}

    def report(self, artifact_dir: Path) -> tuple[Path, list[str]]:
        """Write profile_export_workers.json; return its path and one console line per worker (plus a warning
        line when workers were lost)."""
        summary = self.summary()
        path = Path(artifact_dir) / WORKERS_FILE
        path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
        lines = []
        for entry in summary["workers"]:
            where = f"{entry['hostname']} pid {entry['pid']}"
            clock = (f"clock offset {entry['clock_offset_ns'] / 1e3:+,.0f} us "
                     f"(+/- {entry['clock_offset_uncertainty_ns'] / 1e3:,.0f} us)")
            if entry["status"] == "finished":
                lines.append(f"Ray worker {entry['worker']} ({where}): {entry['records']:,} requests, "
                             f"{entry['error_records']:,} errors; {clock}")
            else:
                lines.append(f"Ray worker {entry['worker']} ({where}): {entry['status'].upper()} "
                             f"({entry['error']}): {entry['records']:,} requests kept, "
                             f"{entry['lost_requests']:,} lost; {clock}")
        if not summary["complete"]:
            lost = [e for e in summary["workers"] if e["status"] != "finished"]
            lines.append(f"Incomplete run: {len(lost)} of {summary['worker_count']} Ray workers lost, "
                         f"{summary['lost_requests']:,} requests not measured (the metrics cover the rest)")
        lines.append(f"Ray Workers: {path}")
        return path, lines


def _connect(ray: ModuleType, address: str) -> None:
    package_parent = str(Path(aiperf.__file__).resolve().parent.parent)
    runtime_env = None
    if "site-packages" not in package_parent and "dist-packages" not in package_parent:
        # an in-place (development) aiperf: workers on this host import the same one
        runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join(
            p for p in (package_parent, os.environ.get("PYTHONPATH", "")) if p)}}
    _check_reachable(address)
    try:
        ray.init(address=address, namespace="aiperf", logging_level=logging.WARNING, log_to_driver=False,
                 runtime_env=runtime_env)
    except Exception as e:
        raise RunError(f"--ray-address {address}: cannot connect to a Ray cluster: {_short(e)}") from None


def _check_reachable(address: str) -> None:
    """A HOST:PORT (or ray://HOST:PORT) where nothing listens is an error at once (Ray itself retries for minutes)."""
    import socket

    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit() or not host:
        return  # "auto", or a form Ray resolves itself
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=5):
            pass
    except OSError as e:
        raise RunError(f"--ray-address {address}: no Ray cluster answers there ({e.strerror or e}); start one with "
                       "`ray start --head`, see docs/distributed.md") from None


def _config_fields(engine_config: EngineConfig) -> dict[str, object]:
    """The settings of an EngineConfig as a dict (the config object itself does not pickle)."""
    cls = type(engine_config)
    return {name: getattr(engine_config, name) for name in dir(cls)
            if not name.startswith("_") and isinstance(getattr(cls, name, None), property)}


def _short(error: BaseException) -> str:
    """One line about an error; for an exception raised inside a worker (RayTaskError), the original one."""
    cause = getattr(error, "cause", None)
    if isinstance(cause, BaseException):
        error = cause
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"[:300]
