"""The loops the terminal apps run in threads of their own: the card reader's, the barcode
scanner's and the background sync.  No UI toolkit here: each loop reports through callbacks
(the apps post them as messages) and ends within a fraction of a second once ``cancelled()``
says so, but for a request to the office under way.

:class:`CardLoop` owns a *session* (the tap engine with its store: an SQLite connection belongs
to the thread that opened it) and the reader, both opened in the loop's own thread.  It waits
for a card, runs the work on it once, and waits for the card to leave before it takes the next;
between cards it runs the jobs other threads hand it (:meth:`CardLoop.submit`: a number to
check, a new zone), so the session is only ever used from its thread.  A reader that goes away
is reported and reopened until it is back.

:class:`SyncLoop` runs :func:`~ekarta.terminal.sync.sync_once` with its own store every
``every`` seconds (every ``retry`` seconds while the office is out of reach) and reports each
sync; a cancelled app stops it between two pages.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Generic, TypeVar

from ekarta.barcode.errors import ScannerError
from ekarta.barcode.scan import Scan
from ekarta.barcode.scanner import Scanner
from ekarta.errors import EkartaError, NoReaderError, ReaderError, ReaderTimeout
from ekarta.readers.base import CardInfo, Reader
from ekarta.sync.messages import Feed
from ekarta.terminal.config import TerminalConfig
from ekarta.terminal.store import PageApplied
from ekarta.terminal.sync import SyncReport, sync_once

__all__ = ["Cancelled", "CardLoop", "SyncCancelled", "SyncLoop", "reached_office", "scan_loop"]

log = logging.getLogger(__name__)

S = TypeVar("S")

Cancelled = Callable[[], bool]
"""Whether the loop must end (the worker's ``is_cancelled``)."""

POLL = 0.1
"""Seconds between two looks at the reader, the jobs and the cancellation."""
RECONNECT = 1.0
"""Seconds between two attempts to open a reader or scanner that is gone."""


class CardLoop(Generic[S]):
    """One reader's loop; see the module documentation.

    ``open_session`` and ``open_reader`` are called in the loop's thread; ``on_card(session,
    reader, info)`` does one card's work (its exceptions are logged, and the loop goes on);
    ``on_reader(ok, detail)`` is told when the reader comes and goes; ``idle(session)`` runs
    every ``idle_every`` seconds (the app refreshes its status line with it).
    """

    def __init__(self, open_session: Callable[[], AbstractContextManager[S]],
                 open_reader: Callable[[], Reader], *,
                 on_card: Callable[[S, Reader, CardInfo], None],
                 on_reader: Callable[[bool, str | None], object] = lambda ok, detail: None,
                 idle: Callable[[S], None] | None = None, idle_every: float = 5.0,
                 poll: float = POLL, reconnect: float = RECONNECT) -> None:
        self._open_session = open_session
        self._open_reader = open_reader
        self._on_card = on_card
        self._on_reader = on_reader
        self._idle = idle
        self._idle_every = idle_every
        self._poll = poll
        self._reconnect = reconnect
        self._jobs: queue.SimpleQueue[Callable[[S], None]] = queue.SimpleQueue()

    def submit(self, job: Callable[[S], None]) -> None:
        """Run ``job(session)`` in the loop's thread, before the next card (safe from any
        thread)."""
        self._jobs.put(job)

    def run(self, cancelled: Cancelled) -> None:
        """Serve cards and jobs until ``cancelled()``."""
        with self._open_session() as session:
            while not cancelled():
                reader = self._connect(session, cancelled)
                if reader is None:
                    return
                with reader:
                    try:
                        self._serve(session, reader, cancelled)
                    except NoReaderError as exc:
                        log.warning("%s: reader lost: %s", reader.url, exc)
                        self._on_reader(False, str(exc))

    def _connect(self, session: S, cancelled: Cancelled) -> Reader | None:
        """The reader, opened as soon as it can be (jobs are served meanwhile); None if
        cancelled first."""
        failed = False
        while not cancelled():
            try:
                reader = self._open_reader()
            except EkartaError as exc:
                if not failed:
                    log.warning("cannot open the reader: %s", exc)
                    self._on_reader(False, str(exc))
                    failed = True
                self._run_jobs(session, wait=self._reconnect)
                continue
            self._on_reader(True, None)
            return reader
        return None

    def _serve(self, session: S, reader: Reader, cancelled: Cancelled) -> None:
        present = False
        last_idle = time.monotonic()
        while not cancelled():
            if self._idle is not None and time.monotonic() - last_idle >= self._idle_every:
                last_idle = time.monotonic()
                self._call(self._idle, session)
            if present:
                # the card is still there: the work is done, jobs are served at once
                self._run_jobs(session, wait=self._poll)
                present = reader.card_present
                continue
            self._run_jobs(session, wait=0)
            try:
                info = reader.wait_for_card(timeout=self._poll)
            except ReaderTimeout:
                continue
            except NoReaderError:
                raise
            except ReaderError as exc:  # a card that answers the selection wrongly
                log.warning("%s: %s", reader.url, exc)
                self._run_jobs(session, wait=self._poll)
                continue
            present = True
            try:
                self._on_card(session, reader, info)
            except NoReaderError:
                raise
            except Exception:
                log.exception("%s: the card's work failed", reader.url)
            if self._idle is not None:
                self._call(self._idle, session)

    def _run_jobs(self, session: S, *, wait: float) -> None:
        """Run the jobs waiting; wait up to ``wait`` seconds for the first."""
        try:
            job = self._jobs.get(timeout=wait) if wait > 0 else self._jobs.get_nowait()
        except queue.Empty:
            return
        while True:
            self._call(job, session)
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                return

    @staticmethod
    def _call(job: Callable[[S], None], session: S) -> None:
        try:
            job(session)
        except Exception:
            log.exception("a job of the card loop failed")


def scan_loop(open_scanner: Callable[[], Scanner], cancelled: Cancelled, *,
              on_scan: Callable[[Scan], object],
              on_state: Callable[[bool, str | None], object] = lambda ok, detail: None,
              reconnect: float = RECONNECT) -> None:
    """Read a barcode scanner until ``cancelled()``: every scan to ``on_scan``, the scanner's
    coming and going to ``on_state``; a scanner that fails is opened again."""
    reported: bool | None = None
    while not cancelled():
        try:
            scanner = open_scanner()
        except ScannerError as exc:
            if reported is not False:
                log.warning("%s", exc)
                on_state(False, str(exc))
                reported = False
            _sleep(reconnect, cancelled)
            continue
        on_state(True, None)
        reported = True
        with scanner:
            try:
                while not cancelled():
                    scan = scanner.read(timeout=POLL)
                    if scan is not None:
                        on_scan(scan)
            except ScannerError as exc:
                log.warning("%s", exc)
                on_state(False, str(exc))
                reported = False


class SyncCancelled(Exception):
    """Raised from a sync's progress callback to stop it between two pages."""


def reached_office(report: SyncReport) -> bool:
    """Whether a sync talked to the office: it applied a page or pushed the journal, or nothing
    failed (a refused page of a feed the office answered still counts)."""
    return report.ok or report.pushed > 0 or any(feed.pages for feed in report.feeds)


class SyncLoop:
    """The background sync of one terminal directory; see the module documentation."""

    def __init__(self, config: TerminalConfig, *, clock: Callable[[], datetime],
                 on_report: Callable[[SyncReport], object],
                 on_error: Callable[[EkartaError], object] = lambda exc: None,
                 every: float = 60.0, retry: float = 15.0) -> None:
        self.config = config
        self.clock = clock
        self._on_report = on_report
        self._on_error = on_error
        self.every = every
        self.retry = retry

    def run(self, cancelled: Cancelled) -> None:
        """Sync now, then every :attr:`every` seconds, until ``cancelled()``."""
        def progress(feed: Feed, applied: PageApplied) -> None:
            if cancelled():
                raise SyncCancelled(f"stopped in the {feed} feed")

        with self.config.open_store() as store:
            while not cancelled():
                try:
                    report = sync_once(self.config, store, self.clock(), progress=progress)
                except SyncCancelled:
                    return
                except EkartaError as exc:
                    log.warning("sync: %s", exc)
                    self._on_error(exc)
                    _sleep(self.retry, cancelled)
                    continue
                self._on_report(report)
                _sleep(self.every if reached_office(report) else self.retry, cancelled)


def _sleep(seconds: float, cancelled: Cancelled) -> None:
    """Wait ``seconds``, in slices short enough to notice ``cancelled()``."""
    end = time.monotonic() + seconds
    while not cancelled():
        left = end - time.monotonic()
        if left <= 0:
            return
        time.sleep(min(left, POLL))
