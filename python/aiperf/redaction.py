"""Redaction of credentials in everything the tool writes (exports, logs, console, saved config).

Two layers: by name (the values of --api-key and of Authorization, api-key, x-api-key, cookie … headers are
replaced wherever they are written as such) and by value (every other text the run writes — the command line,
error messages and responses that echo the key — has each secret value replaced).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

SECRET_HEADERS = frozenset({"authorization", "api-key", "x-api-key", "cookie", "set-cookie", "proxy-authorization"})
REDACTED = "<redacted>"
# Shorter values are not replaced in free text (they would mangle unrelated words); by name they still are.
MIN_SECRET_LENGTH = 4


def is_secret_header(name: str) -> bool:
    return name.strip().lower() in SECRET_HEADERS


def redact_header_value(name: str, value: str) -> str:
    return REDACTED if is_secret_header(name) else value


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    return {name: redact_header_value(name, value) for name, value in headers.items()}


def secret_values(api_key: str | None, headers: dict[str, str], url: str | None = None) -> tuple[str, ...]:
    """The secret strings of a run, longest first: the API key, each secret header's value and its credential
    without the scheme word ('Bearer sk-…' -> 'sk-…'), and the password of a user:password@ URL."""
    values: set[str] = set()
    if api_key:
        values.add(api_key)
    for name, value in headers.items():
        if is_secret_header(name) and value.strip():
            values.add(value.strip())
            _, _, credential = value.strip().partition(" ")
            if credential.strip():
                values.add(credential.strip())
    if url:
        password = _url_password(url)
        if password:
            values.add(password)
    return tuple(sorted((v for v in values if len(v) >= MIN_SECRET_LENGTH), key=len, reverse=True))


def redact_text(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _url_password(url: str) -> str | None:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url if "://" in url else f"http://{url}").password
    except ValueError:
        return None


def redact_url(url: str) -> str:
    """http://user:password@host/… -> http://user:<redacted>@host/…"""
    password = _url_password(url)
    if not password:
        return url
    head, sep, tail = url.rpartition("@")
    return head.replace(":" + password, ":" + REDACTED) + sep + tail


def redact_argv(argv: list[str], secrets: Iterable[str] = ()) -> list[str]:
    """Command-line arguments with the values of --api-key and of secret headers replaced, by position
    (--api-key K, --api-key=K, -H 'Authorization: K') and by value (any spelling argparse accepts)."""
    secrets = tuple(secrets)
    out: list[str] = []
    redact_next = None
    for arg in argv:
        if redact_next == "key":
            out.append(REDACTED)
        elif redact_next == "header":
            name, sep, value = arg.partition(":")
            out.append(f"{name}{sep}{redact_header_value(name, value)}" if sep else arg)
        elif arg.startswith("--api-key="):
            out.append("--api-key=" + REDACTED)
        else:
            out.append(arg)
        out[-1] = redact_text(out[-1], secrets)
        redact_next = "key" if arg == "--api-key" else "header" if arg in ("--header", "-H") else None
    return out


# Text columns of the engine's records (bytes, offsets) that may hold what a server sent back.
# (Generated content is left alone: its per-chunk byte counts must keep matching it.)
_TEXT_COLUMNS = (("error_message", "error_message_offsets"), ("raw", "raw_offsets"),
                 ("response_headers", "response_header_offsets"), ("request_headers", "request_header_offsets"))


def redact_records(records: dict[str, Any], secrets: Iterable[str]) -> dict[str, Any]:
    """The engine's records with every secret value replaced in the texts a server sent back (an error message
    that echoes the key, …). Columns without a secret are returned as they are (no copy)."""
    import numpy as np

    needles = [s.encode() for s in secrets]
    if not needles:
        return records
    out = dict(records)
    for text_name, offsets_name in _TEXT_COLUMNS:
        if text_name not in records:
            continue
        buffer = np.asarray(records[text_name]).tobytes()
        if not any(needle in buffer for needle in needles):
            continue
        offsets = np.asarray(records[offsets_name])
        pieces = [buffer[offsets[i]:offsets[i + 1]] for i in range(len(offsets) - 1)]
        for needle in needles:
            pieces = [p.replace(needle, REDACTED.encode()) for p in pieces]
        new_offsets = np.zeros(len(offsets), dtype=offsets.dtype)
        np.cumsum([len(p) for p in pieces], out=new_offsets[1:])
        out[text_name] = np.frombuffer(b"".join(pieces), dtype=np.uint8)
        out[offsets_name] = new_offsets
    return out
