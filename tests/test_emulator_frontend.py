"""The front-end life cycle: start once, stop idempotently and within bounds, close what was
opened, also when the thread is slow or stops itself."""

from __future__ import annotations

import threading

import pytest

from ekarta.emulator.frontend import FrontEnd
from ekarta.errors import EmulatorError


class Ticker(FrontEnd):
    """A front-end whose thread counts until stopped; ``hold`` keeps it past a stop."""

    def __init__(self, *, fail_open: bool = False) -> None:
        super().__init__()
        self.fail_open = fail_open
        self.events: list[str] = []
        self.hold = threading.Event()
        self.ticks = 0
        self.woken = threading.Event()

    def describe(self) -> str:
        return "ticker"

    def _open(self) -> None:
        if self.fail_open:
            raise EmulatorError("cannot open the ticker")
        self.events.append("open")

    def _run(self) -> None:
        while not self._stopping.is_set() or self.hold.is_set():
            self.ticks += 1
            self.woken.wait(0.01)

    def _wake(self) -> None:
        self.events.append("wake")
        self.woken.set()

    def _close(self, ended: bool) -> None:
        self.events.append(f"close ended={ended}")

    def _started(self) -> None:
        self.events.append("started")


def test_start_opens_once_and_stop_closes_once() -> None:
    ticker = Ticker()
    with ticker:
        ticker.start()
        assert ticker.running
        assert ticker.events == ["open", "started"]
    assert not ticker.running
    assert ticker.events == ["open", "started", "wake", "close ended=True"]
    ticker.stop()
    assert ticker.events[-1] == "close ended=True" and len(ticker.events) == 4


def test_a_failed_open_starts_nothing() -> None:
    ticker = Ticker(fail_open=True)
    with pytest.raises(EmulatorError, match="cannot open"):
        ticker.start()
    assert not ticker.running
    ticker.stop()
    assert ticker.events == []


def test_a_thread_that_does_not_end_in_time_keeps_what_it_uses(caplog) -> None:
    ticker = Ticker()
    ticker.start()
    ticker.hold.set()
    try:
        ticker.stop(timeout=0.1)
        assert ticker.events[-1] == "close ended=False"
        assert "did not stop within 0.1 s" in caplog.text
    finally:
        ticker.hold.clear()


def test_stop_from_the_serving_thread_does_not_wait_for_itself() -> None:
    done = threading.Event()

    class SelfStopping(Ticker):
        def _run(self) -> None:
            self.stop()
            done.set()

    ticker = SelfStopping()
    ticker.start()
    assert done.wait(5)
    assert ticker.events[-1] == "close ended=False"
    assert not ticker.running


def test_a_stopped_front_end_starts_again() -> None:
    ticker = Ticker()
    for _ in range(2):
        ticker.start()
        assert ticker.running
        ticker.stop()
    assert ticker.events.count("open") == 2
    assert ticker.events.count("close ended=True") == 2
