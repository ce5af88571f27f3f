"""The ``emulator:`` reader: URL grammar, card info, persistence, faults as reader errors.

What every driver does (mute card, removal, tracing, closing, waiting for a card) is checked for
this one too by ``test_readers_contract.py``.
"""

from __future__ import annotations

import json

import pytest

from ekarta.emulator import CardMute, CardTorn, Faults, VirtualCard
from ekarta.emulator.reader import EmulatorReader
from ekarta.errors import (
    CardRemovedError,
    EmulatorError,
    NoCardError,
    ReaderError,
    ReaderTimeout,
)
from ekarta.readers import open_reader
from ekarta.wire.ats import atr_from_ats

FREE_MEMORY = bytes.fromhex("906E000000")
CREATE_APP = bytes.fromhex("90CA000005010000" "0F" "8100")
UID = bytes.fromhex("04A0A1A2A3A4A5")


def test_open_a_fresh_card():
    with open_reader("emulator:") as reader:
        assert isinstance(reader, EmulatorReader)
        assert reader.url == "emulator:" and reader.path is None
        assert reader.card_present
        assert reader.transceive(FREE_MEMORY) == bytes.fromhex("001F00 9100")
        info = reader.wait_for_card(timeout=0.1)
        assert info.uid == reader.card.uid and len(info.uid) == 7
        assert info.atqa == b"\x44\x03" and info.sak == 0x20
        assert info.ats == bytes.fromhex("067577810280")
        assert info.atr == bytes.fromhex("3B8180018080")
        assert reader.card_info == info
    assert reader.closed and not reader.card_present
    with pytest.raises(ReaderError):
        reader.transceive(FREE_MEMORY)


def test_atr_from_ats():
    assert atr_from_ats(bytes.fromhex("067577810280")) == bytes.fromhex("3B8180018080")
    # no historical bytes: T0 = 0x80, TD1 = 0x80, TD2 = 0x01, TCK = 0x80 ^ 0x80 ^ 0x01
    assert atr_from_ats(bytes.fromhex("0578807002")) == bytes.fromhex("3B80800101")
    # TL 10, T0 with TA, TB, TC: five historical bytes 80 AA BB CC 01
    assert atr_from_ats(bytes.fromhex("0A78779402 80AABBCC01")) == \
        bytes.fromhex("3B85800180AABBCC01") + bytes(
            [0x85 ^ 0x80 ^ 0x01 ^ 0x80 ^ 0xAA ^ 0xBB ^ 0xCC ^ 0x01])


def test_a_fresh_card_with_uid_and_rng():
    reader = EmulatorReader(uid=UID, rng=lambda n: bytes(n))
    assert reader.card.uid == UID
    assert reader.wait_for_card().uid == UID


def test_missing_card_file(tmp_path):
    missing = tmp_path / "missing.json"
    with pytest.raises(NoCardError, match=f"ekarta emulator new {missing}"):
        open_reader(f"emulator:{missing}")


def test_corrupt_card_file(tmp_path):
    path = tmp_path / "card.json"
    path.write_text("{")
    with pytest.raises(EmulatorError):
        open_reader(f"emulator:{path}")


def test_a_stored_card_is_saved_after_each_change(tmp_path):
    path = tmp_path / "card.json"
    VirtualCard.new(uid=UID).save(path)
    with open_reader(f"emulator:{path}") as reader:
        assert reader.url == f"emulator:{path}"
        assert reader.card.uid == UID
        before = path.read_text()
        reader.transceive(FREE_MEMORY)
        assert path.read_text() == before  # nothing changed, nothing written
        assert reader.transceive(CREATE_APP) == b"\x91\x00"
        saved = json.loads(path.read_text())
        assert [app["aid"] for app in saved["applications"]] == ["000001"]
    with open_reader(f"emulator:{path}") as again:
        assert again.transceive(bytes.fromhex("906A000000")) == bytes.fromhex("010000 9100")


def test_card_faults_are_reader_errors_raised_from_the_cards(tmp_path):
    """A torn card is a CardRemovedError, a mute one a ReaderTimeout (the behaviour every driver
    shares is in test_readers_contract.py), each raised from the emulator's own error."""
    with open_reader("emulator:") as reader:
        reader.card.arm(Faults(tear_after=0))
        with pytest.raises(CardRemovedError) as torn:
            reader.transceive(FREE_MEMORY)
        assert isinstance(torn.value.__cause__, CardTorn)
        reader.card.insert()
        reader.card.arm(Faults(mute=True))
        with pytest.raises(ReaderTimeout) as mute:
            reader.transceive(FREE_MEMORY)
        assert isinstance(mute.value.__cause__, CardMute)


def test_a_torn_write_is_saved(tmp_path):
    path = tmp_path / "card.json"
    VirtualCard.new(uid=UID).save(path)
    reader = open_reader(f"emulator:{path}")
    for apdu in (CREATE_APP, "905A00000301000000", "90CD000007 01 00 EEEE 040000 00"):
        raw = apdu if isinstance(apdu, bytes) else bytes.fromhex(apdu.replace(" ", ""))
        assert reader.transceive(raw) == b"\x91\x00"
    reader.card.arm(Faults(tear_during=0, tear_progress=0.5))
    with pytest.raises(CardRemovedError):
        reader.transceive(bytes.fromhex("903D00000B 01 000000 040000 41424344 00".replace(" ", "")))
    saved = json.loads(path.read_text())
    assert saved["applications"][0]["files"][0]["data"] == "41420000"
    reader.close()
