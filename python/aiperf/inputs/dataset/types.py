"""What a dataset is made of: conversations of turns, each turn one request's inputs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiperf.errors import InputFileError

if TYPE_CHECKING:
    import numpy as np

    from aiperf.inputs.input_images import InputImage

__all__ = ["DATASET_TYPES", "Conversation", "InputFileError", "Turn", "new_session_id"]

# --custom-dataset-type values; random_pool reads single_turn files
DATASET_TYPES = ("single_turn", "multi_turn", "random_pool", "mooncake_trace")


@dataclass
class Turn:
    """One request's inputs."""

    texts: list[str]
    images: list[str] = field(default_factory=list)  # paths / http(s) URLs / data URLs
    model: str | None = None
    extra_body: dict[str, Any] | None = None
    timestamp_ms: float | None = None
    delay_ms: float | None = None
    max_tokens: int | None = None  # requested output length (None: let the server decide)
    input_tokens: int | None = None  # token count of texts when already known (synthetic prompts)
    line: int | None = field(default=None, compare=False)  # 1-based input-file line, for error messages
    image_inputs: list[InputImage] = field(default_factory=list)  # `images` resolved, plus synthetic images


@dataclass
class Conversation:
    session_id: str
    turns: list[Turn]


def new_session_id(rng: np.random.Generator) -> str:
    """A UUID4 drawn from `rng`: the same seed gives the same session ids."""
    return str(uuid.UUID(bytes=rng.bytes(16), version=4))
