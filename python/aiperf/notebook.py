"""Jupyter helpers: everything a notebook needs in one import.

    from aiperf import notebook as nb
    run = nb.load("artifacts/my-run")
    nb.latency_cdf(run)              # every plot returns a matplotlib Figure (shown inline in Jupyter)
    nb.compare([run_a, run_b])       # DataFrame, metrics side by side
    nb.gallery(run)                  # generated images with prompt, size and latency
    nb.write_report([run_a, run_b], "report")   # PNGs + self-contained report.html (as `aiperf plot`)

Outside Jupyter the same functions work in scripts: figures use the Agg canvas (save them with
`figure.savefig(...)`), and `gallery()` writes an HTML file instead of showing the images.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

from aiperf.analysis.comparison import compare
from aiperf.analysis.html_report import write_report
from aiperf.analysis.plots import (
    PlotError,
    all_plots,
    concurrency_over_time,
    image_latency_by_size,
    latency_cdf,
    latency_vs_throughput,
    throughput_over_time,
    ttft_itl_distributions,
)
from aiperf.analysis.runs import load

if TYPE_CHECKING:
    from aiperf.analysis.gallery import GeneratedImage
    from aiperf.analysis.runs import Run

__all__ = ["Gallery", "PlotError", "all_plots", "compare", "concurrency_over_time", "gallery",
           "image_latency_by_size", "in_jupyter", "latency_cdf", "latency_vs_throughput", "load",
           "throughput_over_time", "ttft_itl_distributions", "write_report"]

GALLERY_FILE = "gallery.html"


def in_jupyter() -> bool:
    """True inside a Jupyter kernel (where HTML and figures are displayed inline)."""
    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class Gallery:
    """Images of a run; shown as a grid in Jupyter (`_repr_html_`), `save(path)` writes a standalone HTML file."""

    def __init__(self, images: list[GeneratedImage], title: str, path: Path | None = None) -> None:
        self.images = images
        self.title = title
        self.path = path  # the HTML file written outside Jupyter

    def html(self, standalone: bool = False) -> str:
        from aiperf.analysis.gallery import gallery_html

        return gallery_html(self.images, title=self.title, standalone=standalone)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.html(standalone=True), encoding="utf-8")
        self.path = path
        return path

    def _repr_html_(self) -> str:
        return self.html()

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        where = f", written to {self.path}" if self.path else ""
        return f"Gallery({len(self.images)} images of {self.title!r}{where})"


def gallery(run: Run | str | Path, limit: int | None = 100, path: str | Path | None = None) -> Gallery:
    """Generated or edited images of a run (from its raw export) with prompt, size and latency.

    In Jupyter the returned Gallery shows inline; elsewhere (or when `path` is given) it is also written as a
    standalone HTML file, by default `<artifact_dir>/gallery.html`.
    """
    from aiperf.analysis.comparison import as_runs

    loaded = as_runs(run)[0]
    result = Gallery(loaded.images(limit), title=f"Images of {loaded.label}")
    if path is not None or not in_jupyter():
        result.save(Path(path) if path is not None else Path(loaded.artifact_dir) / GALLERY_FILE)
    return result
