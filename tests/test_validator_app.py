"""The driver's validator on the screen: Textual's pilot presses its keys and the snapshots keep
what every screen looks like (``tests/__snapshots__/test_validator_app/``; after a deliberate
change, ``pytest tests/test_validator_app.py --snapshot-update`` and look at the SVGs).

The screens are driven by the messages the app's workers post (:class:`TapDone` with the tap
engine's outcome, :class:`ListsState`, :class:`OfficeState`...), posted here as the workers
post them; the tests at the end run the real workers (the reader loop on an emulated card, the
serial scanner's loop, the background sync) with an engine that answers as the tap engine does.
The terminal is 80 by 24 and the clock stands at 10:00 in Prague.
"""

from __future__ import annotations

import sys
import threading
import time
from contextlib import nullcontext
from datetime import timedelta
from pathlib import Path

import pytest

from ekarta.barcode.scanner import Scanner, open_scanner
from ekarta.desfire.client import Transceiver
from ekarta.emulator import VirtualCard
from ekarta.emulator.reader import EmulatorReader
from ekarta.errors import NoReaderError
from ekarta.terminal.apps.base import ListsState, OfficeState, ReaderState, ScannerState, TapDone
from ekarta.terminal.apps.validator import ValidatorApp
from ekarta.terminal.apps.widgets import EntryLine, StatusLine, VerdictPanel
from ekarta.terminal.outcome import Outcome, Source, TapOutcome
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.values import Reason
from tests.support.apps import (
    FRESH,
    anyio_backend,  # noqa: F401 (the fixture)
    headline,
    posting,
    until,
)
from tests.support.apps import AnsweringValidator as AnsweringEngine
from tests.support.apps import validator_app as app
from tests.support.outcomes import AT, VERDICT_REASONS, no_verdict, outcome
from tests.support.tmux import TmuxSession, shows_big

# the async tests run on anyio's pytest plugin (with asyncio, as Textual needs)
pytestmark = [pytest.mark.slow, pytest.mark.anyio]

SIZE = (80, 24)


def screen_text(validator: ValidatorApp) -> str:
    """The status line, the panel's lines and the entry line as plain text."""
    parts = [validator.query_one(StatusLine).render(), validator.query_one("#lines").render(),
             validator.query_one(EntryLine).render()]
    return "\n".join(str(part) for part in parts)


# --- snapshots ------------------------------------------------------------------------------------


def test_welcome(snap_compare) -> None:
    assert snap_compare(app(), terminal_size=SIZE, run_before=posting(FRESH, OfficeState(True)))


@pytest.mark.parametrize("reason", VERDICT_REASONS, ids=[r.name.lower() for r in VERDICT_REASONS])
def test_verdict(snap_compare, reason: Reason) -> None:
    """A valid card, and every refusal a validator gives."""
    assert snap_compare(app(), terminal_size=SIZE,
                        run_before=posting(FRESH, OfficeState(True), TapDone(outcome(reason))))


def test_blocked_card_written_blocked(snap_compare) -> None:
    tap = outcome(Reason.CARD_BLOCKED, blocked_written=True)
    assert snap_compare(app(), terminal_size=SIZE,
                        run_before=posting(FRESH, OfficeState(True), TapDone(tap)))


def test_valid_from_the_office_and_tapped_again(snap_compare) -> None:
    tap = outcome(Reason.VALID, from_office=True, repeated=True)
    assert snap_compare(app(), terminal_size=SIZE,
                        run_before=posting(FRESH, OfficeState(True), TapDone(tap)))


def test_barcode_fallback(snap_compare) -> None:
    """The driver typed the card's number: the verdict of the synced lists, with their time."""
    tap = outcome(Reason.VALID, source=Source.BARCODE, recorded=False)
    assert snap_compare(app(), terminal_size=SIZE, run_before=posting(
        FRESH, OfficeState(True), TapDone(tap, typed=str(tap.card_number))))


def test_barcode_number_being_checked(snap_compare) -> None:
    """Digits typed and Enter: the number goes to the engine, the screen says it is checked."""
    assert snap_compare(app(), terminal_size=SIZE, press=[*"0000000427", "enter"],
                        run_before=posting(FRESH, OfficeState(True)))


def test_barcode_refused_number(snap_compare) -> None:
    assert snap_compare(app(), terminal_size=SIZE, run_before=posting(
        FRESH, OfficeState(True),
        TapDone(no_verdict(Outcome.REFUSED_NUMBER), typed="1234567890")))


def test_stale_lists(snap_compare) -> None:
    age = timedelta(days=4, hours=3)
    tap = outcome(Reason.VALID, stale=True, lists_age=age, data_as_of=AT - age)
    assert snap_compare(app(), terminal_size=SIZE, run_before=posting(
        ListsState(age, True, 0), OfficeState(True), TapDone(tap)))


def test_offline_with_a_backlog(snap_compare) -> None:
    assert snap_compare(app(), terminal_size=SIZE,
                        run_before=posting(ListsState(timedelta(hours=26), False, 17),
                                           OfficeState(False, "cannot reach the office")))


@pytest.mark.parametrize("kind", [Outcome.TAP_AGAIN, Outcome.NOT_A_TRANSIT_CARD,
                                  Outcome.UNREADABLE], ids=lambda kind: kind.value)
def test_no_verdict(snap_compare, kind: Outcome) -> None:
    assert snap_compare(app(), terminal_size=SIZE,
                        run_before=posting(FRESH, OfficeState(True), TapDone(no_verdict(kind))))


def test_reader_and_scanner_lost(snap_compare) -> None:
    assert snap_compare(app(), terminal_size=SIZE, run_before=posting(
        FRESH, OfficeState(True), ReaderState(False, "pcsc: no reader"),
        ScannerState(False, "cannot open scanner")))


def test_in_english(snap_compare) -> None:
    assert snap_compare(app(), terminal_size=SIZE, press=["f4"], run_before=posting(
        FRESH, OfficeState(True), TapDone(outcome(Reason.ZONE_NOT_COVERED))))


def test_zone_being_typed(snap_compare) -> None:
    assert snap_compare(app(), terminal_size=SIZE, press=["f2", "4"],
                        run_before=posting(FRESH, OfficeState(True)))


def test_zone_and_line_changed(snap_compare) -> None:
    assert snap_compare(app(), terminal_size=SIZE,
                        press=["f2", "4", "enter", "f3", "1", "0", "3", "enter"],
                        run_before=posting(FRESH, OfficeState(True)))


def test_small_screen_writes_the_verdict_in_plain_type(snap_compare) -> None:
    assert snap_compare(app(), terminal_size=(30, 14), run_before=posting(
        FRESH, OfficeState(True), TapDone(outcome(Reason.VALID))))


# --- behaviour ------------------------------------------------------------------------------------


async def test_a_verdict_clears_back_to_the_welcome_after_its_time() -> None:
    validator = app(clear_after=0.3)
    async with validator.run_test(size=SIZE) as pilot:
        assert headline(validator) == "Přiložte kartu"
        validator.post_message(TapDone(outcome(Reason.VALID)))
        await pilot.pause()
        assert headline(validator) == "PLATNÁ"
        assert validator.query_one(VerdictPanel).has_class("-good")
        await pilot.pause(0.15)
        validator.post_message(TapDone(outcome(Reason.EXPIRED)))  # a new tap: its own time
        await pilot.pause(0.2)
        assert headline(validator) == "NEPLATNÁ"
        assert validator.query_one(VerdictPanel).has_class("-bad")
        await pilot.pause(0.3)
        assert headline(validator) == "Přiložte kartu"
        assert not validator.query_one(VerdictPanel).has_class("-bad")
        assert validator.outcome is None


async def test_ctrl_q_ctrl_c_and_the_command_palette_do_not_quit() -> None:
    validator = app()
    async with validator.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+q", "ctrl+c", "ctrl+p", "ctrl+backslash", "escape")
        await pilot.pause()
        assert validator.is_running and validator.return_code is None
        assert len(validator.screen_stack) == 1  # no palette, no notification screen
        assert not validator._notifications
        await pilot.press("ctrl+x", "a", "ctrl+c")  # the sequence broken by a key between
        await pilot.pause()
        assert validator.is_running
        await pilot.press("ctrl+x", "ctrl+c")
        await pilot.pause()
        assert not validator.is_running
    assert validator.return_code == 0


async def test_the_language_switches_by_key_and_by_the_button() -> None:
    validator = app()
    async with validator.run_test(size=SIZE) as pilot:
        validator.post_message(TapDone(outcome(Reason.NO_COUPON)))
        await pilot.pause()
        assert headline(validator) == "NEPLATNÁ"
        assert "Na e-kartě není kupon pro tuto jízdu." in screen_text(validator)
        await pilot.press("f4")
        assert validator.lang == "en" and headline(validator) == "INVALID"
        assert "No coupon for this journey on the card." in screen_text(validator)
        assert str(validator.query_one("#language").label) == "F4 Česky"
        await pilot.click("#language")
        assert validator.lang == "cs" and headline(validator) == "NEPLATNÁ"
        assert str(validator.query_one("#language").label) == "F4 English"
        assert validator.focused is None  # the button takes no focus: Enter stays the number's


async def test_the_driver_sets_the_zone_and_the_line() -> None:
    validator = app()
    async with validator.run_test(size=SIZE) as pilot:
        await pilot.press("f2", "7", "enter")
        assert (validator.zone, validator.line) == (7, 12)
        assert "Zóna 7 │ Linka 12" in screen_text(validator)
        await pilot.press("f3", "4", "2", "enter")
        assert (validator.zone, validator.line) == (7, 42)
        await pilot.press("f3", "enter")  # no line
        assert validator.line is None and "Linka –" in screen_text(validator)
        await pilot.press("f2", "0", "enter")
        assert validator.zone == 7 and "Zóna 0 neexistuje: zóny 1 až 1023" in screen_text(
            validator)
        await pilot.press("f2", "9", "escape", "enter")
        assert validator.zone == 7 and validator.entry_mode is None
        await pilot.press("f3", "7", "0", "0", "0", "0", "0", "enter")
        assert validator.line is None and "Linka 700000 neexistuje" in screen_text(validator)


async def test_a_person_typing_and_a_scanner_s_double_read() -> None:
    """Digits typed at a person's pace and Enter are checked; a scanner's burst too, and the
    same number scanned again at once is a double read, dropped."""
    now = [100.0]
    checked: list[str] = []
    validator = app(monotonic=lambda: now[0])
    validator.check_number = checked.append  # where the number goes to the card loop
    async with validator.run_test(size=SIZE) as pilot:
        for key in "12345":
            now[0] += 0.3
            await pilot.press(key)
        assert "Číslo karty: 12345" in screen_text(validator)
        await pilot.press("backspace", "backspace", "9")
        now[0] += 0.3
        await pilot.press("enter")
        assert checked == ["1239"]
        number = str(CardNumber.from_serial(42))
        for gap in (5, 0.2):
            now[0] += gap
            for key in number:
                now[0] += 0.005
                await pilot.press(key)
            now[0] += 0.005
            await pilot.press("enter")
        assert checked == ["1239", number]  # the second read within a second: dropped
        assert validator.typed == ""


# --- with the workers -----------------------------------------------------------------------------


async def test_cards_numbers_and_zones_go_through_the_engine_in_the_reader_loop_s_thread(
) -> None:
    card = VirtualCard()
    engine = AnsweringEngine()
    validator = app(engine=lambda: nullcontext(engine),
                    reader=lambda: EmulatorReader(card=card))
    async with validator.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: headline(validator) == "PLATNÁ")
        assert "Seznamy 5 min" in screen_text(validator)
        assert "Neodesláno 1" in screen_text(validator)
        card.remove()
        await pilot.pause(0.2)
        card.insert()
        await until(pilot, lambda: engine.taps == 2)
        await until(pilot, lambda: "Opakované přiložení" in screen_text(validator))
        await pilot.press("f2", "3", "enter")
        await pilot.press("f2", "3", "0", "0", "enter")  # more than the engine records
        await until(pilot, lambda: validator.zone == 3)
        assert "Nenastaveno: zone must be 1..255, not 300" in screen_text(validator)
        number = str(CardNumber.from_serial(7))
        await pilot.press(*number, "enter")
        await until(pilot, lambda: headline(validator) == "BLOKOVÁNA")
        assert "Podle čárového kódu" in screen_text(validator)
        await pilot.press(*"1234567890", "enter")
        await until(pilot, lambda: headline(validator) == "CHYBNÉ ČÍSLO")
        assert "Není číslo e-karty: 1234567890" in screen_text(validator)
    assert engine.positions == [(3, 12)]
    assert len(engine.threads) == 1 and threading.get_ident() not in engine.threads


async def test_an_engine_that_fails_leaves_no_screen_waiting() -> None:
    """A tap that fails is shown as unreadable (check the barcode); a number that cannot be
    checked says so; neither stops the loop."""
    class Failing(AnsweringEngine):
        def tap(self, transceiver: Transceiver) -> TapOutcome:
            raise RuntimeError("a store that cannot be read")

        def check_number(self, text: str) -> TapOutcome:
            raise RuntimeError("a store that cannot be read")

    validator = app(engine=lambda: nullcontext(Failing()),
                    reader=lambda: EmulatorReader(card=VirtualCard()))
    async with validator.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: headline(validator) == "NEČITELNÁ")
        assert validator.outcome is not None
        assert validator.outcome.detail == "RuntimeError: a store that cannot be read"
        await pilot.press(*str(CardNumber.from_serial(7)), "enter")
        await until(pilot, lambda: "Číslo se nepodařilo ověřit" in screen_text(validator))
        assert validator.busy is None


async def test_a_reader_that_is_not_there_is_shown_until_it_comes() -> None:
    card = VirtualCard()
    attempts: list[int] = []

    def reader() -> EmulatorReader:
        attempts.append(1)
        if len(attempts) < 3:
            raise NoReaderError("pcsc: no reader")
        return EmulatorReader(card=card)

    card.remove()
    validator = app(engine=lambda: nullcontext(AnsweringEngine()), reader=reader)
    async with validator.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "ČTEČKA NEPŘIPOJENA" in screen_text(validator))
        await until(pilot, lambda: validator.reader_ok, timeout=5)
        assert "ČTEČKA NEPŘIPOJENA" not in screen_text(validator)
        card.insert()
        await until(pilot, lambda: headline(validator) == "PLATNÁ")


async def test_a_serial_scanner_s_number_is_checked() -> None:
    engine = AnsweringEngine()
    scanners: list[Scanner] = []

    def scanner() -> Scanner:
        scanners.append(open_scanner("loop://"))
        return scanners[-1]

    card = VirtualCard()
    card.remove()
    validator = app(engine=lambda: nullcontext(engine), reader=lambda: EmulatorReader(card=card),
                    scanner=scanner)
    async with validator.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: bool(scanners))
        scanners[0].port.write(f"{CardNumber.from_serial(9)}\r".encode())
        await until(pilot, lambda: headline(validator) == "BLOKOVÁNA")
        assert "E-karta 000 000 009" in screen_text(validator)


async def test_offline_when_the_office_is_out_of_reach(tmp_path) -> None:
    import json
    import socket

    from ekarta.sync.roles import DeviceRole
    from ekarta.terminal.config import TerminalConfig
    from ekarta.terminal.store import TerminalStore
    from ekarta.transit.security.keystore import TERMINAL_KEYS, create_keystore

    full = create_keystore(tmp_path / "full.json")
    (tmp_path / "keys.json").write_text(json.dumps(
        full.export(TERMINAL_KEYS["validator"]).to_document()))
    TerminalStore.open(tmp_path / "store.sqlite", create=True).close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = TerminalConfig(directory=str(tmp_path), office=f"http://127.0.0.1:{port}",
                            role=DeviceRole.VALIDATOR, device="bus 1", token="t0ken")
    validator = app(sync=config)
    async with validator.run_test(size=SIZE) as pilot:
        # unknown until the first sync answers (a refused connection may answer at once)
        first = screen_text(validator)
        assert ("Spojení ?" in first) is (validator.online is None)
        await until(pilot, lambda: validator.online is False)
        assert "Bez spojení" in screen_text(validator)


async def test_an_office_that_never_answers_leaves_no_thread_the_exit_must_wait_for(
        tmp_path) -> None:
    import json
    import socket

    from ekarta.sync.roles import DeviceRole
    from ekarta.terminal.config import TerminalConfig
    from ekarta.terminal.store import TerminalStore
    from ekarta.transit.security.keystore import TERMINAL_KEYS, create_keystore

    full = create_keystore(tmp_path / "full.json")
    (tmp_path / "keys.json").write_text(json.dumps(
        full.export(TERMINAL_KEYS["validator"]).to_document()))
    TerminalStore.open(tmp_path / "store.sqlite", create=True).close()
    before = set(threading.enumerate())
    # the kernel takes the connection, nobody ever answers it: a request waits its time out
    with socket.create_server(("127.0.0.1", 0)) as silent:
        config = TerminalConfig(directory=str(tmp_path),
                                office=f"http://127.0.0.1:{silent.getsockname()[1]}",
                                role=DeviceRole.VALIDATOR, device="bus 1", token="t0ken")
        validator = app(sync=config)
        async with validator.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: any("-fetch" in t.name
                                           for t in threading.enumerate()))
            syncs = [t.name for t in threading.enumerate() if t not in before
                     and t.name == "sync"]
        waiting = [t.name for t in threading.enumerate()
                   if t not in before and t.is_alive() and not t.daemon]
        assert waiting == []
    # one sync, however many of the app's classes handle its mounting
    assert syncs == ["sync"]


async def test_a_card_loop_that_cannot_start_says_so_on_the_screen() -> None:
    from ekarta.terminal.errors import TerminalConfigError

    def engine():
        raise TerminalConfigError("the device name 'bus' ends with no number")

    validator = app(engine=engine, reader=lambda: EmulatorReader(card=VirtualCard()), zone=None)
    async with validator.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: validator.fault is not None)
        assert "PORUCHA: the device name 'bus' ends with no number" in screen_text(validator)
        assert "Zóna libovolná" in screen_text(validator)
        assert validator.is_running


def test_run_fails_before_the_screen_for_a_directory_that_is_no_terminal(tmp_path) -> None:
    from ekarta.terminal.apps.validator import run
    from ekarta.terminal.errors import TerminalConfigError

    with pytest.raises(TerminalConfigError, match="is not a terminal directory"):
        run(directory=str(tmp_path), reader="emulator:", scanner=None, lang="cs")



def test_in_a_real_terminal_only_the_service_keys_quit() -> None:
    """In a terminal (tmux, 80 by 24) Ctrl+C, Ctrl+\\ and Ctrl+Z are keys, not signals: they,
    Ctrl+Q and Ctrl+P leave the validator running; F4 switches the language; Ctrl+X, Ctrl+C
    ends it."""
    code = ("from ekarta.terminal.apps.validator import ValidatorApp; "
            "ValidatorApp(zone=3, line=12).run()")
    with TmuxSession([sys.executable, "-c", code], width=80, height=24,
                     cwd=str(Path(__file__).parent.parent)) as tmux:
        screen = tmux.wait_for("Present your card", timeout=20)
        assert shows_big(screen, "PŘILOŽTE") and shows_big(screen, "KARTU")
        assert "Zóna 3 │ Linka 12" in screen and "F4 English" in screen
        for key in ("C-q", "C-c", "C-p", "C-\\", "C-z"):
            tmux.send_keys(key)
        time.sleep(0.5)
        assert tmux.exit_status() is None
        tmux.send_keys("F4")
        screen = tmux.wait_for("Zone 3 │ Line 12")
        assert shows_big(screen, "PRESENT") and "Přiložte kartu" in screen
        tmux.send_keys("C-x", "C-c")
        assert tmux.wait_for_exit(timeout=10) == 0


def test_while_an_app_has_the_screen_no_log_line_is_written_over_it(tmp_path) -> None:
    import logging
    import os

    from ekarta.terminal.apps.base import console_logging_held

    main, side = os.openpty()
    with open(side, "w") as terminal, open(tmp_path / "log", "w") as log_file:
        logger = logging.getLogger("ekarta.test_screen")
        on_screen, to_file = logging.StreamHandler(terminal), logging.StreamHandler(log_file)
        for handler in (on_screen, to_file):
            logger.addHandler(handler)
        try:
            with console_logging_held("ekarta.test_screen"):
                assert logger.handlers == [to_file]
                logger.warning("the office is out of reach")
            assert set(logger.handlers) == {on_screen, to_file}
        finally:
            for handler in (on_screen, to_file):
                logger.removeHandler(handler)
    os.close(main)
    assert "out of reach" in (tmp_path / "log").read_text()
