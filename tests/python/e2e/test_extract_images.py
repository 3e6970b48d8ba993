"""`aiperf extract-images` and the guides' extract_images.py give the same files from a raw export."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import aiperf
from aiperf import _engine
from aiperf.analysis.extract_images import extract_images

ROOT = Path(__file__).resolve().parents[3]
# The script of the image generation guides, kept verbatim (also in ../shared/compat/ when present).
GUIDE_SCRIPT = '''\
import base64
import json
import os
from pathlib import Path
import sys

input_file = Path(sys.argv[1]) if len(sys.argv) > 1 else Path('artifacts/black-forest-labs_FLUX.1-dev-openai-image_generation-concurrency1/profile_export_raw.jsonl')
output_dir = Path(sys.argv[2]) if len(sys.argv) > 2 else Path('extracted_images')
os.makedirs(output_dir, exist_ok=True)
with open(input_file, 'r') as f:
    for line_num, line in enumerate(f, 1):
        record = json.loads(line)
        for response in record.get('responses', []):
            response_data = json.loads(response.get('text', '{}'))
            for data_idx, item in enumerate(response_data.get('data', [])):
                if b64_image := item.get('b64_json'):
                    image_data = base64.b64decode(b64_image)
                    filename = output_dir / f"image_{line_num:04d}_{data_idx:02d}.jpg"
                    with open(filename, 'wb') as img_file:
                        img_file.write(image_data)
                    print(f"Extracted: {filename.resolve()}")
'''
SHARED_SCRIPT = ROOT.parent / "shared" / "compat" / "extract_images.py"


@pytest.fixture(scope="module")
def raw_run(tmp_path_factory):
    from aiperf.mock import MockServer

    out = tmp_path_factory.mktemp("run")
    with MockServer(host="127.0.0.1", port=0, image_latency_ms=0) as server:
        result = aiperf.profile(model="m", tokenizer="gpt2", url=server.url, endpoint_type="image_generation",
                                synthetic_input_tokens_mean=8, extra_inputs=["size:48x32", "n:2"], request_count=3,
                                export_level="raw", artifact_dir=out, print_table=False)
    assert result.summary["request_count"]["avg"] == 3
    return out


def _script(tmp_path: Path) -> Path:
    if SHARED_SCRIPT.is_file():
        return SHARED_SCRIPT
    path = tmp_path / "extract_images.py"
    path.write_text(GUIDE_SCRIPT)
    return path


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_guide_script_and_extract_images_command_write_identical_files(raw_run, tmp_path):
    script_out, native_out = tmp_path / "script", tmp_path / "native"
    subprocess.run([sys.executable, str(_script(tmp_path)), str(raw_run / "profile_export_raw.jsonl"),
                    str(script_out)], check=True, capture_output=True)
    done = subprocess.run([sys.executable, "-m", "aiperf", "extract-images", str(raw_run), "--out", str(native_out)],
                          check=True, capture_output=True, text=True)
    script_files, native_files = _files(script_out), _files(native_out)
    assert list(script_files) == [f"image_{line:04d}_{index:02d}.jpg" for line in (1, 2, 3) for index in (0, 1)]
    assert native_files == script_files
    assert done.stdout.count("Extracted: ") == 6
    for data in native_files.values():
        assert _engine.png_size(data) == (48, 32)


def test_real_extension_names_files_by_their_type(raw_run, tmp_path):
    written = extract_images(raw_run / "profile_export_raw.jsonl", tmp_path, real_extension=True)
    assert [p.name for p in written][:2] == ["image_0001_00.png", "image_0001_01.png"]


def test_extract_images_without_a_raw_export_is_an_error(tmp_path):
    done = subprocess.run([sys.executable, "-m", "aiperf", "extract-images", str(tmp_path)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 2
    assert "profile_export_raw.jsonl: no such file" in done.stderr and "--export-level raw" in done.stderr


def test_streamed_image_events_are_extracted(tmp_path):
    import base64
    import json

    png = _engine.encode_png(5, 4, 1)
    event = {"type": "image_generation.completed", "b64_json": base64.b64encode(png).decode()}
    raw = tmp_path / "profile_export_raw.jsonl"
    raw.write_text(json.dumps({"responses": [{"perf_ns": 1, "text": json.dumps(event)}]}) + "\n")
    written = extract_images(tmp_path, tmp_path / "out")
    assert [p.name for p in written] == ["image_0001_00.jpg"] and written[0].read_bytes() == png
