"""Interrupts (aiperf.run.interrupts): what a first SIGINT or SIGTERM does at each stage of a run, in-process; the
second signal (os._exit(130)) is tested on a subprocess in tests/python/e2e/test_interruption.py."""
from __future__ import annotations

import os
import signal

import pytest

from aiperf.run.interrupts import Interrupts


class _Engine:
    stopped = False

    def stop(self) -> None:
        self.stopped = True


def test_a_signal_before_the_engine_runs_abandons_the_run():
    with Interrupts(), pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGTERM)


def test_a_signal_while_the_engine_runs_stops_it_and_marks_the_run_cancelled(capfd):
    engine = _Engine()
    with Interrupts() as interrupts:
        interrupts.engine = engine
        os.kill(os.getpid(), signal.SIGINT)
    assert engine.stopped and interrupts.cancelled and interrupts.count == 1
    assert "SIGINT: stopping the run and writing what was measured" in capfd.readouterr().err


def test_a_signal_after_the_run_lets_the_exports_finish(capfd):
    with Interrupts() as interrupts:
        interrupts.engine_finished = True
        os.kill(os.getpid(), signal.SIGTERM)
    assert not interrupts.cancelled
    assert "SIGTERM: finishing the exports" in capfd.readouterr().err


def test_the_previous_handlers_are_put_back():
    def mine(signum, frame):
        pass

    previous = signal.signal(signal.SIGTERM, mine)
    try:
        with Interrupts():
            assert signal.getsignal(signal.SIGTERM) is not mine
        assert signal.getsignal(signal.SIGTERM) is mine
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        signal.signal(signal.SIGTERM, previous)
