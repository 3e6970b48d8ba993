"""Request payload descriptions per endpoint, built from dataset turns.

A payload is a plain dict (the JSON body); the engine's JSON writer serialises it once per distinct body.
"""
from __future__ import annotations

from typing import Any

from .config import ProfileConfig
from .dataset import Turn
from .endpoints import Endpoint


def build_payload(endpoint: Endpoint, turn: Turn, config: ProfileConfig) -> dict[str, Any]:
    model = turn.model or config.model[0]
    payload: dict[str, Any]
    if endpoint.type == "chat":
        content: Any = turn.texts[0] if len(turn.texts) == 1 else [{"type": "text", "text": t} for t in turn.texts]
        payload = {"model": model, "messages": [{"role": "user", "content": content}]}
    elif endpoint.type == "completions":
        payload = {"model": model, "prompt": turn.texts[0] if len(turn.texts) == 1 else turn.texts}
    elif endpoint.type == "embeddings":
        payload = {"model": model, "input": list(turn.texts)}
    else:  # pragma: no cover - endpoints are validated before
        raise ValueError(f"no payload builder for endpoint type {endpoint.type!r}")
    if config.streaming and endpoint.supports_streaming:
        payload["stream"] = True
        if endpoint.produces_tokens:
            payload["stream_options"] = {"include_usage": True}
    if turn.max_tokens is not None and endpoint.max_tokens_field:
        field = "max_tokens" if config.use_legacy_max_tokens else endpoint.max_tokens_field
        payload[field] = turn.max_tokens
    if turn.extra_body:
        payload.update(turn.extra_body)
    payload.update(config.extra_body)
    return payload

