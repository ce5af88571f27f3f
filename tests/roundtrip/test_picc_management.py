"""PICC-level commands, client <-> card: version, UID, memory, applications, configuration, keys."""

from __future__ import annotations

import pytest

from ekarta.desfire.client import DESFire
from ekarta.desfire.commands import AppCrypto
from ekarta.desfire.crypto import Key
from ekarta.desfire.structs import AccessRights, DFNameEntry, KeySettings, VersionInfo
from ekarta.errors import (
    ApplicationNotFound,
    AuthenticationRejected,
    CountError,
    DuplicateError,
    LengthMismatch,
    PermissionDenied,
)

from ._support import FACTORY_FREE_MEMORY, PICC_FACTORY_KEY, PiccCase, pattern

# --- version, UID, memory -------------------------------------------------------------------------


@pytest.mark.conformance
def test_get_version(card: DESFire) -> None:
    version = card.get_version()
    assert isinstance(version, VersionInfo)
    assert len(version.uid) == 7
    assert version.uid[0] == 0x04  # NXP manufacturer byte
    assert version.hw_vendor_id == 0x04
    assert version.storage_bytes == 8192
    assert card.get_version() == version


@pytest.mark.conformance(picc="aes-AES")
def test_picc_session(card: DESFire, picc: PiccCase) -> None:
    """Every PICC-level read command inside a session of each master-key type and method."""
    uid = card.get_version().uid
    picc.auth(card)
    assert card.get_version().uid == uid
    assert card.get_card_uid() == uid
    assert card.free_memory() == FACTORY_FREE_MEMORY
    info = card.get_key_settings()
    assert info.settings == KeySettings()
    assert info.key_count == 1
    assert card.get_key_version(0) == picc.key.version
    assert card.get_application_ids() == []
    assert card.get_df_names() == []
    # the session is still in step after all of that
    assert card.get_card_uid() == uid
    assert card.session is not None


def test_get_card_uid_needs_authentication(card: DESFire) -> None:
    with pytest.raises(AuthenticationRejected):
        card.get_card_uid()


@pytest.mark.conformance
def test_free_memory_follows_creates_and_deletes(card: DESFire) -> None:
    assert card.free_memory() == FACTORY_FREE_MEMORY
    card.create_application(0x000101, key_count=2, key_type="aes")
    after_app = card.free_memory()
    assert after_app < FACTORY_FREE_MEMORY  # an application costs memory too
    card.select_application(0x000101)
    card.create_std_data_file(1, 33, access=AccessRights.free())  # two 32-byte blocks
    assert card.free_memory() == after_app - 64
    card.create_backup_data_file(2, 32, access=AccessRights.free())  # twice its size
    assert card.free_memory() == after_app - 128
    card.create_linear_record_file(3, 16, 5, access=AccessRights.free())  # 80 -> 96
    assert card.free_memory() == after_app - 224
    card.create_value_file(4, upper_limit=10, access=AccessRights.free())
    after_value = card.free_memory()
    assert after_value < after_app - 224
    assert (after_app - after_value) % 32 == 0

    for file_no in (1, 2, 3, 4):
        card.delete_file(file_no)
    assert card.free_memory() == after_app
    card.select_application(0)
    card.authenticate(0, PICC_FACTORY_KEY, "legacy")
    card.delete_application(0x000101)
    assert card.free_memory() == FACTORY_FREE_MEMORY


# --- format ---------------------------------------------------------------------------------------


def _make_apps(card: DESFire) -> None:
    card.select_application(0)
    card.create_application(0x000201, key_count=1, key_type="des")
    card.create_application(0x000202, key_count=2, key_type="aes")
    card.select_application(0x000202)
    card.create_std_data_file(1, 500, access=AccessRights.free())
    card.select_application(0)


@pytest.mark.conformance(picc="iso-3K3DES")
def test_format_picc(card: DESFire, picc: PiccCase) -> None:
    _make_apps(card)
    assert card.free_memory() < FACTORY_FREE_MEMORY
    picc.auth(card)
    card.format_picc()
    card.select_application(0)
    assert card.get_application_ids() == []
    assert card.free_memory() == FACTORY_FREE_MEMORY
    with pytest.raises(ApplicationNotFound):
        card.select_application(0x000202)
    picc.auth(card)  # the PICC master key survives formatting
    assert card.get_key_version(0) == picc.key.version


def test_format_picc_needs_master_key(card: DESFire) -> None:
    _make_apps(card)
    with pytest.raises(AuthenticationRejected):
        card.format_picc()
    card.create_application(0x000203, key_count=1, key_type="des")
    card.select_application(0x000203)
    card.authenticate(0, Key.default("des"), "legacy")
    with pytest.raises(PermissionDenied):
        card.format_picc()  # an application key is not the PICC master key
    card.select_application(0)
    assert sorted(card.get_application_ids()) == [0x000201, 0x000202, 0x000203]


# --- applications ---------------------------------------------------------------------------------


def test_application_lifecycle_with_iso_names(card: DESFire, picc: PiccCase) -> None:
    """Create with ISO FID and DF name, list, get_df_names, duplicates, delete, select unknown."""
    picc.auth(card)
    card.create_application(0x00A001, KeySettings(), 2, "des", iso_fid=0xDF01,
                            df_name=b"ekarta.one")
    card.create_application(0x00A002, KeySettings(), 3, "aes", iso_fid=0xDF02,
                            df_name=b"ekarta.transit")
    card.create_application(0x00A003, KeySettings(), 1, "3k3des")
    assert sorted(card.get_application_ids()) == [0x00A001, 0x00A002, 0x00A003]
    names = sorted(card.get_df_names(), key=lambda e: e.aid)
    assert names == [
        DFNameEntry(aid=0x00A001, iso_fid=0xDF01, df_name=b"ekarta.one"),
        DFNameEntry(aid=0x00A002, iso_fid=0xDF02, df_name=b"ekarta.transit"),
    ]

    for kwargs in (
        {"aid": 0x00A001},  # same AID
        {"aid": 0x00A004, "iso_fid": 0xDF01, "df_name": b"other"},  # same ISO FID
        {"aid": 0x00A004, "iso_fid": 0xDF04, "df_name": b"ekarta.one"},  # same DF name
    ):
        aid = kwargs.pop("aid")
        with pytest.raises(DuplicateError):
            card.create_application(aid, KeySettings(), 1, "des", **kwargs)
        assert card.session is None
        picc.auth(card)
    assert sorted(card.get_application_ids()) == [0x00A001, 0x00A002, 0x00A003]

    card.select_application(0x00A002)
    info = card.get_key_settings()
    assert info.iso_file_ids is True
    assert (info.key_count, info.crypto) == (3, AppCrypto.AES)

    picc.auth(card)
    card.delete_application(0x00A001)
    assert sorted(card.get_application_ids()) == [0x00A002, 0x00A003]
    assert [e.aid for e in card.get_df_names()] == [0x00A002]
    with pytest.raises(ApplicationNotFound):
        card.select_application(0x00A001)
    with pytest.raises(ApplicationNotFound):
        card.select_application(0xABCDEF)


def test_select_unknown_application(card: DESFire) -> None:
    with pytest.raises(ApplicationNotFound):
        card.select_application(0x123456)
    card.select_application(0)  # the PICC level is always there
    assert card.get_application_ids() == []


def test_delete_application_needs_a_master_key(card: DESFire) -> None:
    card.create_application(0x00B001, key_count=1, key_type="aes")
    with pytest.raises(AuthenticationRejected):
        card.delete_application(0x00B001)
    # the application's own master key may delete it
    card.select_application(0x00B001)
    card.authenticate(0, Key.default("aes"), "aes")
    card.delete_application(0x00B001)
    card.select_application(0)
    assert card.get_application_ids() == []


@pytest.mark.conformance(picc="legacy-DES")
def test_application_count_limit(card: DESFire, picc: PiccCase) -> None:
    """28 applications (84 bytes: the AID list spans two frames); the 29th is a CountError."""
    picc.auth(card)
    aids = [0x100000 + i for i in range(28)]
    for aid in aids:
        card.create_application(aid, KeySettings(), 1, "des")
    assert sorted(card.get_application_ids()) == aids
    with pytest.raises(CountError):
        card.create_application(0x200000, KeySettings(), 1, "des")
    assert 0 <= card.free_memory() < FACTORY_FREE_MEMORY
    card.select_application(0)
    assert sorted(card.get_application_ids()) == aids  # also without a session


def test_df_names_one_frame_each(card: DESFire) -> None:
    entries = [DFNameEntry(aid=0x00C000 + i, iso_fid=0xE000 + i, df_name=pattern(16, i))
               for i in range(6)]
    for e in entries:
        card.create_application(e.aid, KeySettings(), 1, "aes", iso_fid=e.iso_fid,
                                df_name=e.df_name)
    assert sorted(card.get_df_names(), key=lambda e: e.aid) == entries


# --- key settings ---------------------------------------------------------------------------------


def test_picc_key_settings(card: DESFire, picc: PiccCase) -> None:
    picc.auth(card)
    card.change_key_settings(KeySettings(free_directory=False))
    assert card.get_key_settings().settings == KeySettings(free_directory=False)
    card.create_application(0x00D001, KeySettings(), 1, "des")
    card.select_application(0)  # drops the session
    with pytest.raises(AuthenticationRejected):
        card.get_application_ids()
    picc.auth(card)
    assert card.get_application_ids() == [0x00D001]

    card.change_key_settings(KeySettings(free_directory=False, free_create_delete=False).to_byte())
    card.select_application(0)
    with pytest.raises(AuthenticationRejected):
        card.create_application(0x00D002, KeySettings(), 1, "des")
    picc.auth(card)
    card.create_application(0x00D002, KeySettings(), 1, "des")
    assert sorted(card.get_application_ids()) == [0x00D001, 0x00D002]

    card.change_key_settings(KeySettings(config_changeable=False))
    with pytest.raises(PermissionDenied):
        card.change_key_settings(KeySettings())
    picc.auth(card)
    assert card.get_key_settings().settings == KeySettings(config_changeable=False)


def test_picc_key_settings_need_master_key(card: DESFire) -> None:
    with pytest.raises(AuthenticationRejected):
        card.change_key_settings(KeySettings(free_directory=False))
    assert card.get_key_settings().settings == KeySettings()


# --- PICC master key ------------------------------------------------------------------------------

_CHAIN_KEYS = [
    Key.from_hex("2k3des", "1122334455667788AABBCCDDEEFF0011", version=2),
    Key.from_hex("3k3des", "0F1E2D3C4B5A69788796A5B4C3D2E1F000112233445566FF", version=3),
    Key.from_hex("aes", "A0A1A2A3A4A5A6A7A8A9AAABACADAEAF", version=4),
    Key.from_hex("des", "7766554433221100", version=5),
]


@pytest.mark.parametrize(
    ("methods", "refusals"),
    [
        (("legacy", "legacy", "iso", "aes", "legacy"),
         (AuthenticationRejected,) * 4),
        # ISO authentication to the 3K3DES key with the 2K3DES one: the card's challenge is
        # 16 bytes where the old key's is 8, which the client sees before the card refuses
        (("iso", "iso", "iso", "ev2first", "iso"),
         (AuthenticationRejected, LengthMismatch, AuthenticationRejected, AuthenticationRejected)),
    ],
    ids=["legacy-legacy-iso-aes-legacy", "iso-iso-iso-ev2first-iso"],
)
def test_picc_master_key_type_changes(card: DESFire, methods: tuple[str, ...],
                                      refusals: tuple[type[Exception], ...]) -> None:
    """DES -> 2K3DES -> 3K3DES -> AES -> DES, each change made in a session of the previous key;
    the old key is refused after each: by the card (0xAE: the method does not fit the new key
    type, or the proof does not match), or by the client when the challenge has the wrong size."""
    current = PICC_FACTORY_KEY
    steps = zip(methods, _CHAIN_KEYS, methods[1:], refusals, strict=False)
    for method, new_key, next_method, refusal in steps:
        card.select_application(0)
        card.authenticate(0, current, method)
        card.change_key(0, new_key)
        assert card.session is None, "changing the session's own key must end the session"
        with pytest.raises(refusal) as refused:
            card.authenticate(0, current, method)
        assert type(refused.value) is refusal
        card.authenticate(0, new_key, next_method)
        assert card.get_key_version(0) == new_key.version
        card.create_application(0x00E000 + new_key.version, KeySettings(), 1, "des")
        current = new_key
    card.authenticate(0, current, methods[-1])
    assert card.get_key_version(0) == 5
    card.format_picc()
    card.select_application(0)
    assert card.get_application_ids() == []


def test_picc_master_key_not_changeable(card: DESFire) -> None:
    card.authenticate(0, PICC_FACTORY_KEY, "iso")
    card.change_key_settings(KeySettings(master_key_changeable=False))
    with pytest.raises(PermissionDenied):
        card.change_key(0, Key.from_hex("aes", "00" * 15 + "01"))
    card.authenticate(0, PICC_FACTORY_KEY, "iso")  # still the old key
    assert card.get_key_version(0) == 0


# --- SetConfiguration -----------------------------------------------------------------------------


@pytest.mark.conformance(picc="ev2first-AES")
def test_set_default_key(card: DESFire, picc: PiccCase) -> None:
    """A new application's keys start as the configured default key."""
    default = Key.from_hex("aes", "5E5E5E5E5E5E5E5E0102030405060708", version=9)
    picc.auth(card)
    card.set_default_key(default)
    card.create_application(0x00F001, KeySettings(), 2, "aes")
    card.select_application(0x00F001)
    with pytest.raises(AuthenticationRejected):
        card.authenticate(1, Key.default("aes"), "aes")
    card.authenticate(1, default, "aes")
    card.authenticate(0, default, "aes")
    assert card.get_key_version(0) == 9


@pytest.mark.parametrize(
    ("default", "method"),
    [
        (Key.from_hex("des", "0102030405060708"), "legacy"),
        (Key.from_hex("2k3des", "0102030405060708A1A2A3A4A5A6A7A8"), "iso"),
        (Key.from_hex("3k3des", "0102030405060708A1A2A3A4A5A6A7A8B1B2B3B4B5B6B7B8"), "iso"),
    ],
    ids=["des", "2k3des", "3k3des"],
)
def test_set_default_key_des_family(card: DESFire, default: Key, method: str) -> None:
    card.authenticate(0, PICC_FACTORY_KEY, "legacy")
    card.set_default_key(default)
    card.create_application(0x00F002, KeySettings(), 1, default.type.value)
    card.select_application(0x00F002)
    with pytest.raises(AuthenticationRejected):
        card.authenticate(0, Key.default(default.type), method)
    card.authenticate(0, default, method)


def test_disable_format(card: DESFire, picc: PiccCase) -> None:
    _make_apps(card)
    picc.auth(card)
    card.configure_picc(disable_format=True)
    with pytest.raises(PermissionDenied):
        card.format_picc()
    card.select_application(0)
    assert sorted(card.get_application_ids()) == [0x000201, 0x000202]


def test_disable_format_raw_set_configuration(card: DESFire) -> None:
    _make_apps(card)
    card.authenticate(0, PICC_FACTORY_KEY, "iso")
    card.set_configuration(0x00, b"\x01")
    with pytest.raises(PermissionDenied):
        card.format_picc()
    card.select_application(0)
    assert sorted(card.get_application_ids()) == [0x000201, 0x000202]


def test_set_configuration_needs_master_key(card: DESFire) -> None:
    with pytest.raises(AuthenticationRejected):
        card.configure_picc(disable_format=True)
    card.authenticate(0, PICC_FACTORY_KEY, "legacy")
    card.format_picc()  # still allowed


def test_random_uid_keeps_real_uid_readable(card: DESFire) -> None:
    uid = card.get_version().uid
    card.authenticate(0, PICC_FACTORY_KEY, "legacy")
    card.configure_picc(random_uid=True)
    card.authenticate(0, PICC_FACTORY_KEY, "legacy")
    assert card.get_card_uid() == uid
