"""Distributed load generation on Ray (docs/distributed.md).

The driver (the machine running `aiperf profile --ray-address …`) builds the dataset and the whole schedule once,
splits it by session into one shard per Ray worker (shards.py), measures each worker's clock offset (clock.py),
starts one C++ engine per worker on its shard from a common start time (worker.py), and merges the records the
workers send back in columnar batches onto its own clock (merge.py). DistributedEngine (engine.py) meets
aiperf.engine.EngineLike, as the C++ engine does, so the rest of the run (metrics, exports, console) is unchanged.
This package imports aiperf.errors and aiperf.engine, never the orchestrator (aiperf.run).

Nothing here imports ray at module level: `import aiperf` works without it, and ray is imported when a
distributed run starts (see `require_ray`).
"""
from __future__ import annotations

from types import ModuleType

from aiperf.errors import ConfigError

RAY_EXTRA_HINT = "pip install 'aiperf[ray]'"


def require_ray() -> ModuleType:
    """The ray module, or a ConfigError naming the extra that provides it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--ray-address: Ray is not installed; install it with {RAY_EXTRA_HINT}") from None
    return ray

