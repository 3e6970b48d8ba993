"""Everything a run decides before the first request: tokenizer, dataset, payloads, workload, engine settings."""
from __future__ import annotations

import logging
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from aiperf import __version__
from aiperf.config import ConfigError, ProfileConfig
from aiperf.engine import EngineConfig
from aiperf.inputs.endpoints import Endpoint, get_endpoint
from aiperf.inputs.payloads import EDIT_RESERVED_FIELDS, refused_extra_fields

if TYPE_CHECKING:
    from aiperf.inputs.dataset import Conversation
    from aiperf.inputs.payloads import EncodedBodies
    from aiperf.inputs.tokenizer import Tokenizer
    from aiperf.results.export import RequestInputs

log = logging.getLogger("aiperf")


@dataclass
class Workload:
    """What the engine sends, besides the bodies: see Engine."""

    order: npt.NDArray[np.int32] | None = None  # body of each session (random_pool), else round robin
    sessions: npt.NDArray[np.int64] | None = None  # multi-turn: first body of each conversation, and the end
    turn_delays_ns: npt.NDArray[np.int64] | None = None  # multi-turn: delay before each body
    schedule_ns: npt.NDArray[np.int64] | None = None  # --fixed-schedule: start offset of each session
    session_count: int = 0  # profiling sessions (0: until --benchmark-duration)
    total_requests: int | None = None  # profiling requests, when known (progress bar)


@dataclass
class RunPlan:
    """A run ready to start: what `prepare()` decided."""

    config: ProfileConfig
    endpoint: Endpoint
    streaming: bool  # --streaming, where the endpoint streams
    artifact_dir: Path
    tokenizer: Tokenizer  # possibly not parsed yet (see find_tokenizer)
    conversations: list[Conversation]
    workload: Workload
    inputs: RequestInputs  # what the exports say was sent
    bodies: list[bytes]
    request_id_prefix: str  # X-Request-ID = prefix + request index
    engine_config: EngineConfig

    @property
    def connections(self) -> int | None:
        """Sockets the run may hold at once; None when an open loop has no --concurrency cap."""
        config = self.config
        return config.effective_concurrency if config.concurrency is not None or not config.open_loop else None


def prepare(config: ProfileConfig, artifact_dir: Path) -> RunPlan:
    """Everything before the first request; any problem with the options or inputs is a ConfigError here."""
    endpoint = get_endpoint(config.endpoint_type)
    log.info("aiperf %s: %s", __version__, config.cli_command or "aiperf.profile()")
    if config.streaming and not endpoint.supports_streaming:
        log.warning("--streaming ignored: endpoint type %s does not stream", endpoint.type)
    streaming = config.streaming and endpoint.supports_streaming
    tokenizer = find_tokenizer(config)
    conversations = load_conversations(config, endpoint, tokenizer)
    warn_about_inputs(config, endpoint, conversations)
    schedule_ns = None
    if config.fixed_schedule:
        conversations, schedule_ns = fixed_schedule(config, conversations)
    workload = build_workload(config, conversations, schedule_ns)
    inputs, _, encoded = build_request_inputs(config, endpoint, conversations, tokenizer, count_tokens=False)
    request_id_prefix = str(uuid.uuid4())[:24]
    return RunPlan(config=config, endpoint=endpoint, streaming=streaming, artifact_dir=artifact_dir,
                   tokenizer=tokenizer, conversations=conversations, workload=workload, inputs=inputs,
                   bodies=encoded.bodies, request_id_prefix=request_id_prefix,
                   engine_config=engine_config(config, endpoint, encoded.content_type, streaming,
                                               request_id_prefix, workload.session_count))


def tokenizer_config_error(e: Exception) -> ConfigError:
    message = str(e)
    return ConfigError(message if "--tokenizer" in message else f"--tokenizer: {message}")


def find_tokenizer(config: ProfileConfig) -> Tokenizer:
    """The tokenizer, found now (a missing one is an error before any request) but parsed only when needed: a
    file that loaded before (same path, size and mtime) cannot fail, so its parsing overlaps the run; any other
    file is parsed here, so a broken one is still an early error."""
    from aiperf.inputs.tokenizer import TokenizerError, load_tokenizer

    try:
        tokenizer = load_tokenizer(config.tokenizer_name, revision=config.tokenizer_revision,
                                   trust_remote_code=config.tokenizer_trust_remote_code, lazy=True)
        if not tokenizer.known_good:
            tokenizer.load()
    except TokenizerError as e:
        raise tokenizer_config_error(e) from None
    return tokenizer


def load_conversations(config: ProfileConfig, endpoint: Endpoint, tokenizer: Tokenizer) -> list[Conversation]:
    from aiperf.inputs.dataset import DatasetSpec, InputFileError, attach_images, load_dataset

    input_file = Path(config.input_file) if config.input_file else None
    try:
        conversations = load_dataset(DatasetSpec.from_config(config), tokenizer)
        if endpoint.accepts_images:
            attach_images(conversations, input_file=input_file, spec=config.synthetic_images,
                          random_seed=config.random_seed, require_image=endpoint.requires_image,
                          endpoint_type=endpoint.type)
    except InputFileError as e:
        raise ConfigError(str(e)) from None
    return conversations


def warn(message: str) -> None:
    """A problem the run works around: in the log file and on stderr, where the user sees it before the table."""
    log.warning("%s", message)
    print(f"aiperf profile: warning: {message}", file=sys.stderr)


def warn_about_inputs(config: ProfileConfig, endpoint: Endpoint, conversations: list[Conversation]) -> None:
    refused = set(refused_extra_fields(endpoint, config.extra_body))
    for conversation in conversations:
        for turn in conversation.turns:
            refused.update(refused_extra_fields(endpoint, turn.extra_body))
    if refused:
        warn(f"--extra-inputs: {', '.join(sorted(refused))} ignored: {endpoint.type} sends the request's own "
             f"prompt and reference image in {', '.join(EDIT_RESERVED_FIELDS)}")
    if endpoint.accepts_images and config.input_file and config.synthetic_images.enabled:
        warn("--image-width-mean/--image-height-mean ignored: synthetic images are added to synthetic prompts "
             "only; --input-file lines give their own 'image'/'images'")
    if not endpoint.accepts_images:
        if config.synthetic_images.enabled:
            warn(f"--image-width-mean/--image-height-mean ignored: endpoint type {endpoint.type} sends no images")
        if any(turn.images for conversation in conversations for turn in conversation.turns):
            warn(f"--input-file: 'image'/'images' ignored: endpoint type {endpoint.type} sends no images")
    if "content-type" in {k.lower() for k in config.headers} and config.effective_request_content_type.startswith(
            "multipart/"):
        warn("--header: Content-Type ignored: multipart bodies need the encoder's boundary")


def count_input_tokens(endpoint: Endpoint, conversations: list[Conversation],
                       tokenizer: Tokenizer) -> npt.NDArray[np.int64]:
    """Input tokens of each payload (one per (session, turn), in build_request_inputs' order); zeros when the
    endpoint does not tokenize its input. Turns whose count is known (`Turn.input_tokens`) are not re-counted."""
    texts: list[str] = []
    text_owner: list[int] = []
    known_tokens: dict[int, int] = {}
    body_index = 0
    for conversation in conversations:
        for turn in conversation.turns:
            if turn.input_tokens is None:
                texts.extend(turn.texts)
                text_owner.extend([body_index] * len(turn.texts))
            else:
                known_tokens[body_index] = turn.input_tokens
            body_index += 1
    input_tokens = np.zeros(body_index, dtype=np.int64)
    if endpoint.tokenizes_input:
        if texts:
            np.add.at(input_tokens, np.asarray(text_owner), tokenizer.count_tokens(texts))
        for index, count in known_tokens.items():
            input_tokens[index] = count
        if endpoint.type == "chat":  # a later turn also sends the conversation's earlier user turns
            start = 0
            for conversation in conversations:
                end = start + len(conversation.turns)
                input_tokens[start:end] = np.cumsum(input_tokens[start:end])
                start = end
    return input_tokens


def build_request_inputs(config: ProfileConfig, endpoint: Endpoint, conversations: list[Conversation],
                         tokenizer: Tokenizer, *, count_tokens: bool = True,
                         ) -> tuple[RequestInputs, npt.NDArray[np.int64] | None, EncodedBodies]:
    """Flatten conversations into one payload per (session, turn) and count their input tokens.

    With `count_tokens=False` the counts are None: the run counts them with count_input_tokens() while the engine
    runs, so the tokenizer need not be parsed before the first request."""
    from aiperf.inputs.payloads import BodySpec, MultipartForm, build_payload, encode_bodies, payload_description
    from aiperf.results.export import RequestInputs

    body_spec = BodySpec.from_config(config)
    payloads: list[dict[str, object] | MultipartForm] = []
    session_ids: list[str] = []
    turn_indices: list[int] = []
    for conversation in conversations:
        for turn_index, turn in enumerate(conversation.turns):
            payloads.append(build_payload(endpoint, turn, body_spec, history=conversation.turns[:turn_index]))
            session_ids.append(conversation.session_id)
            turn_indices.append(turn_index)
    if not payloads:
        raise ConfigError("--input-file: the dataset has no requests" if config.input_file
                          else "the synthetic dataset is empty")
    input_tokens = count_input_tokens(endpoint, conversations, tokenizer) if count_tokens else None
    try:
        encoded = encode_bodies(payloads)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"--extra-inputs: payload cannot be written as JSON: {e}") from None
    inputs = RequestInputs(payloads=[payload_description(p) for p in payloads], session_ids=session_ids,
                           turn_indices=turn_indices)
    return inputs, input_tokens, encoded


def _turn_line(conversation: Conversation) -> str:
    line = conversation.turns[0].line
    return f" (line {line})" if line is not None else ""


def fixed_schedule(config: ProfileConfig, conversations: list[Conversation],
                   ) -> tuple[list[Conversation], npt.NDArray[np.int64]]:
    """--fixed-schedule: the conversations inside the offset window and their start offsets (ns) from the
    schedule's origin. Each conversation starts at its first turn's `timestamp` (ms); timestamps must be present
    and non-decreasing in file order."""
    where = config.input_file or "--input-file"
    stamps: list[float] = []
    for conversation in conversations:
        stamp = conversation.turns[0].timestamp_ms
        if stamp is None:
            raise ConfigError(f"--fixed-schedule: {where}{_turn_line(conversation)}: timestamp: missing (every "
                              "entry needs a 'timestamp' in ms)")
        if stamps and stamp < stamps[-1]:
            raise ConfigError(f"--fixed-schedule: {where}{_turn_line(conversation)}: timestamp: {stamp:g} ms is "
                              f"before the previous entry's {stamps[-1]:g} ms (timestamps must not decrease)")
        stamps.append(stamp)
    times = np.asarray(stamps, dtype=np.float64)
    keep = np.ones(len(times), dtype=bool)
    if config.fixed_schedule_start_offset is not None:
        keep &= times >= config.fixed_schedule_start_offset
    if config.fixed_schedule_end_offset is not None:
        keep &= times <= config.fixed_schedule_end_offset
    if not keep.any():
        raise ConfigError(f"--fixed-schedule-start-offset/--fixed-schedule-end-offset: no timestamp of {where} "
                          f"falls in the window ({times.min():g}..{times.max():g} ms in the file)")
    kept = [c for c, k in zip(conversations, keep.tolist()) if k]
    times = times[keep]
    if config.fixed_schedule_start_offset is not None:
        origin = float(config.fixed_schedule_start_offset)
    elif config.fixed_schedule_auto_offset:
        origin = float(times[0])
    else:
        origin = 0.0
    return kept, np.rint((times - origin) * 1e6).astype(np.int64)


def last_turns(inputs: RequestInputs) -> npt.NDArray[np.bool_]:
    """Per body: whether it is its conversation's last turn (bodies are laid out conversation by conversation)."""
    turns = np.asarray(inputs.turn_indices, dtype=np.int64)
    return np.append(turns[1:] == 0, True) if turns.size else np.zeros(0, dtype=bool)


def build_workload(config: ProfileConfig, conversations: list[Conversation],
                   schedule_ns: npt.NDArray[np.int64] | None = None) -> Workload:
    turn_counts = np.array([len(c.turns) for c in conversations], dtype=np.int64)
    multi_turn = bool((turn_counts > 1).any())
    workload = Workload(schedule_ns=schedule_ns)
    if multi_turn:
        workload.sessions = np.concatenate([[0], np.cumsum(turn_counts)]).astype(np.int64)
        ratio = config.conversation_turn_delay_ratio
        workload.turn_delays_ns = np.array([round((turn.delay_ms or 0.0) * ratio * 1e6) if index > 0 else 0
                                            for c in conversations for index, turn in enumerate(c.turns)],
                                           dtype=np.int64)
    if schedule_ns is not None:
        workload.session_count = len(schedule_ns)
        workload.total_requests = int(turn_counts[:len(schedule_ns)].sum())
        return workload
    if config.conversation_num is not None:
        sessions = config.conversation_num
    elif multi_turn and config.request_count is not None:
        # --request-count with conversations: enough whole conversations to send at least that many requests
        cycles, rest = divmod(config.request_count, int(turn_counts.sum()))
        partial = int(np.searchsorted(np.cumsum(turn_counts), rest, side="left")) + 1 if rest else 0
        sessions = cycles * len(conversations) + partial
    elif multi_turn and config.benchmark_duration is None:
        sessions = len(conversations)
    else:
        sessions = config.effective_request_count
    workload.session_count = sessions
    if sessions:
        full, rest = divmod(sessions, len(conversations))
        workload.total_requests = int(full * turn_counts.sum() + turn_counts[:rest].sum())
    if config.custom_dataset_type == "random_pool":  # entries drawn at random (seeded), with replacement
        draws = sessions or 100_000
        rng = np.random.default_rng(None if config.random_seed is None else config.random_seed + 1)
        if multi_turn:
            raise ConfigError("--custom-dataset-type random_pool: entries are single requests (use multi_turn)")
        workload.order = rng.integers(0, len(conversations), size=draws).astype(np.int32)
    return workload


def engine_config(config: ProfileConfig, endpoint: Endpoint, content_type: str, streaming: bool,
                  request_id_prefix: str, session_count: int) -> EngineConfig:
    """The engine's settings for this run (option by option; see _engine.pyi for each field)."""
    ec = EngineConfig()
    ec.url = config.full_url
    ec.headers = [f"{k}: {v}" for k, v in config.headers.items() if k.lower() != "content-type"]
    user_content_type = next((v for k, v in config.headers.items() if k.lower() == "content-type"), None)
    ec.content_type = (user_content_type if user_content_type and not content_type.startswith("multipart/")
                       else content_type)
    ec.streaming = streaming
    ec.concurrency = config.effective_concurrency
    ec.request_count = session_count
    ec.warmup_request_count = config.warmup_request_count
    ec.warmup_duration_s = config.warmup_duration or 0.0
    ec.request_rate = config.request_rate or 0.0
    pattern = config.effective_arrival_pattern
    ec.arrival_pattern = "poisson" if pattern == "concurrency_burst" else pattern  # no rate: the pattern is unused
    ec.arrival_smoothness = config.arrival_smoothness or 1.0
    ec.request_rate_ramp_s = config.request_rate_ramp_duration or 0.0
    ec.concurrency_ramp_s = config.concurrency_ramp_duration or 0.0
    ec.random_seed = config.random_seed if config.random_seed is not None else int.from_bytes(os.urandom(4), "little")
    ec.cancellation_rate = (config.request_cancellation_rate or 0.0) / 100.0
    ec.cancellation_delay_s = config.request_cancellation_delay
    ec.benchmark_duration_s = config.benchmark_duration or 0.0
    ec.grace_period_s = config.benchmark_grace_period if config.benchmark_grace_period != float("inf") else 1e9
    ec.request_timeout_s = config.request_timeout_seconds
    ec.num_threads = config.num_threads
    ec.keep_raw = config.export_level == "raw"
    ec.proxy = ""
    ec.verify_tls = not config.no_ssl_verify
    ec.request_id_prefix = request_id_prefix
    ec.expect_images = endpoint.produces_images
    ec.expect_content = endpoint.produces_tokens or endpoint.produces_images  # embeddings carry no content
    ec.kernel_timestamps = config.kernel_timestamps == "on" or (config.kernel_timestamps == "auto" and streaming)
    ec.max_response_bytes = config.max_response_bytes
    return ec
