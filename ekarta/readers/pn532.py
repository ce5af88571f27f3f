"""The ``pn532`` reader: ekarta's own driver for an NXP PN532 on a serial port (HSU), on pyserial.

URL grammar::

    pn532:PORT[?baud=N][&timeout=S]

``PORT``
    the serial device (``/dev/ttyUSB0``, ``/dev/serial0``, a pty link...; ``~`` is expanded), or
    any pyserial URL (``rfc2217://host:port``, ``socket://host:port``, ``loop://``; see pyserial's
    ``serial_for_url``), whose own query parameters are passed on to pyserial.
``baud``
    the UART speed, default 115200 (the PN532's rate after power-up; the driver never changes it).
``timeout``
    seconds to wait for the chip's answer to one command, default 3.0 (the card's own waiting
    times, WTX included, are the chip's business: it answers within them).

Examples: ``pn532:/dev/ttyUSB0``, ``pn532:/dev/ttyAMA0?baud=115200``,
``pn532:/tmp/pn532?timeout=1``.

Opening wakes the chip (0x55 and a long preamble, then SAMConfiguration normal mode), checks with
GetFirmwareVersion that a PN532 answers (anything else: :class:`~ekarta.errors.NoReaderError`),
turns on automatic RATS, bounds InListPassiveTarget's retries and switches the RF field off so that
the first card starts fresh.  :meth:`Pn532Reader.wait_for_card` polls InListPassiveTarget at
106 kbps type A until an ISO 14443-4 card answers; the chip runs ISO-DEP with it (RATS, block
chaining, WTX) and :meth:`Pn532Reader.transceive` sends APDUs with InDataExchange, cutting commands
longer than one frame with the MI bit and collecting MI-chained answers.  Closing releases the
target (InRelease) and switches the field off.

Errors.  A chip that does not answer in time gets an ACK (which aborts its command) and the call
raises :class:`~ekarta.errors.ReaderTimeout`; an answer frame with a bad checksum is asked for
again with a NACK (twice at most), then :class:`~ekarta.errors.ReaderError`; the chip's
syntax-error frame is a :class:`~ekarta.errors.ReaderError`.  The PN532 reports a card that went
away the way it reports a mute card, status 0x01 (timeout): the driver then asks the chip whether
the card is still there (Diagnose 0x06, card presence) and raises
:class:`~ekarta.errors.CardRemovedError` if it is not, :class:`~ekarta.errors.ReaderTimeout` if it
is; status 0x27/0x29/0x2A/0x2B (target gone or released) also mean CardRemovedError.

Unplugged reader.  When the port fails (a USB adapter pulled out, the emulator stopped), the
operation raises :class:`~ekarta.errors.NoReaderError` and the reader forgets its card; the next
:meth:`~Pn532Reader.wait_for_card`, :meth:`~Pn532Reader.transceive` or
:attr:`~Pn532Reader.card_present` reopens the port and initialises the chip again, and
``wait_for_card`` keeps trying until its timeout.  Frames are traced at :data:`ekarta.log.TRACE`
on this module's logger, APDUs like every reader's; the APDUs inside InDataExchange have their
secret data hidden as every trace does (:mod:`ekarta.desfire.redact`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import urllib.parse
from dataclasses import dataclass

import serial

from ekarta.desfire.redact import FrameTracer
from ekarta.errors import (
    CardRemovedError,
    InvalidArgument,
    NoCardError,
    NoReaderError,
    ReaderError,
    ReaderTimeout,
)
from ekarta.log import hexdump, trace
from ekarta.readers.base import RECV, SEND, CardInfo, Reader
from ekarta.wire.ats import atr_from_ats
from ekarta.wire.iso14443 import SAK_ISO14443_4
from ekarta.wire.pn532_frame import (
    ACK,
    HOST_TFI,
    NACK,
    PN532_TFI,
    WAKEUP,
    Frame,
    FrameDecoder,
    FrameKind,
    encode,
)

__all__ = ["Pn532Reader", "Pn532Target", "open_pn532", "parse_target_data"]

logger = logging.getLogger(__name__)

DEFAULT_BAUD = 115200
DEFAULT_TIMEOUT = 3.0

#: Most data bytes in one InDataExchange frame (after Tg; answers: after the status byte).
MAX_DATA = 262
#: An answer longer than this (MI chaining) is a runaway chip.
MAX_RESPONSE = 65536 + 2

CMD_DIAGNOSE = 0x00
CMD_GET_FIRMWARE_VERSION = 0x02
CMD_SET_PARAMETERS = 0x12
CMD_SAM_CONFIGURATION = 0x14
CMD_RF_CONFIGURATION = 0x32
CMD_IN_DATA_EXCHANGE = 0x40
CMD_IN_LIST_PASSIVE_TARGET = 0x4A
CMD_IN_RELEASE = 0x52

_ST_TIMEOUT = 0x01
_GONE = frozenset({0x27, 0x29, 0x2A, 0x2B})
_MI = 0x40

_STATUS_TEXT = {
    0x01: "the card did not answer in time",
    0x02: "CRC error on the air",
    0x03: "parity error on the air",
    0x05: "framing error",
    0x07: "insufficient communication buffer",
    0x09: "RF buffer overflow",
    0x0A: "RF field not switched on in time",
    0x0B: "RF protocol error",
    0x0D: "overheating: antenna drivers switched off",
    0x0E: "internal buffer overflow",
    0x10: "invalid parameter",
    0x13: "format error on the air",
    0x25: "command invalid in the current DEP state",
    0x26: "operation not allowed in this configuration",
    0x27: "command not acceptable in the current context (no such target)",
    0x29: "the target was released",
    0x2A: "the card's ID does not match",
    0x2B: "the card disappeared",
    0x2D: "over-current",
}

#: Commands that change nothing on the card: safe to send again when the chip did not ACK.
_IDEMPOTENT = frozenset({CMD_DIAGNOSE, CMD_GET_FIRMWARE_VERSION, CMD_SET_PARAMETERS,
                         CMD_SAM_CONFIGURATION, CMD_RF_CONFIGURATION, CMD_IN_RELEASE})

#: How long the chip has to ACK a command (the PN532 does it within 15 ms).
ACK_TIMEOUT = 0.5
#: How often wait_for_card polls.
POLL_INTERVAL = 0.05
_READ_SLICE = 0.05
_NACK_RETRIES = 2
_SEND_RETRIES = 2


@dataclass(frozen=True)
class Pn532Target:
    """One target of an InListPassiveTarget answer at 106 kbps type A."""

    number: int
    atqa: bytes           # as sent on the air: least significant byte first (DESFire: 44 03)
    sak: int
    uid: bytes
    ats: bytes | None     # with its TL byte, when the chip ran RATS


def parse_target_data(data: bytes) -> Pn532Target | None:
    """The first target in InListPassiveTarget's answer (``NbTg`` first), None if there is none.

    Raises :class:`~ekarta.errors.ReaderError` for data that does not add up.
    """
    data = bytes(data)
    if not data:
        raise ReaderError("PN532: empty InListPassiveTarget answer")
    if data[0] == 0:
        return None
    if len(data) < 6:
        raise ReaderError(f"PN532: target data too short: {hexdump(data)}")
    number, sens_res, sak, uid_len = data[1], data[2:4], data[4], data[5]
    if uid_len not in (4, 7, 10) or len(data) < 6 + uid_len:
        raise ReaderError(f"PN532: bad NFCID1 length {uid_len} in {hexdump(data)}")
    uid = data[6:6 + uid_len]
    rest = data[6 + uid_len:]
    ats = None
    if sak & SAK_ISO14443_4 and rest:
        tl = rest[0]
        if tl < 1 or tl > len(rest):
            raise ReaderError(f"PN532: bad ATS length {tl} in {hexdump(data)}")
        ats = rest[:tl]
    return Pn532Target(number=number, atqa=sens_res[::-1], sak=sak, uid=uid, ats=ats)


class _PortLost(Exception):
    """The serial port failed (gone, closed under us)."""


class Pn532Reader(Reader):
    """A PN532 on a serial port (see the module docstring for the URL grammar and behaviour)."""

    def __init__(self, port: str, *, baud: int = DEFAULT_BAUD, timeout: float = DEFAULT_TIMEOUT,
                 url: str | None = None, serial_options: dict[str, str] | None = None) -> None:
        super().__init__(url or f"pn532:{port}")
        if not port:
            raise InvalidArgument("pn532: needs a serial port: pn532:/dev/ttyUSB0")
        if not isinstance(baud, int) or baud <= 0:
            raise InvalidArgument(f"pn532: baud must be a positive integer, got {baud!r}")
        if not timeout > 0:
            raise InvalidArgument(f"pn532: timeout must be positive, got {timeout!r}")
        self.port = port
        self.baud = baud
        self.timeout = float(timeout)
        self._serial_options = dict(serial_options or {})
        self._serial: serial.SerialBase | None = None
        self._decoder = FrameDecoder()
        self._frames: list[Frame] = []
        self._target: Pn532Target | None = None
        self.firmware: bytes | None = None
        self._chip_tracer = FrameTracer()  # the chip's frames; the APDUs have the reader's own
        self._open()

    # --- Reader ---------------------------------------------------------------------------------

    def transceive(self, apdu: bytes) -> bytes:
        self._check_open()
        apdu = bytes(apdu)
        self._ensure_port()
        target = self._target
        if target is None:
            raise NoCardError(f"{self.url}: no card selected (call wait_for_card first)")
        self._trace(SEND, apdu)
        response = self._exchange(target, apdu)
        self._trace(RECV, response)
        return response

    @property
    def card_present(self) -> bool:
        if self.closed or self._target is None:
            return False
        try:
            self._ensure_port()
            return self._presence() == 0
        except ReaderError as exc:
            logger.debug("%s: presence check failed: %s", self.url, exc)
            return False

    def wait_for_card(self, timeout: float | None = None) -> CardInfo:
        self._check_open()
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._target is not None and self.card_present:
            assert self._card_info is not None
            return self._card_info
        self._forget_card()
        while True:
            self._check_open()
            try:
                self._ensure_port()
                answer = self._command(CMD_IN_LIST_PASSIVE_TARGET, b"\x01\x00")
                target = parse_target_data(answer)
            except NoReaderError:
                if deadline is not None and time.monotonic() >= deadline:
                    raise
                target = None
            if target is not None:
                if target.ats is not None:
                    return self._select(target)
                logger.debug("%s: ignoring a card without ISO 14443-4 (SAK %02X)", self.url,
                             target.sak)
                self._release()
            if deadline is not None and time.monotonic() >= deadline:
                raise ReaderTimeout(f"{self.url}: no ISO 14443-4 card in the field")
            time.sleep(POLL_INTERVAL)

    def close(self) -> None:
        if self.closed:
            return
        if self._serial is not None:
            try:
                self._release()
                self._command(CMD_RF_CONFIGURATION, b"\x01\x00")  # field off
            except ReaderError as exc:
                logger.debug("%s: while closing: %s", self.url, exc)
        self._close_port()
        self._target = None
        super().close()

    # --- cards ----------------------------------------------------------------------------------

    def _select(self, target: Pn532Target) -> CardInfo:
        self._target = target
        assert target.ats is not None
        self._card_info = CardInfo(uid=target.uid, atr=atr_from_ats(target.ats), ats=target.ats,
                                   atqa=target.atqa, sak=target.sak)
        logger.debug("%s: card %s selected", self.url, target.uid.hex().upper())
        return self._card_info

    def _forget_card(self) -> None:
        self._target = None
        self._card_info = None

    def _release(self) -> None:
        self._forget_card()
        status = self._command(CMD_IN_RELEASE, b"\x00")
        if status[:1] not in (b"\x00", b""):
            logger.debug("%s: InRelease status %s", self.url, hexdump(status))

    def _presence(self) -> int:
        """Diagnose 0x06 (card presence): the chip's status, 0 when the card answers."""
        answer = self._command(CMD_DIAGNOSE, b"\x06")
        return answer[0] & 0x3F if answer else 0xFF

    def _exchange(self, target: Pn532Target, apdu: bytes) -> bytes:
        tg = target.number
        parts = [apdu[i:i + MAX_DATA] for i in range(0, len(apdu), MAX_DATA)] or [b""]
        for part in parts[:-1]:
            status = self._command(CMD_IN_DATA_EXCHANGE, bytes([tg | _MI]) + part)
            self._check_status(status)
        answer = self._command(CMD_IN_DATA_EXCHANGE, bytes([tg]) + parts[-1])
        self._check_status(answer)
        response = bytearray(answer[1:])
        while answer[0] & _MI:
            answer = self._command(CMD_IN_DATA_EXCHANGE, bytes([tg]))
            self._check_status(answer)
            if len(answer) < 2:  # empty parts would never reach the byte limit
                raise ReaderError(f"{self.url}: the chip chains an empty part (MI) in its answer")
            response += answer[1:]
            if len(response) > MAX_RESPONSE:
                raise ReaderError(f"{self.url}: the answer runs beyond {MAX_RESPONSE} bytes")
        return bytes(response)

    def _check_status(self, answer: bytes) -> None:
        if not answer:
            raise ReaderError(f"{self.url}: InDataExchange answer without a status byte")
        status = answer[0] & 0x3F
        if status == 0:
            return
        text = _STATUS_TEXT.get(status, "unknown error")
        if status == _ST_TIMEOUT:
            # The chip says the same for a card that left and a card that is slow or mute.
            try:
                present = self._presence() == 0
            except ReaderError:
                present = False
            if present:
                raise ReaderTimeout(f"{self.url}: {text} (PN532 status 0x01)")
            self._release_quietly()
            raise CardRemovedError(f"{self.url}: the card left the field (PN532 status 0x01)")
        if status in _GONE:
            self._release_quietly()
            raise CardRemovedError(f"{self.url}: {text} (PN532 status 0x{status:02X})")
        raise ReaderError(f"{self.url}: {text} (PN532 status 0x{status:02X})")

    def _release_quietly(self) -> None:
        try:
            self._release()
        except ReaderError as exc:
            logger.debug("%s: InRelease after losing the card: %s", self.url, exc)
            self._forget_card()

    # --- the chip -------------------------------------------------------------------------------

    def _open(self) -> None:
        try:
            self._serial = serial.serial_for_url(self._serial_url(), baudrate=self.baud,
                                                 timeout=_READ_SLICE, write_timeout=self.timeout)
        except (serial.SerialException, OSError, ValueError) as exc:
            self._serial = None
            raise NoReaderError(f"{self.url}: cannot open {self.port}: {exc}") from exc
        self._decoder.reset()
        self._frames.clear()
        try:
            self._initialise()
        except ReaderError as exc:
            self._close_port()
            if isinstance(exc, NoReaderError):
                raise
            raise NoReaderError(f"{self.url}: no PN532 answers on {self.port}: {exc}") from exc

    def _serial_url(self) -> str:
        if "://" not in self.port:
            return os.path.expanduser(self.port)
        if not self._serial_options:
            return self.port
        separator = "&" if "?" in self.port else "?"
        return self.port + separator + urllib.parse.urlencode(self._serial_options)

    def _initialise(self) -> None:
        port = self._serial
        assert port is not None
        try:
            port.reset_input_buffer()
            port.write(WAKEUP)
        except (serial.SerialException, OSError) as exc:
            raise NoReaderError(f"{self.url}: cannot write to {self.port}: {exc}") from exc
        # SAMConfiguration normal mode takes the chip out of its low-power state after power-up.
        self._command(CMD_SAM_CONFIGURATION, b"\x01\x14\x01")
        firmware = self._command(CMD_GET_FIRMWARE_VERSION, b"")
        if len(firmware) != 4 or firmware[0] != 0x32:
            raise NoReaderError(f"{self.url}: the chip on {self.port} is not a PN532 "
                                f"(firmware {hexdump(firmware)})")
        self.firmware = firmware
        logger.debug("%s: PN532 firmware %d.%d, support %02X", self.url, firmware[1], firmware[2],
                     firmware[3])
        # fAutomaticATR_RES and fAutomaticRATS: the chip activates ISO 14443-4 cards itself.
        self._command(CMD_SET_PARAMETERS, b"\x14")
        # MxRtyATR, MxRtyPSL, MxRtyPassiveActivation: a poll tries twice, then says "none".
        self._command(CMD_RF_CONFIGURATION, b"\x05\xFF\x01\x01")
        self._command(CMD_RF_CONFIGURATION, b"\x01\x00")  # field off: the first card starts fresh

    def _ensure_port(self) -> None:
        if self._serial is None:
            logger.debug("%s: reopening %s", self.url, self.port)
            self._open()

    def _close_port(self) -> None:
        port, self._serial = self._serial, None
        if port is not None:
            try:
                port.close()
            except (serial.SerialException, OSError) as exc:
                logger.debug("%s: closing %s: %s", self.url, self.port, exc)

    def _lost(self, exc: BaseException) -> NoReaderError:
        self._close_port()
        self._forget_card()
        return NoReaderError(f"{self.url}: the reader on {self.port} is gone: {exc}")

    def _command(self, code: int, data: bytes) -> bytes:
        """Run one chip command; the answer's data (after TFI and code)."""
        if self._serial is None:
            raise NoReaderError(f"{self.url}: the port is not open")
        frame = encode(bytes([HOST_TFI, code]) + data)
        trace(logger, "%s > %02X %s", self.url, code, self._shown(code, data, to_card=True))
        try:
            self._send_command(code, frame)
            answer = self._read_answer(code)
        except _PortLost as exc:
            raise self._lost(exc.__cause__ or exc) from exc
        trace(logger, "%s < %02X %s", self.url, code + 1,
              self._shown(code, answer, to_card=False))
        return answer

    def _shown(self, code: int, data: bytes, *, to_card: bool) -> object:
        """A chip command's data for the trace: the APDU inside InDataExchange (after the target
        or status byte, whose MI bit chains it) with its secrets hidden."""
        if code != CMD_IN_DATA_EXCHANGE or not data:
            return hexdump(data)
        return self._chip_tracer.frame(data, to_card=to_card, more=bool(data[0] & _MI), start=1)

    def _send_command(self, code: int, frame: bytes) -> None:
        attempts = 1 + (_SEND_RETRIES if code in _IDEMPOTENT else 0)
        for attempt in range(attempts):
            self._frames.clear()
            self._decoder.reset()
            self._write(frame)
            deadline = time.monotonic() + ACK_TIMEOUT
            while True:
                reply = self._next_frame(deadline)
                if reply is None:
                    break
                if reply.kind is FrameKind.ACK:
                    return
                if reply.kind is FrameKind.INFORMATION and reply.code == code + 1:
                    logger.debug("%s: answer without an ACK", self.url)
                    self._frames.insert(0, reply)
                    return
                logger.debug("%s: %s frame while waiting for the ACK ignored", self.url,
                             reply.kind.value)
            if attempt + 1 < attempts:
                logger.debug("%s: no ACK for command 0x%02X: sending it again", self.url, code)
        self._abort()
        raise ReaderTimeout(f"{self.url}: the PN532 did not acknowledge command 0x{code:02X}")

    def _read_answer(self, code: int) -> bytes:
        deadline = time.monotonic() + self.timeout
        nacks = 0
        while True:
            frame = self._next_frame(deadline)
            if frame is None:
                self._abort()
                raise ReaderTimeout(
                    f"{self.url}: the PN532 did not answer command 0x{code:02X} in "
                    f"{self.timeout:g} s")
            if frame.kind is FrameKind.BAD:
                if nacks >= _NACK_RETRIES:
                    raise ReaderError(f"{self.url}: the PN532's answer to command 0x{code:02X} "
                                      f"is corrupt ({frame.reason}), also when sent again")
                nacks += 1
                logger.debug("%s: %s: NACK", self.url, frame.reason)
                self._write(NACK)
                continue
            if frame.kind is FrameKind.ERROR:
                raise ReaderError(
                    f"{self.url}: the PN532 refused command 0x{code:02X} (syntax error frame)")
            if frame.kind is FrameKind.INFORMATION:
                if frame.tfi == PN532_TFI and frame.code == code + 1:
                    return frame.data
                logger.debug("%s: stray frame %s ignored", self.url, hexdump(frame.payload))
            # ACK/NACK frames here are echoes of an earlier exchange: ignore them.

    def _abort(self) -> None:
        with contextlib.suppress(_PortLost):
            self._write(ACK)

    def _write(self, data: bytes) -> None:
        port = self._serial
        if port is None:
            raise _PortLost("the port is closed")
        try:
            port.write(data)
        except serial.SerialTimeoutException as exc:
            raise _PortLost("writing timed out") from exc
        except (serial.SerialException, OSError) as exc:
            raise _PortLost(str(exc)) from exc

    def _next_frame(self, deadline: float) -> Frame | None:
        while not self._frames:
            if time.monotonic() >= deadline:
                return None
            port = self._serial
            if port is None:
                raise _PortLost("the port is closed")
            try:
                chunk = port.read(max(1, port.in_waiting))
            except (serial.SerialException, OSError, TypeError) as exc:
                # pyserial reports a vanished device as a "readiness to read but no data" error.
                raise _PortLost(str(exc)) from exc
            if chunk:
                self._frames += self._decoder.feed(chunk)
        return self._frames.pop(0)


def open_pn532(rest: str) -> Pn532Reader:
    """The ``pn532:`` driver: ``rest`` is ``PORT[?baud=N][&timeout=S]`` (module docstring)."""
    port, _, query = rest.partition("?")
    if not port:
        raise InvalidArgument("pn532: needs a serial port, e.g. pn532:/dev/ttyUSB0")
    try:
        params = urllib.parse.parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as exc:
        raise InvalidArgument(f"pn532: cannot parse the parameters {query!r}: {exc}") from exc
    options: dict[str, str] = {}
    for key, values in params.items():
        if len(values) != 1:
            raise InvalidArgument(f"pn532: parameter {key!r} given {len(values)} times")
        options[key] = values[0]
    baud = _number(options.pop("baud", str(DEFAULT_BAUD)), "baud", int)
    timeout = _number(options.pop("timeout", str(DEFAULT_TIMEOUT)), "timeout", float)
    if options and "://" not in port:
        raise InvalidArgument(f"pn532: unknown parameter(s) {', '.join(sorted(options))}; "
                              "known: baud, timeout")
    return Pn532Reader(port, baud=int(baud), timeout=float(timeout), url=f"pn532:{rest}",
                       serial_options=options)


def _number(text: str, name: str, kind: type[int] | type[float]) -> int | float:
    try:
        value = kind(text)
    except ValueError as exc:
        raise InvalidArgument(f"pn532: {name} must be a number, got {text!r}") from exc
    if not value > 0 or value != value or value == float("inf"):
        raise InvalidArgument(f"pn532: {name} must be positive, got {text!r}")
    return value
