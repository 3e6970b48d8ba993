"""`--input-file` loaders: `single_turn` (also read by `random_pool`), `multi_turn` and `mooncake_trace`.

`single_turn`: one JSON object a line, each line one single-turn conversation.

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

from aiperf.inputs.dataset import Conversation, InputFileError, Turn
from aiperf.inputs.dataset.synthetic import sample_lengths

__all__ = ["SINGLE_TURN_FIELDS", "load_mooncake_trace", "load_multi_turn", "load_single_turn",
           "parse_single_turn_line"]

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
    turns = [parse_single_turn_line(obj, path, line_number) for line_number, obj in _json_lines(path)]
    if not turns:
        raise InputFileError(path, None, "--input-file", "no entries (the file is empty or only blank lines)")

    if osl_mean is not None:
        for turn, length in zip(turns, sample_lengths(rng, osl_mean, osl_stddev, len(turns))):
            turn.max_tokens = int(length)
    return [
        Conversation(session_id=str(uuid.UUID(bytes=rng.bytes(16), version=4)), turns=[turn])
        for turn in turns
    ]


def _json_lines(path: Path):
    """(line number, decoded JSON value) of every non-blank line of `path`."""
    for line_number, raw in enumerate(_read_lines(path), 1):
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8-sig" if line_number == 1 else "utf-8")
        except UnicodeDecodeError as e:
            raise InputFileError(path, line_number, None, f"not UTF-8 text ({e.reason} at byte {e.start})") from None
        try:
            yield line_number, json.loads(text)
        except json.JSONDecodeError as e:
            raise InputFileError(path, line_number, None, f"not valid JSON: {e.msg} at column {e.colno}") from None


def _json_objects(path: Path, known_fields: tuple[str, ...], dataset_type: str):
    """(line number, object) of every non-blank line, each checked to be an object with only known fields."""
    for line, obj in _json_lines(path):
        if not isinstance(obj, dict):
            raise InputFileError(path, line, None, f"expected a JSON object, got {_json_type(obj)}")
        unknown = [key for key in obj if key not in known_fields]
        if unknown:
            raise InputFileError(path, line, unknown[0],
                                 f"unknown field ({dataset_type} fields: {', '.join(known_fields)})")
        yield line, obj


MULTI_TURN_FIELDS = ("session_id", "turns", "type")


def load_multi_turn(path: Path, *, osl_mean: int | None, osl_stddev: float,
                    rng: np.random.Generator) -> list[Conversation]:
    """`multi_turn`: one conversation a line, `{"session_id": "…", "turns": [{single_turn fields}, …]}`.

    Turns after the first may carry `delay` (ms of think time after the previous turn ended). Session ids must
    be unique; a line without one gets a generated id.
    """
    path = Path(path)
    conversations: list[Conversation] = []
    seen: dict[str, int] = {}
    for line, obj in _json_objects(path, MULTI_TURN_FIELDS, "multi_turn"):
        if "type" in obj and obj["type"] != "multi_turn":
            raise InputFileError(path, line, "type", f"expected 'multi_turn', got {obj['type']!r}")
        turns_value = obj.get("turns")
        if not isinstance(turns_value, list) or not turns_value:
            raise InputFileError(path, line, "turns", "expected a non-empty list of turn objects")
        turns = []
        for index, turn_obj in enumerate(turns_value):
            try:
                turns.append(parse_single_turn_line(turn_obj, path, line))
            except InputFileError as e:
                raise InputFileError(path, line, f"turns[{index}]" + (f".{e.field}" if e.field else ""),
                                     e.problem) from None
        session_id = obj.get("session_id")
        if session_id is None:
            session_id = str(uuid.UUID(bytes=rng.bytes(16), version=4))
        elif not isinstance(session_id, str) or not session_id:
            raise InputFileError(path, line, "session_id", f"expected a non-empty string, got {_json_type(session_id)}")
        if session_id in seen:
            raise InputFileError(path, line, "session_id",
                                 f"{session_id!r} is already the session of line {seen[session_id]}")
        seen[session_id] = line
        conversations.append(Conversation(session_id=session_id, turns=turns))
    if not conversations:
        raise InputFileError(path, None, "--input-file", "no entries (the file is empty or only blank lines)")
    all_turns = [turn for conversation in conversations for turn in conversation.turns]
    if osl_mean is not None:
        for turn, length in zip(all_turns, sample_lengths(rng, osl_mean, osl_stddev, len(all_turns))):
            turn.max_tokens = int(length)
    return conversations


MOONCAKE_FIELDS = ("timestamp", "input_length", "output_length", "hash_ids", "text_input", "session_id", "delay")
MOONCAKE_BLOCK_TOKENS = 512


def _count(value: Any, path: Path, line: int, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputFileError(path, line, name, f"expected an integer >= {minimum}, got {value!r}")
    return value


def load_mooncake_trace(path: Path, *, tokenizer: Any, osl_mean: int | None, osl_stddev: float,
                        rng: np.random.Generator) -> list[Conversation]:
    """`mooncake_trace`: one request a line, `{"timestamp": ms, "input_length": N, "output_length": M,
    "hash_ids": [...]}` (or `text_input` instead of the length). Prompts are synthesized: each hash id stands
    for a block of 512 tokens, the same text wherever the id recurs (so prefix caches see what the trace saw),
    the last block cut to `input_length`. `output_length` is sent as the requested output length."""
    from aiperf.inputs.dataset.synthetic import PromptSource

    path = Path(path)
    entries: list[tuple[int, dict]] = []
    for line, obj in _json_objects(path, MOONCAKE_FIELDS, "mooncake_trace"):
        if "text_input" in obj:
            if not isinstance(obj["text_input"], str) or not obj["text_input"]:
                raise InputFileError(path, line, "text_input", "expected a non-empty string")
        else:
            _count(obj.get("input_length"), path, line, "input_length", minimum=1)
        if "output_length" in obj:
            _count(obj["output_length"], path, line, "output_length", minimum=1)
        hash_ids = obj.get("hash_ids", [])
        if not isinstance(hash_ids, list) or any(isinstance(h, bool) or not isinstance(h, int) for h in hash_ids):
            raise InputFileError(path, line, "hash_ids", "expected a list of integers")
        _milliseconds(obj.get("timestamp"), path, line, "timestamp")
        _milliseconds(obj.get("delay"), path, line, "delay")
        entries.append((line, obj))
    if not entries:
        raise InputFileError(path, None, "--input-file", "no entries (the file is empty or only blank lines)")

    # Every distinct (block id, length) once, in one batch: the same seed gives the same texts.
    blocks: dict[tuple[int, int], str] = {}
    wanted: list[tuple[int, int]] = []
    plans: list[list[tuple[int, int]]] = []
    for _line, obj in entries:
        plan: list[tuple[int, int]] = []
        if "text_input" not in obj:
            remaining = obj["input_length"]
            for hash_id in obj.get("hash_ids", []):
                if remaining <= 0:
                    break
                size = min(MOONCAKE_BLOCK_TOKENS, remaining)
                plan.append((hash_id, size))
                remaining -= size
            if remaining > 0:  # longer than its blocks: a unique tail
                plan.append((-1 - len(wanted), remaining))
        for key in plan:
            if key not in blocks:
                blocks[key] = ""
                wanted.append(key)
        plans.append(plan)
    if wanted:
        source = PromptSource(tokenizer)
        sizes = np.array([size for _, size in wanted])
        texts = source.fast_prompts(sizes, rng) if source.has_fast_path else source.prompts(sizes, rng)
        blocks.update(zip(wanted, texts))

    conversations = []
    for (line, obj), plan in zip(entries, plans):
        text = obj["text_input"] if "text_input" in obj else " ".join(blocks[key] for key in plan)
        turn = Turn(texts=[text], timestamp_ms=_milliseconds(obj.get("timestamp"), path, line, "timestamp"),
                    delay_ms=_milliseconds(obj.get("delay"), path, line, "delay"),
                    max_tokens=obj.get("output_length"), line=line)
        session_id = obj.get("session_id") if isinstance(obj.get("session_id"), str) else None
        conversations.append(Conversation(session_id=session_id or str(uuid.UUID(bytes=rng.bytes(16), version=4)),
                                          turns=[turn]))
    if osl_mean is not None:
        for conversation, length in zip(conversations, sample_lengths(rng, osl_mean, osl_stddev, len(conversations))):
            if conversation.turns[0].max_tokens is None:
                conversation.turns[0].max_tokens = int(length)
    return conversations
