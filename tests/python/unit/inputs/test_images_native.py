"""The native image and multipart helpers, checked with independent pure-Python decoders (zlib + email)."""

from __future__ import annotations

import struct
import zlib
from email.parser import BytesParser
from email.policy import HTTP

import numpy as np
import pytest

from aiperf import _engine


def parse_png(data: bytes) -> tuple[int, int, np.ndarray]:
    """Width, height and RGB pixels of an 8-bit RGB or palette non-interlaced PNG, checking every chunk CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos = 8
    chunks: list[tuple[bytes, bytes]] = []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1][0] == b"IEND"
    width, height, depth, colour, compression, filter_method, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, compression, filter_method, interlace) == (8, 0, 0, 0) and colour in (2, 3)
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    if colour == 3:  # palette: one index byte per pixel, looked up in PLTE
        palette = np.frombuffer(next(body for kind, body in chunks if kind == b"PLTE"), dtype=np.uint8)
        indices = parse_rows(raw, width, height, 1)
        assert int(indices.max()) < len(palette) // 3
        return width, height, palette.reshape(-1, 3)[indices]
    return width, height, parse_rows(raw, width, height, 3).reshape(height, width, 3)


def parse_rows(raw: bytes, width: int, height: int, bytes_per_pixel: int) -> np.ndarray:
    """Unfiltered bytes (height x width*bytes_per_pixel) of a decompressed IDAT stream (filters None/Sub/Up)."""
    stride = width * bytes_per_pixel
    assert len(raw) == height * (stride + 1)
    pixels = np.zeros((height, stride), dtype=np.int32)
    previous = np.zeros(stride, dtype=np.int32)
    for y in range(height):
        filter_type = raw[y * (stride + 1)]
        line = np.frombuffer(raw, dtype=np.uint8, count=stride, offset=y * (stride + 1) + 1).astype(np.int32)
        if filter_type == 0:
            row = line
        elif filter_type == 1:  # Sub: each byte adds the byte one pixel to the left
            row = line.copy()
            for x in range(bytes_per_pixel, stride):
                row[x] = (row[x] + row[x - bytes_per_pixel]) & 0xFF
        elif filter_type == 2:  # Up
            row = (line + previous) & 0xFF
        else:
            pytest.fail(f"unexpected PNG filter {filter_type}")
        pixels[y] = row
        previous = row
    return pixels.astype(np.uint8)


def parse_multipart(content_type: str, body: bytes) -> list[tuple[str, str | None, str | None, bytes]]:
    """(name, filename, content type, payload) of each part, via the stdlib email parser."""
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
    assert message.is_multipart()
    parts = []
    for part in message.iter_parts():
        parts.append(
            (
                part.get_param("name", header="content-disposition"),
                part.get_filename(),
                part["Content-Type"],
                part.get_payload(decode=True),
            )
        )
    return parts


def test_synthetic_png_decodes_with_pure_python_to_requested_size() -> None:
    png = _engine.encode_png(64, 40, seed=5)
    width, height, pixels = parse_png(png)
    assert (width, height) == (64, 40)
    assert _engine.png_size(png) == (64, 40)
    assert png[25] == 3  # colour type: 8-bit palette
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20  # sky gradient, mountains, ground: not a flat colour


def test_synthetic_512_png_is_a_varied_picture_stored_or_compressed() -> None:
    for level in (1, 0, 6):
        png = _engine.encode_png(512, 512, seed=21, compression_level=level)
        width, height, pixels = parse_png(png)
        assert (width, height) == (512, 512)
        assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 64
        assert 4_000 < len(png) < (300_000 if level == 0 else 50_000)


def test_encode_png_rgb_round_trips_exact_pixels_at_every_level() -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(9, 13, 3), dtype=np.uint8)
    for level in (0, 1, 9):
        assert np.array_equal(parse_png(_engine.encode_png_rgb(pixels, compression_level=level))[2], pixels)
    from_bytes = _engine.encode_png_rgb(pixels.tobytes(), width=13, height=9)
    assert np.array_equal(parse_png(from_bytes)[2], pixels)


def test_encode_png_rgb_rejects_wrong_sizes() -> None:
    with pytest.raises(ValueError, match=r"expected 2\*2\*3 bytes, got 10"):
        _engine.encode_png_rgb(b"\x00" * 10, width=2, height=2)
    with pytest.raises(ValueError, match="width and height are required"):
        _engine.encode_png_rgb(b"\x00" * 12)
    with pytest.raises(ValueError, match="an HxWx3 array is expected"):
        _engine.encode_png_rgb(np.zeros((2, 2, 4), dtype=np.uint8))


def test_synthetic_png_is_deterministic_per_seed_and_differs_across_seeds() -> None:
    assert _engine.encode_png(32, 32, 1) == _engine.encode_png(32, 32, 1)
    assert _engine.encode_png(32, 32, 1) != _engine.encode_png(32, 32, 2)


@pytest.mark.parametrize("size", [(0, 10), (10, 0), (-1, 5), (16385, 1)])
def test_synthetic_png_rejects_bad_sizes(size: tuple[int, int]) -> None:
    with pytest.raises(_engine.EngineError):
        _engine.encode_png(size[0], size[1], 1)


def test_png_size_and_sniffing_of_non_pngs() -> None:
    assert _engine.png_size(b"GIF89a" + b"\x00" * 30) == (0, 0)
    assert _engine.sniff_image_type(b"GIF89a\x01\x00") == "image/gif"
    assert _engine.sniff_image_type(b"\xff\xd8\xff\xe0\x00\x10JFIF") == "image/jpeg"
    assert _engine.sniff_image_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert _engine.sniff_image_type(_engine.encode_png(2, 2, 0)) == "image/png"
    assert _engine.sniff_image_type(b"hello") is None


def test_multipart_parses_back_with_the_stdlib_email_parser() -> None:
    png = _engine.encode_png(32, 16, 3)
    fields = [("prompt", "a red fox\non snow"), ("model", "black-forest-labs/FLUX.1-dev"), ("n", "1")]
    files = [("image", "image.png", png, None), ("mask", "mask.bin", b"\x00\r\n--\x01", "application/x-mask")]
    content_type, body = _engine.multipart_encode(fields, files)
    assert content_type.startswith("multipart/form-data; boundary=aiperf-")
    assert body.endswith(b"--" + content_type.split("boundary=")[1].encode() + b"--\r\n")
    parts = parse_multipart(content_type, body)
    assert [(name, filename) for name, filename, _, _ in parts] == [
        ("prompt", None),
        ("model", None),
        ("n", None),
        ("image", "image.png"),
        ("mask", "mask.bin"),
    ]
    assert parts[0][3] == b"a red fox\non snow"
    assert parts[3][2] == "image/png" and parts[3][3] == png
    assert parts[4][2] == "application/x-mask" and parts[4][3] == b"\x00\r\n--\x01"


def test_multipart_with_a_given_boundary_is_byte_exact() -> None:
    content_type, body = _engine.multipart_encode([("a", "1")], [("f", 'x"y.bin', b"DATA", None)], boundary="BND")
    assert content_type == "multipart/form-data; boundary=BND"
    assert body == (
        b'--BND\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n'
        b'--BND\r\nContent-Disposition: form-data; name="f"; filename="x%22y.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\nDATA\r\n--BND--\r\n"
    )


def test_multipart_given_boundary_inside_a_file_raises() -> None:
    with pytest.raises(_engine.EngineError, match="occurs inside a part"):
        _engine.multipart_encode([], [("f", "f", b"..BND..", None)], boundary="BND")


def test_multipart_accepts_bytearray_memoryview_and_numpy() -> None:
    data = bytearray(b"\x89PNG\r\n\x1a\n1234")
    for buffer in (data, memoryview(data), np.frombuffer(bytes(data), dtype=np.uint8)):
        content_type, body = _engine.multipart_encode([], [("image", "image.png", buffer, None)])
        ((_, _, part_type, payload),) = parse_multipart(content_type, body)
        assert (part_type, payload) == ("image/png", bytes(data))


def test_multipart_rejects_malformed_file_tuples() -> None:
    with pytest.raises(ValueError, match=r"each file is \(name, filename, data, content_type or None\)"):
        _engine.multipart_encode([], [("image", "image.png", b"x")])
