#!/usr/bin/env python3
"""Make `--tokenizer gpt2` work offline: fetch GPT-2's BPE ranks from a PyPI package and convert them.

`pip download --no-deps openai-whisper` (a source tarball, never its dependencies) into a temporary folder,
extract `whisper/assets/gpt2.tiktoken`, check its SHA-256, and store it with a HF `tokenizer.json` converted
from it under `<aiperf cache>/tokenizers/gpt2/` (`$AIPERF_CACHE_DIR`, else `$XDG_CACHE_HOME/aiperf`, else
`~/.cache/aiperf`). Idempotent: does nothing when both files are already there. Called by `make
tokenizer-assets`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

# Run from a source checkout before the package is installed: use the in-tree aiperf.inputs.tokenizer.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))

from aiperf.inputs.tokenizer import TOKENIZER_JSON, gpt2_asset_dir
from aiperf.inputs.tokenizer.gpt2_asset import (
    GPT2_TIKTOKEN_FILE,
    load_tiktoken_ranks,
    write_gpt2_tokenizer_json,
)

WHISPER_REQUIREMENT = "openai-whisper==20250625"  # pinned so the download is reproducible
ASSET_MEMBER_SUFFIX = "whisper/assets/gpt2.tiktoken"
GPT2_TIKTOKEN_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"
GPT2_RANK_COUNT = 50256


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download_gpt2_tiktoken(requirement: str) -> bytes:
    """Download the sdist of `requirement` with pip (no dependencies) and return gpt2.tiktoken's bytes."""
    with tempfile.TemporaryDirectory(prefix="aiperf-whisper-") as tmp:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--disable-pip-version-check",
            "-q",
            "-d",
            tmp,
            requirement,
        ]
        print(f"fetch_gpt2_tokenizer: running {' '.join(command[1:])}", flush=True)
        subprocess.run(command, check=True)
        archives = sorted(Path(tmp).glob("*.tar.gz"))
        if not archives:
            raise SystemExit(f"fetch_gpt2_tokenizer: pip downloaded no source tarball for {requirement}")
        with tarfile.open(archives[0], "r:gz") as tar:
            for member in tar.getmembers():
                if member.isfile() and member.name.endswith(ASSET_MEMBER_SUFFIX):
                    extracted = tar.extractfile(member)
                    assert extracted is not None
                    print(f"fetch_gpt2_tokenizer: extracted {member.name} from {archives[0].name}")
                    return extracted.read()
        raise SystemExit(f"fetch_gpt2_tokenizer: {archives[0].name} has no {ASSET_MEMBER_SUFFIX}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="download and convert again even if present")
    parser.add_argument(
        "--requirement",
        default=WHISPER_REQUIREMENT,
        help=f"pip requirement to take gpt2.tiktoken from (default: {WHISPER_REQUIREMENT})",
    )
    args = parser.parse_args(argv)

    asset_dir = gpt2_asset_dir()
    tiktoken_file = asset_dir / GPT2_TIKTOKEN_FILE
    json_file = asset_dir / TOKENIZER_JSON
    if not args.force and tiktoken_file.is_file() and json_file.is_file():
        print(f"fetch_gpt2_tokenizer: already present in {asset_dir}, nothing to do")
        return 0

    asset_dir.mkdir(parents=True, exist_ok=True)
    if args.force or not tiktoken_file.is_file():
        data = download_gpt2_tiktoken(args.requirement)
        digest = sha256_of(data)
        if args.requirement == WHISPER_REQUIREMENT and digest != GPT2_TIKTOKEN_SHA256:
            raise SystemExit(
                f"fetch_gpt2_tokenizer: gpt2.tiktoken has SHA-256 {digest}, "
                f"expected {GPT2_TIKTOKEN_SHA256}; not stored"
            )
        tmp = tiktoken_file.with_name(tiktoken_file.name + f".tmp{os.getpid()}")
        tmp.write_bytes(data)
        os.replace(tmp, tiktoken_file)
        print(f"fetch_gpt2_tokenizer: stored {tiktoken_file} (sha256 {digest[:12]}…)")
    else:
        print(f"fetch_gpt2_tokenizer: using the cached {tiktoken_file}")

    ranks = load_tiktoken_ranks(tiktoken_file)
    if len(ranks) != GPT2_RANK_COUNT:
        raise SystemExit(
            f"fetch_gpt2_tokenizer: {tiktoken_file} has {len(ranks)} ranks, expected {GPT2_RANK_COUNT}"
        )
    write_gpt2_tokenizer_json(tiktoken_file, json_file)
    print(
        f"fetch_gpt2_tokenizer: converted to {json_file} (byte-level BPE, {len(ranks)} ranks + <|endoftext|>)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
