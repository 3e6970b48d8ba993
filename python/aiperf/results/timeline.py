"""Throughput and concurrency over time, from per-request start/end times (pure numpy, no pandas).

Every function takes int64 nanosecond arrays on one clock (epoch or monotonic, it does not matter) and returns
numpy arrays, so the Python API, the plots and the exports can share it. Requests that never started carry a start
<= 0 (the engine's -1, or NaN from a DataFrame) and are ignored; a request that started but has no end (still in
flight when the run was cancelled) is treated as in flight until `run_end_ns`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Timeline", "compute_timeline", "concurrency_steps", "nice_bin_s"]

NS_PER_S = 1_000_000_000
_NICE_STEPS = (1.0, 2.0, 5.0)


@dataclass(frozen=True)
class Timeline:
    """Per-bin series; bin i covers [time_s[i], time_s[i] + bin_s) seconds after `origin_ns` (the last bin only
    up to the run's end: its rates and mean are over that part)."""

    origin_ns: int
    bin_s: float
    time_s: npt.NDArray[np.float64]
    request_throughput: npt.NDArray[np.float64]  # successful requests completed per second
    error_rate: npt.NDArray[np.float64]  # failed requests completed per second
    send_rate: npt.NDArray[np.float64]  # requests started per second
    concurrency: npt.NDArray[np.float64]  # time-weighted mean of requests in flight
    max_concurrency: npt.NDArray[np.int64]  # most requests in flight at any instant of the bin
    output_token_throughput: npt.NDArray[np.float64] | None  # output tokens of requests completed, per second
    intended_rate: npt.NDArray[np.float64] | None  # requests scheduled per second (open-loop runs)
    send_lag_ms: npt.NDArray[np.float64] | None  # mean (actual - intended) start of requests scheduled in the bin
    # the counts behind the rates: rate = count / covered_s
    covered_s: npt.NDArray[np.float64]  # seconds of the bin inside the run (bin_s, less for the last bin)
    started: npt.NDArray[np.int64]  # requests started in the bin
    completed: npt.NDArray[np.int64]  # successful requests that ended in the bin
    failed: npt.NDArray[np.int64]  # failed requests that ended in the bin
    output_tokens: npt.NDArray[np.float64] | None  # output tokens of the successful requests that ended in the bin

    def columns(self) -> dict[str, npt.NDArray[Any]]:
        """The series by name (what `Run.timeline` turns into a DataFrame); absent series are left out."""
        names = ("time_s", "request_throughput", "error_rate", "send_rate", "concurrency", "max_concurrency",
                 "output_token_throughput", "intended_rate", "send_lag_ms")
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}


def nice_bin_s(duration_s: float, target_bins: int = 60) -> float:
    """A round bin width (1, 2 or 5 x 10^k seconds, at least 1 ms) giving about `target_bins` bins."""
    if not duration_s > 0:
        return 1.0
    raw = duration_s / target_bins
    exponent = math.floor(math.log10(raw))
    for step in _NICE_STEPS:
        width = step * 10.0 ** exponent
        if width >= raw:
            return max(width, 1e-3)
    return max(10.0 ** (exponent + 1), 1e-3)


def _as_ns(values: npt.ArrayLike | None) -> npt.NDArray[np.int64] | None:
    """int64 ns with missing values (None, NaN, negatives) as -1."""
    if values is None:
        return None
    array = np.asarray(values)
    if array.dtype == object or array.dtype.kind == "f":
        array = np.asarray(array, dtype=np.float64)
        return np.where(np.isfinite(array) & (array > 0), array, -1).astype(np.int64)
    return np.where(array > 0, array, -1).astype(np.int64)


def concurrency_steps(start_ns: npt.ArrayLike, end_ns: npt.ArrayLike, run_end_ns: int | None = None
                      ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Exact requests-in-flight step function: (times_ns, in_flight) where in_flight[k] holds from times_ns[k]
    until times_ns[k+1]. A request counts from its start (inclusive) to its end (exclusive)."""
    start = _as_ns(start_ns)
    end = _as_ns(end_ns)
    assert start is not None and end is not None
    started = start > 0
    start, end = start[started], end[started]
    if run_end_ns is None:
        run_end_ns = int(max(end.max(initial=0), start.max(initial=0)))
    end = np.where(end > 0, np.maximum(end, start), run_end_ns)
    times = np.concatenate((start, end))
    deltas = np.concatenate((np.ones(len(start), np.int64), -np.ones(len(end), np.int64)))
    order = np.lexsort((deltas, times))  # at equal times ends (-1) first: back-to-back requests do not overlap
    times, deltas = times[order], deltas[order]
    in_flight = np.cumsum(deltas)
    # one step per distinct time: the count after the last event at that time
    last = np.append(times[1:] != times[:-1], True) if len(times) else np.zeros(0, bool)
    return times[last], in_flight[last]


def compute_timeline(start_ns: npt.ArrayLike, end_ns: npt.ArrayLike, *, ok: npt.ArrayLike | None = None,
                     output_tokens: npt.ArrayLike | None = None, intended_start_ns: npt.ArrayLike | None = None,
                     origin_ns: int | None = None, run_end_ns: int | None = None, bin_s: float | None = None
                     ) -> Timeline:
    """Bin a run's requests over time.

    `ok` marks successful requests (default: all); `output_tokens` (per request, NaN allowed) adds the output
    token throughput, unless successful requests have no count at all; `intended_start_ns` (open-loop schedules:
    when each request should have been sent) adds the intended rate and the send lag. Time 0 is `origin_ns`
    (default: the first intended or actual start).
    """
    start = _as_ns(start_ns)
    end = _as_ns(end_ns)
    assert start is not None and end is not None
    if start.shape != end.shape:
        raise ValueError(f"start_ns and end_ns differ in length ({len(start)} != {len(end)})")
    n = len(start)
    ok_mask = np.ones(n, bool) if ok is None else np.asarray(ok, dtype=bool)
    intended = _as_ns(intended_start_ns)
    if intended is not None and not (intended > 0).any():
        intended = None  # closed-loop runs write null for every request
    started = start > 0
    candidates = [start[started]] + ([intended[intended > 0]] if intended is not None else [])
    firsts = [int(c.min()) for c in candidates if len(c)]
    if origin_ns is None:
        origin_ns = min(firsts) if firsts else 0
    if run_end_ns is None:
        lasts = [int(a.max()) for a in (end[end > 0], start[started]) if len(a)]
        run_end_ns = max(lasts) if lasts else origin_ns
    duration_s = max(run_end_ns - origin_ns, 0) / NS_PER_S
    if bin_s is None:
        # about 5 completions per bin for short runs, at most 60 bins
        bin_s = nice_bin_s(duration_s, target_bins=min(60, max(10, int((end > 0).sum()) // 5)))
    if not bin_s > 0:
        raise ValueError(f"bin_s must be > 0 (got {bin_s})")
    bins = max(math.ceil(duration_s / bin_s - 1e-9), 1)
    edges_ns = origin_ns + np.round(np.arange(bins + 1) * bin_s * NS_PER_S).astype(np.int64)
    # rates are per second of the bin that the run covered: the last bin usually ends after the run
    covered_s = np.diff(np.minimum(edges_ns, max(run_end_ns, origin_ns + 1))) / NS_PER_S
    covered_s = np.where(covered_s > 0, covered_s, bin_s)

    def per_bin(times: npt.NDArray[np.int64], weights: npt.NDArray[np.float64] | None = None) -> npt.NDArray[Any]:
        counts, _ = np.histogram(times, bins=edges_ns, weights=weights)
        return counts

    finished = end > 0
    completed = per_bin(end[finished & ok_mask])
    failed = per_bin(end[finished & ~ok_mask])
    sends = per_bin(start[started])
    tokens = token_counts = None
    if output_tokens is not None:
        counts = np.asarray(output_tokens, dtype=np.float64)
        use = finished & ok_mask & np.isfinite(counts)
        if use.any() or not (finished & ok_mask).any():  # successes without any count (no usage): no zeros series
            token_counts = per_bin(end[use], counts[use]).astype(np.float64)
            tokens = token_counts / covered_s

    step_times, in_flight = concurrency_steps(start, end, run_end_ns)
    covered_edges = np.append(edges_ns[:-1], edges_ns[:-1][-1] + round(covered_s[-1] * NS_PER_S))
    mean_concurrency, max_concurrency = _bin_steps(step_times, in_flight, covered_edges)

    intended_rate = lag = None
    if intended is not None:
        scheduled = intended > 0
        intended_rate = per_bin(intended[scheduled]) / covered_s
        sent = scheduled & started
        lag_sum, _ = np.histogram(intended[sent], bins=edges_ns, weights=(start[sent] - intended[sent]) / 1e6)
        lag_count, _ = np.histogram(intended[sent], bins=edges_ns)
        with np.errstate(invalid="ignore", divide="ignore"):
            lag = np.where(lag_count > 0, lag_sum / np.maximum(lag_count, 1), np.nan)

    time_s = np.arange(bins, dtype=np.float64) * float(bin_s)
    return Timeline(origin_ns=int(origin_ns), bin_s=float(bin_s), time_s=time_s,
                    request_throughput=completed / covered_s, error_rate=failed / covered_s,
                    send_rate=sends / covered_s, concurrency=mean_concurrency, max_concurrency=max_concurrency,
                    output_token_throughput=tokens, intended_rate=intended_rate, send_lag_ms=lag, covered_s=covered_s,
                    started=sends.astype(np.int64), completed=completed.astype(np.int64),
                    failed=failed.astype(np.int64), output_tokens=token_counts)


def _bin_steps(times: npt.NDArray[np.int64], values: npt.NDArray[np.int64], edges: npt.NDArray[np.int64]
               ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Time-weighted mean and maximum of a step function (value[k] from times[k]; 0 before times[0]) per bin."""
    bins = len(edges) - 1
    if len(times) == 0:
        return np.zeros(bins), np.zeros(bins, np.int64)
    # integral of the step function at each step time, then interpolated (it is piecewise linear) at the edges;
    # times relative to the first edge, as epoch ns do not fit a float64 exactly
    rel_times = (times - edges[0]).astype(np.float64)
    rel_edges = (edges - edges[0]).astype(np.float64)
    integral = np.concatenate(([0.0], np.cumsum(values[:-1] * np.diff(rel_times))))
    at_edges = np.interp(rel_edges, rel_times, integral, left=0.0)
    beyond = rel_edges > rel_times[-1]
    at_edges[beyond] = integral[-1] + values[-1] * (rel_edges[beyond] - rel_times[-1])
    mean = np.diff(at_edges) / np.diff(rel_edges)
    # maximum: the value holding at each bin's left edge, and every step inside the bin
    holding = np.searchsorted(times, edges[:-1], side="right") - 1
    at_left = np.where(holding >= 0, values[np.maximum(holding, 0)], 0)
    step_bin = np.searchsorted(edges, times, side="right") - 1
    inside = (step_bin >= 0) & (step_bin < bins)
    maximum = at_left.astype(np.int64)
    np.maximum.at(maximum, step_bin[inside], values[inside])
    return mean, maximum
