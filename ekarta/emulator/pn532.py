"""A PN532 on a UART, emulated on a pseudo-terminal, with the emulated card in its field.

:class:`Pn532FrontEnd` opens a pseudo-terminal, links its slave side at a path of your choice and
answers there as an NXP PN532 on its high-speed UART (HSU) would, so that unmodified PN532 host
software drives the served card: libnfc's ``pn532_uart`` driver
(``LIBNFC_DEVICE=pn532_uart:PATH``), nfcpy's ``tty:NAME:pn532`` (with PATH = ``/dev/NAME``) and
ekarta's own ``pn532:PATH`` reader::

    with Pn532FrontEnd(host, "/tmp/pn532") as front_end:
        ...   # LIBNFC_DEVICE=pn532_uart:/tmp/pn532 nfc-list

:class:`Pn532Chip` is the chip itself, free of any I/O: bytes from the host in, bytes to the host
out.  It speaks the HSU frames of :mod:`ekarta.wire.pn532_frame` (ACK before every answer, an
ACK from the host aborts the running command, a NACK gets the last answer again, a frame with a bad
checksum is ignored, a well-formed frame the chip cannot parse gets the syntax-error frame) and
runs the card's radio side through the shared ISO 14443 model
(:class:`ekarta.emulator.iso14443.Iso14443A`), doing what the PN532's firmware does on the air:

========================  ==========================================================================
command                   emulation
========================  ==========================================================================
Diagnose (00)             0x00 communication line test (echo), 0x01 ROM / 0x02 RAM / 0x07 antenna
                          tests (OK), 0x06 card presence (an R(NAK) to an ISO-DEP target)
GetFirmwareVersion (02)   IC 0x32, version 1.6, supports ISO 14443-A, -B and ISO 18092 (0x07)
GetGeneralStatus (04)     last error, field, the active target (106 kbps type A), SAM status
ReadRegister (06)         a register file with the CIU's reset values; the CIU registers the
WriteRegister (08)        emulation uses (TxMode/RxMode CRC and framing, BitFraming TxLastBits,
                          TxControl, FIFOData) take effect
ReadGPIO, WriteGPIO (0C,  accepted (a pty has neither GPIO pins nor a baud rate)
0E), SetSerialBaudRate
(10)
SetParameters (12)        fAutomaticRATS (ATS in InListPassiveTarget) is honoured, others kept
SAMConfiguration (14)     modes 1..4 accepted (no SAM: normal mode behaviour)
PowerDown (16)            RF field off (the card loses power); any byte from the host wakes the chip
RFConfiguration (32)      item 1 RF field (off: the card loses power), 2 timings, 4 MxRtyCOM,
                          5 retries (MxRtyPassiveActivation 0xFF: InListPassiveTarget waits for
                          a card until one comes or the host aborts), 0A..0D analog settings
InListPassiveTarget (4A)  BrTy 0 (106 kbps type A): the previous target is deselected, then
                          WUPA, anticollision (or a direct SELECT of the UID the host gives),
                          SELECT, and RATS when fAutomaticRATS is set; other types find nothing
InDataExchange (40)       ISO-DEP run by the chip: I-blocks cut to the card's FSC, chaining both
                          ways, S(WTX) answered; MI bit chaining with the host in both directions
                          (host data with MI set is collected; an answer over 262 bytes comes in
                          parts with MI set, fetched with an InDataExchange without data); a target
                          activated without RATS gets the data as a raw frame
InCommunicateThru (42)    the raw frame to the card, CRC by TxMode/RxMode bit 7, TxLastBits from
                          BitFraming; only 106 kbps type A framing reaches the card
InDeselect (44)           S(DESELECT) (HLTA for a target without ISO-DEP), target kept
InRelease (52)            the same, target forgotten
InSelect (54)             WUPA and SELECT of a deselected target again, and RATS if it had one
InAutoPoll (60)           106 kbps type A types (0x00, 0x10, 0x20); 0xFF polls endlessly
InJumpForDEP, InJumpFor-  no DEP target answers (status 0x01)
PSL, InATR, InPSL (56,
46, 50, 4E)
========================  ==========================================================================

Status codes (the PN532 User Manual's error list): 0x01 the target did not answer (no card, card
removed or torn, mute card), 0x0B RF protocol error, 0x0E buffer overflow, 0x27 no such target /
not in this context.  A removed card is a timeout, as on the real chip; Diagnose 0x06 then tells a
card that is gone (0x01) from a card that is there but mute (0x00).

Commands other than these (target mode, TgInitAsTarget...) get the syntax-error frame.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import select
import threading
import time
import tty
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from ekarta.desfire.redact import FrameTracer, secrets_revealed
from ekarta.emulator import CardHost
from ekarta.emulator.frontend import FrontEnd
from ekarta.emulator.iso14443 import Iso14443A
from ekarta.errors import EmulatorError
from ekarta.log import hexdump, trace
from ekarta.wire.ats import parse_ats
from ekarta.wire.iso14443 import (
    CASCADE_TAG,
    RATS,
    REQA,
    SAK_ISO14443_4,
    SAK_UID_INCOMPLETE,
    SEL,
    WUPA,
    append_crc_a,
    bcc,
    cascade_levels,
    check_crc_a,
)
from ekarta.wire.pn532_frame import (
    ACK,
    ERROR_FRAME,
    HOST_TFI,
    PN532_TFI,
    Frame,
    FrameDecoder,
    FrameKind,
    encode,
)

__all__ = ["FIRMWARE_VERSION", "MAX_DATA", "Pn532Chip", "Pn532FrontEnd"]

logger = logging.getLogger(__name__)

#: GetFirmwareVersion: IC PN532, version 1, revision 6, supports ISO 14443 A and B and ISO 18092.
FIRMWARE_VERSION = bytes([0x32, 0x01, 0x06, 0x07])
#: Most data bytes after the status byte in one InDataExchange/InCommunicateThru answer.
MAX_DATA = 262

# Status codes (PN532 User Manual, table "Error code list").
ST_OK = 0x00
ST_TIMEOUT = 0x01
ST_PROTOCOL = 0x0B
ST_BUFFER = 0x0E
ST_CONTEXT = 0x27

_MI = 0x40

# CIU registers the emulation reads or writes (PN532 User Manual §8.6.22, PN512 data sheet).
REG_FIFO_DATA = 0x6339
REG_BIT_FRAMING = 0x633D
REG_TX_MODE = 0x6302
REG_RX_MODE = 0x6303
REG_TX_CONTROL = 0x6304
REG_TX_AUTO = 0x6305
_CRC_EN = 0x80
_SPEED_MASK = 0x70
_FRAMING_MASK = 0x03

#: Reset values of the CIU registers (0x6301..0x633F); other addresses read 0x00 until written.
_CIU_RESET = {
    0x6301: 0x3B, 0x6302: 0x00, 0x6303: 0x00, 0x6304: 0x80, 0x6305: 0x00, 0x6306: 0x10,
    0x6307: 0x84, 0x6308: 0x84, 0x6309: 0x4D, 0x630A: 0x8A, 0x630B: 0x00, 0x630C: 0x62,
    0x630D: 0x00, 0x630E: 0x00, 0x630F: 0xEB, 0x6311: 0xFF, 0x6312: 0xFF, 0x6313: 0x88,
    0x6314: 0x26, 0x6315: 0x87, 0x6316: 0x48, 0x6317: 0x88, 0x6318: 0x20, 0x6319: 0x20,
    0x631A: 0x00, 0x631B: 0x00, 0x631C: 0x00, 0x631D: 0x00, 0x631E: 0x00, 0x631F: 0x00,
    0x6331: 0x20, 0x6332: 0x80, 0x6333: 0x00, 0x6334: 0x14, 0x6335: 0x00, 0x6336: 0x00,
    0x6337: 0x21, 0x6338: 0x00, 0x6339: 0x00, 0x633A: 0x00, 0x633B: 0x08, 0x633C: 0x10,
    0x633D: 0x00, 0x633E: 0x80,
}

# SetParameters flags.
_AUTO_RATS = 0x10
_DEFAULT_PARAMETERS = 0x14  # fAutomaticATR_RES and fAutomaticRATS, as after power-up

#: The RATS parameter byte the chip sends: FSDI 5 (64-byte frames, the PN532's), CID 0.
_RATS_PARAM = 0x50

_PCB_R_NAK = 0xB2
_PCB_S_DESELECT = 0xC2


class _ChipError(Exception):
    """A command the chip refuses with its syntax-error frame."""


@dataclass
class _Target:
    """A target the chip activated (the one card: always Tg 1)."""

    number: int
    atqa: bytes          # as sent on the air, least significant byte first
    uid: bytes
    sak: int
    ats: bytes | None    # None: not activated with RATS (ISO 14443-3 only, or left to the host)
    fsc: int = 32
    block: int = 0       # the chip's ISO-DEP block number
    selected: bool = True

    def target_data(self) -> bytes:
        """Tg, SENS_RES (most significant byte first, as the PN532 reports it), SEL_RES, NFCID."""
        data = bytes([self.number]) + self.atqa[::-1] + bytes([self.sak, len(self.uid)]) + self.uid
        return data + (self.ats or b"")


class Pn532Chip:
    """The PN532's host interface and firmware over the card model (see the module docstring).

    ``receive(data)`` takes bytes from the host and returns the bytes the chip sends back;
    ``poll()`` finishes a command that waits for a card (InListPassiveTarget with endless
    retries, InAutoPoll) and returns what it sends then.  Not thread-safe: one thread drives it.
    """

    #: A frame is sent in one go (265 bytes take 23 ms at 115200 baud): a longer gap in the middle
    #: of one means its sender is gone.
    STALE_AFTER = 0.25

    def __init__(self, model: Iso14443A) -> None:
        self.model = model
        self._decoder = FrameDecoder()
        self._last_receive = 0.0
        self._registers: dict[int, int] = dict(_CIU_RESET)
        self._parameters = _DEFAULT_PARAMETERS
        self._rf_on = False
        self._retries = bytes([0xFF, 0x01, 0xFF])  # MxRtyATR, MxRtyPSL, MxRtyPassiveActivation
        self._max_rty_com = 0
        self._timings = bytes([0x00, 0x0B, 0x0A])
        self._analog: dict[int, bytes] = {}
        self._sam_mode = 1
        self._powered_down = False
        self._last_error = 0
        self._last_answer: bytes | None = None
        self._target: _Target | None = None
        self._chain_in = bytearray()   # host data sent with MI set
        self._chain_out = b""          # rest of an answer longer than max_data
        self._waiting: Callable[[], bytes | None] | None = None
        self._garble = 0
        self._drop = 0
        #: Most data bytes per InDataExchange answer before MI chaining (a PN532 has 262; tests
        #: lower it to make the host chain short answers).
        self.max_data = MAX_DATA
        self.commands = 0
        self._tracer = FrameTracer()
        self._handlers = self._handler_table()

    # --- the byte interface ----------------------------------------------------------------------

    def line_faults(self, *, garble: int = 0, drop: int = 0) -> None:
        """Spoil the next answers as a noisy line would, to test a host's error handling.

        ``garble``: that many answer frames go out with a wrong data checksum (answers sent
        again for a NACK count too).  ``drop``: that many commands are acknowledged but their
        answers never sent (a NACK from the host still gets them).
        """
        if garble < 0 or drop < 0:
            raise ValueError("garble and drop count frames: 0 or more")
        self._garble, self._drop = garble, drop

    @property
    def powered_down(self) -> bool:
        return self._powered_down

    @property
    def waiting(self) -> bool:
        """Whether a command waits for a card (then call :meth:`poll` now and then)."""
        return self._waiting is not None

    def receive(self, data: bytes, now: float | None = None) -> bytes:
        """Bytes from the host; returns the bytes the chip answers (possibly none).

        ``now`` (``time.monotonic()`` by default) dates the bytes: the half of a frame a host
        left behind more than :attr:`STALE_AFTER` seconds ago (it died, or was killed) is
        dropped, so that it cannot swallow the next host's first command.
        """
        return b"".join(self.stream(data, now))

    def stream(self, data: bytes, now: float | None = None) -> Iterator[bytes]:
        """As :meth:`receive`, but yields the answer piece by piece as the chip has it: a
        command's ACK comes before the command runs.  A real PN532 acknowledges at once, and
        hosts wait for that ACK far less long (nfcpy 0.1 s) than a slow card may take to
        answer, so a front-end sends each piece as soon as it is yielded."""
        if not data:
            return
        now = time.monotonic() if now is None else now
        if self._decoder.pending and now - self._last_receive > self.STALE_AFTER:
            logger.debug("%d stale bytes of an unfinished frame dropped", self._decoder.pending)
            self._decoder.reset()
        self._last_receive = now
        if self._powered_down:
            # Any activity on HSU wakes the chip (its wake-up source); the host sends 0x55 and a
            # long preamble for that, which the decoder skips.
            logger.debug("woken from power down")
            self._powered_down = False
        for frame in self._decoder.feed(data):
            yield from self._on_frame(frame)

    def poll(self) -> bytes:
        """Retry the command that waits for a card; returns its answer once it has one."""
        if self._waiting is None:
            return b""
        answer = self._waiting()
        if answer is None:
            return b""
        self._waiting = None
        return self._send(answer)

    def _on_frame(self, frame: Frame) -> Iterator[bytes]:
        if frame.kind is FrameKind.ACK:
            if self._waiting is not None:
                logger.debug("the host aborted the waiting command")
                self._waiting = None
            return
        if frame.kind is FrameKind.NACK:
            trace(logger, "NACK: answer again")
            if self._last_answer:
                yield self._spoil(self._last_answer)
            return
        if frame.kind is FrameKind.BAD:
            logger.debug("frame ignored: %s", frame.reason)
            return
        yield ACK
        if frame.kind is FrameKind.ERROR or frame.tfi != HOST_TFI or frame.code is None:
            logger.debug("frame that is not a host command ignored: %s", hexdump(frame.payload))
            yield self._send_raw(ERROR_FRAME)
            return
        # A new command cancels one that waits for a card.
        self._waiting = None
        code, data = frame.code, frame.data
        trace(logger, "> %02X %s", code, self._shown(code, data, to_card=True))
        self.commands += 1
        handler = self._handlers.get(code)
        try:
            if handler is None:
                raise _ChipError(f"unknown command 0x{code:02X}")
            answer = handler(data)
        except _ChipError as exc:
            logger.debug("command 0x%02X refused: %s", code, exc)
            yield self._send_raw(ERROR_FRAME)
            return
        if answer is None:  # waits for a card
            self._waiting = self._waiter(code, data)
            return
        answer_frame = self._send(bytes([PN532_TFI, code + 1]) + answer)
        if answer_frame:
            yield answer_frame

    def _send(self, payload: bytes) -> bytes:
        if payload[0] != PN532_TFI:
            payload = bytes([PN532_TFI]) + payload
        trace(logger, "< %02X %s", payload[1],
              self._shown(payload[1] - 1, payload[2:], to_card=False))
        frame = self._send_raw(encode(payload))
        if self._drop:
            self._drop -= 1
            logger.debug("line fault: answer dropped")
            return b""
        return self._spoil(frame)

    def _shown(self, code: int, data: bytes, *, to_card: bool) -> object:
        """A command's data (or its answer's) for the trace, with secret data hidden: the APDU
        inside InDataExchange (after the target or status byte, whose MI bit chains it).  The
        raw frames of InCommunicateThru (with or without a CRC, before or after activation) are
        only counted: the card's ISO 14443 layer traces them, redacted, knowing which they are."""
        if code == 0x42:
            return _raw(data)
        if code != 0x40 or not data:
            return hexdump(data)
        return self._tracer.frame(data, to_card=to_card, more=bool(data[0] & 0x40), start=1)

    def _spoil(self, frame: bytes) -> bytes:
        if self._garble:
            self._garble -= 1
            logger.debug("line fault: answer garbled")
            return frame[:-2] + bytes([frame[-2] ^ 0x5A]) + frame[-1:]
        return frame

    def _send_raw(self, frame: bytes) -> bytes:
        self._last_answer = frame
        return frame

    def _handler_table(self) -> dict[int, Callable[[bytes], bytes | None]]:
        return {
            0x00: self._diagnose,
            0x02: self._get_firmware_version,
            0x04: self._get_general_status,
            0x06: self._read_register,
            0x08: self._write_register,
            0x0C: self._read_gpio,
            0x0E: self._write_gpio,
            0x10: self._set_serial_baud_rate,
            0x12: self._set_parameters,
            0x14: self._sam_configuration,
            0x16: self._power_down,
            0x32: self._rf_configuration,
            0x4A: self._in_list_passive_target,
            0x40: self._in_data_exchange,
            0x42: self._in_communicate_thru,
            0x44: self._in_deselect,
            0x52: self._in_release,
            0x54: self._in_select,
            0x60: self._in_auto_poll,
            0x56: self._no_dep_target,
            0x46: self._no_dep_target,
            0x50: self._no_dep_target,
            0x4E: self._no_dep_target,
        }

    # --- miscellaneous commands ------------------------------------------------------------------

    def _diagnose(self, data: bytes) -> bytes:
        if not data:
            raise _ChipError("Diagnose without a test number")
        test = data[0]
        if test == 0x00:
            return data  # communication line test: the whole frame back
        if test in (0x01, 0x02):
            return bytes([ST_OK])
        if test == 0x06:
            return bytes([self._presence_status()])
        if test == 0x07:
            return bytes([ST_OK])
        raise _ChipError(f"Diagnose test 0x{test:02X} is not emulated")

    def _presence_status(self) -> int:
        target = self._target
        if target is None or not target.selected:
            return ST_CONTEXT
        if target.ats is None:
            # Without ISO-DEP there is no harmless frame to ping with: ask the field.
            return ST_OK if self.model.host.present else ST_TIMEOUT
        answer = self.model.exchange(bytes([_PCB_R_NAK | target.block]))
        self._set_error(ST_OK if answer else ST_TIMEOUT)
        return ST_OK if answer else ST_TIMEOUT

    def _get_firmware_version(self, data: bytes) -> bytes:
        return FIRMWARE_VERSION

    def _get_general_status(self, data: bytes) -> bytes:
        target = self._target
        out = bytearray([self._last_error, 0x00])  # Field: no external RF field
        if target is not None and target.selected:
            out += bytes([1, target.number, 0x00, 0x00, 0x00])  # 106 kbps both ways, type A
        else:
            out.append(0)
        out.append(0x00)  # SAM status
        return bytes(out)

    def _read_register(self, data: bytes) -> bytes:
        if not data or len(data) % 2:
            raise _ChipError("ReadRegister takes 16-bit addresses")
        addresses = [data[i] << 8 | data[i + 1] for i in range(0, len(data), 2)]
        return bytes(self._registers.get(a, 0x00) for a in addresses)

    def _write_register(self, data: bytes) -> bytes:
        if not data or len(data) % 3:
            raise _ChipError("WriteRegister takes (address, value) triples")
        for i in range(0, len(data), 3):
            self._registers[data[i] << 8 | data[i + 1]] = data[i + 2]
        return b""

    def _read_gpio(self, data: bytes) -> bytes:
        return bytes([0x3F, 0x06, 0x00])  # P3, P7, I0I1: all pulled up, I0 = I1 = 0 (HSU)

    def _write_gpio(self, data: bytes) -> bytes:
        if len(data) != 2:
            raise _ChipError("WriteGPIO takes P3 and P7")
        return b""

    def _set_serial_baud_rate(self, data: bytes) -> bytes:
        if len(data) != 1 or data[0] > 8:
            raise _ChipError("SetSerialBaudRate takes one rate index 0..8")
        return b""

    def _set_parameters(self, data: bytes) -> bytes:
        if len(data) != 1:
            raise _ChipError("SetParameters takes one flags byte")
        self._parameters = data[0]
        return b""

    def _sam_configuration(self, data: bytes) -> bytes:
        if not 1 <= len(data) <= 3 or not 1 <= data[0] <= 4:
            raise _ChipError("SAMConfiguration takes a mode 1..4, a timeout and IRQ")
        self._sam_mode = data[0]
        return b""

    def _power_down(self, data: bytes) -> bytes:
        if not 1 <= len(data) <= 2:
            raise _ChipError("PowerDown takes WakeUpEnable and GenerateIRQ")
        self._field(False)
        self._powered_down = True
        return bytes([ST_OK])

    def _rf_configuration(self, data: bytes) -> bytes:
        if not data:
            raise _ChipError("RFConfiguration without an item")
        item, values = data[0], data[1:]
        sizes = {0x01: 1, 0x02: 3, 0x04: 1, 0x05: 3, 0x0A: 11, 0x0B: 8, 0x0C: 3, 0x0D: 9}
        if sizes.get(item) != len(values):
            raise _ChipError(f"RFConfiguration item 0x{item:02X} with {len(values)} bytes")
        if item == 0x01:
            self._field(bool(values[0] & 0x01))
        elif item == 0x02:
            self._timings = values
        elif item == 0x04:
            self._max_rty_com = values[0]
        elif item == 0x05:
            self._retries = values
        else:
            self._analog[item] = values
        return b""

    def _field(self, on: bool) -> None:
        if on == self._rf_on:
            return
        self._rf_on = on
        self._registers[REG_TX_CONTROL] = 0x83 if on else 0x80
        if not on:
            self._target = None
            self._chain_in.clear()
            self._chain_out = b""
            self.model.field_off()

    def _set_error(self, status: int) -> None:
        self._last_error = status

    # --- activation ------------------------------------------------------------------------------

    def _in_list_passive_target(self, data: bytes) -> bytes | None:
        if len(data) < 2 or data[0] not in (1, 2) or data[1] > 8:
            raise _ChipError("InListPassiveTarget takes MaxTg 1..2 and BrTy 0..8")
        brty, initiator = data[1], data[2:]
        uid = b""
        if brty == 0:
            uid = _uid_from_initiator_data(initiator)
        self._release_all()
        found = self._poll_106a(uid) if brty == 0 else None
        if found is not None:
            return bytes([1]) + found
        if brty == 0 and self._retries[2] == 0xFF:
            return None  # endless retries: wait for a card
        return bytes([0])

    def _poll_106a(self, uid: bytes = b"") -> bytes | None:
        """Activate the card at 106 kbps type A; its target data, or None if nothing answered.

        The poll is a WUPA, so that a card halted by InDeselect/InRelease (libnfc lists targets
        and deselects them, then libfreefare selects one by its UID) is found again.
        """
        self._field(True)
        target = self._activate(uid=uid, wakeup=True, rats=bool(self._parameters & _AUTO_RATS))
        if target is None:
            # The request stays in the CIU's FIFO when nothing answers; nfcpy reads 0x26 there
            # as "no type A card" (anything else makes it try a type 1 tag).
            self._registers[REG_FIFO_DATA] = REQA
            return None
        self._target = target
        return target.target_data()

    def _activate(self, *, uid: bytes, wakeup: bool, rats: bool, number: int = 1) -> _Target | None:
        model = self.model
        # The firmware talks to the card with the CIU set to 106 kbps type A with CRC.
        self._registers[REG_TX_MODE] = _CRC_EN
        self._registers[REG_RX_MODE] = _CRC_EN
        self._registers[REG_TX_AUTO] = self._registers.get(REG_TX_AUTO, 0) | 0x40
        self._registers[REG_BIT_FRAMING] = 0x00
        atqa = model.exchange(bytes([WUPA if wakeup else REQA]), bits=7)
        if atqa is None or len(atqa) != 2:
            return None
        levels = cascade_levels(uid) if uid else None
        found = b""
        sak = None
        for level, sel in enumerate(SEL):
            if levels is None:
                cln = model.exchange(bytes([sel, 0x20]))
                if cln is None or len(cln) != 5 or bcc(cln[:4]) != cln[4]:
                    return None
            elif level < len(levels):
                cln = levels[level]
            else:
                return None
            answer = model.exchange(bytes([sel, 0x70]) + cln)
            if not answer or len(answer) != 1:
                return None
            sak = answer[0]
            if sak & SAK_UID_INCOMPLETE:
                found += cln[1:4]
                continue
            found += cln[:4]
            break
        if sak is None or sak & SAK_UID_INCOMPLETE:
            return None
        target = _Target(number=number, atqa=atqa, uid=found, sak=sak, ats=None)
        if rats and sak & SAK_ISO14443_4:
            ats = model.exchange(bytes([RATS, _RATS_PARAM]))
            if not ats or ats[0] != len(ats):
                return None
            target.ats = ats
            target.fsc = parse_ats(ats).fsc
        return target

    def _waiter(self, code: int, data: bytes) -> Callable[[], bytes | None]:
        def retry() -> bytes | None:
            if not self.model.host.present:
                return None
            answer = self._handlers[code](data)
            if answer is None or answer[:1] == b"\x00":
                return None
            return bytes([PN532_TFI, code + 1]) + answer
        return retry

    def _in_auto_poll(self, data: bytes) -> bytes | None:
        if len(data) < 3 or data[0] == 0 or data[1] == 0 or len(data) > 17:
            raise _ChipError("InAutoPoll takes PollNr, Period and 1..15 types")
        # Generic 106 kbps type A, MIFARE, ISO 14443-4 type A: the types this card can be.
        types = [t for t in data[2:] if t in (0x00, 0x10, 0x20)]
        self._release_all()
        for kind in types:
            found = self._poll_106a()
            if found is not None:
                return bytes([1, kind, len(found)]) + found
        if data[0] == 0xFF and types:
            return None
        return bytes([0])

    def _no_dep_target(self, data: bytes) -> bytes:
        return bytes([ST_TIMEOUT])

    # --- exchanges -------------------------------------------------------------------------------

    def _selected(self, tg: int) -> _Target | None:
        target = self._target
        if target is None or not target.selected or tg not in (target.number,):
            return None
        return target

    def _in_data_exchange(self, data: bytes) -> bytes:
        if not data:
            raise _ChipError("InDataExchange without a target number")
        tg, out = data[0] & 0x3F, data[1:]
        target = self._selected(tg)
        if target is None:
            self._chain_in.clear()
            self._chain_out = b""
            return self._status(ST_CONTEXT)
        if self._chain_out and not out and not data[0] & _MI:
            return self._next_part()
        self._chain_out = b""
        if data[0] & _MI:
            if len(self._chain_in) + len(out) > 0xFFFF:
                self._chain_in.clear()
                return self._status(ST_BUFFER)
            self._chain_in += out
            return self._status(ST_OK)
        message, self._chain_in = bytes(self._chain_in) + out, bytearray()
        if target.ats is None:
            answer = self.model.exchange(message)
            if answer is None:
                return self._status(ST_TIMEOUT)
        else:
            result = self._iso_dep(target, message)
            if isinstance(result, int):
                return self._status(result)
            answer = result
        self._chain_out = answer
        return self._next_part()

    def _next_part(self) -> bytes:
        size = max(1, self.max_data)
        part, self._chain_out = self._chain_out[:size], self._chain_out[size:]
        self._set_error(ST_OK)
        return bytes([_MI if self._chain_out else ST_OK]) + part

    def _status(self, status: int) -> bytes:
        self._set_error(status)
        return bytes([status])

    def _iso_dep(self, target: _Target, message: bytes) -> bytes | int:
        """One command through ISO-DEP as the PN532's firmware runs it; the answer or a status."""
        room = max(1, target.fsc - 3)  # PCB and CRC_A count against the card's FSC
        chunks = [message[i:i + room] for i in range(0, len(message), room)] or [b""]
        answer: bytes | None = None
        for index, chunk in enumerate(chunks):
            more = index < len(chunks) - 1
            pcb = 0x02 | target.block | (0x10 if more else 0)
            answer = self._block(bytes([pcb]) + chunk)
            if answer is None:
                return ST_TIMEOUT
            if more:
                if answer[0] & 0xF6 != 0xA2 or answer[0] & 0x01 != target.block or len(answer) != 1:
                    logger.debug("expected R(ACK) to a chained block, got %s", hexdump(answer))
                    return ST_PROTOCOL
                target.block ^= 1
        assert answer is not None
        response = bytearray()
        while True:
            pcb = answer[0]
            if pcb & 0xE2 != 0x02 or pcb & 0x01 != target.block or pcb & 0x0C:
                logger.debug("expected an I-block, got %s", hexdump(answer))
                return ST_PROTOCOL
            response += answer[1:]
            target.block ^= 1
            if not pcb & 0x10:
                return bytes(response)
            if len(response) > 0xFFFF:
                return ST_BUFFER
            answer = self._block(bytes([0xA2 | target.block]))
            if answer is None:
                return ST_TIMEOUT

    def _block(self, block: bytes) -> bytes | None:
        """Send one ISO-DEP block and return the card's answer, after granting any S(WTX)."""
        answer = self.model.exchange(block)
        for _ in range(256):  # a card asking for time for ever is a mute card
            if not answer or answer[0] & 0xF7 != 0xF2 or len(answer) != 2:
                return answer or None
            answer = self.model.exchange(bytes([0xF2, answer[1] & 0x3F]))
        return None

    def _in_communicate_thru(self, data: bytes) -> bytes:
        if not data:
            return self._status(ST_TIMEOUT)  # nothing sent (a barcode poll): nothing answers
        tx_mode = self._registers.get(REG_TX_MODE, 0)
        rx_mode = self._registers.get(REG_RX_MODE, 0)
        if tx_mode & (_SPEED_MASK | _FRAMING_MASK) or not self._rf_on:
            return self._status(ST_TIMEOUT)  # only 106 kbps type A in a field reaches the card
        last_bits = self._registers.get(REG_BIT_FRAMING, 0) & 0x07
        bits = last_bits or 8
        frame = bytes(data)
        protected = bits == 8 and not _is_anticollision(frame)  # frames that carry a CRC_A
        if not tx_mode & _CRC_EN and protected:
            # The host sent the CRC itself: the card checks it.
            if not check_crc_a(frame):
                return self._status(ST_TIMEOUT)
            frame = frame[:-2]
        answer = self.model.exchange(frame, bits=bits)
        if answer is None:
            return self._status(ST_TIMEOUT)
        if not rx_mode & _CRC_EN and protected:
            answer = append_crc_a(answer)
        if len(answer) > MAX_DATA:
            return self._status(ST_BUFFER)
        self._set_error(ST_OK)
        return bytes([ST_OK]) + answer

    def _in_deselect(self, data: bytes) -> bytes:
        return self._end(data, release=False)

    def _in_release(self, data: bytes) -> bytes:
        return self._end(data, release=True)

    def _end(self, data: bytes, *, release: bool) -> bytes:
        if len(data) != 1:
            raise _ChipError("InDeselect/InRelease take one target number")
        tg = data[0]
        target = self._target
        if target is None or tg not in (0, target.number):
            return self._status(ST_OK if tg == 0 else ST_CONTEXT)
        if target.selected:
            self._halt(target)
        self._chain_in.clear()
        self._chain_out = b""
        if release:
            self._target = None
        return self._status(ST_OK)

    def _halt(self, target: _Target) -> None:
        if target.ats is not None or target.sak & SAK_ISO14443_4:
            # The host may have sent RATS itself (InCommunicateThru): an S(DESELECT) halts a card
            # in ISO-DEP, and one that is not gets the HLTA after it.
            self._block(bytes([_PCB_S_DESELECT]))
        if target.ats is None:
            self.model.exchange(b"\x50\x00")
        target.selected = False

    def _release_all(self) -> None:
        target = self._target
        if target is not None and target.selected:
            self._halt(target)
        self._target = None
        self._chain_in.clear()
        self._chain_out = b""

    def _in_select(self, data: bytes) -> bytes:
        if len(data) != 1:
            raise _ChipError("InSelect takes one target number")
        target = self._target
        if target is None or data[0] != target.number:
            return self._status(ST_CONTEXT)
        if target.selected:
            return self._status(ST_OK)
        again = self._activate(uid=target.uid, wakeup=True, rats=target.ats is not None,
                               number=target.number)
        if again is None:
            return self._status(ST_TIMEOUT)
        self._target = again
        return self._status(ST_OK)


def _uid_from_initiator_data(data: bytes) -> bytes:
    """The UID in InListPassiveTarget's InitiatorData (plain, or with cascade tags as libnfc and
    nfcpy send it: 4, 7, 8 = 88+3+4, 10 or 12 bytes); b"" if there is none."""
    data = bytes(data)
    if not data:
        return b""
    if len(data) == 8 and data[0] == CASCADE_TAG:
        return data[1:]
    if len(data) == 12 and data[0] == CASCADE_TAG and data[4] == CASCADE_TAG:
        return data[1:4] + data[5:]
    if len(data) in (4, 7, 10):
        return data
    raise _ChipError(f"InitiatorData of {len(data)} bytes is not a UID")


def _is_anticollision(frame: bytes) -> bool:
    return len(frame) >= 2 and frame[0] in SEL and frame[1] != 0x70


# --- the pseudo-terminal -------------------------------------------------------------------------


def _raw(data: bytes) -> str:
    """Bytes of the serial line as they came, cut anywhere: too raw to find secrets in, so only
    their count unless secrets are revealed (the chip traces each command, redacted)."""
    return hexdump(data) if secrets_revealed() else f"{len(data)} bytes"


class Pn532FrontEnd(FrontEnd):
    """A :class:`Pn532Chip` with the served card in its field, on a pty linked at ``link_path``.

    ``start()`` creates the pseudo-terminal (raw mode), links its slave at ``link_path`` (a stale
    link there is replaced; any other existing file makes it fail) and starts the chip's thread;
    ``stop()`` ends the thread, removes the link and closes the pty.  ``wtx`` is passed to the
    card model (:class:`~ekarta.emulator.iso14443.Iso14443A`).
    """

    #: How long a write to a host that does not read may block before the answer is dropped.
    WRITE_TIMEOUT = 2.0
    _POLL_INTERVAL = 0.05

    def __init__(self, host: CardHost, link_path: str | os.PathLike[str], *,
                 wtx: bool = True) -> None:
        super().__init__()
        self.host = host
        self.link_path = os.path.abspath(os.fspath(link_path))
        self._wtx = wtx
        self._master = -1
        self._slave = -1
        self._wake_r = -1
        self._wake_w = -1
        self._slave_name = ""
        self._model: Iso14443A | None = None
        self.chip: Pn532Chip | None = None

    @property
    def slave_name(self) -> str:
        """The pty's device (``/dev/pts/N``) the link points to, once started."""
        return self._slave_name

    def describe(self) -> str:
        where = f"{self.link_path} -> {self._slave_name}" if self._slave_name else self.link_path
        return f"pn532: PN532 (HSU) on {where}"

    # --- life cycle (FrontEnd) -------------------------------------------------------------------

    def _thread_name(self) -> str:
        return f"pn532 {self.link_path}"

    def _open(self) -> None:
        try:
            self._open_pty()
        except BaseException:
            self._close_fds()
            raise
        self._model = Iso14443A(self.host, wtx=self._wtx)
        self.chip = Pn532Chip(self._model)
        self.host.add_listener(self._on_presence)

    def _close(self, ended: bool) -> None:
        self.host.remove_listener(self._on_presence)
        if self._model is not None:
            self._model.close()
        self._unlink()
        self._close_fds()

    # --- pty and link ----------------------------------------------------------------------------

    def _open_pty(self) -> None:
        self._master, self._slave = os.openpty()
        # Raw mode: no echo, no line editing, no CR/LF translation, 8-bit bytes.
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)
        self._slave_name = os.ttyname(self._slave)
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._link()

    def _link(self) -> None:
        path = self.link_path
        if os.path.lexists(path) and not os.path.islink(path):
            raise EmulatorError(f"{path} exists and is not a symbolic link: not replacing it")
        if os.path.islink(path):
            logger.info("replacing the link %s -> %s", path, os.readlink(path))
        temporary = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            os.symlink(self._slave_name, temporary)
            os.replace(temporary, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise EmulatorError(f"cannot link {path} to {self._slave_name}: {exc}") from exc

    def _unlink(self) -> None:
        try:
            if os.path.islink(self.link_path) and os.readlink(self.link_path) == self._slave_name:
                os.unlink(self.link_path)
        except OSError as exc:
            logger.warning("cannot remove the link %s: %s", self.link_path, exc)

    def _close_fds(self) -> None:
        for name in ("_master", "_slave", "_wake_r", "_wake_w"):
            fd = getattr(self, name)
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
                setattr(self, name, -1)

    # --- the thread ------------------------------------------------------------------------------

    def _on_presence(self, present: bool) -> None:
        # Called with the host's lock held: only wake the thread.
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"\x00")

    def _run(self) -> None:
        chip = self.chip
        assert chip is not None
        poller = select.poll()
        poller.register(self._master, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        while not self._stopping.is_set():
            try:
                events = poller.poll(self._POLL_INTERVAL * 1000)
            except InterruptedError:
                continue
            for fd, _event in events:
                if fd == self._wake_r:
                    with contextlib.suppress(BlockingIOError, OSError):
                        os.read(self._wake_r, 4096)
                elif fd == self._master:
                    data = self._read()
                    if data:
                        trace(logger, "host >> %s", _raw(data))
                        self._answer(chip.stream, data)
            if self._stopping.is_set():
                break
            if chip.waiting:
                self._answer(lambda: (chip.poll(),))

    def _answer(self, step: Callable[..., Iterable[bytes]], *args: bytes) -> None:
        """Write each piece of the chip's answer as soon as it has it (the ACK first)."""
        try:
            for piece in step(*args):
                self._write(piece)
        except Exception:  # a bug must not kill the chip's thread: log it, answer no more
            logger.exception("the PN532 emulation failed on %s", self.link_path)

    def _read(self) -> bytes:
        try:
            return os.read(self._master, 4096)
        except BlockingIOError:
            return b""
        except OSError as exc:
            if exc.errno != errno.EIO:
                logger.warning("reading the pty %s: %s", self._slave_name, exc)
            # EIO: no process has the slave open (we hold it, so this is transient).
            time.sleep(self._POLL_INTERVAL)
            return b""

    def _write(self, data: bytes) -> None:
        if not data:
            return
        trace(logger, "host << %s", _raw(data))
        view = memoryview(data)
        deadline = time.monotonic() + self.WRITE_TIMEOUT
        while view:
            try:
                written = os.write(self._master, view)
                view = view[written:]
                continue
            except BlockingIOError:
                pass
            except OSError as exc:
                logger.warning("writing to the pty %s: %s", self._slave_name, exc)
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stopping.is_set():
                logger.warning("the host does not read %s: %d bytes dropped", self.link_path,
                               len(view))
                return
            select.select([], [self._master], [], min(remaining, self._POLL_INTERVAL))
