"""The emulated card in pcscd's virtual reader: a client of vpcd (``vsmartcard-vpcd``).

vpcd is a pcscd reader driver that listens on TCP (``127.0.0.1:35963`` for its first reader,
"Virtual PCD 00 00"; the next port for "Virtual PCD 00 01") and shows a card in its reader for as
long as a virtual card is connected.  :class:`VpcdFrontEnd` is that virtual card: every PC/SC
application (pyscard, ``pcsc_scan``, ``scriptor``, ``opensc-tool``...) then sees the emulated
DESFire card.

Wire format (both ways): a 2-byte big-endian length, then that many bytes.  vpcd sends 1-byte
control codes — 0 power off, 1 power on, 2 reset (each a power cycle of the card: its volatile
state is lost), 4 "send the ATR" (answered with the ATR; vpcd also polls presence with it) — and
command APDUs, each answered with the response APDU.

What the front-end does as a contactless reader would (PC/SC part 3 pseudo-APDUs, class ``FF``,
answered without the card):

* ``FF CA 00 00 Le`` — the UID the card shows in anticollision; ``FF CA 01 00 Le`` — the ATS
  historical bytes.  ``Le`` 00 (or none) asks for all of it; a shorter ``Le`` gets ``6C xx``, a
  longer one the data and ``62 82``; other ``P1``/``P2`` get ``6A 81``.
* The other part 3 instructions (load keys, authenticate, read/update binary of storage cards,
  transparent exchange) ``6A 81`` (function not supported); any other ``FF`` instruction
  ``6D 00``.  A class ``FF`` APDU shorter than 4 bytes ``67 00``.

The card's ATR is the one a PC/SC reader builds from the ATS
(:func:`ekarta.wire.ats.atr_from_ats`: ``3B 81 80 01 80 80`` for a DESFire).

Presence: vpcd reports the card absent once its connection is gone, so the front-end closes the
connection when the card leaves the field (``host.remove()``, or a tear during a command, which
gets no answer) and connects again only when the card is back — and not before ``min_absence``
seconds (default 0.6) have passed since it left: pcscd looks at the reader every 0.4 s, and a
card that is back before pcscd looked (``host.replace()`` swaps cards at once) would never have
left for pcscd, whose applications would then talk to the new card on the old one's handles.
While vpcd is not listening (pcscd not running yet, or restarting) the front-end retries with a
back-off from ``retry_interval`` up to ``max_retry_interval`` until :meth:`VpcdFrontEnd.stop`.

Bounded waits, so that a broken peer never hangs anything:

* a mute card (:class:`~ekarta.emulator.CardMute`) would leave pcscd waiting for ever — vpcd reads
  without a timeout — so after ``mute_timeout`` seconds (default 1.0) without an answer the
  front-end closes the connection, as a reader gives up on a card after its frame waiting time;
  the PC/SC client's exchange fails (it gets no status word).  The card is still in the field, so
  the next connection is made before this one is closed: pcscd does not see the card leave;
* a message vpcd starts must arrive whole within ``message_timeout`` seconds (default 5.0);
* an empty message, or a 1-byte message that is not one of the control codes, is not vpcd's
  protocol: the connection is closed (and made again after the back-off).

Speed: an exchange through pcscd and vpcd takes about 0.1 ms, once the front-end acknowledges
TCP segments at once (see :func:`_quick_ack`: without that, Debian 12's vpcd made it 44 ms).

Usage::

    host = CardHost(VirtualCard.load("card.json"), "card.json")
    with VpcdFrontEnd(host) as vpcd:        # start() ... stop()
        print(vpcd.describe())              # "vpcd: connected to 127.0.0.1:35963"
        ...
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import socket
import struct
import threading
import time

from ekarta.desfire.redact import FrameTracer
from ekarta.emulator import CardHost, CardMute, CardTorn
from ekarta.emulator.frontend import FrontEnd
from ekarta.errors import InvalidArgument
from ekarta.log import TRACE, hexdump, trace
from ekarta.wire.ats import atr_from_ats, parse_ats

__all__ = ["DEFAULT_ADDRESS", "DEFAULT_PORT", "VpcdFrontEnd", "parse_address"]

logger = logging.getLogger(__name__)

DEFAULT_PORT = 35963
"""vpcd's port for its first reader ("Virtual PCD 00 00"); reader N listens on port + N."""

DEFAULT_ADDRESS = ("127.0.0.1", DEFAULT_PORT)

MAX_MESSAGE = 0xFFFF
"""The longest payload the 2-byte length prefix can announce."""

CTRL_POWER_OFF = 0
CTRL_POWER_ON = 1
CTRL_RESET = 2
CTRL_ATR = 4
_CONTROL_NAMES = {CTRL_POWER_OFF: "power off", CTRL_POWER_ON: "power on",
                  CTRL_RESET: "reset", CTRL_ATR: "ATR request"}

SW_OK = b"\x90\x00"
SW_END_OF_DATA = b"\x62\x82"
SW_WRONG_LENGTH = b"\x67\x00"
SW_NOT_SUPPORTED = b"\x6A\x81"
SW_INS_NOT_SUPPORTED = b"\x6D\x00"
SW_NO_DIAGNOSIS = b"\x6F\x00"

# PC/SC part 3 instructions a reader may implement for storage cards or key stores; the
# virtual reader has neither, which part 3 answers "function not supported".
_PART3_INS = frozenset({0x82, 0x86, 0x88, 0xB0, 0xD6, 0xC2})


def parse_address(text: str | None) -> tuple[str, int]:
    """``"HOST:PORT"``, ``"HOST"``, ``":PORT"``, ``"PORT"`` or None/"" -> ``(host, port)``.

    Missing parts default to :data:`DEFAULT_ADDRESS`; ``[::1]:PORT`` brackets an IPv6 host.
    """
    if not text:
        return DEFAULT_ADDRESS
    host, port_text = DEFAULT_ADDRESS[0], ""
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or (text[end + 1:] and not text[end + 1:].startswith(":")):
            raise InvalidArgument(f"bad vpcd address {text!r}: expected [HOST]:PORT")
        host, port_text = text[1:end], text[end + 2:]
    elif text.isdigit():
        port_text = text
    elif ":" in text:
        host, _, port_text = text.rpartition(":")
        host = host or DEFAULT_ADDRESS[0]
    else:
        host = text
    if not port_text:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise InvalidArgument(f"bad vpcd address {text!r}: the port must be 1..65535")
    return host, int(port_text)


def _quick_ack(sock: socket.socket) -> None:
    """Acknowledge what arrives at once, not after the delayed-ACK timer (40 ms on Linux).

    vpcd before 2023 (Debian 12 ships virtualsmartcard 0.8) writes the length prefix and the
    APDU in two writes with Nagle's algorithm on: the APDU waits for the prefix's ACK, which the
    receiver delays (it has nothing to send yet), so every exchange took about 44 ms instead of
    a fraction of one.  Linux turns quick ACKs off again by itself: renewed after every read.
    """
    if _TCP_QUICKACK is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, _TCP_QUICKACK, 1)


_TCP_QUICKACK: int | None = getattr(socket, "TCP_QUICKACK", None)


class _Disconnect(Exception):
    """Why the worker drops the current connection (the message is for the log).

    ``peer_fault``: vpcd broke the protocol or the connection, so the next attempt backs off
    (a peer that accepts and hangs up at once must not make the worker spin).
    """

    def __init__(self, why: str, *, peer_fault: bool = False) -> None:
        super().__init__(why)
        self.peer_fault = peer_fault


class VpcdFrontEnd(FrontEnd):
    """Serves ``host``'s card to vpcd at ``address`` (see the module docstring).

    ``start()`` spawns a daemon thread and returns once the first connection attempt is over
    (connected, refused, or the card is not in the field); ``stop()`` closes the connection and
    joins the thread (idempotent).  Also a context manager (start on enter, stop on exit).
    """

    def __init__(self, host: CardHost, address: tuple[str, int] | str = DEFAULT_ADDRESS, *,
                 mute_timeout: float = 1.0, message_timeout: float = 5.0,
                 connect_timeout: float = 1.0, retry_interval: float = 0.1,
                 max_retry_interval: float = 1.0, min_absence: float = 0.6) -> None:
        if isinstance(address, str):
            address = parse_address(address)
        host_name, port = address
        if not isinstance(port, int) or not 0 < port < 65536:
            raise InvalidArgument(f"bad vpcd port {port!r}")
        for name, value in (("mute_timeout", mute_timeout), ("message_timeout", message_timeout),
                            ("connect_timeout", connect_timeout),
                            ("retry_interval", retry_interval),
                            ("max_retry_interval", max_retry_interval)):
            if not value > 0:
                raise InvalidArgument(f"{name} must be > 0, got {value!r}")
        if not min_absence >= 0:
            raise InvalidArgument(f"min_absence must be >= 0, got {min_absence!r}")
        super().__init__()
        self.host = host
        self.address: tuple[str, int] = (host_name, port)
        self.mute_timeout = mute_timeout
        self.message_timeout = message_timeout
        self.connect_timeout = connect_timeout
        self.retry_interval = retry_interval
        self.max_retry_interval = max(max_retry_interval, retry_interval)
        self.min_absence = min_absence
        self._absent_until = 0.0
        self._tracer = FrameTracer()

        self._first_attempt = threading.Event()
        self._state_lock = threading.Lock()
        self._state = "not started"
        self._sock: socket.socket | None = None
        self._successor: socket.socket | None = None
        # presence changes are counted, so that a removal followed at once by an insertion
        # still drops the connection (the card was out: its session is gone, pcscd must see it)
        self._presence_generation = 0
        # a socket pair wakes the worker from select(): on stop() and on presence changes
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        self._served = threading.Condition()
        self._connections = 0
        self._messages = 0

    # --- public interface ---------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether a connection to vpcd is open now."""
        return self._sock is not None

    @property
    def connections(self) -> int:
        """How many connections to vpcd were made so far."""
        return self._connections

    @property
    def messages(self) -> int:
        """How many messages vpcd sent so far (over all connections)."""
        return self._messages

    # --- life cycle (FrontEnd) -------------------------------------------------------------------

    def _thread_name(self) -> str:
        return f"vpcd {self._where}"

    def _open(self) -> None:
        if self._stopping.is_set():
            raise InvalidArgument("a stopped VpcdFrontEnd cannot be started again; make a new one")
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self.host.add_listener(self._on_presence)
        self._set_state(f"connecting to {self._where}")

    def _started(self) -> None:
        # start() returns once the first attempt is over: connected, refused, or no card
        self._first_attempt.wait(self.connect_timeout + 1.0)

    def _close(self, ended: bool) -> None:
        self.host.remove_listener(self._on_presence)
        if ended:  # the worker selects on the wake socket for as long as it runs
            for sock in (self._wake_r, self._wake_w):
                if sock is not None:
                    sock.close()
        self._set_state("stopped")

    def describe(self) -> str:
        """One line for a startup banner, e.g. ``"vpcd: connected to 127.0.0.1:35963"``."""
        with self._state_lock:
            return f"vpcd: {self._state}"

    def wait_served(self, timeout: float, after: int = 0) -> bool:
        """Wait until vpcd has sent more than ``after`` messages; False if it did not in time.

        A connection is only accepted by vpcd when pcscd polls the reader, so the first message
        (an ATR request) is the proof that this front-end, and not another one, is in the reader.
        """
        with self._served:
            return self._served.wait_for(lambda: self._messages > after, timeout)

    def __repr__(self) -> str:
        return f"<VpcdFrontEnd {self._where} {self.describe()!r}>"

    # --- the worker ---------------------------------------------------------------------------

    @property
    def _where(self) -> str:
        host, port = self.address
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def _set_state(self, state: str) -> None:
        with self._state_lock:
            self._state = state

    def _on_presence(self, present: bool) -> None:
        # called under the host's lock, maybe from the worker itself: never block here
        if not present:
            self._absent_until = time.monotonic() + self.min_absence
        self._presence_generation += 1
        logger.debug("card %s the field", "entered" if present else "left")
        self._wake()

    def _wake(self) -> None:
        if self._wake_w is not None:
            with contextlib.suppress(OSError):  # full (already woken) or closed (stopped)
                self._wake_w.send(b"\0")

    def _drain_wake(self) -> None:
        assert self._wake_r is not None
        with contextlib.suppress(OSError):
            while self._wake_r.recv(64):
                pass

    def _sleep(self, seconds: float) -> None:
        """Sleep, but wake up at once on stop() or a change of presence."""
        assert self._wake_r is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self._wake_r, selectors.EVENT_READ)
            sel.select(seconds)
        self._drain_wake()

    def _run(self) -> None:
        delay = self.retry_interval
        try:
            while not self._stopping.is_set():
                absent_for = self._absent_until - time.monotonic()
                if not self.host.present or absent_for > 0:
                    self._set_state(f"card not in the field; will connect to {self._where}")
                    self._first_attempt.set()
                    self._sleep(min(0.5, absent_for) if absent_for > 0 else 0.5)
                    continue
                generation = self._presence_generation
                try:
                    sock = self._successor or socket.create_connection(
                        self.address, timeout=self.connect_timeout)
                except OSError as exc:
                    self._set_state(f"connecting to {self._where} (not listening: "
                                    f"{exc.strerror or exc}; retrying)")
                    logger.debug("vpcd at %s: %s; retrying in %.2f s", self._where, exc, delay)
                    self._first_attempt.set()
                    self._sleep(delay)
                    delay = min(delay * 2, self.max_retry_interval)
                    continue
                self._successor = None
                if self._serve(sock, generation):
                    delay = self.retry_interval
                else:
                    self._set_state(f"connecting to {self._where} (connection lost; retrying)")
                    self._sleep(delay)
                    delay = min(delay * 2, self.max_retry_interval)
        except Exception:  # the thread must not die silently: say why the card disappeared
            logger.exception("vpcd front-end failed")
            self._set_state("failed (see the log)")
        finally:
            if self._successor is not None:
                self._successor.close()
                self._successor = None
            self._first_attempt.set()

    def _serve(self, sock: socket.socket, generation: int) -> bool:
        """Answer vpcd on ``sock`` until the connection ends; False if vpcd was at fault."""
        answered = False
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        _quick_ack(sock)
        self._sock = sock
        self._connections += 1
        self._set_state(f"connected to {self._where}")
        logger.info("connected to vpcd at %s", self._where)
        self._first_attempt.set()
        wake = self._wake_r
        assert wake is not None  # opened by _open() before the worker runs
        try:
            with selectors.DefaultSelector() as sel:
                sel.register(sock, selectors.EVENT_READ)
                sel.register(wake, selectors.EVENT_READ)
                while True:
                    ready = {key.fileobj for key, _ in sel.select()}
                    if wake in ready:
                        self._drain_wake()
                    if self._stopping.is_set():
                        raise _Disconnect("stopping")
                    if self._presence_generation != generation:
                        raise _Disconnect("the card left the field")
                    if sock in ready:
                        message = self._read_message(sock)
                        self._count_message()
                        self._handle(sock, message, generation)
                        answered = True
        except _Disconnect as why:
            logger.info("closing the connection to vpcd at %s: %s", self._where, why)
            return answered or not why.peer_fault
        except OSError as exc:
            logger.info("connection to vpcd at %s lost: %s", self._where, exc)
            return answered
        finally:
            self._sock = None
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _count_message(self) -> None:
        with self._served:
            self._messages += 1
            self._served.notify_all()

    def _recv_exact(self, sock: socket.socket, n: int, deadline: float | None) -> bytes:
        chunks = bytearray()
        while len(chunks) < n:
            if deadline is None:
                sock.settimeout(None)
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _Disconnect(f"vpcd sent {len(chunks)} of {n} bytes, then nothing "
                                      f"for {self.message_timeout:g} s", peer_fault=True)
                sock.settimeout(remaining)
            try:
                chunk = sock.recv(n - len(chunks))
            except TimeoutError:
                continue
            _quick_ack(sock)
            if not chunk:
                raise _Disconnect("vpcd closed the connection", peer_fault=True)
            chunks += chunk
        return bytes(chunks)

    def _read_message(self, sock: socket.socket) -> bytes:
        # the socket is readable: what follows must arrive within message_timeout
        deadline = time.monotonic() + self.message_timeout
        (length,) = struct.unpack(">H", self._recv_exact(sock, 2, deadline))
        if length == 0:
            raise _Disconnect("vpcd sent an empty message (not vpcd's protocol)",
                              peer_fault=True)
        return self._recv_exact(sock, length, deadline)

    def _send_message(self, sock: socket.socket, payload: bytes) -> None:
        if not 0 < len(payload) <= MAX_MESSAGE:
            logger.error("a %d-byte answer does not fit vpcd's protocol; answering 6F 00",
                         len(payload))
            payload = SW_NO_DIAGNOSIS
        sock.settimeout(self.message_timeout)
        sock.sendall(struct.pack(">H", len(payload)) + payload)

    def _handle(self, sock: socket.socket, message: bytes, generation: int) -> None:
        if len(message) == 1:
            code = message[0]
            if code not in _CONTROL_NAMES:
                raise _Disconnect(f"vpcd sent an unknown control code 0x{code:02X}",
                                  peer_fault=True)
            # vpcd polls presence with an ATR request several times a second: trace only
            logger.log(TRACE if code == CTRL_ATR else logging.DEBUG, "vpcd: %s",
                       _CONTROL_NAMES[code])
            if code == CTRL_ATR:
                with self.host.lock:
                    atr = atr_from_ats(self.host.card.ats)
                self._send_message(sock, atr)
            else:
                self.host.power_cycle()
            return
        trace(logger, "vpcd >> %s", self._tracer.frame(message, to_card=True))
        response = self._respond(message, generation)
        trace(logger, "vpcd << %s", self._tracer.frame(response, to_card=False))
        self._send_message(sock, response)

    def _respond(self, apdu: bytes, generation: int) -> bytes:
        if apdu[0] == 0xFF:
            return self._reader_command(apdu)
        try:
            return self.host.transceive(apdu)
        except CardTorn as exc:
            raise _Disconnect(f"the card lost power during a command ({exc})") from exc
        except CardMute:
            # a reader waits for a mute card until its frame waiting time runs out
            logger.info("the card is mute; dropping the exchange after %.1f s",
                        self.mute_timeout)
            deadline = time.monotonic() + self.mute_timeout
            while (remaining := deadline - time.monotonic()) > 0:
                self._sleep(remaining)
                if self._stopping.is_set() or self._presence_generation != generation:
                    break
            else:
                # the card is still in the field: queue the next connection in vpcd's backlog
                # before dropping this one, so that vpcd finds the card again at once and pcscd
                # never sees it leave
                with contextlib.suppress(OSError):
                    self._successor = socket.create_connection(
                        self.address, timeout=self.connect_timeout)
            raise _Disconnect("the card did not answer (mute)") from None
        except Exception:  # an emulator bug must not kill the reader: a card would be mute
            # the header only: the data may be secret (ekarta.desfire.redact)
            logger.exception("the emulated card failed on %s ...", hexdump(apdu[:5]))
            return SW_NO_DIAGNOSIS

    def _reader_command(self, apdu: bytes) -> bytes:
        """A PC/SC part 3 pseudo-APDU (class FF), answered by the reader itself."""
        if len(apdu) < 4:
            return SW_WRONG_LENGTH
        ins, p1, p2 = apdu[1], apdu[2], apdu[3]
        if ins != 0xCA:
            return SW_NOT_SUPPORTED if ins in _PART3_INS else SW_INS_NOT_SUPPORTED
        if len(apdu) > 5:
            return SW_WRONG_LENGTH  # GET DATA carries no data
        le = apdu[4] if len(apdu) == 5 else 0
        if p2 != 0 or p1 not in (0, 1):
            return SW_NOT_SUPPORTED
        with self.host.lock:
            card = self.host.card
            if p1 == 0:
                data = card.anticollision_uid
            else:
                # the historical bytes the ATR carries (at most 15, the ATR's limit)
                data = parse_ats(card.ats).historical[:15]
        if le == 0 or le == len(data):
            return data + SW_OK
        if le < len(data):
            return bytes([0x6C, len(data)])
        return data + SW_END_OF_DATA
