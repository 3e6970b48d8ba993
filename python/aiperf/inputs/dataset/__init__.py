"""Datasets: what each request sends (texts, images, extra body, schedule), as conversations of turns.

`load_dataset()` picks the source: synthetic prompts cut from a built-in English corpus (`synthetic.py`), or
an `--input-file` (`files.py`). Importing this package is cheap: numpy and the loaders are imported on first
use.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiperf.errors import InputFileError

if TYPE_CHECKING:
    from aiperf.inputs.dataset.files import load_single_turn
    from aiperf.inputs.dataset.synthetic import synthetic_conversations
    from aiperf.inputs.dataset.turn_images import attach_images
    from aiperf.inputs.input_images import InputImage

__all__ = [
    "KNOWN_DATASET_TYPES",
    "SUPPORTED_DATASET_TYPES",
    "Conversation",
    "InputFileError",
    "Turn",
    "attach_images",
    "load_dataset",
    "load_single_turn",
    "synthetic_conversations",
]

SUPPORTED_DATASET_TYPES = ("single_turn", "multi_turn", "random_pool", "mooncake_trace")
KNOWN_DATASET_TYPES = ("single_turn", "multi_turn", "random_pool", "mooncake_trace")


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


def __getattr__(name: str) -> Any:  # lazy re-exports keep `import aiperf.inputs.dataset` free of numpy
    if name == "synthetic_conversations":
        from aiperf.inputs.dataset.synthetic import synthetic_conversations

        return synthetic_conversations
    if name == "load_single_turn":
        from aiperf.inputs.dataset.files import load_single_turn

        return load_single_turn
    if name == "attach_images":
        from aiperf.inputs.dataset.turn_images import attach_images

        return attach_images
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_dataset(
    *,
    input_file: Path | None,
    custom_dataset_type: str | None,
    tokenizer: Any,
    num_entries: int,
    isl_mean: int,
    isl_stddev: float,
    osl_mean: int | None,
    osl_stddev: float,
    batch_size: int,
    random_seed: int | None,
    exact_lengths: bool = True,
    num_conversations: int | None = None,
    turns_mean: int = 1,
    turns_stddev: float = 0.0,
    turn_delay_mean_ms: float = 0.0,
    turn_delay_stddev_ms: float = 0.0,
) -> list[Conversation]:
    """The conversations of a run: all entries of `input_file` when given, else `num_entries` synthetic ones.

    The same `random_seed` gives the same conversations (prompts, lengths and session ids). `exact_lengths`:
    see `synthetic_conversations` (False lets synthetic prompts be made without loading the tokenizer).
    """
    import numpy as np

    rng = np.random.default_rng(random_seed)
    if input_file is not None:
        dataset_type = custom_dataset_type or "single_turn"
        if dataset_type not in KNOWN_DATASET_TYPES:
            raise InputFileError(
                input_file,
                None,
                None,
                f"--custom-dataset-type {dataset_type!r}: unknown dataset type "
                f"(expected one of: {', '.join(KNOWN_DATASET_TYPES)})",
            )
        if dataset_type not in SUPPORTED_DATASET_TYPES:
            raise InputFileError(
                input_file,
                None,
                None,
                f"--custom-dataset-type {dataset_type!r}: not supported yet "
                f"(supported: {', '.join(SUPPORTED_DATASET_TYPES)})",
            )
        from aiperf.inputs.dataset.files import load_mooncake_trace, load_multi_turn, load_single_turn

        if dataset_type == "multi_turn":
            return load_multi_turn(Path(input_file), osl_mean=osl_mean, osl_stddev=osl_stddev, rng=rng)
        if dataset_type == "mooncake_trace":
            return load_mooncake_trace(Path(input_file), tokenizer=tokenizer, osl_mean=osl_mean,
                                       osl_stddev=osl_stddev, rng=rng)
        return load_single_turn(Path(input_file), osl_mean=osl_mean, osl_stddev=osl_stddev, rng=rng)

    from aiperf.inputs.dataset.synthetic import sample_lengths, synthetic_conversations

    if turns_mean > 1 or turns_stddev > 0:
        # Multi-turn: every turn a synthetic prompt of its own, then grouped into conversations.
        turn_counts = sample_lengths(rng, turns_mean, turns_stddev, num_conversations or num_entries)
        turns = [c.turns[0] for c in synthetic_conversations(
            tokenizer, num_entries=int(turn_counts.sum()), isl_mean=isl_mean, isl_stddev=isl_stddev,
            osl_mean=osl_mean, osl_stddev=osl_stddev, batch_size=batch_size, rng=rng, exact_lengths=exact_lengths)]
        delays = (np.maximum(rng.normal(turn_delay_mean_ms, turn_delay_stddev_ms, size=len(turns)), 0.0)
                  if turn_delay_mean_ms > 0 or turn_delay_stddev_ms > 0 else np.zeros(len(turns)))
        conversations = []
        start = 0
        for count in turn_counts:
            group = turns[start:start + int(count)]
            for index, turn in enumerate(group):
                turn.delay_ms = float(delays[start + index]) if index > 0 else None
            conversations.append(Conversation(session_id=str(uuid.UUID(bytes=rng.bytes(16), version=4)),
                                              turns=group))
            start += int(count)
        return conversations

    return synthetic_conversations(
        tokenizer,
        num_entries=num_entries,
        isl_mean=isl_mean,
        isl_stddev=isl_stddev,
        osl_mean=osl_mean,
        osl_stddev=osl_stddev,
        batch_size=batch_size,
        rng=rng,
        exact_lengths=exact_lengths,
    )
