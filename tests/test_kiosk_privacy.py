"""The next person at the kiosk never sees the previous holder's data: after each way the data
hide (the Hide button, Escape, the interval, a second card, the reader lost), nothing of the
holder's (names, birth date, card number, coupons) is left on the screen as drawn, in any widget,
or anywhere the app's objects reach.

The app's object graph is walked from the app itself (its widgets, their contents and caches,
the compositor, the timers and message queues), not through modules, classes, functions or
frames: those hold the program and this test's own variables, not the app's state.
"""

from __future__ import annotations

import gc
import re
import types
from collections.abc import Callable, Iterator
from datetime import date

import pytest

from ekarta.terminal.apps.base import CardArrived, ReaderState, TapDone
from ekarta.terminal.apps.kiosk import KioskApp
from ekarta.terminal.apps.kiosk_widgets import KioskCard
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.image import CardImage
from ekarta.transit.model.values import CardRecord, SignedCoupon
from tests.support.apps import anyio_backend  # noqa: F401 (the fixture)
from tests.support.kiosk import (
    BIRTH,
    FIRST_NAME,
    HOLDER_DATA,
    NUMBER,
    STUDENT_SERIALS,
    SURNAME,
    anonymous_card,
    full_card,
    personal_card,
    screen_text,
)
from tests.support.outcomes import AT

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

SIZE = (100, 36)

_NOT_STATE = (types.ModuleType, type, types.FunctionType, types.BuiltinFunctionType,
              types.CodeType, types.FrameType, types.CoroutineType, types.GeneratorType,
              types.AsyncGeneratorType, types.MethodType, types.CellType)
"""What the walk does not enter: the program, and the frames of whatever runs."""


def reachable(root: object) -> Iterator[object]:
    """Every object ``root`` reaches through the state of objects (see the module
    documentation)."""
    seen = {id(root)}
    todo = [root]
    while todo:
        obj = todo.pop()
        yield obj
        for ref in gc.get_referents(obj):
            if id(ref) in seen or isinstance(ref, _NOT_STATE):
                continue
            if isinstance(ref, dict) and "__builtins__" in ref:
                continue  # a module's globals
            seen.add(id(ref))
            todo.append(ref)


def _pattern(secret: str) -> re.Pattern[str]:
    # a serial or a date standing alone, not four digits inside some long number of the
    # toolkit's own (a random id holds "7004" as often as not)
    before = r"(?<![0-9])" if secret[0].isdigit() else ""
    after = r"(?![0-9])" if secret[-1].isdigit() else ""
    return re.compile(before + re.escape(secret) + after)


_SECRETS = tuple((secret, _pattern(secret)) for secret in HOLDER_DATA)


def _held(text: str) -> list[str]:
    return [secret for secret, pattern in _SECRETS if pattern.search(text)]


def holder_traces(app: KioskApp) -> list[str]:
    """What of the student's the app still holds: on the screen, in a widget's content, in any
    object it reaches (a text with a name, a number or a serial in it; the card, its record, a
    coupon, the birth date)."""
    found = [f"on the screen: {secret!r}" for secret in _held(screen_text(app))]
    for widget in app.query("*"):
        shown = str(getattr(widget, "content", "")) + "\n" + str(getattr(widget, "label", ""))
        found += [f"in {widget!r}: {secret!r}" for secret in _held(shown)]
    for obj in reachable(app):
        if isinstance(obj, str):
            found += [f"a text {obj[:60]!r}: {secret!r}" for secret in _held(obj)]
        elif isinstance(obj, CardImage | CardRecord) and _students(obj):
            found.append(f"the student's {type(obj).__name__} kept")
        elif isinstance(obj, SignedCoupon) and obj.serial in STUDENT_SERIALS:
            found.append(f"the student's coupon {obj.serial} kept")
        elif isinstance(obj, CardNumber) and obj == NUMBER:
            found.append("the card number kept")
        elif isinstance(obj, date) and obj == BIRTH:
            found.append("the birth date kept")
    return found


def _students(obj: CardImage | CardRecord) -> bool:
    record = obj.record if isinstance(obj, CardImage) else obj
    return record.card_number == NUMBER


async def shown(pilot) -> None:
    app = pilot.app
    app.post_message(CardArrived())
    app.post_message(TapDone(full_card()))
    await pilot.pause()
    assert f"{FIRST_NAME} {SURNAME}" in screen_text(app)
    assert holder_traces(app)  # the walk finds what is there


async def by_button(pilot) -> None:
    await pilot.click("#hide")


async def by_escape(pilot) -> None:
    await pilot.press("escape")


async def by_time(pilot) -> None:
    for _ in range(250):
        if not pilot.app.showing_result:
            return
        await pilot.pause(0.02)
    raise AssertionError("the data did not hide within 5 s")


async def by_a_second_card(pilot) -> None:
    pilot.app.post_message(CardArrived())
    pilot.app.post_message(TapDone(anonymous_card()))
    await pilot.pause()
    assert "Anonymní e-karta" in screen_text(pilot.app)


async def by_the_reader_lost(pilot) -> None:
    pilot.app.post_message(ReaderState(False, "pcsc: no reader"))


async def by_a_new_card_being_read(pilot) -> None:
    pilot.app.post_message(CardArrived())


@pytest.mark.parametrize("hide", [by_button, by_escape, by_time, by_a_second_card,
                                  by_the_reader_lost, by_a_new_card_being_read],
                         ids=lambda hide: hide.__name__)
async def test_nothing_of_the_holder_is_left_after_the_data_hide(hide: Callable) -> None:
    app = KioskApp(clock=lambda: AT, hide_after=1)
    async with app.run_test(size=SIZE) as pilot:
        await shown(pilot)
        await hide(pilot)
        await pilot.pause()
        await pilot.pause()
        gc.collect()
        assert holder_traces(app) == []
        assert app.outcome is None or app.outcome.image is None \
            or not app.outcome.image.record.personal
        if hide is not by_a_second_card:
            assert not app.query(KioskCard)


async def test_the_language_switched_back_and_forth_leaves_no_earlier_card() -> None:
    """Each switch builds the card anew: the card hidden after it leaves nothing either."""
    app = KioskApp(clock=lambda: AT)
    async with app.run_test(size=SIZE) as pilot:
        app.post_message(TapDone(personal_card()))
        await pilot.pause()
        for _ in range(3):
            await pilot.press("f4")
            await pilot.pause()
        assert len(app.query(KioskCard)) == 1
        await pilot.click("#hide")
        await pilot.pause()
        gc.collect()
        assert holder_traces(app) == []
