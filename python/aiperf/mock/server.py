"""The mock server from Python: `MockServer` (a context manager for tests and notebooks), `serve()` (blocks, stops
cleanly on Ctrl-C / SIGTERM) and `run_cli()` (`aiperf mock-server …`). The serving itself is C++ (aiperf._engine).

Behaviour (see `aiperf mock-server --help`):
- POST /v1/chat/completions, /v1/completions: OpenAI-shaped replies; with "stream": true an SSE stream whose first
  token comes after ttft_ms and every further one itl_ms later (scheduled from the request's arrival, so delays
  do not accumulate); a non-streaming reply comes after ttft_ms + itl_ms x (tokens - 1).
- Output tokens: min(max_tokens or max_completion_tokens, output_tokens) when the request gives a limit, else
  output_tokens. Every token is a word that is exactly one GPT-2 token with its leading space (" the", " of", …),
  so a GPT-2 tokenizer counts exactly that many tokens in the text.
- usage.prompt_tokens is estimated as ceil(characters of prompt text / 4); in streams usage is sent only when
  stream_options.include_usage is true.
- POST /v1/embeddings: one 768-float vector per input, after ttft_ms. GET /health, GET /v1/models ("mock").
- POST /v1/images/generations (JSON) and /v1/images/edits (multipart/form-data, reference image in `image`):
  n real PNGs of the requested size (edits: the reference image's size by default) as b64_json, or as URLs
  served at GET /v1/mock-images/WxH.png, after image_latency_ms; with "stream": true SSE events
  `image_generation.completed` / `image_edit.completed` carrying b64_json, then data: [DONE].
- Chat content may be a list of text and image_url parts: image parts are counted (stats()["chat_image_parts"])
  and add 85 tokens each to usage.prompt_tokens.
- Faults (`--fault KIND:FRACTION`, repeatable): that fraction of the inference requests fails in that way, chosen
  by a hash of --seed and the request's X-Request-ID (docs/reliability.md lists the kinds).
- `--timing-log PATH`: per request its receive time and the send time of each SSE event or body (CLOCK_MONOTONIC
  ns), one JSON line per request keyed by X-Request-ID, for `aiperf analyze-accuracy` (docs/accuracy.md).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from typing_extensions import Self

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000  # the CLI's; MockServer() defaults to 0, a free port
DEFAULT_TTFT_MS = 20.0
DEFAULT_ITL_MS = 5.0
DEFAULT_OUTPUT_TOKENS = 128
DEFAULT_THREADS = 1
DEFAULT_IMAGE_LATENCY_MS = 100.0
DEFAULT_SEED = 0
DEFAULT_HUGE_RESPONSE_BYTES = 1 << 30
_POLL_S = 0.2  # how often serve() lets Python run signal handlers while the C++ loops serve

FaultSpec = str | tuple[str, float]  # "http-500:0.1" or ("http-500", 0.1)


def fault_kinds() -> list[str]:
    """The fault kinds, in the order of docs/reliability.md."""
    from aiperf import _engine

    return list(_engine.mock_fault_kinds())


def parse_fault(spec: FaultSpec) -> tuple[str, float]:
    """`KIND:FRACTION` (or a (kind, fraction) pair) -> (kind, fraction); ValueError naming what is wrong."""
    if isinstance(spec, str):
        kind, colon, fraction_text = spec.rpartition(":")
        if not colon or not kind:
            raise ValueError(f"--fault {spec!r}: expected KIND:FRACTION, e.g. http-500:0.1")
        try:
            fraction = float(fraction_text)
        except ValueError:
            raise ValueError(f"--fault {spec!r}: the fraction {fraction_text!r} is not a number") from None
    else:
        kind, fraction = spec[0], float(spec[1])
    kinds = fault_kinds()
    if kind not in kinds:
        raise ValueError(f"--fault {kind}: unknown kind; one of {', '.join(kinds)}")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"--fault {kind}:{fraction:g}: the fraction must be between 0 and 1")
    return kind, fraction


def parse_faults(specs: Sequence[FaultSpec]) -> list[tuple[str, float]]:
    faults = [parse_fault(spec) for spec in specs]
    kinds = [kind for kind, _ in faults]
    for kind in kinds:
        if kinds.count(kind) > 1:
            raise ValueError(f"--fault {kind}: given more than once")
    if sum(fraction for _, fraction in faults) > 1.0 + 1e-9:
        raise ValueError("--fault: the fractions add up to more than 1")
    return faults


class MockServer:
    """An OpenAI-compatible mock server on background threads.

    `with MockServer(port=0, ttft_ms=5, itl_ms=1) as server: server.url` -> "http://127.0.0.1:PORT".
    """

    def __init__(
        self,
        host: str = DEFAULT_HOST,
        port: int = 0,
        ttft_ms: float = DEFAULT_TTFT_MS,
        itl_ms: float = DEFAULT_ITL_MS,
        output_tokens: int = DEFAULT_OUTPUT_TOKENS,
        threads: int = DEFAULT_THREADS,
        image_latency_ms: float = DEFAULT_IMAGE_LATENCY_MS,
        faults: Sequence[FaultSpec] = (),
        seed: int = DEFAULT_SEED,
        huge_response_bytes: int = DEFAULT_HUGE_RESPONSE_BYTES,
        timing_log: str | os.PathLike[str] | None = None,
    ) -> None:
        from aiperf import _engine

        config = _engine.MockServerConfig()
        config.host = host
        config.port = int(port)
        config.ttft_ms = float(ttft_ms)
        config.itl_ms = float(itl_ms)
        config.output_tokens = int(output_tokens)
        config.threads = int(threads)
        config.image_latency_ms = float(image_latency_ms)
        config.faults = parse_faults(faults)
        config.seed = int(seed)
        config.huge_response_bytes = int(huge_response_bytes)
        config.timing_log_path = os.fspath(timing_log) if timing_log is not None else ""
        self.host = host
        self.config = config
        self._server = _engine.MockServer(config)
        self._started = False

    def start(self) -> Self:
        """Bind and start serving; raises aiperf._engine.EngineError (e.g. the port is in use)."""
        self._server.start()
        self._started = True
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop serving and wait for the loop threads to finish (safe to call twice, and from any thread); the
        timing log, if any, is complete when this returns."""
        self._server.stop()
        self._server.wait(timeout_s)

    def request_stop(self) -> None:
        """Ask the server to stop without waiting (e.g. from a signal handler)."""
        self._server.stop()

    def wait(self, timeout_s: float | None = None) -> bool:
        """Block until stopped (True) or until timeout_s passed (False). The GIL is released meanwhile."""
        return bool(self._server.wait(-1.0 if timeout_s is None else float(timeout_s)))

    @property
    def port(self) -> int:
        return int(self._server.port)

    @property
    def url(self) -> str:
        """Base URL for clients, e.g. http://127.0.0.1:8000 (a wildcard bind address is reached via loopback)."""
        host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(self.host, self.host)
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def stats(self) -> dict[str, int]:
        """Requests per route, streams open, client disconnects, images sent, chat image parts, faults per kind
        (see _engine.pyi)."""
        return dict(self._server.stats())

    def fault_for(self, request_id: str) -> str | None:
        """The fault kind a request with this X-Request-ID gets (when it fits the request), or None."""
        from aiperf import _engine

        kind = _engine.mock_choose_fault(self.config.faults, self.config.seed, request_id)
        return kind or None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.url if self._started else "not started"
        return (
            f"MockServer({where}, ttft_ms={self.config.ttft_ms}, itl_ms={self.config.itl_ms}, "
            f"output_tokens={self.config.output_tokens}, threads={self.config.threads}, "
            f"image_latency_ms={self.config.image_latency_ms}, faults={self.config.faults}, seed={self.config.seed})"
        )


def serve(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    ttft_ms: float = DEFAULT_TTFT_MS,
    itl_ms: float = DEFAULT_ITL_MS,
    output_tokens: int = DEFAULT_OUTPUT_TOKENS,
    threads: int = DEFAULT_THREADS,
    out: TextIO | None = None,
    image_latency_ms: float = DEFAULT_IMAGE_LATENCY_MS,
    faults: Sequence[FaultSpec] = (),
    seed: int = DEFAULT_SEED,
    huge_response_bytes: int = DEFAULT_HUGE_RESPONSE_BYTES,
    timing_log: str | os.PathLike[str] | None = None,
) -> int:
    """Serve until SIGINT/SIGTERM; print `listening on http://HOST:PORT` once connections are accepted. Returns 0."""
    server = MockServer(host, port, ttft_ms, itl_ms, output_tokens, threads, image_latency_ms, faults, seed,
                        huge_response_bytes, timing_log).start()
    previous: dict[signal.Signals, Any] = {}

    def on_signal(signum: int, frame: FrameType | None) -> None:
        server.request_stop()

    # Signal handlers can only be installed from the main thread; elsewhere the caller stops us.
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, on_signal)
    try:
        stream = out if out is not None else sys.stdout
        print(f"listening on http://{host}:{server.port}", file=stream, flush=True)
        if server.config.faults:
            kinds = ", ".join(f"{kind} {fraction:g}" for kind, fraction in server.config.faults)
            print(f"faults (seed {server.config.seed}): {kinds}", file=stream, flush=True)
        # Short waits so Python gets to run the signal handler; the C++ loop threads serve meanwhile.
        while not server.wait(_POLL_S):
            pass
    finally:
        server.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0


@dataclass(frozen=True)
class CliOption:
    """One `aiperf mock-server` flag: its names, where it goes, its type and default, its help."""

    flags: tuple[str, ...]
    dest: str
    help: str
    type: Callable[[str], Any] | None = None
    default: Any = None
    metavar: str | None = None
    action: str | None = None  # "store_true", "append"; None stores the value

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        # A stored value's default ends the help, as in `aiperf profile --help`; flags and lists have none to show.
        shown = self.action is None and self.default is not None
        kwargs: dict[str, Any] = {"dest": self.dest, "help": f"{self.help} [default: {self.default}]" if shown
                                  else self.help}
        if self.action == "store_true":
            kwargs["action"] = "store_true"
        else:
            kwargs["default"] = list(self.default) if self.action == "append" else self.default
            if self.action:
                kwargs["action"] = self.action
            if self.type is not None:
                kwargs["type"] = self.type
            if self.metavar is not None:
                kwargs["metavar"] = self.metavar
        parser.add_argument(*self.flags, **kwargs)


CLI_OPTIONS: tuple[CliOption, ...] = (
    CliOption(("--host",), "host", "bind address", default=DEFAULT_HOST),
    CliOption(("--port", "-p"), "port", "listen port, 0 = a free port", int, DEFAULT_PORT),
    CliOption(("--ttft-ms", "--ttft", "-t"), "ttft_ms", "time to first token in ms", float, DEFAULT_TTFT_MS, "MS"),
    CliOption(("--itl-ms", "--itl"), "itl_ms", "inter-token latency in ms", float, DEFAULT_ITL_MS, "MS"),
    CliOption(("--output-tokens",), "output_tokens", "tokens per completion when the request does not ask for fewer",
              int, DEFAULT_OUTPUT_TOKENS, "N"),
    CliOption(("--threads", "--workers", "-w"), "threads", "event-loop threads sharing the port", int,
              DEFAULT_THREADS, "T"),
    CliOption(("--image-latency-ms",), "image_latency_ms",
              "images/generations and images/edits: time from the request to the reply (streams: to the completed "
              "events) in ms", float, DEFAULT_IMAGE_LATENCY_MS, "MS"),
    CliOption(("--fast",), "fast", "no latency at all: TTFT, ITL and image latency 0", action="store_true"),
    CliOption(("--fault",), "faults",
              "fail this fraction (0-1) of the inference requests in this way (repeatable; fractions add up to at "
              "most 1): http-500, http-429, http-400, reset-before-response, reset-mid-stream, no-done, bad-json, "
              "bad-sse, huge-response, hang, trickle, wrong-content-type, bad-base64, empty-response, no-usage, "
              "ignore-max-tokens (see docs/reliability.md)", default=(), metavar="KIND:FRACTION", action="append"),
    CliOption(("--seed",), "seed", "chooses which requests get a fault (by their X-Request-ID)", int, DEFAULT_SEED,
              "N"),
    CliOption(("--huge-response-bytes",), "huge_response_bytes", "size of a huge-response reply", int,
              DEFAULT_HUGE_RESPONSE_BYTES, "BYTES"),
    CliOption(("--timing-log",), "timing_log",
              "write each request's receive time and the send time of each SSE event or body (CLOCK_MONOTONIC ns) "
              "to PATH, one JSON line per request keyed by X-Request-ID, complete when the server stops; read by "
              "`aiperf analyze-accuracy` (see docs/accuracy.md)", metavar="PATH"),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="aiperf mock-server",
        description="Start an OpenAI-compatible mock server (chat, completions, embeddings, images/generations, "
        "images/edits) with configurable time to first token, inter-token latency and image latency. Prints "
        "'listening on http://HOST:PORT' when ready; stops on Ctrl-C or SIGTERM.",
        epilog="Output tokens: min(max_tokens or max_completion_tokens, --output-tokens) when the request gives a "
        "limit, else --output-tokens; each token is one GPT-2 token (' the', ' of', ...). usage.prompt_tokens "
        "is estimated as ceil(prompt characters / 4). Non-streaming replies wait TTFT + ITL x (tokens - 1).",
    )
    for option in CLI_OPTIONS:
        option.add_to(parser)
    return parser


def run_cli(argv: Sequence[str] | None = None) -> int:
    """`aiperf mock-server [flags]`: serve until interrupted; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.fast:
        args.ttft_ms = args.itl_ms = args.image_latency_ms = 0.0
    if not 0 <= args.port <= 65535:
        parser.error("--port must be between 0 and 65535")
    if args.ttft_ms < 0 or args.itl_ms < 0:
        parser.error("--ttft-ms and --itl-ms must be >= 0")
    if args.image_latency_ms < 0:
        parser.error("--image-latency-ms must be >= 0")
    if args.output_tokens < 0:
        parser.error("--output-tokens must be >= 0")
    if not 1 <= args.threads <= 256:
        parser.error("--threads must be between 1 and 256")
    if args.huge_response_bytes < 1:
        parser.error("--huge-response-bytes must be >= 1")
    if not 0 <= args.seed < 2**64:
        parser.error("--seed must be between 0 and 2**64 - 1")
    try:
        faults = parse_faults(args.faults)
    except ValueError as e:
        parser.error(str(e))
    from aiperf._engine import EngineError

    try:
        return serve(
            args.host,
            args.port,
            args.ttft_ms,
            args.itl_ms,
            args.output_tokens,
            args.threads,
            image_latency_ms=args.image_latency_ms,
            faults=faults,
            seed=args.seed,
            huge_response_bytes=args.huge_response_bytes,
            timing_log=args.timing_log,
        )
    except EngineError as e:
        print(f"aiperf mock-server: error: {e}", file=sys.stderr)
        return 1
