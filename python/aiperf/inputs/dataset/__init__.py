"""Datasets: what each request sends (texts, images, extra body, schedule), as conversations of turns.

`load_dataset(spec, tokenizer)` picks the source: an `--input-file` (one module per format: `single_turn.py`,
`multi_turn.py`, `mooncake_trace.py`) or synthetic prompts cut from a built-in English corpus (`synthetic.py`);
`attach_images` (`turn_images.py`) adds the images. Importing this package is cheap: numpy and the loaders are
imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiperf.inputs.dataset.spec import ConversationSpec, DatasetSpec, SyntheticPromptSpec
from aiperf.inputs.dataset.types import DATASET_TYPES, Conversation, InputFileError, Turn

if TYPE_CHECKING:
    import numpy as np

    from aiperf.inputs.dataset.single_turn import load_single_turn
    from aiperf.inputs.dataset.synthetic import synthetic_conversations
    from aiperf.inputs.dataset.turn_images import attach_images
    from aiperf.inputs.tokenizer import Tokenizer

__all__ = [
    "DATASET_TYPES",
    "Conversation",
    "ConversationSpec",
    "DatasetSpec",
    "InputFileError",
    "SyntheticPromptSpec",
    "Turn",
    "attach_images",
    "load_dataset",
    "load_single_turn",
    "synthetic_conversations",
]


def __getattr__(name: str) -> Any:  # lazy re-exports keep `import aiperf.inputs.dataset` free of numpy
    if name == "synthetic_conversations":
        from aiperf.inputs.dataset.synthetic import synthetic_conversations

        return synthetic_conversations
    if name == "load_single_turn":
        from aiperf.inputs.dataset.single_turn import load_single_turn

        return load_single_turn
    if name == "attach_images":
        from aiperf.inputs.dataset.turn_images import attach_images

        return attach_images
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_dataset(spec: DatasetSpec, tokenizer: Tokenizer | None) -> list[Conversation]:
    """The conversations of a run: all entries of `spec.input_file` when given, else synthetic ones.

    The same `spec.random_seed` gives the same conversations (prompts, lengths and session ids). Only synthetic
    prompts and mooncake traces need the tokenizer.
    """
    import numpy as np

    rng = np.random.default_rng(spec.random_seed)
    if spec.input_file is not None:
        return _load_input_file(spec, tokenizer, rng)
    from aiperf.inputs.dataset.synthetic import synthetic_conversations, synthetic_sessions

    if spec.conversations.multi_turn:
        return synthetic_sessions(_needed(tokenizer), spec.prompts, spec.conversations, rng)
    return synthetic_conversations(_needed(tokenizer), spec.prompts, rng)


def _load_input_file(spec: DatasetSpec, tokenizer: Tokenizer | None, rng: np.random.Generator) -> list[Conversation]:
    assert spec.input_file is not None
    path, dataset_type = spec.input_file, spec.dataset_type or "single_turn"
    osl_mean, osl_stddev = spec.prompts.osl_mean, spec.prompts.osl_stddev
    if dataset_type not in DATASET_TYPES:
        raise InputFileError(path, None, None, f"--custom-dataset-type {dataset_type!r}: unknown dataset type "
                             f"(expected one of: {', '.join(DATASET_TYPES)})")
    if dataset_type == "multi_turn":
        from aiperf.inputs.dataset.multi_turn import load_multi_turn

        return load_multi_turn(path, osl_mean=osl_mean, osl_stddev=osl_stddev, rng=rng)
    if dataset_type == "mooncake_trace":
        from aiperf.inputs.dataset.mooncake_trace import load_mooncake_trace

        return load_mooncake_trace(path, tokenizer=_needed(tokenizer), osl_mean=osl_mean, osl_stddev=osl_stddev,
                                   rng=rng)
    from aiperf.inputs.dataset.single_turn import load_single_turn

    return load_single_turn(path, osl_mean=osl_mean, osl_stddev=osl_stddev, rng=rng)  # random_pool too


def _needed(tokenizer: Tokenizer | None) -> Tokenizer:
    if tokenizer is None:
        raise ValueError("synthetic prompts need a tokenizer")
    return tokenizer
