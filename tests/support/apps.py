"""Test support for the terminal apps on Textual's pilot: each app with no worker and its clock
at 10:00 in Prague (:func:`validator_app`, :func:`inspector_app`, :func:`kiosk_app`), the
workers' messages posted before a snapshot (:func:`posting`), the headline read back, waiting
for what a worker does (:func:`until`), and engines that answer as each app's engine does and
note the threads that called them, for the tests that run the real card loop.

The apps' async tests run on anyio's pytest plugin with asyncio, as Textual needs: a module
imports :func:`anyio_backend` (the fixture) and marks its tests ``anyio``.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from textual.message import Message
from textual.pilot import Pilot

from ekarta.desfire.client import Transceiver
from ekarta.terminal.apps.base import Lists, ListsState, TerminalApp
from ekarta.terminal.apps.inspector import InspectorApp
from ekarta.terminal.apps.kiosk import KioskApp
from ekarta.terminal.apps.validator import ValidatorApp
from ekarta.terminal.apps.widgets import BigText
from ekarta.terminal.engine import EngineStatus, Position
from ekarta.terminal.engine import ListsState as EngineLists
from ekarta.terminal.inspect import ShiftSummary
from ekarta.terminal.outcome import Outcome, Progress, Source, TapOutcome
from ekarta.transit.errors import InvalidCardNumber
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.values import Reason
from tests.support.outcomes import AT, LOADED, SHIFT, SYNCED, checked, no_verdict, outcome

__all__ = ["FRESH", "AnsweringInspector", "AnsweringKiosk", "AnsweringValidator",
           "anyio_backend", "headline", "inspector_app", "kiosk_app", "posting", "until",
           "validator_app"]

FRESH = ListsState(AT - SYNCED, False, 0)
"""Lists synced two hours ago, the journal sent."""

GET_VERSION = bytes.fromhex("9060000000")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def validator_app(**options: Any) -> ValidatorApp:
    """The validator with no worker, in zone 1 on line 12, its clock at 10:00 in Prague."""
    return ValidatorApp(**{"zone": 1, "line": 12, "clock": lambda: AT, "clear_after": 60,
                           **options})


def inspector_app(**options: Any) -> InspectorApp:
    """The inspector's app with no worker, in zone 1 on line 14, its clock at 10:00 in
    Prague."""
    return InspectorApp(**{"zone": 1, "line": 14, "clock": lambda: AT, "clear_after": 60,
                           **options})


def kiosk_app(**options: Any) -> KioskApp:
    """The kiosk with no worker, its clock at 10:00 in Prague."""
    return KioskApp(**{"clock": lambda: AT, **options})


def posting(*messages: Message, press: Sequence[str] = (),
            then: Callable[[Pilot[None]], Awaitable[None]] | None = None
            ) -> Callable[[Pilot[None]], Awaitable[None]]:
    """A ``run_before`` for :func:`snap_compare` that posts ``messages`` as the workers do
    (each handled before the next), presses ``press``, then runs ``then(pilot)``."""
    async def run_before(pilot: Pilot[None]) -> None:
        for message in messages:
            pilot.app.post_message(message)
            await pilot.pause()
        if press:
            await pilot.press(*press)
        if then is not None:
            await then(pilot)
        await pilot.pause()
    return run_before


def headline(app: TerminalApp[Any]) -> str:
    """The panel's headline as its block letters say it."""
    return app.query_one(BigText).text


async def until(pilot: Pilot[None], condition: Callable[[], bool],
                timeout: float = 5.0) -> None:
    """Wait until ``condition()`` holds; an AssertionError after ``timeout`` seconds."""
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError("not within the time")


class _Answering:
    """Notes which threads called the engine, and asks the card in the field its version."""

    def __init__(self) -> None:
        self.threads: set[int] = set()

    def _called(self) -> None:
        self.threads.add(threading.get_ident())

    def _ask_card(self, transceiver: Transceiver) -> None:
        self._called()
        assert transceiver.transceive(GET_VERSION)[-2:] == b"\x91\xaf"


class AnsweringValidator(_Answering):
    """Answers as the tap engine does (the card's GetVersion is really asked, a number is really
    parsed), and notes which thread called it."""

    def __init__(self) -> None:
        super().__init__()
        self.positions: list[tuple[int, int | None]] = []
        self.taps = 0

    def tap(self, transceiver: Transceiver) -> TapOutcome:
        self._ask_card(transceiver)
        self.taps += 1
        return outcome(Reason.VALID, repeated=self.taps > 1)

    def check_number(self, text: str) -> TapOutcome:
        self._called()
        try:
            number = CardNumber.parse(text, strict=True)
        except InvalidCardNumber:
            return no_verdict(Outcome.REFUSED_NUMBER)
        return outcome(Reason.CARD_BLOCKED, source=Source.BARCODE, card_number=number,
                       recorded=False)

    def status(self) -> Lists:
        self._called()
        return Lists(timedelta(minutes=5), False, self.taps)

    def move_to(self, zone: int | None, line: int | None) -> None:
        self._called()
        if zone is not None and zone > 255:
            raise ValueError(f"zone must be 1..255, not {zone}")
        self.positions.append((zone, line))


class AnsweringInspector(_Answering):
    """Answers as the inspection engine does (the card's GetVersion is really asked, a number
    is really parsed), tells its progress, waits for the test to let the writing finish, and
    notes which thread called it."""

    def __init__(self) -> None:
        super().__init__()
        self.writing = threading.Event()
        self.recorded: list[tuple[TapOutcome, bool, Reason | None, str | None]] = []
        self.checks = 0

    def check(self, transceiver: Transceiver, *, uid: bytes | None = None,
              progress: Callable[[Progress], None] | None = None) -> TapOutcome:
        self._ask_card(transceiver)
        assert uid is not None and progress is not None
        progress(Progress(1, 2, "load-coupon 4300"))
        assert self.writing.wait(5)
        progress(Progress(2, 2, "commit"))
        self.checks += 1
        return LOADED

    def check_number(self, text: str) -> TapOutcome:
        self._called()
        number = CardNumber.parse(text, strict=True)
        return checked(Reason.NO_COUPON, source=Source.BARCODE, card_number=number,
                       last_validation=None)

    def record_outcome(self, check: TapOutcome, *, valid: bool, reason: Reason | None = None,
                       note: str | None = None) -> bool:
        self._called()
        self.recorded.append((check, valid, reason, note))
        return True

    def shift(self) -> ShiftSummary:
        self._called()
        return replace(SHIFT, recorded=len(self.recorded))

    def status(self) -> Lists:
        self._called()
        return Lists(timedelta(minutes=5), False, len(self.recorded))

    def move_to(self, zone: int | None, line: int | None) -> None:
        self._called()


class AnsweringKiosk(_Answering):
    """Answers as the kiosk's engine does with ``outcome``: the card's GetVersion is really
    asked, the progress reported step by step (the last step once the test releases it); it
    notes the threads that called it."""

    def __init__(self, outcome: TapOutcome) -> None:
        super().__init__()
        self.outcome = outcome
        self.views = 0
        self.release = threading.Event()

    def view(self, transceiver: Transceiver, *,
             progress: Callable[[Progress], None]) -> TapOutcome:
        self._ask_card(transceiver)
        progress(Progress(0, 2, "load-coupon 7002"))
        assert self.release.wait(5)
        progress(Progress(1, 2, "commit"))
        self.views += 1
        return self.outcome

    def status(self) -> EngineStatus:
        self._called()
        return EngineStatus(Position(), EngineLists(AT - timedelta(minutes=5),
                                                    timedelta(minutes=5), False), self.views)
