"""The report of `aiperf plot`: every plot as a PNG file, and one self-contained HTML file (plots embedded as
base64 PNG, summary tables, error tables, image gallery) for one run or a comparison of several."""
from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiperf import __version__

if TYPE_CHECKING:
    from aiperf.analysis.runs import Run

__all__ = ["REPORT_FILE", "ReportFiles", "write_report"]

REPORT_FILE = "report.html"
GALLERY_LIMIT = 48  # images per run in the report
_TABLE_STATS = ("avg", "min", "p50", "p90", "p99", "max", "std")
_CONFIG_KEYS = ("model", "endpoint_type", "streaming", "base_url", "concurrency_resolved", "request_count_resolved",
                "warmup_request_count", "benchmark_duration", "export_level", "cli_command")
_CSS = """
body{font-family:system-ui,-apple-system,sans-serif;margin:24px auto;max-width:1200px;color:#222;padding:0 16px}
h1{font-size:22px} h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;font-size:13px;margin:8px 0} th,td{border:1px solid #ddd;padding:3px 8px}
td{text-align:right} th{background:#f4f4f4} td.text,th.text{text-align:left}
.plot img{max-width:100%;border:1px solid #eee} .note{color:#8a5a00;background:#fff8e6;padding:6px 10px}
.better{color:#0a7d28} .worse{color:#b3261e} code{font-size:12px}
"""


@dataclass
class ReportFiles:
    """What write_report() wrote."""

    html: Path
    pngs: list[Path] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # plot name -> why it was not drawn


def write_report(runs: Sequence[Run | str | Path], out_dir: str | Path) -> ReportFiles:
    """Write `<out_dir>/<plot>.png` for every plot that applies and `<out_dir>/report.html`."""
    from aiperf.analysis.comparison import as_runs, unique_labels
    from aiperf.analysis.plots import all_plots, figure_png

    loaded = as_runs(list(runs))
    if not loaded:
        raise ValueError("no runs to report on")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    labels = unique_labels(loaded)
    files = ReportFiles(html=out / REPORT_FILE)
    sections: list[str] = []

    title = (f"aiperf report: {html.escape(labels[0])}" if len(loaded) == 1
             else f"aiperf report: {len(loaded)} runs compared")
    sections.append(f"<h1>{title}</h1><p>Written {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC} by aiperf "
                    f"{__version__} from {', '.join(html.escape(str(r.artifact_dir)) for r in loaded)}.</p>")
    sections.append("<h2>Runs</h2>" + _runs_table(loaded, labels))
    sections.append("<h2>Summary</h2>" + (_summary_table(loaded[0]) if len(loaded) == 1
                                          else _comparison_table(loaded)))
    errors = _errors_table(loaded, labels)
    if errors:
        sections.append("<h2>Errors</h2>" + errors)

    plot_parts = []
    for outcome in all_plots(loaded):
        if outcome.figure is None:
            files.skipped[outcome.name] = outcome.message or ""
            plot_parts.append(f'<h3>{html.escape(outcome.title)}</h3><p class="note">Not drawn: '
                              f"{html.escape(outcome.message or '')}</p>")
            continue
        png = figure_png(outcome.figure)
        path = out / f"{outcome.name}.png"
        path.write_bytes(png)
        files.pngs.append(path)
        alt = html.escape(outcome.title, quote=True)
        plot_parts.append(f'<div class="plot" id="plot-{outcome.name}"><h3>{html.escape(outcome.title)}</h3>'
                          f'<img alt="{alt}" src="data:image/png;base64,{base64.b64encode(png).decode()}"></div>')
    sections.append("<h2>Plots</h2>" + "".join(plot_parts))

    gallery = _gallery_section(loaded, labels)
    if gallery:
        sections.append(gallery)

    document = (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
                f"<style>{_CSS}</style></head><body>{''.join(sections)}</body></html>\n")
    files.html.write_text(document, encoding="utf-8")
    return files


def _cell(value: Any, text: bool = False) -> str:
    if isinstance(value, float):
        value = f"{value:,.3f}" if abs(value) < 1000 else f"{value:,.1f}"
    elif isinstance(value, int) and not isinstance(value, bool):
        value = f"{value:,}"
    elif value is None:
        value = ""
    return f'<td class="text">{html.escape(str(value))}</td>' if text else f"<td>{html.escape(str(value))}</td>"


def _header(names: Sequence[str], text_columns: int = 1) -> str:
    return "<tr>" + "".join(f'<th class="text">{html.escape(n)}</th>' if i < text_columns
                            else f"<th>{html.escape(n)}</th>" for i, n in enumerate(names)) + "</tr>"


def _runs_table(runs: Sequence[Run], labels: Sequence[str]) -> str:
    rows = [_header(["run", *_CONFIG_KEYS], len(_CONFIG_KEYS) + 1)]
    for run, label in zip(runs, labels):
        cells = [_cell(label, True)] + [_cell(_config_text(run.config.get(k)), True) for k in _CONFIG_KEYS]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return '<div style="overflow-x:auto"><table>' + "".join(rows) + "</table></div>"


def _config_text(value: Any) -> Any:
    return ", ".join(map(str, value)) if isinstance(value, list) else value


def _summary_table(run: Run) -> str:
    from aiperf.results.metrics import METRICS

    order = {tag: i for i, tag in enumerate(METRICS)}
    rows = [_header(["metric", "unit", *_TABLE_STATS], 2)]
    for tag in sorted(run.summary, key=lambda t: (order.get(t, len(order)), t)):
        block = run.summary[tag]
        name = METRICS[tag].header if tag in METRICS else tag
        rows.append("<tr>" + _cell(name, True) + _cell(block.get("unit"), True)
                    + "".join(_cell(block.get(stat)) for stat in _TABLE_STATS) + "</tr>")
    return "<table>" + "".join(rows) + "</table>"


def _comparison_table(runs: Sequence[Run]) -> str:
    import math

    from aiperf.analysis.comparison import compare
    from aiperf.results.metrics import METRICS

    frame = compare(runs)
    rows = [_header(["metric", "stat", *frame.columns], 3)]
    for (tag, stat), row in frame.iterrows():
        spec = METRICS.get(tag)
        cells = [_cell(spec.header if spec else tag, True), _cell(stat, True), _cell(row["unit"], True)]
        for column in frame.columns[1:]:
            value = row[column]
            if column.endswith(" change %") and isinstance(value, float) and not math.isnan(value):
                higher_is_better = _higher_is_better(spec)
                good = None if value == 0 or higher_is_better is None else (value > 0) == higher_is_better
                css = "" if good is None else (' class="better"' if good else ' class="worse"')
                cells.append(f"<td{css}>{value:+.1f}%</td>")
            else:
                cells.append(_cell(None if isinstance(value, float) and math.isnan(value) else value))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return ("<p>Change % is relative to the first run; green is better, red worse (throughputs: higher is better; "
            "latencies: lower is better; counts and lengths are not judged).</p><table>" + "".join(rows)
            + "</table>")


def _higher_is_better(spec: Any) -> bool | None:
    """Whether a larger value is an improvement: throughputs yes, latencies no, counts and lengths neither."""
    if spec is None:
        return None
    if spec.larger_is_better:
        return True
    return False if spec.unit.startswith("ms") else None


def _errors_table(runs: Sequence[Run], labels: Sequence[str]) -> str:
    rows = [_header(["run", "code", "type", "message", "count"], 4)]
    for run, label in zip(runs, labels):
        for error in run.error_summary:
            rows.append("<tr>" + _cell(label, True) + _cell(error.get("code"), True) + _cell(error.get("type"), True)
                        + _cell(error.get("message"), True) + _cell(error.get("count")) + "</tr>")
    return "<table>" + "".join(rows) + "</table>" if len(rows) > 1 else ""


def _gallery_section(runs: Sequence[Run], labels: Sequence[str]) -> str:
    from aiperf.analysis.gallery import gallery_html, read_images

    parts = []
    for run, label in zip(runs, labels):
        try:
            images = list(read_images(run.artifact_dir, GALLERY_LIMIT))
        except FileNotFoundError:
            continue
        if images:
            parts.append(gallery_html(images, title=f"{label}: first {len(images)} images"))
    return '<h2>Gallery</h2><div id="gallery">' + "".join(parts) + "</div>" if parts else ""
