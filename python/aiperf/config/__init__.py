"""Profile configuration: one table of options drives the CLI parser, the Python API and validation.

Option names, aliases and defaults follow NVIDIA AIPerf (see docs/options.md). Validation happens here, before the
tokenizer, the dataset or the engine are touched, and every error names the option it is about.
"""
from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiperf.errors import ConfigError

if TYPE_CHECKING:
    from aiperf.inputs.input_images import SyntheticImageSpec


@dataclass(frozen=True)
class Option:
    dest: str  # Python name (aiperf.profile keyword) and ProfileConfig field
    flags: tuple[str, ...]  # CLI flags, the first is the canonical one
    help: str
    group: str
    kind: str = "value"  # "value", "flag" (store_true) or "list" (repeatable; values may also be comma/space lists)
    type: Callable[[str], Any] = str
    choices: tuple[str, ...] | None = None
    metavar: str | None = None


OPEN_LOOP_MAX_IN_FLIGHT = 100_000  # --request-rate without --concurrency: no practical cap


def _positive_float_or_inf(text: str) -> float:
    return float("inf") if text.strip().lower() in ("inf", "infinity") else float(text)


ENDPOINT_TYPES = ("chat", "completions", "embeddings", "image_generation", "image_edit")
CONTENT_TYPES = ("application/json", "multipart/form-data")
IMAGE_FORMATS = ("png", "jpeg", "random")
EXPORT_LEVELS = ("summary", "records", "raw")
UI_TYPES = ("dashboard", "simple", "none")
DATASET_TYPES = ("single_turn", "multi_turn", "random_pool", "mooncake_trace")
ARRIVAL_PATTERNS = ("constant", "poisson", "gamma", "concurrency_burst")
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "NOTICE", "WARNING", "SUCCESS", "ERROR", "CRITICAL")

OPTIONS: tuple[Option, ...] = (
    # Endpoint
    Option("model", ("--model", "-m", "--model-names"), "Model name(s) to benchmark (comma-separated or repeated).",
           "Endpoint", kind="list"),
    Option("url", ("--url", "-u"), "Server base URL: host:port or http(s)://host:port[/prefix]. Default localhost:8000.",
           "Endpoint"),
    Option("endpoint_type", ("--endpoint-type",), "Endpoint type.", "Endpoint", choices=ENDPOINT_TYPES),
    Option("endpoint", ("--endpoint", "--custom-endpoint"), "Path overriding the endpoint type's default path.",
           "Endpoint"),
    Option("streaming", ("--streaming",), "Stream responses (SSE); needed for TTFT, ITL.", "Endpoint", kind="flag"),
    Option("api_key", ("--api-key",), "API key sent as 'Authorization: Bearer <key>'.", "Endpoint"),
    Option("header", ("--header", "-H"), "Extra header 'Name:Value' (repeatable).", "Endpoint", kind="list"),
    Option("extra_inputs", ("--extra-inputs",), "Extra body field 'key:value' or a JSON object (repeatable); values "
           "keep their JSON type (4 -> number, true -> boolean).", "Endpoint", kind="list"),
    Option("request_timeout_seconds", ("--request-timeout-seconds",), "Per-request timeout, connect included.",
           "Endpoint", type=float),
    Option("max_response_bytes", ("--max-response-bytes",), "Largest response body accepted per request; a larger "
           "one is cut off and recorded as a ResponseTooLarge error (0 = no limit).", "Endpoint", type=int),
    Option("request_content_type", ("--request-content-type",), "Request body encoding (default: multipart/form-data "
           "for image_edit, application/json otherwise).", "Endpoint", choices=CONTENT_TYPES),
    Option("use_legacy_max_tokens", ("--use-legacy-max-tokens",), "Send max_tokens instead of max_completion_tokens "
           "(chat).", "Endpoint", kind="flag"),
    Option("kernel_timestamps", ("--kernel-timestamps",), "Time response bytes by when the kernel received them "
           "(SO_TIMESTAMPNS), not when the client got to them: keeps TTFT/ITL exact when many streams deliver at "
           "once, for one more system call per socket read. auto: on when streaming.", "Endpoint",
           choices=("auto", "on", "off")),
    Option("use_server_token_count", ("--use-server-token-count",), "Take token counts (ISL, OSL, reasoning) from "
           "each response's usage instead of the tokenizer (streams ask for it with stream_options.include_usage).",
           "Endpoint", kind="flag"),
    Option("no_ssl_verify", ("--no-ssl-verify",), "https: do not check the server's TLS certificate and host name "
           "(self-signed test servers; the traffic can then be intercepted).", "Endpoint", kind="flag"),
    # Tokenizer
    Option("tokenizer", ("--tokenizer",), "Tokenizer: HF name, local folder or file (default: the model name). "
           "'gpt2' works offline after `make tokenizer-assets`.", "Tokenizer"),
    Option("tokenizer_revision", ("--tokenizer-revision",), "Tokenizer revision on the hub.", "Tokenizer"),
    Option("tokenizer_trust_remote_code", ("--tokenizer-trust-remote-code",), "Allow custom tokenizer code.",
           "Tokenizer", kind="flag"),
    # Input
    Option("input_file", ("--input-file",), "JSONL input file (see --custom-dataset-type).", "Input"),
    Option("custom_dataset_type", ("--custom-dataset-type",), "Type of --input-file.", "Input", choices=DATASET_TYPES),
    Option("random_seed", ("--random-seed",), "Seed for synthetic data (reproducible runs).", "Input", type=int),
    Option("synthetic_input_tokens_mean", ("--prompt-input-tokens-mean", "--synthetic-input-tokens-mean", "--isl"),
           "Mean input tokens of synthetic prompts.", "Input", type=int),
    Option("synthetic_input_tokens_stddev", ("--prompt-input-tokens-stddev", "--synthetic-input-tokens-stddev",
           "--isl-stddev"), "Stddev of input tokens of synthetic prompts.", "Input", type=float),
    Option("output_tokens_mean", ("--prompt-output-tokens-mean", "--output-tokens-mean", "--osl"),
           "Mean requested output tokens (sent as max_completion_tokens / max_tokens).", "Input", type=int),
    Option("output_tokens_stddev", ("--prompt-output-tokens-stddev", "--output-tokens-stddev", "--osl-stddev"),
           "Stddev of requested output tokens.", "Input", type=float),
    Option("prompt_batch_size", ("--prompt-batch-size", "-b", "--batch-size-text", "--batch-size"),
           "Texts per request (embeddings).", "Input", type=int),
    Option("num_dataset_entries", ("--num-dataset-entries", "--num-prompts"), "Distinct synthetic prompts.",
           "Input", type=int),
    # Conversations
    Option("conversation_num", ("--conversation-num", "--num-conversations", "--num-sessions"),
           "Conversations (sessions) to run; with multi-turn datasets this, not --request-count, sets the run's "
           "length.", "Conversations", type=int),
    Option("conversation_turn_mean", ("--conversation-turn-mean", "--session-turns-mean"),
           "Mean turns per synthetic conversation.", "Conversations", type=int),
    Option("conversation_turn_stddev", ("--conversation-turn-stddev", "--session-turns-stddev"),
           "Stddev of turns per synthetic conversation.", "Conversations", type=int),
    Option("conversation_turn_delay_mean", ("--conversation-turn-delay-mean", "--session-turn-delay-mean"),
           "Mean think time in ms before each turn after the first (from the previous turn's end).",
           "Conversations", type=float),
    Option("conversation_turn_delay_stddev", ("--conversation-turn-delay-stddev", "--session-turn-delay-stddev"),
           "Stddev of the think time in ms.", "Conversations", type=float),
    Option("conversation_turn_delay_ratio", ("--conversation-turn-delay-ratio", "--session-delay-ratio"),
           "Multiplier applied to every turn delay (synthetic and from input files).", "Conversations",
           type=float),
    # Images
    Option("image_width_mean", ("--image-width-mean",), "Mean width in pixels of synthetic images (images are off "
           "while the width and height means are 0).", "Images", type=float),
    Option("image_width_stddev", ("--image-width-stddev",), "Stddev of the width of synthetic images.", "Images",
           type=float),
    Option("image_height_mean", ("--image-height-mean",), "Mean height in pixels of synthetic images.", "Images",
           type=float),
    Option("image_height_stddev", ("--image-height-stddev",), "Stddev of the height of synthetic images.", "Images",
           type=float),
    Option("image_batch_size", ("--image-batch-size", "--batch-size-image"), "Synthetic images per request (chat: "
           "image parts; image_edit: reference images).", "Images", type=int),
    Option("image_format", ("--image-format",), "Encoding of synthetic images (jpeg needs an engine built with a "
           "JPEG encoder).", "Images", choices=IMAGE_FORMATS),
    # Load
    Option("concurrency", ("--concurrency",), "Requests kept in flight (closed loop).", "Load", type=int),
    Option("request_count", ("--request-count", "--num-requests"), "Profiling requests to send "
           "(default max(10, 2 x concurrency) unless --benchmark-duration).", "Load", type=int),
    Option("warmup_request_count", ("--warmup-request-count", "--num-warmup-requests"),
           "Warm-up requests sent first and excluded from metrics.", "Load", type=int),
    Option("warmup_duration", ("--warmup-duration",), "Warm-up by time: seconds of requests sent first and "
           "excluded from metrics (with --warmup-request-count, whichever ends first).", "Load", type=float),
    Option("request_rate", ("--request-rate",), "Open loop: requests (conversations) started per second on a "
           "schedule computed up front; --concurrency then caps requests in flight.", "Load", type=float),
    Option("arrival_pattern", ("--arrival-pattern", "--request-rate-mode"), "Inter-arrival times of "
           "--request-rate: constant, poisson (default) or gamma; concurrency_burst: no rate, as fast as "
           "--concurrency allows (what a run without --request-rate does).", "Load", choices=ARRIVAL_PATTERNS),
    Option("arrival_smoothness", ("--arrival-smoothness", "--vllm-burstiness"), "Gamma shape for --request-rate "
           "(< 1 burstier, > 1 smoother than poisson); selects the gamma pattern.", "Load", type=float),
    Option("request_rate_ramp_duration", ("--request-rate-ramp-duration",), "Seconds over which --request-rate "
           "ramps up linearly from rate x 0.1 s / ramp to its target (each phase), keeping the arrival pattern.",
           "Load", type=float),
    Option("concurrency_ramp_duration", ("--concurrency-ramp-duration",), "Seconds over which the sessions (or, "
           "with --request-rate, requests) in flight ramp from 1 to --concurrency, one more at even intervals "
           "(each phase).", "Load", type=float),
    Option("fixed_schedule", ("--fixed-schedule",), "Replay the input file's 'timestamp' (ms) of each request.",
           "Load", kind="flag"),
    Option("fixed_schedule_auto_offset", ("--fixed-schedule-auto-offset",), "Shift the schedule so the first "
           "timestamp is sent at once.", "Load", kind="flag"),
    Option("fixed_schedule_start_offset", ("--fixed-schedule-start-offset",), "Replay only timestamps >= this "
           "(ms); the schedule starts there.", "Load", type=int),
    Option("fixed_schedule_end_offset", ("--fixed-schedule-end-offset",), "Replay only timestamps <= this (ms).",
           "Load", type=int),
    Option("request_cancellation_rate", ("--request-cancellation-rate",), "Percent (0-100] of requests "
           "cancelled after --request-cancellation-delay; recorded as cancelled.", "Load", type=float),
    Option("request_cancellation_delay", ("--request-cancellation-delay",), "Seconds after a request starts "
           "before it is cancelled (with --request-cancellation-rate).", "Load", type=float),
    Option("benchmark_duration", ("--benchmark-duration",), "Stop sending after this many seconds.", "Load",
           type=float),
    Option("benchmark_grace_period", ("--benchmark-grace-period",), "Seconds to wait for in-flight requests after "
           "--benchmark-duration ('inf' allowed).", "Load", type=_positive_float_or_inf),
    Option("workers_max", ("--workers-max", "--max-workers"), "Engine event-loop threads (default: from cores and "
           "load).", "Load", type=int),
    Option("goodput", ("--goodput",), "SLOs 'metric:value ...' in display units, e.g. "
           "'time_to_first_token:200 inter_token_latency:20'.", "Load"),
    # Distributed (issue 8, docs/distributed.md): one engine per Ray worker, results merged on this machine
    Option("ray_address", ("--ray-address",), "Run the load from a Ray cluster: 'auto' (the cluster this machine "
           "belongs to), HOST:PORT of its head, or ray://HOST:PORT; needs pip install 'aiperf[ray]'.",
           "Distributed"),
    Option("ray_workers", ("--ray-workers",), "Ray workers (engines) sharing the load, each with --workers-max "
           "loop threads; default 2 with --ray-address.", "Distributed", type=int),
    # Output
    Option("artifact_dir", ("--artifact-dir", "--output-artifact-dir"), "Artifact folder (default "
           "artifacts/<model>-openai-<endpoint_type>-<stimulus>).", "Output"),
    Option("export_level", ("--export-level", "--profile-export-level"), "summary | records | raw.", "Output",
           choices=EXPORT_LEVELS),
    Option("slice_duration", ("--slice-duration",), "Seconds per time slice: per-slice metrics in "
           "profile_export_aiperf_timeslices.{json,csv}, and the width of the profile_export_timeline buckets.",
           "Output", type=float),
    Option("ui_type", ("--ui-type", "--ui"), "Progress display (default simple on a terminal, else none).", "Output",
           choices=UI_TYPES),
    Option("log_level", ("--log-level",), "Log level.", "Output", type=str.upper, choices=LOG_LEVELS),
    Option("verbose", ("--verbose", "-v"), "Debug logging.", "Output", kind="flag"),
)

OPTIONS_BY_DEST: dict[str, Option] = {o.dest: o for o in OPTIONS}


def _python_aliases() -> dict[str, str]:
    """Every flag spelled as a Python name maps to its option: aiperf.profile(isl=100) works like --isl 100."""
    aliases: dict[str, str] = {}
    for option in OPTIONS:
        for flag in option.flags:
            if flag.startswith("--"):
                aliases[flag[2:].replace("-", "_")] = option.dest
    return aliases


PYTHON_ALIASES = _python_aliases()


@dataclass
class ProfileConfig:
    """A validated `aiperf profile` configuration (Python names of the CLI options)."""

    model: list[str] = field(default_factory=list)
    url: str = "localhost:8000"
    endpoint_type: str = "chat"
    endpoint: str | None = None
    streaming: bool = False
    api_key: str | None = None
    header: list[str] = field(default_factory=list)
    extra_inputs: list[str] = field(default_factory=list)
    request_timeout_seconds: float = 21600.0
    max_response_bytes: int = 256 * 1024 * 1024
    request_content_type: str | None = None
    use_legacy_max_tokens: bool = False
    use_server_token_count: bool = False
    kernel_timestamps: str = "auto"
    no_ssl_verify: bool = False
    tokenizer: str | None = None
    tokenizer_revision: str = "main"
    tokenizer_trust_remote_code: bool = False
    input_file: str | None = None
    custom_dataset_type: str | None = None
    random_seed: int | None = None
    synthetic_input_tokens_mean: int = 550
    synthetic_input_tokens_stddev: float = 0.0
    output_tokens_mean: int | None = None
    output_tokens_stddev: float = 0.0
    prompt_batch_size: int = 1
    num_dataset_entries: int = 100
    conversation_num: int | None = None
    conversation_turn_mean: int = 1
    conversation_turn_stddev: int = 0
    conversation_turn_delay_mean: float = 0.0
    conversation_turn_delay_stddev: float = 0.0
    conversation_turn_delay_ratio: float = 1.0
    image_width_mean: float = 0.0
    image_width_stddev: float = 0.0
    image_height_mean: float = 0.0
    image_height_stddev: float = 0.0
    image_batch_size: int = 1
    image_format: str = "png"
    concurrency: int | None = None
    request_count: int | None = None
    warmup_request_count: int = 0
    warmup_duration: float | None = None
    request_rate: float | None = None
    arrival_pattern: str = "poisson"
    arrival_smoothness: float | None = None
    request_rate_ramp_duration: float | None = None
    concurrency_ramp_duration: float | None = None
    fixed_schedule: bool = False
    fixed_schedule_auto_offset: bool = False
    fixed_schedule_start_offset: int | None = None
    fixed_schedule_end_offset: int | None = None
    request_cancellation_rate: float | None = None
    request_cancellation_delay: float = 0.0
    benchmark_duration: float | None = None
    benchmark_grace_period: float = 30.0
    workers_max: int | None = None
    goodput: str | None = None
    ray_address: str | None = None
    ray_workers: int | None = None
    artifact_dir: str | None = None
    export_level: str = "records"
    slice_duration: float | None = None
    ui_type: str | None = None
    log_level: str = "INFO"
    verbose: bool = False
    # Filled by validate(): values derived from the options above.
    extra_body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    goodput_slos: dict[str, float] = field(default_factory=dict)
    cli_command: str | None = None

    # ---- derived values ---------------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        url = self.url.strip().rstrip("/")
        scheme, sep, rest = url.partition("://")
        return f"{scheme.lower()}://{rest}" if sep else f"http://{url}"

    @property
    def endpoint_path(self) -> str:
        from aiperf.inputs.endpoints import get_endpoint

        path = self.endpoint or get_endpoint(self.endpoint_type).path
        return path if path.startswith("/") else f"/{path}"

    @property
    def full_url(self) -> str:
        return self.base_url + self.endpoint_path

    @property
    def effective_request_content_type(self) -> str:
        if self.request_content_type is not None:
            return self.request_content_type
        return "multipart/form-data" if self.endpoint_type == "image_edit" else "application/json"

    @property
    def synthetic_images(self) -> SyntheticImageSpec:
        from aiperf.inputs.input_images import SyntheticImageSpec

        return SyntheticImageSpec(self.image_width_mean, self.image_width_stddev, self.image_height_mean,
                                  self.image_height_stddev, self.image_batch_size, self.image_format)

    @property
    def open_loop(self) -> bool:
        """Requests are sent on a schedule (--request-rate, --fixed-schedule), not whenever one ends."""
        return self.request_rate is not None or self.fixed_schedule

    @property
    def effective_concurrency(self) -> int:
        """Closed loop: sessions in flight. Open loop: the cap on requests in flight (none given: effectively
        unlimited; the engine adds connections as the schedule needs them)."""
        if self.concurrency is not None:
            return self.concurrency
        return OPEN_LOOP_MAX_IN_FLIGHT if self.open_loop else 1

    @property
    def effective_request_count(self) -> int:
        """Profiling sessions (a single-turn request is a session of one turn); 0 means bounded by
        --benchmark-duration only (or, with --fixed-schedule, by the schedule's length)."""
        if self.conversation_num is not None:
            return self.conversation_num
        if self.request_count is not None:
            return self.request_count
        if self.benchmark_duration is not None or self.fixed_schedule:
            return 0
        return max(10, 2 * (self.concurrency or 1))  # AIPerf's default, in closed and open loop

    @property
    def effective_arrival_pattern(self) -> str:
        return "gamma" if self.arrival_smoothness is not None else self.arrival_pattern

    @property
    def tokenizer_name(self) -> str:
        return self.tokenizer or self.model[0]

    @property
    def effective_ui_type(self) -> str:
        if self.ui_type is not None:
            return "simple" if self.ui_type == "dashboard" else self.ui_type
        return "simple" if sys.stderr.isatty() else "none"

    @property
    def num_threads(self) -> int:
        if self.workers_max is not None:
            return self.workers_max
        # One loop thread drives thousands of connections; a second helps only at high concurrency.
        cores = os.cpu_count() or 1
        load = (int(self.request_rate // 2000) if self.request_rate else 0) if self.open_loop \
            else self.effective_concurrency // 256
        return max(1, min(cores - 1, load, 32)) if cores > 2 else 1

    @property
    def secret_values(self) -> tuple[str, ...]:
        """The API key, secret header values and URL password: replaced wherever the run writes text."""
        from aiperf.redaction import secret_values

        return secret_values(self.api_key, self.headers, self.url)

    def to_dict(self, *, redact: bool = True) -> dict[str, Any]:
        """The resolved config for exports; secrets redacted."""
        from aiperf.redaction import REDACTED, redact_header_value, redact_text, redact_url

        secrets = self.secret_values
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "api_key" and value and redact:
                value = REDACTED
            elif f.name == "headers" and redact:
                value = {k: redact_header_value(k, v) for k, v in value.items()}
            elif f.name == "header" and redact:
                value = [redact_text(_redact_header_arg(h), secrets) for h in value]
            elif f.name in ("url", "cli_command") and value and redact:
                value = redact_text(redact_url(value), secrets)
            out[f.name] = value
        out["base_url"] = redact_url(self.base_url) if redact else self.base_url
        out["endpoint_path"] = self.endpoint_path
        out["request_count_resolved"] = self.effective_request_count
        out["concurrency_resolved"] = self.effective_concurrency
        return out


def _redact_header_arg(text: str) -> str:
    from aiperf.redaction import redact_header_value

    name, sep, value = text.partition(":")
    return f"{name}{sep}{redact_header_value(name.strip(), value)}" if sep else text


# ---- parsing helpers shared by CLI and API ---------------------------------------------------------------------
def split_list(values: list[str] | str | None) -> list[str]:
    """A list option may be repeated or given as a comma-separated value (--model a,b)."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for v in values:
        out.extend(part.strip() for part in str(v).split(",") if part.strip())
    return out


def parse_json_scalar(text: str) -> Any:
    """'4' -> 4, 'true' -> True, '1.5' -> 1.5, '{"a":1}' -> dict, anything else stays a string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _key_value_items(items: list[str], flag: str, *, echo: bool = True) -> list[tuple[str, Any, bool]]:
    """Items given as 'key:value' or as a JSON object, in order: (key, value, value_came_from_json).
    With echo=False an error names the item by position only (a header may hold a credential)."""
    pairs: list[tuple[str, Any, bool]] = []
    for number, item in enumerate(items, 1):
        shown = repr(item) if echo else f"value {number}"
        text = item.strip()
        if text.startswith("{"):
            try:
                obj = json.loads(text)
            except ValueError as e:
                raise ConfigError(f"{flag}: {shown} is not valid JSON ({e})") from None
            if not isinstance(obj, dict):
                raise ConfigError(f"{flag}: {shown} must be a JSON object")
            pairs.extend((str(k), v, True) for k, v in obj.items())
            continue
        key, sep, value = text.partition(":")
        if not sep or not key.strip():
            raise ConfigError(f"{flag}: {shown} is not 'key:value' or a JSON object")
        pairs.append((key.strip(), value.strip(), False))
    return pairs


def parse_extra_inputs(items: list[str]) -> dict[str, Any]:
    return {key: value if from_json else parse_json_scalar(value)
            for key, value, from_json in _key_value_items(items, "--extra-inputs")}


def parse_headers(items: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value, _ in _key_value_items(items, "--header", echo=False):
        value = str(value)
        if any(c in name for c in " \t\r\n"):
            raise ConfigError(f"--header: {name!r} is not a valid header name")
        if "\r" in value or "\n" in value:
            raise ConfigError(f"--header: {name!r} has a line break in its value")
        headers[name] = value
    return headers


def parse_goodput(text: str | None) -> dict[str, float]:
    if not text:
        return {}
    from aiperf.results.metrics import METRICS

    slos: dict[str, float] = {}
    for item in text.replace(",", " ").split():
        tag, sep, value = item.partition(":")
        if not sep:
            raise ConfigError(f"--goodput: {item!r} is not 'metric:value'")
        if tag not in METRICS:
            raise ConfigError(f"--goodput: unknown metric {tag!r}")
        try:
            slos[tag] = float(value)
        except ValueError:
            raise ConfigError(f"--goodput: {item!r}: value {value!r} is not a number") from None
    return slos


def make_config(**options: Any) -> ProfileConfig:
    """Build and validate a config from Python keyword options (aliases allowed: isl=..., num_requests=...)."""
    config = ProfileConfig()
    for name, value in options.items():
        dest = name if name in OPTIONS_BY_DEST else PYTHON_ALIASES.get(name)
        if dest is None:
            raise ConfigError(f"unknown option {name!r} (see `aiperf profile --help`)")
        if value is None:
            continue
        option = OPTIONS_BY_DEST[dest]
        if option.kind == "list":
            value = [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]
        elif isinstance(value, Path):
            value = str(value)
        setattr(config, dest, value)
    return validate(config)


def validate(config: ProfileConfig) -> ProfileConfig:
    """Check every option and combination; fill the derived fields. Raises ConfigError naming the option."""
    from aiperf.inputs.endpoints import ENDPOINTS

    config.model = split_list(config.model)
    if not config.model:
        raise ConfigError("--model: required (the model name sent in every request)")
    if config.endpoint_type not in ENDPOINTS:
        raise ConfigError(f"--endpoint-type: unknown endpoint type {config.endpoint_type!r} "
                          f"(choose from {', '.join(sorted(ENDPOINTS))})")
    _validate_url(config.url)
    if config.endpoint is not None and not config.endpoint.strip():
        raise ConfigError("--endpoint: empty path")

    def positive(dest: str, value: float | None, *, allow_zero: bool = False, allow_inf: bool = False) -> None:
        if value is None:
            return
        flag = OPTIONS_BY_DEST[dest].flags[0]
        if math.isnan(value) or (math.isinf(value) and not allow_inf):
            raise ConfigError(f"{flag}: must be a finite number (got {value})")
        bad = value < 0 if allow_zero else value <= 0
        if bad:
            raise ConfigError(f"{flag}: must be {'>= 0' if allow_zero else '> 0'} (got {value})")

    positive("concurrency", config.concurrency)
    positive("request_count", config.request_count)
    positive("warmup_request_count", config.warmup_request_count, allow_zero=True)
    positive("benchmark_duration", config.benchmark_duration)
    positive("benchmark_grace_period", config.benchmark_grace_period, allow_zero=True, allow_inf=True)
    positive("request_timeout_seconds", config.request_timeout_seconds)
    positive("max_response_bytes", config.max_response_bytes, allow_zero=True)
    positive("synthetic_input_tokens_mean", config.synthetic_input_tokens_mean)
    positive("synthetic_input_tokens_stddev", config.synthetic_input_tokens_stddev, allow_zero=True)
    positive("output_tokens_mean", config.output_tokens_mean)
    positive("output_tokens_stddev", config.output_tokens_stddev, allow_zero=True)
    positive("prompt_batch_size", config.prompt_batch_size)
    positive("num_dataset_entries", config.num_dataset_entries)
    positive("workers_max", config.workers_max)
    positive("request_rate_ramp_duration", config.request_rate_ramp_duration)
    positive("concurrency_ramp_duration", config.concurrency_ramp_duration)
    positive("slice_duration", config.slice_duration)
    if (config.custom_dataset_type == "mooncake_trace" and config.request_rate is None
            and config.concurrency is None):
        config.fixed_schedule = True  # a timestamped trace replays its timestamps unless a load is given
    _validate_load(config)
    if config.workers_max is not None and config.workers_max > 256:
        raise ConfigError(f"--workers-max: at most 256 (got {config.workers_max})")
    _validate_distributed(config)
    if config.custom_dataset_type and not config.input_file:
        raise ConfigError("--custom-dataset-type: needs --input-file")
    if config.input_file:
        path = Path(config.input_file)
        if not path.exists():
            raise ConfigError(f"--input-file: {config.input_file}: no such file")
        if path.is_dir():
            raise ConfigError(f"--input-file: {config.input_file}: is a folder, expected a JSONL file")
        if not os.access(path, os.R_OK):
            raise ConfigError(f"--input-file: {config.input_file}: not readable")
    for dest in ("image_width_mean", "image_width_stddev", "image_height_mean", "image_height_stddev",
                 "image_batch_size"):
        positive(dest, getattr(config, dest), allow_zero=True)
    for dest, choices in (("export_level", EXPORT_LEVELS), ("ui_type", UI_TYPES),
                          ("custom_dataset_type", DATASET_TYPES), ("request_content_type", CONTENT_TYPES),
                          ("image_format", IMAGE_FORMATS)):
        value = getattr(config, dest)
        if value is not None and value not in choices:
            raise ConfigError(f"{OPTIONS_BY_DEST[dest].flags[0]}: {value!r} is not one of {', '.join(choices)}")
    config.log_level = "DEBUG" if config.verbose else config.log_level.upper()
    if config.log_level not in LOG_LEVELS:
        raise ConfigError(f"--log-level: {config.log_level!r} is not one of {', '.join(LOG_LEVELS)}")
    config.extra_body = parse_extra_inputs(config.extra_inputs)
    _validate_images(config)
    config.headers = parse_headers(config.header)
    if config.api_key is not None:
        if not config.api_key or any(c in config.api_key for c in "\r\n"):
            raise ConfigError("--api-key: empty or contains a line break")
        config.headers.setdefault("Authorization", f"Bearer {config.api_key}")
    config.goodput_slos = parse_goodput(config.goodput)
    return config


def _ray_installed() -> bool:
    """Whether `import ray` can work, without importing it (that takes a second)."""
    import importlib.util

    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):  # ValueError: a None entry in sys.modules (import blocked)
        return False


def _validate_distributed(config: ProfileConfig) -> None:
    """--ray-address/--ray-workers: the shape of the split is checked here; Ray itself when the run starts."""
    if config.ray_workers is not None:
        if config.ray_address is None:
            raise ConfigError("--ray-workers: needs --ray-address (the Ray cluster to run the workers on)")
        if config.ray_workers < 1 or config.ray_workers > 1024:
            raise ConfigError(f"--ray-workers: must be between 1 and 1024 (got {config.ray_workers})")
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


def _validate_load(config: ProfileConfig) -> None:
    """Load-mode options: rates, schedules, conversations, warm-up and cancellation."""

    def flag(dest: str) -> str:
        return OPTIONS_BY_DEST[dest].flags[0]

    def finite(dest: str, *, minimum: float, inclusive: bool = True) -> None:
        value = getattr(config, dest)
        if value is None:
            return
        if not math.isfinite(value) or (value < minimum if inclusive else value <= minimum):
            raise ConfigError(f"{flag(dest)}: must be a number {'>=' if inclusive else '>'} {minimum:g} "
                              f"(got {value})")

    finite("request_rate", minimum=0, inclusive=False)
    finite("arrival_smoothness", minimum=0, inclusive=False)
    finite("warmup_duration", minimum=0, inclusive=False)
    finite("request_cancellation_delay", minimum=0)
    finite("conversation_turn_delay_mean", minimum=0)
    finite("conversation_turn_delay_stddev", minimum=0)
    finite("conversation_turn_delay_ratio", minimum=0)
    if config.arrival_pattern not in ARRIVAL_PATTERNS:
        raise ConfigError(f"--arrival-pattern: {config.arrival_pattern!r} is not one of "
                          f"{', '.join(ARRIVAL_PATTERNS)}")
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
    rate = config.request_cancellation_rate
    if rate is not None and not (math.isfinite(rate) and 0 < rate <= 100):
        raise ConfigError(f"--request-cancellation-rate: must be a percentage in (0, 100] (got {rate})")
    if config.conversation_num is not None and config.conversation_num <= 0:
        raise ConfigError(f"--conversation-num: must be > 0 (got {config.conversation_num})")
    if config.conversation_turn_mean < 1:
        raise ConfigError(f"--conversation-turn-mean: must be >= 1 (got {config.conversation_turn_mean})")
    if config.conversation_turn_stddev < 0:
        raise ConfigError(f"--conversation-turn-stddev: must be >= 0 (got {config.conversation_turn_stddev})")
    if config.fixed_schedule:
        if config.request_rate is not None:
            raise ConfigError("--fixed-schedule: cannot be combined with --request-rate (the schedule comes from "
                              "the input file's timestamps)")
        if not config.input_file:
            raise ConfigError("--fixed-schedule: needs an --input-file whose lines carry 'timestamp' (ms)")
    elif (config.fixed_schedule_auto_offset or config.fixed_schedule_start_offset is not None
          or config.fixed_schedule_end_offset is not None):
        raise ConfigError("--fixed-schedule-auto-offset/--fixed-schedule-start-offset/--fixed-schedule-end-offset: "
                          "need --fixed-schedule")
    for dest in ("fixed_schedule_start_offset", "fixed_schedule_end_offset"):
        value = getattr(config, dest)
        if value is not None and value < 0:
            raise ConfigError(f"{flag(dest)}: must be >= 0 ms (got {value})")
    if (config.fixed_schedule_start_offset is not None and config.fixed_schedule_end_offset is not None
            and config.fixed_schedule_end_offset < config.fixed_schedule_start_offset):
        raise ConfigError(f"--fixed-schedule-end-offset: {config.fixed_schedule_end_offset} ms is before "
                          f"--fixed-schedule-start-offset {config.fixed_schedule_start_offset} ms")
    if config.fixed_schedule and config.fixed_schedule_auto_offset and config.fixed_schedule_start_offset is not None:
        raise ConfigError("--fixed-schedule-auto-offset: cannot be combined with --fixed-schedule-start-offset")


def _validate_images(config: ProfileConfig) -> None:
    """Image options and image-endpoint inputs that can be checked before anything is loaded."""
    image_endpoint = config.endpoint_type in ("image_generation", "image_edit")
    if config.request_content_type == "multipart/form-data" and config.endpoint_type != "image_edit":
        raise ConfigError(f"--request-content-type: multipart/form-data is only supported by image_edit "
                          f"(endpoint type {config.endpoint_type} sends application/json)")
    for dest in ("image_width_mean", "image_height_mean"):
        if getattr(config, dest) > 16384:
            raise ConfigError(f"{OPTIONS_BY_DEST[dest].flags[0]}: at most 16384 pixels (got {getattr(config, dest):g})")
    if (config.image_width_mean > 0) != (config.image_height_mean > 0):
        raise ConfigError("--image-width-mean/--image-height-mean: give both (synthetic images need a width and a "
                          f"height; got {config.image_width_mean:g} x {config.image_height_mean:g})")
    if config.image_format != "png" and config.synthetic_images.enabled:
        from aiperf.inputs.input_images import jpeg_available

        if not jpeg_available():
            raise ConfigError(f"--image-format: {config.image_format}: JPEG is not available in this build "
                              "(the engine has no JPEG encoder); use --image-format png")
    if image_endpoint and "size" in config.extra_body:
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


def _validate_url(url: str) -> None:
    from urllib.parse import urlsplit

    from aiperf.redaction import redact_url

    if not url or not url.strip():
        raise ConfigError("--url: empty")
    shown = repr(redact_url(url))
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url.strip()):
        raise ConfigError(f"--url: {shown}: contains a space or control character")
    full = url if "://" in url else f"http://{url}"
    parts = urlsplit(full)
    if parts.scheme not in ("http", "https"):
        raise ConfigError(f"--url: {shown}: only http:// and https:// are supported")
    try:
        port = parts.port
    except ValueError:
        raise ConfigError(f"--url: {shown}: invalid port") from None
    if not parts.hostname:
        raise ConfigError(f"--url: {shown}: no host")
    del port
