"""Types of the compiled module aiperf._engine (C++ engine, pybind11).

This file is the contract between the C++ engine and the Python layer. Users never import _engine directly.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

__version__: str

class EngineError(RuntimeError): ...

# ---- JSON writer (cpp/include/aiperf/json_writer.hpp) ---------------------------------------------------
def build_json(obj: Any) -> bytes:
    """Serialize a payload description (dict/list/str/int/float/bool/None, nested) to compact UTF-8 JSON.

    Key order is kept. Floats are written in shortest round-trip form; NaN/inf raise ValueError.
    """

# ---- Statistics (cpp/include/aiperf/stats.hpp) -------------------------------------------------------------
def compute_stats(values: npt.NDArray[np.float64]) -> dict[str, float]:
    """avg, min, max, p1, p5, p10, p25, p50, p75, p90, p95, p99, std (population), count, sum.

    Percentiles use linear interpolation between closest ranks (numpy's default). NaN values are ignored.
    An empty input returns {"count": 0, "sum": 0.0}.
    """

# ---- Records (cpp/include/aiperf/record_columns.hpp, record.hpp) -----------------------------------------------
# (column name, numpy dtype, kind) of every column of Engine.records()/drain(), in their order. Kinds:
#   record: one value per record; chunk: one value per chunk;
#   offsets: int64[n+1]: chunk_offsets (record r owns chunks [o[r], o[r+1]) of every chunk column) or the offsets
#     into the blob column right after it; blob: the UTF-8 bytes of all records;
#   raw_offsets, raw_blob: the same, kept only with keep_raw (else both empty); raw_offsets is indexed per chunk
#     (int64[chunks+1], a text per chunk), the other raw offsets per record.
RECORD_SCHEMA: tuple[tuple[str, str, str], ...]

class ErrorKind:
    """What became of a request: records' error_kind holds these values."""
    ok: ClassVar[ErrorKind]
    connect: ClassVar[ErrorKind]
    timeout: ClassVar[ErrorKind]
    http_status: ClassVar[ErrorKind]
    transport: ClassVar[ErrorKind]
    invalid_response: ClassVar[ErrorKind]
    cancelled: ClassVar[ErrorKind]
    response_too_large: ClassVar[ErrorKind]
    empty_response: ClassVar[ErrorKind]
    __members__: ClassVar[dict[str, ErrorKind]]
    def __init__(self, value: int) -> None: ...
    def __int__(self) -> int: ...
    def __index__(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

class Phase:
    """The benchmark phase of a request: records' phase holds these values."""
    warmup: ClassVar[Phase]
    profiling: ClassVar[Phase]
    __members__: ClassVar[dict[str, Phase]]
    def __init__(self, value: int) -> None: ...
    def __int__(self) -> int: ...
    def __index__(self) -> int: ...
    @property
    def name(self) -> str: ...
    @property
    def value(self) -> int: ...

# ---- Engine (cpp/include/aiperf/engine.hpp) ---------------------------------------------------------------
class EngineConfig:
    url: str                     # full URL including the endpoint path, http:// or https://
    headers: list[str]           # "Name: value" lines added to every request
    content_type: str            # default "application/json"
    streaming: bool              # parse the body as SSE (text/event-stream)
    concurrency: int             # closed loop: requests in flight (>= 1)
    request_count: int           # profiling requests; 0 = unbounded (then benchmark_duration_s must be > 0)
    warmup_request_count: int    # sent first, all finished before profiling starts; phase 0 in records
    benchmark_duration_s: float  # 0 = none; else stop sending this long after profiling starts
    grace_period_s: float        # after the duration: wait this long for in-flight requests, then cancel them
    request_timeout_s: float     # per request, connect included
    num_threads: int             # event-loop threads (each owns its connections); default 1
    keep_raw: bool               # keep every response chunk's text and the response headers (raw export)
    proxy: str                   # "" = never use a proxy (environment ignored)
    verify_tls: bool             # https: check the server's certificate and host name (default True)
    request_id_prefix: str       # X-Request-ID = request_id_prefix + f"{request_index:012x}"
    expect_images: bool          # image endpoints: a 2xx response without a valid image (data[].b64_json/url,
                                 # or a streamed image event) is an error record, as is b64_json that is not base64
    expect_content: bool         # text and image endpoints (not embeddings): a 2xx response with no content and no
                                 # reasoning content (with expect_images: no image) is an error record of kind 8
    max_response_bytes: int      # largest response body; a larger one is cut off as error kind 7; 0 = no limit
    warmup_duration_s: float     # warm-up stops starting sessions after this long (0 = no limit)
    request_rate: float          # open loop: sessions per second (0 = closed loop)
    arrival_pattern: str         # constant | poisson | gamma
    arrival_smoothness: float    # gamma shape (< 1 burstier, > 1 smoother)
    request_rate_ramp_s: float   # rate ramps from request_rate * 0.1 s / ramp to request_rate over this long (0: none)
    concurrency_ramp_s: float    # in flight ramps from 1 to concurrency over this long, one more at a time (0: none)
    kernel_timestamps: bool      # time response bytes by their kernel receive timestamp (SO_TIMESTAMPNS + MSG_PEEK)
    random_seed: int             # arrival times and cancellation choices
    cancellation_rate: float     # fraction (0..1) of requests cancelled cancellation_delay_s after they start
    cancellation_delay_s: float
    shard_index: int             # distributed runs: this engine is shard shard_index of shard_count; request
    shard_count: int             # indices and session numbers are shard_index + shard_count * its own count
    profiling_start_ns: int      # CLOCK_MONOTONIC start of profiling common to several engines; 0 = after warm-up
    def __init__(self) -> None: ...

class Progress:
    """A snapshot of the run's counters (Engine.progress()); read-only."""
    @property
    def sent(self) -> int: ...  # requests started (warm-up included)
    @property
    def completed(self) -> int: ...  # requests finished (success or error)
    @property
    def errors(self) -> int: ...  # finished with an error
    @property
    def in_flight(self) -> int: ...
    @property
    def phase(self) -> int: ...  # 0 warm-up, 1 profiling, 2 finished
    @property
    def profiling_start_ns(self) -> int: ...  # CLOCK_MONOTONIC when profiling began, 0 before

class Engine:
    def __init__(
        self,
        config: EngineConfig,
        bodies: list[bytes],
        order: npt.ArrayLike | None = None,
        sessions: npt.ArrayLike | None = None,
        turn_delays_ns: npt.ArrayLike | None = None,
        schedule_ns: npt.ArrayLike | None = None,
    ) -> None:
        """What a run sends: sessions of turns (cpp/include/aiperf/engine/engine.hpp, Workload).

        Without `sessions`, every entry of `order` (int32; or every body when order is None) is a session of one
        turn, and session k sends bodies[order[k % len(order)]]. With `sessions` (int64 offsets, len = sessions + 1),
        session s is the turns order[sessions[s]:sessions[s+1]], sent one after the other; turn_delays_ns (int64,
        one per entry of order) is the wait after the previous turn ended. A body may hold history holes, the JSON
        string "\\u0000aiperf-turn:J\\u0000", replaced when sent by the response text of turn J of its session.
        schedule_ns (int64): a fixed schedule, profiling session k starts schedule_ns[k] after profiling starts.
        Raises EngineError for an invalid configuration or workload."""
    def start(self) -> None: ...                   # starts the loop threads and returns
    def wait(self, timeout_s: float) -> bool: ...  # releases the GIL; True once the run has finished
    def stop(self) -> None: ...                    # stop sending, cancel in-flight requests (any thread)
    def progress(self) -> Progress: ...
    def records(self) -> dict[str, npt.NDArray[Any]]:
        """Columnar records of every request started, after the run finished. n = number of records.
        The columns, their types and kinds are RECORD_SCHEMA's.

        request_index int64[n], body_index int32[n], worker_id int32[n], phase int8[n] (Phase: 0 warm-up, 1 profiling)
        start_ns, ack_ns, end_ns int64[n]: CLOCK_MONOTONIC ns; start = handed to the transport, ack = first
            response byte, end = last byte/transfer done; -1 when it never happened
        status int32[n] (HTTP status, 0 without a response)
        error_kind int8[n] (ErrorKind): 0 ok, 1 connect, 2 timeout, 3 http status >= 400, 4 transport (reset,
            dropped stream), 5 invalid response (bad JSON/SSE, wrong Content-Type, text stream without [DONE]),
            6 cancelled, 7 response too large (over EngineConfig.max_response_bytes), 8 empty response
            (expect_content: a 2xx response without content or reasoning content, or without an image; AIPerf's
            InvalidInferenceResultError)
        was_cancelled bool[n]
        error_message_offsets int64[n+1], error_message uint8[...]: UTF-8 message per record ("" when ok)
        chunk_offsets int64[n+1]: record r owns chunks chunk_offsets[r]:chunk_offsets[r+1]
        chunk_ns int64[chunks]: arrival time of each SSE data event (incl. [DONE]) or, non-streaming, of the body
        chunk_content_bytes int32[chunks]: bytes of content + reasoning text extracted from that chunk
        content_offsets int64[n+1], content uint8[...]: concatenated content text (delta.content / text / message)
        reasoning_offsets int64[n+1], reasoning uint8[...]: concatenated reasoning_content / reasoning text
        usage_prompt_tokens, usage_completion_tokens, usage_reasoning_tokens int64[n]: from `usage`, -1 absent
        num_images int32[n]: length of `data` in image responses (0 otherwise)
        response_bytes int64[n]
        raw_offsets int64[chunks+1], raw uint8[...]: text of every chunk (keep_raw only, else empty arrays)
        response_header_offsets int64[n+1], response_headers uint8[...]: raw header block (keep_raw only)
        request_header_offsets int64[n+1], request_headers uint8[...]: the request line and header block exactly as
            libcurl sent them, ending with the blank line ("" when nothing was sent; keep_raw only)
        """
    def drain(self) -> dict[str, npt.NDArray[Any]]:
        """The records finished since the previous drain(), same columns as records() (zero rows possible),
        sorted by request_index within the batch. Callable from any thread during and after the run (releases
        the GIL); once the run has finished and everything was drained, empty. A run uses drain() or records(),
        not both: the other raises EngineError."""
    @property
    def anchor_wall_ns(self) -> int: ...  # CLOCK_REALTIME read together with anchor_mono_ns at run start
    @property
    def anchor_mono_ns(self) -> int: ...

def monotonic_ns() -> int: ...  # CLOCK_MONOTONIC, the engine's clock
def arrival_offsets_ns(
    config: EngineConfig, count: int, duration_s: float = 0.0, stream: int = 1
) -> npt.NDArray[np.int64]:
    """The open-loop schedule the engine would use (ns from the phase start): `count` session starts, or with
    count 0 all that fall before duration_s; stream 1 = profiling, 2 = warm-up. Same config, same schedule."""
def libcurl_version() -> tuple[str, str]: ...  # (loaded at run time, compiled against)
def set_mmap_threshold(bytes: int) -> bool: ...  # glibc mallopt(M_MMAP_THRESHOLD): blocks >= bytes get own pages
def trim_memory() -> bool: ...  # glibc malloc_trim(0): free heap pages back to the system; False elsewhere

# ---- Mock server (cpp/include/aiperf/mock_server.hpp) --------------------------------------------------------
class MockServerConfig:
    host: str
    port: int                 # 0 = pick a free port
    ttft_ms: float
    itl_ms: float
    output_tokens: int        # tokens per completion when the request does not ask for fewer
    threads: int
    image_latency_ms: float   # images/generations and images/edits: request arrival to the reply
    faults: list[tuple[str, float]]  # (kind, fraction) per fault, kinds from mock_fault_kinds(); fractions sum <= 1
    seed: int                 # chooses the faulty requests (by X-Request-ID, see mock_choose_fault)
    huge_response_bytes: int  # size of a huge-response reply
    timing_log_path: str      # non-empty: per-request receive and send times written there (docs/accuracy.md)
    def __init__(self) -> None: ...

class MockServer:
    def __init__(self, config: MockServerConfig) -> None: ...
    def start(self) -> int: ...            # binds, starts serving in background threads, returns the bound port
    def stop(self) -> None: ...
    def wait(self, timeout_s: float) -> bool: ...  # releases the GIL; True once stopped
    @property
    def port(self) -> int: ...
    def stats(self) -> dict[str, int]:
        """Counters since start: requests per route (health, models, chat_completions, completions, embeddings,
        image_generations, image_edits, mock_images, not_found, method_not_allowed, bad_request; their sum is
        `requests`), streams_open, client_disconnects, stream_tokens_sent, stream_tokens_late_over_1ms (written more
        than 1 ms after their due time), images_sent, chat_image_parts (image_url parts in chat requests), and
        fault_<kind> (kind with '_' for '-') per fault kind: replies that got that fault."""

def mock_fault_kinds() -> list[str]: ...  # "http-500", "http-429", …, "ignore-max-tokens"
def mock_choose_fault(faults: list[tuple[str, float]], seed: int, request_key: str) -> str:
    """The fault kind the mock server gives the request with this X-Request-ID ('' for none); raises EngineError for
    an unknown kind or invalid fractions."""

# ---- Images and multipart bodies (cpp/include/aiperf/png.hpp, multipart.hpp) ---------------------------------
def encode_png(width: int, height: int, seed: int, compression_level: int = 1) -> bytes:
    """A deterministic synthetic PNG (same seed, same bytes; each seed a different image): an 8-bit palette picture
    (256 seeded colours) of a landscape - sky gradient, sun, fractal mountain ridges, textured ground. Level 1 uses
    zlib's run-length strategy (fast), 0 stores, 2-9 use zlib's default strategy. Raises EngineError for sizes
    outside 1..16384 or a compression level outside 0..9. Releases the GIL."""

def encode_png_rgb(
    pixels: bytes | bytearray | memoryview | Any,
    width: int | None = None,
    height: int | None = None,
    compression_level: int = 1,
) -> bytes:
    """Encode 8-bit RGB pixels as PNG: a C-contiguous uint8 HxWx3 array (numpy), or width*height*3 bytes with
    width and height given. Releases the GIL."""

def png_size(data: bytes | bytearray | memoryview) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, or (0, 0) when the bytes are not a PNG."""

def sniff_image_type(data: bytes | bytearray | memoryview) -> str | None:
    """'image/png', 'image/jpeg', 'image/webp' or 'image/gif' from the magic bytes, or None."""

def multipart_encode(
    fields: Sequence[tuple[str, str]],
    files: Sequence[tuple[str, str, bytes | bytearray | memoryview, str | None]],
    boundary: str | None = None,
) -> tuple[str, bytes]:
    """A multipart/form-data body (RFC 7578): the text fields, then the files, each in the order given.
    files: (field name, filename, data, content type or None to sniff it from the bytes, else
    application/octet-stream). Names and filenames have '"', CR, LF escaped as %22, %0D, %0A.
    Returns (Content-Type header value with the boundary, body). Without `boundary` a random one is used and
    replaced if it occurs in a part; a given boundary that occurs in a part raises EngineError. Releases the GIL."""
