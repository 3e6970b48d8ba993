"""Every `aiperf profile` command of the four seed guides runs as written against the mock server (only the URL is
changed) and prints its guide's table into the artifact folder its guide names."""
from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from aiperf import _engine
from aiperf.cli import main

ROOT = Path(__file__).resolve().parents[3]
SEEDS = ROOT.parent / "shared" / "seeds"

IMAGE_ROWS = ("Request Latency (ms)", "Input Sequence Length (tokens)", "Image Throughput (images/sec)",
              "Image Latency (ms/image)", "Request Throughput (requests/sec)", "Request Count (requests)")
STREAMING_ROWS = ("Time to First Token (ms)", "Time to Second Token (ms)", "Inter Token Latency (ms)",
                  "Output Sequence Length (tokens)", "Output Token Throughput (tokens/sec)",
                  "Request Throughput (requests/sec)", "Request Count (requests)")

IMAGE_PROMPTS = """\
{"text": "A serene mountain landscape at sunset"}
{"text": "A futuristic city with flying cars"}
{"text": "A cute robot playing with a kitten"}
"""
VLM_INPUTS = "".join(
    json.dumps({"texts": [text], "images": [f"https://picsum.photos/512/512?random={i}"]}) + "\n"
    for i, text in enumerate(["Describe this image in detail.", "What objects are visible in this image?",
                              "Analyze the composition of this photo.", "What is the main subject of this image?",
                              "Provide a caption for this image."], 1))

GEN_FILE = """aiperf profile --model black-forest-labs/FLUX.1-dev --tokenizer gpt2 --url http://localhost:30000
  --endpoint-type image_generation --input-file image_prompts.jsonl --custom-dataset-type single_turn
  --extra-inputs size:512x512 --extra-inputs quality:standard --concurrency 1 --request-count 3"""
GEN_SYNTHETIC = """aiperf profile --model black-forest-labs/FLUX.1-dev --tokenizer gpt2 --url http://localhost:30000
  --endpoint-type image_generation --extra-inputs size:512x512 --extra-inputs quality:standard
  --synthetic-input-tokens-mean 150 --synthetic-input-tokens-stddev 30 --concurrency 1 --request-count 3"""
GEN_RAW = GEN_FILE + " --export-level raw"
EDIT_SYNTHETIC = """aiperf profile --model black-forest-labs/FLUX.2-klein-4B --tokenizer gpt2
  --url http://localhost:30000 --endpoint-type image_edit --image-batch-size 1 --image-width-mean 512
  --image-height-mean 512 --extra-inputs size:512x512 --extra-inputs num_inference_steps:4
  --extra-inputs guidance_scale:1.0 --warmup-request-count 5 --request-count 50 --concurrency 2"""
EDIT_FILE = """aiperf profile --model black-forest-labs/FLUX.2-klein-4B --tokenizer gpt2 --url http://localhost:30000
  --endpoint-type image_edit --input-file edit_prompts.jsonl --custom-dataset-type single_turn
  --extra-inputs size:512x512 --extra-inputs num_inference_steps:4 --concurrency 1 --request-count 3"""
EDIT_RAW = EDIT_FILE + " --export-level raw"
# The VLM guide gives no --tokenizer (its model's tokenizer would come from the hub, which tests never reach):
# `--tokenizer gpt2` is added to both of its commands.
VLM_SYNTHETIC = """aiperf profile --model Qwen/Qwen2-VL-2B-Instruct --endpoint-type chat --image-width-mean 512
  --image-height-mean 512 --synthetic-input-tokens-mean 100 --streaming --url localhost:8000 --request-count 20
  --concurrency 4"""
VLM_FILE = """aiperf profile --model Qwen/Qwen2-VL-2B-Instruct --endpoint-type chat --input-file inputs.jsonl
  --custom-dataset-type single_turn --streaming --url localhost:8000 --request-count 5"""

# (command, guides it appears in, table title, rows, artifact folder, successful requests)
SEED_COMMANDS = [
    pytest.param(GEN_FILE, "Image Generation Metrics", IMAGE_ROWS,
                 "black-forest-labs_FLUX.1-dev-openai-image_generation-concurrency1", 3, id="generation-input-file"),
    pytest.param(GEN_SYNTHETIC, "Image Generation Metrics", IMAGE_ROWS,
                 "black-forest-labs_FLUX.1-dev-openai-image_generation-concurrency1", 3, id="generation-synthetic"),
    pytest.param(GEN_RAW, "Image Generation Metrics", IMAGE_ROWS,
                 "black-forest-labs_FLUX.1-dev-openai-image_generation-concurrency1", 3, id="generation-raw"),
    pytest.param(EDIT_SYNTHETIC, "Image Edit Metrics", IMAGE_ROWS,
                 "black-forest-labs_FLUX.2-klein-4B-openai-image_edit-concurrency2", 50, id="edit-synthetic"),
    pytest.param(EDIT_FILE, "Image Edit Metrics", IMAGE_ROWS,
                 "black-forest-labs_FLUX.2-klein-4B-openai-image_edit-concurrency1", None, id="edit-input-file"),
    pytest.param(EDIT_RAW, "Image Edit Metrics", IMAGE_ROWS,
                 "black-forest-labs_FLUX.2-klein-4B-openai-image_edit-concurrency1", None, id="edit-raw"),
    pytest.param(VLM_SYNTHETIC, "LLM Metrics", STREAMING_ROWS,
                 "Qwen_Qwen2-VL-2B-Instruct-openai-chat-concurrency4", 20, id="vlm-synthetic"),
    pytest.param(VLM_FILE, "LLM Metrics", STREAMING_ROWS,
                 "Qwen_Qwen2-VL-2B-Instruct-openai-chat-concurrency1", 5, id="vlm-input-file"),
]


@pytest.fixture(scope="module")
def seed_server():
    from aiperf.mock import MockServer

    with MockServer(host="127.0.0.1", port=0, ttft_ms=1, itl_ms=1, output_tokens=16, image_latency_ms=1) as server:
        yield server


def _args(command: str, server) -> list[str]:
    """The guide's command with only the URL changed (and the VLM guide's missing tokenizer given)."""
    args = shlex.split(command)[2:]
    position = args.index("--url") + 1
    args[position] = server.url if args[position].startswith("http") else server.url.replace("http://", "")
    if "--tokenizer" not in args:
        args += ["--tokenizer", "gpt2"]
    return args + ["--ui-type", "none"]


def _guide_inputs(folder: Path) -> None:
    """The input files the guides create, with the edit guide's placeholder paths replaced by real images."""
    (folder / "image_prompts.jsonl").write_text(IMAGE_PROMPTS)
    (folder / "inputs.jsonl").write_text(VLM_INPUTS)
    for name, seed in (("ref1.png", 1), ("ref2.png", 2)):
        (folder / name).write_bytes(_engine.encode_png(512, 512, seed))
    (folder / "edit_prompts.jsonl").write_text(
        json.dumps({"text": "Convert this scene to a watercolor painting", "image": str(folder / "ref1.png")}) + "\n"
        + json.dumps({"text": "Make the background a sunset", "image": str(folder / "ref2.png")}) + "\n"
        + json.dumps({"text": "Add snow to the trees", "image": "https://example.com/ref3.png"}) + "\n")


@pytest.mark.parametrize(("command", "title", "rows", "folder", "successes"), SEED_COMMANDS)
def test_seed_command_prints_its_guide_table(seed_server, tmp_path, monkeypatch, capsys, command, title, rows,
                                             folder, successes):
    monkeypatch.chdir(tmp_path)
    _guide_inputs(tmp_path)
    assert main(["profile", *_args(command, seed_server)]) == 0
    console = capsys.readouterr().out
    assert f"aiperf | {title}" in console
    for row in rows:
        assert row in console, row
    artifacts = tmp_path / "artifacts" / folder
    summary = json.loads((artifacts / "profile_export_aiperf.json").read_text())
    requests = int(command.split("--request-count ")[1].split()[0])
    if successes is not None:
        assert summary["request_count"]["avg"] == successes
    else:
        errors = sum(e["count"] for e in summary["error_summary"])
        assert summary.get("request_count", {}).get("avg", 0) + errors == requests
    payloads = [p for d in json.loads((artifacts / "inputs.json").read_text())["data"] for p in d["payloads"]]
    if "--input-file inputs.jsonl" in command:  # the picsum URLs are sent as URLs, never fetched by the client
        urls = [p["messages"][0]["content"][1]["image_url"]["url"] for p in payloads]
        assert urls == [f"https://picsum.photos/512/512?random={i}" for i in range(1, 6)]
    if "--export-level raw" in command:
        out = tmp_path / "extracted"
        script = ROOT.parent / "shared" / "compat" / "extract_images.py"
        if script.is_file():
            subprocess.run([sys.executable, str(script), str(artifacts / "profile_export_raw.jsonl"), str(out)],
                           check=True, capture_output=True)
        else:
            from aiperf.analysis.extract_images import extract_images

            extract_images(artifacts, out)
        images = sorted(out.iterdir())
        assert images and all(_engine.png_size(p.read_bytes()) == (512, 512) for p in images)


def _guide_commands(text: str) -> list[str]:
    """The `aiperf profile` commands of a guide, one string each (line continuations joined)."""
    commands = []
    for match in re.finditer(r"^aiperf profile.*?(?=\n[^\s-]|\n\s*\n|\Z)", text, re.DOTALL | re.MULTILINE):
        commands.append(" ".join(match.group(0).replace("\\\n", " ").split()))
    return commands


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the seed guides are not next to this checkout")
def test_every_seed_guide_command_is_covered():
    ours = {" ".join(shlex.split(param.values[0])) for param in SEED_COMMANDS}
    for guide in sorted(SEEDS.iterdir()):
        for command in _guide_commands(guide.read_text(encoding="utf-8")):
            assert " ".join(shlex.split(command)) in ours, f"{guide.name}: {command}"
