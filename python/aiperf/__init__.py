"""aiperf: benchmark generative-AI inference servers over OpenAI-compatible HTTP APIs.

    import aiperf
    result = aiperf.profile(model="m", url="127.0.0.1:8000", endpoint_type="chat", streaming=True,
                            concurrency=8, request_count=100, tokenizer="gpt2")
    result.summary["time_to_first_token"]["p99"]
    result.records            # pandas DataFrame, one row per request
    aiperf.load(result.artifact_dir)
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["profile", "load", "ProfileResult", "ConfigError", "ArtifactError", "__version__"]

if TYPE_CHECKING:
    from .result import ProfileResult


def profile(*, print_table: bool = True, **options: Any) -> "ProfileResult":
    """Run `aiperf profile` from Python. Options are the CLI's, with underscores (`endpoint_type="chat"`).

    Returns a ProfileResult (summary, records DataFrame, artifact_dir). Raises ConfigError for invalid options.
    """
    from .config import make_config
    from .run import run_profile

    options.setdefault("ui_type", "none")
    config = make_config(**options)
    return run_profile(config, print_table=print_table)


def load(path: Any) -> "ProfileResult":
    """Read an artifact folder back into a ProfileResult."""
    from .result import load as _load

    return _load(path)


def __getattr__(name: str) -> Any:
    if name == "ProfileResult":
        from .result import ProfileResult

        return ProfileResult
    if name == "ArtifactError":
        from .result import ArtifactError

        return ArtifactError
    if name == "ConfigError":
        from .config import ConfigError

        return ConfigError
    raise AttributeError(name)
