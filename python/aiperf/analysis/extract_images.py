"""`aiperf extract-images`: every base64 image of a raw export (`profile_export_raw.jsonl`) written to files named
as the guides' `extract_images.py` names them (`image_<line:04d>_<index:02d>.jpg`).
"""
from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path

from aiperf.inputs.input_images import IMAGE_EXTENSIONS, sniff_image_type

__all__ = ["DEFAULT_EXTRACT_DIR", "extract_images", "image_filename"]

RAW_EXPORT_NAME = "profile_export_raw.jsonl"
DEFAULT_EXTRACT_DIR = "extracted_images"


def image_filename(line_number: int, index: int, data: bytes, *, real_extension: bool) -> str:
    """The guides' name `image_<line:04d>_<index:02d>.jpg`; with real_extension the sniffed type's extension."""
    extension = "jpg"
    if real_extension:
        extension = IMAGE_EXTENSIONS.get(sniff_image_type(data) or "", "bin")
    return f"image_{line_number:04d}_{index:02d}.{extension}"


def response_images(text: str) -> list[tuple[int, str]]:
    """(index, base64) of each image in one response body or SSE event: `data[i].b64_json`, or a top-level
    `b64_json` (streamed image events)."""
    try:
        body = json.loads(text)
    except ValueError:
        return []
    if not isinstance(body, dict):
        return []
    found: list[tuple[int, str]] = []
    items = body.get("data")
    if isinstance(items, list):
        for index, item in enumerate(items):
            if isinstance(item, dict) and isinstance(item.get("b64_json"), str) and item["b64_json"]:
                found.append((index, item["b64_json"]))
    elif isinstance(body.get("b64_json"), str) and body["b64_json"]:
        found.append((0, body["b64_json"]))
    return found


def extract_images(source: Path | str, out_dir: Path | str = DEFAULT_EXTRACT_DIR, *, real_extension: bool = False
                   ) -> list[Path]:
    """Write every base64 image of a raw export to `out_dir`; returns the files written, in order.

    `source` is an artifact folder (its profile_export_raw.jsonl is read) or the raw JSONL file itself. Files are
    named exactly as the guides' extract_images.py names them, so both give the same files.
    """
    source = Path(source)
    raw_file = source / RAW_EXPORT_NAME if source.is_dir() else source
    if not raw_file.is_file():
        hint = " (run aiperf profile with --export-level raw)" if source.is_dir() else ""
        raise FileNotFoundError(f"{raw_file}: no such file{hint}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with raw_file.open("r", encoding="utf-8") as f:
        for line_number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                raise ValueError(f"{raw_file}:{line_number}: not valid JSON") from None
            for response in record.get("responses") or []:
                for index, b64 in response_images(response.get("text", "{}")):
                    try:
                        data = base64.b64decode(b64)
                    except (binascii.Error, ValueError):
                        continue  # an invalid image was already an error record of the run
                    path = out_dir / image_filename(line_number, index, data, real_extension=real_extension)
                    path.write_bytes(data)
                    written.append(path)
    return written
