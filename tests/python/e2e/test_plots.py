"""Every plot on small runs: a Figure with title, units and legend drawn from the run's data; runs without the
data (no streaming, no images, no records) get a PlotError that says what is missing."""
from __future__ import annotations

import shutil

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import aiperf
from aiperf import notebook as nb
from aiperf.analysis.plots import PlotError, all_plots, figure_png, pareto_front


def _texts(figure: Figure) -> tuple[list[str], list[str], list[str]]:
    """Titles, axis labels and legend entries of every axes."""
    titles, labels, legends = [], [], []
    for ax in figure.axes:
        titles.append(ax.get_title())
        labels += [ax.get_xlabel(), ax.get_ylabel()]
        legend = ax.get_legend()
        legends += [t.get_text() for t in legend.get_texts()] if legend else []
    return titles, labels, legends


def test_latency_cdf_draws_each_runs_sorted_latencies(streaming_run, plain_run):
    figure = nb.latency_cdf([streaming_run, plain_run])
    assert isinstance(figure, Figure) and isinstance(figure.canvas, FigureCanvasAgg)
    titles, labels, legends = _texts(figure)
    assert titles == ["Request Latency: cumulative distribution"]
    assert "Request Latency (ms)" in labels and "requests at or below (%)" in labels
    assert [entry.split(" (")[0] for entry in legends] == ["chat-streaming", "chat-plain"]
    line = figure.axes[0].get_lines()[0]
    records = streaming_run.records
    expected = np.sort(records.loc[records["benchmark_phase"] == "profiling", "request_latency"])
    assert np.array_equal(line.get_xdata(), expected)  # warm-up requests left out
    assert line.get_ydata()[-1] == 100.0
    assert figure_png(figure).startswith(b"\x89PNG")


def test_ttft_and_itl_distributions_count_every_profiling_request(streaming_run):
    figure = nb.ttft_itl_distributions(streaming_run)
    titles, labels, _ = _texts(figure)
    assert titles == ["Time to First Token distribution", "Inter Token Latency distribution"]
    assert "Time to First Token (ms)" in labels and "Inter Token Latency (ms)" in labels
    for ax in figure.axes:
        assert sum(patch.get_height() for patch in ax.patches) == 40


def test_a_run_without_streaming_metrics_says_so_instead_of_drawing_empty_axes(plain_run):
    with pytest.raises(PlotError, match=r"chat-plain: no Time to First Token values.*--streaming"):
        nb.ttft_itl_distributions(plain_run)


def test_throughput_and_concurrency_over_time(streaming_run):
    figure = nb.throughput_over_time(streaming_run, bin_s=0.01)
    titles, labels, legends = _texts(figure)
    assert titles[0] == "Throughput over time"
    assert {"requests/s", "output tokens/s", "time since benchmark start (s)"} <= set(labels)
    assert legends[0] == "chat-streaming: completed"
    requests_line = figure.axes[0].get_lines()[0]
    assert np.array_equal(requests_line.get_ydata(), streaming_run.timeline_frame(0.01)["request_throughput"])

    figure = nb.concurrency_over_time(streaming_run)
    titles, labels, legends = _texts(figure)
    assert titles == ["Concurrency over time"] and "requests in flight" in labels
    assert legends[0] == "chat-streaming: in flight (peak 4)"
    step = figure.axes[0].get_lines()[0]
    assert step.get_ydata().max() == 4 and step.get_ydata()[-1] == 0


def test_latency_vs_throughput_marks_the_pareto_front(streaming_run, plain_run):
    figure = nb.latency_vs_throughput([streaming_run, plain_run], latency="request_latency", stat="p50")
    titles, labels, legends = _texts(figure)
    assert titles == ["Request Latency p50 vs request throughput"]
    assert "Request Throughput (requests/sec)" in labels and "Request Latency p50 (ms)" in labels
    assert "Pareto front (higher throughput, lower latency)" in legends
    annotations = [child.get_text() for child in figure.axes[0].texts]
    assert annotations == ["chat-streaming", "chat-plain"]
    with pytest.raises(PlotError, match="time_to_first_token p50.*--streaming"):
        nb.latency_vs_throughput([plain_run], latency="time_to_first_token")


def test_pareto_front_keeps_the_runs_nothing_beats():
    #        (throughput, latency)
    points = [(10, 5), (20, 8), (15, 9), (30, 20), (30, 25)]
    assert pareto_front(points) == [0, 1, 3]


def test_image_latency_by_size_groups_requests_by_the_size_returned(image_edit_run):
    figure = nb.image_latency_by_size(image_edit_run)
    titles, labels, _ = _texts(figure)
    assert titles == ["Image request latency by image size"]
    assert "request latency (ms)" in labels and "image size (width x height)" in labels
    ticks = [t.get_text() for t in figure.axes[0].get_xticklabels()]
    assert ticks == ["32x24\n(3 req)", "64x48\n(3 req)"]


def test_image_plot_of_a_text_run_says_there_are_no_images(streaming_run, plain_run):
    with pytest.raises(PlotError, match="chat-streaming: no images in the raw export"):
        nb.image_latency_by_size(streaming_run)
    with pytest.raises(PlotError, match="chat-plain:.*--export-level raw"):
        nb.image_latency_by_size(plain_run)


def test_all_plots_lists_what_applies_and_why_the_rest_is_missing(plain_run, image_edit_run, tmp_path):
    outcomes = {o.name: o for o in all_plots(plain_run)}
    assert set(outcomes) == {"latency_cdf", "ttft_itl_distributions", "throughput_over_time",
                             "concurrency_over_time"}
    assert outcomes["ttft_itl_distributions"].figure is None and "--streaming" in outcomes[
        "ttft_itl_distributions"].message
    assert outcomes["latency_cdf"].figure is not None
    assert all_plots(image_edit_run)[-1].name == "image_latency_by_size"
    summary_only = tmp_path / "summary-only"
    summary_only.mkdir()
    shutil.copy(plain_run.artifact_dir / "profile_export_aiperf.json", summary_only)
    missing = [o for o in all_plots(summary_only) if o.figure is None]
    assert missing and all("profile_export.jsonl is missing" in o.message for o in missing)


def test_gallery_outside_jupyter_writes_an_html_file(image_edit_run, tmp_path):
    gallery = nb.gallery(image_edit_run, path=tmp_path / "g.html")
    assert len(gallery) == 6 and gallery.path == tmp_path / "g.html"
    html = gallery.path.read_text()
    assert html.count('<img src="data:image/png;base64,') == 6
    assert "Make it a watercolor" in html and "64x48" in html and " ms</span>" in html
    default = nb.gallery(aiperf.load(image_edit_run.artifact_dir), limit=2)
    assert default.path == image_edit_run.artifact_dir / "gallery.html" and len(default) == 2
