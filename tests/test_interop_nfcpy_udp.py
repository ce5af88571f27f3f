"""Interoperability: nfcpy's own Type 4 Tag code reads (and writes) NDEF on the emulated DESFire.

The NDEF application is laid out as libfreefare's ``mifare-desfire-create-ndef`` does it on an
EV1 card (NFC Forum Type 4 Tag mapping 2.0): application 0x000001 with ISO FID E110 and DF name
D2760000850101, the capability container in file 1 (FID E103, 15 bytes), the NDEF file in file 2
(FID E104), both plain with free read and write access.  ekarta's own client builds it and writes
the message; nfcpy finds it by ISO SELECTs and READ BINARYs through the UDP front-end, over its
real ``udp`` driver.  :func:`read_ndef_with_nfcpy` takes any ``nfcpy:`` URL, so the same check runs
on what libfreefare itself wrote.
"""

from __future__ import annotations

from collections.abc import Iterator

import ndef
import pytest

from ekarta.desfire.client import DESFire
from ekarta.desfire.crypto import Key
from ekarta.desfire.structs import AccessRights
from ekarta.emulator import CardHost, VirtualCard
from ekarta.log import TRACE
from ekarta.readers import open_reader
from ekarta.readers.nfcpy import NfcpyReader
from tests.support.udp import serve_udp

pytestmark = pytest.mark.interop

NDEF_AID = 0x000001
NDEF_DF_NAME = bytes.fromhex("D2760000850101")
NDEF_FILE_SIZE = 1024
FREE = AccessRights(read=0xE, write=0xE, read_write=0xE, change=0x0)


def capability_container(mle: int = 0x3B, mlc: int = 0x34, size: int = NDEF_FILE_SIZE) -> bytes:
    """CC file of mapping 2.0: CCLEN, version, MLe, MLc, NDEF File Control TLV (E104, free)."""
    return (bytes.fromhex("000F20") + mle.to_bytes(2, "big") + mlc.to_bytes(2, "big")
            + bytes.fromhex("0406E104") + size.to_bytes(2, "big") + b"\x00\x00")


def create_ndef_application(card: DESFire, cc: bytes) -> None:
    """What ``mifare-desfire-create-ndef`` does on an EV1, with ekarta's client."""
    card.select_application(0)
    card.authenticate(0, Key.default("des"), "legacy")
    card.create_application(NDEF_AID, 0x0F, 1, "des", iso_fid=0xE110, df_name=NDEF_DF_NAME)
    card.select_application(NDEF_AID)
    card.authenticate(0, Key.default("des"), "legacy")
    card.create_std_data_file(1, len(cc), comm="plain", access=FREE, iso_fid=0xE103)
    card.write_data(1, cc)
    card.create_std_data_file(2, NDEF_FILE_SIZE, comm="plain", access=FREE, iso_fid=0xE104)
    card.write_data(2, b"\x00\x00")


def write_ndef(card: DESFire, message: bytes) -> None:
    """Store an NDEF message: NLEN (2 bytes, big-endian), then the message."""
    card.select_application(NDEF_AID)
    card.write_data(2, len(message).to_bytes(2, "big") + message)


def read_ndef_with_nfcpy(url: str, timeout: float = 5.0) -> bytes:
    """The NDEF message octets nfcpy's Type 4 Tag code reads from the card behind ``url``."""
    with open_reader(url) as reader:
        assert isinstance(reader, NfcpyReader)
        reader.wait_for_card(timeout=timeout)
        tag = reader.tag
        assert tag is not None
        assert tag.ndef is not None, "nfcpy found no NDEF application on the card"
        return bytes(tag.ndef.octets)


def message(text_length: int) -> bytes:
    records = [
        ndef.TextRecord("ekarta " + "x" * text_length, "en"),
        ndef.UriRecord("https://example.org/ekarta"),
    ]
    return b"".join(ndef.message_encoder(records))


@pytest.fixture
def host() -> CardHost:
    return CardHost(VirtualCard.new(uid=bytes.fromhex("04EE0011223344")))


@pytest.fixture
def url(host: CardHost) -> Iterator[str]:
    with serve_udp(host) as served:
        yield served


@pytest.mark.parametrize(("mle", "text_length"), [
    (0x3B, 20),    # libfreefare's MLe (59): one READ BINARY
    (0x3B, 500),   # several READ BINARYs of 59 bytes
    (0xFF, 600),   # READ BINARYs of 255 bytes: 257-byte responses the card chains (FSD 256)
], ids=["small", "libfreefare-mle", "chained-responses"])
def test_nfcpy_reads_the_ndef_message_ekarta_wrote(host: CardHost, url: str, mle: int,
                                                    text_length: int,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    octets = message(text_length)
    card = DESFire(host)
    create_ndef_application(card, capability_container(mle=mle))
    write_ndef(card, octets)

    with caplog.at_level(TRACE, logger="ekarta.emulator.iso14443"):
        assert read_ndef_with_nfcpy(url) == octets
    chained = [r for r in caplog.records
               if r.name == "ekarta.emulator.iso14443" and r.getMessage()[:5] in ("< 12 ", "< 13 ")]
    assert bool(chained) == (mle == 0xFF)
    with open_reader(url) as reader:
        reader.wait_for_card(timeout=5)
        assert reader.tag.ndef.capacity == NDEF_FILE_SIZE - 2
        records = reader.tag.ndef.records
    assert [type(r) for r in records] == [ndef.TextRecord, ndef.UriRecord]
    assert records[0].text == "ekarta " + "x" * text_length
    assert records[1].iri == "https://example.org/ekarta"


def test_nfcpy_writes_ndef_that_ekarta_reads(host: CardHost, url: str) -> None:
    card = DESFire(host)
    create_ndef_application(card, capability_container())
    records = [ndef.TextRecord("written by nfcpy " + "y" * 150)]
    expected = b"".join(ndef.message_encoder(records))
    with open_reader(url) as reader:
        reader.wait_for_card(timeout=5)
        assert reader.tag.ndef is not None and reader.tag.ndef.is_writeable
        reader.tag.ndef.records = records  # UPDATE BINARYs of MLc = 52 bytes
    card = DESFire(host)
    card.select_application(NDEF_AID)
    stored = card.read_data(2, 0, 2 + len(expected))
    assert stored == len(expected).to_bytes(2, "big") + expected
    assert read_ndef_with_nfcpy(url) == expected


def test_no_ndef_application_means_no_ndef(url: str) -> None:
    with open_reader(url) as reader:
        reader.wait_for_card(timeout=5)
        assert reader.tag.ndef is None
