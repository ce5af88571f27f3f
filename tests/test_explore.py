"""The card explorer behind ``card info``: what it reports, as frozen dataclasses, on a real
emulated card (the rendering of the report is tested with the command line)."""

from __future__ import annotations

import dataclasses

import pytest

from ekarta.desfire.client import DESFire
from ekarta.desfire.commands import PICC_AID, AppCrypto, FileType
from ekarta.desfire.crypto import Key
from ekarta.desfire.explore import (
    ApplicationReport,
    FileReport,
    PiccReport,
    Refusal,
    RefusalKind,
    explore,
)
from ekarta.desfire.keyring import KeyRing, KeySpec
from ekarta.desfire.structs import AccessRights, FileSettings, KeySettings, KeySettingsInfo
from ekarta.emulator.reader import EmulatorReader

UID = bytes.fromhex("04A1B2C3D4E5F6")
OPEN = 0xA1B2C3
LOCKED = 0x00BEEF
AES = Key.default("aes")
DATA = FileSettings(FileType.STD_DATA, "plain", AccessRights(1, 2, 0xE, 0), size=32)
RECORDS = FileSettings(FileType.CYCLIC_RECORD, "mac", AccessRights.free(), record_size=16,
                       max_records=10, current_records=0)


@pytest.fixture
def reader():
    with EmulatorReader(uid=UID) as reader:
        reader.wait_for_card(timeout=1.0)
        yield reader


@pytest.fixture
def card(reader) -> DESFire:
    """A card with an open application (two files, ISO FIDs) and one whose listing needs key 0."""
    card = DESFire(reader)
    card.create_application(OPEN, KeySettings(), 3, "aes", iso_fid=0xE110, df_name=b"ekarta")
    card.select_application(OPEN)
    card.create_std_data_file(1, 32, comm="plain", access=DATA.access, iso_fid=0xE111)
    card.create_cyclic_record_file(3, 16, 10, comm="mac", access=RECORDS.access)
    card.select_application(PICC_AID)
    card.create_application(LOCKED, KeySettings(free_directory=False), 1, "aes")
    card.select_application(LOCKED)
    card.authenticate(0, AES, "aes")
    card.create_backup_data_file(7, 64, comm="full", access=AccessRights(0, 0, 0, 0))
    card.select_application(PICC_AID)
    return card


def _keys(*specs: tuple[int, int, Key], ev2: bool = False) -> KeyRing:
    return KeyRing([KeySpec(aid, key_no, key) for aid, key_no, key in specs], ev2=ev2)


def test_a_fresh_card_without_keys(reader):
    report = explore(DESFire(reader))
    assert report.version.uid == UID and report.version.product == "MIFARE DESFire EV2"
    assert report.version.hardware.version == "18.0"
    assert report.version.software.storage_size == 0x1A
    assert report.real_uid is None and report.free_memory == 7936
    assert report.picc == PiccReport(
        key_settings=KeySettingsInfo(KeySettings(), 1, AppCrypto.DES_3DES), key_versions=(0,))
    assert report.applications == () and report.applications_locked is None
    assert report.notes == ()


def test_open_and_locked_applications_without_keys(card):
    report = explore(card)
    locked, open_ = report.applications
    assert open_ == ApplicationReport(
        aid=OPEN, iso_fid=0xE110, df_name=b"ekarta",
        key_settings=KeySettingsInfo(KeySettings(), 3, AppCrypto.AES, iso_file_ids=True),
        key_versions=(0, 0, 0), iso_file_ids=(0xE111,),
        files=(FileReport(1, DATA), FileReport(3, RECORDS)))
    assert locked.aid == LOCKED and locked.key_settings is None and locked.files is None
    assert locked.files_locked == Refusal(RefusalKind.LOCKED, "listing", "key 0",
                                          locked.files_locked.detail)
    assert "0xAE" in locked.files_locked.detail
    assert str(locked.files_locked) == "locked: listing needs key 0"
    assert str(locked.key_settings_locked) == "locked: reading needs key 0"


def test_the_key_of_a_level_unlocks_it(card):
    report = explore(card, _keys((LOCKED, 0, AES)))
    locked = report.applications[0]
    assert locked.auth_error is None and locked.files_locked is None
    assert locked.files == (FileReport(7, FileSettings(FileType.BACKUP_DATA, "full",
                                                       AccessRights(0, 0, 0, 0), size=64)),)
    assert locked.key_versions == (0,)


def test_a_wrong_key_or_a_weaker_one_is_noted_and_the_walk_goes_on(card):
    wrong = Key.aes(bytes(range(16)))
    report = explore(card, _keys((LOCKED, 0, wrong), (OPEN, 1, AES)))
    locked, open_ = report.applications
    assert locked.auth_error.startswith("authentication with key 0 failed: card status 0xAE")
    assert locked.files_locked.key_no == 0 and not locked.files_locked.authenticated
    assert str(locked.files_locked) == "locked: listing needs key 0 (authentication failed)"
    assert open_.auth_error is None and len(open_.files) == 2

    # key 1 does not list an application whose listing needs key 0: the note says so
    card.select_application(PICC_AID)
    card.create_application(0x0A0A0A, KeySettings(free_directory=False), 2, "aes")
    report = explore(card, _keys((0x0A0A0A, 1, AES)))
    weak = report.applications[1]
    assert weak.aid == 0x0A0A0A and weak.auth_error is None
    assert str(weak.key_settings_locked) == "locked: reading needs key 0 (authenticated with key 1)"
    assert str(weak.files_locked) == "locked: listing needs key 0 (authenticated with key 1)"


def test_a_picc_key_shows_the_real_uid_and_unlocks_a_locked_picc(card):
    card.authenticate(0, Key.default("des"), "iso")
    card.change_key_settings(KeySettings(free_directory=False, free_create_delete=False))
    card.select_application(PICC_AID)

    report = explore(card)
    assert report.applications is None
    assert str(report.applications_locked) == "locked: listing needs the PICC master key"
    assert report.applications_locked.needs == "the PICC master key"
    assert report.free_memory is not None

    report = explore(card, _keys((PICC_AID, 0, Key.default("des")), (0xABCDEF, 0, AES)))
    assert report.real_uid == UID
    assert [app.aid for app in report.applications] == [LOCKED, OPEN]
    assert report.notes == ("a key was given for application ABCDEF, which the card lacks",)


def test_exploring_changes_nothing_on_the_card(card, reader):
    revision = reader.card.revision
    state = reader.card.state.to_dict()
    explore(card, _keys((PICC_AID, 0, Key.default("des")), (LOCKED, 0, AES), (OPEN, 1, AES)))
    assert reader.card.revision == revision
    assert reader.card.state.to_dict() == state


def test_the_report_is_frozen(card):
    report = explore(card)
    for part in (report, report.picc, report.applications[0], report.applications[1].files[0],
                 report.applications[0].files_locked):
        field = dataclasses.fields(part)[0].name
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(part, field, None)


@pytest.mark.parametrize(("refusal", "note"), [
    (Refusal(RefusalKind.LOCKED, "listing", "key 0", "card status 0xAE"),
     "locked: listing needs key 0"),
    (Refusal(RefusalKind.LOCKED, "reading", "key 0", "card status 0xAE", 2, True),
     "locked: reading needs key 0 (authenticated with key 2)"),
    (Refusal(RefusalKind.LOCKED, "reading", "the PICC master key", "x", 0, False),
     "locked: reading needs the PICC master key (authentication failed)"),
    (Refusal(RefusalKind.DENIED, "listing", "key 0", "card status 0x9D: permission denied"),
     "denied: card status 0x9D: permission denied"),
    (Refusal(RefusalKind.ERROR, "listing", "key 0", "card status 0x1E"),
     "error: card status 0x1E"),
])
def test_refusal_notes(refusal, note):
    assert str(refusal) == note
