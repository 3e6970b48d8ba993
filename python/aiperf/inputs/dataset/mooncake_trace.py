"""`mooncake_trace` input files: one request a line with its timestamp, lengths and prefix-cache block ids; the
prompts are synthesized so that a recurring block id recurs as the same text."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from aiperf.inputs.dataset.jsonl import json_objects, milliseconds, no_entries
from aiperf.inputs.dataset.synthetic import PromptSource, sample_lengths
from aiperf.inputs.dataset.types import Conversation, InputFileError, Turn, new_session_id

if TYPE_CHECKING:
    from aiperf.inputs.tokenizer import Tokenizer

__all__ = ["MOONCAKE_BLOCK_TOKENS", "MOONCAKE_FIELDS", "load_mooncake_trace"]

MOONCAKE_FIELDS = ("timestamp", "input_length", "output_length", "hash_ids", "text_input", "session_id", "delay")
MOONCAKE_BLOCK_TOKENS = 512


def _count(value: Any, path: Path, line: int, name: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputFileError(path, line, name, f"expected an integer >= {minimum}, got {value!r}")
    return value


def load_mooncake_trace(path: Path, *, tokenizer: Tokenizer, osl_mean: int | None, osl_stddev: float,
                        rng: np.random.Generator) -> list[Conversation]:
    """`mooncake_trace`: one request a line, `{"timestamp": ms, "input_length": N, "output_length": M,
    "hash_ids": [...]}` (or `text_input` instead of the length). Prompts are synthesized: each hash id stands
    for a block of 512 tokens, the same text wherever the id recurs (so prefix caches see what the trace saw),
    the last block cut to `input_length`. `output_length` is sent as the requested output length."""
    path = Path(path)
    entries: list[tuple[int, dict[str, Any]]] = []
    for line, obj in json_objects(path, MOONCAKE_FIELDS, "mooncake_trace"):
        if "text_input" in obj:
            if not isinstance(obj["text_input"], str) or not obj["text_input"]:
                raise InputFileError(path, line, "text_input", "expected a non-empty string")
        else:
            _count(obj.get("input_length"), path, line, "input_length", minimum=1)
        if "output_length" in obj:
            _count(obj["output_length"], path, line, "output_length", minimum=1)
        hash_ids = obj.get("hash_ids", [])
        if not isinstance(hash_ids, list) or any(isinstance(h, bool) or not isinstance(h, int) for h in hash_ids):
            raise InputFileError(path, line, "hash_ids", "expected a list of integers")
        milliseconds(obj.get("timestamp"), path, line, "timestamp")
        milliseconds(obj.get("delay"), path, line, "delay")
        entries.append((line, obj))
    if not entries:
        raise no_entries(path)

    # Every distinct (block id, length) once, in one batch: the same seed gives the same texts.
    blocks: dict[tuple[int, int], str] = {}
    wanted: list[tuple[int, int]] = []
    plans: list[list[tuple[int, int]]] = []
    for _line, obj in entries:
        plan: list[tuple[int, int]] = []
        if "text_input" not in obj:
            remaining = obj["input_length"]
            for hash_id in obj.get("hash_ids", []):
                if remaining <= 0:
                    break
                size = min(MOONCAKE_BLOCK_TOKENS, remaining)
                plan.append((hash_id, size))
                remaining -= size
            if remaining > 0:  # longer than its blocks: a unique tail
                plan.append((-1 - len(wanted), remaining))
        for key in plan:
            if key not in blocks:
                blocks[key] = ""
                wanted.append(key)
        plans.append(plan)
    if wanted:
        source = PromptSource(tokenizer)
        sizes = np.array([size for _, size in wanted])
        texts = source.fast_prompts(sizes, rng) if source.has_fast_path else source.prompts(sizes, rng)
        blocks.update(zip(wanted, texts))

    conversations = []
    for (line, obj), plan in zip(entries, plans):
        text = obj["text_input"] if "text_input" in obj else " ".join(blocks[key] for key in plan)
        turn = Turn(texts=[text], timestamp_ms=milliseconds(obj.get("timestamp"), path, line, "timestamp"),
                    delay_ms=milliseconds(obj.get("delay"), path, line, "delay"),
                    max_tokens=obj.get("output_length"), line=line)
        session_id = obj.get("session_id") if isinstance(obj.get("session_id"), str) else None
        conversations.append(Conversation(session_id=session_id or new_session_id(rng),
                                          turns=[turn]))
    if osl_mean is not None:
        for conversation, length in zip(conversations, sample_lengths(rng, osl_mean, osl_stddev, len(conversations))):
            if conversation.turns[0].max_tokens is None:
                conversation.turns[0].max_tokens = int(length)
    return conversations
