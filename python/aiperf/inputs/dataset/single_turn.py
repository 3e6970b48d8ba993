"""`single_turn` input files (also read by `random_pool`): one JSON object a line, each line a one-turn
conversation.

Fields: `text` (str) or `texts` (list of str); `image` (str) or `images` (list of str): a local path, an
http(s) URL or a data URL; optional `model` (str), `extra_body` (object merged into the request body),
`timestamp` (ms, for fixed-schedule replays) or `delay` (ms). AIPerf's `type` ("single_turn") and `role` are
accepted. Blank lines are skipped; any other problem is an InputFileError naming the file, the line and the
field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from aiperf.inputs.dataset.jsonl import json_lines, json_type, milliseconds, no_entries, string_list
from aiperf.inputs.dataset.synthetic import sample_lengths
from aiperf.inputs.dataset.types import Conversation, InputFileError, Turn, new_session_id

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


def parse_single_turn_line(obj: Any, path: Path, line: int) -> Turn:
    """Validate one decoded JSON value of a single_turn file and build its Turn (max_tokens left unset)."""
    if not isinstance(obj, dict):
        raise InputFileError(path, line, None, f"expected a JSON object, got {json_type(obj)}")
    unknown = [key for key in obj if key not in SINGLE_TURN_FIELDS]
    if unknown:
        raise InputFileError(
            path, line, unknown[0], f"unknown field (single_turn fields: {', '.join(SINGLE_TURN_FIELDS)})"
        )
    if "type" in obj and obj["type"] != "single_turn":
        raise InputFileError(path, line, "type", f"expected 'single_turn', got {obj['type']!r}")
    if "role" in obj and not isinstance(obj["role"], str):
        raise InputFileError(path, line, "role", f"expected a string, got {json_type(obj['role'])}")

    if "text" in obj and "texts" in obj:
        raise InputFileError(path, line, "texts", "give either 'text' or 'texts', not both")
    texts: list[str] = []
    if "text" in obj:
        if not isinstance(obj["text"], str):
            raise InputFileError(
                path,
                line,
                "text",
                f"expected a string, got {json_type(obj['text'])}"
                + (" (use 'texts' for a list)" if isinstance(obj["text"], list) else ""),
            )
        texts = [obj["text"]]
    elif "texts" in obj:
        texts = string_list(obj["texts"], path, line, "texts", "text")

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
                f"data URL), got {json_type(obj['image'])}",
            )
        images = [obj["image"]]
    elif "images" in obj:
        images = string_list(obj["images"], path, line, "images", "image")
        for index, image in enumerate(images):
            if not image:
                raise InputFileError(path, line, f"images[{index}]", "empty string")

    if not texts and not images:
        raise InputFileError(path, line, "text", "the line has neither 'text'/'texts' nor 'image'/'images'")

    model = obj.get("model")
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise InputFileError(path, line, "model", f"expected a non-empty string, got {json_type(model)}")
    extra_body = obj.get("extra_body")
    if extra_body is not None and not isinstance(extra_body, dict):
        raise InputFileError(
            path, line, "extra_body", f"expected a JSON object, got {json_type(extra_body)}"
        )
    timestamp_ms = milliseconds(obj.get("timestamp"), path, line, "timestamp")
    delay_ms = milliseconds(obj.get("delay"), path, line, "delay")
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
    turns = [parse_single_turn_line(obj, path, line_number) for line_number, obj in json_lines(path)]
    if not turns:
        raise no_entries(path)

    if osl_mean is not None:
        for turn, length in zip(turns, sample_lengths(rng, osl_mean, osl_stddev, len(turns))):
            turn.max_tokens = int(length)
    return [Conversation(session_id=new_session_id(rng), turns=[turn]) for turn in turns]
