"""Ctrl-C and SIGTERM during a run (docs/reliability.md#interruption): `with Interrupts() as interrupts:`."""
from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiperf.engine import EngineLike

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_Handler = Callable[[int, FrameType | None], object] | int | None  # what signal.signal() returns


class Interrupts:
    """Before the first request a signal abandons the run (KeyboardInterrupt); while the engine runs the first one
    stops it (in-flight requests are cancelled, everything measured is exported, the run is marked was_cancelled);
    after it the exports are finished. A second signal exits at once (code 130). Handlers are installed from the
    main thread only, and the previous ones put back on exit."""

    def __init__(self) -> None:
        self.count = 0
        self.engine: EngineLike | None = None  # set while the engine runs
        self.engine_finished = False  # a first signal after the run lets the exports finish
        self.cancelled = False
        self._previous: dict[int, _Handler] = {}

    def __enter__(self) -> Interrupts:
        if threading.current_thread() is threading.main_thread():
            for sig in _SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1
        name = signal.Signals(signum).name
        if self.count > 1:
            _say(f"{name} again: exiting at once")
            os._exit(130)
        if self.engine is not None:
            self.cancelled = True
            _say(f"{name}: stopping the run and writing what was measured (again to exit at once)")
            self.engine.stop()
        elif self.engine_finished:
            _say(f"{name}: finishing the exports (again to exit at once)")
        else:
            raise KeyboardInterrupt


def _say(message: str) -> None:
    # os.write, not print: the signal may interrupt a print to the same stream (a reentrant-call error).
    with contextlib.suppress(OSError):
        os.write(2, f"aiperf profile: {message}\n".encode())
