"""`multi_turn` input files: one conversation a line, `{"session_id": "…", "turns": [{single_turn fields}, …]}`."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aiperf.inputs.dataset.jsonl import json_objects, json_type, no_entries
from aiperf.inputs.dataset.single_turn import parse_single_turn_line
from aiperf.inputs.dataset.synthetic import sample_lengths
from aiperf.inputs.dataset.types import Conversation, InputFileError, new_session_id

__all__ = ["MULTI_TURN_FIELDS", "load_multi_turn"]

MULTI_TURN_FIELDS = ("session_id", "turns", "type")


def load_multi_turn(path: Path, *, osl_mean: int | None, osl_stddev: float,
                    rng: np.random.Generator) -> list[Conversation]:
    """`multi_turn`: one conversation a line, `{"session_id": "…", "turns": [{single_turn fields}, …]}`.

    Turns after the first may carry `delay` (ms of think time after the previous turn ended). Session ids must
    be unique; a line without one gets a generated id.
    """
    path = Path(path)
    conversations: list[Conversation] = []
    seen: dict[str, int] = {}
    for line, obj in json_objects(path, MULTI_TURN_FIELDS, "multi_turn"):
        if "type" in obj and obj["type"] != "multi_turn":
            raise InputFileError(path, line, "type", f"expected 'multi_turn', got {obj['type']!r}")
        turns_value = obj.get("turns")
        if not isinstance(turns_value, list) or not turns_value:
            raise InputFileError(path, line, "turns", "expected a non-empty list of turn objects")
        turns = []
        for index, turn_obj in enumerate(turns_value):
            try:
                turns.append(parse_single_turn_line(turn_obj, path, line))
            except InputFileError as e:
                raise InputFileError(path, line, f"turns[{index}]" + (f".{e.field}" if e.field else ""),
                                     e.problem) from None
        session_id = obj.get("session_id")
        if session_id is None:
            session_id = new_session_id(rng)
        elif not isinstance(session_id, str) or not session_id:
            raise InputFileError(path, line, "session_id", f"expected a non-empty string, got {json_type(session_id)}")
        if session_id in seen:
            raise InputFileError(path, line, "session_id",
                                 f"{session_id!r} is already the session of line {seen[session_id]}")
        seen[session_id] = line
        conversations.append(Conversation(session_id=session_id, turns=turns))
    if not conversations:
        raise no_entries(path)
    all_turns = [turn for conversation in conversations for turn in conversation.turns]
    if osl_mean is not None:
        for turn, length in zip(all_turns, sample_lengths(rng, osl_mean, osl_stddev, len(all_turns))):
            turn.max_tokens = int(length)
    return conversations
