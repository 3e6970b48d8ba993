"""Reading `--input-file` JSONL files: lines decoded one by one, and the field checks the formats share. Every
problem is an InputFileError naming the file, the line and the field."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiperf.inputs.dataset.types import InputFileError

__all__ = ["json_lines", "json_objects", "json_type", "milliseconds", "no_entries", "string_list"]


def _read_lines(path: Path) -> list[bytes]:
    if not path.exists():
        raise InputFileError(path, None, "--input-file", "no such file")
    if path.is_dir():
        raise InputFileError(path, None, "--input-file", "is a folder; single_turn needs a JSONL file")
    try:
        return path.read_bytes().splitlines()
    except OSError as e:
        raise InputFileError(path, None, "--input-file", f"cannot read: {e.strerror or e}") from None


def json_lines(path: Path) -> Iterator[tuple[int, Any]]:
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


def json_objects(path: Path, known_fields: tuple[str, ...], dataset_type: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) of every non-blank line, each checked to be an object with only known fields."""
    for line, obj in json_lines(path):
        if not isinstance(obj, dict):
            raise InputFileError(path, line, None, f"expected a JSON object, got {json_type(obj)}")
        unknown = [key for key in obj if key not in known_fields]
        if unknown:
            raise InputFileError(path, line, unknown[0],
                                 f"unknown field ({dataset_type} fields: {', '.join(known_fields)})")
        yield line, obj


def no_entries(path: Path) -> InputFileError:
    return InputFileError(path, None, "--input-file", "no entries (the file is empty or only blank lines)")


def json_type(value: Any) -> str:
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


def string_list(value: Any, path: Path, line: int, name: str, single: str) -> list[str]:
    if not isinstance(value, list):
        raise InputFileError(
            path,
            line,
            name,
            f"expected a list of strings, got {json_type(value)} (use {single!r} for a single one)",
        )
    if not value:
        raise InputFileError(path, line, name, "empty list")
    for index, item in enumerate(value):
        if not isinstance(item, str):
            raise InputFileError(path, line, f"{name}[{index}]", f"expected a string, got {json_type(item)}")
    return list(value)


def milliseconds(value: Any, path: Path, line: int, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InputFileError(path, line, name, f"expected a number of milliseconds, got {json_type(value)}")
    if not math.isfinite(value) or value < 0:
        raise InputFileError(path, line, name, f"expected a finite number >= 0, got {value}")
    return float(value)
