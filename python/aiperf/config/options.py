"""The `aiperf profile` options, each declared once: one field of `ProfileOptions` per option carries its type (the
annotation), default, flags, help, group, choices and bounds. The CLI parser, `aiperf.profile(**options)`,
docs/options.md and `validate()` all read `OPTIONS`, the rows built from these fields.

Names, aliases and defaults follow NVIDIA AIPerf. The choices of endpoint, dataset type and image format come from
the input modules that define them. Nothing here imports numpy or the engine (`aiperf --help` must stay fast).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, Literal, Protocol

from aiperf.inputs.dataset.types import DATASET_TYPES
from aiperf.inputs.endpoints import ENDPOINTS
from aiperf.inputs.input_images import IMAGE_FORMATS

__all__ = [
    "ARRIVAL_PATTERNS",
    "CONTENT_TYPES",
    "DATASET_TYPES",
    "ENDPOINT_TYPES",
    "EXPORT_LEVELS",
    "IMAGE_FORMATS",
    "KERNEL_TIMESTAMPS",
    "LOG_LEVELS",
    "OPEN_LOOP_MAX_IN_FLIGHT",
    "OPTIONS",
    "OPTIONS_BY_DEST",
    "PYTHON_ALIASES",
    "UI_TYPES",
    "AtLeast",
    "AtMost",
    "Check",
    "InRange",
    "NumberAtLeast",
    "Option",
    "ProfileOptions",
]

OPEN_LOOP_MAX_IN_FLIGHT = 100_000  # --request-rate without --concurrency: no practical cap

ENDPOINT_TYPES = tuple(ENDPOINTS)
CONTENT_TYPES = ("application/json", "multipart/form-data")
KERNEL_TIMESTAMPS = ("auto", "on", "off")
EXPORT_LEVELS = ("summary", "records", "raw")
UI_TYPES = ("dashboard", "simple", "none")
ARRIVAL_PATTERNS = ("constant", "poisson", "gamma", "concurrency_burst")
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "NOTICE", "WARNING", "SUCCESS", "ERROR", "CRITICAL")

ENDPOINT, TOKENIZER, INPUT, CONVERSATIONS, IMAGES, LOAD, DISTRIBUTED, OUTPUT = (
    "Endpoint", "Tokenizer", "Input", "Conversations", "Images", "Load", "Distributed", "Output")


# ---- bounds: each returns the problem with a value (the message after "--flag: "), or None ----------------------
class Check(Protocol):
    def problem(self, value: float) -> str | None: ...


def _shown(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class AtLeast:
    """value >= minimum (> with inclusive=False), and finite unless allow_inf."""

    minimum: float
    inclusive: bool = True
    allow_inf: bool = False
    unit: str = ""

    def _below(self, value: float) -> bool:
        return value < self.minimum if self.inclusive else value <= self.minimum

    @property
    def _relation(self) -> str:
        return f"{'>=' if self.inclusive else '>'} {self.minimum:g}"

    def problem(self, value: float) -> str | None:
        if math.isnan(value) or (math.isinf(value) and not self.allow_inf):
            return f"must be a finite number (got {value})"
        return f"must be {self._relation}{self.unit} (got {value})" if self._below(value) else None


@dataclass(frozen=True)
class NumberAtLeast(AtLeast):
    """AtLeast worded "must be a number > 0" (the load options' messages), one message for NaN and inf too."""

    def problem(self, value: float) -> str | None:
        bad = not math.isfinite(value) or self._below(value)
        return f"must be a number {self._relation} (got {value})" if bad else None


@dataclass(frozen=True)
class AtMost:
    maximum: float
    unit: str = ""

    def problem(self, value: float) -> str | None:
        return f"at most {self.maximum:g}{self.unit} (got {_shown(value)})" if value > self.maximum else None


@dataclass(frozen=True)
class InRange:
    """low <= value <= high (low < value with low_inclusive=False); `text` says the range in the message."""

    low: float
    high: float
    text: str
    low_inclusive: bool = True

    def problem(self, value: float) -> str | None:
        above_low = value >= self.low if self.low_inclusive else value > self.low
        inside = math.isfinite(value) and above_low and value <= self.high
        return None if inside else f"must be {self.text} (got {value})"


POSITIVE = AtLeast(0, inclusive=False)
NON_NEGATIVE = AtLeast(0)
POSITIVE_NUMBER = NumberAtLeast(0, inclusive=False)
NON_NEGATIVE_NUMBER = NumberAtLeast(0)
IMAGE_SIDE = AtMost(16384, unit=" pixels")  # the C++ PNG encoder's limit per side
PERCENTAGE = InRange(0, 100, low_inclusive=False, text="a percentage in (0, 100]")


def float_or_inf(text: str) -> float:
    return float("inf") if text.strip().lower() in ("inf", "infinity") else float(text)


# ---- rows -----------------------------------------------------------------------------------------------------
Kind = Literal["value", "flag", "list"]


@dataclass(frozen=True, kw_only=True)
class Option:
    """One option: what the CLI parser, the Python API, the docs and validate() know about it."""

    dest: str  # Python name (aiperf.profile keyword) and ProfileConfig field
    flags: tuple[str, ...]  # CLI flags, the first is the canonical one
    help: str
    group: str
    kind: Kind = "value"  # "value", "flag" (store_true) or "list" (repeatable; values may also be comma lists)
    type: Callable[[str], Any] = str  # parses the CLI text
    default: Any = None
    choices: tuple[str, ...] | None = None
    checks: tuple[Check, ...] = ()
    metavar: str | None = None


@dataclass(frozen=True, kw_only=True)
class _Declared:
    flags: tuple[str, ...]
    help: str
    group: str
    kind: Kind
    choices: tuple[str, ...] | None = None
    checks: tuple[Check, ...] = ()
    parse: Callable[[str], Any] | None = None
    metavar: str | None = None


_ROW = "aiperf.option"


def option(*flags: str, group: str, help: str, default: Any = None, choices: tuple[str, ...] | None = None,
           checks: tuple[Check, ...] = (), parse: Callable[[str], Any] | None = None,
           metavar: str | None = None) -> Any:
    """A field holding one value (its CLI type comes from the annotation unless `parse` is given)."""
    row = _Declared(flags=flags, help=help, group=group, kind="value", choices=choices, checks=checks, parse=parse,
                    metavar=metavar)
    return field(default=default, metadata={_ROW: row})


def flag(*flags: str, group: str, help: str) -> Any:
    """A boolean field set by a bare flag (store_true)."""
    return field(default=False, metadata={_ROW: _Declared(flags=flags, help=help, group=group, kind="flag")})


def option_list(*flags: str, group: str, help: str, metavar: str | None = None) -> Any:
    """A list field: the flag may be repeated, and each value may be a comma-separated list."""
    row = _Declared(flags=flags, help=help, group=group, kind="list", metavar=metavar)
    return field(default_factory=list, metadata={_ROW: row})


# option(), flag() and option_list() return dataclasses.field objects (RUF009 cannot tell).
@dataclass
class ProfileOptions:
    """The options as given; `ProfileConfig` adds the values derived from them."""

    # ---- Endpoint
    model: list[str] = option_list("--model", "-m", "--model-names", group=ENDPOINT,  # noqa: RUF009
        help="Model name(s) to benchmark (comma-separated or repeated).")
    url: str = option("--url", "-u", group=ENDPOINT, default="localhost:8000",
        help="Server base URL: host:port or http(s)://host:port[/prefix]. Default localhost:8000.")
    endpoint_type: str = option("--endpoint-type", group=ENDPOINT, default="chat", choices=ENDPOINT_TYPES,
        help="Endpoint type.")
    endpoint: str | None = option("--endpoint", "--custom-endpoint", group=ENDPOINT,
        help="Path overriding the endpoint type's default path.")
    streaming: bool = flag("--streaming", group=ENDPOINT, help="Stream responses (SSE); needed for TTFT, ITL.")
    api_key: str | None = option("--api-key", group=ENDPOINT, help="API key sent as 'Authorization: Bearer <key>'.")
    header: list[str] = option_list("--header", "-H", group=ENDPOINT,  # noqa: RUF009
        help="Extra header 'Name:Value' (repeatable).")
    extra_inputs: list[str] = option_list("--extra-inputs", group=ENDPOINT,  # noqa: RUF009
        help="Extra body field 'key:value' or a JSON object (repeatable); values keep their JSON type (4 -> number, "
             "true -> boolean).")
    request_timeout_seconds: float = option(
        "--request-timeout-seconds", group=ENDPOINT, default=21600.0, checks=(POSITIVE,),
        help="Per-request timeout, connect included.")
    max_response_bytes: int = option(
        "--max-response-bytes", group=ENDPOINT, default=256 * 1024 * 1024, checks=(NON_NEGATIVE,),
        help="Largest response body accepted per request; a larger one is cut off and recorded as a ResponseTooLarge "
             "error (0 = no limit).")
    request_content_type: str | None = option("--request-content-type", group=ENDPOINT, choices=CONTENT_TYPES,
        help="Request body encoding (default: multipart/form-data for image_edit, application/json otherwise).")
    use_legacy_max_tokens: bool = flag("--use-legacy-max-tokens", group=ENDPOINT,
        help="Send max_tokens instead of max_completion_tokens (chat).")
    kernel_timestamps: str = option("--kernel-timestamps", group=ENDPOINT, default="auto", choices=KERNEL_TIMESTAMPS,
        help="Time response bytes by when the kernel received them (SO_TIMESTAMPNS), not when the client got to them: "
             "keeps TTFT/ITL exact when many streams deliver at once, for one more system call per socket read. auto: "
             "on when streaming.")
    use_server_token_count: bool = flag("--use-server-token-count", group=ENDPOINT,
        help="Take token counts (ISL, OSL, reasoning) from each response's usage instead of the tokenizer (streams "
             "ask for it with stream_options.include_usage).")
    no_ssl_verify: bool = flag("--no-ssl-verify", group=ENDPOINT,
        help="https: do not check the server's TLS certificate and host name (self-signed test servers; the traffic "
             "can then be intercepted).")

    # ---- Tokenizer
    tokenizer: str | None = option("--tokenizer", group=TOKENIZER,
        help="Tokenizer: HF name, local folder or file (default: the model name). 'gpt2' works offline after `make "
             "tokenizer-assets`.")
    tokenizer_revision: str = option("--tokenizer-revision", group=TOKENIZER, default="main",
        help="Tokenizer revision on the hub.")
    tokenizer_trust_remote_code: bool = flag("--tokenizer-trust-remote-code", group=TOKENIZER,
        help="Allow custom tokenizer code.")

    # ---- Input
    input_file: str | None = option("--input-file", group=INPUT, help="JSONL input file (see --custom-dataset-type).")
    custom_dataset_type: str | None = option("--custom-dataset-type", group=INPUT, choices=DATASET_TYPES,
        help="Type of --input-file.")
    random_seed: int | None = option("--random-seed", group=INPUT, help="Seed for synthetic data (reproducible runs).")
    synthetic_input_tokens_mean: int = option(
        "--prompt-input-tokens-mean", "--synthetic-input-tokens-mean", "--isl",
        group=INPUT, default=550, checks=(POSITIVE,),
        help="Mean input tokens of synthetic prompts.")
    synthetic_input_tokens_stddev: float = option(
        "--prompt-input-tokens-stddev", "--synthetic-input-tokens-stddev", "--isl-stddev",
        group=INPUT, default=0.0, checks=(NON_NEGATIVE,),
        help="Stddev of input tokens of synthetic prompts.")
    output_tokens_mean: int | None = option(
        "--prompt-output-tokens-mean", "--output-tokens-mean", "--osl", group=INPUT, checks=(POSITIVE,),
        help="Mean requested output tokens (sent as max_completion_tokens / max_tokens).")
    output_tokens_stddev: float = option(
        "--prompt-output-tokens-stddev", "--output-tokens-stddev", "--osl-stddev",
        group=INPUT, default=0.0, checks=(NON_NEGATIVE,),
        help="Stddev of requested output tokens.")
    prompt_batch_size: int = option(
        "--prompt-batch-size", "-b", "--batch-size-text", "--batch-size", group=INPUT, default=1, checks=(POSITIVE,),
        help="Texts per request (embeddings).")
    num_dataset_entries: int = option(
        "--num-dataset-entries", "--num-prompts", group=INPUT, default=100, checks=(POSITIVE,),
        help="Distinct synthetic prompts.")

    # ---- Conversations
    conversation_num: int | None = option(
        "--conversation-num", "--num-conversations", "--num-sessions", group=CONVERSATIONS, checks=(POSITIVE,),
        help="Conversations (sessions) to run; with multi-turn datasets this, not --request-count, sets the run's "
             "length.")
    conversation_turn_mean: int = option(
        "--conversation-turn-mean", "--session-turns-mean", group=CONVERSATIONS, default=1, checks=(AtLeast(1),),
        help="Mean turns per synthetic conversation.")
    conversation_turn_stddev: int = option(
        "--conversation-turn-stddev", "--session-turns-stddev", group=CONVERSATIONS, default=0, checks=(NON_NEGATIVE,),
        help="Stddev of turns per synthetic conversation.")
    conversation_turn_delay_mean: float = option(
        "--conversation-turn-delay-mean", "--session-turn-delay-mean",
        group=CONVERSATIONS, default=0.0, checks=(NON_NEGATIVE_NUMBER,),
        help="Mean think time in ms before each turn after the first (from the previous turn's end).")
    conversation_turn_delay_stddev: float = option(
        "--conversation-turn-delay-stddev", "--session-turn-delay-stddev",
        group=CONVERSATIONS, default=0.0, checks=(NON_NEGATIVE_NUMBER,),
        help="Stddev of the think time in ms.")
    conversation_turn_delay_ratio: float = option(
        "--conversation-turn-delay-ratio", "--session-delay-ratio",
        group=CONVERSATIONS, default=1.0, checks=(NON_NEGATIVE_NUMBER,),
        help="Multiplier applied to every turn delay (synthetic and from input files).")

    # ---- Images
    image_width_mean: float = option("--image-width-mean", group=IMAGES, default=0.0, checks=(NON_NEGATIVE, IMAGE_SIDE),
        help="Mean width in pixels of synthetic images (images are off while the width and height means are 0).")
    image_width_stddev: float = option("--image-width-stddev", group=IMAGES, default=0.0, checks=(NON_NEGATIVE,),
        help="Stddev of the width of synthetic images.")
    image_height_mean: float = option(
        "--image-height-mean", group=IMAGES, default=0.0, checks=(NON_NEGATIVE, IMAGE_SIDE),
        help="Mean height in pixels of synthetic images.")
    image_height_stddev: float = option("--image-height-stddev", group=IMAGES, default=0.0, checks=(NON_NEGATIVE,),
        help="Stddev of the height of synthetic images.")
    image_batch_size: int = option(
        "--image-batch-size", "--batch-size-image", group=IMAGES, default=1, checks=(NON_NEGATIVE,),
        help="Synthetic images per request (chat: image parts; image_edit: reference images).")
    image_format: str = option("--image-format", group=IMAGES, default="png", choices=IMAGE_FORMATS,
        help="Encoding of synthetic images (jpeg needs an engine built with a JPEG encoder).")

    # ---- Load
    concurrency: int | None = option("--concurrency", group=LOAD, checks=(POSITIVE,),
        help="Requests kept in flight (closed loop).")
    request_count: int | None = option("--request-count", "--num-requests", group=LOAD, checks=(POSITIVE,),
        help="Profiling requests to send (default max(10, 2 x concurrency) unless --benchmark-duration).")
    warmup_request_count: int = option(
        "--warmup-request-count", "--num-warmup-requests", group=LOAD, default=0, checks=(NON_NEGATIVE,),
        help="Warm-up requests sent first and excluded from metrics.")
    warmup_duration: float | None = option("--warmup-duration", group=LOAD, checks=(POSITIVE_NUMBER,),
        help="Warm-up by time: seconds of requests sent first and excluded from metrics (with --warmup-request-count, "
             "whichever ends first).")
    request_rate: float | None = option("--request-rate", group=LOAD, checks=(POSITIVE_NUMBER,),
        help="Open loop: requests (conversations) started per second on a schedule computed up front; --concurrency "
             "then caps requests in flight.")
    arrival_pattern: str = option(
        "--arrival-pattern", "--request-rate-mode", group=LOAD, default="poisson", choices=ARRIVAL_PATTERNS,
        help="Inter-arrival times of --request-rate: constant, poisson (default) or gamma; concurrency_burst: no "
             "rate, as fast as --concurrency allows (what a run without --request-rate does).")
    arrival_smoothness: float | None = option(
        "--arrival-smoothness", "--vllm-burstiness", group=LOAD, checks=(POSITIVE_NUMBER,),
        help="Gamma shape for --request-rate (< 1 burstier, > 1 smoother than poisson); selects the gamma pattern.")
    request_rate_ramp_duration: float | None = option("--request-rate-ramp-duration", group=LOAD, checks=(POSITIVE,),
        help="Seconds over which --request-rate ramps up linearly from rate x 0.1 s / ramp to its target (each "
             "phase), keeping the arrival pattern.")
    concurrency_ramp_duration: float | None = option("--concurrency-ramp-duration", group=LOAD, checks=(POSITIVE,),
        help="Seconds over which the sessions (or, with --request-rate, requests) in flight ramp from 1 to "
             "--concurrency, one more at even intervals (each phase).")
    fixed_schedule: bool = flag("--fixed-schedule", group=LOAD,
        help="Replay the input file's 'timestamp' (ms) of each request.")
    fixed_schedule_auto_offset: bool = flag("--fixed-schedule-auto-offset", group=LOAD,
        help="Shift the schedule so the first timestamp is sent at once.")
    fixed_schedule_start_offset: int | None = option(
        "--fixed-schedule-start-offset", group=LOAD, checks=(AtLeast(0, unit=" ms"),),
        help="Replay only timestamps >= this (ms); the schedule starts there.")
    fixed_schedule_end_offset: int | None = option(
        "--fixed-schedule-end-offset", group=LOAD, checks=(AtLeast(0, unit=" ms"),),
        help="Replay only timestamps <= this (ms).")
    request_cancellation_rate: float | None = option(
        "--request-cancellation-rate", group=LOAD, checks=(PERCENTAGE,),
        help="Percent (0-100] of requests cancelled after --request-cancellation-delay; recorded as cancelled.")
    request_cancellation_delay: float = option(
        "--request-cancellation-delay", group=LOAD, default=0.0, checks=(NON_NEGATIVE_NUMBER,),
        help="Seconds after a request starts before it is cancelled (with --request-cancellation-rate).")
    benchmark_duration: float | None = option("--benchmark-duration", group=LOAD, checks=(POSITIVE,),
        help="Stop sending after this many seconds.")
    benchmark_grace_period: float = option(
        "--benchmark-grace-period", group=LOAD, default=30.0, checks=(AtLeast(0, allow_inf=True),), parse=float_or_inf,
        help="Seconds to wait for in-flight requests after --benchmark-duration ('inf' allowed).")
    workers_max: int | None = option("--workers-max", "--max-workers", group=LOAD, checks=(POSITIVE, AtMost(256)),
        help="Engine event-loop threads (default: from cores and load).")
    goodput: str | None = option("--goodput", group=LOAD,
        help="SLOs 'metric:value ...' in display units, e.g. 'time_to_first_token:200 inter_token_latency:20'.")

    # ---- Distributed
    ray_address: str | None = option("--ray-address", group=DISTRIBUTED,
        help="Run the load from a Ray cluster: 'auto' (the cluster this machine belongs to), HOST:PORT of its head, "
             "or ray://HOST:PORT; needs pip install 'aiperf[ray]'.")
    ray_workers: int | None = option(
        "--ray-workers", group=DISTRIBUTED, checks=(InRange(1, 1024, text="between 1 and 1024"),),
        help="Ray workers (engines) sharing the load, each with --workers-max loop threads; default 2 with "
             "--ray-address.")

    # ---- Output
    artifact_dir: str | None = option("--artifact-dir", "--output-artifact-dir", group=OUTPUT,
        help="Artifact folder (default artifacts/<model>-openai-<endpoint_type>-<stimulus>).")
    export_level: str = option(
        "--export-level", "--profile-export-level", group=OUTPUT, default="records", choices=EXPORT_LEVELS,
        help="summary | records | raw.")
    slice_duration: float | None = option("--slice-duration", group=OUTPUT, checks=(POSITIVE,),
        help="Seconds per time slice: per-slice metrics in profile_export_aiperf_timeslices.{json,csv}, and the width "
             "of the profile_export_timeline buckets.")
    ui_type: str | None = option("--ui-type", "--ui", group=OUTPUT, choices=UI_TYPES,
        help="Progress display (default simple on a terminal, else none).")
    log_level: str = option("--log-level", group=OUTPUT, default="INFO", choices=LOG_LEVELS, parse=str.upper,
        help="Log level.")
    verbose: bool = flag("--verbose", "-v", group=OUTPUT, help="Debug logging.")


_PARSERS: dict[str, Callable[[str], Any]] = {"int": int, "float": float, "str": str}
_ANNOTATIONS: dict[Kind, tuple[str, ...]] = {"flag": ("bool",), "list": ("list[str]",)}


def _row(name: str, annotation: str, declared: _Declared, default: Any) -> Option:
    """The Option of one field; an annotation that does not fit its kind fails at import, not in a run."""
    base = annotation.removesuffix(" | None")
    if declared.kind != "value":
        if annotation not in _ANNOTATIONS[declared.kind]:
            raise TypeError(f"option {name}: a {declared.kind} option must be annotated {_ANNOTATIONS[declared.kind]}")
        parse: Callable[[str], Any] = str
    elif declared.parse is not None:
        parse = declared.parse
    elif base in _PARSERS:
        parse = _PARSERS[base]
    else:
        raise TypeError(f"option {name}: no CLI parser for {annotation!r} (give parse=)")
    return Option(dest=name, flags=declared.flags, help=declared.help, group=declared.group, kind=declared.kind,
                  type=parse, default=default, choices=declared.choices, checks=declared.checks,
                  metavar=declared.metavar)


def _rows() -> tuple[Option, ...]:
    rows = []
    for f in fields(ProfileOptions):
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        rows.append(_row(f.name, str(f.type), f.metadata[_ROW], default))
    return tuple(rows)


OPTIONS: tuple[Option, ...] = _rows()
OPTIONS_BY_DEST: dict[str, Option] = {o.dest: o for o in OPTIONS}


def _python_aliases() -> dict[str, str]:
    """Every flag spelled as a Python name maps to its option: aiperf.profile(isl=100) works like --isl 100."""
    aliases: dict[str, str] = {}
    for row in OPTIONS:
        for cli_flag in row.flags:
            if cli_flag.startswith("--"):
                aliases[cli_flag[2:].replace("-", "_")] = row.dest
    return aliases


PYTHON_ALIASES = _python_aliases()
