"""Secure messaging details that the round trips do not reach on their own."""

from __future__ import annotations

import pytest

from ekarta.desfire.crypto import BlockCipher, KeyType, crc32, pad_iso9797_m2
from ekarta.desfire.session import Comm, EV1Session
from ekarta.errors import ChecksumMismatch

KEY = bytes.fromhex("F44B26F5C05DDD7110772281C4D066E8")


def _pair() -> tuple[EV1Session, EV1Session]:
    return EV1Session("aes", KEY), EV1Session("aes", KEY)


def test_full_mode_data_of_unknown_length_may_be_padded_with_0x80():
    # SetConfiguration option 0x02 (ATS) as libfreefare sends it: data | CRC32 | 80 00..
    reader, card = _pair()
    ats = bytes.fromhex("0675778102 80".replace(" ", ""))
    plain = ats + crc32(bytes([0x5C, 0x02]) + ats)
    body = BlockCipher(KeyType.AES, KEY).encrypt_cbc(pad_iso9797_m2(plain, 16), reader.iv)
    assert card.unwrap_command(0x5C, b"\x02", body, Comm.FULL) == ats


def test_full_mode_data_with_a_wrong_crc_is_refused_whatever_the_padding():
    reader, card = _pair()
    ats = bytes.fromhex("067577810280")
    plain = ats + crc32(bytes([0x5C, 0x03]) + ats)  # CRC over another option byte
    body = BlockCipher(KeyType.AES, KEY).encrypt_cbc(pad_iso9797_m2(plain, 16), reader.iv)
    with pytest.raises(ChecksumMismatch):
        card.unwrap_command(0x5C, b"\x02", body, Comm.FULL)


def test_zero_padded_full_mode_data_of_unknown_length_still_opens():
    reader, card = _pair()
    data = bytes(range(1, 21))
    body = reader.wrap_command(0x5C, b"\x02", data, Comm.FULL)[1:]
    assert card.unwrap_command(0x5C, b"\x02", body, Comm.FULL) == data
