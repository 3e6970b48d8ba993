"""Columnar record batches (the layout of _engine.Engine.records()) from several workers, made into one.

A worker's batch is moved onto the driver's clock (every timestamp minus the worker's offset; -1, "never
happened", stays -1) and its loop threads get run-wide worker ids; batches are then concatenated, ragged columns
(offsets + data) rebased, and optionally sorted by request_index like a single engine's records().
"""
from __future__ import annotations

import numpy as np

from aiperf.engine import RECORD_SCHEMA


def _ragged_columns() -> dict[str, str]:
    """offsets column -> the column it indexes, from the record schema: chunk_offsets indexes the chunk columns
    (chunk_ns stands for them), every other offsets column the data column right after it."""
    ragged: dict[str, str] = {}
    for i, (name, _, kind) in enumerate(RECORD_SCHEMA):
        if kind in ("offsets", "raw_offsets"):
            ragged[name] = "chunk_ns" if name == "chunk_offsets" else RECORD_SCHEMA[i + 1][0]
    return ragged


TIME_COLUMNS = ("intended_ns", "start_ns", "ack_ns", "end_ns", "chunk_ns")
# offsets column -> the column it indexes; an offsets column has one entry more than rows (or chunks), or none
RAGGED_COLUMNS = _ragged_columns()
# Indexed per chunk rather than per record.
CHUNK_COLUMNS = tuple(name for name, _, kind in RECORD_SCHEMA if kind == "chunk")


def to_driver_clock(batch: dict[str, np.ndarray], *, offset_ns: int, first_worker_id: int) -> dict[str, np.ndarray]:
    """A copy of one worker's batch with timestamps on the driver's clock and worker ids first_worker_id + local."""
    out = dict(batch)
    for name in TIME_COLUMNS:
        if name in out:
            values = np.asarray(out[name], dtype=np.int64)
            out[name] = np.where(values >= 0, values - offset_ns, values)
    out["worker_id"] = (np.asarray(out["worker_id"], dtype=np.int32) + np.int32(first_worker_id)).astype(np.int32)
    return out


def row_count(batch: dict[str, np.ndarray]) -> int:
    return len(batch["request_index"])


def concat(batches: list[dict[str, np.ndarray]], like: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """The batches one after the other. With no batch, empty columns shaped like `like` (zero rows)."""
    if not batches:
        if like is None:
            raise ValueError("concat() of no batches needs `like` for the column types")
        return {name: (np.zeros(1, dtype=values.dtype) if name in RAGGED_COLUMNS and len(values) else
                       np.zeros(0, dtype=values.dtype)) for name, values in like.items()}
    if len(batches) == 1:
        return dict(batches[0])
    out: dict[str, np.ndarray] = {}
    for name in batches[0]:
        parts = [np.asarray(b[name]) for b in batches]
        if name in RAGGED_COLUMNS:
            if all(len(p) == 0 for p in parts):
                out[name] = parts[0][:0].copy()
                continue
            target = RAGGED_COLUMNS[name]
            bases = np.cumsum([0] + [len(b[target]) for b in batches[:-1]])
            out[name] = np.concatenate([parts[0][:1]] + [p[1:] + base for p, base in zip(parts, bases)])
        else:
            out[name] = np.concatenate(parts)
    return out


def _take_ragged(offsets: np.ndarray, data: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The slices of `data` owned by `rows` (in that order), and their new offsets."""
    starts, ends = offsets[rows], offsets[rows + 1]
    lengths = ends - starts
    new_offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(offsets.dtype)
    index = np.repeat(starts - new_offsets[:-1], lengths) + np.arange(new_offsets[-1], dtype=np.int64)
    return new_offsets, data[index]


def take(records: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    """The records at `rows`, in that order (ragged columns and chunk columns follow their rows)."""
    rows = np.asarray(rows, dtype=np.int64)
    n = row_count(records)
    out: dict[str, np.ndarray] = {}
    chunk_offsets = np.asarray(records["chunk_offsets"], dtype=np.int64)
    chunk_rows = _take_ragged(chunk_offsets, np.arange(chunk_offsets[-1], dtype=np.int64), rows)[1]
    for name, values in records.items():
        values = np.asarray(values)
        if name in CHUNK_COLUMNS:
            out[name] = values[chunk_rows]
        elif name == "raw_offsets":  # per chunk
            if len(values):
                out[name], out["raw"] = _take_ragged(values, np.asarray(records["raw"]), chunk_rows)
            else:
                out[name] = values.copy()
        elif name in RAGGED_COLUMNS:
            if name == "chunk_offsets":
                out[name] = _take_ragged(values, np.arange(values[-1]), rows)[0]
            elif len(values):
                out[name], out[RAGGED_COLUMNS[name]] = _take_ragged(values, np.asarray(records[RAGGED_COLUMNS[name]]),
                                                                    rows)
            else:
                out[name] = values.copy()
        elif name in RAGGED_COLUMNS.values():
            continue  # filled with its offsets
        elif len(values) == n:
            out[name] = values[rows]
        else:
            out[name] = values.copy()
    for target in RAGGED_COLUMNS.values():  # data columns whose offsets column is empty
        out.setdefault(target, np.asarray(records[target]).copy() if target in records else None)
    return {name: value for name, value in out.items() if value is not None}


def sorted_by_request_index(records: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    order = np.argsort(np.asarray(records["request_index"]), kind="stable")
    if np.array_equal(order, np.arange(len(order))):
        return records
    return take(records, order)
