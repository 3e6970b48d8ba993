"""Image metrics, from the images the responses carried: image_throughput = images / request_latency (s),
image_latency = request_latency / images."""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

from aiperf.engine import Records
from aiperf.results.columns import int64
from aiperf.results.metrics.spec import MetricSpec, PerRecord, metric

__all__ = ["IMAGE_METRICS", "image_metrics"]

IMAGE_METRICS: tuple[MetricSpec, ...] = (
    metric("image_throughput", "Image Throughput", "images/sec", 860, images_only=True, larger_is_better=True),
    metric("image_latency", "Image Latency", "ms/image", 861, images_only=True),
    metric("num_images", "Number of Images", "images", None, images_only=True, integer=True),
)


def image_metrics(records: Records, ok: npt.NDArray[np.bool_], latency_ms: npt.NDArray[np.float64]) -> PerRecord:
    """Per successful record that carried images; nothing when no record of the batch did."""
    num_images = int64(records, "num_images", default=0).astype(np.float64)
    if not (num_images > 0).any():
        return {}
    with_images = ok & (num_images > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "num_images": np.where(with_images, num_images, np.nan),
            "image_throughput": np.where(with_images & (latency_ms > 0), num_images / (latency_ms / 1000.0),
                                         np.nan),
            "image_latency": np.where(with_images, latency_ms / num_images, np.nan),
        }
