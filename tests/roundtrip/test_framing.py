"""The framing rules of docs/desfire-protocol.md, seen on the wire (raw APDUs to the card)."""

from __future__ import annotations

import pytest

from ekarta.desfire.client import DESFire
from ekarta.desfire.structs import AccessRights

from ._support import FACTORY_FREE_MEMORY, RecordingTransceiver, pattern

#: every framing rule is transport behaviour: the whole module runs on every transport
pytestmark = pytest.mark.conformance

MORE = b"\x91\xAF"
OK = b"\x91\x00"


def _send(reader, hex_text: str) -> bytes:
    return bytes(reader.transceive(bytes.fromhex(hex_text)))


def test_get_version_three_frames(reader) -> None:
    first = _send(reader, "9060000000")
    second = _send(reader, "90AF000000")
    third = _send(reader, "90AF000000")
    assert (first[-2:], second[-2:], third[-2:]) == (MORE, MORE, OK)
    assert (len(first), len(second), len(third)) == (9, 9, 16)
    assert third[0] == 0x04 and len(third[:7]) == 7  # UID, NXP first
    assert DESFire(reader).get_version().uid == third[:7]


def test_new_command_abandons_chain(reader) -> None:
    assert _send(reader, "9060000000")[-2:] == MORE
    answer = _send(reader, "906E000000")  # FreeMemory in the middle of GetVersion's chain
    assert answer == FACTORY_FREE_MEMORY.to_bytes(3, "little") + OK
    assert _send(reader, "9060000000")[-2:] == MORE  # and GetVersion starts over


def test_unknown_command(reader) -> None:
    assert _send(reader, "9099000000") == b"\x91\x1C"


def test_long_response_in_59_byte_frames(reader) -> None:
    card = DESFire(reader)
    card.create_application(0x0A0B0C, key_count=1, key_type="aes")
    card.select_application(0x0A0B0C)
    card.create_std_data_file(1, 150, access=AccessRights.free())
    data = pattern(150, 1)
    card.write_data(1, data)

    frames = [_send(reader, "90BD0000070100000000000000")]  # read all, plain, no session
    while frames[-1][-2:] == MORE:
        frames.append(_send(reader, "90AF000000"))
    assert [len(f) - 2 for f in frames] == [59, 59, 32]
    assert frames[-1][-2:] == OK
    assert b"".join(f[:-2] for f in frames) == data


def test_long_command_chained_by_client(reader) -> None:
    wire = RecordingTransceiver(reader)
    card = DESFire(wire)
    card.create_application(0x0A0B0D, key_count=1, key_type="aes")
    card.select_application(0x0A0B0D)
    card.create_std_data_file(1, 600, access=AccessRights.free())
    data = pattern(600, 2)
    wire.clear()
    card.write_data(1, data)
    commands, responses = wire.commands, wire.responses
    assert commands[0][1] == 0x3D and all(c[1] == 0xAF for c in commands[1:])
    assert all(c[4] <= 255 for c in commands)
    assert [r for r in responses[:-1]] == [MORE] * (len(responses) - 1)
    assert responses[-1] == OK
    assert card.read_data(1) == data


def test_get_df_names_one_application_per_frame(reader) -> None:
    card = DESFire(reader)
    card.create_application(0x0D0001, key_count=1, key_type="aes", iso_fid=0xE101,
                            df_name=b"first")
    card.create_application(0x0D0002, key_count=1, key_type="aes", iso_fid=0xE102,
                            df_name=b"second.name")
    first = _send(reader, "906D000000")
    second = _send(reader, "90AF000000")
    assert first[-2:] == MORE and second[-2:] == OK
    entries = sorted([first[:-2], second[:-2]])
    assert entries == sorted([
        bytes.fromhex("01000D") + bytes.fromhex("01E1") + b"first",
        bytes.fromhex("02000D") + bytes.fromhex("02E1") + b"second.name",
    ])
