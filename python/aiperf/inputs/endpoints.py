"""Declarative descriptions of the endpoints: path, payload kind, response shape and which metrics apply.

Endpoints differ only by these descriptions; request building, parsing and metrics are shared code.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    type: str  # --endpoint-type value
    path: str  # default path, overridden by --endpoint
    metrics_title: str  # console title is "aiperf | <metrics_title>"
    produces_tokens: bool = False  # the response carries generated text (OSL, token throughput)
    supports_streaming: bool = False  # --streaming is honoured (SSE)
    tokenizes_input: bool = True  # input sequence length is computed from the prompt
    produces_images: bool = False  # responses carry `data[]` images (image rows counted from the response)
    payload_kind: str = "json"  # default body encoding: "json" or "multipart" (--request-content-type)
    max_tokens_field: str | None = None  # where --output-tokens-mean goes
    accepts_images: bool = False  # input images (files, URLs, synthetic) are sent
    requires_image: bool = False  # every request needs a reference image (image_edit)


ENDPOINTS: dict[str, Endpoint] = {
    e.type: e
    for e in (
        Endpoint(type="chat", path="/v1/chat/completions", metrics_title="LLM Metrics", produces_tokens=True,
                 supports_streaming=True, max_tokens_field="max_completion_tokens", accepts_images=True),
        Endpoint(type="completions", path="/v1/completions", metrics_title="LLM Metrics", produces_tokens=True,
                 supports_streaming=True, max_tokens_field="max_tokens"),
        Endpoint(type="embeddings", path="/v1/embeddings", metrics_title="Embeddings Metrics"),
        Endpoint(type="image_generation", path="/v1/images/generations", metrics_title="Image Generation Metrics",
                 supports_streaming=True, produces_images=True),
        Endpoint(type="image_edit", path="/v1/images/edits", metrics_title="Image Edit Metrics", produces_images=True,
                 payload_kind="multipart", accepts_images=True, requires_image=True),
    )
}


def get_endpoint(endpoint_type: str) -> Endpoint:
    try:
        return ENDPOINTS[endpoint_type]
    except KeyError:
        choices = ", ".join(sorted(ENDPOINTS))
        raise ValueError(f"--endpoint-type: unknown endpoint type {endpoint_type!r} (choose from {choices})") from None
