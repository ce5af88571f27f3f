"""The emulated card's contactless interface: ISO/IEC 14443-3 type A and ISO/IEC 14443-4 (ISO-DEP).

Every front-end that shows the card to a reader at frame level (nfcpy's UDP driver, the PN532's
``InCommunicateThru``, ...) drives one :class:`Iso14443A` over the served
:class:`~ekarta.emulator.CardHost`.  The model answers frames as the card's radio would and
hands every complete command APDU to ``host.transceive``.

API (all a front-end needs)::

    model = Iso14443A(host, *, wtx=True, wtx_after=None)
    model.exchange(frame, *, bits=8, crc=False, crc_out=None) -> bytes | None
    model.field_off()                    # the reader switched its field off: the card resets
    model.activate(*, wakeup=False, rats=True, fsdi=8, cid=0, crc=False) -> Activation | None
    model.state -> State                 # IDLE, READY, ACTIVE, HALT, PROTOCOL
    model.halted -> bool                 # READY*/ACTIVE*: woken from HALT by WUPA
    model.close()                        # stop following the host's presence changes

    Activation(atqa: bytes, uid: bytes, sak: int, ats: bytes | None)   # frozen

The frame rules both sides share (CRC_A, cascade levels, the ATS) are in :mod:`ekarta.wire`.

``exchange(frame)`` takes one frame from the reader and returns the card's answer, or ``None``
when the card stays silent: no card in the field, a frame the card ignores in its state, a bad
CRC, a power loss (``CardTorn``: the model is back in IDLE) or a mute card (``CardMute``).

* ``bits`` is the number of valid bits in the frame's last byte.  ``bits=7`` with a one-byte frame
  is a *short frame*: REQA ``26`` or WUPA ``52``.  The partial byte of a bit-oriented
  anticollision frame (``93 25 ...``) has ``bits`` < 8; the model reads the split from NVB.
* ``crc=False`` (the default): frames carry no CRC_A, neither in nor out.  This is what nfcpy's
  ``udp`` driver exchanges, and what a PN532 passes through ``InCommunicateThru`` while its CIU
  adds and checks the CRC itself (``CIU_TxMode``/``CIU_RxMode`` bit 7 set, the power-on default).
* ``crc=True``: frames are exactly as on the air: the frames ISO 14443-3 protects carry CRC_A
  (everything but short frames, anticollision frames and their answers: ATQA and the UID bits).
  It is checked on input (a bad or missing CRC gets no answer, as from a real card) and appended
  on output.  Use it when the PN532's CRC generation and checking are switched off (libnfc's
  ``nfc-anticol`` does this and computes CRCs on the host).
* ``crc_out`` (default: the value of ``crc``) decides the output side alone, for a PN532 whose
  two CRC switches differ (nfcpy's type 2 tag path turns only the receive check off):
  ``crc = not TxCRCEn`` (``CIU_TxMode`` bit 7) and ``crc_out = not RxCRCEn`` (``CIU_RxMode``
  bit 7).
* Answers are whole bytes.  The answer to a bit-oriented anticollision frame starts with the byte
  that holds the first bit the reader did not send; that byte's bits the reader sent are zero.

The card side, as a MIFARE DESFire does it:

* REQA (``26``, 7 bits; ignored in HALT) and WUPA (``52``, 7 bits) → ATQA ``44 03`` (0x0344,
  sent least significant byte first; ``04 03`` while the card shows a 4-byte random ID).  A card
  in READY or ACTIVE answers them again (starting over); a card in PROTOCOL state ignores them
  until the field goes off or it is deselected.
* Anticollision and SELECT at cascade levels 1 (``93``) and 2 (``95``) for a 7-byte UID: CL1 is
  ``88 u0 u1 u2 BCC`` and its SAK ``04`` (UID not complete), CL2 ``u3 u4 u5 u6 BCC`` with SAK
  ``20`` (ISO 14443-4).  A 4-byte UID (random ID ``08 xx xx xx``) completes at CL1 with SAK
  ``20``.  The UID is the card's ``anticollision_uid``.  Bit-oriented anticollision (NVB ``21`` to
  ``67``) answers the rest of the level's 40 bits when the reader's bits match.
* HLTA (``50 00``) in ACTIVE → HALT, no answer.
* RATS (``E0 P``: FSDI in the high nibble of P, CID in the low one) in ACTIVE → the card's ATS
  (``host.card.ats``), PROTOCOL state with block number 1.  A PPS (``D0|CID PPS0 [PPS1]``) right
  after the ATS is acknowledged (bit rates are not modelled).
* ISO-DEP (ISO 14443-4 §7.5 rules): I-blocks with block numbers (an I-block carrying the card's
  current block number is a duplicate and is ignored); CID when the reader sends one (the card's
  ATS declares CID support); NAD bytes are skipped; chained I-blocks (M bit) are acknowledged
  with R(ACK) and collected, and a response longer than the reader's FSD allows goes out in
  chained I-blocks continued by the reader's R(ACK)s; R(ACK)/R(NAK) with the card's block number
  → the last block again; R(NAK) with the other number → R(ACK); S(DESELECT) → the same
  S(DESELECT) and HALT.
* WTX: with ``wtx=True`` a command APDU is processed on a worker thread; when it has taken
  ``wtx_after`` seconds (default: half the frame waiting time FWT the ATS announces, 38 ms for a
  DESFire's FWI 8) the card answers S(WTX) with a WTXM granting about one second, and keeps
  doing so after each S(WTX) response from the reader until the response is ready (as with
  latency faults armed on the card).  ``wtx=False`` processes the APDU on the caller's thread
  and never sends S(WTX).
* Field off (:meth:`Iso14443A.field_off`): back to IDLE and, if a reader had woken the card,
  the card loses power (``host.power_cycle()``: session, selection and pending transaction are
  gone).  The model follows the host's presence: when the card is removed or inserted (or
  torn), it starts over in IDLE.

A PN532 ``InDataExchange`` needs none of this (the PN532 runs ISO-DEP itself): it passes APDUs
straight to ``host.transceive``.  ``InListPassiveTarget`` can use :meth:`Iso14443A.activate`,
``InCommunicateThru`` :meth:`Iso14443A.exchange`, ``InDeselect``/``InRelease`` an S(DESELECT)
frame (``C2``) through :meth:`Iso14443A.exchange`, RF field off :meth:`Iso14443A.field_off`.

Thread safety: calls are serialised on an internal lock; the host's presence listener only sets a
flag, so the model never takes its lock from inside the host's lock (no lock-order inversion
with front-ends that remove the card from another thread).
"""

from __future__ import annotations

import enum
import logging
import threading
from dataclasses import dataclass

from ekarta.desfire.redact import FrameTracer
from ekarta.emulator import CardHost, CardMute, CardTorn
from ekarta.log import hexdump, trace
from ekarta.wire.ats import fsd_of, parse_ats
from ekarta.wire.iso14443 import (
    HLTA,
    RATS,
    REQA,
    SAK_ISO14443_4,
    SAK_UID_INCOMPLETE,
    SEL,
    WUPA,
    append_crc_a,
    cascade_levels,
    check_crc_a,
)

__all__ = ["MAX_APDU", "MAX_FRAME", "Activation", "Iso14443A", "State"]

logger = logging.getLogger(__name__)

#: Longest frame the model accepts (the largest FSD, 256, plus room for a CRC).
MAX_FRAME = 258
#: Longest command APDU a reader may build by chaining (an extended-length APDU fits).
MAX_APDU = 65544 + 2


class State(enum.Enum):
    """ISO 14443-3 states (HALT covers READY* and ACTIVE* through :attr:`Iso14443A.halted`)."""

    IDLE = "idle"
    READY = "ready"
    ACTIVE = "active"
    HALT = "halt"
    PROTOCOL = "protocol"


@dataclass(frozen=True)
class Activation:
    """What a reader learns when it activates the card: ATQA (as sent), UID, final SAK, ATS."""

    atqa: bytes
    uid: bytes
    sak: int
    ats: bytes | None


# --- PCB -----------------------------------------------------------------------------------------

_BN = 0x01
_NAD = 0x04
_CID = 0x08
_CHAIN = 0x10
_NAK = 0x10

_I_BLOCK = 0x02
_R_ACK = 0xA2
_S_DESELECT = 0xC2
_S_WTX = 0xF2


def _is_i(pcb: int) -> bool:
    return pcb & 0xE2 == 0x02


def _is_r(pcb: int) -> bool:
    return pcb & 0xE6 == 0xA2


def _is_s(pcb: int) -> bool:
    return pcb & 0xC7 == 0xC2


# --- the worker thread of a slow command (WTX) ---------------------------------------------------


class _Job:
    """One command APDU running on its own thread, so the card can ask for more time."""

    def __init__(self, host: CardHost, apdu: bytes) -> None:
        self.apdu = apdu
        self.done = threading.Event()
        self.response: bytes | None = None
        self.error: BaseException | None = None
        self._host = host
        self._thread = threading.Thread(target=self._run, name="iso14443-apdu", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.response = self._host.transceive(self.apdu)
        except BaseException as exc:  # handed to the model's thread, which decides
            self.error = exc
        finally:
            self.done.set()


# --- the model -----------------------------------------------------------------------------------


class Iso14443A:
    """The card's ISO 14443-3A/-4 side over a :class:`CardHost` (see the module docstring)."""

    def __init__(self, host: CardHost, *, wtx: bool = True, wtx_after: float | None = None) -> None:
        if wtx_after is not None and not wtx_after > 0:
            raise ValueError(f"wtx_after must be a positive number of seconds, got {wtx_after!r}")
        self.host = host
        self.wtx = wtx
        self._wtx_after = wtx_after
        self._lock = threading.RLock()
        self._reset_pending = False
        self._closed = False
        self._reset(State.IDLE)
        self._woken = False
        host.add_listener(self._on_presence)

    # --- public --------------------------------------------------------------------------------

    @property
    def state(self) -> State:
        with self._lock:
            self._apply_presence()
            return self._state

    @property
    def halted(self) -> bool:
        """Whether the card was halted since it was last woken (READY*/ACTIVE* states)."""
        return self._halted

    def close(self) -> None:
        """Stop following the host's presence changes.  Idempotent."""
        if not self._closed:
            self._closed = True
            self.host.remove_listener(self._on_presence)

    def field_off(self) -> None:
        """The reader's field went off: IDLE, and the card powers down if it had been woken."""
        with self._lock:
            self._apply_presence()
            woken = self._woken
            self._reset(State.IDLE)
            self._woken = False
            if woken and self.host.present:
                self.host.power_cycle()

    def exchange(self, frame: bytes, *, bits: int = 8, crc: bool = False,
                 crc_out: bool | None = None) -> bytes | None:
        """The card's answer to one reader frame, or ``None`` for silence (module docstring)."""
        frame = bytes(frame)
        if crc_out is None:
            crc_out = crc
        if not 1 <= bits <= 8:
            raise ValueError(f"bits must be 1..8, got {bits}")
        with self._lock:
            self._apply_presence()
            # only ISO-DEP blocks carry APDUs; before RATS the frames are anticollision's
            frames = self._tracer if self._state is State.PROTOCOL else None
            shown = hexdump(frame) if frames is None else frames.block(frame, to_card=True, crc=crc)
            trace(logger, "> %s%s", shown, f" ({bits} bits)" if bits != 8 else "")
            if not self.host.present:
                self._reset(State.IDLE)
                return None
            if not frame or len(frame) > MAX_FRAME + 4:
                logger.debug("frame of %d bytes ignored", len(frame))
                return None
            answer = self._frame(frame, bits, crc, crc_out)
            if answer is not None:
                trace(logger, "< %s", hexdump(answer) if frames is None else
                      frames.block(answer, to_card=False, crc=crc_out))
            return answer

    def activate(self, *, wakeup: bool = False, rats: bool = True, fsdi: int = 8, cid: int = 0,
                 crc: bool = False) -> Activation | None:
        """Run a reader's activation through :meth:`exchange`: REQA/WUPA, anticollision and
        SELECT at each cascade level, then RATS if ``rats`` and the SAK announces ISO 14443-4.

        Returns ``None`` when the card does not answer at some step.  ``fsdi`` and ``cid`` go in
        the RATS parameter byte; ``crc`` is passed to :meth:`exchange` (and handled here).
        """
        if not 0 <= fsdi <= 15 or not 0 <= cid <= 14:
            raise ValueError("fsdi must be 0..15 and cid 0..14")

        def send(data: bytes, protected: bool) -> bytes | None:
            out = append_crc_a(data) if crc and protected else data
            answer = self.exchange(out, crc=crc)
            if answer is not None and crc and protected:
                answer = answer[:-2]
            return answer

        atqa = self.exchange(bytes([WUPA if wakeup else REQA]), bits=7)
        if atqa is None:
            return None
        uid = b""
        sak = None
        for sel in SEL:
            cln = send(bytes([sel, 0x20]), False)
            if cln is None or len(cln) != 5:
                return None
            answer = send(bytes([sel, 0x70]) + cln, True)
            if not answer:
                return None
            sak = answer[0]
            if sak & SAK_UID_INCOMPLETE:
                uid += cln[1:4]
                continue
            uid += cln[:4]
            break
        if sak is None or sak & SAK_UID_INCOMPLETE:
            return None
        ats = None
        if rats and sak & SAK_ISO14443_4:
            ats = send(bytes([RATS, fsdi << 4 | cid]), True)
            if ats is None:
                return None
        return Activation(atqa=atqa, uid=uid, sak=sak, ats=ats)

    # --- presence --------------------------------------------------------------------------------

    def _on_presence(self, present: bool) -> None:
        # Called with the host's lock held: only flag it (see "Thread safety").
        self._reset_pending = True

    def _apply_presence(self) -> None:
        if self._reset_pending:
            self._reset_pending = False
            self._reset(State.IDLE)
            self._woken = False

    def _reset(self, state: State) -> None:
        self._state = state
        self._halted = state is State.HALT
        self._level = 0
        # ISO-DEP
        self._block = 1
        self._fsd = 256
        self._cid = 0
        self._cid_ok = False
        self._cid_in_use = False
        self._pps_allowed = False
        self._last: bytes | None = None  # last block sent, without CID and CRC
        self._rx_chain = bytearray()
        self._tx_chain = b""
        self._job: _Job | None = None
        self._job_deadline = 0.0
        self._wtxm = 1
        self._tracer = FrameTracer()

    def _lose_power(self, why: str) -> None:
        logger.debug("card lost power: %s", why)
        self._reset(State.IDLE)
        self._woken = False

    # --- ISO 14443-3 -----------------------------------------------------------------------------

    def _frame(self, frame: bytes, bits: int, crc: bool, crc_out: bool) -> bytes | None:
        state = self._state
        if bits == 7 and len(frame) == 1:
            return self._short(frame[0] & 0x7F)
        if bits != 8 and not (state is State.READY and len(frame) >= 2 and frame[0] in SEL):
            return None
        if state is State.READY:
            return self._select(frame, crc, crc_out)
        if state in (State.IDLE, State.HALT):
            return None
        if crc:
            if not check_crc_a(frame):
                logger.debug("bad CRC_A: frame ignored")
                return None
            frame = frame[:-2]
        answer = self._active(frame) if state is State.ACTIVE else self._protocol(frame)
        if answer is not None and crc_out:
            answer = append_crc_a(answer)
        return answer

    def _short(self, command: int) -> bytes | None:
        state = self._state
        if command not in (REQA, WUPA) or state is State.PROTOCOL:
            return None  # in PROTOCOL only ISO-DEP blocks count: deselect or field off first
        if state is State.HALT:
            if command != WUPA:
                return None
            halted = True
        elif state is State.IDLE:
            halted = False
        else:  # READY or ACTIVE: the reader starts over
            halted = self._halted
            if halted and command != WUPA:
                self._back()
                return None
        try:
            cascade_levels(self.host.card.anticollision_uid)
        except ValueError as exc:
            logger.error("cannot take part in anticollision: %s", exc)
            return None
        self._reset(State.READY)
        self._halted = halted
        self._woken = True
        return self.host.card.atqa

    def _back(self) -> None:
        """A frame the state does not allow: back to IDLE, or HALT if the card was halted."""
        halted = self._halted
        self._reset(State.HALT if halted else State.IDLE)

    def _select(self, frame: bytes, crc: bool, crc_out: bool) -> bytes | None:
        levels = cascade_levels(self.host.card.anticollision_uid)
        if len(frame) < 2 or self._level >= len(levels) or frame[0] != SEL[self._level]:
            self._back()
            return None
        nvb = frame[1]
        nbytes, nbits = nvb >> 4, nvb & 0x0F
        if not 2 <= nbytes <= 7 or nbits > 7 or (nbytes == 7 and nbits):
            self._back()
            return None
        cln = levels[self._level]
        if nvb == 0x70:  # SELECT
            if crc:
                if not check_crc_a(frame):
                    return None
                frame = frame[:-2]
            if frame[2:] != cln:
                self._back()
                return None
            self._level += 1
            if self._level < len(levels):
                sak = SAK_UID_INCOMPLETE
            else:
                sak = SAK_ISO14443_4
                halted = self._halted
                self._state = State.ACTIVE
                self._halted = halted
            answer = bytes([sak])
            return append_crc_a(answer) if crc_out else answer
        # ANTICOLLISION: the reader sends the first (nbytes - 2) * 8 + nbits bits of the level.
        known = (nbytes - 2) * 8 + nbits
        if len(frame) < nbytes + (1 if nbits else 0):
            return None
        sent = frame[2:]
        full, part = divmod(known, 8)
        if sent[:full] != cln[:full]:
            return None  # another card's UID: this one keeps quiet
        if part:
            mask = (1 << part) - 1
            if (sent[full] ^ cln[full]) & mask:
                return None
            return bytes([cln[full] & ~mask & 0xFF]) + cln[full + 1:]
        return cln[full:]

    def _active(self, frame: bytes) -> bytes | None:
        if frame == HLTA:
            self._reset(State.HALT)
            return None
        if len(frame) == 2 and frame[0] == RATS and frame[1] & 0x0F != 0x0F:
            ats = bytes(self.host.card.ats)
            cid_ok = parse_ats(ats).cid
            self._reset(State.PROTOCOL)
            self._fsd = fsd_of(frame[1] >> 4)
            self._cid = frame[1] & 0x0F
            self._cid_ok = cid_ok
            self._pps_allowed = True
            return ats
        self._back()
        return None

    # --- ISO 14443-4 -----------------------------------------------------------------------------

    def _protocol(self, frame: bytes) -> bytes | None:
        pcb = frame[0]
        pos = 1
        if self._pps_allowed and pcb & 0xF0 == 0xD0:
            self._pps_allowed = False
            if pcb & 0x0F != self._cid or len(frame) not in (2, 3):
                return None
            return frame[:1]
        has_cid = bool(pcb & _CID) and (_is_i(pcb) or _is_r(pcb) or _is_s(pcb))
        if has_cid:
            if len(frame) < 2 or not self._cid_ok or frame[1] & 0x0F != self._cid:
                return None
            pos = 2
        elif self._cid != 0:
            return None  # a card with a CID other than 0 ignores blocks without one
        cid = frame[1:2] if has_cid else b""
        self._cid_in_use = has_cid
        if _is_i(pcb):
            self._pps_allowed = False
            if pcb & _NAD:
                pos += 1
            if pos > len(frame):
                return None
            block = self._i_block(pcb, frame[pos:])
        elif _is_r(pcb):
            if len(frame) != pos:
                return None
            block = self._r_block(pcb)
        elif _is_s(pcb):
            block = self._s_block(pcb, frame[pos:])
        else:
            return None
        if block is None:
            return None
        return bytes([block[0] | _CID]) + cid + block[1:] if has_cid else block

    def _i_block(self, pcb: int, inf: bytes) -> bytes | None:
        if self._job is not None:
            return None  # the reader must answer our S(WTX) first
        if pcb & _BN == self._block:
            logger.debug("I-block with the card's own block number (a duplicate) ignored")
            return None
        self._block ^= 1
        self._tx_chain = b""
        if len(self._rx_chain) + len(inf) > MAX_APDU:
            logger.warning("chained command longer than %d bytes dropped", MAX_APDU)
            self._rx_chain = bytearray()
            self._block ^= 1
            return None
        self._rx_chain += inf
        if pcb & _CHAIN:
            return self._send(bytes([_R_ACK | self._block]))
        apdu, self._rx_chain = bytes(self._rx_chain), bytearray()
        return self._run(apdu)

    def _r_block(self, pcb: int) -> bytes | None:
        if pcb & _BN == self._block:
            if self._job is not None:
                return self._poll_job()
            return self._last  # retransmit (ISO 14443-4 rule 11)
        if pcb & _NAK:
            return bytes([_R_ACK | self._block])  # rule 12: not part of "last block"
        if self._tx_chain and self._job is None:  # rule 13: continue our chain
            self._block ^= 1
            return self._next_chunk()
        return None

    def _s_block(self, pcb: int, inf: bytes) -> bytes | None:
        if pcb & 0xF7 == _S_DESELECT and not inf:
            self._reset(State.HALT)
            return bytes([_S_DESELECT])
        if pcb & 0xF7 == _S_WTX and len(inf) == 1 and self._job is not None:
            return self._poll_job(extension=inf[0] & 0x3F)
        return None

    # --- APDUs and responses ---------------------------------------------------------------------

    def _run(self, apdu: bytes) -> bytes | None:
        if not self.wtx:
            try:
                response = self.host.transceive(apdu)
            except CardTorn as exc:
                self._lose_power(str(exc))
                return None
            except CardMute:
                self._block ^= 1  # as if the block had never arrived: the reader repeats it
                return None
            return self._respond(response)
        self._job = _Job(self.host, apdu)
        self._wtxm = 1
        return self._poll_job(first=True)

    def _wtx_after_seconds(self) -> float:
        if self._wtx_after is not None:
            return self._wtx_after
        return parse_ats(self.host.card.ats).fwt / 2

    def _poll_job(self, *, first: bool = False, extension: int | None = None) -> bytes | None:
        job = self._job
        assert job is not None
        if first:
            wait = self._wtx_after_seconds()
        else:
            granted = (extension or self._wtxm) * parse_ats(self.host.card.ats).fwt
            wait = granted / 2
        job.done.wait(wait)
        if not job.done.is_set():
            fwt = parse_ats(self.host.card.ats).fwt
            self._wtxm = max(1, min(59, round(1.0 / fwt)))
            self._last = bytes([_S_WTX, self._wtxm])
            return self._last
        self._job = None
        if job.error is not None:
            if isinstance(job.error, CardTorn):
                self._lose_power(str(job.error))
                return None
            if isinstance(job.error, CardMute):
                self._block ^= 1
                self._last = None
                return None
            raise job.error
        assert job.response is not None
        return self._respond(job.response)

    def _respond(self, response: bytes) -> bytes:
        self._tx_chain = bytes(response)
        return self._next_chunk()

    def _next_chunk(self) -> bytes:
        # PCB, an optional CID byte and CRC_A count against the reader's FSD.
        room = max(1, self._fsd - 3 - (1 if self._cid_in_use else 0))
        chunk, self._tx_chain = self._tx_chain[:room], self._tx_chain[room:]
        pcb = _I_BLOCK | self._block | (_CHAIN if self._tx_chain else 0)
        return self._send(bytes([pcb]) + chunk)

    def _send(self, block: bytes) -> bytes:
        self._last = block
        return block
