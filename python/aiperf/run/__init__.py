"""One profile run: config -> tokenizer -> dataset -> payloads -> engine -> metrics -> console and exports.

The CLI and aiperf.profile() both call run_profile(); nothing here is specific to either.
"""
from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiperf import __version__
from aiperf.config import ConfigError, ProfileConfig
from aiperf.errors import RunError
from aiperf.inputs.endpoints import Endpoint, get_endpoint
from aiperf.inputs.payloads import EDIT_RESERVED_FIELDS, refused_extra_fields
from aiperf.redaction import redact_text, redact_url

if TYPE_CHECKING:
    from aiperf.analysis.runs import ProfileResult

log = logging.getLogger("aiperf")


def resolve_artifact_dir(config: ProfileConfig) -> Path:
    from aiperf.results.export import artifact_dir_name

    if config.artifact_dir is not None:
        return Path(config.artifact_dir)
    name = artifact_dir_name(config.model[0] if len(config.model) == 1 else config.model[0] + "_multi",
                             config.endpoint_type,
                             concurrency=config.concurrency if config.open_loop else config.effective_concurrency,
                             request_rate=config.request_rate, fixed_schedule=config.fixed_schedule)
    return Path("artifacts") / name


def _setup_logging(artifact_dir: Path, level: str) -> tuple[Path, logging.Handler]:
    log_dir = artifact_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / "aiperf.log"
    handler = logging.FileHandler(log_file, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    numeric = {"TRACE": 5, "NOTICE": 25, "SUCCESS": 25}.get(level, getattr(logging, level, logging.INFO))
    log.setLevel(min(numeric, logging.INFO))
    handler.setLevel(min(numeric, logging.INFO))
    log.addHandler(handler)
    return log_file, handler


def _tokenizer_config_error(e: Exception) -> ConfigError:
    message = str(e)
    return ConfigError(message if "--tokenizer" in message else f"--tokenizer: {message}")


def _load_tokenizer(config: ProfileConfig) -> Any:
    """Find the tokenizer now (a missing one is an error before any request) but parse its file only when
    it is needed: a file that loaded before (same path, size and mtime) cannot fail, so its load is deferred
    to a thread that overlaps the run; any other file is loaded here, so a broken one is still an early error."""
    from aiperf.inputs.tokenizer import TokenizerError, load_tokenizer

    try:
        tokenizer = load_tokenizer(config.tokenizer_name, revision=config.tokenizer_revision,
                                   trust_remote_code=config.tokenizer_trust_remote_code, lazy=True)
        if not tokenizer.known_good:
            tokenizer.load()
    except TokenizerError as e:
        raise _tokenizer_config_error(e) from None
    return tokenizer


def _load_conversations(config: ProfileConfig, endpoint: Endpoint, tokenizer: Any) -> list:
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


def _warn(message: str) -> None:
    """A problem the run works around: in the log file and on stderr, where the user sees it before the table."""
    log.warning("%s", message)
    print(f"aiperf profile: warning: {message}", file=sys.stderr)


def _warn_about_inputs(config: ProfileConfig, endpoint: Endpoint, conversations: list) -> None:
    refused = set(refused_extra_fields(endpoint, config.extra_body))
    for conversation in conversations:
        for turn in conversation.turns:
            refused.update(refused_extra_fields(endpoint, turn.extra_body))
    if refused:
        _warn(f"--extra-inputs: {', '.join(sorted(refused))} ignored: {endpoint.type} sends the request's own "
              f"prompt and reference image in {', '.join(EDIT_RESERVED_FIELDS)}")
    if endpoint.accepts_images and config.input_file and config.synthetic_images.enabled:
        _warn("--image-width-mean/--image-height-mean ignored: synthetic images are added to synthetic prompts "
              "only; --input-file lines give their own 'image'/'images'")
    if not endpoint.accepts_images:
        if config.synthetic_images.enabled:
            _warn(f"--image-width-mean/--image-height-mean ignored: endpoint type {endpoint.type} sends no images")
        if any(turn.images for conversation in conversations for turn in conversation.turns):
            _warn(f"--input-file: 'image'/'images' ignored: endpoint type {endpoint.type} sends no images")
    if "content-type" in {k.lower() for k in config.headers} and config.effective_request_content_type.startswith(
            "multipart/"):
        _warn("--header: Content-Type ignored: multipart bodies need the encoder's boundary")


def count_input_tokens(endpoint: Endpoint, conversations: list, tokenizer: Any):
    """Input tokens of each payload (one per (session, turn), in build_request_inputs' order); zeros when the
    endpoint does not tokenize its input. Turns whose count is known (`Turn.input_tokens`) are not re-counted."""
    import numpy as np

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


def build_request_inputs(config: ProfileConfig, endpoint: Endpoint, conversations: list, tokenizer: Any, *,
                         count_tokens: bool = True):
    """Flatten conversations into one payload per (session, turn) and count their input tokens.

    With `count_tokens=False` the counts are None: run_profile counts them with count_input_tokens() while
    the engine runs, so the tokenizer need not be loaded before the first request.
    """
    from aiperf.inputs.payloads import BodySpec, build_payload, encode_bodies, payload_description
    from aiperf.results.export import RequestInputs

    body_spec = BodySpec.from_config(config)
    payloads: list = []
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


def _turn_line(conversation: Any) -> str:
    line = conversation.turns[0].line
    return f" (line {line})" if line is not None else ""


def fixed_schedule(config: ProfileConfig, conversations: list) -> tuple[list, Any]:
    """--fixed-schedule: the conversations inside the offset window and their start offsets (ns) from the
    schedule's origin. Each conversation starts at its first turn's `timestamp` (ms); timestamps must be present
    and non-decreasing in file order."""
    import numpy as np

    where = config.input_file or "--input-file"
    stamps = []
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


def _last_turns(inputs: Any) -> Any:
    """Per body: whether it is its conversation's last turn (bodies are laid out conversation by conversation)."""
    import numpy as np

    turns = np.asarray(inputs.turn_indices, dtype=np.int64)
    return np.append(turns[1:] == 0, True) if turns.size else np.zeros(0, dtype=bool)


@dataclass
class Workload:
    """What the engine sends, besides the bodies: see Engine."""

    order: Any = None
    sessions: Any = None
    turn_delays_ns: Any = None
    schedule_ns: Any = None
    session_count: int = 0  # profiling sessions (0: until --benchmark-duration)
    total_requests: int | None = None  # profiling requests, when known (progress bar)


def build_workload(config: ProfileConfig, conversations: list, schedule_ns: Any = None) -> Workload:
    import numpy as np

    turn_counts = np.array([len(c.turns) for c in conversations], dtype=np.int64)
    multi_turn = bool((turn_counts > 1).any())
    workload = Workload(schedule_ns=schedule_ns)
    if multi_turn:
        workload.sessions = np.concatenate([[0], np.cumsum(turn_counts)]).astype(np.int64)
        ratio = config.conversation_turn_delay_ratio
        workload.turn_delays_ns = np.array([int(round((turn.delay_ms or 0.0) * ratio * 1e6)) if index > 0 else 0
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


def ensure_file_descriptors(connections: int) -> None:
    """Each in-flight request holds a socket: raise the soft RLIMIT_NOFILE towards the hard limit when the run
    needs more, or say clearly why it cannot run."""
    import resource

    needed = connections + 256  # headroom: log file, tokenizer, epoll/timer fds, Python itself
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        return
    target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        target = soft
    if target < needed:
        raise ConfigError(f"--concurrency {connections}: needs about {needed} open files, but the limit is "
                          f"{target} (hard limit {hard}); raise it with `ulimit -n {needed}` or lower --concurrency")
    log.info("raised the open-file limit from %d to %d for %d connections", soft, target, connections)


def _engine_config(config: ProfileConfig, endpoint: Endpoint, content_type: str, streaming: bool, keep_raw: bool,
                   request_id_prefix: str, session_count: int) -> Any:
    from aiperf.engine import EngineConfig

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
    ec.keep_raw = keep_raw
    ec.proxy = ""
    ec.verify_tls = not config.no_ssl_verify
    ec.request_id_prefix = request_id_prefix
    ec.expect_images = endpoint.produces_images
    ec.expect_content = endpoint.produces_tokens or endpoint.produces_images  # embeddings carry no content
    ec.kernel_timestamps = config.kernel_timestamps == "on" or (config.kernel_timestamps == "auto" and streaming)
    ec.max_response_bytes = config.max_response_bytes
    return ec


class _Interrupts:
    """Ctrl-C / SIGTERM during a run. Before the first request the run is abandoned (KeyboardInterrupt); while the
    engine runs the first signal stops it (in-flight requests are cancelled, everything measured is exported, the
    run is marked was_cancelled); after it the exports are finished. A second signal exits at once (code 130)."""

    def __init__(self) -> None:
        self.count = 0
        self.engine: Any = None  # set while the engine runs
        self.engine_finished = False  # a first signal after the run lets the exports finish
        self.cancelled = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Interrupts:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.count += 1
        name = signal.Signals(signum).name
        if self.count > 1:
            self._say(f"{name} again: exiting at once")
            os._exit(130)
        if self.engine is not None:
            self.cancelled = True
            self._say(f"{name}: stopping the run and writing what was measured (again to exit at once)")
            self.engine.stop()
        elif self.engine_finished:
            self._say(f"{name}: finishing the exports (again to exit at once)")
        else:
            raise KeyboardInterrupt

    @staticmethod
    def _say(message: str) -> None:
        # os.write, not print: the signal may interrupt a print to the same stream (a reentrant-call error).
        try:
            os.write(2, f"aiperf profile: {message}\n".encode())
        except OSError:
            pass

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()


class _InputTokenCounter:
    """Loads the tokenizer and counts input tokens in a thread, started once the engine runs (the engine
    releases the GIL, so this overlaps the run instead of delaying the first request)."""

    def __init__(self, endpoint: Endpoint, conversations: list, tokenizer: Any) -> None:
        self._args = (endpoint, conversations, tokenizer)
        # Like the record thread (_BatchTaker): idle while the engine runs, back to normal when its result is needed.
        self._low_priority = _may_raise_priority()
        self._native_id: int | None = None
        self._result: Any = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        self._native_id = threading.get_native_id()
        if self._low_priority:
            self._low_priority = _set_thread_idle(self._native_id, True)
        try:
            endpoint, conversations, tokenizer = self._args
            load = getattr(tokenizer, "load", None)
            if load is not None:
                load()
            self._result = count_input_tokens(endpoint, conversations, tokenizer)
        except BaseException as e:
            self._error = e

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="aiperf-input-tokens", daemon=True)
        self._thread.start()

    def result(self) -> Any:
        if self._thread is None:
            self._low_priority = False
            self._run()
        else:
            if self._low_priority and self._native_id is not None and self._thread.is_alive():
                _set_thread_idle(self._native_id, False)  # its result is awaited now
            self._thread.join()
        if self._error is not None:
            from aiperf.inputs.tokenizer import TokenizerError

            if isinstance(self._error, TokenizerError):
                raise _tokenizer_config_error(self._error) from None
            raise self._error
        return self._result


_DRAIN_INTERVAL_S = 0.5  # records are taken from the engine (and written out) this often while it runs,
_DRAIN_RECORDS = 8192  # or as soon as this many finished since the last time (bounds a batch's memory)
_TRIM_INTERVAL_S = 2.0  # free heap pages go back to the system this often during a run
_BACKLOG_RECORDS = 8192  # records left in the engine past which the batch thread gets normal priority
_MMAP_THRESHOLD = 256 * 1024  # blocks this big get pages of their own during a run (bench/memory: 305 → 241 MB)


class _BatchTaker(threading.Thread):
    """Takes the engine's finished records every _DRAIN_INTERVAL_S (or _DRAIN_RECORDS) while it runs and hands
    them to `on_batch`, in a thread of its own.

    Precision first: where the process may switch a thread's scheduling back and forth (root, CAP_SYS_NICE, or an
    RLIMIT_NICE of 20), the thread runs under SCHED_IDLE, on CPU time nothing else wants, so writing records out
    never preempts the engine's loop threads and delays the timestamps they take (bench/accuracy at 1,000 streams:
    batches at normal priority moved event arrival p99 from ~2 ms to ~20 ms). Memory second: a saturated machine
    leaves such a thread no CPU, so while more than _BACKLOG_RECORDS finished records wait in the engine, `pace()`
    (called by the main thread) puts it back to normal priority. Without that permission the thread stays at normal
    priority: an idle thread could not be raised again, and memory must stay bounded. The thread stops the engine
    if `on_batch` fails; `error` then holds why."""

    def __init__(self, engine: Any, on_batch: Any) -> None:
        super().__init__(name="aiperf-records", daemon=True)
        self._engine = engine
        self._on_batch = on_batch
        self._finished = threading.Event()
        self._native_id: int | None = None
        self._idle = False
        self._may_switch = _may_raise_priority()
        self.taken = 0  # records handed to on_batch so far
        self.error: BaseException | None = None

    def _set_idle(self, idle: bool) -> None:
        if not self._may_switch or self._native_id is None or idle == self._idle:
            return
        if _set_thread_idle(self._native_id, idle):
            self._idle = idle
        else:
            self._may_switch = False

    def pace(self, completed: int) -> None:
        """Main thread: keeps the backlog of records in the engine bounded (see the class docstring)."""
        backlog = completed - self.taken
        if self._idle and backlog > _BACKLOG_RECORDS:
            self._set_idle(False)
        elif not self._idle and backlog < _BACKLOG_RECORDS // 4:
            self._set_idle(True)

    def run(self) -> None:
        from aiperf.engine import trim_memory

        self._native_id = threading.get_native_id()
        self._set_idle(True)
        try:
            next_drain, drained = time.monotonic() + _DRAIN_INTERVAL_S, 0
            next_trim = time.monotonic() + _TRIM_INTERVAL_S
            while not self._finished.wait(0.05):
                completed = self._engine.progress().completed
                if time.monotonic() >= next_drain or completed - drained >= _DRAIN_RECORDS:
                    drained = completed
                    batch = self._engine.drain()
                    self.taken += len(batch["request_index"])
                    self._on_batch(batch)
                    del batch
                    if time.monotonic() >= next_trim:  # returns pages freed by the batches, seldom: trimming
                        trim_memory()           # briefly locks the heap the loop threads allocate from
                        next_trim = time.monotonic() + _TRIM_INTERVAL_S
                    next_drain = time.monotonic() + _DRAIN_INTERVAL_S
        except BaseException as e:
            self.error = e
            self._engine.stop()

    def finish(self) -> None:
        """Waits for the batch in hand (the engine has finished or failed); re-raises the thread's error."""
        self._set_idle(False)  # the batch in hand is all that is left to wait for
        self._finished.set()
        self.join()
        if self.error is not None:
            raise self.error


def _set_thread_idle(native_id: int, idle: bool) -> bool:
    """Puts a thread of this process under SCHED_IDLE, or back to SCHED_OTHER; False where that is refused."""
    try:
        os.sched_setscheduler(native_id, os.SCHED_IDLE if idle else os.SCHED_OTHER, os.sched_param(0))
        return True
    except (AttributeError, OSError):
        return False


def _may_raise_priority() -> bool:
    """Whether a thread of this process may leave SCHED_IDLE again (Linux: CAP_SYS_NICE, approximated by root, or
    an RLIMIT_NICE that allows nice 0)."""
    if not hasattr(os, "SCHED_IDLE"):
        return False
    import resource

    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_NICE)
    except (AttributeError, ValueError, OSError):
        soft = 0
    return os.geteuid() == 0 or soft == resource.RLIM_INFINITY or soft >= 20


def _drive(engine: Any, config: ProfileConfig, interrupts: _Interrupts, total: int | None = None,
           on_started: Any = None, on_batch: Any = None) -> bool:
    """Run the engine to completion, showing progress. Returns True when the run was cancelled by the user.

    `on_started()` is called right after the engine started (to overlap work with the run); `on_batch(records)`
    with the records finished so far, every _DRAIN_INTERVAL_S while the engine runs, from a thread of lower
    priority (the caller drains the rest)."""
    from aiperf.inputs.tokenizer import tokenize_in_calling_thread
    from aiperf.results.console import ProgressDisplay

    taker: _BatchTaker | None = None
    # Token counting during the run stays in the (low-priority) threads that ask for it; see the context manager.
    with ProgressDisplay(config.effective_ui_type, total, config.warmup_request_count,
                         config.benchmark_duration) as display, tokenize_in_calling_thread():
        interrupts.engine = engine  # before start(): a signal right after it must stop the engine, not abandon it
        try:
            engine.start()
            if on_started is not None:
                on_started()
            if on_batch is not None:
                taker = _BatchTaker(engine, on_batch)
                taker.start()
            while not engine.wait(0.1):
                progress = engine.progress()
                display.update(progress)
                if taker is not None:
                    taker.pace(progress.completed)
            if taker is not None:
                taker, running = None, taker
                running.finish()
        except BaseException:
            engine.stop()  # a failure while the run goes on (disk full, …) must not leave it sending
            if taker is not None:
                taker.finish()  # raises the batch thread's error, if it had one
            raise
        finally:
            interrupts.engine = None
            interrupts.engine_finished = True
        display.update(engine.progress())
    if interrupts.cancelled:
        log.warning("interrupted: the run was stopped, in-flight requests were cancelled")
    return interrupts.cancelled


# ---- distributed runs (issue 8, docs/distributed.md) ------------------------------------------------------------
def _distributed_engine(config: ProfileConfig, engine_config: Any, bodies: list, workload: Workload) -> Any:
    from aiperf.run.distributed import require_ray

    require_ray()  # before numpy-heavy imports: a clear message when the extra is missing
    from aiperf.run.distributed.engine import DistributedEngine

    return DistributedEngine(engine_config, bodies, workload, ray_address=config.ray_address,
                             worker_count=config.ray_workers or 2)


def _report_workers(engine: Any, artifact_dir: Path, print_table: bool) -> None:
    """profile_export_workers.json and one line per Ray worker after the table."""
    _, lines = engine.report(artifact_dir)
    for line in lines:
        log.info("%s", line)
        if print_table:
            print(line)


def run_profile(config: ProfileConfig, *, console: Any = None, print_table: bool = True) -> ProfileResult:
    from aiperf.engine import ClockAnchor, Engine, EngineError, set_mmap_threshold

    endpoint = get_endpoint(config.endpoint_type)
    streaming = config.streaming and endpoint.supports_streaming
    artifact_dir = resolve_artifact_dir(config)
    try:
        artifact_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ConfigError(f"--artifact-dir: cannot create {artifact_dir}: {e.strerror}") from None
    log_file, handler = _setup_logging(artifact_dir, config.log_level)
    interrupts = _Interrupts().__enter__()
    try:
        log.info("aiperf %s: %s", __version__, config.cli_command or "aiperf.profile()")
        if config.streaming and not endpoint.supports_streaming:
            log.warning("--streaming ignored: endpoint type %s does not stream", endpoint.type)
        tokenizer = _load_tokenizer(config)
        conversations = _load_conversations(config, endpoint, tokenizer)
        _warn_about_inputs(config, endpoint, conversations)
        schedule_ns = None
        if config.fixed_schedule:
            conversations, schedule_ns = fixed_schedule(config, conversations)
        workload = build_workload(config, conversations, schedule_ns)
        if config.concurrency is not None or not config.open_loop:
            ensure_file_descriptors(config.effective_concurrency)
        inputs, _, encoded = build_request_inputs(config, endpoint, conversations, tokenizer, count_tokens=False)
        token_counter = _InputTokenCounter(endpoint, conversations, tokenizer)
        bodies = encoded.bodies
        request_id_prefix = str(uuid.uuid4())[:24]
        keep_raw = config.export_level == "raw"
        try:
            engine_config = _engine_config(config, endpoint, encoded.content_type, streaming, keep_raw,
                                           request_id_prefix, workload.session_count)
            if config.ray_address:  # distributed run (issue 8): same interface, N Ray workers
                engine = _distributed_engine(config, engine_config, bodies, workload)
            else:
                engine = Engine(engine_config, bodies, order=workload.order, sessions=workload.sessions,
                                        turn_delays_ns=workload.turn_delays_ns, schedule_ns=workload.schedule_ns)
        except EngineError as e:
            raise RunError(redact_text(str(e), config.secret_values)) from None
        log.info("sending to %s: %s, %s sessions (%s requests), %d warm-up", redact_url(config.full_url),
                 (f"request rate {config.request_rate}/s ({config.effective_arrival_pattern})" if config.request_rate
                  else "fixed schedule" if config.fixed_schedule else f"concurrency {config.effective_concurrency}"),
                 workload.session_count or "unbounded", workload.total_requests or "unbounded",
                 config.warmup_request_count)
        from aiperf.redaction import redact_headers

        collecting: dict[str, Any] = {}

        def start_collecting() -> None:  # once the engine runs: nothing before the first request needs these
            from aiperf.results.collect import RecordCollector
            from aiperf.results.export import RecordsWriter

            token_counter.start()
            writer = RecordsWriter(artifact_dir, export_level=config.export_level, request_inputs=inputs,
                                   anchor=ClockAnchor(engine.anchor_wall_ns, engine.anchor_mono_ns),
                                   request_id_prefix=request_id_prefix, redact_headers=redact_headers)
            collecting["writer"] = writer
            collecting["collector"] = RecordCollector(
                endpoint=endpoint, streaming=streaming, tokenizer=tokenizer, input_tokens=token_counter.result,
                writer=writer, secrets=config.secret_values, server_token_counts=config.use_server_token_count,
                last_turn_of_body=_last_turns(inputs) if workload.sessions is not None else None)

        set_mmap_threshold(_MMAP_THRESHOLD)  # batches' big buffers then go back to the system when freed
        started = time.monotonic()
        try:
            was_cancelled = _drive(engine, config, interrupts, total=workload.total_requests,
                                   on_started=start_collecting,
                                   on_batch=lambda batch: collecting["collector"].add(batch))
            log.info("engine finished in %.3f s%s", time.monotonic() - started,
                     " (cancelled)" if was_cancelled else "")
            finishing = time.monotonic()
            collecting["collector"].add(engine.drain())
        finally:
            record_files = collecting["writer"].close() if "writer" in collecting else []
        from aiperf.analysis.runs import ProfileResult
        from aiperf.results.console import print_summary
        from aiperf.results.export import write_summary_files

        anchor = ClockAnchor(engine.anchor_wall_ns, engine.anchor_mono_ns)
        metrics, records = collecting["collector"].finish(anchor=anchor, goodput=config.goodput_slos or None)
        summary_json, summary_csv, inputs_json = write_summary_files(
            artifact_dir, metrics=metrics, request_inputs=inputs, input_config=config.to_dict(),
            aiperf_version=__version__, was_cancelled=was_cancelled)
        from aiperf.results.timeslices import write_time_exports

        files = [summary_json, summary_csv, *record_files, inputs_json]
        files += write_time_exports(artifact_dir, columns=records, per_record=metrics.per_record,
                                    slice_duration_s=config.slice_duration, export_level=config.export_level,
                                    anchor=anchor, goodput=config.goodput_slos or None,
                                    input_config=config.to_dict())
        collector = collecting["collector"]
        log.info("%d records taken in %d batches (%.3f s of metrics and export lines during the run); summary "
                 "and exports finished %.3f s after the run", collector.count, collector.batches, collector.busy_s,
                 time.monotonic() - finishing)
        for err in metrics.errors:
            log.warning("errors: %d x %s %s: %s", err["count"], err.get("code"), err["type"], err["message"])
        if print_table:
            print_summary(metrics, endpoint=endpoint, console=console, exported_files=files, log_file=log_file,
                          was_cancelled=was_cancelled)
        if config.ray_address:
            _report_workers(engine, artifact_dir, print_table)
        return ProfileResult.from_run(config=config, endpoint=endpoint, metrics=metrics, records=records,
                                      request_inputs=inputs, artifact_dir=artifact_dir, was_cancelled=was_cancelled,
                                      anchor_wall_ns=engine.anchor_wall_ns, anchor_mono_ns=engine.anchor_mono_ns,
                                      request_id_prefix=request_id_prefix)
    except ConfigError as e:
        log.error("%s", e)
        raise
    finally:
        interrupts.__exit__()
        log.removeHandler(handler)
        handler.close()
