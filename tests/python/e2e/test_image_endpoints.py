"""Image endpoints end to end against the built-in mock server: image_generation (JSON), image_edit (multipart or
JSON), vision-language chat (image_url parts), image metrics, and the input errors caught before any request."""
from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import pytest

import aiperf
from aiperf import _engine
from aiperf.cli import main


@pytest.fixture(scope="module")
def image_server():
    from aiperf.mock import MockServer

    with MockServer(host="127.0.0.1", port=0, ttft_ms=0, itl_ms=0, output_tokens=8, image_latency_ms=0) as server:
        yield server


def _png(path: Path, width: int, height: int, seed: int = 1) -> Path:
    path.write_bytes(_engine.encode_png(width, height, seed))
    return path


def _payloads(artifact_dir: Path) -> list[dict]:
    inputs = json.loads((artifact_dir / "inputs.json").read_text())
    return [p for entry in inputs["data"] for p in entry["payloads"]]


def _raw(artifact_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (artifact_dir / "profile_export_raw.jsonl").read_text().splitlines()]


def _profile(server, out: Path, *args: str) -> int:
    return main(["profile", "--model", "img-model", "--tokenizer", "gpt2", "--url", server.url, "--artifact-dir",
                 str(out), "--ui-type", "none", *args])


# ---------------------------------------------------------------------------------------------- image_generation

def test_image_generation_sends_the_json_body_with_extra_inputs_typed(image_server, tmp_path, capsys):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"text": "A serene mountain landscape at sunset"}\n{"text": "A cute robot"}\n')
    out = tmp_path / "run"
    assert _profile(image_server, out, "--endpoint-type", "image_generation", "--input-file", str(prompts),
                    "--custom-dataset-type", "single_turn", "--extra-inputs", "size:64x48", "--extra-inputs",
                    "quality:standard", "--extra-inputs", "num_inference_steps:4", "--request-count", "4",
                    "--export-level", "raw") == 0
    payload = _payloads(out)[0]
    assert payload == {"prompt": "A serene mountain landscape at sunset", "model": "img-model",
                       "response_format": "b64_json", "n": 1, "size": "64x48", "quality": "standard",
                       "num_inference_steps": 4}
    raw = _raw(out)
    assert len(raw) == 4 and raw[0]["payload"] == payload and raw[0]["status"] == 200
    assert raw[0]["request_headers"]["Content-Type"] == "application/json"
    image = base64.b64decode(json.loads(raw[0]["responses"][0]["text"])["data"][0]["b64_json"])
    assert _engine.png_size(image) == (64, 48)
    console = capsys.readouterr().out
    assert "aiperf | Image Generation Metrics" in console
    for row in ("Request Latency (ms)", "Input Sequence Length (tokens)", "Image Throughput (images/sec)",
                "Image Latency (ms/image)", "Request Throughput (requests/sec)", "Request Count (requests)"):
        assert row in console
    assert "Time to First Token" not in console and "Output Sequence Length" not in console


def test_image_generation_streaming_asks_for_a_stream(image_server, tmp_path):
    out = tmp_path / "run"
    assert _profile(image_server, out, "--endpoint-type", "image_generation", "--streaming",
                    "--synthetic-input-tokens-mean", "8", "--request-count", "2") == 0
    payload = _payloads(out)[0]
    assert payload["stream"] is True and "stream_options" not in payload


def test_image_metrics_count_the_images_returned(image_server, tmp_path):
    result = aiperf.profile(model="m", tokenizer="gpt2", url=image_server.url, endpoint_type="image_generation",
                            synthetic_input_tokens_mean=8, extra_inputs=["size:32x32", "n:2"], request_count=5,
                            artifact_dir=tmp_path, print_table=False)
    summary = result.summary
    assert summary["num_images"]["avg"] == 2
    # 2 images per response: image latency is half the request latency, image throughput 2 / latency (s)
    assert summary["image_latency"]["avg"] == pytest.approx(summary["request_latency"]["avg"] / 2)
    records = result.records
    assert (records["image_throughput"] * records["request_latency"] / 1000).round(6).eq(2).all()
    exported = json.loads((tmp_path / "profile_export_aiperf.json").read_text())
    assert exported["image_throughput"]["unit"] == "images/sec" and exported["image_latency"]["unit"] == "ms/image"
    assert "Image Throughput (images/sec)" in (tmp_path / "profile_export_aiperf.csv").read_text()


# ---------------------------------------------------------------------------------------------- image_edit

def test_image_edit_sends_multipart_fields_and_describes_the_file_part(image_server, tmp_path):
    ref = _png(tmp_path / "ref.png", 40, 30)
    lines = [{"text": "Make it a watercolor", "image": str(ref)},
             {"text": "Add snow", "image": "https://example.com/ref3.png"}]
    data = tmp_path / "edit.jsonl"
    data.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    out = tmp_path / "run"
    assert _profile(image_server, out, "--endpoint-type", "image_edit", "--input-file", str(data),
                    "--custom-dataset-type", "single_turn", "--extra-inputs", "size:40x30", "--extra-inputs",
                    "num_inference_steps:4", "--request-count", "2", "--export-level", "raw") == 0
    raw = _raw(out)
    file_payload, url_payload = raw[0]["payload"], raw[1]["payload"]
    assert file_payload == {"prompt": "Make it a watercolor", "model": "img-model", "response_format": "b64_json",
                            "n": "1", "size": "40x30", "num_inference_steps": "4",
                            "image": {"filename": "image.png", "content_type": "image/png",
                                      "size_bytes": ref.stat().st_size,
                                      "sha256": hashlib.sha256(ref.read_bytes()).hexdigest()}}
    assert url_payload["url"] == "https://example.com/ref3.png" and "image" not in url_payload
    content_type = raw[0]["request_headers"]["Content-Type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    assert raw[0]["status"] == 200  # the mock decoded the uploaded image
    edited = base64.b64decode(json.loads(raw[0]["responses"][0]["text"])["data"][0]["b64_json"])
    assert _engine.png_size(edited) == (40, 30)
    assert "base64" not in (out / "inputs.json").read_text()  # file parts are described, never inlined


def test_image_edit_with_synthetic_reference_images_is_reproducible(image_server, tmp_path, capsys):
    def run(seed: int, name: str) -> list[dict]:
        out = tmp_path / name
        assert _profile(image_server, out, "--endpoint-type", "image_edit", "--image-width-mean", "24",
                        "--image-height-mean", "16", "--image-batch-size", "2", "--synthetic-input-tokens-mean", "8",
                        "--num-dataset-entries", "3", "--request-count", "3", "--random-seed", str(seed)) == 0
        return _payloads(out)

    first, again, other = run(7, "a"), run(7, "b"), run(8, "c")
    assert [p["image"] for p in first] == [p["image"] for p in again]
    assert [p["image"] for p in first] != [p["image"] for p in other]
    assert all(len(p["image"]) == 2 for p in first)  # --image-batch-size 2: two file parts named image
    assert len({part["sha256"] for p in first for part in p["image"]}) == 6  # every image distinct
    assert "aiperf | Image Edit Metrics" in capsys.readouterr().out


def test_image_edit_json_content_type_inlines_the_reference_as_a_data_url(image_server, tmp_path):
    ref = _png(tmp_path / "ref.png", 8, 8)
    data = tmp_path / "edit.jsonl"
    data.write_text(json.dumps({"text": "edit", "image": str(ref)}) + "\n")
    out = tmp_path / "run"
    assert _profile(image_server, out, "--endpoint-type", "image_edit", "--request-content-type", "application/json",
                    "--input-file", str(data), "--request-count", "1") == 0
    payload = _payloads(out)[0]
    assert payload["image"] == "data:image/png;base64," + base64.b64encode(ref.read_bytes()).decode()
    assert payload["n"] == 1


def test_image_edit_refuses_extra_inputs_that_replace_prompt_or_image(image_server, tmp_path, capsys):
    out = tmp_path / "run"
    assert _profile(image_server, out, "--endpoint-type", "image_edit", "--image-width-mean", "8",
                    "--image-height-mean", "8", "--synthetic-input-tokens-mean", "8", "--request-count", "1",
                    "--extra-inputs", "prompt:hijacked", "--extra-inputs", "mask:x", "--extra-inputs", "seed:3") == 0
    payload = _payloads(out)[0]
    assert payload["prompt"] != "hijacked" and "mask" not in payload and payload["seed"] == "3"
    err = capsys.readouterr().err
    assert "warning" in err and "mask, prompt ignored" in err


# ---------------------------------------------------------------------------------------------- VLM chat

def test_vlm_chat_inlines_local_files_and_passes_urls_untouched(image_server, tmp_path):
    ref = _png(tmp_path / "cat.png", 12, 10)
    url = "https://picsum.photos/512/512?random=1"
    data = tmp_path / "vlm.jsonl"
    data.write_text(json.dumps({"texts": ["Describe this image."], "images": [url, "cat.png"]}) + "\n")
    out = tmp_path / "run"
    assert _profile(image_server, out, "--endpoint-type", "chat", "--streaming", "--input-file", str(data),
                    "--custom-dataset-type", "single_turn", "--request-count", "2") == 0
    content = _payloads(out)[0]["messages"][0]["content"]
    assert content[0] == {"type": "text", "text": "Describe this image."}
    assert content[1] == {"type": "image_url", "image_url": {"url": url}}
    inlined = content[2]["image_url"]["url"]
    assert inlined.startswith("data:image/png;base64,")
    assert base64.b64decode(inlined.split(",", 1)[1]) == ref.read_bytes()


def test_vlm_chat_with_synthetic_images_sends_image_parts_of_the_requested_size(image_server, tmp_path):
    result = aiperf.profile(model="m", tokenizer="gpt2", url=image_server.url, endpoint_type="chat", streaming=True,
                            image_width_mean=32, image_height_mean=24, image_batch_size=2,
                            synthetic_input_tokens_mean=16, num_dataset_entries=4, request_count=4,
                            artifact_dir=tmp_path, print_table=False)
    assert result.summary["request_count"]["avg"] == 4
    assert result.summary["input_sequence_length"]["avg"] == 16  # text only: images do not count as tokens
    for payload in _payloads(tmp_path):
        parts = payload["messages"][0]["content"]
        assert [p["type"] for p in parts] == ["text", "image_url", "image_url"]
        for part in parts[1:]:
            png = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
            assert _engine.png_size(png) == (32, 24)


def test_chat_without_image_options_sends_plain_text(image_server, tmp_path):
    aiperf.profile(model="m", tokenizer="gpt2", url=image_server.url, synthetic_input_tokens_mean=8, request_count=1,
                   artifact_dir=tmp_path, print_table=False)
    assert isinstance(_payloads(tmp_path)[0]["messages"][0]["content"], str)


# ---------------------------------------------------------------------------------------------- bad input

def _bad_lines(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "notes.txt").write_text("not an image at all")
    (tmp_path / "empty.png").write_bytes(b"")
    return {
        "missing": json.dumps({"text": "x", "image": str(tmp_path / "nope.png")}),
        "not_image": json.dumps({"text": "x", "image": str(tmp_path / "notes.txt")}),
        "empty": json.dumps({"text": "x", "image": str(tmp_path / "empty.png")}),
        "folder": json.dumps({"text": "x", "image": str(tmp_path)}),
        "ftp": json.dumps({"text": "x", "image": "ftp://example.com/a.png"}),
        "file_url": json.dumps({"text": "x", "images": ["https://example.com/a.png", "file:///etc/passwd"]}),
        "bad_base64": json.dumps({"text": "x", "image": "data:image/png;base64,@@@"}),
        "data_not_image": json.dumps({"text": "x", "image": "data:image/png;base64,"
                                      + base64.b64encode(b"hello world").decode()}),
    }


@pytest.mark.parametrize(("case", "field", "message"), [
    ("missing", "image", "no such file"),
    ("not_image", "image", "not an image"),
    ("empty", "image", "empty"),
    ("folder", "image", "is a folder"),
    ("ftp", "image", "unsupported URL scheme 'ftp'"),
    ("file_url", "images[1]", "unsupported URL scheme 'file'"),
    ("bad_base64", "image", "invalid base64"),
    ("data_not_image", "image", "not an image"),
])
@pytest.mark.parametrize("endpoint_type", ["chat", "image_edit"])
def test_bad_input_images_stop_the_run_before_the_first_request(image_server, tmp_path, capsys, case, field,
                                                                message, endpoint_type):
    good_line = {"text": "fine"} if endpoint_type == "chat" else {"text": "fine", "image": "https://e.com/a.png"}
    data = tmp_path / "in.jsonl"
    data.write_text(json.dumps(good_line) + "\n" + _bad_lines(tmp_path)[case] + "\n")
    before = image_server.stats()["requests"]
    code = _profile(image_server, tmp_path / "run", "--endpoint-type", endpoint_type, "--input-file", str(data),
                    "--custom-dataset-type", "single_turn", "--request-count", "2")
    err = capsys.readouterr().err
    assert code == 2
    assert f"in.jsonl:2: {field}: " in err and message in err
    assert image_server.stats()["requests"] == before
    assert not (tmp_path / "run" / "profile_export_aiperf.json").exists()


def test_image_edit_line_without_reference_image_names_file_and_line(image_server, tmp_path, capsys):
    data = tmp_path / "edit.jsonl"
    data.write_text(json.dumps({"text": "a", "image": "https://e.com/a.png"}) + "\n\n" + json.dumps({"text": "b"})
                    + "\n")
    code = _profile(image_server, tmp_path / "run", "--endpoint-type", "image_edit", "--input-file", str(data))
    err = capsys.readouterr().err
    assert code == 2 and "edit.jsonl:3: image: image_edit needs a reference image" in err


@pytest.mark.parametrize(("args", "message"), [
    (["--endpoint-type", "image_generation", "--extra-inputs", "size:512"],
     "--extra-inputs: size: 512 is not WIDTHxHEIGHT"),
    (["--endpoint-type", "image_edit", "--extra-inputs", "size:0x512", "--image-width-mean", "8",
      "--image-height-mean", "8"], "--extra-inputs: size: '0x512': width and height must be > 0"),
    (["--endpoint-type", "image_generation", "--extra-inputs", "size:big"], "is not WIDTHxHEIGHT"),
    (["--image-width-mean", "-5", "--image-height-mean", "8"], "--image-width-mean: must be >= 0 (got -5.0)"),
    (["--image-height-stddev", "-1"], "--image-height-stddev: must be >= 0"),
    (["--image-batch-size", "-1"], "--image-batch-size: must be >= 0"),
    (["--image-width-mean", "64"], "--image-width-mean/--image-height-mean: give both"),
    (["--image-width-mean", "64", "--image-height-mean", "20000"], "--image-height-mean: at most 16384 pixels"),
    (["--endpoint-type", "image_edit"], "image_edit needs a reference image per request"),
    (["--endpoint-type", "chat", "--request-content-type", "multipart/form-data"],
     "--request-content-type: multipart/form-data is only supported by image_edit"),
])
def test_bad_image_options_exit_2_naming_the_option(args, message, capsys):
    assert main(["profile", "--model", "m", "--url", "127.0.0.1:9", *args]) == 2
    assert message in capsys.readouterr().err


def test_jpeg_without_a_jpeg_encoder_is_a_clear_error(capsys):
    from aiperf.inputs.input_images import jpeg_available

    code = main(["profile", "--model", "m", "--url", "127.0.0.1:9", "--image-width-mean", "8",
                 "--image-height-mean", "8", "--image-format", "jpeg"])
    if jpeg_available():
        pytest.skip("this engine has a JPEG encoder")
    assert code == 2 and "JPEG is not available" in capsys.readouterr().err


def test_size_auto_is_accepted_for_image_endpoints():
    from aiperf.config import make_config

    assert make_config(model="m", endpoint_type="image_generation", extra_inputs=["size:auto"]).extra_body == {
        "size": "auto"}


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_unreadable_image_file_is_an_input_error(image_server, tmp_path, capsys):
    ref = _png(tmp_path / "ref.png", 4, 4)
    ref.chmod(0)
    data = tmp_path / "in.jsonl"
    data.write_text(json.dumps({"text": "x", "image": str(ref)}) + "\n")
    code = _profile(image_server, tmp_path / "run", "--endpoint-type", "chat", "--input-file", str(data))
    err = capsys.readouterr().err
    assert code == 2 and "in.jsonl:1: image: " in err and "cannot read" in err
