"""The ``pcsc`` reader: PC/SC readers through pcscd, with pyscard.

URL grammar::

    pcsc:              the first reader pcscd lists
    pcsc:SUBSTRING     the first reader whose name contains SUBSTRING, ignoring case
                       (``pcsc:Virtual PCD 00 00``, ``pcsc:acr122``, ``pcsc:OMNIKEY``)
    pcsc:#N            reader number N (counting from 0) in pcscd's list

Opening checks that pcscd answers (else :class:`~ekarta.errors.NoReaderError` asking whether pcscd
is running) and that a reader matches (else ``NoReaderError`` listing the readers there are); it
does not need a card.  :func:`list_readers` gives pcscd's reader names.

The card: :meth:`PcscReader.wait_for_card` waits for a card, connects to it (shared, T=0 or
T=1, whatever the card offers) and resets it (``SCardReconnect`` with ``SCARD_RESET_CARD``):
pcscd leaves a card powered between applications, and a command must not find the session or
selection the last one left; :meth:`PcscReader.transceive` connects by itself if a card is
there, else raises :class:`~ekarta.errors.NoCardError`.  The card info holds the ATR and, when the
ATR is the one PC/SC part 3 builds for a contactless card (``3B 8n 80 01 ...``), the UID the
reader reports for ``FF CA 00 00 00`` (``None`` if it does not support that command).  ATS, ATQA
and SAK are not available through PC/SC and stay ``None``.  :attr:`PcscReader.card_present` asks
pcscd without connecting (a terminal's monitor may poll it from another thread).

Status words: ``61 xx`` (more data) is followed by GET RESPONSE until the card has said all, and
``6C xx`` (wrong length) makes the command be sent again, once, with ``Le = xx``; the caller gets
the whole response.  Every frame on the wire is traced at :data:`ekarta.log.TRACE`.

Errors:

* the card left (or was reset by another application): :class:`~ekarta.errors.CardRemovedError`;
  the next :meth:`~PcscReader.wait_for_card` connects to whatever card is in the field then;
* no card: :class:`~ekarta.errors.NoCardError`; the time given to ``wait_for_card`` ran out, or the
  card does not answer: :class:`~ekarta.errors.ReaderTimeout`;
* an exchange the reader could not complete (pcscd: "transaction failed", or an answer shorter than
  a status word, as vpcd gives when its card vanishes) is a removal if pcscd reports the card gone
  within ``removal_grace`` seconds (default 1.5; pcscd polls card presence every 0.4 s), else a
  timeout;
* the reader unplugged, or pcscd stopped: :class:`~ekarta.errors.NoReaderError`.

PC/SC has no timeout per exchange: how long a reader waits for a card is the reader's business
(the emulator's vpcd front-end gives up on a mute card after its ``mute_timeout``).

Reader and pcscd loss policy: the exchange in flight when the reader or pcscd went away fails
with ``NoReaderError`` (it is never sent again).  The next ``transceive`` or ``wait_for_card``
connects to pcscd again and looks the reader up again with the same ``SUBSTRING`` or ``#N`` (a
reader plugged back in may get another name or number): ``transceive`` fails at once with
``NoReaderError`` if it is still not there; ``wait_for_card`` keeps looking (every 0.5 s) until its
timeout, and then raises ``NoReaderError`` saying so.  :meth:`PcscReader.reopen` does the same on
demand, so :meth:`~ekarta.readers.base.Reader.monitor` reports the card removed and carries on
once the reader is back.

pyscard releases the GIL during PC/SC calls, so an emulator front-end serving pcscd from the same
process keeps running.  One reader object is meant for one thread at a time, except
``card_present``, which uses a context of its own.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from ekarta.errors import (
    CardRemovedError,
    InvalidArgument,
    NoCardError,
    NoReaderError,
    ReaderError,
    ReaderTimeout,
)
from ekarta.log import hexdump
from ekarta.readers.base import RECV, SEND, CardInfo, Reader

__all__ = ["PcscReader", "list_readers", "open_pcsc"]

try:
    from smartcard import scard as _scard
except ImportError as _exc:  # pragma: no cover - pyscard is a dependency
    raise ImportError(f"the pcsc: reader needs pyscard ({_exc})") from _exc

_MASK = 0xFFFFFFFF


def _code(name: str) -> int:
    return getattr(_scard, name) & _MASK


S_SUCCESS = 0
E_TIMEOUT = _code("SCARD_E_TIMEOUT")
E_NO_SERVICE = _code("SCARD_E_NO_SERVICE")
E_SERVICE_STOPPED = _code("SCARD_E_SERVICE_STOPPED")
E_INVALID_HANDLE = _code("SCARD_E_INVALID_HANDLE")
E_NO_READERS_AVAILABLE = _code("SCARD_E_NO_READERS_AVAILABLE")
E_READER_UNAVAILABLE = _code("SCARD_E_READER_UNAVAILABLE")
E_UNKNOWN_READER = _code("SCARD_E_UNKNOWN_READER")
E_NO_SMARTCARD = _code("SCARD_E_NO_SMARTCARD")
W_REMOVED_CARD = _code("SCARD_W_REMOVED_CARD")
W_RESET_CARD = _code("SCARD_W_RESET_CARD")
W_UNPOWERED_CARD = _code("SCARD_W_UNPOWERED_CARD")
W_UNRESPONSIVE_CARD = _code("SCARD_W_UNRESPONSIVE_CARD")
E_NOT_TRANSACTED = _code("SCARD_E_NOT_TRANSACTED")
E_COMM_DATA_LOST = _code("SCARD_E_COMM_DATA_LOST")
F_COMM_ERROR = _code("SCARD_F_COMM_ERROR")
E_SHARING_VIOLATION = _code("SCARD_E_SHARING_VIOLATION")
E_INVALID_PARAMETER = _code("SCARD_E_INVALID_PARAMETER")
E_INVALID_VALUE = _code("SCARD_E_INVALID_VALUE")

STATE_UNAWARE = _scard.SCARD_STATE_UNAWARE
STATE_PRESENT = _scard.SCARD_STATE_PRESENT
STATE_MUTE = _scard.SCARD_STATE_MUTE
STATE_UNKNOWN = _scard.SCARD_STATE_UNKNOWN

_CARD_GONE = frozenset({W_REMOVED_CARD, E_NO_SMARTCARD, W_RESET_CARD, W_UNPOWERED_CARD})
_READER_GONE = frozenset({E_READER_UNAVAILABLE, E_NO_READERS_AVAILABLE, E_UNKNOWN_READER})
_SERVICE_GONE = frozenset({E_NO_SERVICE, E_SERVICE_STOPPED, E_INVALID_HANDLE})
_EXCHANGE_FAILED = frozenset({E_NOT_TRANSACTED, E_COMM_DATA_LOST, F_COMM_ERROR})

_PCSCD_HINT = "is pcscd running?"
_POLL = 0.5  # longest single wait inside pcscd, so that close() and deadlines are honoured
_STATUS_POLL = 0.05
MAX_APDU = 4 + 3 + 0xFFFF + 2
"""The longest command APDU (extended length) this driver passes on."""
MAX_RESPONSE = 0x10000 + 2
"""The longest response it assembles from ``61 xx`` / GET RESPONSE rounds."""
_MAX_UID = 10
_MAX_ROUNDS = 512  # GET RESPONSE rounds: 256 of 256 bytes make the longest response


def _describe(hresult: int) -> str:
    try:
        text = _scard.SCardGetErrorMessage(hresult)
    except Exception:  # a message for an error is never worth another error
        text = "PC/SC error"
    return f"{str(text).rstrip('.')} (0x{hresult & _MASK:08X})"


def _call(what: str, function: Callable[..., Any], *args: Any) -> list[Any]:
    """Call a pyscard function; its result list with the hresult first, masked to 32 bits."""
    try:
        result = function(*args)
    except Exception as exc:  # pyscard's C layer raises SystemError, TypeError... on bad input
        raise ReaderError(f"pyscard failed in {what}: {exc}") from exc
    if isinstance(result, list | tuple):
        if not result:
            raise ReaderError(f"pyscard returned nothing from {what}")
        result = list(result)
    else:
        result = [result]
    if not isinstance(result[0], int):
        raise ReaderError(f"pyscard returned {result[0]!r} from {what}")
    result[0] &= _MASK
    return result


def _establish() -> int:
    hresult, *rest = _call("SCardEstablishContext", _scard.SCardEstablishContext,
                           _scard.SCARD_SCOPE_USER)
    if hresult != S_SUCCESS:
        raise NoReaderError(f"cannot reach pcscd: {_describe(hresult)}; {_PCSCD_HINT}")
    if not rest or not isinstance(rest[0], int):
        raise ReaderError(f"pyscard returned {rest!r} from SCardEstablishContext")
    return rest[0]


def _release(context: int) -> None:
    with contextlib.suppress(Exception):  # best effort: pcscd may be gone
        _scard.SCardReleaseContext(context)


def _list(context: int) -> list[str]:
    hresult, *rest = _call("SCardListReaders", _scard.SCardListReaders, context, [])
    if hresult == E_NO_READERS_AVAILABLE:
        return []
    if hresult in _SERVICE_GONE:
        raise NoReaderError(f"pcscd stopped answering: {_describe(hresult)}; {_PCSCD_HINT}")
    if hresult != S_SUCCESS:
        raise NoReaderError(f"cannot list the PC/SC readers: {_describe(hresult)}")
    names = rest[0] if rest else []
    return [str(name) for name in names or []]


def list_readers() -> list[str]:
    """The names of the readers pcscd knows, in its order (empty if none).

    Raises :class:`~ekarta.errors.NoReaderError` when pcscd cannot be reached.
    """
    context = _establish()
    try:
        return _list(context)
    finally:
        _release(context)


def _select(selector: str, names: list[str]) -> str:
    """The reader ``selector`` (the URL's rest) names among ``names``."""
    known = ", ".join(repr(n) for n in names) if names else "none"
    if not names:
        raise NoReaderError("pcscd lists no PC/SC reader; is the reader plugged in?")
    if selector.startswith("#") and selector[1:].isdigit():
        index = int(selector[1:])
        if index >= len(names):
            raise NoReaderError(f"there is no PC/SC reader #{index}; readers: {known}")
        return names[index]
    if not selector:
        return names[0]
    wanted = selector.casefold()
    for name in names:
        if wanted in name.casefold():
            return name
    raise NoReaderError(f"no PC/SC reader name contains {selector!r}; readers: {known}")


def _contactless_atr(atr: bytes) -> bool:
    """Whether ``atr`` is one a PC/SC part 3 reader builds for a contactless card."""
    return len(atr) >= 5 and atr[0] == 0x3B and atr[1] & 0xF0 == 0x80 and atr[2:4] == b"\x80\x01"


def _with_le(apdu: bytes, le: int) -> bytes | None:
    """``apdu`` (a short APDU) with its Le set to ``le``; None if it is not a short APDU."""
    if len(apdu) == 4:
        return apdu + bytes([le])
    if len(apdu) == 5:
        return apdu[:4] + bytes([le])
    lc = apdu[4]
    if lc == 0:  # extended length: 6C xx only ever concerns short APDUs
        return None
    if len(apdu) == 5 + lc:
        return apdu + bytes([le])
    if len(apdu) == 6 + lc:
        return apdu[:-1] + bytes([le])
    return None


def _get_response_cla(cla: int) -> int:
    """The class of GET RESPONSE after a command of class ``cla``: same logical channel."""
    if cla < 0x40:
        return cla & 0x03
    if cla < 0x80:
        return 0x40 | (cla & 0x0F)
    return 0x00  # proprietary classes (DESFire's 90, GlobalPlatform's 80): interindustry 00


class PcscReader(Reader):
    """One PC/SC reader, chosen by ``selector`` (the URL's part after ``pcsc:``)."""

    def __init__(self, selector: str = "", *, removal_grace: float = 1.5) -> None:
        super().__init__(f"pcsc:{selector}")
        if not removal_grace >= 0:
            raise InvalidArgument(f"removal_grace must be >= 0, got {removal_grace!r}")
        self.selector = selector
        self.removal_grace = removal_grace
        self._lock = threading.RLock()
        self._status_lock = threading.Lock()
        self._context: int | None = None
        self._status_context: int | None = None
        self._card: int | None = None
        self._protocol: int | None = None
        self._reader_lost = False
        self.reader_name = ""
        with self._lock:
            try:
                self.reader_name = _select(selector, _list(self._ensure_context()))
            except NoReaderError as exc:
                self._drop_context()
                raise NoReaderError(f"{self.url}: {exc}") from exc

    # --- Reader -------------------------------------------------------------------------------

    @property
    def protocol(self) -> str | None:
        """``"T=0"`` or ``"T=1"`` while connected to a card, else None."""
        if self._protocol is None:
            return None
        return "T=0" if self._protocol == _scard.SCARD_PROTOCOL_T0 else "T=1"

    @property
    def card_present(self) -> bool:
        if self.closed:
            return False
        with self._status_lock:
            try:
                if self._status_context is None:
                    self._status_context = _establish()
                state = self._reader_state(self._status_context, 0, STATE_UNAWARE)
            except ReaderError as exc:
                self._log.debug("%s: cannot tell whether a card is present: %s", self.url, exc)
                if isinstance(exc, NoReaderError) and self._status_context is not None:
                    _release(self._status_context)  # pcscd may have restarted: start afresh
                    self._status_context = None
                return False
            return bool(state & STATE_PRESENT) and not state & STATE_MUTE

    def wait_for_card(self, timeout: float | None = None) -> CardInfo:
        if timeout is not None and not timeout >= 0:
            raise InvalidArgument(f"timeout must be None or >= 0, got {timeout!r}")
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._check_open()
            if self._card is not None:
                if self._card_still_there():
                    assert self._card_info is not None
                    return self._card_info
                self._disconnect()
            while True:
                self._check_open()
                try:
                    context = self._ensure_ready()
                    state = self._reader_state(context, 0, STATE_UNAWARE)
                    if state & STATE_PRESENT and not state & STATE_MUTE:
                        try:
                            return self._connect()
                        except (NoCardError, CardRemovedError, ReaderTimeout) as exc:
                            self._log.debug("%s: card not ready: %s", self.url, exc)
                    remaining = self._remaining(deadline)
                    if remaining == 0:
                        raise ReaderTimeout(f"{self.url}: no card in the field after "
                                            f"{timeout:g} s")
                    self._reader_state(context, min(remaining, _POLL), state)
                except NoReaderError as exc:
                    self._log.debug("%s: %s", self.url, exc)
                    remaining = self._remaining(deadline)
                    if remaining == 0:
                        raise NoReaderError(f"{exc} (still so after {timeout:g} s)") from exc
                    time.sleep(min(remaining, _POLL))

    def transceive(self, apdu: bytes) -> bytes:
        apdu = bytes(apdu)
        if not 4 <= len(apdu) <= MAX_APDU:
            raise InvalidArgument(f"a command APDU has 4..{MAX_APDU} bytes, not {len(apdu)}")
        with self._lock:
            self._check_open()
            if self._card is None:
                context = self._ensure_ready()
                state = self._reader_state(context, 0, STATE_UNAWARE)
                if not state & STATE_PRESENT:
                    raise NoCardError(f"{self.url}: no card in the reader {self.reader_name!r}")
                self._connect()
            return self._transceive(apdu)

    def reopen(self) -> None:
        """Connect to pcscd again and look the reader up again (what :meth:`monitor` calls once
        the reader or pcscd was gone); ``NoReaderError`` while it is not back."""
        with self._lock:
            self._check_open()
            if self._card is not None:
                self._disconnect()
            self._drop_context()
            self._reader_lost = True
            self._ensure_ready()
        with self._status_lock:
            if self._status_context is not None:
                _release(self._status_context)
                self._status_context = None

    def close(self) -> None:
        with self._lock:
            if self._card is not None:
                self._disconnect()
            self._drop_context()
        with self._status_lock:
            if self._status_context is not None:
                _release(self._status_context)
                self._status_context = None
        super().close()

    def __repr__(self) -> str:
        state = " closed" if self.closed else ""
        return f"<PcscReader {self.url!r} reader={self.reader_name!r}{state}>"

    # --- exchanges ----------------------------------------------------------------------------

    def _transceive(self, apdu: bytes) -> bytes:
        data = bytearray()
        command = apdu
        resent = False
        for _ in range(_MAX_ROUNDS):
            response = self._exchange(command)
            sw1, sw2 = response[-2], response[-1]
            if sw1 == 0x6C and not resent:
                again = _with_le(command, sw2)
                if again is not None:
                    command, resent = again, True
                    continue
            if sw1 == 0x61:
                data += response[:-2]
                if len(data) > MAX_RESPONSE:
                    raise ReaderError(f"{self.url}: the card keeps answering 61 xx after "
                                      f"{len(data)} bytes")
                command = bytes([_get_response_cla(apdu[0]), 0xC0, 0x00, 0x00, sw2])
                resent = False
                continue
            if data:
                return bytes(data) + response
            return response
        raise ReaderError(f"{self.url}: the card was still answering 61 xx after {_MAX_ROUNDS} "
                          f"GET RESPONSE rounds ({len(data)} bytes)")

    def _exchange(self, apdu: bytes) -> bytes:
        """One SCardTransmit: ``apdu`` out, the reader's answer (at least SW1 SW2) back."""
        assert self._card is not None and self._protocol is not None
        self._trace(SEND, apdu)
        hresult, *rest = _call("SCardTransmit", _scard.SCardTransmit, self._card,
                               self._protocol, list(apdu))
        if hresult != S_SUCCESS:
            self._raise_for(hresult, "the exchange")
        raw = rest[0] if rest else []
        try:
            response = bytes(raw)
        except (TypeError, ValueError) as exc:
            raise ReaderError(f"{self.url}: pyscard returned a response that is not bytes: "
                              f"{raw!r}") from exc
        if len(response) < 2:
            self._exchange_failed(f"the reader returned {len(response)} bytes, no status word")
        self._trace(RECV, response)
        return response

    def _raise_for(self, hresult: int, what: str) -> None:
        """Raise the ekarta error for a failed card operation."""
        message = f"{self.url}: {what} failed: {_describe(hresult)}"
        if hresult in _CARD_GONE:
            self._forget_card()
            raise CardRemovedError(message)
        if hresult in _EXCHANGE_FAILED:
            self._exchange_failed(_describe(hresult))
        if hresult in (E_TIMEOUT, W_UNRESPONSIVE_CARD):
            raise ReaderTimeout(message)
        if hresult in _READER_GONE:
            self._forget_card()
            self._reader_lost = True
            raise NoReaderError(f"{message}; the reader {self.reader_name!r} is gone")
        if hresult in _SERVICE_GONE:
            self._forget_card()
            self._drop_context()
            raise NoReaderError(f"{message}; {_PCSCD_HINT}")
        if hresult in (E_INVALID_PARAMETER, E_INVALID_VALUE):
            raise InvalidArgument(message)
        raise ReaderError(message)

    def _exchange_failed(self, reason: str) -> None:
        """The reader gave up on an exchange: the card left, or it did not answer."""
        deadline = time.monotonic() + self.removal_grace
        while True:
            hresult = self._card_status()[0] if self._card is not None else W_REMOVED_CARD
            if hresult in _CARD_GONE:
                self._forget_card()
                raise CardRemovedError(f"{self.url}: the card left the field ({reason})")
            if hresult in _READER_GONE or hresult in _SERVICE_GONE:
                self._raise_for(hresult, "the exchange")
            if time.monotonic() >= deadline:
                raise ReaderTimeout(f"{self.url}: the card did not answer ({reason})")
            time.sleep(_STATUS_POLL)

    # --- card connection ----------------------------------------------------------------------

    def _connect(self) -> CardInfo:
        context = self._ensure_ready()
        hresult, *rest = _call("SCardConnect", _scard.SCardConnect, context, self.reader_name,
                               _scard.SCARD_SHARE_SHARED,
                               _scard.SCARD_PROTOCOL_T0 | _scard.SCARD_PROTOCOL_T1)
        if hresult != S_SUCCESS:
            if hresult in _CARD_GONE:
                raise NoCardError(f"{self.url}: no card to connect to ({_describe(hresult)})")
            if hresult == E_SHARING_VIOLATION:
                raise ReaderError(f"{self.url}: another application holds the card in "
                                  f"{self.reader_name!r} exclusively")
            self._raise_for(hresult, "connecting to the card")
        if len(rest) < 2 or not isinstance(rest[0], int) or not isinstance(rest[1], int):
            raise ReaderError(f"{self.url}: pyscard returned {rest!r} from SCardConnect")
        self._card, self._protocol = rest[0], rest[1]
        try:
            self._reset_card()
            status = self._card_status()
            if status[0] != S_SUCCESS:
                self._raise_for(status[0], "reading the card status")
            atr = self._atr_from(status)
            uid = self._read_uid() if _contactless_atr(atr) else None
        except BaseException:
            if self._card is not None:
                self._disconnect()
            raise
        self._card_info = CardInfo(uid=uid, atr=atr)
        self._log.debug("%s: card in %s (%s), ATR %s, UID %s", self.url, self.reader_name,
                        self.protocol, hexdump(atr), "?" if uid is None else hexdump(uid))
        return self._card_info

    def _reset_card(self) -> None:
        """Reset the card just connected to: pcscd keeps a card powered from one application to
        the next (``SCARD_LEAVE_CARD``), so whatever the last holder left (an authenticated
        session, a selected application, a transaction) would still be there."""
        assert self._card is not None
        hresult, *rest = _call("SCardReconnect", _scard.SCardReconnect, self._card,
                               _scard.SCARD_SHARE_SHARED,
                               _scard.SCARD_PROTOCOL_T0 | _scard.SCARD_PROTOCOL_T1,
                               _scard.SCARD_RESET_CARD)
        if hresult != S_SUCCESS:
            self._raise_for(hresult, "resetting the card")
        if rest and isinstance(rest[0], int):
            self._protocol = rest[0]
        self._log.debug("%s: card reset", self.url)

    def _atr_from(self, status: list[Any]) -> bytes:
        raw = status[4] if len(status) > 4 else None
        try:
            atr = bytes(raw or b"")
        except (TypeError, ValueError) as exc:
            raise ReaderError(f"{self.url}: the reader reported an ATR that is not bytes: "
                              f"{raw!r}") from exc
        if not 2 <= len(atr) <= 33:  # ISO 7816-3: TS, T0 ... at most 33 bytes
            raise ReaderError(f"{self.url}: the reader reported a {len(atr)}-byte ATR")
        return atr

    def _read_uid(self) -> bytes | None:
        response = self._transceive(b"\xFF\xCA\x00\x00\x00")
        if response[-2:] != b"\x90\x00" or not 1 <= len(response) - 2 <= _MAX_UID:
            self._log.debug("%s: no UID from the reader (%s)", self.url, hexdump(response))
            return None
        return response[:-2]

    def _card_status(self) -> list[Any]:
        assert self._card is not None
        return _call("SCardStatus", _scard.SCardStatus, self._card)

    def _card_still_there(self) -> bool:
        hresult = self._card_status()[0]
        if hresult == S_SUCCESS:
            return True
        self._log.debug("%s: the card connection is stale: %s", self.url, _describe(hresult))
        return False

    def _forget_card(self) -> None:
        """The card is gone: drop the handle (pcscd forgets it at the disconnect)."""
        if self._card is not None:
            self._disconnect()

    def _disconnect(self) -> None:
        card, self._card, self._protocol = self._card, None, None
        self._card_info = None
        if card is not None:
            try:
                _scard.SCardDisconnect(card, _scard.SCARD_LEAVE_CARD)
            except Exception as exc:  # the handle may be stale: nothing left to release
                self._log.debug("%s: SCardDisconnect: %s", self.url, exc)

    # --- context and reader -------------------------------------------------------------------

    def _ensure_context(self) -> int:
        if self._context is None:
            self._context = _establish()
        return self._context

    def _drop_context(self) -> None:
        context, self._context = self._context, None
        if context is not None:
            _release(context)

    def _ensure_ready(self) -> int:
        """A live context, and the reader looked up again if it was lost."""
        try:
            context = self._ensure_context()
        except NoReaderError as exc:
            raise NoReaderError(f"{self.url}: {exc}") from exc
        if self._reader_lost:
            try:
                name = _select(self.selector, _list(context))
            except NoReaderError as exc:
                self._drop_context()  # cheap to make again, and maybe pcscd restarted
                raise NoReaderError(f"{self.url}: {exc}") from exc
            if name != self.reader_name:
                self._log.info("%s: the reader is back as %r", self.url, name)
            self.reader_name = name
            self._reader_lost = False
        return context

    def _reader_state(self, context: int, timeout: float, current: int) -> int:
        """The reader's state from pcscd, waiting up to ``timeout`` s for it to leave
        ``current``; a lost reader or pcscd raises ``NoReaderError``."""
        milliseconds = max(0, int(timeout * 1000))
        hresult, *rest = _call("SCardGetStatusChange", _scard.SCardGetStatusChange, context,
                               milliseconds, [(self.reader_name, current)])
        if hresult == E_TIMEOUT:
            return current
        if hresult in _SERVICE_GONE:
            if context == self._context:
                self._forget_card()
                self._drop_context()
            raise NoReaderError(f"{self.url}: pcscd stopped answering: {_describe(hresult)}; "
                                f"{_PCSCD_HINT}")
        if hresult in _READER_GONE:
            if context == self._context:
                self._forget_card()
            self._reader_lost = True
            raise NoReaderError(f"{self.url}: the reader {self.reader_name!r} is gone "
                                f"({_describe(hresult)})")
        if hresult != S_SUCCESS:
            raise ReaderError(f"{self.url}: cannot read the reader's state: {_describe(hresult)}")
        try:
            (_name, event_state, _atr), = rest[0]
            event_state = int(event_state)
        except (TypeError, ValueError, IndexError) as exc:
            raise ReaderError(f"pyscard returned {rest!r} from SCardGetStatusChange") from exc
        if event_state & STATE_UNKNOWN:  # pcscd does not know the name (any more)
            if context == self._context:
                self._forget_card()
            self._reader_lost = True
            raise NoReaderError(f"{self.url}: the reader {self.reader_name!r} is gone")
        # the upper 16 bits count card events: keep them out of the state we wait on
        return event_state & 0xFFFF & ~_scard.SCARD_STATE_CHANGED

    @staticmethod
    def _remaining(deadline: float | None) -> float:
        if deadline is None:
            return _POLL
        return max(0.0, deadline - time.monotonic())


def open_pcsc(rest: str) -> PcscReader:
    """The ``pcsc:`` driver: ``rest`` selects the reader (see the module docstring)."""
    return PcscReader(rest)
