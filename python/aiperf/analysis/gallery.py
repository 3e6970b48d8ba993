"""Generated and edited images of a run, read back from its raw export, and their HTML gallery.

`read_images()` decodes every base64 image of `profile_export_raw.jsonl` (`aiperf profile --export-level raw`)
together with the prompt that asked for it, its size and the request's latency. `gallery_html()` is the one HTML
view of them, used by `aiperf.notebook.gallery()` and by the HTML report of `aiperf plot`.
"""
from __future__ import annotations

import base64
import binascii
import html
import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiperf.analysis.extract_images import RAW_EXPORT_NAME, response_images
from aiperf.inputs.input_images import data_url, sniff_image_type

__all__ = ["GeneratedImage", "gallery_html", "image_dimensions", "read_images"]

@dataclass(frozen=True)
class GeneratedImage:
    """One image a server returned, with the request it answered."""

    data: bytes
    mime_type: str
    width: int | None
    height: int | None
    prompt: str | None
    requested_size: str | None  # the payload's `size` field ("512x512"), when it had one
    request_latency_ms: float | None
    x_request_id: str | None
    line_number: int  # line of profile_export_raw.jsonl (1-based)
    index: int  # position in the response's `data`

    @property
    def size(self) -> str | None:
        """"WxH" of the decoded image, or None when its format is not recognised."""
        return f"{self.width}x{self.height}" if self.width is not None else None

    def data_url(self) -> str:
        return data_url(self.data, self.mime_type)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_bytes(self.data)
        return path

    def _repr_html_(self) -> str:
        return gallery_html([self], title=None)

    def __repr__(self) -> str:
        return (f"GeneratedImage({self.size or self.mime_type}, {len(self.data)} bytes, "
                f"latency_ms={self.request_latency_ms}, prompt={self.prompt!r})")


def image_dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, JPEG or GIF header; None for anything else."""
    kind = sniff_image_type(data)
    if kind == "image/png" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if kind == "image/gif" and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if kind == "image/jpeg":
        return _jpeg_dimensions(data)
    return None


def _jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    position = 2
    while position + 9 < len(data):
        if data[position] != 0xFF:
            return None
        marker = data[position + 1]
        length = struct.unpack(">H", data[position + 2:position + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame: height, width
            height, width = struct.unpack(">HH", data[position + 5:position + 9])
            return width, height
        position += 2 + length
    return None


def _prompt(payload: Any) -> str | None:
    """The prompt of an image request (generation or edit), or the last user text of a chat request."""
    if not isinstance(payload, dict):
        return None
    prompt = payload.get("prompt")
    if isinstance(prompt, str):
        return prompt
    for message in reversed(payload.get("messages") or []):
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            return content
        if isinstance(content, list):
            texts = [str(p["text"]) for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
            if texts:
                return " ".join(texts)
    return None


def read_images(artifact_dir: str | Path, limit: int | None = None) -> Iterator[GeneratedImage]:
    """Yield the images of a run's raw export in file order (at most `limit`)."""
    raw_file = Path(artifact_dir) / RAW_EXPORT_NAME
    if not raw_file.is_file():
        raise FileNotFoundError(f"{raw_file}: no such file (images need aiperf profile --export-level raw)")
    count = 0
    with raw_file.open(encoding="utf-8") as f:
        for line_number, line in enumerate(f, 1):
            if limit is not None and count >= limit:
                return
            if '"b64_json"' not in line:  # most lines of a text run: skip without parsing
                continue
            try:
                record = json.loads(line)
            except ValueError:
                raise ValueError(f"{raw_file}:{line_number}: not valid JSON") from None
            meta = record.get("metadata") or {}
            start, end = meta.get("request_start_ns"), meta.get("request_end_ns")
            latency_ms = (end - start) / 1e6 if isinstance(start, int) and isinstance(end, int) else None
            payload = record.get("payload")
            requested = payload.get("size") if isinstance(payload, dict) else None
            for response in record.get("responses") or []:
                for index, b64 in response_images(response.get("text", "{}")):
                    try:
                        data = base64.b64decode(b64, validate=False)
                    except (binascii.Error, ValueError):
                        continue  # an undecodable image was already an error record of the run
                    kind = sniff_image_type(data)
                    dimensions = image_dimensions(data)
                    yield GeneratedImage(
                        data=data, mime_type=kind or "application/octet-stream",
                        width=dimensions[0] if dimensions else None, height=dimensions[1] if dimensions else None,
                        prompt=_prompt(payload), requested_size=requested if isinstance(requested, str) else None,
                        request_latency_ms=latency_ms, x_request_id=meta.get("x_request_id"),
                        line_number=line_number, index=index)
                    count += 1
                    if limit is not None and count >= limit:
                        return


_GALLERY_CSS = """
.aiperf-gallery{display:flex;flex-wrap:wrap;gap:12px;font-family:system-ui,sans-serif;font-size:12px}
.aiperf-gallery figure{margin:0;width:220px;border:1px solid #ddd;border-radius:6px;padding:6px;background:#fff}
.aiperf-gallery img{max-width:208px;max-height:208px;display:block;margin:0 auto;image-rendering:auto}
.aiperf-gallery figcaption{margin-top:4px;color:#333;word-wrap:break-word}
.aiperf-gallery .meta{color:#666}
"""


def gallery_html(images: list[GeneratedImage], *, title: str | None = "Generated images",
                 standalone: bool = False) -> str:
    """Images as an HTML fragment (inline base64, no files needed), each with prompt, size and latency."""
    figures = []
    for image in images:
        latency = f"{image.request_latency_ms:,.1f} ms" if image.request_latency_ms is not None else "latency n/a"
        size = image.size or image.requested_size or "size n/a"
        prompt = html.escape(image.prompt) if image.prompt else "<i>no prompt</i>"
        alt = html.escape(f"image {image.line_number}.{image.index}: {image.prompt or ''}", quote=True)
        figures.append(
            f'<figure><img src="{image.data_url()}" alt="{alt}">'
            f'<figcaption>{prompt}<br><span class="meta">{html.escape(size)} · {latency}</span></figcaption>'
            "</figure>")
    heading = f"<h3>{html.escape(title)} ({len(images)})</h3>" if title else ""
    body = "".join(figures) if figures else "<p>No images in this run's raw export.</p>"
    fragment = f'<style>{_GALLERY_CSS}</style>{heading}<div class="aiperf-gallery">{body}</div>'
    if standalone:
        return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title or "images")}'
                f"</title></head><body>{fragment}</body></html>")
    return fragment
