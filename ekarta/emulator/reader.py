"""The ``emulator`` reader: a software DESFire card (:mod:`ekarta.emulator`) behind a reader.

The driver lives with the card it drives: :mod:`ekarta.readers` finds it by name when a URL
names the ``emulator:`` scheme, and never imports the emulator itself.

URL grammar::

    emulator:          a factory-fresh card, in memory only (gone when the reader closes)
    emulator:PATH      the card stored in the file PATH (``~`` is expanded)

``PATH`` must exist: create it with ``ekarta emulator new PATH``; a missing file raises
:class:`~ekarta.errors.NoCardError` saying so, a file that is not a card
:class:`~ekarta.errors.EmulatorError`.  The card's state is saved back to PATH atomically after
every command that changed it (even one cut short by a tear) and when the reader closes.

A stored card is in one reader's field at a time: the reader locks PATH
(:class:`ekarta.files.FileLock`) before it loads the card and until it closes, so that two
processes never both change it and lose one's update.  :meth:`EmulatorReader.wait_for_card`
waits up to its ``timeout`` for another holder (another ekarta command, ``ekarta emulator
serve``) to let go, then raises :class:`~ekarta.errors.FileInUse` ("card file PATH is in use by
another process"); using ``reader.card`` before that takes the card without waiting.

The card is always in the field unless a test removes it (``reader.card.remove()``) or fault
injection tears it (``reader.card.arm(Faults(...))``): a command to an absent or torn card raises
:class:`~ekarta.errors.CardRemovedError`, one to a mute card :class:`~ekarta.errors.ReaderTimeout`.

:meth:`EmulatorReader.wait_for_card` reports what an NFC front end would see: the UID (the random
ID when the card has random UIDs on), ATQA ``44 03`` (0x0344 sent least significant byte first;
``04 03`` with a 4-byte random ID),
SAK 0x20, the card's ATS, and the ATR a PC/SC reader builds for it
(:func:`~ekarta.wire.ats.atr_from_ats`: ``3B 81 80 01 80 80`` for a DESFire).

From Python, ``EmulatorReader(card=None, path=None, *, rng=None, uid=None)`` wraps a given
:class:`~ekarta.emulator.VirtualCard`, the card stored at ``path``, or a fresh card built with
``rng`` and ``uid``.
"""

from __future__ import annotations

import contextlib
import math
import os
import time

from ekarta.desfire.crypto import Rng
from ekarta.emulator import SAK, CardMute, CardTorn, VirtualCard, deliver
from ekarta.errors import (
    CardRemovedError,
    FileInUse,
    InvalidArgument,
    NoCardError,
    ReaderTimeout,
)
from ekarta.files import FileLock
from ekarta.log import TRACE
from ekarta.readers.base import RECV, SEND, CardInfo, Reader
from ekarta.wire.ats import atr_from_ats

__all__ = ["EmulatorReader", "open_emulator"]

_POLL = 0.01


class EmulatorReader(Reader):
    """A reader with a :class:`~ekarta.emulator.VirtualCard` in its field (attribute ``card``)."""

    def __init__(self, card: VirtualCard | None = None, path: str | os.PathLike[str] | None = None,
                 *, rng: Rng | None = None, uid: bytes | None = None) -> None:
        self.path = None if path is None else os.path.expanduser(os.fspath(path))
        super().__init__(f"emulator:{'' if path is None else os.fspath(path)}")
        self._lock: FileLock | None = None
        if card is not None:
            if rng is not None or uid is not None:
                raise InvalidArgument("rng and uid only apply to a fresh card, not to a given one")
        elif self.path is not None:
            if rng is not None or uid is not None:
                raise InvalidArgument("rng and uid only apply to a fresh card, not a stored one")
            if not os.path.exists(self.path):
                raise NoCardError(
                    f"no emulated card at {self.path}: create one with "
                    f"`ekarta emulator new {self.path}`")
            self._lock = FileLock(self.path, what="card file")
        else:
            card = VirtualCard.new(uid=uid, rng=rng)
        self._card = card
        self._saved_revision = None if card is None else card.revision
        if self._lock is not None:
            # take a free card now (a file that is no card fails here); wait for a held one later
            with contextlib.suppress(FileInUse):
                self._take(0.0)

    @property
    def card(self) -> VirtualCard:
        """The card in the field; a stored card is taken (locked and loaded) on first use."""
        if self._card is None:
            self._take(0.0)
            assert self._card is not None
        return self._card

    def _take(self, wait: float) -> None:
        """Lock the card file (waiting up to ``wait`` seconds for another holder) and load it."""
        assert self._lock is not None and self.path is not None
        self._check_open()
        self._lock.acquire(wait)
        try:
            card = VirtualCard.load(self.path)
        except BaseException:
            self._lock.release()
            raise
        self._card = card
        self._saved_revision = card.revision

    # --- Reader ---------------------------------------------------------------------------------

    def transceive(self, apdu: bytes) -> bytes:
        if self._closed:
            self._check_open()
        if type(apdu) is not bytes:
            apdu = bytes(apdu)
        # Untraced, the frame tracer sees the command and its answer in one call after the
        # exchange (the card is in-process: the trace would be most of a plain command's cost).
        tracing = self._log.isEnabledFor(TRACE)
        if tracing:
            self._trace(SEND, apdu)
        try:
            response = deliver(self._card or self.card, apdu)
        except (CardTorn, CardMute) as exc:
            if not tracing:
                self._tracer.hidden(apdu, to_card=True)
            if isinstance(exc, CardMute):
                raise ReaderTimeout(f"{self.url}: {exc}") from exc
            self._card_info = None
            self._save_if_changed()
            raise CardRemovedError(f"{self.url}: {exc}") from exc
        if self.path is not None:
            self._save_if_changed()
        if tracing:
            self._trace(RECV, response)
        else:
            self._tracer.exchange(apdu, response)
        return response

    @property
    def card_present(self) -> bool:
        if self.closed:
            return False
        if self._card is None:
            try:
                self._take(0.0)
            except FileInUse:  # in another reader's field
                return False
        return self.card.present

    def wait_for_card(self, timeout: float | None = None) -> CardInfo:
        self._check_open()
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._card is None:
            self._take(math.inf if timeout is None else timeout)
        card = self.card
        while not card.present:
            self._check_open()
            if deadline is not None and time.monotonic() >= deadline:
                raise ReaderTimeout(f"{self.url}: no card in the field")
            time.sleep(_POLL)
        self._card_info = CardInfo(uid=card.anticollision_uid, atr=atr_from_ats(card.ats),
                                   ats=card.ats, atqa=card.atqa, sak=SAK)
        return self._card_info

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self.path is not None and self._card is not None:
                self._card.save(self.path)
                self._saved_revision = self._card.revision
        finally:
            if self._lock is not None:
                self._lock.release()
            super().close()

    # --- persistence ----------------------------------------------------------------------------

    def _save_if_changed(self) -> None:
        card = self._card
        if self.path is not None and card is not None and card.revision != self._saved_revision:
            card.save(self.path)
            self._saved_revision = card.revision


def open_emulator(rest: str) -> EmulatorReader:
    """The ``emulator:`` driver: ``rest`` empty for a fresh card, else the card file's path."""
    return EmulatorReader(path=rest or None)
