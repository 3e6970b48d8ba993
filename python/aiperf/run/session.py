"""Collecting a running engine's records: token counting in the background, the collector and the record files."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from aiperf.engine import ClockAnchor, EngineLike, Records
from aiperf.inputs.endpoints import Endpoint
from aiperf.run.drive import may_raise_priority, set_thread_idle
from aiperf.run.plan import RunPlan, count_input_tokens, last_turns, tokenizer_config_error

if TYPE_CHECKING:
    from aiperf.inputs.dataset import Conversation
    from aiperf.inputs.tokenizer import Tokenizer
    from aiperf.results.collect import RecordCollector
    from aiperf.results.export import RecordsWriter
    from aiperf.results.metrics import RunMetrics


class InputTokenCounter:
    """Parses the tokenizer and counts input tokens in a thread started once the engine runs (the engine releases
    the GIL, so this overlaps the run instead of delaying the first request)."""

    def __init__(self, endpoint: Endpoint, conversations: list[Conversation], tokenizer: Tokenizer) -> None:
        self._endpoint = endpoint
        self._conversations = conversations
        self._tokenizer = tokenizer
        # Like the record thread: idle while the engine runs, back to normal when its result is needed.
        self._low_priority = may_raise_priority()
        self._native_id: int | None = None
        self._result: npt.NDArray[np.int64] | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        self._native_id = threading.get_native_id()
        if self._low_priority:
            self._low_priority = set_thread_idle(self._native_id, True)
        try:
            self._tokenizer.load()
            self._result = count_input_tokens(self._endpoint, self._conversations, self._tokenizer)
        except BaseException as e:
            self._error = e

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="aiperf-input-tokens", daemon=True)
        self._thread.start()

    def result(self) -> npt.NDArray[np.int64]:
        if self._thread is None:  # never started: counted here, in the caller's thread at its priority
            self._low_priority = False
            self._run()
        else:
            if self._low_priority and self._native_id is not None and self._thread.is_alive():
                set_thread_idle(self._native_id, False)  # its result is awaited now
            self._thread.join()
        if self._error is not None:
            from aiperf.inputs.tokenizer import TokenizerError

            if isinstance(self._error, TokenizerError):
                raise tokenizer_config_error(self._error) from None
            raise self._error
        assert self._result is not None
        return self._result


class RunSession:
    """The records of one run on their way out: `start()` once the engine runs (nothing before the first request
    needs the writer or the collector), `add()` per batch, `close()` the record files, then `finish()`."""

    def __init__(self, plan: RunPlan, engine: EngineLike) -> None:
        self._plan = plan
        self._engine = engine
        self._token_counter = InputTokenCounter(plan.endpoint, plan.conversations, plan.tokenizer)
        self._writer: RecordsWriter | None = None
        self._collector: RecordCollector | None = None

    @property
    def anchor(self) -> ClockAnchor:
        return ClockAnchor(wall_ns=self._engine.anchor_wall_ns, mono_ns=self._engine.anchor_mono_ns)

    @property
    def collector(self) -> RecordCollector:
        if self._collector is None:
            raise RuntimeError("RunSession.start() was not called")
        return self._collector

    def start(self) -> None:
        from aiperf.redaction import redact_headers
        from aiperf.results.collect import RecordCollector
        from aiperf.results.export import RecordsWriter

        plan, config, anchor = self._plan, self._plan.config, self.anchor
        self._token_counter.start()
        self._writer = RecordsWriter(plan.artifact_dir, export_level=config.export_level, request_inputs=plan.inputs,
                                     anchor=anchor, request_id_prefix=plan.request_id_prefix,
                                     redact_headers=redact_headers)
        self._collector = RecordCollector(
            endpoint=plan.endpoint, streaming=plan.streaming, tokenizer=plan.tokenizer,
            input_tokens=self._token_counter.result, writer=self._writer, secrets=config.secret_values,
            server_token_counts=config.use_server_token_count,
            last_turn_of_body=last_turns(plan.inputs) if plan.workload.sessions is not None else None)

    def add(self, batch: Records) -> None:
        self.collector.add(batch)

    def close(self) -> list[Path]:
        """Closes the record files (those written so far, when the run failed); their paths."""
        return self._writer.close() if self._writer is not None else []

    def finish(self) -> tuple[RunMetrics, Records]:
        """The run's metrics and the records' kept columns."""
        return self.collector.finish(anchor=self.anchor, goodput=self._plan.config.goodput_slos or None)
