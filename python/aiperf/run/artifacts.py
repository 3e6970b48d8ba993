"""Where a run's files go, and its log (`logs/aiperf.log` in the artifact folder)."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiperf.config import ConfigError, ProfileConfig

log = logging.getLogger("aiperf")

LOG_FILE = Path("logs") / "aiperf.log"
_LEVELS = {"TRACE": 5, "NOTICE": 25, "SUCCESS": 25}  # AIPerf's levels that logging lacks


def resolve_artifact_dir(config: ProfileConfig) -> Path:
    """--artifact-dir itself, or AIPerf's artifacts/<model>-openai-<endpoint type>-<stimulus>/."""
    from aiperf.results.export import artifact_dir_name  # the exports' modules load once the engine runs

    if config.artifact_dir is not None:
        return Path(config.artifact_dir)
    name = artifact_dir_name(config.model[0] if len(config.model) == 1 else config.model[0] + "_multi",
                             config.endpoint_type,
                             concurrency=config.concurrency if config.open_loop else config.effective_concurrency,
                             request_rate=config.request_rate, fixed_schedule=config.fixed_schedule)
    return Path("artifacts") / name


def make_artifact_dir(config: ProfileConfig) -> Path:
    artifact_dir = resolve_artifact_dir(config)
    try:
        artifact_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--artifact-dir: cannot create {artifact_dir}: {e.strerror}") from None
    return artifact_dir


@contextmanager
def run_log(artifact_dir: Path, level: str) -> Iterator[Path]:
    """The "aiperf" logger also writes to the run's log file while the block runs (at INFO at least); its level
    and handlers are as before afterwards."""
    log_file = artifact_dir / LOG_FILE
    log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_file, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    numeric = min(_LEVELS.get(level, getattr(logging, level, logging.INFO)), logging.INFO)
    handler.setLevel(numeric)
    previous_level = log.level
    log.setLevel(numeric)
    log.addHandler(handler)
    try:
        yield log_file
    finally:
        log.removeHandler(handler)
        log.setLevel(previous_level)
        handler.close()
