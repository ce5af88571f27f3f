"""Fault injection: tearing, a mute card, latency, removal."""

from __future__ import annotations

import time

import pytest

from ekarta.emulator import CardHost, CardMute, CardTorn, Faults, VirtualCard, deliver
from ekarta.errors import EmulatorError, InvalidArgument
from ekarta.readers import open_reader
from tests.support.apdu import h

UID = bytes.fromhex("04112233445566")
FREE_MEMORY = bytes.fromhex("906E000000")
SELECT_APP = bytes.fromhex("905A00000301000000")
CREATE_APP = bytes.fromhex("90CA000005010000" "0F" "8100")


def write(file_no: int, data: bytes) -> bytes:
    body = bytes([file_no]) + bytes(3) + len(data).to_bytes(3, "little") + data
    return bytes([0x90, 0x3D, 0, 0, len(body)]) + body + b"\x00"


def read(file_no: int) -> bytes:
    return h(f"90BD000007 {file_no:02X} 000000 000000 00")


@pytest.fixture
def card() -> VirtualCard:
    """An application 000001 with a 10-byte std file 1 and a 10-byte backup file 2, all free."""
    card = VirtualCard.new(uid=UID)
    for apdu in (CREATE_APP, SELECT_APP, h("90CD000007 01 00 EEEE 0A0000 00"),
                 h("90CB000007 02 00 EEEE 0A0000 00")):
        assert card.process(apdu)[-2:] == b"\x91\x00"
    return card


def test_faults_are_exceptions_of_the_emulator(card):
    # what the card raises is caught as an emulator error by whoever drives it
    card.arm(Faults(mute=True))
    with pytest.raises(EmulatorError) as mute:
        card.process(h("906E000000"))
    assert type(mute.value) is CardMute
    card.arm(Faults(tear_after=0))
    with pytest.raises(EmulatorError) as torn:
        card.process(h("906E000000"))
    assert type(torn.value) is CardTorn
    for bad in (dict(tear_after=-1), dict(tear_progress=1.5), dict(latency=-1),
                dict(tear_during=True), dict(mute=1)):
        with pytest.raises(InvalidArgument):
            Faults(**bad)
    assert not Faults().active and Faults(mute=True).active


def test_tear_after_cuts_power_before_the_command(card):
    card.arm(Faults(tear_after=2))
    card.process(FREE_MEMORY)
    card.process(FREE_MEMORY)
    with pytest.raises(CardTorn):
        card.process(write(1, b"lost"))
    assert not card.present
    with pytest.raises(CardTorn):
        card.process(FREE_MEMORY)
    card.insert()
    assert card.present and card.selected_aid == 0
    assert card.process(SELECT_APP)[-2:] == b"\x91\x00"
    assert card.process(read(1)) == bytes(10) + b"\x91\x00"
    assert card.process(FREE_MEMORY)[-2:] == b"\x91\x00"  # the tear happens once


def test_arming_restarts_the_count(card):
    card.arm(Faults(tear_after=1))
    card.process(FREE_MEMORY)
    card.arm(Faults(tear_after=1))
    card.process(FREE_MEMORY)
    with pytest.raises(CardTorn):
        card.process(FREE_MEMORY)


@pytest.mark.parametrize(("progress", "written"), [(0.0, 0), (0.5, 5), (0.9, 9), (1.0, 10)])
def test_tear_during_a_std_write_writes_a_fraction(card, progress, written):
    card.arm(Faults(tear_during=0, tear_progress=progress))
    with pytest.raises(CardTorn):
        card.process(write(1, b"ABCDEFGHIJ"))
    card.insert()
    card.arm()
    card.process(SELECT_APP)
    assert card.process(read(1))[:-2] == b"ABCDEFGHIJ"[:written] + bytes(10 - written)


def test_tear_during_a_backup_write_changes_nothing(card):
    card.arm(Faults(tear_during=0, tear_progress=0.9))
    with pytest.raises(CardTorn):
        card.process(write(2, b"ABCDEFGHIJ"))
    card.insert()
    card.process(SELECT_APP)
    card.process(h("90C7000000"))
    assert card.process(read(2))[:-2] == bytes(10)


@pytest.mark.parametrize(("progress", "committed"), [(0.1, False), (0.49, False), (0.5, True),
                                                     (0.9, True)])
def test_commit_is_atomic(card, progress, committed):
    card.process(write(2, b"0123456789"))
    card.arm(Faults(tear_during=0, tear_progress=progress))
    with pytest.raises(CardTorn):
        card.process(h("90C7000000"))
    card.insert()
    card.process(SELECT_APP)
    assert card.process(read(2))[:-2] == (b"0123456789" if committed else bytes(10))


def test_tear_during_any_other_command_has_no_effect(card):
    revision = card.revision
    card.arm(Faults(tear_during=0, tear_progress=0.9))
    with pytest.raises(CardTorn):
        card.process(h("90CD000007 05 00 EEEE 0A0000 00"))  # create file 5
    card.insert()
    card.process(SELECT_APP)
    assert card.process(h("906F000000")) == b"\x01\x02\x91\x00"
    assert card.revision == revision


def test_mute_card_never_answers(card):
    card.arm(Faults(mute=True))
    with pytest.raises(CardMute):
        card.process(write(1, b"x"))
    card.arm()
    card.process(SELECT_APP)
    assert card.process(read(1))[:-2] == bytes(10)


def test_latency_slows_every_command_on_its_way_in(card):
    card.arm(Faults(latency=0.02))
    start = time.monotonic()
    deliver(card, FREE_MEMORY)
    deliver(card, FREE_MEMORY)
    assert time.monotonic() - start >= 0.04
    with open_reader("emulator:") as reader:
        reader.card.arm(Faults(latency=0.02))
        start = time.monotonic()
        reader.transceive(FREE_MEMORY)
        reader.transceive(FREE_MEMORY)
        assert time.monotonic() - start >= 0.04


def test_the_card_itself_never_waits(card):
    card.arm(Faults(latency=30))
    start = time.monotonic()
    assert card.process(FREE_MEMORY)[-2:] == b"\x91\x00"
    assert time.monotonic() - start < 5


def test_the_host_waits_out_the_latency_before_the_card_answers(card):
    slept: list[float] = []
    host = CardHost(card, sleep=slept.append)
    processed = card.commands_processed
    card.arm(Faults(latency=0.25))
    assert host.transceive(FREE_MEMORY)[-2:] == b"\x91\x00"
    assert slept == [0.25]
    host.arm(Faults(latency=0.5, mute=True))
    with pytest.raises(CardMute):
        host.transceive(FREE_MEMORY)
    assert slept == [0.25, 0.5]  # a mute card keeps silent that long
    host.remove()
    with pytest.raises(CardTorn):
        host.transceive(FREE_MEMORY)
    assert slept == [0.25, 0.5]  # no card in the field: nothing to wait for
    host.insert()
    host.arm(Faults())
    host.transceive(FREE_MEMORY)
    assert slept == [0.25, 0.5]
    assert card.commands_processed == processed + 2  # the mute card executed nothing


def test_removal_loses_volatile_state(card):
    card.process(write(2, b"staged...."))
    assert card.in_transaction
    card.remove()
    with pytest.raises(CardTorn):
        card.process(FREE_MEMORY)
    card.insert()
    assert not card.in_transaction and card.selected_aid == 0
    card.process(SELECT_APP)
    card.process(h("90C7000000"))
    assert card.process(read(2))[:-2] == bytes(10)


def test_faults_given_to_the_constructor():
    card = VirtualCard(uid=UID, faults=Faults(tear_after=0))
    with pytest.raises(CardTorn):
        card.process(FREE_MEMORY)
