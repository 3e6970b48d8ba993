"""Console table, error summary, footer and progress display, rendered to a recording rich Console."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from rich.console import Console
from test_metrics import run

from aiperf.engine import ErrorKind
from aiperf.inputs.endpoints import get_endpoint
from aiperf.results.console import ProgressDisplay, metric_label, print_summary
from aiperf.results.metrics import METRICS
from helpers import Req, streaming_requests


def render(metrics, endpoint="chat", **kwargs) -> str:
    console = Console(record=True, width=200)
    print_summary(metrics, endpoint=get_endpoint(endpoint), console=console, **kwargs)
    return console.export_text()


def row(text: str, label: str) -> list[str]:
    line = next(line for line in text.splitlines() if label in line and ("│" in line or "┃" in line))
    return [cell.strip() for cell in line.replace("┃", "│").split("│") if cell.strip()]


def test_streaming_table_has_title_columns_and_rows_in_order():
    text = render(run(streaming_requests()))
    assert "aiperf | LLM Metrics" in text
    header = row(text, "Metric")
    assert header == ["Metric", "avg", "min", "max", "p99", "p90", "p50", "std"]
    labels = ["Time to First Token (ms)", "Time to Second Token (ms)", "Request Latency (ms)",
              "Inter Token Latency (ms)", "Output Token Throughput Per User", "Output Sequence Length (tokens)",
              "Input Sequence Length (tokens)", "Output Token Throughput (tokens/sec)",
              "Request Throughput (requests/sec)", "Request Count (requests)"]
    positions = [text.index(label) for label in labels]
    assert positions == sorted(positions)
    assert "Error Request Count" not in text and "Total Output" not in text


def test_record_rows_show_stats_and_per_run_rows_show_na():
    text = render(run(streaming_requests()))
    assert row(text, "Request Latency (ms)") == ["Request Latency (ms)", "72.50", "50.00", "95.00", "94.55", "90.50",
                                                 "72.50", "22.50"]
    assert row(text, "Request Throughput") == ["Request Throughput (requests/sec)", "10.00"] + ["N/A"] * 6
    assert row(text, "Request Count") == ["Request Count (requests)", "2.00"] + ["N/A"] * 6


def test_long_headers_put_the_unit_on_a_second_line():
    assert metric_label("output_token_throughput_per_user") == "Output Token Throughput Per User\n(tokens/sec/user)"
    assert metric_label("request_latency") == "Request Latency (ms)"
    assert len(METRICS["output_token_throughput_per_user"].header) > 30


def test_thousands_are_separated():
    reqs = [Req(0, [(1_234_567.891, "{}")], content="a")]
    text = render(run(reqs, streaming=False))
    assert "1,234,567.89" in text


def test_error_summary_table_lists_each_error_pattern_with_counts():
    text = render(run(streaming_requests()))
    assert "aiperf | Error Summary" in text
    assert row(text, "Internal error") == ["500", "HTTPError", "Internal error 123", "2"]
    assert row(text, "timed out") == ["N/A", "TimeoutError", "Operation timed out", "1"]


def test_error_summary_names_each_error_type_with_its_total():
    reqs = [Req(0, end_ms=3, error_kind=ErrorKind.HTTP_STATUS, status=500, message="boom"),
            Req(1, end_ms=3, error_kind=ErrorKind.HTTP_STATUS, status=429, message="slow down"),
            Req(2, end_ms=3, error_kind=ErrorKind.HTTP_STATUS, status=429, message="slow down"),
            Req(3, end_ms=3, error_kind=ErrorKind.RESPONSE_TOO_LARGE, status=200, message="response too large"),
            Req(4, [(10, "c")], content="x")]
    text = render(run(reqs))
    assert "Errors by type: HTTPError 3, ResponseTooLarge 1" in text
    assert row(text, "response too large") == ["200", "ResponseTooLarge", "response too large", "1"]


def test_error_messages_are_not_read_as_markup():
    text = render(run([Req(0, end_ms=3, error_kind=ErrorKind.HTTP_STATUS, status=400,
                           message="bad [/red] input [bold]x")]))
    assert "bad [/red] input [bold]x" in text


def test_warnings_follow_the_tables_and_precede_the_footer():
    text = render(run(streaming_requests(), server_token_counts=True))  # no record carries usage
    assert text.index("Error Summary") < text.index("Server Token Counts Missing") < text.index("Benchmark Duration")
    assert "Output Sequence Length (tokens)" not in text


def test_no_warning_when_nothing_calls_for_one():
    assert "Warning" not in render(run(streaming_requests()))


def test_no_error_table_without_errors():
    text = render(run([Req(0, [(10, "c")], content="x")]))
    assert "Error Summary" not in text


def test_footer_lists_duration_files_and_log(tmp_path):
    files = [tmp_path / "profile_export_aiperf.json", tmp_path / "profile_export_aiperf.csv"]
    text = render(run(streaming_requests()), exported_files=files, log_file=tmp_path / "logs" / "aiperf.log",
                  was_cancelled=True)
    assert "Benchmark Duration: 0.20 sec (cancelled early)" in text
    assert f"JSON Export: {files[0]}" in text and f"CSV Export: {files[1]}" in text
    assert f"Log File: {tmp_path / 'logs' / 'aiperf.log'}" in text


def test_embeddings_table_title():
    m = run([Req(0, [(12, "{}")])], endpoint="embeddings", streaming=False)
    text = render(m, endpoint="embeddings")
    assert "aiperf | Embeddings Metrics" in text
    assert "Output Sequence Length" not in text and "Input Sequence Length (tokens)" in text


def snapshot(**kw):
    base = {"sent": 0, "completed": 0, "errors": 0, "in_flight": 0, "phase": 0}
    base.update(kw)
    return SimpleNamespace(**base)


def test_simple_progress_shows_completed_of_total_errors_and_rate():
    console = Console(record=True, width=200, force_terminal=False)
    with ProgressDisplay("simple", 10, 2, None, console=console) as display:
        display.update(snapshot(completed=1, phase=0))
        display.update(snapshot(completed=7, errors=1, phase=1))
        display.update(snapshot(completed=12, errors=1, phase=2))
    text = console.export_text()
    assert "10/10" in text and "errors: 1" in text and "req/s" in text


@pytest.mark.parametrize("ui_type", ["none"])
def test_none_progress_prints_nothing(ui_type):
    console = Console(record=True, width=200)
    with ProgressDisplay(ui_type, 10, 0, None, console=console) as display:
        display.update(snapshot(completed=5, phase=1))
    assert console.export_text() == ""


def test_dashboard_is_shown_like_simple():
    assert ProgressDisplay("dashboard", None, 0, 5.0).enabled
    assert not ProgressDisplay("none", None, 0, 5.0).enabled


def test_duration_bounded_progress_without_total_does_not_fail():
    console = Console(record=True, width=200)
    with ProgressDisplay("simple", None, 0, 30.0, console=console) as display:
        display.update(snapshot(completed=3, phase=1))
    assert "Profiling" in console.export_text() or "Finished" in console.export_text()
