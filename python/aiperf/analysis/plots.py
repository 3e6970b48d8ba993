"""Plots of one run or several (matplotlib). Every function returns a matplotlib Figure, titled, with units and a
legend; a plot whose data a run does not have (no streaming metrics, no images) raises PlotError saying so.

Figures are made without pyplot, on the Agg canvas, so nothing here touches the global backend; in Jupyter a
returned Figure is shown inline (a PNG display formatter is registered for it).
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from aiperf.errors import PlotError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from matplotlib.figure import Figure

    from aiperf.analysis.runs import Run

__all__ = [
    "PLOTS",
    "PlotError",
    "PlotOutcome",
    "all_plots",
    "concurrency_over_time",
    "image_latency_by_size",
    "latency_cdf",
    "latency_vs_throughput",
    "throughput_over_time",
    "ttft_itl_distributions",
]

RunsLike = Union["Run", str, Path, Sequence[Union["Run", str, Path]]]
_DPI = 100
_STREAMING_HINT = "profile a chat or completions endpoint with --streaming"


# ---------------------------------------------------------------------------------------------- helpers

def _figure(rows: int = 1, cols: int = 1, *, width: float = 8.0, height: float = 4.5,
            **subplot_kw: Any) -> tuple[Figure, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    _show_inline_in_jupyter()
    axes = figure.subplots(rows, cols, squeeze=False, **subplot_kw)
    return figure, axes


def _show_inline_in_jupyter() -> None:
    """Register a PNG formatter for Figure in a running IPython, so a returned figure is displayed once."""
    if "IPython" not in sys.modules:
        return
    from IPython import get_ipython

    shell = get_ipython()
    if shell is None:
        return
    from matplotlib.figure import Figure

    formatter = shell.display_formatter.formatters["image/png"]
    try:
        formatter.lookup_by_type(Figure)
    except KeyError:
        formatter.for_type(Figure, figure_png)


def figure_png(figure: Figure, dpi: int = _DPI) -> bytes:
    """The figure as PNG bytes."""
    import io

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _runs(runs: RunsLike) -> list[Run]:
    from aiperf.analysis.comparison import as_runs

    return as_runs(runs)


def _labels(runs: list[Run]) -> list[str]:
    from aiperf.analysis.comparison import unique_labels

    return unique_labels(runs)


def _metric_name(tag: str) -> tuple[str, str]:
    """(header, unit) of a metric, e.g. ("Time to First Token", "ms")."""
    from aiperf.results.metrics import METRICS

    spec = METRICS.get(tag)
    return (spec.header, spec.unit) if spec else (tag.replace("_", " ").capitalize(), "")


def _profiled(run: Run) -> pd.DataFrame:
    """Successful profiling-phase requests."""
    records = run.records
    return records[(records["benchmark_phase"] == "profiling") & records["error_type"].isna()]


def _values(run: Run, tag: str) -> np.ndarray:
    import numpy as np

    records = _profiled(run)
    if tag not in records:
        return np.zeros(0)
    values = np.asarray(records[tag].to_numpy(dtype=float), dtype=np.float64)
    finite: np.ndarray = values[np.isfinite(values)]
    return finite


def _require(runs: list[Run], labels: list[str], tag: str, hint: str) -> list[tuple[str, Any]]:
    """(label, values) of the runs that have per-request values of `tag`; PlotError when none has."""
    found = [(label, values) for run, label in zip(runs, labels) if len(values := _values(run, tag))]
    if not found:
        header, _ = _metric_name(tag)
        which = labels[0] if len(labels) == 1 else f"none of {', '.join(labels)}"
        raise PlotError(f"{which}: no {header} values ({tag}): {hint}")
    return found


def _legend(ax: Any) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="best", fontsize="small")


# ---------------------------------------------------------------------------------------------- plots

def latency_cdf(runs: RunsLike, metric: str = "request_latency") -> Figure:
    """Cumulative distribution of a per-request latency (default request latency) for each run."""
    import numpy as np

    loaded = _runs(runs)
    series = _require(loaded, _labels(loaded), metric, "no successful profiling requests")
    header, unit = _metric_name(metric)
    figure, axes = _figure()
    ax = axes[0, 0]
    for label, values in series:
        values = np.sort(values)
        percent = np.arange(1, len(values) + 1) / len(values) * 100.0
        p50, p99 = np.percentile(values, [50, 99])
        ax.step(values, percent, where="post", label=f"{label} (p50 {p50:,.1f}, p99 {p99:,.1f} {unit})")
    for level in (50, 90, 99):
        ax.axhline(level, color="0.8", linewidth=0.8, zorder=0)
    ax.set_xlabel(f"{header} ({unit})")
    ax.set_ylabel("requests at or below (%)")
    ax.set_ylim(0, 100.5)
    ax.set_title(f"{header}: cumulative distribution")
    ax.grid(True, alpha=0.3)
    _legend(ax)
    return figure


def ttft_itl_distributions(runs: RunsLike, bins: int = 40) -> Figure:
    """Histograms of time to first token and inter-token latency (streaming runs)."""
    import numpy as np

    loaded = _runs(runs)
    labels = _labels(loaded)
    panels = [(tag, _require(loaded, labels, tag, _STREAMING_HINT))
              for tag in ("time_to_first_token", "inter_token_latency")]
    figure, axes = _figure(1, 2, width=11)
    for ax, (tag, series) in zip(axes[0], panels):
        header, unit = _metric_name(tag)
        everything = np.concatenate([values for _, values in series])
        edges = np.histogram_bin_edges(everything, bins=bins)
        for label, values in series:
            ax.hist(values, bins=edges, histtype="step" if len(series) > 1 else "bar", alpha=0.85, linewidth=1.5,
                    label=f"{label} (median {np.median(values):,.2f} {unit})")
        ax.set_xlabel(f"{header} ({unit})")
        ax.set_ylabel("requests")
        ax.set_title(f"{header} distribution")
        ax.grid(True, alpha=0.3)
        _legend(ax)
    return figure


def throughput_over_time(runs: RunsLike, bin_s: float | None = None) -> Figure:
    """Requests/s (and output tokens/s when counted) completed per time bin; open-loop runs also show the
    intended send rate."""
    import numpy as np

    loaded = _runs(runs)
    labels = _labels(loaded)
    timelines = [(label, run.timeline if bin_s is None else run.timeline_frame(bin_s))
                 for run, label in zip(loaded, labels)]
    if all(t["request_throughput"].sum() == 0 and t["error_rate"].sum() == 0 for _, t in timelines):
        raise PlotError(f"{', '.join(labels)}: no completed profiling requests to plot over time")
    with_tokens = any("output_token_throughput" in t for _, t in timelines)
    figure, axes = _figure(2 if with_tokens else 1, 1, height=6 if with_tokens else 4, sharex=True)
    top = axes[0, 0]
    for label, t in timelines:
        x = t["time_s"].to_numpy() + (t["time_s"].iloc[1] - t["time_s"].iloc[0] if len(t) > 1 else 0) / 2
        line, = top.plot(x, t["request_throughput"], drawstyle="steps-mid", label=f"{label}: completed")
        if "intended_rate" in t:
            top.plot(x, t["intended_rate"], drawstyle="steps-mid", linestyle="--", color=line.get_color(),
                     label=f"{label}: scheduled")
        if np.any(t["error_rate"] > 0):
            top.plot(x, t["error_rate"], drawstyle="steps-mid", linestyle=":", color=line.get_color(),
                     label=f"{label}: errors")
        if with_tokens and "output_token_throughput" in t:
            axes[1, 0].plot(x, t["output_token_throughput"], drawstyle="steps-mid", color=line.get_color(),
                            label=label)
    top.set_ylabel("requests/s")
    top.set_title("Throughput over time")
    top.grid(True, alpha=0.3)
    _legend(top)
    bottom = axes[-1, 0]
    if with_tokens:
        bottom.set_ylabel("output tokens/s")
        bottom.grid(True, alpha=0.3)
        _legend(bottom)
    bottom.set_xlabel("time since benchmark start (s)")
    return figure


def concurrency_over_time(runs: RunsLike, bin_s: float | None = None) -> Figure:
    """Requests in flight: the exact step function and its mean per time bin."""
    import numpy as np

    from aiperf.analysis.runs import _end_ns, _ns_array, _origin_ns
    from aiperf.results.timeline import NS_PER_S, concurrency_steps

    loaded = _runs(runs)
    labels = _labels(loaded)
    figure, axes = _figure()
    ax = axes[0, 0]
    drawn = 0
    for run, label in zip(loaded, labels):
        records = run.records[run.records["benchmark_phase"] == "profiling"]
        if records.empty:
            continue
        origin = _origin_ns(records) or 0
        times, in_flight = concurrency_steps(_ns_array(records["request_start_ns"]), _end_ns(records))
        if not len(times):
            continue
        line, = ax.step((times - origin) / NS_PER_S, in_flight, where="post", linewidth=0.8, alpha=0.6,
                        label=f"{label}: in flight (peak {int(in_flight.max())})")
        timeline = run.timeline if bin_s is None else run.timeline_frame(bin_s)
        width = timeline["time_s"].iloc[1] if len(timeline) > 1 else 0
        ax.plot(timeline["time_s"] + width / 2, timeline["concurrency"], color=line.get_color(), linewidth=2,
                label=f"{label}: mean per {_seconds(width)} (overall {np.mean(timeline['concurrency']):,.1f})")
        drawn += 1
    if not drawn:
        raise PlotError(f"{', '.join(labels)}: no profiling requests were sent")
    ax.set_xlabel("time since benchmark start (s)")
    ax.set_ylabel("requests in flight")
    ax.set_title("Concurrency over time")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    _legend(ax)
    return figure


def _seconds(value: float) -> str:
    return f"{value * 1000:g} ms" if value < 1 else f"{value:g} s"


def latency_vs_throughput(runs: RunsLike, latency: str = "request_latency", stat: str = "p50",
                          throughput: str = "request_throughput") -> Figure:
    """One point per run (e.g. a concurrency sweep): latency statistic against throughput, with the Pareto front
    (the runs no other run beats on both) joined by a line."""
    loaded = _runs(runs)
    labels = _labels(loaded)
    points = []
    for run, label in zip(loaded, labels):
        y = (run.summary.get(latency) or {}).get(stat)
        x = (run.summary.get(throughput) or {}).get("avg")
        if isinstance(x, (int, float)) and isinstance(y, (int, float)):
            points.append((float(x), float(y), label))
    latency_header, latency_unit = _metric_name(latency)
    throughput_header, throughput_unit = _metric_name(throughput)
    if not points:
        hint = _STREAMING_HINT if latency in ("time_to_first_token", "inter_token_latency") else "not in the summary"
        raise PlotError(f"{', '.join(labels)}: no {latency} {stat} and {throughput} to plot ({hint})")
    front = pareto_front([(x, y) for x, y, _ in points])
    figure, axes = _figure()
    ax = axes[0, 0]
    for i, (x, y, label) in enumerate(points):
        on_front = i in front
        ax.scatter([x], [y], s=60 if on_front else 30, zorder=3, marker="o" if on_front else "x",
                   color="C0" if on_front else "0.5")
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(6, 4), fontsize="small")
    ordered = sorted(front, key=lambda i: points[i][0])
    ax.plot([points[i][0] for i in ordered], [points[i][1] for i in ordered], color="C0", zorder=2,
            label="Pareto front (higher throughput, lower latency)")
    ax.scatter([], [], marker="x", color="0.5", label="dominated run")
    ax.set_xlabel(f"{throughput_header} ({throughput_unit})")
    ax.set_ylabel(f"{latency_header} {stat} ({latency_unit})")
    ax.set_title(f"{latency_header} {stat} vs {throughput_header.lower()}")
    ax.grid(True, alpha=0.3)
    _legend(ax)
    return figure


def pareto_front(points: Sequence[tuple[float, float]]) -> list[int]:
    """Indices of the points (throughput, latency) that no other point beats: at least as much throughput and at
    most as much latency, and strictly better in one."""
    front = []
    for i, (x, y) in enumerate(points):
        dominated = any(ox >= x and oy <= y and (ox > x or oy < y) for j, (ox, oy) in enumerate(points) if j != i)
        if not dominated:
            front.append(i)
    return front


def image_latency_by_size(runs: RunsLike) -> Figure:
    """Request latency of image generation/edit requests, grouped by the size of the image returned (box plot;
    needs the raw export for the images)."""
    from aiperf.errors import ArtifactError

    loaded = _runs(runs)
    labels = _labels(loaded)
    groups: dict[str, list[float]] = {}
    problems = []
    for run, label in zip(loaded, labels):
        try:
            images = run.images()
        except ArtifactError as e:
            problems.append(f"{label}: {e}")
            continue
        seen: set[tuple[str | None, str]] = set()
        for image in images:
            size = image.size or image.requested_size or "unknown"
            key = (image.x_request_id, size)
            if image.request_latency_ms is None or key in seen:  # a response with n images counts once
                continue
            seen.add(key)
            name = size if len(loaded) == 1 else f"{size}\n{label}"
            groups.setdefault(name, []).append(image.request_latency_ms)
        if not images:
            problems.append(f"{label}: no images in the raw export (an image_generation or image_edit run?)")
    if not groups:
        raise PlotError("; ".join(problems))
    names = sorted(groups, key=_size_key)
    figure, axes = _figure(width=max(6.0, 1.2 * len(names) + 3))
    ax = axes[0, 0]
    ax.boxplot([groups[n] for n in names], showfliers=True)
    ax.set_xticks(range(1, len(names) + 1), [f"{n}\n({len(groups[n])} req)" for n in names])
    ax.set_xlabel("image size (width x height)")
    ax.set_ylabel("request latency (ms)")
    ax.set_title("Image request latency by image size")
    ax.plot([], [], color="C1", label="median; box: p25-p75; whiskers: 1.5 IQR")
    ax.grid(True, axis="y", alpha=0.3)
    _legend(ax)
    return figure


def _size_key(name: str) -> tuple[int, str]:
    size = name.split("\n")[0]
    width, _, height = size.partition("x")
    try:
        return int(width) * int(height), name
    except ValueError:
        return 1 << 62, name


# ---------------------------------------------------------------------------------------------- all of them

@dataclass
class PlotOutcome:
    """One plot of `all_plots()`: the figure, or why the runs have none."""

    name: str  # file stem, e.g. "latency_cdf"
    title: str
    figure: Figure | None
    message: str | None = None


# name -> (title, function, needs several runs)
PLOTS: dict[str, tuple[str, Callable[..., Any], bool]] = {
    "latency_cdf": ("Request latency CDF", latency_cdf, False),
    "ttft_itl_distributions": ("TTFT and ITL distributions", ttft_itl_distributions, False),
    "throughput_over_time": ("Throughput over time", throughput_over_time, False),
    "concurrency_over_time": ("Concurrency over time", concurrency_over_time, False),
    "latency_vs_throughput": ("Latency vs throughput", latency_vs_throughput, True),
    "image_latency_by_size": ("Image latency by size", image_latency_by_size, False),
}


def all_plots(runs: RunsLike) -> list[PlotOutcome]:
    """Every plot that applies to the runs (latency vs throughput only for several runs); the others carry the
    reason they were skipped."""
    from aiperf.errors import ArtifactError

    loaded = _runs(runs)
    outcomes = []
    for name, (title, function, several) in PLOTS.items():
        if several and len(loaded) < 2:
            continue
        if name == "image_latency_by_size" and not any(_made_images(run) for run in loaded):
            continue
        try:
            outcomes.append(PlotOutcome(name, title, function(loaded)))
        except (PlotError, ArtifactError) as e:
            outcomes.append(PlotOutcome(name, title, None, str(e)))
    return outcomes


def _made_images(run: Run) -> bool:
    return "num_images" in run.summary or str(run.config.get("endpoint_type", "")).startswith("image_")
