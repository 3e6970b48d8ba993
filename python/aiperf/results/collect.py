"""Records of a run, taken from the engine batch by batch while it runs (Engine.drain()).

Each batch gets its per-record metrics, its lines in profile_export.jsonl (and the raw export) and is then dropped
but for a few numeric columns: what the summary, the timeline and Run.records need. Chunk timings, response texts
and raw bodies never accumulate, so a run of millions of requests stays flat in memory.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import numpy as np

from aiperf.engine import ClockAnchor, ErrorKind, Phase, Records, empty_records, trim_memory
from aiperf.redaction import redact_records
from aiperf.results.columns import int64
from aiperf.results.metrics import ErrorGroups, PerRecord, RunMetrics, SessionHistory, record_metrics, summarize

if TYPE_CHECKING:
    from aiperf.inputs.endpoints import Endpoint
    from aiperf.inputs.tokenizer import Tokenizer
    from aiperf.results.export import RecordsWriter

log = logging.getLogger("aiperf")

__all__ = ["KEPT_COLUMNS", "RecordCollector"]

# Columns of the engine's records kept for the whole run (a few dozen bytes per request); the error message is
# kept too (empty for successful requests), the rest is dropped once a batch is written.
KEPT_COLUMNS = ("request_index", "body_index", "worker_id", "phase", "session_num", "turn_index", "intended_ns",
                "start_ns", "ack_ns", "end_ns", "status", "error_kind", "was_cancelled", "num_images")


class RecordCollector:
    """Turns batches of engine records into metrics and export lines; `finish()` gives the run's metrics and the
    kept columns (same layout as Engine.records() for those columns, plus `response_end_ns`), in the order the
    batches arrived, which is the order of the lines in profile_export.jsonl."""

    def __init__(self, *, endpoint: Endpoint, streaming: bool, tokenizer: Tokenizer,
                 input_tokens: Callable[[], np.ndarray], writer: RecordsWriter, secrets: Iterable[str] = (),
                 last_turn_of_body: np.ndarray | None = None, server_token_counts: bool = False) -> None:
        """`input_tokens()` gives the input tokens per body (called once, at the first batch: it may wait for a
        tokenizer loading in another thread). `server_token_counts`: --use-server-token-count.
        `last_turn_of_body`: for multi-turn runs, whether each body is its conversation's last turn (the
        conversation's history is dropped after it); None for single-turn runs. The output tokens each request
        asked for come from the writer's request inputs."""
        self._endpoint = endpoint
        self._streaming = streaming
        self._tokenizer = tokenizer
        self._input_tokens_source = input_tokens
        self._input_tokens: np.ndarray | None = None
        self._writer = writer
        self._secrets = list(secrets)
        self._last_turn_of_body = last_turn_of_body
        self._server_token_counts = server_token_counts
        self._history = SessionHistory() if last_turn_of_body is not None else None
        self._errors = ErrorGroups()
        self._requested_output_tokens = writer.request_inputs.requested_output_tokens()
        self._images_seen = False
        self._reasoning_seen = False
        self._batches: list[Records] = []
        self._metrics: list[PerRecord] = []
        self.count = 0  # records taken so far
        self.batches = 0  # non-empty batches taken
        self.busy_s = 0.0  # time spent on batches (metrics, export lines)

    def add(self, batch: Records) -> None:
        n = len(batch["request_index"])
        if n == 0:
            return
        began = time.perf_counter()
        if self._input_tokens is None:
            self._input_tokens = np.asarray(self._input_tokens_source())
        batch = redact_records(batch, self._secrets)
        measured = record_metrics(batch, endpoint=self._endpoint, streaming=self._streaming,
                                  input_tokens_per_body=self._input_tokens, tokenizer=self._tokenizer,
                                  history=self._history, reasoning_seen=self._reasoning_seen,
                                  server_token_counts=self._server_token_counts,
                                  requested_output_tokens=self._requested_output_tokens)
        self._images_seen |= measured.images_seen
        self._reasoning_seen |= measured.reasoning_seen
        self._writer.write(batch, measured.per_record, measured.per_record_lists, self._history)
        if self._history is not None and self._last_turn_of_body is not None:
            bodies = int64(batch, "body_index")
            self._history.forget(batch["session_num"], batch["turn_index"], self._last_turn_of_body[bodies])
        failed = np.flatnonzero((batch["phase"] == Phase.PROFILING) & (batch["error_kind"] != ErrorKind.OK))
        self._errors.add(batch, failed)
        kept = {name: np.array(batch[name]) for name in KEPT_COLUMNS if name in batch}  # copies: the batch goes
        kept["response_end_ns"] = np.array(measured.response_end_ns, dtype=np.int64)  # a copy: may view the batch
        offsets = int64(batch, "error_message_offsets")
        kept["error_message_offsets"] = offsets - offsets[0]
        kept["error_message"] = np.array(np.asarray(batch["error_message"])[offsets[0]:offsets[-1]])
        self._batches.append(kept)
        self._metrics.append({tag: np.array(values) if values.base is not None else values
                              for tag, values in measured.per_record.items()})  # nothing that views the batch
        self.count += n
        self.batches += 1
        self.busy_s += time.perf_counter() - began

    def _merge(self) -> None:
        """One batch from here on: each column concatenated, then released from the batches it came from, so the
        merge never holds two copies of everything."""
        if len(self._batches) <= 1:
            return
        batches, metrics, self._batches, self._metrics = self._batches, self._metrics, [], []
        sizes = [len(b["request_index"]) for b in batches]
        merged: Records = {}
        texts = [len(b["error_message"]) for b in batches]
        bases = np.concatenate(([0], np.cumsum(texts)[:-1])).astype(np.int64)
        merged["error_message_offsets"] = np.concatenate(
            [np.zeros(1, dtype=np.int64)] + [b.pop("error_message_offsets")[1:] + base
                                             for b, base in zip(batches, bases)])
        for name in list(batches[0]):
            merged[name] = np.concatenate([b.pop(name) for b in batches])
            trim_memory()  # the parts' pages go back before the next column is allocated
        tags: list[str] = []
        for m in metrics:
            tags.extend(tag for tag in m if tag not in tags)
        merged_metrics: PerRecord = {}
        for tag in tags:
            merged_metrics[tag] = np.concatenate([m.pop(tag) if tag in m else np.full(size, np.nan)
                                                  for m, size in zip(metrics, sizes)])
            trim_memory()
        self._batches, self._metrics = [merged], [merged_metrics]

    def columns(self) -> Records:
        """The kept columns of every record taken so far (the batches are merged into one)."""
        self._merge()
        return dict(self._batches[0]) if self._batches else _empty_columns()

    def per_record(self) -> PerRecord:
        """Each record metric over every record taken so far (NaN for batches that did not have it)."""
        self._merge()
        return dict(self._metrics[0]) if self._metrics else {}

    def finish(self, *, anchor: ClockAnchor,
               goodput: dict[str, float] | None = None) -> tuple[RunMetrics, Records]:
        """The run's metrics and kept columns; closes nothing (the caller closes the writer)."""
        columns = self.columns()
        per_record = self.per_record()
        metrics = summarize(per_record, columns, endpoint=self._endpoint, streaming=self._streaming,
                            anchor=anchor,
                            images_seen=self._images_seen, reasoning_seen=self._reasoning_seen,
                            errors=self._errors.entries(), goodput=goodput,
                            server_token_counts=self._server_token_counts)
        for warning in metrics.warnings:
            log.warning("%s: %s", warning.title, " ".join(warning.lines))
        return metrics, columns


def _empty_columns() -> Records:
    empty = empty_records()
    out = {name: empty[name] for name in (*KEPT_COLUMNS, "error_message_offsets", "error_message")}
    out["response_end_ns"] = np.zeros(0, dtype=np.int64)
    return out
