"""The PN532's host frames on its UART (HSU), shared by the ``pn532:`` driver and the emulation.

Every exchange between a host and a PN532 is made of these frames (PN532 User Manual, 6.2.1)::

    normal       00 00 FF LEN LCS TFI PD0 .. PDn DCS 00      LEN = 1 + n+1 (TFI and data), <= 255
    extended     00 00 FF FF FF LENM LENL LCS TFI PD0 .. PDn DCS 00
    ACK          00 00 FF 00 FF 00
    NACK         00 00 FF FF 00 00
    error        00 00 FF 01 FF 7F 81 00                     ("syntax error" from the chip)

``LCS`` makes ``LEN + LCS`` (``LENM + LENL + LCS``) zero modulo 256, ``DCS`` makes the sum of
``TFI``, the data and ``DCS`` zero.  ``TFI`` is 0xD4 from the host and 0xD5 from the chip; the first
data byte is the command code (the chip answers with the code + 1).

:func:`encode` builds a frame; :class:`FrameDecoder` takes a byte stream in pieces as a serial port
delivers it and yields :class:`Frame` objects, skipping the wake-up bytes (0x55) and the zero
preamble a host sends, and any garbage before a start code.  A frame whose checksums do not add up
comes out as a :class:`Frame` of kind :attr:`FrameKind.BAD` carrying the reason, so that each side
can react the way a PN532 does (the chip ignores it; a host treats it as a transmission error).
The decoder never holds more than one frame's worth of bytes, whatever a peer sends.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = [
    "ACK",
    "ERROR_FRAME",
    "HOST_TFI",
    "MAX_PAYLOAD",
    "NACK",
    "PN532_TFI",
    "WAKEUP",
    "Frame",
    "FrameDecoder",
    "FrameKind",
    "encode",
]

ACK = bytes.fromhex("0000FF00FF00")
NACK = bytes.fromhex("0000FFFF0000")
ERROR_FRAME = bytes.fromhex("0000FF01FF7F8100")

HOST_TFI = 0xD4
"""Frame identifier of a frame from the host to the PN532."""

PN532_TFI = 0xD5
"""Frame identifier of a frame from the PN532 to the host."""

MAX_PAYLOAD = 265
"""Most bytes (TFI included) a PN532 frame carries: TFI, command code and 263 data bytes."""

WAKEUP = b"\x55\x55" + bytes(14)
"""What a host sends to wake a PN532 on HSU: 0x55 bytes and a long zero preamble."""

_START = b"\x00\xFF"
_NORMAL_MAX = 255


class FrameKind(enum.Enum):
    """What a decoded frame is."""

    INFORMATION = "information"
    """A command or response: :attr:`Frame.payload` holds TFI, command code and data."""
    ACK = "ack"
    NACK = "nack"
    ERROR = "error"
    """The chip's "syntax error" frame (payload 0x7F)."""
    BAD = "bad"
    """Bytes that started like a frame but do not check out: :attr:`Frame.reason` says why."""


@dataclass(frozen=True)
class Frame:
    """One frame from the stream (see :class:`FrameKind`)."""

    kind: FrameKind
    payload: bytes = b""
    reason: str = ""

    @property
    def tfi(self) -> int | None:
        """The frame identifier of an information frame (0xD4 host, 0xD5 chip)."""
        return self.payload[0] if self.kind is FrameKind.INFORMATION and self.payload else None

    @property
    def code(self) -> int | None:
        """The command (or response) code of an information frame, if it has one."""
        if self.kind is FrameKind.INFORMATION and len(self.payload) >= 2:
            return self.payload[1]
        return None

    @property
    def data(self) -> bytes:
        """The bytes after TFI and command code."""
        return self.payload[2:] if self.kind is FrameKind.INFORMATION else b""


def _checksum(data: Iterable[int]) -> int:
    return -sum(data) & 0xFF


def encode(payload: bytes) -> bytes:
    """The frame carrying ``payload`` (TFI, code and data): normal, or extended beyond 255 bytes."""
    payload = bytes(payload)
    if not payload:
        raise ValueError("a PN532 information frame carries at least its TFI")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"a PN532 frame carries at most {MAX_PAYLOAD} bytes, not {len(payload)}")
    n = len(payload)
    if n <= _NORMAL_MAX:
        head = bytes([0x00, 0x00, 0xFF, n, _checksum([n])])
    else:
        high, low = n >> 8, n & 0xFF
        head = bytes([0x00, 0x00, 0xFF, 0xFF, 0xFF, high, low, _checksum([high, low])])
    return head + payload + bytes([_checksum(payload), 0x00])


class FrameDecoder:
    """Cuts a byte stream into frames; feed it what the port delivers, in any pieces.

    ``max_payload`` bounds a frame's length field: a longer one is reported as a bad frame and
    skipped, so a hostile peer cannot make the decoder buffer more than that.
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        self._buffer = bytearray()
        self._max = max_payload

    def reset(self) -> None:
        """Forget any partial frame (after a timeout, or when the peer is known to restart)."""
        self._buffer.clear()

    @property
    def pending(self) -> int:
        """How many bytes of an unfinished frame are buffered."""
        return len(self._buffer)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Add ``data`` to the stream and return the frames it completes (possibly none)."""
        self._buffer += data
        return list(self._frames())

    def _frames(self) -> Iterator[Frame]:
        buf = self._buffer
        while True:
            start = buf.find(_START)
            if start < 0:
                # Keep a trailing 0x00: it may be the first half of a start code.
                del buf[: len(buf) - 1 if buf.endswith(b"\x00") else len(buf)]
                return
            del buf[:start]
            if len(buf) < 4:
                return
            length, lcs = buf[2], buf[3]
            if length == 0x00 and lcs == 0xFF:
                del buf[:4]
                yield Frame(FrameKind.ACK)
                continue
            if length == 0xFF and lcs == 0x00:
                del buf[:4]
                yield Frame(FrameKind.NACK)
                continue
            if length == 0xFF and lcs == 0xFF:
                if len(buf) < 7:
                    return
                high, low, lcs = buf[4], buf[5], buf[6]
                if (high + low + lcs) & 0xFF:
                    del buf[:2]
                    yield Frame(FrameKind.BAD, reason="extended frame length checksum error")
                    continue
                length, header = high << 8 | low, 7
            elif (length + lcs) & 0xFF:
                del buf[:2]
                yield Frame(FrameKind.BAD, reason="length checksum error")
                continue
            else:
                header = 4
            if length == 0 or length > self._max:
                del buf[:header]
                yield Frame(FrameKind.BAD,
                            reason=f"frame length {length} outside 1..{self._max}")
                continue
            end = header + length + 1
            if len(buf) < end:
                return
            payload = bytes(buf[header:header + length])
            dcs = buf[end - 1]
            if (sum(payload) + dcs) & 0xFF:
                # Look for the next start code right after this one: when a peer died half-way
                # through a frame, the next peer's frame is inside what its length swallowed.
                del buf[:2]
                yield Frame(FrameKind.BAD, reason="data checksum error")
                continue
            del buf[:end]
            if payload == b"\x7F":
                yield Frame(FrameKind.ERROR, payload)
            else:
                yield Frame(FrameKind.INFORMATION, payload)
