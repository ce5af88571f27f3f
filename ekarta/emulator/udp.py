"""The served card as a peer of nfcpy's ``udp`` driver: :class:`UdpFrontEnd`.

nfcpy's ``udp:HOST:PORT`` device (``nfc/clf/udp.py``) simulates the RF link with UDP datagrams:
the reader sends every frame to HOST:PORT and waits for the answer on the same socket.  Each
datagram is ASCII::

    106A 26             bit rate and modulation, one space, the frame in hex (no CRC_A)
    RFOFF               the reader switched its field off (it sends this when it mutes: at
                        the start of every sense, and when it closes)

The card answers to the datagram's source address in the same form (``106A 4403``); silence is
a timeout for the reader (it waits 1 s for ATQA, 0.5 s during anticollision, the frame waiting
time for ISO-DEP blocks).  Frames carry no CRC_A and no bit count: a one-byte ``26`` or ``52`` is
the short REQA/WUPA frame.  Only ``106A`` is served; other technologies (``106B``, ``212F``...),
garbage and oversized datagrams are ignored with a log line.

nfcpy opens a new socket (a new source port) at every sense, so a datagram from another address
than the reader holding the card means a new field: the card powers down and starts over.

Use::

    with UdpFrontEnd(host, ("127.0.0.1", 54321)) as udp:
        ...  # nfc.ContactlessFrontend("udp:127.0.0.1:54321"), or open_reader("nfcpy:udp:...")

Port 0 binds a free port; :attr:`UdpFrontEnd.address` is the bound one.
"""

from __future__ import annotations

import logging
import re
import select
import socket

from ekarta.desfire.redact import secrets_revealed
from ekarta.emulator import CardHost
from ekarta.emulator.frontend import FrontEnd
from ekarta.emulator.iso14443 import Iso14443A
from ekarta.errors import EmulatorError
from ekarta.log import trace
from ekarta.wire.iso14443 import REQA, WUPA

__all__ = ["DEFAULT_ADDRESS", "UdpFrontEnd"]

logger = logging.getLogger(__name__)

DEFAULT_ADDRESS = ("127.0.0.1", 54321)

#: nfcpy reads datagrams with ``recvfrom(1024)``; a frame of at most 290 bytes fits.
MAX_DATAGRAM = 1024
_BRTY = b"106A"
_RFOFF = b"RFOFF"
_DATAGRAM = re.compile(rb"([0-9]{3}[A-Z]) ([0-9A-Fa-f]*)\Z")
_POLL = 0.05


def _shown(datagram: bytes) -> str:
    """A datagram for the trace: only its size unless secrets are revealed, since the frames
    in it may be secret; the card's ISO 14443 layer traces each frame, redacted."""
    return repr(datagram) if secrets_revealed() else f"{len(datagram)} bytes"


class UdpFrontEnd(FrontEnd):
    """Answers nfcpy's ``udp`` driver for ``host`` at ``address`` (see the module docstring)."""

    def __init__(self, host: CardHost, address: tuple[str, int] = DEFAULT_ADDRESS, *,
                 wtx: bool = True) -> None:
        super().__init__()
        self.host = host
        self._requested = (str(address[0]), int(address[1]))
        self._wtx = wtx
        self._sock: socket.socket | None = None
        self._model: Iso14443A | None = None
        self._peer: tuple[str, int] | None = None
        self._bound: tuple[str, int] | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port) once started, else the requested one."""
        return self._bound or self._requested

    @property
    def url(self) -> str:
        """The ekarta reader URL that reaches this front-end."""
        host, port = self.address
        return f"nfcpy:udp:{host}:{port}"

    @property
    def model(self) -> Iso14443A | None:
        """The card's ISO 14443 model while serving."""
        return self._model

    def describe(self) -> str:
        host, port = self.address
        state = "listening on" if self._thread is not None else "stopped, for"
        return f"udp: nfcpy udp driver {state} {host}:{port} (reader URL {self.url})"

    # --- life cycle (FrontEnd) -----------------------------------------------------------------

    def _thread_name(self) -> str:
        return f"udp-frontend-{self.address[1]}"

    def _open(self) -> None:
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        except OSError as exc:
            raise EmulatorError(f"udp: cannot create a socket: {exc}") from exc
        try:
            sock.bind(self._requested)
        except OSError as exc:
            sock.close()
            host, port = self._requested
            raise EmulatorError(f"udp: cannot listen on {host}:{port}: {exc}") from exc
        self._sock = sock
        host, port = sock.getsockname()[:2]
        self._bound = (host, port)
        self._model = Iso14443A(self.host, wtx=self._wtx)
        self.host.add_listener(self._on_presence)

    def _close(self, ended: bool) -> None:
        self.host.remove_listener(self._on_presence)
        if self._model is not None:
            self._model.close()
            self._model = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._peer = None

    # --- serving -------------------------------------------------------------------------------

    def _on_presence(self, present: bool) -> None:
        logger.info("udp: the card %s the field", "entered" if present else "left")

    def _run(self) -> None:
        sock, model = self._sock, self._model
        assert sock is not None and model is not None
        while not self._stopping.is_set():
            try:
                ready, _, _ = select.select([sock], [], [], _POLL)
                if not ready:
                    continue
                datagram, peer = sock.recvfrom(MAX_DATAGRAM + 1)
            except (OSError, ValueError) as exc:  # the socket was closed under us
                if not self._stopping.is_set():
                    logger.error("udp: receiving failed: %s", exc)
                return
            try:
                answer = self._handle(model, datagram, peer)
            except Exception:  # a bug must not take the front-end down
                logger.exception("udp: datagram from %s:%d failed", *peer[:2])
                continue
            if answer is not None:
                try:
                    sock.sendto(answer, peer)
                except OSError as exc:
                    logger.warning("udp: cannot answer %s:%d: %s", peer[0], peer[1], exc)

    def _handle(self, model: Iso14443A, datagram: bytes,
                peer: tuple[str, int]) -> bytes | None:
        where = f"{peer[0]}:{peer[1]}"
        if len(datagram) > MAX_DATAGRAM:
            logger.warning("udp: datagram of more than %d bytes from %s ignored",
                           MAX_DATAGRAM, where)
            return None
        trace(logger, "%s >> %s", where, _shown(datagram))
        if datagram.strip().startswith(_RFOFF):
            if peer == self._peer:
                model.field_off()
                self._peer = None
            return None
        match = _DATAGRAM.match(datagram.strip())
        if match is None or len(match.group(2)) % 2:
            logger.warning("udp: malformed datagram from %s ignored: %r", where, datagram[:64])
            return None
        brty, frame = match.group(1), bytes.fromhex(match.group(2).decode("ascii"))
        if brty != _BRTY:
            logger.debug("udp: %s frame from %s ignored (only 106A is served)",
                         brty.decode("ascii"), where)
            return None
        if not frame:
            return None
        if peer != self._peer:
            if self._peer is not None:
                logger.debug("udp: new reader %s: the previous field is gone", where)
            model.field_off()
            self._peer = peer
        short = len(frame) == 1 and frame[0] in (REQA, WUPA)
        answer = model.exchange(frame, bits=7 if short else 8)
        if answer is None:
            return None
        datagram = _BRTY + b" " + answer.hex().encode("ascii")
        trace(logger, "%s << %s", where, _shown(datagram))
        return datagram
