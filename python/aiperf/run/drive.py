"""Running the engine: the progress loop, the thread that takes finished records while it runs, thread priorities
and the process limits a run needs (docs/architecture.md#long-runs)."""
from __future__ import annotations

import logging
import os
import resource
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from aiperf.config import ConfigError, ProfileConfig
from aiperf.engine import EngineLike, Records, set_mmap_threshold, trim_memory
from aiperf.inputs.tokenizer import tokenize_in_calling_thread
from aiperf.run.interrupts import Interrupts

log = logging.getLogger("aiperf")

DRAIN_INTERVAL_S = 0.5  # records are taken from the engine (and written out) this often while it runs,
DRAIN_RECORDS = 8192  # or as soon as this many finished since the last time (bounds a batch's memory)
TRIM_INTERVAL_S = 2.0  # free heap pages go back to the system this often during a run
BACKLOG_RECORDS = 8192  # records left in the engine past which the batch thread gets normal priority
MMAP_THRESHOLD_BYTES = 256 * 1024  # blocks this big get pages of their own during a run
FILE_HEADROOM = 256  # open files besides the sockets: log file, tokenizer, epoll/timer fds, Python itself


def set_thread_idle(native_id: int, idle: bool) -> bool:
    """Puts a thread of this process under SCHED_IDLE, or back to SCHED_OTHER; False where that is refused."""
    try:
        os.sched_setscheduler(native_id, os.SCHED_IDLE if idle else os.SCHED_OTHER, os.sched_param(0))
        return True
    except (AttributeError, OSError):
        return False


def may_raise_priority() -> bool:
    """Whether a thread of this process may leave SCHED_IDLE again (Linux: CAP_SYS_NICE, approximated by root, or
    an RLIMIT_NICE that allows nice 0)."""
    if not hasattr(os, "SCHED_IDLE"):
        return False
    try:
        soft, _ = resource.getrlimit(resource.RLIMIT_NICE)
    except (AttributeError, ValueError, OSError):
        soft = 0
    return os.geteuid() == 0 or soft == resource.RLIM_INFINITY or soft >= 20


class BatchTaker(threading.Thread):
    """Takes the engine's finished records every DRAIN_INTERVAL_S (or DRAIN_RECORDS) and hands them to `on_batch`.

    It runs under SCHED_IDLE where the process may switch it back (so writing records never preempts the loop
    threads that take timestamps), and `pace()` gives it normal priority while more than BACKLOG_RECORDS wait (so
    memory stays bounded on a saturated machine); without that permission it stays at normal priority. A failing
    `on_batch` stops the engine, and `finish()` raises its error."""

    def __init__(self, engine: EngineLike, on_batch: Callable[[Records], None]) -> None:
        super().__init__(name="aiperf-records", daemon=True)
        self._engine = engine
        self._on_batch = on_batch
        self._finished = threading.Event()
        self._native_id: int | None = None
        self._idle = False
        self._may_switch = may_raise_priority()
        self.taken = 0  # records handed to on_batch so far
        self.error: BaseException | None = None

    def _set_idle(self, idle: bool) -> None:
        if not self._may_switch or self._native_id is None or idle == self._idle:
            return
        if set_thread_idle(self._native_id, idle):
            self._idle = idle
        else:
            self._may_switch = False

    def pace(self, completed: int) -> None:
        """Main thread: keeps the backlog of records in the engine bounded."""
        backlog = completed - self.taken
        if self._idle and backlog > BACKLOG_RECORDS:
            self._set_idle(False)
        elif not self._idle and backlog < BACKLOG_RECORDS // 4:
            self._set_idle(True)

    def run(self) -> None:
        self._native_id = threading.get_native_id()
        self._set_idle(True)
        try:
            next_drain, drained = time.monotonic() + DRAIN_INTERVAL_S, 0
            next_trim = time.monotonic() + TRIM_INTERVAL_S
            while not self._finished.wait(0.05):
                completed = self._engine.progress().completed
                if time.monotonic() >= next_drain or completed - drained >= DRAIN_RECORDS:
                    drained = completed
                    batch = self._engine.drain()
                    self.taken += len(batch["request_index"])
                    self._on_batch(batch)
                    del batch
                    if time.monotonic() >= next_trim:  # seldom: trimming briefly locks the loop threads' heap
                        trim_memory()
                        next_trim = time.monotonic() + TRIM_INTERVAL_S
                    next_drain = time.monotonic() + DRAIN_INTERVAL_S
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


def drive_engine(engine: EngineLike, config: ProfileConfig, interrupts: Interrupts, *, total: int | None = None,
          on_started: Callable[[], None] | None = None,
          on_batch: Callable[[Records], None] | None = None) -> bool:
    """Runs the engine to its end, showing progress; True when the user cancelled it.

    `on_started()` runs right after the engine started (work that may overlap the run); `on_batch(records)` gets
    the records finished so far while the engine runs, from a BatchTaker (the caller drains the rest)."""
    from aiperf.results.console import ProgressDisplay  # rich: loaded while the first requests go out

    taker: BatchTaker | None = None
    # Token counting during the run stays in the (low-priority) threads that ask for it.
    with ProgressDisplay(config.effective_ui_type, total, config.warmup_request_count,
                         config.benchmark_duration) as display, tokenize_in_calling_thread():
        interrupts.engine = engine  # before start(): a signal right after it must stop the engine, not abandon it
        try:
            engine.start()
            if on_started is not None:
                on_started()
            if on_batch is not None:
                taker = BatchTaker(engine, on_batch)
                taker.start()
            while not engine.wait(0.1):
                progress = engine.progress()
                display.update(progress)
                if taker is not None:
                    taker.pace(progress.completed)
            if taker is not None:
                running = taker
                taker = None  # finished: the handler below must not finish it again
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


@contextmanager
def file_descriptors(connections: int | None) -> Iterator[None]:
    """Each in-flight request holds a socket: the soft RLIMIT_NOFILE is raised towards the hard limit for the run
    when it needs more (a ConfigError says why it cannot), and put back afterwards."""
    if connections is None:
        yield
        return
    needed = connections + FILE_HEADROOM
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= needed:
        yield
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
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def fix_mmap_threshold() -> None:
    """glibc: big blocks get pages of their own, so the batches' buffers go back to the system when freed. For the
    `aiperf` process only: glibc has no way to undo it (the threshold cannot be read, and setting it ends its
    dynamic adjustment), so aiperf.profile() leaves the caller's allocator alone."""
    set_mmap_threshold(MMAP_THRESHOLD_BYTES)
