"""The kiosk on the screen: Textual's pilot clicks and presses, the snapshots keep what every
screen looks like (``tests/__snapshots__/test_kiosk_app/``; after a deliberate change,
``pytest tests/test_kiosk_app.py --snapshot-update`` and look at the SVGs).

The screens are driven by the messages the app's workers post (the engine's outcomes in
:class:`TapDone`, :class:`Loading`, :class:`ReaderState`...), posted here as the workers post
them; the tests at the end run the real card loop on an emulated card with an engine that
answers as the kiosk's engine does.  The screen is 100 by 36 and the clock stands at 10:00 in
Prague on 1 December 2026.
"""

from __future__ import annotations

import threading
from contextlib import nullcontext

import pytest

from ekarta.desfire.client import Transceiver
from ekarta.emulator import VirtualCard
from ekarta.emulator.reader import EmulatorReader
from ekarta.errors import NoReaderError
from ekarta.terminal.apps.base import CardArrived, OfficeState, ReaderState, TapDone
from ekarta.terminal.apps.kiosk import KioskApp, Loading
from ekarta.terminal.apps.kiosk_widgets import KioskCard
from ekarta.terminal.apps.widgets import VerdictPanel
from ekarta.terminal.outcome import Outcome, TapOutcome
from ekarta.transit.model.values import Reason
from tests.support.apps import (
    FRESH,
    anyio_backend,  # noqa: F401 (the fixture)
    headline,
    posting,
    until,
)
from tests.support.apps import AnsweringKiosk as AnsweringEngine
from tests.support.apps import kiosk_app as kiosk
from tests.support.kiosk import (
    FIRST_NAME,
    SURNAME,
    anonymous_card,
    full_card,
    loading,
    no_card,
    not_active,
    personal_card,
    screen_text,
)

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

SIZE = (100, 36)


def shown_text(app: KioskApp) -> str:
    return screen_text(app)


# --- snapshots ------------------------------------------------------------------------------------


def test_welcome(snap_compare) -> None:
    assert snap_compare(kiosk(), terminal_size=SIZE, run_before=posting(FRESH, OfficeState(True)))


def test_personal_card(snap_compare) -> None:
    """The student's card: the coupon valid now, the one loaded now starting later, the gap
    between them on the timeline, the purse and the last events."""
    assert snap_compare(kiosk(), terminal_size=SIZE, run_before=posting(
        FRESH, OfficeState(True), CardArrived(), TapDone(personal_card())))


def test_anonymous_card_in_english(snap_compare) -> None:
    assert snap_compare(kiosk(lang="en"), terminal_size=SIZE, run_before=posting(
        FRESH, OfficeState(True), TapDone(anonymous_card())))


def test_loading_in_progress(snap_compare) -> None:
    assert snap_compare(kiosk(), terminal_size=SIZE, run_before=posting(
        FRESH, OfficeState(True), CardArrived(), Loading(loading())))


def test_full_card_with_a_coupon_waiting(snap_compare) -> None:
    """Four coupons on the card (a dog's among them): the yearly coupon paid at the office
    waits for a free place, the purse credit was made."""
    assert snap_compare(kiosk(), terminal_size=SIZE, run_before=posting(
        FRESH, OfficeState(True), TapDone(full_card())))


@pytest.mark.parametrize("reason", [Reason.CARD_BLOCKED, Reason.CARD_EXPIRED,
                                    Reason.CARD_NOT_ACTIVE], ids=lambda r: r.name.lower())
def test_card_not_active(snap_compare, reason: Reason) -> None:
    assert snap_compare(kiosk(), terminal_size=SIZE, run_before=posting(
        FRESH, OfficeState(True), TapDone(not_active(reason))))


@pytest.mark.parametrize("kind", [Outcome.NOT_A_TRANSIT_CARD, Outcome.NOT_ISSUED,
                                  Outcome.UNREADABLE, Outcome.TAP_AGAIN],
                         ids=lambda kind: kind.value)
def test_no_card_to_show(snap_compare, kind: Outcome) -> None:
    assert snap_compare(kiosk(), terminal_size=SIZE, run_before=posting(
        FRESH, OfficeState(True), TapDone(no_card(kind))))


def test_hidden_by_the_button(snap_compare) -> None:
    async def hide(pilot) -> None:
        await pilot.click("#hide")
    assert snap_compare(kiosk(), terminal_size=SIZE, run_before=posting(
        FRESH, OfficeState(True), TapDone(personal_card()), then=hide))


def test_hidden_by_time(snap_compare) -> None:
    async def wait(pilot) -> None:
        await pilot.pause(0.5)
    assert snap_compare(kiosk(hide_after=0.2), terminal_size=SIZE, run_before=posting(
        FRESH, OfficeState(True), TapDone(personal_card()), then=wait))


def test_a_second_card_replaces_the_first(snap_compare) -> None:
    assert snap_compare(kiosk(), terminal_size=SIZE, run_before=posting(
        FRESH, OfficeState(True), CardArrived(), TapDone(personal_card()), CardArrived(),
        TapDone(anonymous_card())))


def test_out_of_order(snap_compare) -> None:
    assert snap_compare(kiosk(), terminal_size=SIZE, run_before=posting(
        FRESH, OfficeState(False), ReaderState(False, "pn532: no such device")))


# --- behaviour ------------------------------------------------------------------------------------


async def test_the_data_hide_after_their_time_and_a_touch_restarts_it_up_to_the_maximum(
) -> None:
    now = [100.0]
    app = kiosk(hide_after=20, hide_max=60, monotonic=lambda: now[0])
    async with app.run_test(size=SIZE) as pilot:
        app.post_message(TapDone(personal_card()))
        await pilot.pause()
        assert app.showing_card and app.clear_after == 20
        now[0] += 15
        await pilot.click("#card-pane")  # a touch anywhere
        assert app.showing_card and app.clear_after == 20
        now[0] += 35
        await pilot.click("#card-pane")  # 10 s left of the maximum
        assert app.showing_card and app.clear_after == pytest.approx(10)
        now[0] += 11
        await pilot.click("#card-pane")  # past the maximum: hidden at once
        await pilot.pause()
        assert not app.showing_result and app.outcome is None
        assert not app.query(KioskCard)


async def test_a_short_interval_hides_by_itself() -> None:
    app = kiosk(hide_after=3)  # short, yet longer than a loaded machine takes to draw the card
    async with app.run_test(size=SIZE) as pilot:
        app.post_message(TapDone(personal_card()))
        await pilot.pause()
        assert FIRST_NAME in shown_text(app)
        await until(pilot, lambda: not app.showing_result)
        await pilot.pause()
        assert headline(app) == "Přiložte kartu"
        assert app.outcome is None and not app.query(KioskCard)


async def test_escape_hides_and_the_language_switches_the_card_too() -> None:
    app = kiosk()
    async with app.run_test(size=SIZE) as pilot:
        app.post_message(TapDone(personal_card()))
        await pilot.pause()
        assert "Kupony platné nyní a budoucí" in shown_text(app)
        await pilot.click("#language")
        await pilot.pause()
        assert app.lang == "en" and "Coupons valid now and later" in shown_text(app)
        assert str(app.query_one("#hide").label) == "HIDE"
        assert f"{FIRST_NAME} {SURNAME}" in shown_text(app)
        await pilot.press("escape")
        await pilot.pause()
        assert headline(app) == "Present your card" and app.outcome is None


async def test_ctrl_q_ctrl_c_do_not_quit_the_service_keys_do() -> None:
    app = kiosk()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+q", "ctrl+c", "ctrl+p")
        await pilot.pause()
        assert app.is_running and len(app.screen_stack) == 1
        await pilot.press("ctrl+x", "ctrl+c")
        await pilot.pause()
        assert not app.is_running


async def test_a_lost_reader_is_out_of_order_and_hides_the_card() -> None:
    app = kiosk()
    async with app.run_test(size=SIZE) as pilot:
        app.post_message(TapDone(personal_card()))
        await pilot.pause()
        app.post_message(ReaderState(False, "pcsc: no reader"))
        await pilot.pause()
        assert headline(app) == "MIMO PROVOZ"
        assert app.query_one(VerdictPanel).has_class("-bad")
        assert app.outcome is None and not app.query(KioskCard)
        app.post_message(ReaderState(True))
        await pilot.pause()
        assert headline(app) == "Přiložte kartu"


def test_the_hide_times_are_checked() -> None:
    with pytest.raises(ValueError, match="at most the maximum"):
        KioskApp(hide_after=30, hide_max=20)
    with pytest.raises(ValueError, match="above 0"):
        KioskApp(hide_after=0)


# --- with the card loop ---------------------------------------------------------------------------


async def test_a_card_on_the_reader_is_loaded_then_shown_in_the_reader_loop_s_thread() -> None:
    card = VirtualCard()
    engine = AnsweringEngine(personal_card())
    app = kiosk(engine=lambda: nullcontext(engine), reader=lambda: EmulatorReader(card=card))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: headline(app) == "NAHRÁVÁM")
        assert "kupon 7002 (1 z 2)" in shown_text(app)
        engine.release.set()
        await until(pilot, lambda: f"{FIRST_NAME} {SURNAME}" in shown_text(app))
        await until(pilot, lambda: "Neodesláno 1" in shown_text(app))
    assert len(engine.threads) == 1 and threading.get_ident() not in engine.threads


async def test_a_reader_that_goes_and_comes_back() -> None:
    card = VirtualCard()
    card.remove()
    attempts: list[int] = []

    def reader() -> EmulatorReader:
        attempts.append(1)
        if len(attempts) < 3:
            raise NoReaderError("pcsc: no reader")
        return EmulatorReader(card=card)

    engine = AnsweringEngine(anonymous_card())
    engine.release.set()
    app = kiosk(engine=lambda: nullcontext(engine), reader=reader)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: headline(app) == "MIMO PROVOZ")
        await until(pilot, lambda: headline(app) == "Přiložte kartu")
        card.insert()
        await until(pilot, lambda: "Anonymní e-karta" in shown_text(app))


async def test_an_engine_that_fails_shows_the_card_unreadable() -> None:
    class Failing(AnsweringEngine):
        def view(self, transceiver: Transceiver, *, progress) -> TapOutcome:
            raise RuntimeError("a store that cannot be read")

    app = kiosk(engine=lambda: nullcontext(Failing(personal_card())),
                reader=lambda: EmulatorReader(card=VirtualCard()))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: headline(app) == "NEČITELNÁ")
        assert app.outcome is not None and app.outcome.outcome is Outcome.UNREADABLE


async def test_a_card_loop_that_cannot_start_is_out_of_order() -> None:
    from ekarta.terminal.errors import TerminalConfigError

    def engine():
        raise TerminalConfigError("the device name 'kiosk' ends with no number")

    app = kiosk(engine=engine, reader=lambda: EmulatorReader(card=VirtualCard()))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.fault is not None)
        assert headline(app) == "MIMO PROVOZ"
        assert "Porucha: the device name 'kiosk' ends with no number" in shown_text(app)
        assert app.is_running
