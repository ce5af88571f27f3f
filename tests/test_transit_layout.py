"""The card layout: the rules of issue 4 as properties of ekarta.transit.codec.layout, and the
layout as the emulated card enforces it."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from ekarta.desfire import DESFire
from ekarta.desfire.commands import FREE, NEVER
from ekarta.desfire.session import Comm
from ekarta.emulator.reader import EmulatorReader
from ekarta.errors import AuthenticationRejected
from ekarta.transit import (
    CARD_RECORD_SIZE,
    EVENT_LOG_RECORDS,
    EVENT_RECORD_SIZE,
    SLOT_COUNT,
    SLOT_SIZE,
    CardKind,
    CardRecord,
    CardStatus,
    EventKind,
    EventRecord,
    InvalidField,
    Profile,
    Reason,
    encode_event,
)
from ekarta.transit.cardio.issuance import issue_card
from ekarta.transit.cardio.reading import read_card
from ekarta.transit.codec.layout import (
    AID,
    APP_KEY_SETTINGS,
    CARD_RECORD_FILE,
    DEFAULT_SYSTEM_ID,
    DIVERSIFICATION_INPUT_MAX,
    FILES,
    KEY_COUNT,
    LOG_FILE,
    PICC_KEY_SETTINGS,
    PURSE_FILE,
    SLOTS_FILE,
    SYSTEM_ID_MAX,
    FileKind,
    KeyRole,
    allows,
    diversification_input,
)
from ekarta.transit.model.rules import MAX_VALID_COUPONS

DOC = Path(__file__).resolve().parent.parent / "docs" / "card-layout.md"
UID = bytes.fromhex("04A1B2C3D4E5F6")


def test_every_file_a_terminal_writes_commits_at_commit_transaction():
    for spec in FILES:
        assert spec.kind in (FileKind.BACKUP, FileKind.CYCLIC, FileKind.VALUE), spec.name


def test_every_file_needs_a_key_and_travels_encrypted():
    for spec in FILES:
        assert spec.comm is Comm.FULL, spec.name
        for right in ("read", "write", "read_write", "change"):
            assert getattr(spec.access, right) != FREE, (spec.name, right)


def test_sizes_follow_the_record_codec():
    assert CARD_RECORD_FILE.size == CARD_RECORD_SIZE == 128
    assert SLOTS_FILE.size == SLOT_COUNT * SLOT_SIZE == 5 * 96
    assert LOG_FILE.record_size == EVENT_RECORD_SIZE == 24
    # a cyclic record file of N records keeps N - 1
    assert LOG_FILE.max_records == EVENT_LOG_RECORDS + 1 == 9


def test_slots_hold_four_valid_coupons_and_one_being_replaced():
    assert SLOT_COUNT >= MAX_VALID_COUPONS + 1


def test_keys_are_separate_and_fit_the_application():
    assert sorted(int(r) for r in KeyRole) == list(range(KEY_COUNT))
    assert APP_KEY_SETTINGS.change_key == KeyRole.MASTER
    assert not APP_KEY_SETTINGS.free_create_delete


def test_picc_settings_keep_listing_free_but_not_creation():
    assert PICC_KEY_SETTINGS.free_directory
    assert not PICC_KEY_SETTINGS.free_create_delete
    assert PICC_KEY_SETTINGS.master_key_changeable


# What each role may do, as the DESFire access rules grant it.
EXPECTED = {
    KeyRole.READ: {
        (CARD_RECORD_FILE, "read"), (SLOTS_FILE, "read"), (LOG_FILE, "read"),
    },
    KeyRole.LOAD: {
        (CARD_RECORD_FILE, "read"), (CARD_RECORD_FILE, "write"), (SLOTS_FILE, "read"),
        (SLOTS_FILE, "write"), (LOG_FILE, "read"), (LOG_FILE, "write"),
        (PURSE_FILE, "get_value"), (PURSE_FILE, "credit"), (PURSE_FILE, "debit"),
        (PURSE_FILE, "limited_credit"), (LOG_FILE, "clear"),
    },
    KeyRole.VALIDATION: {
        (CARD_RECORD_FILE, "write"), (LOG_FILE, "write"), (PURSE_FILE, "get_value"),
        (PURSE_FILE, "debit"), (PURSE_FILE, "limited_credit"),
    },
    KeyRole.MASTER: set(),
}


def _operations(spec) -> tuple[str, ...]:
    if spec.kind is FileKind.VALUE:
        return ("get_value", "credit", "debit", "limited_credit")
    if spec.kind is FileKind.CYCLIC:
        return ("read", "write", "clear")
    return ("read", "write")


@pytest.mark.parametrize("role", list(KeyRole), ids=lambda r: r.label)
def test_each_role_may_do_exactly_its_part(role):
    granted = {(spec.name, op) for spec in FILES for op in _operations(spec)
               if allows(role, spec, op)}
    assert granted == {(spec.name, op) for spec, op in EXPECTED[role]}


def test_the_read_key_can_neither_write_nor_move_money():
    for spec in FILES:
        for op in ("write", "credit", "clear", "change", *_operations(spec)):
            if op not in ("read",):
                assert not allows(KeyRole.READ, spec, op), (spec.name, op)


def test_only_the_load_key_writes_coupons():
    assert [r for r in KeyRole if allows(r, SLOTS_FILE, "write")] == [KeyRole.LOAD]
    assert SLOTS_FILE.access.write == NEVER


def test_diversification_input_is_uid_aid_system_id():
    data = diversification_input(UID, 0x4B4501, b"SYS")
    assert data == UID + bytes([0x01, 0x45, 0x4B]) + b"SYS"


def test_the_longest_diversification_input_fits_an_aes_key():
    assert len(diversification_input(bytes(10), AID, b"x" * SYSTEM_ID_MAX)) \
        == DIVERSIFICATION_INPUT_MAX
    with pytest.raises(InvalidField):
        diversification_input(UID, AID, b"x" * (SYSTEM_ID_MAX + 1))
    with pytest.raises(InvalidField):
        diversification_input(UID, AID, b"")
    with pytest.raises(InvalidField):
        diversification_input(b"\x04\x01", AID, DEFAULT_SYSTEM_ID)


# --- the document describes this layout ----------------------------------------------------------


def _rights_text(spec) -> str:
    def name(nibble: int) -> str:
        return "never" if nibble == NEVER else f"key{nibble}"

    a = spec.access
    return (f"read={name(a.read)} write={name(a.write)} rw={name(a.read_write)} "
            f"change={name(a.change)}")


def test_the_document_describes_this_layout():
    doc = DOC.read_text(encoding="utf-8")
    assert f"`{AID:06X}`" in doc
    assert DEFAULT_SYSTEM_ID.decode() in doc
    assert f"`0x{PICC_KEY_SETTINGS.to_byte():02X}`" in doc
    assert f"`0x{APP_KEY_SETTINGS.to_byte():02X}`" in doc
    for spec in FILES:
        line = next((ln for ln in doc.splitlines() if ln.startswith(f"0{spec.file_no}  ")), None)
        assert line is not None, spec.name
        assert re.search(rf"\bfull\s+{re.escape(_rights_text(spec))}", line), line
    for role in KeyRole:
        assert re.search(rf"^\| {int(role)} \| ", doc, re.M), role


# --- the emulated card enforces it ---------------------------------------------------------------


@pytest.fixture
def issued(keystore):
    reader = EmulatorReader(uid=UID)
    record = CardRecord(1234567894, CardKind.PERSONAL, CardStatus.ACTIVE, date(2030, 12, 31),
                        Profile.ADULT_NON_TRANSFERABLE, first_name="Jana", surname="Nováková")
    issue_card(DESFire(reader), keystore, record)
    with reader:
        yield reader


def _session(reader, keystore, role):
    card = DESFire(reader)
    card.select_application(AID)
    card.authenticate(int(role), keystore.card_key(role, UID), "aes")
    return card


def test_the_card_refuses_what_the_layout_forbids(issued, keystore):
    card = _session(issued, keystore, KeyRole.READ)
    with pytest.raises(AuthenticationRejected):
        card.write_data(SLOTS_FILE.file_no, bytes(SLOT_SIZE), comm="full")
    card = _session(issued, keystore, KeyRole.READ)
    with pytest.raises(AuthenticationRejected):
        card.get_value(PURSE_FILE.file_no, comm="full")
    card = _session(issued, keystore, KeyRole.VALIDATION)
    with pytest.raises(AuthenticationRejected):
        card.read_data(SLOTS_FILE.file_no, 0, SLOT_SIZE, comm="full")


def test_nothing_is_readable_without_a_key(issued):
    card = DESFire(issued)
    card.select_application(AID)
    for spec in (CARD_RECORD_FILE, SLOTS_FILE):
        with pytest.raises(AuthenticationRejected):
            card.read_data(spec.file_no, 0, 16)
    with pytest.raises(AuthenticationRejected):
        card.read_records(LOG_FILE.file_no, record_size=EVENT_RECORD_SIZE)


def test_a_validator_tap_reads_with_key_3_and_writes_after_key_2(issued, keystore):
    # Money for the debit first: the ticket office credits with the load key.
    card = _session(issued, keystore, KeyRole.LOAD)
    card.credit(PURSE_FILE.file_no, 5000, comm="full")
    card.commit_transaction()

    card = _session(issued, keystore, KeyRole.READ)
    image = read_card(card, keystore, role=KeyRole.READ, uid=UID, purse=False)
    card.authenticate(int(KeyRole.VALIDATION), keystore.card_key(KeyRole.VALIDATION, UID), "aes")
    event = EventRecord(image.next_sequence, datetime(2026, 12, 1, 7, 30, tzinfo=UTC),
                        EventKind.VALIDATION, Reason.VALID, device=12, line=7, zone=1)
    card.write_record(LOG_FILE.file_no, encode_event(event), comm="full")
    card.debit(PURSE_FILE.file_no, 2000, comm="full")
    card.commit_transaction()

    after = read_card(DESFire(issued), keystore, uid=UID)
    assert after.purse == 3000
    assert after.events == (event,)
