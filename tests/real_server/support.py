"""Helpers of the real-server checks: a profile run's outputs, and what the server sent (from the raw export)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ProfileRun:
    args: list[str]
    returncode: int
    output: str  # stdout and stderr together, as a user sees them
    artifact_dir: Path
    records: list[dict] = field(default_factory=list)  # profile_export.jsonl
    raw: list[dict] = field(default_factory=list)  # profile_export_raw.jsonl
    summary: dict = field(default_factory=dict)  # profile_export_aiperf.json

    def record_by_id(self) -> dict[str, dict]:
        return {r["metadata"]["x_request_id"]: r for r in self.records}

    def metric(self, record: dict, tag: str):
        m = record.get("metrics", {}).get(tag)
        return None if m is None else m.get("value")

    def table_rows(self) -> dict[str, list[str]]:
        """The console table's rows: metric label -> its cells (label continuation lines are skipped)."""
        rows = {}
        for line in self.output.splitlines():
            if "│" not in line:
                continue
            cells = [c.strip() for c in line.strip().strip("│").split("│")]
            if len(cells) >= 2 and cells[0] and any(cells[1:]):
                rows[cells[0]] = cells[1:]
        return rows

    def explain(self) -> str:
        return f"aiperf profile {' '.join(self.args)}\nexit code {self.returncode}\n--- output (tail) ---\n" + \
            "\n".join(self.output.splitlines()[-60:])


def read_jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# ---- reading what the server sent, from the raw export ----

def sse_chunks(raw_record: dict) -> list[dict]:
    """The JSON events of a streamed raw record (the `[DONE]` marker and non-JSON events left out)."""
    out = []
    for r in raw_record.get("responses") or []:
        text = (r.get("text") or "").strip()
        if not text or text == "[DONE]":
            continue
        try:
            out.append(json.loads(text))
        except json.JSONDecodeError:
            continue
    return out


def content_of_chunk(chunk: dict) -> str:
    text = ""
    for c in chunk.get("choices") or []:
        delta = c.get("delta")
        if isinstance(delta, dict):
            text += (delta.get("content") or "") + (delta.get("reasoning_content") or "")
        elif c.get("text"):
            text += c["text"]
        elif isinstance(c.get("message"), dict):
            text += c["message"].get("content") or ""
    return text


def content_of_chunk_text(text: str) -> str:
    """The content of one raw response event's text ('' for [DONE], role-only deltas, usage, non-JSON)."""
    try:
        return content_of_chunk(json.loads(text))
    except (json.JSONDecodeError, TypeError, AttributeError):
        return ""


def content_chunks(raw_record: dict) -> list[str]:
    return [t for t in (content_of_chunk(c) for c in sse_chunks(raw_record)) if t]


def response_body(raw_record: dict) -> dict:
    """The JSON body of a non-streamed raw record."""
    text = "".join(r.get("text") or "" for r in raw_record.get("responses") or [])
    return json.loads(text)


def lower_keys(d: dict | None) -> dict[str, str]:
    return {k.lower(): v for k, v in (d or {}).items()}


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def plain(text: str) -> str:
    return ANSI.sub("", text)
