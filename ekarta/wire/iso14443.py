"""ISO/IEC 14443-3 type A on the air: short frames, CRC_A, anticollision and SELECT.

What a reader sends and what a card answers before ISO-DEP starts::

    REQA 26 / WUPA 52 (7-bit short frames)          -> ATQA (2 bytes, least significant first)
    SEL NVB [UID bits]  (SEL 93, 95, 97: levels 1-3) -> the rest of the level's CLn + BCC
    SEL 70 CLn BCC CRC_A                             -> SAK CRC_A
    HLTA 50 00 CRC_A                                 -> nothing (the card halts)
    RATS E0 P CRC_A                                  -> the ATS (see :mod:`ekarta.wire.ats`)

A UID of 7 or 10 bytes is split over two or three cascade levels, each but the last starting with
the cascade tag 0x88; every level carries its BCC (the XOR of its four bytes).  A SAK with bit
0x04 set means the UID goes on at the next level, bit 0x20 that the card speaks ISO 14443-4.

CRC_A is the CRC legacy DESFire secure messaging uses too; its one implementation lives with the
DESFire cryptography (:func:`ekarta.desfire.crypto.crc16`), which sits below this package.
"""

from __future__ import annotations

from functools import reduce

from ekarta.desfire.crypto import crc16

__all__ = [
    "CASCADE_TAG",
    "HLTA",
    "RATS",
    "REQA",
    "SAK_ISO14443_4",
    "SAK_UID_INCOMPLETE",
    "SEL",
    "WUPA",
    "append_crc_a",
    "bcc",
    "cascade_levels",
    "check_crc_a",
    "crc_a",
]

REQA = 0x26
"""Request, type A: a 7-bit short frame that idle cards answer with their ATQA."""

WUPA = 0x52
"""Wake-up, type A: a 7-bit short frame that halted cards answer too."""

HLTA = b"\x50\x00"
"""Halt, type A (sent with CRC_A)."""

RATS = 0xE0
"""Request for answer to select: ``E0 P``, FSDI in P's high nibble and CID in its low one."""

SEL = (0x93, 0x95, 0x97)
"""The SEL codes of cascade levels 1, 2 and 3."""

CASCADE_TAG = 0x88
"""First byte of a cascade level that the UID continues beyond."""

SAK_UID_INCOMPLETE = 0x04
"""SAK bit: the UID is not complete, select the next cascade level."""

SAK_ISO14443_4 = 0x20
"""SAK bit: the card is ISO/IEC 14443-4 compliant (answers RATS)."""


def crc_a(data: bytes) -> bytes:
    """ISO 14443-3 CRC_A of ``data`` (initial value 0x6363), least significant byte first."""
    return crc16(data)


def append_crc_a(data: bytes) -> bytes:
    """``data`` followed by its CRC_A."""
    return bytes(data) + crc_a(data)


def check_crc_a(frame: bytes) -> bool:
    """Whether ``frame`` ends with the right CRC_A over the bytes before it."""
    return len(frame) >= 3 and crc_a(frame[:-2]) == bytes(frame[-2:])


def bcc(data: bytes) -> int:
    """The block check character of a cascade level: the XOR of its bytes."""
    return reduce(lambda a, b: a ^ b, data, 0)


def cascade_levels(uid: bytes) -> list[bytes]:
    """The 5 bytes (CLn and BCC) of each cascade level of a 4, 7 or 10-byte UID.

    Raises :class:`ValueError` for a UID of any other length.
    """
    if len(uid) == 4:
        parts = [bytes(uid)]
    elif len(uid) == 7:
        parts = [bytes([CASCADE_TAG]) + uid[:3], bytes(uid[3:])]
    elif len(uid) == 10:
        parts = [bytes([CASCADE_TAG]) + uid[:3], bytes([CASCADE_TAG]) + uid[3:6], bytes(uid[6:])]
    else:
        raise ValueError(f"a type A UID has 4, 7 or 10 bytes, not {len(uid)}")
    return [p + bytes([bcc(p)]) for p in parts]
