"""What a metric is (`MetricSpec`), and what a per-run metric is computed from (`Window`)."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

__all__ = ["NS_PER_MS", "NS_PER_S", "MetricKind", "MetricSpec", "PerRecord", "Window", "metric"]

NS_PER_MS = 1e6
NS_PER_S = 1e9

# tag -> float64 per record in display units, NaN where the metric does not apply or the request failed
PerRecord = dict[str, npt.NDArray[np.float64]]
# "record": one value per request, summarised by statistics; "counter": 0/1 per request, summed (never exported per
# record); "aggregate": one value per run; "derived": one value per run, from other metrics
MetricKind = Literal["record", "counter", "aggregate", "derived"]


@dataclass(frozen=True)
class Window:
    """The records a summary covers (the whole run or one time slice) and the time they span."""

    per_record: Mapping[str, npt.NDArray[np.float64]]
    valid: npt.NDArray[np.bool_]  # successful profiling records
    failed: npt.NDArray[np.bool_]  # failed profiling records
    duration_s: float
    start_wall_ns: int
    end_wall_ns: int
    good: npt.NDArray[np.bool_] | None = None  # successful records meeting every --goodput SLO (None: no SLOs)

    def per_second(self, count: float | None) -> float | None:
        if count is None:
            return None
        return count / self.duration_s if self.duration_s > 0 else 0.0

    def total(self, tag: str) -> float | None:
        """Sum over the successful records; None when the metric is absent, or when records succeeded but none
        of them has a value (a server that sent no usage): a total of nothing measured is not zero."""
        values = self.per_record.get(tag)
        if values is None:
            return None
        values = values[self.valid]
        if values.size and not np.isfinite(values).any():
            return None
        return float(np.nansum(values))


@dataclass(frozen=True)
class MetricSpec:
    """One metric: how it is named and shown, when it applies, and (per-run metrics) how it is computed."""

    tag: str
    header: str
    unit: str
    display_order: int | None  # console row order; None = exported only
    kind: MetricKind
    streaming_only: bool = False  # needs SSE chunk timings
    tokens_only: bool = False  # the endpoint returns generated text
    input_tokens_only: bool = False  # the endpoint tokenizes its input (ISL)
    images_only: bool = False  # only when responses carried images
    reasoning_only: bool = False  # only when reasoning text was returned
    goodput_only: bool = False  # only with --goodput
    scheduled_only: bool = False  # only when requests had intended send times (open loop, turn delays)
    client_tokens_only: bool = False  # compares the client's token counts with the server's: not with server counts
    error_only: bool = False  # computed on failed requests only; never in the main table
    no_console: bool = False  # exported, not printed
    no_individual_records: bool = False  # not in profile_export.jsonl
    larger_is_better: bool = False  # direction for goodput SLOs
    integer: bool = False  # per-record values are whole numbers (token counts)
    list_valued: bool = False  # one list per record (inter_chunk_latency); per-record export only
    aggregate: Callable[[Window], float | None] | None = None  # per-run value (None: not measured)


def metric(tag: str, header: str, unit: str, order: int | None, kind: MetricKind = "record",
           **flags: object) -> MetricSpec:
    """A registry row; counters are never exported per record."""
    if kind == "counter":
        flags.setdefault("no_individual_records", True)
    return MetricSpec(tag, header, unit, order, kind, **flags)  # type: ignore[arg-type]
