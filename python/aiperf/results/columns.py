"""Typed reads of a batch of engine records (`Records`: column name -> numpy array, see `aiperf.engine.RECORD_SCHEMA`).

The engine hands columns over in their schema dtypes; these helpers give the few conversions metrics and exports
need (int64 times, per-record lengths of ragged columns, UTF-8 texts) in one place.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["decode_ragged", "int64", "record_count", "row_lengths"]


def record_count(records: Mapping[str, npt.NDArray[Any]]) -> int:
    return len(records["request_index"])


def int64(records: Mapping[str, npt.NDArray[Any]], name: str, default: int = -1) -> npt.NDArray[np.int64]:
    """A per-record column as int64; `default` for every record when the batch lacks it (an older engine)."""
    column = records.get(name)
    if column is None:
        return np.full(record_count(records), default, dtype=np.int64)
    return np.asarray(column, dtype=np.int64)


def row_lengths(records: Mapping[str, npt.NDArray[Any]], offsets: str) -> npt.NDArray[np.int64]:
    """Per record: how many chunks or bytes an offsets column gives it."""
    bounds = np.asarray(records[offsets], dtype=np.int64)
    return bounds[1:] - bounds[:-1]


def decode_ragged(offsets: npt.ArrayLike, data: npt.ArrayLike, rows: npt.ArrayLike | None = None) -> list[str]:
    """UTF-8 strings of rows `rows` (default all) of a ragged byte column (offsets int64[n+1], data uint8[...])."""
    bounds = np.asarray(offsets, dtype=np.int64)
    picked = np.arange(len(bounds) - 1) if rows is None else np.asarray(rows, dtype=np.int64)
    starts = bounds[picked].tolist()
    ends = bounds[picked + 1].tolist()
    buf = np.asarray(data, dtype=np.uint8)
    if buf.size == 0:
        return [""] * len(starts)
    if not (buf >= 0x80).any():  # ASCII: byte offsets are character offsets, decode once and slice
        text = buf.tobytes().decode("ascii")
        return [text[s:e] for s, e in zip(starts, ends)]
    raw = buf.tobytes()
    return [raw[s:e].decode("utf-8", errors="replace") for s, e in zip(starts, ends)]
