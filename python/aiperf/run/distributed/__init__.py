"""Distributed load generation on Ray (docs/distributed.md).

The driver (the machine running `aiperf profile --ray-address …`) builds the dataset and the whole schedule once,
splits it by session into one shard per Ray worker (shards.py), measures each worker's clock offset (clock.py),
starts one C++ engine per worker on its shard from a common start time (worker.py), and merges the records the
workers send back in columnar batches onto its own clock (merge.py). DistributedEngine (engine.py) offers the same
interface as aiperf._engine.Engine, so the rest of the run (metrics, exports, console) is unchanged.

Nothing here imports ray at module level: `import aiperf` works without it, and ray is imported when a
distributed run starts (see `require_ray`).
"""
from __future__ import annotations

RAY_EXTRA_HINT = "pip install 'aiperf[ray]'"


def require_ray():
    """The ray module, or a ConfigError naming the extra that provides it."""
    from aiperf.config import ConfigError

    try:
        import ray
    except ImportError:
        raise ConfigError(f"--ray-address: Ray is not installed; install it with {RAY_EXTRA_HINT}") from None
    return ray


def __getattr__(name: str):
    if name == "DistributedEngine":  # lazily: engine.py needs numpy, which `import aiperf.run.distributed` must not
        from aiperf.run.distributed.engine import DistributedEngine

        return DistributedEngine
    raise AttributeError(name)
