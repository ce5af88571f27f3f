"""The journal outbox written from a thread of its own: :class:`JournalWriter`.

A tap's verdict must not wait for the disk.  Appending a journal event is a durable commit (an
fsync of the store's WAL: half a millisecond on a quiet disk, much more on a board's flash card),
and while a background sync applies a page it holds the store's write lock, so an append made in
the tap would wait for the page as well.  The writer takes the events the card work gives it and
appends them, in order, with its own connection to the store, so the card thread goes on at once.

An event may be given made (a :class:`~ekarta.sync.messages.JournalEvent`) or as a callable that
makes it, which the writer's thread calls: a tap's event (its id a hash of the record, its fields
a validated model) is then made after the tap has answered as well.

What this costs: an event is on the disk a moment after the tap's answer instead of before it.
A power cut in that moment loses the event, not the card's record of the tap, and a validator
that meets the card again journals a record of its own it does not remember
(:mod:`ekarta.terminal.tap`).  An append that fails (a full disk, a store locked past its busy
timeout) is retried until :meth:`JournalWriter.close`, which raises
:class:`~ekarta.terminal.errors.TerminalStoreError` for the events it could not write, so that
no event is dropped without a word.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime
from types import TracebackType
from typing import Self, TypeAlias

from ekarta.errors import EkartaError
from ekarta.sync.messages import JournalEvent
from ekarta.terminal.errors import TerminalStoreError
from ekarta.terminal.store import TerminalStore

__all__ = ["JournalWriter"]

log = logging.getLogger(__name__)

Event: TypeAlias = JournalEvent | Callable[[], JournalEvent]
"""A journal event, or what makes it."""

RETRY_SECONDS = (0.05, 0.2, 1.0, 5.0)
"""The pauses between attempts at an append that failed (the last one repeats)."""


class JournalWriter:
    """Appends journal events to a terminal's store from its own thread (see the module
    docstring).  ``open_store`` opens the store for the writer's thread (a connection of its
    own); :meth:`append` never blocks; :meth:`flush` waits until everything given is written."""

    def __init__(self, open_store: Callable[[], TerminalStore], *, name: str = "journal",
                 retry: tuple[float, ...] = RETRY_SECONDS) -> None:
        if not retry or min(retry) < 0:
            raise ValueError("retry needs at least one pause, none negative")
        self._open_store = open_store
        self._retry = retry
        self._queue: deque[tuple[Event, datetime]] = deque()
        self._lock = threading.Condition()
        self._closing = False
        self._failure: BaseException | None = None
        self._writing = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def append(self, event: Event, *, now: datetime) -> None:
        """Queue ``event`` (queued at ``now``) for the store: a JournalEvent, or a callable
        that makes it in the writer's thread."""
        with self._lock:
            if self._closing:
                raise TerminalStoreError("the journal writer is closed")
            self._queue.append((event, now))
            self._lock.notify_all()

    @property
    def pending(self) -> int:
        """Events given and not yet on the disk."""
        with self._lock:
            return len(self._queue) + self._writing

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every event given so far is on the disk (False: ``timeout`` seconds
        passed first)."""
        with self._lock:
            return self._lock.wait_for(lambda: not self._queue and not self._writing,
                                       timeout)

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop.  Raises TerminalStoreError when events remain
        unwritten after ``timeout`` seconds (the store refuses them)."""
        with self._lock:
            self._closing = True
            self._lock.notify_all()
        self._thread.join(timeout)
        left = self.pending
        if left:
            cause = f": {self._failure}" if self._failure is not None else ""
            raise TerminalStoreError(
                f"{left} journal event(s) could not be written to the terminal store{cause}")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    # --- the writer's thread ----------------------------------------------------------------------

    def _run(self) -> None:
        store: TerminalStore | None = None
        failures = 0
        try:
            while True:
                with self._lock:
                    self._lock.wait_for(lambda: self._queue or self._closing)
                    if not self._queue:
                        return  # closing, and all is written
                    event, now = self._queue[0]
                    self._writing = 1
                try:
                    if not isinstance(event, JournalEvent):
                        event = event()
                        with self._lock:
                            self._queue[0] = event, now  # made once, whatever the retries
                    if store is None:
                        store = self._open_store()
                    store.append_journal(event, now=now)
                except (sqlite3.Error, EkartaError, ValueError) as exc:
                    # ValueError: an event that cannot be made (its model refused a field)
                    with self._lock:
                        self._writing = 0
                        self._failure = exc
                        if self._closing and failures >= len(self._retry):
                            return
                    failures += 1
                    pause = self._retry[min(failures, len(self._retry)) - 1]
                    log.error("journal event %s not written, retrying in %g s: %s",
                              getattr(event, "event_id", "(not made)"), pause, exc)
                    if store is not None:
                        store.close()
                        store = None
                    with self._lock:
                        self._lock.wait_for(lambda: False, pause)
                    continue
                failures = 0
                with self._lock:
                    self._queue.popleft()
                    self._writing = 0
                    self._failure = None
                    self._lock.notify_all()
        finally:
            if store is not None:
                store.close()
            with self._lock:
                self._lock.notify_all()
