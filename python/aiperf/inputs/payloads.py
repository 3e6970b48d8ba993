"""Request payload descriptions per endpoint, built from dataset turns, and their encoding into bodies.

A JSON payload is a plain dict (the engine's JSON writer serialises it once per distinct body); a multipart payload
(image_edit) is a `MultipartForm` encoded by the engine's multipart encoder, every body of a run with one boundary
(the engine sends one Content-Type for the whole run). Exports show `payload_description()`: the JSON body as sent,
or for multipart the form fields with each file part described (name, type, size, sha256), never its bytes.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiperf.inputs.dataset.types import Turn
from aiperf.inputs.endpoints import Endpoint

if TYPE_CHECKING:
    from aiperf.config import ProfileConfig

__all__ = ["EDIT_RESERVED_FIELDS", "BodySpec", "EncodedBodies", "MultipartForm", "build_payload", "encode_bodies",
           "fill_history", "history_hole", "payload_description", "refused_extra_fields"]

JSON_CONTENT_TYPE = "application/json"
MULTIPART_CONTENT_TYPE = "multipart/form-data"
# image_edit: fields that carry the request's own prompt and images; extra inputs may not replace them
EDIT_RESERVED_FIELDS = ("prompt", "image", "url", "mask")


@dataclass(frozen=True, kw_only=True)
class BodySpec:
    """The options every request body depends on, besides its turn."""

    model: str  # for turns that name no model of their own
    streaming: bool = False
    use_legacy_max_tokens: bool = False  # chat: max_tokens instead of max_completion_tokens
    content_type: str = JSON_CONTENT_TYPE  # image_edit: multipart/form-data or application/json
    extra_body: Mapping[str, Any] = field(default_factory=dict)  # --extra-inputs, merged over every body

    @classmethod
    def from_config(cls, config: ProfileConfig) -> BodySpec:
        return cls(model=config.model[0], streaming=config.streaming,
                   use_legacy_max_tokens=config.use_legacy_max_tokens,
                   content_type=config.effective_request_content_type, extra_body=config.extra_body)


@dataclass
class MultipartForm:
    """A multipart/form-data body: text fields in order, then file parts (field, filename, bytes, content type)."""

    fields: list[tuple[str, str]] = field(default_factory=list)
    files: list[tuple[str, str, bytes, str | None]] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        """The form as exports show it: field -> value (a list when repeated); file parts described, no bytes."""
        items: list[tuple[str, Any]] = list(self.fields)
        items += [(name, {"filename": filename, "content_type": content_type, "size_bytes": len(data),
                          "sha256": hashlib.sha256(data).hexdigest()})
                  for name, filename, data, content_type in self.files]
        grouped: dict[str, list[Any]] = {}
        for name, value in items:
            grouped.setdefault(name, []).append(value)
        return {name: values[0] if len(values) == 1 else values for name, values in grouped.items()}


@dataclass
class EncodedBodies:
    content_type: str  # the Content-Type of every request of the run
    bodies: list[bytes]


def _prompt(turn: Turn) -> str:
    return turn.texts[0] if len(turn.texts) == 1 else " ".join(turn.texts)


def _form_value(value: Any) -> str:
    """A multipart field's text: strings as given, everything else as JSON (4 -> "4", true -> "true")."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def refused_extra_fields(endpoint: Endpoint, extra: dict[str, Any] | None) -> list[str]:
    """Extra-input keys this endpoint will not send because they would replace the request's own inputs."""
    if endpoint.type != "image_edit" or not extra:
        return []
    return [key for key in extra if key in EDIT_RESERVED_FIELDS]


def _extras(endpoint: Endpoint, turn: Turn, spec: BodySpec) -> dict[str, Any]:
    merged: dict[str, Any] = dict(turn.extra_body or {})
    merged.update(spec.extra_body)
    for key in refused_extra_fields(endpoint, merged):
        del merged[key]
    return merged


def _chat_content(turn: Turn) -> Any:
    if not turn.image_inputs:
        return turn.texts[0] if len(turn.texts) == 1 else [{"type": "text", "text": t} for t in turn.texts]
    parts: list[dict[str, Any]] = [{"type": "text", "text": t} for t in turn.texts]
    parts += [{"type": "image_url", "image_url": {"url": image.as_url()}} for image in turn.image_inputs]
    return parts


def _image_edit(turn: Turn, spec: BodySpec, model: str, extras: dict[str, Any]) -> dict[str, Any] | MultipartForm:
    base: dict[str, Any] = {"prompt": _prompt(turn), "model": model, "response_format": "b64_json", "n": 1}
    base.update(extras)
    urls = [image.url for image in turn.image_inputs if image.is_url]
    files = [image for image in turn.image_inputs if not image.is_url]
    if spec.content_type == JSON_CONTENT_TYPE:
        payload = dict(base)
        if files:
            data_urls = [image.as_url() for image in files]
            payload["image"] = data_urls[0] if len(data_urls) == 1 else data_urls
        if urls:
            payload["url"] = urls[0] if len(urls) == 1 else urls
        return payload
    form = MultipartForm(fields=[(key, _form_value(value)) for key, value in base.items()])
    form.fields += [("url", url) for url in urls if url is not None]
    form.files = [("image", image.filename, image.data or b"", image.mime_type) for image in files]
    return form


def history_hole(turn_index: int) -> str:
    """Stands for the response text of turn `turn_index` of the same conversation; the engine replaces the JSON
    string holding it (written by json.dumps as "\\u0000aiperf-turn:J\\u0000") when it sends the turn."""
    return f"\0aiperf-turn:{turn_index}\0"


def fill_history(payload: Any, responses: list[str]) -> Any:
    """A payload with its history holes replaced by the responses (as the engine sent it), for exports."""
    if isinstance(payload, str):
        if payload.startswith("\0aiperf-turn:") and payload.endswith("\0"):
            index = int(payload[len("\0aiperf-turn:"):-1])
            return responses[index] if index < len(responses) else ""
        return payload
    if isinstance(payload, list):
        return [fill_history(item, responses) for item in payload]
    if isinstance(payload, dict):
        return {key: fill_history(value, responses) for key, value in payload.items()}
    return payload


def build_payload(endpoint: Endpoint, turn: Turn, spec: BodySpec,
                  history: list[Turn] | None = None) -> dict[str, Any] | MultipartForm:
    """The request of `turn`. Chat turns after the first carry the conversation so far (`history`: the earlier
    turns of the session), each earlier answer a history hole the engine fills with the response text."""
    model = turn.model or spec.model
    extras = _extras(endpoint, turn, spec)
    if endpoint.type == "image_edit":
        return _image_edit(turn, spec, model, extras)
    payload: dict[str, Any]
    if endpoint.type == "chat":
        messages: list[dict[str, Any]] = []
        for index, earlier in enumerate(history or []):
            messages.append({"role": "user", "content": _chat_content(earlier)})
            messages.append({"role": "assistant", "content": history_hole(index)})
        messages.append({"role": "user", "content": _chat_content(turn)})
        payload = {"model": model, "messages": messages}
    elif endpoint.type == "completions":
        payload = {"model": model, "prompt": turn.texts[0] if len(turn.texts) == 1 else turn.texts}
    elif endpoint.type == "embeddings":
        payload = {"model": model, "input": list(turn.texts)}
    elif endpoint.type == "image_generation":
        payload = {"prompt": _prompt(turn), "model": model, "response_format": "b64_json", "n": 1}
    else:  # pragma: no cover - endpoints are validated before
        raise ValueError(f"no payload builder for endpoint type {endpoint.type!r}")
    if spec.streaming and endpoint.supports_streaming:
        payload["stream"] = True
        if endpoint.produces_tokens:
            payload["stream_options"] = {"include_usage": True}
    if turn.max_tokens is not None and endpoint.max_tokens_field:
        field_name = "max_tokens" if spec.use_legacy_max_tokens else endpoint.max_tokens_field
        payload[field_name] = turn.max_tokens
    payload.update(extras)
    return payload


def payload_description(payload: dict[str, Any] | MultipartForm) -> dict[str, Any]:
    """What inputs.json and the raw export show for one payload."""
    return payload.describe() if isinstance(payload, MultipartForm) else payload


def encode_bodies(payloads: list[dict[str, Any] | MultipartForm]) -> EncodedBodies:
    """Encode every payload (C++): JSON bodies, or multipart bodies sharing one boundary and Content-Type.

    Raises ValueError/TypeError when a JSON payload cannot be written (NaN, unsupported types).
    """
    from aiperf.engine import EngineError, build_json
    if not payloads or not isinstance(payloads[0], MultipartForm):
        return EncodedBodies(JSON_CONTENT_TYPE, [build_json(p) for p in payloads])
    for _attempt in range(3):
        try:
            return _encode_forms(payloads)  # type: ignore[arg-type]
        except EngineError:  # the run's boundary occurred inside a later body: draw a new one
            continue
    raise ValueError("multipart: could not find a boundary that occurs in no body")


def _encode_forms(forms: list[MultipartForm]) -> EncodedBodies:
    from aiperf.engine import multipart_encode
    bodies: list[bytes] = []
    content_type = ""
    boundary: str | None = None
    for form in forms:
        content_type, body = multipart_encode(form.fields, form.files, boundary)
        if boundary is None:
            boundary = _boundary_of(content_type)
        bodies.append(body)
    return EncodedBodies(content_type, bodies)


def _boundary_of(content_type: str) -> str:
    for parameter in content_type.split(";")[1:]:
        name, _, value = parameter.strip().partition("=")
        if name.lower() == "boundary":
            return value.strip('"')
    raise ValueError(f"multipart encoder returned a Content-Type without a boundary: {content_type!r}")
