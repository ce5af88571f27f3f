"""Application-level management commands, client <-> card, in sessions of every method."""

from __future__ import annotations

import pytest

from ekarta.desfire.commands import AppCrypto, Cmd, Comm, FileType
from ekarta.desfire.crypto import Key
from ekarta.desfire.structs import AccessRights, KeySettings
from ekarta.errors import (
    ApplicationNotFound,
    AuthenticationRejected,
    ChecksumRejected,
    DuplicateError,
    FileNotFound,
    InvalidArgument,
    NoSuchKey,
    PermissionDenied,
)
from tests.support.apdu import native

from ._support import (
    APP_KEY_COUNT,
    DATA_ACCESS,
    RECORD_ACCESS,
    VALUE_ACCESS,
    App,
    AuthCase,
    pattern,
    personalise,
)

_CRYPTO = {"des": AppCrypto.DES_3DES, "2k3des": AppCrypto.DES_3DES,
           "3k3des": AppCrypto.TDES3, "aes": AppCrypto.AES}


def variant(key: Key, version: int) -> Key:
    """Another key of the same type (parity bits untouched, so DES keys really differ)."""
    return Key(key.type, bytes(b ^ 0x24 for b in key.data)).with_version(version)


# --- UID and key versions -------------------------------------------------------------------------


@pytest.mark.conformance(auth="ev2nonfirst-AES")
def test_get_card_uid(app: App) -> None:
    card = app.card
    uid = card.get_version().uid
    for key_no in (0, 1, 2):
        app.auth(key_no)
        assert card.get_card_uid() == uid
        assert card.get_key_version(key_no) == app.keys[key_no].version  # still in step
    assert card.get_version().uid == uid


def test_get_key_version(app: App) -> None:
    card = app.card
    expected = {0: 0, 1: 0x11, 2: 0x22}
    for key_no, version in expected.items():  # in the key-0 session left by personalisation
        assert card.get_key_version(key_no) == version
    app.select()  # and without a session
    for key_no, version in expected.items():
        assert card.get_key_version(key_no) == version
    with pytest.raises(NoSuchKey):
        card.get_key_version(APP_KEY_COUNT)


@pytest.mark.conformance(auth="legacy-2K3DES")
def test_get_key_settings(app: App, auth_case: AuthCase) -> None:
    info = app.card.get_key_settings()
    assert info.settings == KeySettings()
    assert info.key_count == APP_KEY_COUNT
    assert info.crypto is _CRYPTO[auth_case.key_type]
    assert info.iso_file_ids is False


# --- ChangeKey ------------------------------------------------------------------------------------


def test_change_own_master_key(app: App, auth_case: AuthCase) -> None:
    """Changing the key of the session ends the session; the new key works, the old one not."""
    card = app.card
    new0 = variant(auth_case.keys[1], 0x33)
    card.change_key(0, new0)
    assert card.session is None
    old0 = app.keys[0]
    app.keys[0] = new0
    app.auth(0)
    assert card.get_key_version(0) == 0x33
    card.create_std_data_file(1, 16, access=DATA_ACCESS)  # the new session works
    with pytest.raises(AuthenticationRejected):
        if auth_case.method == "ev2nonfirst":
            card.authenticate(0, old0, "ev2first")
        else:
            card.authenticate(0, old0, auth_case.method)
    assert card.session is None


@pytest.mark.conformance(auth="aes-AES")
def test_change_other_key(app: App, auth_case: AuthCase) -> None:
    """Key 0 changes key 1 (giving the old key); then a wrong old key is a ChecksumRejected."""
    card = app.card
    new1 = variant(auth_case.keys[1], 0x44)
    card.change_key(1, new1, app.keys[1])
    assert card.session is not None  # another key: the session goes on
    assert card.get_key_version(1) == 0x44
    old1 = app.keys[1]
    app.keys[1] = new1
    app.auth(1)
    with pytest.raises(AuthenticationRejected):
        app.auth(1, old1)

    app.auth(0)
    with pytest.raises(ChecksumRejected):
        card.change_key(2, variant(auth_case.keys[2], 0x55), auth_case.wrong_key)
    app.auth(2)  # key 2 unchanged
    assert card.get_key_version(2) == 0x22


def test_change_key_rules(app: App, auth_case: AuthCase) -> None:
    """Change-key nibble E (each key changes itself), F (frozen), and master key not changeable."""
    card = app.card
    card.change_key_settings(KeySettings(change_key=0xE))
    app.auth(1)
    with pytest.raises(AuthenticationRejected):
        card.change_key(2, variant(auth_case.keys[2], 1), app.keys[2])
    app.auth(1)
    new1 = variant(auth_case.keys[1], 0x66)
    card.change_key(1, new1)
    assert card.session is None
    app.keys[1] = new1
    app.auth(1)
    assert card.get_key_version(1) == 0x66

    app.auth(0)
    card.change_key_settings(KeySettings(change_key=0xF, master_key_changeable=False))
    with pytest.raises(PermissionDenied):
        card.change_key(1, variant(auth_case.keys[1], 2), app.keys[1])
    app.auth(0)
    with pytest.raises(PermissionDenied):
        card.change_key(0, variant(auth_case.keys[1], 3))
    app.auth(0)
    assert [card.get_key_version(n) for n in range(3)] == [0, 0x66, 0x22]


def test_change_key_needs_the_right_key(app: App, auth_case: AuthCase) -> None:
    card = app.card
    app.auth(2)  # change-key nibble 0: only key 0 may change keys
    with pytest.raises(AuthenticationRejected):
        card.change_key(1, variant(auth_case.keys[1], 7), app.keys[1])
    app.auth(1)
    assert card.get_key_version(1) == 0x11


@pytest.mark.conformance(auth="ev2first-AES")
def test_delete_selected_application(app: App) -> None:
    """The application's own master key deletes it; the card is then at the PICC level."""
    card = app.card
    card.create_std_data_file(1, 64, access=DATA_ACCESS)
    app.auth(0)
    card.delete_application(app.aid)
    assert card.session is None
    assert card.get_application_ids() == []
    with pytest.raises(ApplicationNotFound):
        card.select_application(app.aid)


def test_delete_application_needs_key_0(app: App) -> None:
    card = app.card
    app.auth(1)
    with pytest.raises(AuthenticationRejected):
        card.delete_application(app.aid)
    card.select_application(0)
    assert card.get_application_ids() == [app.aid]


# --- key settings ---------------------------------------------------------------------------------


@pytest.mark.conformance(auth="iso-DES")
def test_change_app_key_settings(app: App, auth_case: AuthCase) -> None:
    card = app.card
    card.create_std_data_file(3, 8, access=DATA_ACCESS)
    card.change_key_settings(KeySettings(free_directory=False))
    assert card.get_key_settings().settings == KeySettings(free_directory=False)
    app.select()
    with pytest.raises(AuthenticationRejected):
        card.get_file_ids()
    app.auth(0)
    assert card.get_file_ids() == [3]

    card.change_key_settings(KeySettings(free_create_delete=False).to_byte())
    app.select()
    with pytest.raises(AuthenticationRejected):
        card.create_std_data_file(4, 8, access=DATA_ACCESS)
    app.auth(0)
    card.create_std_data_file(4, 8, access=DATA_ACCESS)

    card.change_key_settings(KeySettings(config_changeable=False))
    with pytest.raises(PermissionDenied):
        card.change_key_settings(KeySettings())
    app.auth(0)
    info = card.get_key_settings()
    assert info.settings == KeySettings(config_changeable=False)
    assert info.crypto is _CRYPTO[auth_case.key_type]


def test_change_key_settings_needs_master_key(app: App) -> None:
    card = app.card
    app.auth(1)
    with pytest.raises(AuthenticationRejected):
        card.change_key_settings(KeySettings(free_directory=False))
    app.select()
    assert card.get_key_settings().settings == KeySettings()


# --- files ----------------------------------------------------------------------------------------


def _create_all(app: App, *, with_iso: bool = False) -> None:
    card = app.card
    fid = (lambda n: 0xEF00 + n) if with_iso else (lambda n: None)
    card.create_std_data_file(1, 40, comm="plain", access=DATA_ACCESS, iso_fid=fid(1))
    card.create_backup_data_file(2, 64, comm="mac", access=DATA_ACCESS, iso_fid=fid(2))
    card.create_value_file(3, lower_limit=-5, upper_limit=500, value=7, limited_credit=True,
                           free_get_value=True, comm="full", access=VALUE_ACCESS)
    card.create_linear_record_file(4, 12, 6, comm="mac", access=RECORD_ACCESS, iso_fid=fid(4))
    card.create_cyclic_record_file(5, 9, 3, comm="full", access=RECORD_ACCESS, iso_fid=fid(5))


@pytest.mark.conformance(auth="iso-2K3DES")
def test_get_file_settings_per_type(app: App) -> None:
    card = app.card
    _create_all(app)
    assert sorted(card.get_file_ids()) == [1, 2, 3, 4, 5]

    std = card.get_file_settings(1)
    assert (std.file_type, std.comm, std.access, std.size) == (
        FileType.STD_DATA, Comm.PLAIN, DATA_ACCESS, 40)
    backup = card.get_file_settings(2)
    assert (backup.file_type, backup.comm, backup.access, backup.size) == (
        FileType.BACKUP_DATA, Comm.MAC, DATA_ACCESS, 64)
    value = card.get_file_settings(3)
    assert (value.file_type, value.comm, value.access) == (FileType.VALUE, Comm.FULL, VALUE_ACCESS)
    assert (value.lower_limit, value.upper_limit) == (-5, 500)
    assert value.limited_credit_enabled is True
    assert value.free_get_value is True
    linear = card.get_file_settings(4)
    assert (linear.file_type, linear.comm, linear.access) == (
        FileType.LINEAR_RECORD, Comm.MAC, RECORD_ACCESS)
    assert (linear.record_size, linear.max_records, linear.current_records) == (12, 6, 0)
    cyclic = card.get_file_settings(5)
    assert (cyclic.file_type, cyclic.comm) == (FileType.CYCLIC_RECORD, Comm.FULL)
    assert (cyclic.record_size, cyclic.max_records, cyclic.current_records) == (9, 3, 0)

    app.select()  # also readable without a session
    assert card.get_file_settings(4) == linear
    with pytest.raises(FileNotFound):
        card.get_file_settings(6)


@pytest.mark.conformance(auth="ev2first-AES")
def test_get_iso_file_ids(card, auth_case: AuthCase) -> None:
    app = personalise(card, auth_case, iso_fid=0xDF10, df_name=b"ekarta.iso")
    _create_all(app, with_iso=True)
    card.create_std_data_file(6, 8, access=DATA_ACCESS)  # no ISO FID
    assert sorted(card.get_iso_file_ids()) == [0xEF01, 0xEF02, 0xEF04, 0xEF05]
    with pytest.raises(DuplicateError):
        card.create_std_data_file(7, 8, access=DATA_ACCESS, iso_fid=0xEF02)
    app.select()
    assert sorted(card.get_iso_file_ids()) == [0xEF01, 0xEF02, 0xEF04, 0xEF05]
    assert sorted(card.get_file_ids()) == [1, 2, 3, 4, 5, 6]


@pytest.mark.conformance(auth="legacy-DES")
def test_get_file_ids_and_delete_file(app: App) -> None:
    card = app.card
    for file_no in (0, 7, 31):
        card.create_std_data_file(file_no, 8, access=DATA_ACCESS)
    card.create_value_file(12, upper_limit=10, access=VALUE_ACCESS)
    assert sorted(card.get_file_ids()) == [0, 7, 12, 31]

    card.delete_file(7)
    assert sorted(card.get_file_ids()) == [0, 12, 31]
    with pytest.raises(FileNotFound):
        card.get_file_settings(7)
    app.auth(1)
    with pytest.raises(FileNotFound):
        card.read_data(7, 0, 8, comm="full")
    app.auth(0)
    with pytest.raises(FileNotFound):
        card.delete_file(7)
    app.auth(0)
    card.create_std_data_file(7, 16, comm="full", access=DATA_ACCESS)  # the number is free again
    app.auth(1)
    data = pattern(16, 3)
    card.write_data(7, data)
    assert card.read_data(7) == data


def test_duplicate_file(app: App) -> None:
    card = app.card
    card.create_std_data_file(1, 8, access=DATA_ACCESS)
    with pytest.raises(DuplicateError):
        card.create_std_data_file(1, 8, access=DATA_ACCESS)
    assert card.session is None
    app.auth(0)
    with pytest.raises(DuplicateError):
        card.create_value_file(1, upper_limit=10, access=VALUE_ACCESS)
    app.auth(0)
    assert card.get_file_settings(1).file_type is FileType.STD_DATA


#: PARAMETER_ERROR: what the card answers a Create*File whose parameters are out of range
PARAMETER_ERROR = b"\x91\x9E"


def test_thirty_two_files(app: App) -> None:
    """File numbers run 0..31: the card holds 32 files and refuses a file 32.  The client refuses
    it too, so the card's answer is checked with the command sent past the client."""
    card = app.card
    for file_no in range(32):
        card.create_std_data_file(file_no, 4, access=DATA_ACCESS)
    assert sorted(card.get_file_ids()) == list(range(32))
    with pytest.raises(InvalidArgument):
        card.create_std_data_file(32, 4, access=DATA_ACCESS)
    app.select()  # no session: the raw command needs no MAC (free create/delete)
    file_32 = bytes([32, 0]) + DATA_ACCESS.build() + (4).to_bytes(3, "little")
    assert card.transceiver.transceive(native(Cmd.CREATE_STD_DATA_FILE, file_32)) == \
        PARAMETER_ERROR
    assert sorted(card.get_file_ids()) == list(range(32))


@pytest.mark.parametrize(("lower", "upper", "value"), [(10, 5, 7), (0, 5, 6), (0, 5, -1)],
                         ids=["lower-above-upper", "value-above-upper", "value-below-lower"])
def test_value_file_parameters_checked(app: App, lower: int, upper: int, value: int) -> None:
    """The limits must hold the value: the client refuses other limits, and so does the card
    (the command sent past the client)."""
    card = app.card
    with pytest.raises(InvalidArgument):
        card.create_value_file(1, lower_limit=lower, upper_limit=upper, value=value,
                               access=VALUE_ACCESS)
    app.select()
    params = bytes([1, 0]) + VALUE_ACCESS.build() + b"".join(
        n.to_bytes(4, "little", signed=True) for n in (lower, upper, value)) + b"\x00"
    assert card.transceiver.transceive(native(Cmd.CREATE_VALUE_FILE, params)) == \
        PARAMETER_ERROR
    assert card.get_file_ids() == []


# --- ChangeFileSettings ---------------------------------------------------------------------------

_NEW_ACCESS = AccessRights(read=2, write=1, read_write=0xF, change=0)


@pytest.mark.conformance(auth="aes-AES", comm="full")
def test_change_file_settings(app: App, comm: str) -> None:
    """After ChangeFileSettings the new comm mode and rights apply (key 2 reads, key 1 writes)."""
    card = app.card
    old_comm = "full" if comm != "full" else "plain"
    card.create_std_data_file(1, 24, comm=old_comm, access=DATA_ACCESS)
    app.auth(1)
    data = pattern(24, 11)
    card.write_data(1, data)
    assert card.read_data(1) == data

    app.auth(0)
    card.change_file_settings(1, comm, _NEW_ACCESS)
    settings = card.get_file_settings(1)
    assert settings.comm is Comm(comm)
    assert settings.access == _NEW_ACCESS

    app.auth(2)
    assert card.read_data(1) == data
    assert card.read_data(1, 0, 24, comm=comm) == data
    app.auth(1)
    update = pattern(24, 12)
    card.write_data(1, update)
    with pytest.raises(AuthenticationRejected):
        card.read_data(1)  # key 1 lost its Read/ReadWrite rights
    app.auth(2)
    assert card.read_data(1) == update


def test_change_file_settings_rights(app: App) -> None:
    card = app.card
    card.create_std_data_file(1, 8, comm="full",
                              access=AccessRights(read=1, write=1, read_write=1, change=0xE))
    card.create_std_data_file(2, 8, comm="full",
                              access=AccessRights(read=1, write=1, read_write=1, change=0xF))
    card.create_std_data_file(3, 8, comm="full", access=DATA_ACCESS)

    app.select()  # Change right free: no session needed (and the command goes plain)
    card.change_file_settings(1, "mac", AccessRights(read=2, write=2, read_write=2, change=0xE))
    assert card.get_file_settings(1).comm is Comm.MAC
    app.auth(1)  # a session with another key: still allowed, still plain
    card.change_file_settings(1, "plain", AccessRights(read=2, write=2, read_write=2, change=0xE))
    assert card.get_file_settings(1).comm is Comm.PLAIN
    assert card.session is not None

    app.auth(0)
    with pytest.raises(PermissionDenied):
        card.change_file_settings(2, "plain", AccessRights.free())
    app.auth(1)
    with pytest.raises(AuthenticationRejected):
        card.change_file_settings(3, "plain", AccessRights.free())
    app.auth(0)
    assert card.get_file_settings(2).access.change == 0xF
    assert card.get_file_settings(3).access == DATA_ACCESS
