"""A worker's CLOCK_MONOTONIC offset from the driver's, measured NTP-style.

Each probe reads the driver clock, asks the worker for its clock, and reads the driver clock again: assuming the
reply was read halfway through the round trip, offset = worker - (before + after) / 2, known to within half the
round trip. The probe with the shortest round trip wins. Monotonic clocks of different hosts share no origin, so
the offset can be anything; on one host it is about 0 (CLOCK_MONOTONIC is shared), but nothing here assumes so.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class ClockOffset:
    offset_ns: int      # worker clock minus driver clock
    round_trip_ns: int  # of the probe used: the offset is right to within +/- round_trip_ns / 2

    def to_driver(self, worker_ns: int) -> int:
        return worker_ns - self.offset_ns

    def to_worker(self, driver_ns: int) -> int:
        return driver_ns + self.offset_ns


def measure_offset(read_worker_clock: Callable[[], int], read_driver_clock: Callable[[], int],
                   probes: int = 16) -> ClockOffset:
    """The best of `probes` round trips; read_worker_clock() returns the worker's clock (a blocking call)."""
    best: ClockOffset | None = None
    for _ in range(probes):
        before = read_driver_clock()
        worker = read_worker_clock()
        after = read_driver_clock()
        sample = ClockOffset(offset_ns=worker - (before + (after - before) // 2), round_trip_ns=after - before)
        if best is None or sample.round_trip_ns < best.round_trip_ns:
            best = sample
    assert best is not None, "probes must be >= 1"
    return best
