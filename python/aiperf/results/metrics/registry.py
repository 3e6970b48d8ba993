"""Every metric, by tag: the rows of the metric families (timing, streaming, tokens, images) in one registry.

Per-request metrics come first, in console order, then the per-run ones; a summary lists its metrics in this order.
"""
from __future__ import annotations

from aiperf.inputs.endpoints import Endpoint
from aiperf.results.metrics.images import IMAGE_METRICS
from aiperf.results.metrics.spec import MetricSpec
from aiperf.results.metrics.streaming import STREAMING_METRICS
from aiperf.results.metrics.timing import TIMING_METRICS
from aiperf.results.metrics.tokens import TOKEN_METRICS

__all__ = ["METRICS", "MetricSpec", "applies", "console_metrics"]  # MetricSpec lives in spec.py (families import it)

_ROWS = (*TIMING_METRICS, *STREAMING_METRICS, *TOKEN_METRICS, *IMAGE_METRICS)

METRICS: dict[str, MetricSpec] = {
    spec.tag: spec
    for spec in sorted(_ROWS, key=lambda s: (s.kind != "record", s.display_order is None, s.display_order or 0))
}


def applies(spec: MetricSpec, endpoint: Endpoint, *, streaming: bool, images_seen: bool, reasoning_seen: bool,
            goodput: bool, scheduled: bool = False, server_token_counts: bool = False) -> bool:
    """Whether a metric belongs in this run's summary."""
    return not ((spec.streaming_only and not streaming)
                or (spec.scheduled_only and not scheduled)
                or (spec.tokens_only and not endpoint.produces_tokens)
                or (spec.input_tokens_only and not endpoint.tokenizes_input)
                or (spec.images_only and not images_seen)
                or (spec.reasoning_only and not reasoning_seen)
                or (spec.goodput_only and not goodput)
                or (spec.client_tokens_only and server_token_counts))


def console_metrics(summary: dict[str, dict[str, float]]) -> list[MetricSpec]:
    """The metrics of a summary shown in the console table, in display order."""
    shown = [METRICS[tag] for tag in summary
             if tag in METRICS and METRICS[tag].display_order is not None
             and not (METRICS[tag].no_console or METRICS[tag].error_only)]
    return sorted(shown, key=lambda spec: spec.display_order or 0)
