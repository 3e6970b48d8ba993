"""Parsers for option values with a syntax of their own: lists, 'key:value' items, headers, goodput SLOs."""
from __future__ import annotations

import json
from typing import Any

from aiperf.errors import ConfigError

__all__ = ["parse_extra_inputs", "parse_goodput", "parse_headers", "parse_json_scalar", "split_list"]


def split_list(values: list[str] | str | None) -> list[str]:
    """A list option may be repeated or given as a comma-separated value (--model a,b)."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for v in values:
        out.extend(part.strip() for part in str(v).split(",") if part.strip())
    return out


def parse_json_scalar(text: str) -> Any:
    """'4' -> 4, 'true' -> True, '1.5' -> 1.5, '{"a":1}' -> dict, anything else stays a string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _key_value_items(items: list[str], flag: str, *, echo: bool = True) -> list[tuple[str, Any, bool]]:
    """Items given as 'key:value' or as a JSON object, in order: (key, value, value_came_from_json).
    With echo=False an error names the item by position only (a header may hold a credential)."""
    pairs: list[tuple[str, Any, bool]] = []
    for number, item in enumerate(items, 1):
        shown = repr(item) if echo else f"value {number}"
        text = item.strip()
        if text.startswith("{"):
            try:
                obj = json.loads(text)
            except ValueError as e:
                raise ConfigError(f"{flag}: {shown} is not valid JSON ({e})") from None
            if not isinstance(obj, dict):
                raise ConfigError(f"{flag}: {shown} must be a JSON object")
            pairs.extend((str(k), v, True) for k, v in obj.items())
            continue
        key, sep, value = text.partition(":")
        if not sep or not key.strip():
            raise ConfigError(f"{flag}: {shown} is not 'key:value' or a JSON object")
        pairs.append((key.strip(), value.strip(), False))
    return pairs


def parse_extra_inputs(items: list[str]) -> dict[str, Any]:
    return {key: value if from_json else parse_json_scalar(value)
            for key, value, from_json in _key_value_items(items, "--extra-inputs")}


def parse_headers(items: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, value, _ in _key_value_items(items, "--header", echo=False):
        value = str(value)
        if any(c in name for c in " \t\r\n"):
            raise ConfigError(f"--header: {name!r} is not a valid header name")
        if "\r" in value or "\n" in value:
            raise ConfigError(f"--header: {name!r} has a line break in its value")
        headers[name] = value
    return headers


def parse_goodput(text: str | None) -> dict[str, float]:
    if not text:
        return {}
    from aiperf.results.metrics import METRICS

    slos: dict[str, float] = {}
    for item in text.replace(",", " ").split():
        tag, sep, value = item.partition(":")
        if not sep:
            raise ConfigError(f"--goodput: {item!r} is not 'metric:value'")
        if tag not in METRICS:
            raise ConfigError(f"--goodput: unknown metric {tag!r}")
        try:
            slos[tag] = float(value)
        except ValueError:
            raise ConfigError(f"--goodput: {item!r}: value {value!r} is not a number") from None
    return slos
