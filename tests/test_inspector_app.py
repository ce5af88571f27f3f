"""The inspector's handheld on the screen: Textual's pilot presses its keys and its buttons, and
the snapshots keep what every screen looks like (``tests/__snapshots__/test_inspector_app/``;
after a deliberate change, ``pytest tests/test_inspector_app.py --snapshot-update`` and look at
the SVGs).

The screens are driven by the messages the app's workers post (:class:`TapDone` with the
engine's check, :class:`CheckProgress` while it writes, :class:`ShiftReady`...); the tests at
the end run the real reader loop on an emulated card with an engine that answers as the
inspection engine does.  The terminal is 80 by 24 and the clock stands at 10:00 in Prague.
"""

from __future__ import annotations

import threading
from contextlib import nullcontext
from dataclasses import replace

import pytest
from textual.widgets import Button, Input, Static

from ekarta.emulator import VirtualCard
from ekarta.emulator.reader import EmulatorReader
from ekarta.sync.messages import ActionKind
from ekarta.terminal.apps.base import CardArrived, OfficeState, TapDone
from ekarta.terminal.apps.inspector import (
    CheckProgress,
    InspectorApp,
    OutcomeRecorded,
    ShiftReady,
)
from ekarta.terminal.apps.inspector_screens import OutcomeForm, ShiftScreen
from ekarta.terminal.apps.inspector_view import Recorded
from ekarta.terminal.apps.widgets import BigText, EntryLine, StatusLine
from ekarta.terminal.outcome import ActionResult, ActionState, Outcome, Progress, Source
from ekarta.transit.model.values import Reason
from tests.support.apps import (
    FRESH,
    anyio_backend,  # noqa: F401 (the fixture)
    headline,
    posting,
    until,
)
from tests.support.apps import AnsweringInspector as AnsweringEngine
from tests.support.apps import inspector_app as app
from tests.support.kiosk import ANONYMOUS
from tests.support.outcomes import (
    COUPON,
    ENDED,
    HOLDER,
    LOADED,
    OFFICE,
    SHIFT,
    checked,
    load,
    no_verdict,
)

# the async tests run on anyio's pytest plugin (with asyncio, as Textual needs)
pytestmark = [pytest.mark.slow, pytest.mark.anyio]

SIZE = (80, 24)
NAME = HOLDER.first_name
NO_COUPON = checked(Reason.NO_COUPON, slots=(ENDED,))


def screen_text(inspector: InspectorApp) -> str:
    """Every text of the frame (under a form or a summary too), and of the screen on top."""
    main = inspector.screen_stack[0]
    parts = [main.query_one(StatusLine).render(), main.query_one("#lines").render(),
             main.query_one(EntryLine).render(), main.query_one(BigText).text]
    parts.extend(str(button.label) for button in main.query(Button) if button.display)
    if inspector.screen is not main:
        parts.extend(static.render() for static in inspector.screen.query(Static))
        parts.extend(str(button.label) for button in inspector.screen.query(Button))
    return "\n".join(str(part) for part in parts)


# --- snapshots ------------------------------------------------------------------------------------


def test_welcome(snap_compare) -> None:
    assert snap_compare(app(), terminal_size=SIZE, run_before=posting(FRESH, OfficeState(True)))


def test_valid_with_a_coupon_loaded_now_and_a_credit_waiting(snap_compare) -> None:
    assert snap_compare(app(), terminal_size=SIZE,
                        run_before=posting(FRESH, OfficeState(True), TapDone(LOADED)))


def test_invalid_without_a_coupon(snap_compare) -> None:
    assert snap_compare(app(), terminal_size=SIZE,
                        run_before=posting(FRESH, OfficeState(True), TapDone(NO_COUPON)))


def test_blocked_card_written_blocked(snap_compare) -> None:
    check = checked(Reason.CARD_BLOCKED, blocked_written=True, actions=(
        ActionResult(33, ActionKind.WRITE_BLOCKED, ActionState.DONE),
        load(OFFICE, ActionState.WAITING, refusal=Reason.CARD_BLOCKED)))
    assert snap_compare(app(), terminal_size=SIZE,
                        run_before=posting(FRESH, OfficeState(True), TapDone(check)))


def test_loads_in_progress(snap_compare) -> None:
    assert snap_compare(app(), terminal_size=SIZE, run_before=posting(
        FRESH, OfficeState(True), CardArrived(), CheckProgress(Progress(1, 3, "load-coupon 4300"))))


def test_barcode_fallback_for_a_mute_chip(snap_compare) -> None:
    """The chip did not answer; the inspector typed the card's number: the verdict of the
    synced lists, marked as such, no name (the lists hold none)."""
    check = checked(source=Source.BARCODE, last_validation=None, recorded=False,
                    image=replace(LOADED.image, record=replace(
                        HOLDER, first_name="-", surname="-", birth_date=None),
                        slots=(COUPON,) + (None,) * 7, events=()))
    assert snap_compare(app(), terminal_size=SIZE, run_before=posting(
        FRESH, OfficeState(True), TapDone(no_verdict(Outcome.UNREADABLE)),
        TapDone(check, typed=str(check.card_number))))


def test_torn_check_asks_to_tap_again(snap_compare) -> None:
    torn = no_verdict(Outcome.TAP_AGAIN, card_number=HOLDER.card_number,
                      actions=(load(OFFICE, ActionState.TORN),))
    assert snap_compare(app(), terminal_size=SIZE,
                        run_before=posting(FRESH, OfficeState(True), TapDone(torn)))


def test_outcome_form(snap_compare) -> None:
    assert snap_compare(app(), terminal_size=SIZE, run_before=posting(
        FRESH, OfficeState(True), TapDone(NO_COUPON), press=("f5", *"P-1234")))


def test_outcome_form_reasons(snap_compare) -> None:
    assert snap_compare(app(), terminal_size=SIZE, run_before=posting(
        FRESH, OfficeState(True), TapDone(NO_COUPON), press=("f5", *"P-1234", "f6")))


def test_outcome_recorded(snap_compare) -> None:
    recorded = Recorded(valid=False, reason=Reason.NO_COUPON, note="P-1234")
    assert snap_compare(app(), terminal_size=SIZE, run_before=posting(
        FRESH, OfficeState(True), TapDone(NO_COUPON), OutcomeRecorded(NO_COUPON, recorded)))


def test_shift_summary(snap_compare) -> None:
    assert snap_compare(app(), terminal_size=SIZE,
                        run_before=posting(FRESH, OfficeState(True), ShiftReady(SHIFT)))


def test_in_english(snap_compare) -> None:
    assert snap_compare(app(), terminal_size=SIZE, press=["f4"],
                        run_before=posting(FRESH, OfficeState(True), TapDone(LOADED)))


# --- behaviour ------------------------------------------------------------------------------------


async def test_the_check_clears_after_its_time_and_leaves_no_name_in_any_widget() -> None:
    inspector = app(clear_after=2.0)
    async with inspector.run_test(size=SIZE) as pilot:
        inspector.post_message(TapDone(NO_COUPON))
        await pilot.pause()
        assert headline(inspector) == "NEPLATNÁ" and NAME in screen_text(inspector)
        await pilot.press("f5")
        await pilot.pause()
        assert isinstance(inspector.screen, OutcomeForm)
        timer = inspector._clear_timer
        await pilot.press("P")  # each key in the form starts the time again
        assert inspector._clear_timer is not timer
        await until(pilot, lambda: not isinstance(inspector.screen, OutcomeForm))
        # the time is up: nothing recorded, the welcome back
        assert headline(inspector) == "Přiložte kartu"
        for widget in inspector.screen_stack[0].query("*"):
            assert NAME not in str(widget.render()), widget
        assert inspector.outcome is None and inspector.recorded is None


async def test_the_language_button_switches_once_per_touch() -> None:
    inspector = app()
    async with inspector.run_test(size=SIZE) as pilot:
        inspector.post_message(TapDone(NO_COUPON))
        await pilot.pause()
        await pilot.click("#language")
        assert inspector.lang == "en" and "INVALID" in screen_text(inspector)
        await pilot.pause(0.3)  # a button takes no press while it shows the last one
        await pilot.click("#language")
        assert inspector.lang == "cs" and "NEPLATNÁ" in screen_text(inspector)
        await pilot.press("f4")
        assert inspector.lang == "en"


async def test_the_form_keeps_its_keys_and_follows_the_language() -> None:
    inspector = app()
    async with inspector.run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        assert not isinstance(inspector.screen, OutcomeForm)  # nothing to record yet
        inspector.post_message(TapDone(no_verdict(Outcome.UNREADABLE)))
        await pilot.pause()
        await pilot.press("f5")
        assert not isinstance(inspector.screen, OutcomeForm)  # no verdict: nothing to record
        inspector.post_message(TapDone(NO_COUPON))
        await pilot.pause()
        await pilot.press("f5", *"42", "enter", "f2")
        form = inspector.screen
        assert isinstance(form, OutcomeForm)
        assert form.query_one(Input).value == "42"
        assert inspector.typed == "" and inspector.entry_mode is None  # nothing leaked beneath
        await pilot.press("f4")
        assert "F6 Invalid…" in screen_text(inspector)
        await pilot.press("f6")
        assert "Invalid: why? (note: 42)" in screen_text(inspector)
        assert form.query_one("#reason-0", Button).variant == "primary"  # the verdict's
        await pilot.press("escape", "escape")
        assert inspector.screen is inspector.screen_stack[0]
        assert headline(inspector) == "INVALID"


async def test_a_note_typed_before_its_field_has_the_focus_is_kept() -> None:
    inspector = app()
    async with inspector.run_test(size=SIZE) as pilot:
        inspector.post_message(TapDone(NO_COUPON))
        await pilot.pause()
        await pilot.press("f5")
        form = inspector.screen
        assert isinstance(form, OutcomeForm) and form.query_one(Input).has_focus
        form.set_focus(None)  # as right after F5, before the field took the focus
        await pilot.press(*"P-1", "backspace", "2")
        note = form.query_one(Input)
        assert note.value == "P-2" and note.has_focus
        assert inspector.typed == ""


async def test_a_new_check_closes_the_form_unrecorded() -> None:
    inspector = app()
    async with inspector.run_test(size=SIZE) as pilot:
        inspector.post_message(TapDone(NO_COUPON))
        await pilot.pause()
        await pilot.click("#record")
        assert isinstance(inspector.screen, OutcomeForm)
        inspector.post_message(CardArrived())
        await pilot.pause()
        assert inspector.screen is inspector.screen_stack[0]
        assert headline(inspector) == "..."
        inspector.post_message(TapDone(LOADED))
        await pilot.pause()
        assert headline(inspector) == "PLATNÁ"
        assert inspector.recorded is None


async def test_an_outcome_for_a_check_no_longer_shown_is_not_claimed_for_another() -> None:
    inspector = app()
    async with inspector.run_test(size=SIZE) as pilot:
        inspector.post_message(TapDone(LOADED))
        await pilot.pause()
        inspector.post_message(OutcomeRecorded(NO_COUPON, Recorded(valid=True)))
        await pilot.pause()
        assert "Zaznamenáno" not in screen_text(inspector)
        inspector.post_message(OutcomeRecorded(LOADED, Recorded(valid=True, note="ok")))
        await pilot.pause()
        assert "Zaznamenáno: platná; poznámka: ok" in screen_text(inspector)
        assert not inspector.query_one("#record", Button).display  # recorded once


async def test_someone_else_s_card_has_its_key_but_not_for_an_anonymous_card() -> None:
    inspector = app()
    async with inspector.run_test(size=SIZE) as pilot:
        chosen: list[Recorded | None] = []
        inspector.push_screen(OutcomeForm(checked(Reason.VALID), "en"), chosen.append)
        await pilot.pause()
        await pilot.press(*"ID", "f6")
        button = inspector.screen.query_one("#reason-10", Button)
        assert str(button.label) == "* someone else's card" and not button.disabled
        await pilot.press("*")
        await until(pilot, lambda: bool(chosen))
        assert chosen == [Recorded(valid=False, reason=Reason.NOT_THE_HOLDER, note="ID")]

        anonymous = checked(Reason.VALID, record=ANONYMOUS)
        inspector.push_screen(OutcomeForm(anonymous, "en"), chosen.append)
        await pilot.pause()
        await pilot.press("f6")
        assert inspector.screen.query_one("#reason-10", Button).disabled
        await pilot.press("*")
        await pilot.click("#reason-10")
        await pilot.pause()
        assert isinstance(inspector.screen, OutcomeForm) and len(chosen) == 1  # nothing chosen
        await pilot.press("1")
        await until(pilot, lambda: len(chosen) == 2)
        assert chosen[1] == Recorded(valid=False, reason=Reason.NO_COUPON)


# --- with the reader loop -------------------------------------------------------------------------


async def test_a_check_its_progress_its_outcome_and_the_shift_go_through_the_reader_loop(
) -> None:
    card = VirtualCard()
    engine = AnsweringEngine()
    inspector = app(engine=lambda: nullcontext(engine), reader=lambda: EmulatorReader(card=card))
    async with inspector.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: headline(inspector) == "ZÁPIS")
        assert "Nahrávám kupon 4300" in screen_text(inspector)
        engine.writing.set()
        await until(pilot, lambda: headline(inspector) == "PLATNÁ")
        assert "budoucí · nahráno nyní" in screen_text(inspector)
        await pilot.click("#record")
        await pilot.press(*"P-77")
        await pilot.click("#invalid")
        await pilot.click("#reason-3")
        await until(pilot, lambda: "Zaznamenáno: neplatná, mimo zóny kuponu; poznámka: P-77"
                    in screen_text(inspector))
        assert engine.recorded == [(LOADED, False, Reason.ZONE_NOT_COVERED, "P-77")]
        await until(pilot, lambda: "Neodesláno 1" in screen_text(inspector))

        await pilot.press("f6")
        await until(pilot, lambda: isinstance(inspector.screen, ShiftScreen))
        assert "Výsledek zaznamenán 1 (neplatných 4)" in screen_text(inspector)
        await pilot.click("#close")
        assert inspector.screen is inspector.screen_stack[0]

        number = str(HOLDER.card_number)
        await pilot.press(*number, "enter")
        await until(pilot, lambda: "Podle čárového kódu" in screen_text(inspector))
        assert headline(inspector) == "NEPLATNÁ"
        await pilot.press("f5", "f6", "1")
        await until(pilot, lambda: len(engine.recorded) == 2)
        assert engine.recorded[1][1:] == (False, Reason.NO_COUPON, None)
    assert engine.checks == 1
    assert len(engine.threads) == 1 and threading.get_ident() not in engine.threads


def test_run_fails_before_the_screen_for_a_validator_s_directory(tmp_path) -> None:
    import json

    from ekarta.sync.roles import DeviceRole
    from ekarta.terminal.apps.inspector import run
    from ekarta.terminal.config import CONFIG_FILE, TerminalConfig
    from ekarta.terminal.errors import TerminalConfigError
    from ekarta.terminal.store import TerminalStore
    from ekarta.transit.security.keystore import TERMINAL_KEYS, create_keystore

    full = create_keystore(tmp_path / "full.json")
    (tmp_path / "keys.json").write_text(json.dumps(
        full.export(TERMINAL_KEYS["validator"]).to_document()))
    TerminalStore.open(tmp_path / "store.sqlite", create=True).close()
    config = TerminalConfig(directory=str(tmp_path), office="http://127.0.0.1:9",
                            role=DeviceRole.VALIDATOR, device="bus 1", token="t0ken")
    (tmp_path / CONFIG_FILE).write_text(json.dumps(config.to_document()))
    (tmp_path / CONFIG_FILE).chmod(0o600)
    with pytest.raises(TerminalConfigError, match="a check needs an inspector's"):
        run(directory=str(tmp_path), reader="emulator:", scanner=None, lang="cs")
    with pytest.raises(TerminalConfigError, match="is not a terminal directory"):
        run(directory=str(tmp_path / "nothing"), reader="emulator:", lang="cs")
