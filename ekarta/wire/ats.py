"""The ATS of an ISO/IEC 14443-4 type A card and what follows from it.

The card answers RATS with its ATS (ISO/IEC 14443-4 §5.2)::

    TL T0 [TA(1)] [TB(1)] [TC(1)] historical bytes        TL = length of the ATS, TL included
    T0:    bits 7-5 say which of TA(1), TB(1), TC(1) follow, bits 4-1 are FSCI
    TB(1): FWI in the high nibble (frame waiting time), SFGI in the low one
    TC(1): bit 2 set when the card supports a CID

:func:`parse_ats` reads these, with the ISO defaults for what an ATS leaves out; it accepts any
bytes (a truncated or inconsistent ATS yields defaults, never an exception).  A PC/SC reader shows
such a card to applications with an ATR it builds from the ATS historical bytes
(:func:`atr_from_ats`, PC/SC part 3 §3.1.3.2.3.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

__all__ = ["AtsParameters", "atr_from_ats", "fsd_of", "parse_ats"]

#: FSD (and FSC) for FSDI (FSCI) 0..8; higher values are RFU in ISO 14443-4:2008 and mean 256.
_FS_TABLE = (16, 24, 32, 40, 48, 64, 96, 128, 256)

_FC = 13.56e6
"""The carrier frequency (Hz), the unit of ISO 14443 timings."""

_MAX_HISTORICAL_IN_ATR = 15


def fsd_of(fsdi: int) -> int:
    """Frame size (bytes, PCB to CRC) for an FSDI or FSCI nibble."""
    return _FS_TABLE[min(fsdi, 8)]


@dataclass(frozen=True)
class AtsParameters:
    """What an ATS announces; ISO 14443-4 defaults where it leaves a field out."""

    fsci: int = 2
    """The card's frame size integer (:func:`fsd_of` gives the size in bytes)."""
    fwi: int = 4
    """The frame waiting time integer, 0..14 (the RFU value 15 reads as the default, 4)."""
    cid: bool = False
    """Whether the card supports a CID."""
    historical: bytes = b""
    """The historical bytes (for a DESFire ``80``)."""

    @property
    def fsc(self) -> int:
        """The largest frame the card accepts, in bytes (PCB to CRC)."""
        return fsd_of(self.fsci)

    @property
    def fwt(self) -> float:
        """The frame waiting time in seconds: 4096 × 2^FWI / fc."""
        return 4096 * (1 << self.fwi) / _FC


def parse_ats(ats: bytes) -> AtsParameters:
    """The parameters of an ATS (see the module docstring); never fails."""
    ats = bytes(ats)
    if len(ats) < 2 or ats[0] < 2:
        return AtsParameters()
    t0 = ats[1]
    fwi, cid = 4, False
    pos = 2
    if t0 & 0x10:
        pos += 1  # TA(1): the bit rates
    if t0 & 0x20:
        if pos < len(ats):
            fwi = ats[pos] >> 4
        pos += 1
    if t0 & 0x40:
        if pos < len(ats):
            cid = bool(ats[pos] & 0x02)
        pos += 1
    return AtsParameters(fsci=t0 & 0x0F, fwi=4 if fwi > 14 else fwi, cid=cid,
                         historical=ats[pos:ats[0]])


def atr_from_ats(ats: bytes) -> bytes:
    """The ATR a PC/SC reader reports for an ISO 14443-4 type A card with this ATS.

    ``3B 8n 80 01`` + the historical bytes (at most 15, n of them) + TCK, the XOR of the bytes
    after ``3B``: ``3B 81 80 01 80 80`` for a DESFire.
    """
    historical = parse_ats(ats).historical[:_MAX_HISTORICAL_IN_ATR]
    body = bytes([0x80 | len(historical), 0x80, 0x01]) + historical
    return b"\x3B" + body + bytes([reduce(lambda a, b: a ^ b, body, 0)])
