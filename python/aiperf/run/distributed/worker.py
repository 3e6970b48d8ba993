"""The Ray actor of a distributed run: one C++ engine on one shard, polled by the driver.

Every method returns at once (the engine runs on its own threads with the GIL released), so the actor needs no
threads of its own and the driver can poll it at any time. The class is plain Python; engine.py wraps it with
ray.remote, so this module imports without ray.
"""
from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from aiperf.engine import Engine, Records


class PollAnswer(TypedDict):
    """What poll() returns: the engine's counters (sent, completed, errors, in_flight, phase, profiling_start_ns),
    the records finished since the last poll, whether the run has finished, an engine failure."""

    progress: tuple[int, int, int, int, int, int]
    batch: Records | None
    finished: bool
    error: str | None


class ShardWorkload(TypedDict):
    """A shard's workload, as the engine takes it (see Engine)."""

    order: npt.NDArray[np.int32] | None
    sessions: npt.NDArray[np.int64] | None
    turn_delays_ns: npt.NDArray[np.int64] | None
    schedule_ns: npt.NDArray[np.int64] | None


class EngineWorker:
    def __init__(self) -> None:
        self._engine: Engine | None = None

    def describe(self) -> dict[str, Any]:
        """Where this worker runs and which aiperf it imports (the driver refuses a mismatch)."""
        import aiperf
        from aiperf.engine import ENGINE_VERSION

        return {"hostname": socket.gethostname(), "pid": os.getpid(), "aiperf_version": aiperf.__version__,
                "engine_version": ENGINE_VERSION, "node_ip": _node_ip()}

    def clock_ns(self) -> int:
        """The engine's clock (CLOCK_MONOTONIC), for the driver's offset measurement."""
        from aiperf.engine import monotonic_ns
        return monotonic_ns()

    def start(self, engine_fields: dict[str, object], bodies: list[bytes], workload: ShardWorkload) -> int:
        """Build the engine for this shard and start it; profiling waits for engine_fields['profiling_start_ns'].
        Returns this worker's clock once the engine runs (the driver checks it was before the common start)."""
        from aiperf.engine import Engine, EngineConfig, monotonic_ns
        config = EngineConfig()
        for name, value in engine_fields.items():
            setattr(config, name, value)
        self._engine = Engine(config, bodies, **workload)
        self._engine.start()
        return monotonic_ns()

    def poll(self) -> PollAnswer:
        """Counters, the records finished since the last poll (None when there are none) and whether the run
        has finished; an engine failure comes back as `error` instead of an exception."""
        engine = self._engine
        assert engine is not None, "poll() before start()"
        try:
            finished = engine.wait(0.0)
            batch: Records | None = engine.drain()
            error = None
        except Exception as e:
            finished, batch, error = True, None, f"{type(e).__name__}: {e}"
        p = engine.progress()
        if batch is not None and len(batch["request_index"]) == 0:
            batch = None
        return {"progress": (p.sent, p.completed, p.errors, p.in_flight, p.phase, p.profiling_start_ns),
                "batch": batch, "finished": finished, "error": error}

    def stop(self) -> None:
        if self._engine is not None:
            self._engine.stop()


def _node_ip() -> str:
    try:
        import ray

        return str(ray.util.get_node_ip_address())  # type: ignore[no-untyped-call]
    except Exception:
        return ""
