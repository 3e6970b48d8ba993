"""`--input-file` loaders. `single_turn`: one JSON object a line, each line one single-turn conversation.

Fields: `text` (str) or `texts` (list of str); `image` (str) or `images` (list of str): a local path, an
http(s) URL or a data URL; optional `model` (str), `extra_body` (object merged into the request body),
`timestamp` (ms, for fixed-schedule replays) or `delay` (ms). AIPerf's `type` ("single_turn") and `role` are
accepted. Blank lines are skipped; any other problem is an InputFileError naming the file, the line and the
field.
"""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from . import Conversation, InputFileError, Turn
from .synthetic import sample_lengths

__all__ = ["SINGLE_TURN_FIELDS", "load_single_turn", "parse_single_turn_line"]

SINGLE_TURN_FIELDS = (
    "text",
    "texts",
    "image",
    "images",
    "model",
    "extra_body",
    "timestamp",
    "delay",
    "type",
    "role",
)


def _read_lines(path: Path) -> list[bytes]:
    if not path.exists():
        raise InputFileError(path, None, "--input-file", "no such file")
    if path.is_dir():
        raise InputFileError(path, None, "--input-file", "is a folder; single_turn needs a JSONL file")
    try:
        return path.read_bytes().splitlines()
    except OSError as e:
        raise InputFileError(path, None, "--input-file", f"cannot read: {e.strerror or e}") from None


def _string_list(value: Any, path: Path, line: int, name: str, single: str) -> list[str]:
    if not isinstance(value, list):
        raise InputFileError(
            path,
            line,
            name,
            f"expected a list of strings, got {_json_type(value)} (use {single!r} for a single one)",
        )
    if not value:
        raise InputFileError(path, line, name, "empty list")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise InputFileError(path, line, f"{name}[{index}]", f"expected a string, got {_json_type(item)}")
    return list(value)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _milliseconds(value: Any, path: Path, line: int, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputFileError(path, line, name, f"expected a number of milliseconds, got {_json_type(value)}")
    if not math.isfinite(value) or value < 0:
        raise InputFileError(path, line, name, f"expected a finite number >= 0, got {value}")
    return float(value)


def parse_single_turn_line(obj: Any, path: Path, line: int) -> Turn:
    """Validate one decoded JSON value of a single_turn file and build its Turn (max_tokens left unset)."""
    if not isinstance(obj, dict):
        raise InputFileError(path, line, None, f"expected a JSON object, got {_json_type(obj)}")
    unknown = [key for key in obj if key not in SINGLE_TURN_FIELDS]
    if unknown:
        raise InputFileError(
            path, line, unknown[0], f"unknown field (single_turn fields: {', '.join(SINGLE_TURN_FIELDS)})"
        )
    if "type" in obj and obj["type"] != "single_turn":
        raise InputFileError(path, line, "type", f"expected 'single_turn', got {obj['type']!r}")
    if "role" in obj and not isinstance(obj["role"], str):
        raise InputFileError(path, line, "role", f"expected a string, got {_json_type(obj['role'])}")

    if "text" in obj and "texts" in obj:
        raise InputFileError(path, line, "texts", "give either 'text' or 'texts', not both")
    texts: list[str] = []
    if "text" in obj:
        if not isinstance(obj["text"], str):
            raise InputFileError(
                path,
                line,
                "text",
                f"expected a string, got {_json_type(obj['text'])}"
                + (" (use 'texts' for a list)" if isinstance(obj["text"], list) else ""),
            )
        texts = [obj["text"]]
    elif "texts" in obj:
        texts = _string_list(obj["texts"], path, line, "texts", "text")

    if "image" in obj and "images" in obj:
        raise InputFileError(path, line, "images", "give either 'image' or 'images', not both")
    images: list[str] = []
    if "image" in obj:
        if not isinstance(obj["image"], str) or not obj["image"]:
            raise InputFileError(
                path,
                line,
                "image",
                "expected a non-empty string (a path, an http(s) URL or a "
                f"data URL), got {_json_type(obj['image'])}",
            )
        images = [obj["image"]]
    elif "images" in obj:
        images = _string_list(obj["images"], path, line, "images", "image")
        for index, image in enumerate(images):
            if not image:
                raise InputFileError(path, line, f"images[{index}]", "empty string")

    if not texts and not images:
        raise InputFileError(path, line, "text", "the line has neither 'text'/'texts' nor 'image'/'images'")

    model = obj.get("model")
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise InputFileError(path, line, "model", f"expected a non-empty string, got {_json_type(model)}")
    extra_body = obj.get("extra_body")
    if extra_body is not None and not isinstance(extra_body, dict):
        raise InputFileError(
            path, line, "extra_body", f"expected a JSON object, got {_json_type(extra_body)}"
        )
    timestamp_ms = _milliseconds(obj.get("timestamp"), path, line, "timestamp")
    delay_ms = _milliseconds(obj.get("delay"), path, line, "delay")
    if timestamp_ms is not None and delay_ms is not None:
        raise InputFileError(path, line, "delay", "give either 'timestamp' or 'delay', not both")
    return Turn(
        texts=texts,
        images=images,
        model=model,
        extra_body=dict(extra_body) if extra_body else None,
        timestamp_ms=timestamp_ms,
        delay_ms=delay_ms,
        line=line,
    )


def load_single_turn(
    path: Path, *, osl_mean: int | None, osl_stddev: float, rng: np.random.Generator
) -> list[Conversation]:
    """Every non-blank line of `path` as a one-turn conversation, in file order.

    Each turn's max_tokens ~ normal(osl_mean, osl_stddev) (None when osl_mean is None); session ids come from
    `rng`, so the same seed gives the same dataset.
    """
    path = Path(path)
    turns: list[Turn] = []
    for line_number, raw in enumerate(_read_lines(path), 1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8-sig" if line_number == 1 else "utf-8")
        except UnicodeDecodeError as e:
            raise InputFileError(
                path, line_number, None, f"not UTF-8 text ({e.reason} at byte {e.start})"
            ) from None
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputFileError(
                path, line_number, None, f"not valid JSON: {e.msg} at column {e.colno}"
            ) from None
        turns.append(parse_single_turn_line(obj, path, line_number))
    if not turns:
        raise InputFileError(path, None, "--input-file", "no entries (the file is empty or only blank lines)")

    if osl_mean is not None:
        for turn, length in zip(turns, sample_lengths(rng, osl_mean, osl_stddev, len(turns))):
            turn.max_tokens = int(length)
    return [
        Conversation(session_id=str(uuid.UUID(bytes=rng.bytes(16), version=4)), turns=[turn])
        for turn in turns
    ]
