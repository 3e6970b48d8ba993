"""Image benchmark: synthetic 512x512 PNGs per second on one core, and multipart encoding against a plain copy.

Everything runs on the calling thread (one core). PNG rows give images/s and ms/image in CPU time of this thread
(time.thread_time: other load on the machine does not count) and in wall time, with a new seed per image:
the default (8-bit palette, zlib level 1, as runs make them), level 0 (stored), and the same pictures as 24-bit RGB
through encode_png_rgb (pixels decoded beforehand, so only encoding is timed). The multipart body carries the same payload as an image_edit
request (prompt, model, response_format, n, the PNG as file `image`); its MB/s is compared with copying the same
number of bytes once (numpy copyto into a preallocated array, and bytes.join, which also allocates the result).
Usage: PYTHONPATH=python python bench/images/run.py [--seconds S]
"""
from __future__ import annotations

import argparse
import struct
import time
import zlib

import numpy as np

from aiperf import _engine


def timed(fn, min_seconds: float) -> float:
    """Wall seconds per call of fn, looping until min_seconds have passed."""
    return timed_cpu(fn, min_seconds)[1]


def timed_cpu(fn, min_seconds: float) -> tuple[float, float]:
    """(CPU seconds, wall seconds) per call of fn, looping until min_seconds of wall time have passed."""
    fn()  # warm-up
    calls = 0
    started_cpu = time.thread_time()
    started = time.perf_counter()
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            return (time.thread_time() - started_cpu) / calls, elapsed / calls


def palette_png_to_rgb(png: bytes) -> np.ndarray:
    """HxWx3 pixels of an 8-bit palette PNG written with filter None (as encode_png writes them)."""
    pos, chunks = 8, {}
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        chunks[kind] = chunks.get(kind, b"") + png[pos + 8 : pos + 8 + length]
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 3)
    rows = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), dtype=np.uint8).reshape(height, width + 1)
    assert not rows[:, 0].any()  # filter None on every row
    palette = np.frombuffer(chunks[b"PLTE"], dtype=np.uint8).reshape(-1, 3)
    return np.ascontiguousarray(palette[rows[:, 1:]])


def png_rows(seconds: float) -> list[tuple[str, str, str, str]]:
    rows = []

    def row(label: str, cpu_s: float, wall_s: float, sizes: list[int]) -> tuple[str, str, str, str]:
        return (label, f"{1 / cpu_s:,.0f} images/s (CPU)", f"{cpu_s * 1e3:.3f} ms CPU, {wall_s * 1e3:.3f} ms wall",
                f"{np.mean(sizes) / 1024:.1f} KiB avg")

    for level, label in ((1, "default: 8-bit palette, zlib level 1"), (0, "8-bit palette, level 0 (stored)")):
        seed = iter(range(1 << 62))
        sizes: list[int] = []

        def one(seed=seed, sizes=sizes, level=level) -> None:  # defaults bind this iteration's values
            sizes.append(len(_engine.encode_png(512, 512, next(seed), level)))

        rows.append(row(f"synthetic 512x512 PNG, {label}", *timed_cpu(one, seconds), sizes))

    pictures = [palette_png_to_rgb(_engine.encode_png(512, 512, seed)) for seed in range(64)]
    for level in (1, 0):
        picture = iter(range(1 << 62))
        sizes = []

        def one_rgb(picture=picture, sizes=sizes, level=level) -> None:
            pixels = pictures[next(picture) % len(pictures)]
            sizes.append(len(_engine.encode_png_rgb(pixels, compression_level=level)))

        rows.append(row(f"same pictures as RGB, encode_png_rgb level {level}", *timed_cpu(one_rgb, seconds), sizes))
    return rows


def multipart_rows(seconds: float) -> list[tuple[str, str, str, str]]:
    rows = []
    fields = [("prompt", "a watercolor painting of a lighthouse at dawn"), ("model", "black-forest-labs/FLUX.1-dev"),
              ("response_format", "b64_json"), ("n", "1")]
    for label, image in (("512x512 level-1 PNG", _engine.encode_png(512, 512, 1, 1)),
                         ("512x512 level-0 PNG", _engine.encode_png(512, 512, 1, 0)),
                         ("8 MiB random file", np.random.default_rng(0).bytes(8 << 20))):
        files = [("image", "image.png", image, None)]
        _, body = _engine.multipart_encode(fields, files)
        size = len(body)
        encode_s = timed(lambda files=files: _engine.multipart_encode(fields, files), seconds)
        source = np.frombuffer(body, dtype=np.uint8)
        target = np.empty_like(source)
        copy_s = timed(lambda target=target, source=source: np.copyto(target, source), seconds)
        pieces = [body[: size // 2], body[size // 2:]]
        join_s = timed(lambda pieces=pieces: b"".join(pieces), seconds)
        mb = size / 1e6
        rows.append((f"multipart, {label} ({size / 1024:.0f} KiB body)", f"{mb / encode_s:,.0f} MB/s",
                     f"numpy copy {mb / copy_s:,.0f} MB/s (ratio {copy_s / encode_s:.2f})",
                     f"bytes.join {mb / join_s:,.0f} MB/s (ratio {join_s / encode_s:.2f})"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="minimum time per measurement")
    args = parser.parse_args()
    rows = png_rows(args.seconds) + multipart_rows(args.seconds)
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    print("aiperf bench/images (one thread; ratio = encoder speed / copy speed of the same bytes)")
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)))


if __name__ == "__main__":
    main()
