"""The loops the terminal apps run in thread workers, with the emulated card in a reader's field,
a scanner on a loopback port and the sync against an office that is not there."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from datetime import UTC, datetime

import pytest

from ekarta.barcode.scanner import open_scanner
from ekarta.emulator import VirtualCard
from ekarta.emulator.reader import EmulatorReader
from ekarta.errors import NoReaderError, ReaderError
from ekarta.readers.base import CardInfo, Reader
from ekarta.sync.messages import Feed
from ekarta.sync.roles import DeviceRole
from ekarta.terminal.apps.loops import CardLoop, SyncLoop, reached_office, scan_loop
from ekarta.terminal.config import TerminalConfig
from ekarta.terminal.store import TerminalStore
from ekarta.terminal.sync import FeedReport, SyncReport
from tests.support.terminal import card

GET_VERSION = bytes.fromhex("9060000000")


def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.005)


class Running:
    """A loop's ``run(cancelled)`` in a thread, cancelled and joined at the end."""

    def __init__(self, run: Callable[[Callable[[], bool]], None]) -> None:
        self.stop = threading.Event()
        self.thread = threading.Thread(target=run, args=(self.stop.is_set,), daemon=True)
        self.thread.start()

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(2)
        assert not self.thread.is_alive(), "the loop did not end when cancelled"


class Unpluggable(EmulatorReader):
    """The emulated card's reader, which a test can unplug as a USB reader is."""

    unplugged = False

    def wait_for_card(self, timeout: float | None = None) -> CardInfo:
        if self.unplugged:
            raise NoReaderError(f"{self.url}: the reader is gone")
        return super().wait_for_card(timeout)


def test_a_card_is_served_once_while_it_stays_and_again_when_it_comes_back() -> None:
    virtual = VirtualCard()
    reader = EmulatorReader(card=virtual)
    answers: list[bytes] = []
    jobs: list[str] = []

    def on_card(session: str, reader: Reader, info: CardInfo) -> None:
        assert session == "engine" and info.uid is not None
        answers.append(reader.transceive(GET_VERSION)[-2:])

    loop = CardLoop(lambda: nullcontext("engine"), lambda: reader, on_card=on_card, poll=0.01)
    with Running(loop.run):
        until(lambda: len(answers) == 1)
        loop.submit(jobs.append)
        until(lambda: jobs == ["engine"])
        time.sleep(0.03)
        assert len(answers) == 1  # the card stayed: no second tap
        virtual.remove()
        time.sleep(0.03)
        virtual.insert()
        until(lambda: len(answers) == 2)
    assert answers == [bytes.fromhex("91AF")] * 2
    assert reader.closed


def test_a_failing_card_does_not_stop_the_loop(caplog) -> None:
    virtual = VirtualCard()
    calls: list[int] = []

    def on_card(session: None, reader: Reader, info: CardInfo) -> None:
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("a bug in the card's work")

    loop = CardLoop(lambda: nullcontext(None), lambda: EmulatorReader(card=virtual),
                    on_card=on_card, poll=0.01)
    with caplog.at_level(logging.ERROR), Running(loop.run):
        until(lambda: len(calls) == 1)
        virtual.remove()
        time.sleep(0.03)
        virtual.insert()
        until(lambda: len(calls) == 2)
    assert "the card's work failed" in caplog.text


def test_a_reader_that_cannot_be_opened_or_goes_away_is_reported_and_opened_again() -> None:
    virtual = VirtualCard()
    opened: list[Unpluggable] = []
    states: list[tuple[bool, str | None]] = []
    served: list[int] = []
    jobs: list[str] = []

    def open_reader() -> Reader:
        if len(states) < 1:
            raise NoReaderError("pcsc: no reader")
        opened.append(Unpluggable(card=virtual))
        return opened[-1]

    loop = CardLoop(lambda: nullcontext("engine"), open_reader, poll=0.01, reconnect=0.02,
                    on_card=lambda session, reader, info: served.append(len(opened)),
                    on_reader=lambda ok, detail: states.append((ok, detail)))
    with Running(loop.run):
        until(lambda: served == [1])
        assert states == [(False, "pcsc: no reader"), (True, None)]
        opened[0].unplugged = True
        virtual.remove()
        until(lambda: len(states) == 4)
        assert states[2] == (False, "emulator:: the reader is gone") and states[3] == (True, None)
        loop.submit(jobs.append)  # jobs are served while the reader is back and empty
        until(lambda: jobs == ["engine"])
        virtual.insert()
        until(lambda: served == [1, 2])
    assert all(reader.closed for reader in opened)


def test_a_reader_error_on_selection_is_logged_and_waited_out(caplog) -> None:
    class Broken(EmulatorReader):
        def wait_for_card(self, timeout: float | None = None) -> CardInfo:
            raise ReaderError("a card that answers the selection wrongly")

    loop = CardLoop(lambda: nullcontext(None), Broken, poll=0.01,
                    on_card=lambda session, reader, info: None)
    with caplog.at_level(logging.WARNING), Running(loop.run):
        time.sleep(0.05)
    # one look per poll, not a busy loop
    assert 1 <= caplog.text.count("answers the selection wrongly") <= 8


def test_the_scanner_loop_gives_each_scan_and_opens_a_lost_scanner_again() -> None:
    scanners = []
    states: list[bool] = []
    scans: list[str] = []

    def opened():
        if not scanners:
            scanners.append(None)
            return open_scanner("serial:/nonexistent/scanner")
        scanners.append(open_scanner("loop://"))
        return scanners[-1]

    def run(cancelled):
        scan_loop(opened, cancelled, on_scan=lambda scan: scans.append(str(scan)),
                  on_state=lambda ok, detail: states.append(ok), reconnect=0.01)

    with Running(run):
        until(lambda: len(scanners) == 2)
        scanners[1].port.write(f"{card(7)}\r1234567890\r".encode())
        until(lambda: len(scans) == 2)
    assert states == [False, True]
    assert scans[0] == card(7) and scans[1].startswith("refused: ")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_the_sync_loop_reports_an_office_out_of_reach_and_tries_again(tmp_path) -> None:
    from ekarta.transit.security.keystore import TERMINAL_KEYS, create_keystore

    full = create_keystore(tmp_path / "full.json")
    exported = full.export(TERMINAL_KEYS["validator"]).to_document()
    (tmp_path / "keys.json").write_text(json.dumps(exported))
    TerminalStore.open(tmp_path / "store.sqlite", create=True).close()
    config = TerminalConfig(directory=str(tmp_path), office=f"http://127.0.0.1:{closed_port()}",
                            role=DeviceRole.VALIDATOR, device="bus 1", token="t0ken")
    reports: list[SyncReport] = []
    loop = SyncLoop(config, clock=lambda: datetime.now(UTC), on_report=reports.append,
                    every=60, retry=0.05)
    with Running(loop.run):
        until(lambda: len(reports) >= 2)
    assert not reached_office(reports[0]) and "cannot reach the office" in reports[0].errors[0]


def test_an_office_that_answered_a_page_was_reached() -> None:
    assert reached_office(SyncReport())
    assert not reached_office(SyncReport((FeedReport(Feed.HOTLIST, error="down"),),
                                         errors=("down",)))
    assert reached_office(SyncReport((FeedReport(Feed.HOTLIST, pages=2, error="bad page"),),
                                     errors=("bad page",)))
