"""Redaction of credentials in everything the tool writes (exports, logs, console, saved config)."""
from __future__ import annotations

SECRET_HEADERS = frozenset({"authorization", "api-key", "x-api-key", "cookie", "set-cookie", "proxy-authorization"})
REDACTED = "<redacted>"


def redact_header_value(name: str, value: str) -> str:
    return REDACTED if name.strip().lower() in SECRET_HEADERS else value


def redact_headers(headers: dict[str, str]) -> dict[str, str]:
    return {name: redact_header_value(name, value) for name, value in headers.items()}


def redact_argv(argv: list[str]) -> list[str]:
    """Command-line arguments with the values of --api-key and of secret headers replaced."""
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
        redact_next = "key" if arg == "--api-key" else "header" if arg in ("--header", "-H") else None
    return out
