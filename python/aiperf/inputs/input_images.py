"""Input images: what a request sends (input-file images, synthetic images).

- An input image is a local path (read, checked to be an image), an http(s) URL (passed through untouched, never
  downloaded) or a data URL (checked to hold base64 image bytes). Anything else is an `ImageError`.
- Synthetic images are encoded by the C++ engine (`encode_png`, libpng + zlib), one deterministic image
  per seed, sizes drawn from normal(mean, stddev) per dimension.
"""
from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiperf.errors import ImageError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "IMAGE_FORMATS",
    "ImageError",
    "InputImage",
    "SyntheticImageSpec",
    "data_url",
    "jpeg_available",
    "parse_size",
    "resolve_image",
    "sniff_image_type",
    "synthetic_images",
]

IMAGE_FORMATS = ("png", "jpeg", "random")
_DATA_URL = re.compile(r"^data:(?P<mime>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^;,]*)*?);base64,(?P<data>.*)$", re.DOTALL)
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*):")
_SIZE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")
IMAGE_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}
MAX_SYNTHETIC_SIDE = 16384  # the C++ encoder's limit per side


@dataclass(frozen=True)
class InputImage:
    """One image to send: either bytes (local file, data URL, synthetic) or an http(s) URL passed as given."""

    url: str | None = None  # http(s) URL, sent untouched
    data: bytes | None = None
    mime_type: str | None = None  # sniffed from the bytes
    given_data_url: str | None = None  # a data URL from the input, re-sent exactly as written

    @property
    def is_url(self) -> bool:
        return self.url is not None

    def as_url(self) -> str:
        """What goes into an `image_url` part: the http(s) URL, the data URL as given, or a new data URL."""
        if self.url is not None:
            return self.url
        if self.given_data_url is not None:
            return self.given_data_url
        assert self.data is not None and self.mime_type is not None
        return data_url(self.data, self.mime_type)

    @property
    def filename(self) -> str:
        """File name of a multipart file part: image.png / image.jpg / image.webp …"""
        return f"image.{IMAGE_EXTENSIONS.get(self.mime_type or '', 'png')}"


def sniff_image_type(data: bytes) -> str | None:
    """The image MIME type of `data` from its magic bytes (C++), or None when it is not a known image format."""
    from aiperf.engine import sniff_image_type
    return sniff_image_type(data)


def data_url(data: bytes, mime_type: str) -> str:
    return f"data:{mime_type};base64,{base64.b64encode(data).decode('ascii')}"


def _checked_bytes(data: bytes, what: str) -> tuple[bytes, str]:
    if not data:
        raise ImageError(f"{what}: empty (0 bytes)")
    mime = sniff_image_type(data)
    if mime is None:
        raise ImageError(f"{what}: not an image (no PNG, JPEG, WebP or GIF signature in its first bytes)")
    return data, mime


def resolve_image(value: str, *, base_dir: Path | None = None, cache: dict[str, InputImage] | None = None
                  ) -> InputImage:
    """Check one input image reference and load what must be sent.

    http(s) URLs are returned untouched (the client never fetches them); data URLs must hold base64 image bytes;
    anything else with a URL scheme is refused; otherwise `value` is a local path (relative to the current folder,
    else to `base_dir`, the input file's folder). `cache` (per dataset) avoids reading one file twice.
    """
    if cache is not None and value in cache:
        return cache[value]
    image = _resolve(value, base_dir)
    if cache is not None:
        cache[value] = image
    return image


def _resolve(value: str, base_dir: Path | None) -> InputImage:
    text = value.strip()
    if not text:
        raise ImageError("empty image reference")
    lowered = text.lower()
    if lowered.startswith(("http://", "https://")):
        if len(text) <= len("https://") or text.split("://", 1)[1].startswith("/"):
            raise ImageError(f"{value!r}: URL without a host")
        return InputImage(url=value)
    if lowered.startswith("data:"):
        match = _DATA_URL.match(text)
        if match is None:
            raise ImageError(f"{_short(value)}: not a base64 data URL (expected data:image/<type>;base64,<data>)")
        try:
            raw = base64.b64decode(match["data"], validate=True)
        except (binascii.Error, ValueError):
            raise ImageError(f"{_short(value)}: invalid base64 in the data URL") from None
        data, mime = _checked_bytes(raw, f"data URL {_short(value)}")
        return InputImage(data=data, mime_type=mime, given_data_url=value)
    scheme = _SCHEME.match(text)
    # "ftp://…" and "file:…" are URLs we do not send; "C:\x" (a drive) or an existing "a:b.png" are paths
    if scheme and ("://" in text or (len(scheme["scheme"]) > 1 and not Path(text).exists())):
        raise ImageError(f"{value!r}: unsupported URL scheme {scheme['scheme']!r} (use a local path, an http(s) URL "
                         "or a data URL)")
    path = Path(text).expanduser()
    if not path.is_absolute() and not path.exists() and base_dir is not None and (base_dir / path).exists():
        path = base_dir / path
    if not path.exists():
        raise ImageError(f"{value}: no such file")
    if path.is_dir():
        raise ImageError(f"{value}: is a folder, expected an image file")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ImageError(f"{value}: cannot read: {e.strerror or e}") from None
    data, mime = _checked_bytes(raw, str(value))
    return InputImage(data=data, mime_type=mime)


def _short(text: str, limit: int = 48) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def parse_size(value: Any) -> tuple[int, int] | None:
    """'512x512' -> (512, 512); 'auto' -> None; anything else raises ImageError."""
    if isinstance(value, str) and value.strip().lower() == "auto":
        return None
    match = _SIZE.match(value) if isinstance(value, str) else None
    if match is None:
        raise ImageError(f"{value!r} is not WIDTHxHEIGHT (e.g. 512x512) or 'auto'")
    width, height = int(match[1]), int(match[2])
    if width <= 0 or height <= 0:
        raise ImageError(f"{value!r}: width and height must be > 0")
    return width, height


# ------------------------------------------------------------------------------------------- synthetic images

def jpeg_available() -> bool:
    from aiperf.engine import encode_jpeg

    return encode_jpeg is not None


@dataclass(frozen=True)
class SyntheticImageSpec:
    """The synthetic image options of a run (--image-*)."""

    width_mean: float = 0.0
    width_stddev: float = 0.0
    height_mean: float = 0.0
    height_stddev: float = 0.0
    batch_size: int = 1
    image_format: str = "png"

    @property
    def enabled(self) -> bool:
        """Images are off while the width and height means are 0 (AIPerf's behaviour)."""
        return self.width_mean > 0 and self.height_mean > 0 and self.batch_size > 0


def _dimensions(rng: np.random.Generator, mean: float, stddev: float, count: int) -> np.ndarray:
    import numpy as np

    values = rng.normal(mean, stddev, count) if stddev > 0 else np.full(count, float(mean))
    return np.clip(np.rint(values), 1, MAX_SYNTHETIC_SIDE).astype(np.int64)


def synthetic_images(spec: SyntheticImageSpec, count: int, rng: np.random.Generator) -> list[InputImage]:
    """`count` distinct images (C++ encoder); sizes, formats and pixels all come from `rng` (reproducible)."""
    from aiperf.engine import encode_jpeg, encode_png
    widths = _dimensions(rng, spec.width_mean, spec.width_stddev, count).tolist()
    heights = _dimensions(rng, spec.height_mean, spec.height_stddev, count).tolist()
    seeds = rng.integers(0, 2**32, count).tolist()
    formats = (rng.choice(["png", "jpeg"], count).tolist() if spec.image_format == "random"
               else [spec.image_format] * count)
    images = []
    for width, height, seed, fmt in zip(widths, heights, seeds, formats):
        if fmt == "jpeg":
            if encode_jpeg is None:  # validate() refuses --image-format jpeg in such a build first
                raise ImageError("JPEG is not available in this build (the engine has no JPEG encoder)")
            images.append(InputImage(data=encode_jpeg(width, height, seed), mime_type="image/jpeg"))
        else:
            images.append(InputImage(data=encode_png(width, height, seed), mime_type="image/png"))
    return images
