"""One emulated card shared by the front-ends that serve it.

``ekarta emulator serve`` puts a single :class:`~ekarta.emulator.VirtualCard` behind several
front-ends at once (pcscd's virtual reader, a PN532 on a pseudo-terminal, nfcpy's UDP driver),
each on its own thread.  :class:`CardHost` serialises their access, saves the card's state back to
its file after every change, and tells the front-ends when the card leaves or enters the field so
that each can show it the way its protocol does (vpcd: the connection drops; PN532: no target;
UDP: no answer to REQA).

The card never waits: :func:`deliver`, which every way into the card goes through, adds the
latency its armed :class:`~ekarta.emulator.faults.Faults` ask for, as a slow card behind a field
would take.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from ekarta.emulator.card import VirtualCard
from ekarta.emulator.faults import Faults
from ekarta.emulator.state import CardState

__all__ = ["CardHost", "PresenceListener", "Sleep", "deliver"]

logger = logging.getLogger(__name__)

PresenceListener = Callable[[bool], None]
Sleep = Callable[[float], None]


def deliver(card: VirtualCard, apdu: bytes, sleep: Sleep = time.sleep) -> bytes:
    """Pass one C-APDU to ``card`` and return its answer, after the latency its faults add.

    A card in the field answers ``card.faults.latency`` seconds later (a mute one keeps silent
    that long before ``CardMute``); a card out of the field raises ``CardTorn`` at once.
    """
    latency = card.faults.latency
    if latency and card.present:
        sleep(latency)
    return card.process(apdu)


class CardHost:
    """A served card: thread-safe ``transceive``, presence control and persistence.

    ``sleep`` waits out the latency of armed faults (:func:`deliver`); the host's lock is held
    meanwhile, so a slow card is busy for every front-end, as a real one would be.
    """

    def __init__(self, card: VirtualCard, path: str | os.PathLike[str] | None = None, *,
                 sleep: Sleep = time.sleep) -> None:
        self._card = card
        self._sleep = sleep
        self.path = None if path is None else os.fspath(path)
        self.lock = threading.RLock()
        self._listeners: list[PresenceListener] = []
        self._saved_revision = card.revision

    @property
    def card(self) -> VirtualCard:
        return self._card

    @property
    def present(self) -> bool:
        return self._card.present

    def add_listener(self, listener: PresenceListener) -> None:
        """Call ``listener(present)`` whenever the card enters or leaves the field."""
        with self.lock:
            self._listeners.append(listener)

    def remove_listener(self, listener: PresenceListener) -> None:
        with self.lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _notify(self, present: bool) -> None:
        for listener in list(self._listeners):
            try:
                listener(present)
            except Exception:  # a broken front-end must not take the others down
                logger.exception("presence listener failed")

    def transceive(self, apdu: bytes) -> bytes:
        """Pass one C-APDU to the card; raises ``CardTorn``/``CardMute`` as the card does."""
        with self.lock:
            was_present = self._card.present
            try:
                return deliver(self._card, apdu, self._sleep)
            finally:
                self._save_if_changed()
                if was_present and not self._card.present:
                    self._notify(False)

    def power_cycle(self) -> None:
        """The field was switched off and on: volatile state (session, transaction) is lost."""
        with self.lock:
            self._card.reset()

    def remove(self) -> None:
        with self.lock:
            if self._card.present:
                self._card.remove()
                self._save_if_changed()
                self._notify(False)

    def insert(self) -> None:
        with self.lock:
            if not self._card.present:
                self._card.insert()
                self._notify(True)

    def arm(self, faults: Faults | None = None) -> None:
        with self.lock:
            self._card.arm(faults)

    def replace(self, card: VirtualCard) -> None:
        """Swap in another card (tests use a fresh one per test); it enters the field at once."""
        with self.lock:
            if self._card.present:
                self._card.remove()
                self._notify(False)
            self._card = card
            self._saved_revision = card.revision
            self._save_if_changed(force=True)
            if not card.present:
                card.insert()
            self._notify(True)

    def factory_reset(self, uid: bytes | None = None) -> None:
        """Make the card factory-fresh in place (same UID unless given), without it leaving the
        field: readers connected to it stay connected, as with a card that was re-personalised
        between two taps.  Faults are disarmed and the card powers up afresh."""
        with self.lock:
            card = self._card
            card.state = CardState.new(uid or card.uid)
            card.arm(None)
            card.reset()
            self._save_if_changed(force=True)

    def _save_if_changed(self, force: bool = False) -> None:
        if self.path is None:
            return
        if force or self._card.revision != self._saved_revision:
            self._card.save(self.path)
            self._saved_revision = self._card.revision

    def save(self) -> None:
        with self.lock:
            self._save_if_changed(force=True)
