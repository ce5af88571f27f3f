"""What reader drivers and the emulated card's front-ends share about the wire below DESFire.

Both sides of a contactless link speak the same bytes: a reader driver decodes what an emulated
front-end encodes, and the other way round.  Each rule is written once, here, below both
:mod:`ekarta.readers` and :mod:`ekarta.emulator`:

:mod:`ekarta.wire.iso14443`
    ISO/IEC 14443-3 type A: short frames, CRC_A, cascade levels and their BCC, SAK bits.
:mod:`ekarta.wire.ats`
    the ATS: frame size, frame waiting time, CID support, historical bytes, and the ATR a PC/SC
    reader builds from it.
:mod:`ekarta.wire.pn532_frame`
    the PN532's host frames (normal, extended, ACK, NACK, error) and a stream decoder.

The modules are pure functions and frozen values; they do no I/O and keep no state beyond a
decoder's buffer.
"""
