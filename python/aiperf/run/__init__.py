"""One profile run: prepare (plan.py) → execute (the engine, drive.py, session.py) → publish (files, console, Run).

The CLI and aiperf.profile() both call run_profile(); nothing here is specific to either.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aiperf import __version__
from aiperf.config import ConfigError, ProfileConfig
from aiperf.engine import ClockAnchor, Engine, EngineError, EngineLike, Records, ReportsWorkers
from aiperf.errors import NoSuccessfulRequestsError, RunError
from aiperf.redaction import redact_text, redact_url
from aiperf.run.artifacts import make_artifact_dir, run_log
from aiperf.run.drive import drive_engine, file_descriptors, fix_mmap_threshold
from aiperf.run.interrupts import Interrupts
from aiperf.run.plan import RunPlan, prepare
from aiperf.run.session import RunSession

if TYPE_CHECKING:
    from rich.console import Console

    from aiperf.analysis.runs import Run
    from aiperf.results.metrics import RunMetrics

__all__ = ["run_profile"]

log = logging.getLogger("aiperf")


@dataclass
class RunOutcome:
    """What the engine measured: the metrics, the records' kept columns, the record files written."""

    metrics: RunMetrics
    records: Records
    record_files: list[Path]
    was_cancelled: bool
    anchor: ClockAnchor
    workers: ReportsWorkers | None  # the Ray engine, which reports on its workers
    engine_finished_s: float  # time.monotonic() when the engine had finished
    records_taken: int
    batches: int  # non-empty batches taken
    batch_busy_s: float  # time spent on them while the engine ran


def run_profile(config: ProfileConfig, *, console: Console | None = None, print_table: bool = True,
                owns_process: bool = False) -> Run:
    """Runs one benchmark and returns its Run. `owns_process`: the caller is the `aiperf` command, so settings
    that outlive the run (glibc's mmap threshold) may be changed; everything else is put back afterwards."""
    artifact_dir = make_artifact_dir(config)
    with run_log(artifact_dir, config.log_level) as log_file, Interrupts() as interrupts:
        try:
            plan = prepare(config, artifact_dir)
            with file_descriptors(plan.connections):  # put back once the engine and its sockets are gone
                if owns_process:
                    fix_mmap_threshold()
                outcome = execute(plan, interrupts)
            return publish(plan, outcome, console=console, print_table=print_table, log_file=log_file)
        except ConfigError as e:
            log.error("%s", e)
            raise


def make_engine(plan: RunPlan) -> EngineLike:
    """The C++ engine, or with --ray-address one over Ray workers (same interface)."""
    config, workload = plan.config, plan.workload
    engine: EngineLike
    try:
        if config.ray_address:
            from aiperf.run.distributed import require_ray

            require_ray()  # before numpy-heavy imports: a clear message when the extra is missing
            from aiperf.run.distributed.engine import DistributedEngine

            engine = DistributedEngine(plan.engine_config, plan.bodies, workload, ray_address=config.ray_address,
                                       worker_count=config.ray_workers or 2)
        else:
            engine = Engine(plan.engine_config, plan.bodies, order=workload.order, sessions=workload.sessions,
                            turn_delays_ns=workload.turn_delays_ns, schedule_ns=workload.schedule_ns)
    except EngineError as e:
        raise RunError(redact_text(str(e), config.secret_values)) from None
    log.info("sending to %s: %s, %s sessions (%s requests), %d warm-up", redact_url(config.full_url),
             (f"request rate {config.request_rate}/s ({config.effective_arrival_pattern})" if config.request_rate
              else "fixed schedule" if config.fixed_schedule else f"concurrency {config.effective_concurrency}"),
             workload.session_count or "unbounded", workload.total_requests or "unbounded",
             config.warmup_request_count)
    return engine


def execute(plan: RunPlan, interrupts: Interrupts) -> RunOutcome:
    """Runs the engine; its records are collected and written while it runs. The engine is gone on return."""
    engine = make_engine(plan)
    session = RunSession(plan, engine)
    started = time.monotonic()
    try:
        was_cancelled = drive_engine(engine, plan.config, interrupts, total=plan.workload.total_requests,
                                     on_started=session.start, on_batch=session.add)
        finished = time.monotonic()
        log.info("engine finished in %.3f s%s", finished - started, " (cancelled)" if was_cancelled else "")
        session.add(engine.drain())
    finally:
        record_files = session.close()
    metrics, records = session.finish()
    collector = session.collector
    return RunOutcome(metrics=metrics, records=records, record_files=record_files, was_cancelled=was_cancelled,
                      anchor=session.anchor, workers=engine if isinstance(engine, ReportsWorkers) else None,
                      engine_finished_s=finished, records_taken=collector.count, batches=collector.batches,
                      batch_busy_s=collector.busy_s)


def publish(plan: RunPlan, outcome: RunOutcome, *, console: Console | None, print_table: bool,
            log_file: Path) -> Run:
    """The summary and time exports, the console table, the workers' report; the Run. A run in which no profiling
    request succeeded raises NoSuccessfulRequestsError after all that (exit code 3), unless it was cancelled."""
    from aiperf.analysis.runs import Run
    from aiperf.results.console import print_summary
    from aiperf.results.export import write_summary_files
    from aiperf.results.timeslices import write_time_exports

    config, metrics, anchor = plan.config, outcome.metrics, outcome.anchor
    summary_json, summary_csv, inputs_json = write_summary_files(
        plan.artifact_dir, metrics=metrics, request_inputs=plan.inputs, input_config=config.to_dict(),
        aiperf_version=__version__, was_cancelled=outcome.was_cancelled)
    files = [summary_json, summary_csv, *outcome.record_files, inputs_json]
    files += write_time_exports(plan.artifact_dir, columns=outcome.records, per_record=metrics.per_record,
                                slice_duration_s=config.slice_duration, export_level=config.export_level,
                                anchor=anchor, goodput=config.goodput_slos or None, input_config=config.to_dict())
    log.info("%d records taken in %d batches (%.3f s of metrics and export lines during the run); summary "
             "and exports finished %.3f s after the run", outcome.records_taken, outcome.batches,
             outcome.batch_busy_s, time.monotonic() - outcome.engine_finished_s)
    for err in metrics.errors:
        log.warning("errors: %d x %s %s: %s", err["count"], err.get("code"), err["type"], err["message"])
    if print_table:
        print_summary(metrics, endpoint=plan.endpoint, console=console, exported_files=files, log_file=log_file,
                      was_cancelled=outcome.was_cancelled)
    if outcome.workers is not None:
        _, lines = outcome.workers.report(plan.artifact_dir)  # profile_export_workers.json
        for line in lines:
            log.info("%s", line)
            if print_table:
                print(line)
    run = Run.from_run(config=config, endpoint=plan.endpoint, metrics=metrics, records=outcome.records,
                       request_inputs=plan.inputs, artifact_dir=plan.artifact_dir,
                       was_cancelled=outcome.was_cancelled, anchor_wall_ns=anchor.wall_ns,
                       anchor_mono_ns=anchor.mono_ns, request_id_prefix=plan.request_id_prefix)
    if not outcome.was_cancelled:
        _require_a_success(metrics, run)
    return run


def _require_a_success(metrics: RunMetrics, run: Run) -> None:
    """Raises NoSuccessfulRequestsError when no profiling request succeeded (AIPerf exits non-zero then too)."""
    if metrics.summary.get("request_count", {}).get("avg", 0):
        return
    failed = sum(error["count"] for error in metrics.errors)
    if metrics.errors:
        top = metrics.errors[0]
        code = f" {top['code']}" if top.get("code") is not None else ""
        message = top["message"] if len(top["message"]) <= 200 else top["message"][:200] + "…"
        why = f"all {failed} failed, {top['count']} of them {top['type']}{code}: {message}"
    else:
        why = "none finished"
    error = NoSuccessfulRequestsError(f"no profiling request succeeded ({why}); the artifacts are in "
                                      f"{run.artifact_dir}", run)
    log.error("%s", error)
    raise error
