"""What the earlier turns of each conversation answered, kept across record batches (multi-turn chat)."""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["SessionHistory"]


class SessionHistory:
    """A later chat turn sends the earlier turns' answers back as history, so they count in its ISL (tokens) and
    show in its raw-export payload (texts, when kept). Keyed by (session_num, turn_index); a conversation is
    forgotten once its last turn was seen, so a long run holds only the conversations in flight."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[int, int], float] = {}
        self._texts: dict[tuple[int, int], str] = {}

    def remember(self, sessions: npt.ArrayLike, turns: npt.ArrayLike, tokens: npt.ArrayLike) -> None:
        keys = zip(np.asarray(sessions).tolist(), np.asarray(turns).tolist())
        self._tokens.update(zip(keys, np.asarray(tokens, dtype=np.float64).tolist()))

    def remember_texts(self, sessions: npt.ArrayLike, turns: npt.ArrayLike, texts: list[str]) -> None:
        self._texts.update(zip(zip(np.asarray(sessions).tolist(), np.asarray(turns).tolist()), texts))

    def tokens_before(self, sessions: npt.ArrayLike, turns: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Per row: the answer tokens of its conversation's earlier turns (0 for first turns)."""
        get = self._tokens.get
        return np.array([sum(get((s, j), 0.0) for j in range(t)) if t else 0.0
                         for s, t in zip(np.asarray(sessions).tolist(), np.asarray(turns).tolist())],
                        dtype=np.float64)

    def texts_before(self, session: int, turn: int) -> list[str]:
        return [self._texts.get((session, j), "") for j in range(turn)]

    def forget(self, sessions: npt.ArrayLike, turns: npt.ArrayLike, last: npt.ArrayLike) -> None:
        """Drops the conversations whose last turn is among these rows (`last`: bool per row)."""
        rows = np.flatnonzero(np.asarray(last, dtype=bool))
        for session, turn in zip(np.asarray(sessions)[rows].tolist(), np.asarray(turns)[rows].tolist()):
            for j in range(turn + 1):
                self._tokens.pop((session, j), None)
                self._texts.pop((session, j), None)

    def __len__(self) -> int:
        return max(len(self._tokens), len(self._texts))
