"""Validation: the bounds and choices of every row of OPTIONS checked by one loop, then the rules that involve
several options (load, distributed, input file, images), each a short function. Every error names its option."""
from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiperf.config.options import OPTIONS, OPTIONS_BY_DEST, PYTHON_ALIASES
from aiperf.config.parse import parse_extra_inputs, parse_goodput, parse_headers, split_list
from aiperf.config.profile_config import ProfileConfig
from aiperf.errors import ConfigError

__all__ = ["make_config", "validate"]


def make_config(**options: Any) -> ProfileConfig:
    """Build and validate a config from Python keyword options (aliases allowed: isl=..., num_requests=...)."""
    values: dict[str, Any] = {}
    for name, value in options.items():
        dest = name if name in OPTIONS_BY_DEST else PYTHON_ALIASES.get(name)
        if dest is None:
            raise ConfigError(f"unknown option {name!r} (see `aiperf profile --help`)")
        if value is None:
            continue
        if OPTIONS_BY_DEST[dest].kind == "list":
            value = [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]
        elif isinstance(value, Path):
            value = str(value)
        values[dest] = value
    return validate(ProfileConfig(**values))


def validate(config: ProfileConfig) -> ProfileConfig:
    """Check every option and combination; return a copy with the derived fields filled (`config` is left as it
    was). Raises ConfigError naming the option."""
    config = replace(config, model=split_list(config.model),
                     log_level="DEBUG" if config.verbose else config.log_level.upper())
    _validate_endpoint(config)
    _check_rows(config)
    if (config.custom_dataset_type == "mooncake_trace" and config.request_rate is None
            and config.concurrency is None):
        config = replace(config, fixed_schedule=True)  # a timestamped trace replays its timestamps by default
    _validate_load(config)
    _validate_distributed(config)
    _validate_input_file(config)
    config = replace(config, extra_body=parse_extra_inputs(config.extra_inputs))
    _validate_images(config)
    return replace(config, headers=_headers(config), goodput_slos=parse_goodput(config.goodput))


def _check_rows(config: ProfileConfig) -> None:
    """The choices and bounds declared on each option's row."""
    for row in OPTIONS:
        value = getattr(config, row.dest)
        if value is None or row.kind != "value":
            continue
        if row.choices is not None and value not in row.choices:
            raise ConfigError(f"{row.flags[0]}: {value!r} is not one of {', '.join(row.choices)}")
        for check in row.checks:
            problem = check.problem(value)
            if problem is not None:
                raise ConfigError(f"{row.flags[0]}: {problem}")


def _validate_endpoint(config: ProfileConfig) -> None:
    from aiperf.inputs.endpoints import ENDPOINTS

    if not config.model:
        raise ConfigError("--model: required (the model name sent in every request)")
    if config.endpoint_type not in ENDPOINTS:
        raise ConfigError(f"--endpoint-type: unknown endpoint type {config.endpoint_type!r} "
                          f"(choose from {', '.join(sorted(ENDPOINTS))})")
    _validate_url(config.url)
    if config.endpoint is not None and not config.endpoint.strip():
        raise ConfigError("--endpoint: empty path")


def _validate_url(url: str) -> None:
    from urllib.parse import urlsplit

    from aiperf.redaction import redact_url

    if not url or not url.strip():
        raise ConfigError("--url: empty")
    shown = repr(redact_url(url))
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url.strip()):
        raise ConfigError(f"--url: {shown}: contains a space or control character")
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"--url: {shown}: only http:// and https:// are supported")
    try:
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise ConfigError(f"--url: {shown}: invalid port") from None
    if not parts.hostname:
        raise ConfigError(f"--url: {shown}: no host")


def _validate_load(config: ProfileConfig) -> None:
    """Load-mode combinations: rates, arrival patterns, ramps and fixed schedules."""
    if config.arrival_smoothness is not None and config.arrival_pattern not in ("gamma", "poisson"):
        raise ConfigError(f"--arrival-smoothness: needs the gamma pattern (got --arrival-pattern "
                          f"{config.arrival_pattern})")
    if config.arrival_pattern == "concurrency_burst":
        if config.request_rate is not None or config.arrival_smoothness is not None:
            raise ConfigError("--arrival-pattern concurrency_burst: sends as fast as --concurrency allows; it takes "
                              "no --request-rate/--arrival-smoothness")
    elif config.request_rate is None and (config.arrival_smoothness is not None
                                          or config.arrival_pattern != "poisson"):
        raise ConfigError("--arrival-pattern/--arrival-smoothness: needs --request-rate")
    if config.request_rate_ramp_duration is not None and config.request_rate is None:
        raise ConfigError("--request-rate-ramp-duration: needs --request-rate (a fixed schedule or a closed loop "
                          "has no rate to ramp; see --concurrency-ramp-duration)")
    if config.concurrency_ramp_duration is not None and config.concurrency is None:
        raise ConfigError("--concurrency-ramp-duration: needs --concurrency (the number of sessions to ramp to)")
    _validate_fixed_schedule(config)


def _validate_fixed_schedule(config: ProfileConfig) -> None:
    start, end = config.fixed_schedule_start_offset, config.fixed_schedule_end_offset
    if config.fixed_schedule:
        if config.request_rate is not None:
            raise ConfigError("--fixed-schedule: cannot be combined with --request-rate (the schedule comes from "
                              "the input file's timestamps)")
        if not config.input_file:
            raise ConfigError("--fixed-schedule: needs an --input-file whose lines carry 'timestamp' (ms)")
    elif config.fixed_schedule_auto_offset or start is not None or end is not None:
        raise ConfigError("--fixed-schedule-auto-offset/--fixed-schedule-start-offset/--fixed-schedule-end-offset: "
                          "need --fixed-schedule")
    if start is not None and end is not None and end < start:
        raise ConfigError(f"--fixed-schedule-end-offset: {end} ms is before --fixed-schedule-start-offset {start} ms")
    if config.fixed_schedule_auto_offset and start is not None:
        raise ConfigError("--fixed-schedule-auto-offset: cannot be combined with --fixed-schedule-start-offset")


def _ray_installed() -> bool:
    """Whether `import ray` can work, without importing it (that takes a second)."""
    import importlib.util

    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):  # ValueError: a None entry in sys.modules (import blocked)
        return False


def _validate_distributed(config: ProfileConfig) -> None:
    """--ray-address/--ray-workers: the shape of the split is checked here; Ray itself when the run starts."""
    if config.ray_workers is not None and config.ray_address is None:
        raise ConfigError("--ray-workers: needs --ray-address (the Ray cluster to run the workers on)")
    if config.ray_address is None:
        return
    if not config.ray_address.strip():
        raise ConfigError("--ray-address: empty (give 'auto', HOST:PORT or ray://HOST:PORT)")
    if not _ray_installed():
        raise ConfigError("--ray-address: Ray is not installed; install it with pip install 'aiperf[ray]'")
    workers = config.ray_workers or 2
    if not config.open_loop and config.effective_concurrency < workers:
        raise ConfigError(f"--ray-workers {workers}: each worker needs at least one of the --concurrency "
                          f"{config.effective_concurrency} slots (lower --ray-workers or raise --concurrency)")


def _validate_input_file(config: ProfileConfig) -> None:
    if config.custom_dataset_type and not config.input_file:
        raise ConfigError("--custom-dataset-type: needs --input-file")
    if not config.input_file:
        return
    path = Path(config.input_file)
    if not path.exists():
        raise ConfigError(f"--input-file: {config.input_file}: no such file")
    if path.is_dir():
        raise ConfigError(f"--input-file: {config.input_file}: is a folder, expected a JSONL file")
    if not os.access(path, os.R_OK):
        raise ConfigError(f"--input-file: {config.input_file}: not readable")


def _validate_images(config: ProfileConfig) -> None:
    """Image options and image-endpoint inputs that can be checked before anything is loaded."""
    if config.request_content_type == "multipart/form-data" and config.endpoint_type != "image_edit":
        raise ConfigError(f"--request-content-type: multipart/form-data is only supported by image_edit "
                          f"(endpoint type {config.endpoint_type} sends application/json)")
    if (config.image_width_mean > 0) != (config.image_height_mean > 0):
        raise ConfigError("--image-width-mean/--image-height-mean: give both (synthetic images need a width and a "
                          f"height; got {config.image_width_mean:g} x {config.image_height_mean:g})")
    if config.image_format != "png" and config.synthetic_images.enabled:
        from aiperf.inputs.input_images import jpeg_available

        if not jpeg_available():
            raise ConfigError(f"--image-format: {config.image_format}: JPEG is not available in this build "
                              "(the engine has no JPEG encoder); use --image-format png")
    if config.endpoint_type in ("image_generation", "image_edit") and "size" in config.extra_body:
        from aiperf.inputs.input_images import ImageError, parse_size

        try:
            parse_size(config.extra_body["size"])
        except ImageError as e:
            raise ConfigError(f"--extra-inputs: size: {e}") from None
    if config.image_batch_size == 0 and config.endpoint_type == "image_edit" and not config.input_file:
        raise ConfigError("--image-batch-size: image_edit needs at least 1 reference image per request")
    if config.endpoint_type == "image_edit" and not config.input_file and not config.synthetic_images.enabled:
        raise ConfigError("--image-width-mean/--image-height-mean: image_edit needs a reference image per request: "
                          "give synthetic sizes (e.g. --image-width-mean 512 --image-height-mean 512) or an "
                          "--input-file whose lines have an 'image'")


def _headers(config: ProfileConfig) -> dict[str, str]:
    """--header values, plus the bearer token of --api-key."""
    headers = parse_headers(config.header)
    if config.api_key is not None:
        if not config.api_key or any(c in config.api_key for c in "\r\n"):
            raise ConfigError("--api-key: empty or contains a line break")
        headers.setdefault("Authorization", f"Bearer {config.api_key}")
    return headers
