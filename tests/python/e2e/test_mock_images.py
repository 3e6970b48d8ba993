"""The mock server's image routes over real HTTP: generations, edits (multipart), URL mode, streaming, errors,
and the official openai SDK against them."""

from __future__ import annotations

import base64
import json
import struct
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import Any

import pytest

from aiperf.mock import MockServer

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, after checking the signature and the chunk's CRC."""
    assert data[:8] == PNG_SIGNATURE
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    (crc,) = struct.unpack(">I", data[29:33])
    assert zlib.crc32(data[12:29]) == crc
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def tiny_png(width: int, height: int) -> bytes:
    """A valid grey PNG built with zlib only, independent of the code under test."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
        )

    rows = b"".join(b"\x00" + b"\x80" * width for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return PNG_SIGNATURE + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def post_json(server: MockServer, path: str, body: dict[str, Any]) -> tuple[int, bytes, str]:
    return post(server, path, json.dumps(body).encode(), "application/json")


def post(server: MockServer, path: str, data: bytes, content_type: str) -> tuple[int, bytes, str]:
    req = urllib.request.Request(
        server.url + path, data=data, headers={"Content-Type": content_type}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as e:
        return e.code, e.read(), e.headers.get("Content-Type", "")


def multipart(fields: dict[str, str], files: list[tuple[str, str, bytes]], boundary: str) -> bytes:
    """A hand-built multipart/form-data body: text fields, then (name, filename, bytes) file parts."""
    out = b""
    for name, value in fields.items():
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
    for name, filename, data in files:
        out += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        out += data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def sse_data(body: bytes) -> list[str]:
    """The data of every SSE event, in order (event: lines skipped)."""
    events = body.decode().split("\n\n")
    assert events[-1] == ""
    data = []
    for event in events[:-1]:
        lines = event.split("\n")
        data.append("\n".join(line[len("data: ") :] for line in lines if line.startswith("data: ")))
    return data


@pytest.fixture(scope="module")
def server():
    with MockServer(port=0, ttft_ms=0, itl_ms=0, image_latency_ms=0) as s:
        yield s


def test_generation_returns_b64_pngs_of_the_requested_size(server: MockServer) -> None:
    status, body, content_type = post_json(
        server, "/v1/images/generations", {"prompt": "a red fox", "model": "flux", "size": "320x200", "n": 1}
    )
    assert status == 200 and content_type == "application/json"
    reply = json.loads(body)
    assert isinstance(reply["created"], int) and abs(reply["created"] - time.time()) < 60
    assert len(reply["data"]) == 1
    assert png_size(base64.b64decode(reply["data"][0]["b64_json"], validate=True)) == (320, 200)
    assert reply["data"][0]["revised_prompt"] == "a red fox"
    usage = reply["usage"]
    assert usage["input_tokens"] == 3  # ceil(9 chars / 4)
    assert usage["output_tokens"] == 10 * 7  # one token per 32x32 tile
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]


def test_generation_defaults_to_one_1024_square_image(server: MockServer) -> None:
    for extra in ({}, {"size": "auto"}):
        status, body, _ = post_json(server, "/v1/images/generations", {"prompt": "x", **extra})
        assert status == 200
        data = json.loads(body)["data"]
        assert len(data) == 1
        assert png_size(base64.b64decode(data[0]["b64_json"])) == (1024, 1024)


def test_generation_returns_n_images(server: MockServer) -> None:
    status, body, _ = post_json(server, "/v1/images/generations", {"prompt": "x", "size": "64x48", "n": 4})
    assert status == 200
    data = json.loads(body)["data"]
    assert len(data) == 4
    assert all(png_size(base64.b64decode(item["b64_json"])) == (64, 48) for item in data)


def test_extra_inputs_of_any_json_type_are_accepted(server: MockServer) -> None:
    body = {
        "prompt": "x",
        "size": "32x32",
        "num_inference_steps": 4,
        "guidance_scale": 3.5,
        "quality": "standard",
    }
    status, reply, _ = post_json(server, "/v1/images/generations", body)
    assert status == 200
    assert json.loads(reply)["quality"] == "standard"


def test_url_mode_points_at_a_png_the_server_serves(server: MockServer) -> None:
    status, body, _ = post_json(
        server, "/v1/images/generations", {"prompt": "x", "size": "96x64", "response_format": "url", "n": 2}
    )
    assert status == 200
    data = json.loads(body)["data"]
    assert len(data) == 2 and all("b64_json" not in item for item in data)
    url = data[0]["url"]
    assert url == f"{server.url}/v1/mock-images/96x64.png"
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.headers["Content-Type"] == "image/png"
        assert png_size(response.read()) == (96, 64)


@pytest.mark.parametrize(
    ("body", "named"),
    [
        ({"model": "m"}, "prompt"),
        ({"prompt": "x", "size": "1024"}, "size"),
        ({"prompt": "x", "size": "-5x10"}, "size"),
        ({"prompt": "x", "size": "9000x9000"}, "size"),
        ({"prompt": "x", "n": 0}, "'n'"),
        ({"prompt": "x", "n": 11}, "'n'"),
        ({"prompt": "x", "response_format": "png"}, "response_format"),
        ({"prompt": "x", "stream": "yes"}, "stream"),
    ],
)
def test_generation_bad_fields_are_400_with_an_openai_error(
    server: MockServer, body: dict[str, Any], named: str
) -> None:
    status, reply, content_type = post_json(server, "/v1/images/generations", body)
    assert status == 400 and content_type == "application/json"
    error = json.loads(reply)["error"]
    assert error["type"] == "invalid_request_error"
    assert named in error["message"]


def test_generation_waits_image_latency() -> None:
    with MockServer(image_latency_ms=150) as slow:
        start = time.monotonic()
        status, _, _ = post_json(slow, "/v1/images/generations", {"prompt": "x", "size": "16x16"})
        elapsed = time.monotonic() - start
    assert status == 200
    assert elapsed >= 0.15


def test_streaming_generation_sends_completed_events_with_b64_json_then_done(server: MockServer) -> None:
    status, body, content_type = post_json(
        server, "/v1/images/generations", {"prompt": "x", "size": "40x30", "n": 2, "stream": True}
    )
    assert status == 200 and content_type == "text/event-stream"
    assert body.decode().startswith("event: image_generation.completed\ndata: ")
    data = sse_data(body)
    assert data[-1] == "[DONE]"
    events = [json.loads(d) for d in data[:-1]]
    assert [e["type"] for e in events] == ["image_generation.completed"] * 2
    for event in events:
        assert png_size(base64.b64decode(event["b64_json"])) == (40, 30)
        assert event["size"] == "40x30" and event["output_format"] == "png"
        assert isinstance(event["created_at"], int)
    assert sum(e["usage"]["output_tokens"] for e in events) == 2 * 2 * 1


def test_streaming_partial_images_come_before_the_completed_ones(server: MockServer) -> None:
    status, body, _ = post_json(
        server,
        "/v1/images/generations",
        {"prompt": "x", "size": "16x16", "stream": True, "partial_images": 2},
    )
    assert status == 200
    events = [json.loads(d) for d in sse_data(body)[:-1]]
    assert [(e["type"], e.get("partial_image_index")) for e in events] == [
        ("image_generation.partial_image", 0),
        ("image_generation.partial_image", 1),
        ("image_generation.completed", None),
    ]


def test_edit_with_a_real_png_returns_images_of_its_size(server: MockServer) -> None:
    boundary = "----aiperf-test-boundary"
    data = multipart(
        {"prompt": "make it blue", "model": "qwen", "n": "2"},
        [("image", "ref.png", tiny_png(48, 36))],
        boundary,
    )
    status, body, _ = post(server, "/v1/images/edits", data, f"multipart/form-data; boundary={boundary}")
    assert status == 200, body
    reply = json.loads(body)
    assert len(reply["data"]) == 2
    assert png_size(base64.b64decode(reply["data"][1]["b64_json"])) == (48, 36)
    assert reply["usage"]["input_tokens_details"]["image_tokens"] == 85


def test_edit_honours_size_and_quoted_boundary_and_image_list(server: MockServer) -> None:
    boundary = "quoted boundary"
    files = [
        ("image[]", "a.png", tiny_png(8, 8)),
        ("image[]", "b.png", tiny_png(9, 9)),
        ("mask", "m.png", tiny_png(8, 8)),
    ]
    data = multipart({"prompt": "x", "size": "64x32", "response_format": "b64_json"}, files, boundary)
    status, body, _ = post(server, "/v1/images/edits", data, f'multipart/form-data; boundary="{boundary}"')
    assert status == 200, body
    assert png_size(base64.b64decode(json.loads(body)["data"][0]["b64_json"])) == (64, 32)


def test_edit_streaming_uses_image_edit_events(server: MockServer) -> None:
    data = multipart({"prompt": "x", "stream": "true"}, [("image", "ref.png", tiny_png(20, 10))], "b")
    status, body, _ = post(server, "/v1/images/edits", data, "multipart/form-data; boundary=b")
    assert status == 200
    data_lines = sse_data(body)
    assert data_lines[-1] == "[DONE]"
    event = json.loads(data_lines[0])
    assert event["type"] == "image_edit.completed"
    assert png_size(base64.b64decode(event["b64_json"])) == (20, 10)


@pytest.mark.parametrize(
    ("files", "content_type", "named"),
    [
        ([], "multipart/form-data; boundary=b", "'image' is required"),
        ([("image", "x.png", b"this is not an image")], "multipart/form-data; boundary=b", "PNG or JPEG"),
        (
            [("image", "x.png", PNG_SIGNATURE + b"\x00" * 8)],
            "multipart/form-data; boundary=b",
            "not a decodable PNG",
        ),
        ([("image", "x.gif", b"GIF89a" + b"\x00" * 20)], "multipart/form-data; boundary=b", "image/gif"),
        (
            [("image", "x.png", tiny_png(4, 4)), ("mask", "m.png", b"nope")],
            "multipart/form-data; boundary=b",
            "'mask'",
        ),
        ([("image", "x.png", tiny_png(4, 4))], "application/json", "multipart/form-data"),
    ],
)
def test_edit_without_a_decodable_image_or_multipart_body_is_400(
    server: MockServer, files: list[tuple[str, str, bytes]], content_type: str, named: str
) -> None:
    status, body, _ = post(server, "/v1/images/edits", multipart({"prompt": "x"}, files, "b"), content_type)
    assert status == 400
    assert named in json.loads(body)["error"]["message"]


def test_stats_count_image_requests_and_images() -> None:
    with MockServer(image_latency_ms=0) as s:
        post_json(s, "/v1/images/generations", {"prompt": "x", "size": "8x8", "n": 3})
        post(
            s,
            "/v1/images/edits",
            multipart({"prompt": "x"}, [("image", "a.png", tiny_png(4, 4))], "b"),
            "multipart/form-data; boundary=b",
        )
        urllib.request.urlopen(s.url + "/v1/mock-images/8x8.png", timeout=30).read()
        stats = s.stats()
    assert stats["image_generations"] == 1
    assert stats["image_edits"] == 1
    assert stats["mock_images"] == 1
    assert stats["images_sent"] == 4
    assert stats["requests"] == 3


# ---- the official openai SDK ----

openai = pytest.importorskip("openai")


def sdk_client(server: MockServer) -> Any:
    return openai.OpenAI(base_url=server.url + "/v1", api_key="x", max_retries=0)


def test_openai_sdk_images_generate(server: MockServer) -> None:
    result = sdk_client(server).images.generate(model="mock", prompt="a lighthouse", size="256x128", n=2)
    assert len(result.data) == 2
    assert png_size(base64.b64decode(result.data[0].b64_json)) == (256, 128)
    assert result.usage is not None and result.usage.output_tokens == 2 * 8 * 4


def test_openai_sdk_images_generate_url(server: MockServer) -> None:
    result = sdk_client(server).images.generate(prompt="x", size="64x64", response_format="url")
    with urllib.request.urlopen(result.data[0].url, timeout=30) as response:
        assert png_size(response.read()) == (64, 64)


def test_openai_sdk_images_edit_with_an_open_file(server: MockServer, tmp_path: Path) -> None:
    reference = tmp_path / "reference.png"
    reference.write_bytes(tiny_png(72, 40))
    with reference.open("rb") as image:
        result = sdk_client(server).images.edit(image=image, prompt="add a hat", model="mock")
    assert len(result.data) == 1
    assert png_size(base64.b64decode(result.data[0].b64_json)) == (72, 40)


def test_openai_sdk_images_edit_rejects_a_non_image_with_bad_request(
    server: MockServer, tmp_path: Path
) -> None:
    bogus = tmp_path / "notes.png"
    bogus.write_bytes(b"plain text, not a picture")
    with bogus.open("rb") as image, pytest.raises(openai.BadRequestError) as caught:
        sdk_client(server).images.edit(image=image, prompt="x")
    assert caught.value.status_code == 400


def test_openai_sdk_streaming_generation(server: MockServer) -> None:
    stream = sdk_client(server).images.generate(prompt="x", size="32x32", stream=True, partial_images=1)
    events = list(stream)
    assert [e.type for e in events] == ["image_generation.partial_image", "image_generation.completed"]
    assert png_size(base64.b64decode(events[-1].b64_json)) == (32, 32)
