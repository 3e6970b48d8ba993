"""Profile configuration: the options (`options.py`, each declared once), the config a run reads
(`profile_config.py`) and its validation (`validate.py`), before the tokenizer, the dataset or the engine are
touched. Imports neither numpy nor the engine, so `aiperf --help` stays fast."""
from __future__ import annotations

from aiperf.config.options import (
    ARRIVAL_PATTERNS,
    CONTENT_TYPES,
    DATASET_TYPES,
    ENDPOINT_TYPES,
    EXPORT_LEVELS,
    IMAGE_FORMATS,
    LOG_LEVELS,
    OPEN_LOOP_MAX_IN_FLIGHT,
    OPTIONS,
    OPTIONS_BY_DEST,
    PYTHON_ALIASES,
    UI_TYPES,
    Option,
)
from aiperf.config.parse import parse_extra_inputs, parse_goodput, parse_headers, parse_json_scalar, split_list
from aiperf.config.profile_config import ProfileConfig
from aiperf.config.validate import make_config, validate
from aiperf.errors import ConfigError

__all__ = [
    "ARRIVAL_PATTERNS",
    "CONTENT_TYPES",
    "DATASET_TYPES",
    "ENDPOINT_TYPES",
    "EXPORT_LEVELS",
    "IMAGE_FORMATS",
    "LOG_LEVELS",
    "OPEN_LOOP_MAX_IN_FLIGHT",
    "OPTIONS",
    "OPTIONS_BY_DEST",
    "PYTHON_ALIASES",
    "UI_TYPES",
    "ConfigError",
    "Option",
    "ProfileConfig",
    "make_config",
    "parse_extra_inputs",
    "parse_goodput",
    "parse_headers",
    "parse_json_scalar",
    "split_list",
    "validate",
]
