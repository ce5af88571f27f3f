"""The emulated card's persistent state: memory accounting and the JSON card file."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ekarta.desfire.commands import AppCrypto
from ekarta.desfire.crypto import Key
from ekarta.desfire.session import Comm
from ekarta.desfire.structs import AccessRights, KeySettings
from ekarta.emulator import (
    FORMAT_VERSION,
    Application,
    CardState,
    DataFile,
    RecordFile,
    ValueFile,
    VirtualCard,
    load_state,
    save_state,
)
from ekarta.emulator.state import blocks, default_key_for
from ekarta.errors import EmulatorError, InvalidArgument

UID = bytes.fromhex("04010203040506")
FREE = AccessRights.free()


def populated() -> CardState:
    state = CardState.new(uid=UID, rng=lambda n: bytes(range(n)))
    app = Application(0xABCDEF, KeySettings(change_key=1), AppCrypto.AES,
                      [Key.aes(bytes(16)), Key.aes(bytes(range(16)), 3)], iso_fid=0xE105,
                      df_name=b"APP")
    app.files[0] = DataFile(0, Comm.FULL, AccessRights(1, 1, 1, 0), 5, iso_fid=0xE104,
                            data=bytearray(b"hello"))
    app.files[1] = DataFile(1, Comm.PLAIN, FREE, 40, backup=True)
    app.files[2] = ValueFile(2, Comm.MAC, FREE, -5, 500, 42, limited_credit_enabled=True,
                             limited_credit_value=7)
    app.files[3] = RecordFile(3, Comm.PLAIN, FREE, 2, 4, cyclic=True,
                              records=[b"ab", b"cd"])
    state.applications[app.aid] = app
    des_app = Application(0x000102, KeySettings(), AppCrypto.DES_3DES,
                          [Key.tdes2(bytes(range(16))).with_version(9)])
    state.applications[des_app.aid] = des_app
    return state


def test_a_fresh_card():
    state = CardState.new(uid=UID)
    assert state.free_memory == 7936
    assert state.picc_key == Key.des(bytes(8))
    assert state.picc_settings.to_byte() == 0x0F
    assert state.applications == {}
    random_uid = CardState.new().uid
    assert len(random_uid) == 7 and random_uid[0] == 0x04
    with pytest.raises(InvalidArgument):
        CardState.new(uid=bytes.fromhex("08010203040506"))
    with pytest.raises(InvalidArgument):
        VirtualCard(CardState.new(), uid=UID)


def test_memory_cost_model():
    assert [blocks(n) for n in (1, 32, 33, 64)] == [32, 32, 64, 64]
    assert DataFile(0, Comm.PLAIN, FREE, 33).memory == 64
    assert DataFile(0, Comm.PLAIN, FREE, 33, backup=True).memory == 128
    assert ValueFile(0, Comm.PLAIN, FREE, 0, 1, 0).memory == 32
    assert RecordFile(0, Comm.PLAIN, FREE, 10, 7).memory == 96
    state = populated()
    # applications 2 * 64; files 32 + 2 * 64 + 32 + 32
    assert state.free_memory == 7936 - 128 - 224


def test_default_key_cut_to_the_family():
    material = bytes(range(24))
    assert default_key_for(AppCrypto.AES, material, 4) == Key.aes(bytes(range(16)), 4)
    assert default_key_for(AppCrypto.TDES3, material, 0).type.value == "3k3des"
    assert default_key_for(AppCrypto.DES_3DES, material, 0).type.value == "2k3des"
    assert default_key_for(AppCrypto.DES_3DES, bytes(24), 0) == Key.des(bytes(8))


def test_json_round_trip_keeps_everything():
    state = populated()
    again = CardState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again.to_dict() == state.to_dict()
    assert again.applications[0xABCDEF].keys[1] == Key.aes(bytes(range(16)), 3)
    assert again.applications[0x000102].keys[0].version == 9
    assert again.applications[0xABCDEF].files[3].records == [b"ab", b"cd"]
    assert state.to_dict()["format"] == FORMAT_VERSION


def test_save_is_atomic_and_private(tmp_path):
    path = tmp_path / "card.json"
    save_state(populated(), path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert os.listdir(tmp_path) == ["card.json"]
    data = json.loads(path.read_text())
    assert data["picc"]["key"] == {"type": "des", "key": "0000000000000000", "version": 0}
    assert load_state(path).to_dict() == populated().to_dict()


def test_persistence_round_trip_behaves_the_same(tmp_path):
    path = tmp_path / "card.json"
    card = VirtualCard(populated())
    card.save(path)
    loaded = VirtualCard.load(path)
    script = ["905A000003EFCDAB00", "906F000000", "90F50000010200", "906C0000010200",
              "90BB0000070300000000000000", "906E000000", "90640000010100"]
    for hex_apdu in script:
        command = bytes.fromhex(hex_apdu)
        answer = card.process(command)
        assert answer[-2:] == b"\x91\x00", hex_apdu
        assert loaded.process(command) == answer, hex_apdu
    assert loaded.process(bytes.fromhex("906C0000010200")) == \
        (42).to_bytes(4, "little") + b"\x91\x00"
    assert loaded.uid == UID


def test_a_card_changed_by_commands_survives_a_reload(tmp_path):
    card = VirtualCard.new(uid=UID)
    card.process(bytes.fromhex("90CA000005010000" "0F" "8100"))  # CreateApplication 000001, AES
    card.process(bytes.fromhex("905A00000301000000"))
    card.process(bytes.fromhex("90CD000007" "01" "00" "EEEE" "100000" "00"))
    card.process(bytes.fromhex("903D00000B" "01" "000000" "040000" "74657374" "00"))
    card.save(tmp_path / "c.json")
    loaded = VirtualCard.load(tmp_path / "c.json")
    loaded.process(bytes.fromhex("905A00000301000000"))
    assert loaded.process(bytes.fromhex("90BD000007" "01" "000000" "040000" "00")) == \
        b"test\x91\x00"
    assert loaded.revision == 0 and card.revision == 3


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "invalid JSON"),
    ("[]", "expected a JSON object"),
    ('{"format": 99}', "unknown card file format 99"),
    ('{"format": true}', "unknown card file format True"),
    ("[" * 100000 + "]" * 100000, "invalid JSON"),
    ('{"format": 1}', "uid is missing"),
])
def test_malformed_files_raise_emulator_error(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(EmulatorError, match=message):
        load_state(path)


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d.update(uid="0401"), "uid must be 7..7 bytes"),
    (lambda d: d["picc"].update(key_settings="x"), "picc.key_settings must be an integer"),
    (lambda d: d["picc"]["key"].update(type="rsa"), "picc.key.type must be one of"),
    (lambda d: d["applications"][0].update(aid="000000"), "PICC level"),
    (lambda d: d["applications"][0]["files"][0].update(data="00"), "data must be 5..5 bytes"),
    (lambda d: d["applications"][0]["files"][2].update(value=9999), "value must be an integer"),
    (lambda d: d["applications"][0]["files"][3]["records"].extend(["0000", "0000"]),
     "keeps at most 3"),
    (lambda d: d["applications"][0]["keys"][0].update(type="des", key="00" * 8),
     "a des key in a AES application"),
    (lambda d: d["applications"].append(d["applications"][0]), "appears twice"),
    (lambda d: d.pop("applications"), "applications is missing"),
    # every number the card keeps stays in the range it is saved in
    (lambda d: d["applications"][0]["files"][2].update(limited_credit_value=2**32 - 2),
     "limited_credit_value must be an integer in 0..2147483647"),
    (lambda d: d["memory"].update(total=2**24 - 1), "memory.total must be an integer in 0..32768"),
    (lambda d: d["memory"].update(reserved=9000), "reserved is more than memory.total"),
    (lambda d: d["picc"].update(ats="80"), "picc.ats must be 2..20 bytes"),
    (lambda d: d["picc"].update(ats="0675778102"), "start with its own length"),
    (lambda d: d["applications"][0]["files"][1].update(size=2**24 - 1, data=""),
     "size must be an integer in 1..32768"),
    (lambda d: d["applications"][0]["files"][3].update(record_size=2**24 - 1, records=[]),
     "take more memory than a card has"),
])
def test_inconsistent_files_raise_emulator_error(tmp_path, mutate, message):
    data = populated().to_dict()
    mutate(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(EmulatorError, match=message):
        load_state(path)


def test_unreadable_files_raise_emulator_error(tmp_path):
    with pytest.raises(EmulatorError, match="cannot read"):
        load_state(tmp_path / "missing.json")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(EmulatorError, match="not an ekarta card file"):
        load_state(tmp_path / "binary.json")


def test_commands_bump_the_revision_only_when_state_changes():
    card = VirtualCard.new(uid=UID)
    card.process(bytes.fromhex("906E000000"))
    card.process(bytes.fromhex("906A000000"))
    assert card.revision == 0
    card.process(bytes.fromhex("90CA000005010000" "0F" "8100"))
    assert card.revision == 1
