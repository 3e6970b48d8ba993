"""Start-up benchmark: wall time from process start to `aiperf --help` done, and to the first request sent.

Runs against the built-in mock server on 127.0.0.1 (started here), with the GPT-2 tokenizer already cached.
One unmeasured run first warms aiperf's per-tokenizer caches (corpus pieces, "loaded before" marker), as any
earlier run with the same tokenizer file does. Target (design §4): both within 0.5 s. Prints the median of
several runs.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def first_request_delay_s(url: str, extra: list[str]) -> float:
    with tempfile.TemporaryDirectory() as out:
        started_ns = time.time_ns()
        subprocess.run([sys.executable, "-m", "aiperf", "profile", "--model", "m", "--tokenizer", "gpt2", "--url", url,
                        "--request-count", "1", "--artifact-dir", out, "--ui-type", "none", *extra],
                       check=True, stdout=subprocess.DEVNULL)
        line = json.loads((Path(out) / "profile_export.jsonl").read_text().splitlines()[0])
        return (line["metadata"]["request_start_ns"] - started_ns) / 1e9


def help_time_s() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "aiperf", "--help"], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    from aiperf.mock import MockServer

    runs = 5
    with MockServer(port=0, ttft_ms=0, itl_ms=0, output_tokens=4) as server:
        url = server.url
        first_request_delay_s(url, [])  # warm-up: builds the corpus cache when the tokenizer file is new
        rows = [
            ("aiperf --help", statistics.median(help_time_s() for _ in range(runs))),
            ("first request, defaults (100 prompts x 550 tokens)",
             statistics.median(first_request_delay_s(url, []) for _ in range(runs))),
            ("first request, --num-dataset-entries 10 --isl 100",
             statistics.median(first_request_delay_s(url, ["--num-dataset-entries", "10", "--isl", "100"])
                               for _ in range(runs))),
        ]
    print(f"{'what':55} {'median s':>9} {'target':>7}")
    for name, seconds in rows:
        print(f"{name:55} {seconds:9.3f} {'0.5':>7} {'ok' if seconds <= 0.5 else 'MISS'}")


if __name__ == "__main__":
    main()
