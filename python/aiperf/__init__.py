"""aiperf: benchmark generative-AI inference servers over OpenAI-compatible HTTP APIs.

    import aiperf
    result = aiperf.profile(model="m", url="127.0.0.1:8000", endpoint_type="chat", streaming=True,
                            concurrency=8, request_count=100, tokenizer="gpt2")
    result.summary["time_to_first_token"]["p99"]
    result.records            # pandas DataFrame, one row per request
    result.timeline           # throughput and concurrency over time
    run = aiperf.load(result.artifact_dir)
    aiperf.compare([run, other_run])

Plots and the image gallery: `aiperf.notebook` (docs/python-api.md).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
from aiperf.errors import (
    AccuracyError,
    AiperfError,
    ArtifactError,
    ConfigError,
    ImageError,
    InputFileError,
    PlotError,
    RunError,
    TokenizerError,
)

__all__ = ["AccuracyError", "AiperfError", "ArtifactError", "ConfigError", "ImageError", "InputFileError",
           "PlotError", "ProfileResult", "Run", "RunError", "TokenizerError", "__version__", "analyze_accuracy",
           "compare", "load", "profile"]

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    import pandas as pd

    from aiperf.analysis.runs import ProfileResult, Run
    from aiperf.analysis.timing_accuracy import AccuracyReport


def profile(*, print_table: bool = True, **options: Any) -> Run:
    """Run `aiperf profile` from Python. Options are the CLI's, with underscores (`endpoint_type="chat"`).

    Returns a Run (summary, records, timeline, config, artifact_dir, images()). Raises ConfigError for invalid
    options. No progress bar by default (`ui_type="simple"` shows one), except in Jupyter.
    """
    from aiperf.config import make_config
    from aiperf.run import run_profile

    options.setdefault("ui_type", "simple" if _in_jupyter() else "none")
    config = make_config(**options)
    return run_profile(config, print_table=print_table)


def _in_jupyter() -> bool:
    import sys

    if "IPython" not in sys.modules:
        return False
    from aiperf.notebook import in_jupyter

    return in_jupyter()


def load(path: str | Path, name: str | None = None) -> Run:
    """Read an artifact folder back into a Run, from its export files alone. `name` labels it in comparisons."""
    from aiperf.analysis.runs import load as _load

    return _load(path, name)


def compare(runs: Sequence[Run | str | Path], **options: Any) -> pd.DataFrame:
    """Summary metrics of several runs (or artifact folders) side by side, with the change relative to the
    first: see aiperf.analysis.comparison.compare for `stats`, `metrics` and `baseline`."""
    from aiperf.analysis.comparison import compare as _compare

    return _compare(runs, **options)


def analyze_accuracy(artifact_dir: str | Path, server_log: str | Path, **options: Any) -> AccuracyReport:
    """Join a run's artifact folder with the mock server's `--timing-log` file: client - server time differences
    (request start, events, TTFT, inter-token gaps, request end) in microseconds; writes accuracy.json and
    accuracy.png into the folder (see aiperf.analysis.timing_accuracy.analyze_accuracy and docs/accuracy.md)."""
    from aiperf.analysis.timing_accuracy import analyze_accuracy as _analyze

    return _analyze(artifact_dir, server_log, **options)


def __getattr__(name: str) -> Any:
    if name in ("Run", "ProfileResult"):
        from aiperf.analysis.runs import Run

        return Run
    raise AttributeError(name)
