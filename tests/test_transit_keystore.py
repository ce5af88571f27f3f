"""The keystore: creation (mode 0600, never overwritten), loading hostile files, diversified card
keys, the coupon keys, and the ``ekarta keys`` commands."""

from __future__ import annotations

import json
import logging
import os
import stat
from datetime import date

import pytest

from ekarta.cli import main
from ekarta.desfire import Key, diversify
from ekarta.transit import (
    Coupon,
    CouponSigner,
    CouponType,
    Profile,
    SaleChannel,
    Zones,
)
from ekarta.transit.codec.layout import AID, KeyRole, diversification_input
from ekarta.transit.security.keystore import (
    FileKeyStore,
    KeyProvider,
    KeyStoreError,
    create_keystore,
    key_fingerprint,
)

UID = bytes.fromhex("04A1B2C3D4E5F6")
OTHER_UID = bytes.fromhex("04112233445566")
COUPON = Coupon(1001, CouponType.DAYS_30, Profile.ADULT_NON_TRANSFERABLE, Zones((1, 2)),
                date(2026, 12, 1), date(2026, 12, 30), date(2026, 11, 20),
                SaleChannel.TICKET_OFFICE)


@pytest.fixture
def path(tmp_path):
    return tmp_path / "keys.json"


def _secrets(path) -> list[str]:
    document = json.loads(path.read_text())
    keys = [document["picc_master"]["aes"]]
    keys += [k["aes"] for k in document["application"].values()]
    return keys


def test_a_new_keystore_is_private_and_loads_back(path):
    created = create_keystore(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    loaded = FileKeyStore.load(path)
    assert isinstance(loaded, KeyProvider)
    for role in KeyRole:
        assert loaded.card_key(role, UID) == created.card_key(role, UID)
    assert loaded.picc_key(UID) == created.picc_key(UID)
    assert loaded.verifier().key_ids == created.verifier().key_ids


def test_an_existing_keystore_is_never_overwritten(path):
    create_keystore(path)
    before = path.read_bytes()
    with pytest.raises(KeyStoreError, match="never overwritten"):
        create_keystore(path)
    assert path.read_bytes() == before
    create_keystore(path, force=True)
    assert path.read_bytes() != before
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["keys.json"]  # no temporary left


def test_card_keys_are_an10922_diversified_per_card_and_role(path):
    keystore = create_keystore(path, system_id=b"ODIS-TEST")
    document = json.loads(path.read_text())
    master = Key.aes(bytes.fromhex(document["application"]["read"]["aes"]), 1)
    expected = diversify(master, diversification_input(UID, AID, b"ODIS-TEST"))
    assert keystore.card_key(KeyRole.READ, UID) == expected
    assert expected.version == 1  # tells an issued key from the factory default
    keys = {keystore.card_key(role, uid) for role in KeyRole for uid in (UID, OTHER_UID)}
    keys |= {keystore.picc_key(UID), keystore.picc_key(OTHER_UID)}
    assert len(keys) == 10


def test_the_system_id_changes_every_key(tmp_path):
    a = create_keystore(tmp_path / "a.json", system_id=b"A")
    document = json.loads((tmp_path / "a.json").read_text())
    document["system_id"] = "B"
    b = FileKeyStore.from_document(document)
    assert a.card_key(KeyRole.LOAD, UID) != b.card_key(KeyRole.LOAD, UID)


def test_a_keystore_readable_by_others_draws_a_warning(path, caplog):
    create_keystore(path)
    os.chmod(path, 0o644)
    with caplog.at_level(logging.WARNING, logger="ekarta.transit.security.keystore"):
        FileKeyStore.load(path)
    assert "chmod 600" in caplog.text


def test_key_material_never_shows(path, caplog):
    with caplog.at_level(logging.DEBUG, logger="ekarta"):
        keystore = create_keystore(path)
        FileKeyStore.load(path)
    shown = repr(keystore) + json.dumps(keystore.key_ids()) + caplog.text
    shown += repr(keystore.card_key(KeyRole.MASTER, UID))
    for secret in _secrets(path):
        assert secret not in shown.lower()
    assert "PRIVATE KEY" not in shown


@pytest.mark.parametrize("content", [
    b"\xff\xfe not json",
    b"{\"format\": \"something-else\"}",
    b"[1, 2, 3]",
    b"{\"format\": \"ekarta-keystore/1\"}",
])
def test_a_file_that_is_not_a_keystore_is_refused(path, content):
    path.write_bytes(content)
    with pytest.raises(KeyStoreError):
        FileKeyStore.load(path)


@pytest.mark.parametrize(("where", "value", "match"), [
    ("picc", {"aes": "00" * 15, "version": 1}, "16 bytes"),
    ("picc", {"aes": "zz" * 16, "version": 1}, "hex"),
    ("picc", {"aes": "00" * 16, "version": 0}, "version"),
    ("load", {"aes": "00" * 16, "version": 256}, "version"),
    ("system_id", "X" * 19, "system identifier"),
    ("system_id", "Jiří", "ASCII"),
    ("signing_key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "key"),
])
def test_bad_fields_are_refused_without_echoing_secrets(path, where, value, match):
    create_keystore(path)
    document = json.loads(path.read_text())
    if where == "picc":
        document["picc_master"] = value
    elif where == "load":
        document["application"]["load"] = value
    else:
        document[where] = value
    path.write_text(json.dumps(document))
    with pytest.raises(KeyStoreError, match=match) as info:
        FileKeyStore.load(path)
    for secret in _secrets(path):
        assert secret not in str(info.value)


def test_a_role_the_keystore_lacks_is_refused_when_asked_for(path):
    create_keystore(path)
    document = json.loads(path.read_text())
    del document["application"]["validation"], document["picc_master"]
    path.write_text(json.dumps(document))
    keystore = FileKeyStore.load(path)
    assert keystore.roles == {KeyRole.MASTER, KeyRole.LOAD, KeyRole.READ}
    with pytest.raises(KeyStoreError, match=f"keystore {path} holds no validation key"):
        keystore.card_key(KeyRole.VALIDATION, UID)
    with pytest.raises(KeyStoreError, match="holds no PICC master key"):
        keystore.picc_key(UID)
    document["application"]["cashier"] = document["application"]["read"]
    with pytest.raises(KeyStoreError, match="unknown key role 'cashier'"):
        FileKeyStore.from_document(document)
    document["application"] = {}
    with pytest.raises(KeyStoreError, match="holds no master key"):
        FileKeyStore.from_document(document)


def test_an_export_gives_a_terminal_only_its_keys(path):
    full = create_keystore(path)
    validator = full.export(frozenset({KeyRole.VALIDATION, KeyRole.READ}))
    again = FileKeyStore.from_document(validator.to_document())
    assert again.roles == {KeyRole.VALIDATION, KeyRole.READ}
    assert again.card_key(KeyRole.READ, UID) == full.card_key(KeyRole.READ, UID)
    assert "signing_key" not in validator.to_document()
    assert "picc_master" not in validator.to_document()
    with pytest.raises(KeyStoreError, match="coupon-signing key"):
        again.signer()
    signed = full.signer().sign(COUPON, uid=UID, card_number=1234567894)
    assert again.verifier().verify(signed, uid=UID, card_number=1234567894)
    with pytest.raises(KeyStoreError, match="holds no load key"):
        again.card_key(KeyRole.LOAD, UID)
    with pytest.raises(KeyStoreError, match="cannot give"):
        validator.export(frozenset({KeyRole.LOAD}))


def test_the_signer_signs_what_the_verifier_accepts(path):
    keystore = create_keystore(path)
    signed = keystore.signer().sign(COUPON, uid=UID, card_number=1234567894)
    assert keystore.verifier().verify(signed, uid=UID, card_number=1234567894)
    assert not keystore.verifier().verify(signed, uid=OTHER_UID, card_number=1234567894)


def test_older_public_keys_stay_accepted_during_a_rotation(path):
    create_keystore(path)
    old = CouponSigner.generate()
    document = json.loads(path.read_text())
    document["verify_keys"] = [old.verifier.to_pem()[0].decode()]
    keystore = FileKeyStore.from_document(document)
    by_old = old.sign(COUPON, uid=UID, card_number=1234567894)
    by_new = keystore.signer().sign(COUPON, uid=UID, card_number=1234567894)
    assert keystore.verifier().verify(by_old, uid=UID, card_number=1234567894)
    assert keystore.verifier().verify(by_new, uid=UID, card_number=1234567894)
    assert len(keystore.key_ids()["verify_keys"]) == 2
    again = FileKeyStore.from_document(keystore.to_document())
    assert again.verifier().key_ids == keystore.verifier().key_ids


def test_a_terminal_keystore_verifies_but_cannot_sign(path):
    create_keystore(path)
    document = json.loads(path.read_text())
    signer = CouponSigner.from_pem(document.pop("signing_key").encode())
    document["verify_keys"] = [signer.verifier.to_pem()[0].decode()]
    keystore = FileKeyStore.from_document(document)
    with pytest.raises(KeyStoreError, match="no coupon-signing key"):
        keystore.signer()
    signed = signer.sign(COUPON, uid=UID, card_number=1234567894)
    assert keystore.verifier().verify(signed, uid=UID, card_number=1234567894)


def test_fingerprints_tell_keys_apart_without_revealing_them():
    a, b = Key.aes(bytes(16), 1), Key.aes(bytes(15) + b"\x01", 1)
    assert key_fingerprint(a) != key_fingerprint(b)
    assert len(key_fingerprint(a)) == 16


# --- ekarta keys --------------------------------------------------------------------------------


def test_keys_new_warns_about_sam_and_hsm(path, capsys):
    assert main(["keys", "new", str(path), "--system-id", "ODIS-TEST"]) == 0
    out, err = capsys.readouterr()
    assert "created keystore" in out
    assert "SAM" in err and "HSM" in err
    assert FileKeyStore.load(path).system_id == b"ODIS-TEST"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_keys_new_json_names_the_file_and_key_ids_and_no_key_material(path, capsys):
    assert main(["keys", "new", str(path), "--system-id", "ODIS-TEST", "--json"]) == 0
    out, err = capsys.readouterr()
    document = json.loads(out)
    ids = FileKeyStore.load(path).key_ids()
    assert document == {"keystore": str(path), "system_id": "ODIS-TEST",
                        "signing_key": ids["signing_key"]}
    assert "SAM" in err  # the warning stays on stderr, the JSON alone on stdout


def test_keys_new_refuses_to_overwrite(path, capsys):
    assert main(["keys", "new", str(path)]) == 0
    before = path.read_bytes()
    assert main(["keys", "new", str(path)]) == 1
    assert "--force" in capsys.readouterr().err
    assert path.read_bytes() == before
    assert main(["keys", "new", str(path), "--force"]) == 0
    assert path.read_bytes() != before


def test_keys_new_checks_the_system_id(path, capsys):
    assert main(["keys", "new", str(path), "--system-id", "X" * 19]) == 2
    assert not path.exists()


@pytest.mark.parametrize("as_json", [False, True])
def test_keys_show_prints_ids_and_the_public_key_only(path, capsys, as_json):
    create_keystore(path)
    capsys.readouterr()
    assert main(["keys", "show", str(path), *(["--json"] if as_json else [])]) == 0
    out = capsys.readouterr().out
    assert "BEGIN PUBLIC KEY" in out
    assert "PRIVATE" not in out
    for secret in _secrets(path):
        assert secret not in out.lower()
    ids = FileKeyStore.load(path).key_ids()
    assert ids["application"]["load"]["id"] in out


def test_keys_export_writes_a_terminal_keystore(path, tmp_path, capsys):
    full = create_keystore(path)
    out = tmp_path / "validator.json"
    assert main(["keys", "export", str(path), "--role", "validator", "-o", str(out)]) == 0
    assert "(read, validation)" in capsys.readouterr().out
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    part = FileKeyStore.load(out)
    assert part.roles == {KeyRole.VALIDATION, KeyRole.READ}
    assert part.card_key(KeyRole.VALIDATION, UID) == full.card_key(KeyRole.VALIDATION, UID)
    document = json.loads(out.read_text())
    assert "signing_key" not in document and "picc_master" not in document
    assert main(["keys", "show", str(out)]) == 0
    assert "PICC master key     none" in capsys.readouterr().out
    assert main(["keys", "export", str(path), "--role", "kiosk", "-o", str(out)]) == 1
    assert "exists; use --force" in capsys.readouterr().err
    assert main(["keys", "export", str(path), "--role", "kiosk", "-o", str(path), "-f"]) == 1
    assert "is also read by this command" in capsys.readouterr().err
    office = tmp_path / "office.json"
    assert main(["keys", "export", str(path), "--role", "office", "-o", str(office)]) == 0
    assert FileKeyStore.load(office).signer().key_id == full.signer().key_id
