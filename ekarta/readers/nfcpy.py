"""The ``nfcpy`` reader: ISO 14443-4 type A cards through any contactless frontend nfcpy drives.

URL grammar (everything after ``nfcpy:`` is nfcpy's own device path, passed unchanged to
``nfc.ContactlessFrontend``)::

    nfcpy:                       same as nfcpy:usb
    nfcpy:usb[:VID[:PID]]        the first (matching) USB reader nfcpy supports, e.g. usb:054c:06c3
    nfcpy:usb[:BUS[:DEV]]        the USB reader at that bus/device number, e.g. usb:001:023
    nfcpy:tty:NAME:DRIVER        the serial device /dev/NAME with an nfcpy driver, e.g.
                                 tty:USB0:pn532 (/dev/NAME may be a link to a pseudo-terminal)
    nfcpy:udp[:HOST][:PORT]      nfcpy's simulated RF link over UDP (default localhost:54321),
                                 answered by ekarta's emulator front-end
                                 (:class:`ekarta.emulator.udp.UdpFrontEnd`)

Opening fails with :class:`~ekarta.errors.NoReaderError` when nfcpy finds no device there.

:meth:`NfcpyReader.wait_for_card` senses for a 106 kbps type A target
(``clf.sense(RemoteTarget("106A"))``), requires an ISO 14443-4 card (SAK bit 0x20) and activates it
as nfcpy's Type 4A tag (RATS, then ISO-DEP); a card that is not ISO 14443-4 is left alone and the
wait goes on.  One sense attempt cannot be interrupted, so a wait may overrun its timeout by that
attempt (up to about a second with the ``udp`` driver, which waits 1 s for an ATQA).
``card_info`` has the UID, ATQA (as sent: ``44 03`` for a DESFire), SAK and ATS; no ATR (nfcpy is
no PC/SC reader).  Every sense switches the field off first (nfcpy's rule): the card powers down.

:meth:`NfcpyReader.transceive` sends an APDU over the tag's ISO-DEP (``Type4Tag.transceive``).
On the ``udp`` link, which queues datagrams where an RF field would lose a late frame, answers
nobody is waiting for are dropped before each frame and nfcpy waits at least 0.25 s for an
answer (see ``_Link``), so a peer held back by the scheduler cannot shift answers by one.
When nfcpy gives up on an exchange (timeouts, transmission or protocol errors after its retries)
the driver senses once more to learn what happened:

* no card answers → :class:`~ekarta.errors.CardRemovedError`;
* a card answers, it just did not answer the command → :class:`~ekarta.errors.ReaderTimeout`
  (timeouts) or :class:`~ekarta.errors.ReaderError` (garbled frames).

Either way the card was reset: call ``wait_for_card`` again.  A device that fails (unplugged:
nfcpy raises ``IOError``) makes every call raise :class:`~ekarta.errors.NoReaderError` until
:meth:`NfcpyReader.reopen` (which ``monitor()`` calls) opens it again.

``reader.clf`` is the ``nfc.ContactlessFrontend`` and ``reader.tag`` the activated
``nfc.tag.tt4.Type4ATag`` (for nfcpy's own NDEF code: ``reader.tag.ndef``).
"""

from __future__ import annotations

import select
import socket
import threading
import time
from typing import Any

import nfc
import nfc.clf
import nfc.clf.udp
import nfc.tag
import nfc.tag.tt4

from ekarta.errors import (
    CardRemovedError,
    NoCardError,
    NoReaderError,
    ReaderError,
    ReaderTimeout,
)
from ekarta.readers.base import RECV, SEND, CardInfo, Reader
from ekarta.wire.iso14443 import SAK_ISO14443_4

__all__ = ["NfcpyReader", "open_nfcpy"]

_INTERVAL = 0.1
_TYPE_A = "106A"
# nfcpy's udp driver reads datagrams of up to 1 KiB
_DATAGRAM = 1024
_UDP_MIN_TIMEOUT = 0.25


class _Link:
    """Stands in for the frontend under nfcpy's tag: keeps the ATS, and tames the udp link.

    nfcpy stores no ATS, so the RATS answer is kept here.  nfcpy's ``udp`` driver carries frames
    in datagrams that queue up, unlike an RF field: an answer that came after nfcpy stopped
    waiting (the peer, or this process, held back by the scheduler longer than the card's frame
    waiting time) would be read as the answer to the next frame, and the card's repeat of it
    after nfcpy's R(NAK) as the answer to the frame after that.  So, on a udp link, frames that
    arrived unasked are dropped before each frame goes out, and nfcpy waits at least
    ``_UDP_MIN_TIMEOUT`` for an answer: a late datagram is a scheduling hiccup, not a mute card.
    """

    def __init__(self, clf: nfc.ContactlessFrontend) -> None:
        self._clf = clf
        self.ats: bytes | None = None
        device = getattr(clf, "device", None)
        # the device stays for the tag's life; its socket is looked up per frame (mute() drops it)
        self._udp = device if isinstance(device, nfc.clf.udp.Device) else None

    def exchange(self, send_data: Any, timeout: float) -> Any:
        if self._udp is not None:
            sock = getattr(self._udp, "socket", None)
            if isinstance(sock, socket.socket):
                _drain(sock)
            timeout = max(timeout, _UDP_MIN_TIMEOUT)
        response = self._clf.exchange(send_data, timeout)
        if self.ats is None and send_data and send_data[0] == 0xE0 and response is not None:
            self.ats = bytes(response)
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._clf, name)


def _drain(sock: socket.socket) -> None:
    """Drop every datagram waiting on ``sock`` (without blocking)."""
    while select.select([sock], [], [], 0)[0]:
        try:
            sock.recvfrom(_DATAGRAM)
        except OSError:
            return


class NfcpyReader(Reader):
    """A reader driven by nfcpy (see the module docstring); ``path`` is nfcpy's device path."""

    def __init__(self, path: str = "usb") -> None:
        path = path or "usb"
        super().__init__(f"nfcpy:{path}")
        self.path = path
        self._lock = threading.RLock()
        self._tag: nfc.tag.tt4.Type4ATag | None = None
        self._problem: str | None = None
        self._clf = nfc.ContactlessFrontend()
        self._open()

    # --- nfcpy objects ---------------------------------------------------------------------------

    @property
    def clf(self) -> nfc.ContactlessFrontend:
        return self._clf

    @property
    def tag(self) -> nfc.tag.tt4.Type4ATag | None:
        """The activated nfcpy Type 4A tag, or None."""
        return self._tag

    # --- Reader ----------------------------------------------------------------------------------

    def transceive(self, apdu: bytes) -> bytes:
        self._check_open()
        apdu = bytes(apdu)
        with self._lock:
            tag = self._tag
            if tag is None:
                raise NoCardError(f"{self.url}: no card selected; call wait_for_card() first")
            self._trace(SEND, apdu)
            try:
                response = tag.transceive(bytearray(apdu))
            except OSError as exc:
                self._forget_card()
                raise NoReaderError(f"{self.url}: the reader failed: {exc}") from exc
            except (nfc.tag.TagCommandError, nfc.clf.CommunicationError,
                    IndexError, TypeError) as exc:
                self._exchange_failed(exc)
            if response is None:
                self._exchange_failed(None)
            response = bytes(response)
            self._trace(RECV, response)
            return response

    @property
    def card_present(self) -> bool:
        if self.closed:
            return False
        with self._lock:
            tag = self._tag
            if tag is None:
                return False
            try:
                present = bool(tag.is_present)
            except OSError as exc:
                self._forget_card()
                raise NoReaderError(f"{self.url}: the reader failed: {exc}") from exc
            except (nfc.clf.CommunicationError, IndexError, TypeError):
                present = False
            if not present:
                self._forget_card()
            return present

    def wait_for_card(self, timeout: float | None = None) -> CardInfo:
        deadline = None if timeout is None else time.monotonic() + timeout
        self._problem = None
        while True:
            self._check_open()
            with self._lock:
                info = self._poll()
            if info is not None:
                return info
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                why = f" ({self._problem})" if self._problem else ""
                raise ReaderTimeout(f"{self.url}: no ISO 14443-4 type A card in the field{why}")
            time.sleep(_INTERVAL if deadline is None else max(0.0, min(_INTERVAL, deadline - now)))

    def reopen(self) -> None:
        """Close what is left of the nfcpy device and open ``path`` again (NoReaderError if not
        back yet)."""
        self._check_open()
        with self._lock:
            self._forget_card()
            try:
                self._clf.close()
            except (OSError, nfc.clf.Error) as exc:
                self._log.debug("%s: closing the failed device: %s", self.url, exc)
            self._open()

    def close(self) -> None:
        if self.closed:
            return
        super().close()  # first, so that a wait in another thread does not reopen the device
        self._tag = None
        try:
            self._clf.close()
        except (OSError, nfc.clf.Error) as exc:
            self._log.debug("%s: closing: %s", self.url, exc)

    # --- internals -------------------------------------------------------------------------------

    def _open(self) -> None:
        try:
            found = self._clf.open(self.path)
        except (OSError, ValueError, TypeError) as exc:
            raise NoReaderError(f"{self.url}: cannot open nfcpy device {self.path!r}: {exc}") \
                from exc
        if not found:
            raise NoReaderError(f"{self.url}: nfcpy found no reader at {self.path!r}")

    def _forget_card(self) -> None:
        self._tag = None
        self._card_info = None

    def _sense(self) -> Any:
        """One sense for a type A target."""
        target = nfc.clf.RemoteTarget(_TYPE_A)
        try:
            return self._clf.sense(target)
        except nfc.clf.UnsupportedTargetError as exc:
            raise NoReaderError(f"{self.url}: the reader cannot sense 106 kbps type A: {exc}") \
                from exc
        except nfc.clf.CommunicationError as exc:
            self._log.debug("%s: sense: %s", self.url, exc)
            return None
        except OSError as exc:
            if self.closed:
                raise ReaderError(f"{self.url}: the reader is closed") from exc
            raise NoReaderError(f"{self.url}: the reader failed: {exc}") from exc

    def _poll(self) -> CardInfo | None:
        self._forget_card()
        target = self._sense()
        if target is None:
            return None
        sens_res, sel_res, sdd_res = target.sens_res, target.sel_res, target.sdd_res
        if not sel_res or not sdd_res or not sens_res or len(sens_res) != 2:
            self._problem = "a type A target answered with incomplete activation data"
            return None
        if not sel_res[0] & SAK_ISO14443_4:
            self._problem = (f"a card with SAK {sel_res[0]:02X} is in the field, "
                             "but it is not ISO 14443-4")
            return None
        link = _Link(self._clf)
        try:
            tag = nfc.tag.tt4.Type4ATag(link, target)
        except (nfc.clf.CommunicationError, IndexError, TypeError, ValueError) as exc:
            self._problem = f"the card did not complete RATS ({type(exc).__name__}: {exc})"
            return None
        ats = link.ats
        if ats is None or not ats or ats[0] != len(ats):
            self._problem = f"the card sent a malformed ATS {ats.hex() if ats else ats!r}"
            return None
        self._tag = tag
        self._card_info = CardInfo(uid=bytes(sdd_res), ats=ats, atqa=bytes(sens_res),
                                   sak=sel_res[0])
        self._log.debug("%s: card %s, ATS %s", self.url, bytes(sdd_res).hex(), ats.hex())
        return self._card_info

    def _exchange_failed(self, exc: BaseException | None) -> None:
        """nfcpy gave up on an exchange: sense again to tell a removed card from a silent one."""
        self._forget_card()
        what = str(exc) if exc is not None else "no target"
        timed_out = (isinstance(exc, nfc.clf.TimeoutError) or (
            isinstance(exc, nfc.tag.TagCommandError) and exc.errno == nfc.tag.TIMEOUT_ERROR))
        if self._sense() is None:
            raise CardRemovedError(f"{self.url}: the card left the field ({what})") from exc
        if timed_out:
            raise ReaderTimeout(f"{self.url}: the card did not answer ({what}); it was reset") \
                from exc
        raise ReaderError(f"{self.url}: the exchange with the card failed ({what}); "
                          "it was reset") from exc


def open_nfcpy(rest: str) -> NfcpyReader:
    """The ``nfcpy:`` driver: ``rest`` is nfcpy's device path (empty: ``usb``)."""
    _check_udp_path(rest)
    return NfcpyReader(rest or "usb")


def _check_udp_path(path: str) -> None:
    """nfcpy parses ``udp:HOST:PORT`` with int(): say what a bad port is before it does."""
    parts = path.split(":")
    if parts[0] != "udp" or len(parts) < 3 or not parts[2]:
        return
    port = parts[2]
    if len(parts) > 3 or not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise NoReaderError(f"nfcpy:{path}: the udp port must be a number 1..65535, got "
                            f"{':'.join(parts[2:])!r} (nfcpy:udp[:HOST][:PORT])")
