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

import os
import time

from ekarta.desfire.crypto import Rng
from ekarta.emulator import SAK, CardMute, CardTorn, VirtualCard, deliver
from ekarta.errors import (
    CardRemovedError,
    InvalidArgument,
    NoCardError,
    ReaderTimeout,
)
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
            card = VirtualCard.load(self.path)
        else:
            card = VirtualCard.new(uid=uid, rng=rng)
        self.card = card
        self._saved_revision = card.revision

    # --- Reader ---------------------------------------------------------------------------------

    def transceive(self, apdu: bytes) -> bytes:
        self._check_open()
        apdu = bytes(apdu)
        self._trace(SEND, apdu)
        try:
            response = deliver(self.card, apdu)
        except CardTorn as exc:
            self._card_info = None
            self._save_if_changed()
            raise CardRemovedError(f"{self.url}: {exc}") from exc
        except CardMute as exc:
            raise ReaderTimeout(f"{self.url}: {exc}") from exc
        self._save_if_changed()
        self._trace(RECV, response)
        return response

    @property
    def card_present(self) -> bool:
        return not self.closed and self.card.present

    def wait_for_card(self, timeout: float | None = None) -> CardInfo:
        self._check_open()
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.card.present:
            self._check_open()
            if deadline is not None and time.monotonic() >= deadline:
                raise ReaderTimeout(f"{self.url}: no card in the field")
            time.sleep(_POLL)
        card = self.card
        self._card_info = CardInfo(uid=card.anticollision_uid, atr=atr_from_ats(card.ats),
                                   ats=card.ats, atqa=card.atqa, sak=SAK)
        return self._card_info

    def close(self) -> None:
        if not self.closed and self.path is not None:
            self.card.save(self.path)
            self._saved_revision = self.card.revision
        super().close()

    # --- persistence ----------------------------------------------------------------------------

    def _save_if_changed(self) -> None:
        if self.path is not None and self.card.revision != self._saved_revision:
            self.card.save(self.path)
            self._saved_revision = self.card.revision


def open_emulator(rest: str) -> EmulatorReader:
    """The ``emulator:`` driver: ``rest`` empty for a fresh card, else the card file's path."""
    return EmulatorReader(path=rest or None)
