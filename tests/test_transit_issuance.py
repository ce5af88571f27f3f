"""Issuing a transit card on the emulated card, and reading it back: what the card ends up
with, what a stranger can see, and how a half-issued or foreign card is told apart."""

from __future__ import annotations

from datetime import date

import pytest

from ekarta.desfire import DESFire, Key
from ekarta.desfire.commands import AppCrypto
from ekarta.emulator import VirtualCard
from ekarta.emulator.reader import EmulatorReader
from ekarta.errors import AuthenticationRejected
from ekarta.transit import CardKind, CardRecord, CardStatus, Profile
from ekarta.transit.cardio.issuance import AlreadyIssued, IssueError, issue_card
from ekarta.transit.cardio.reading import (
    CardNotIssued,
    ForeignCard,
    NotATransitCard,
    read_card,
)
from ekarta.transit.codec.layout import (
    AID,
    APP_KEY_SETTINGS,
    FILES,
    KEY_COUNT,
    PICC_KEY_SETTINGS,
    KeyRole,
    settings_match,
)
from ekarta.transit.security.keystore import FileKeyStore, KeyProvider, create_keystore

UID = bytes.fromhex("04A1B2C3D4E5F6")
OTHER_UID = bytes.fromhex("04112233445566")

RECORD = CardRecord(1234567894, CardKind.PERSONAL, CardStatus.ACTIVE, date(2030, 12, 31),
                    Profile.STUDENT, profile_end=date(2027, 8, 31),
                    birth_date=date(2008, 4, 1), first_name="Jana", surname="Nováková")


@pytest.fixture(scope="module")
def other_keystore(tmp_path_factory):
    path = tmp_path_factory.mktemp("other") / "keys.json"
    return create_keystore(path)


class Recorder:
    """A reader that keeps every frame (to look at what crosses the air)."""

    def __init__(self, reader):
        self.reader = reader
        self.frames: list[bytes] = []

    def transceive(self, apdu: bytes) -> bytes:
        self.frames.append(bytes(apdu))
        response = self.reader.transceive(apdu)
        self.frames.append(bytes(response))
        return response


def tap(reader) -> DESFire:
    """A new tap: the card powers up afresh (no selection, no session) under a new client."""
    reader.card.reset()
    return DESFire(reader)


@pytest.fixture
def reader():
    with EmulatorReader(uid=UID) as reader:
        yield reader


def test_a_fresh_card_becomes_a_transit_card(reader, keystore):
    result = issue_card(tap(reader), keystore, RECORD)
    assert not result.already_issued
    assert result.uid == UID
    assert result.steps[0] == "PICC master key" and result.steps[-1] == "card record"
    image = read_card(tap(reader), keystore)
    assert image.record == RECORD
    assert image.slots == (None,) * 5
    assert image.events == ()
    assert image.purse == 0


def test_the_issued_card_has_the_layout(reader, keystore):
    issue_card(tap(reader), keystore, RECORD)
    state = reader.card.state
    assert state.picc_key == keystore.picc_key(UID)
    assert state.picc_settings == PICC_KEY_SETTINGS
    app = state.applications[AID]
    assert app.settings == APP_KEY_SETTINGS
    assert app.crypto is AppCrypto.AES
    assert app.keys == [keystore.card_key(role, UID) for role in KeyRole]
    assert len(app.keys) == KEY_COUNT
    card = tap(reader)
    card.select_application(AID)
    for spec in FILES:
        assert settings_match(spec, card.get_file_settings(spec.file_no)), spec.name


def test_the_factory_keys_no_longer_open_the_card(reader, keystore):
    issue_card(tap(reader), keystore, RECORD)
    card = tap(reader)
    with pytest.raises(AuthenticationRejected):
        card.authenticate(0, Key.default("des"), "iso")
    card.select_application(AID)
    for key_no in range(KEY_COUNT):
        with pytest.raises(AuthenticationRejected):
            card.authenticate(key_no, Key.default("aes"), "aes")


def test_one_cards_keys_do_not_open_another(keystore):
    with EmulatorReader(uid=OTHER_UID) as other:
        issue_card(tap(other), keystore, RECORD)
        card = tap(other)
        card.select_application(AID)
        with pytest.raises(AuthenticationRejected):
            card.authenticate(int(KeyRole.READ), keystore.card_key(KeyRole.READ, UID), "aes")


def test_holder_data_never_crosses_the_air_in_clear(reader, keystore):
    spy = Recorder(reader)
    issue_card(DESFire(spy), keystore, RECORD)
    reader.card.reset()
    read_card(DESFire(spy), keystore)
    assert len(spy.frames) > 100
    for secret in ("Nováková".encode(), b"Jana"):
        assert not any(secret in frame for frame in spy.frames)


def test_issuing_again_changes_nothing(reader, keystore):
    issue_card(tap(reader), keystore, RECORD)
    revision = reader.card.revision
    result = issue_card(tap(reader), keystore, RECORD)
    assert result.already_issued and result.steps == ()
    assert reader.card.revision == revision


def test_a_card_issued_as_another_card_is_not_rewritten(reader, keystore):
    issue_card(tap(reader), keystore, RECORD)
    other = CardRecord(1000000005, CardKind.ANONYMOUS, CardStatus.ACTIVE, date(2030, 1, 1),
                       Profile.ADULT_TRANSFERABLE)
    with pytest.raises(AlreadyIssued, match="1234567894") as info:
        issue_card(tap(reader), keystore, other)
    assert info.value.card_number == RECORD.card_number
    assert read_card(tap(reader), keystore).record == RECORD


def test_an_anonymous_card(reader, keystore):
    record = CardRecord(1000000005, CardKind.ANONYMOUS, CardStatus.PRODUCED, date(2031, 1, 31),
                        Profile.ADULT_TRANSFERABLE)
    issue_card(tap(reader), keystore, record)
    assert read_card(tap(reader), keystore).record == record


def test_a_card_issued_under_other_keys_is_refused(reader, keystore, other_keystore):
    issue_card(tap(reader), other_keystore, RECORD)
    with pytest.raises(IssueError, match="not this keystore's"):
        issue_card(tap(reader), keystore, RECORD)
    with pytest.raises(ForeignCard):
        read_card(tap(reader), keystore)


def test_a_card_whose_picc_key_is_someone_elses_is_refused(reader, keystore):
    card = tap(reader)
    card.authenticate(0, Key.default("des"), "iso")
    card.change_key(0, Key.des(bytes.fromhex("0102030405060708")))
    with pytest.raises(IssueError, match="not the factory default"):
        issue_card(tap(reader), keystore, RECORD)


def test_a_card_with_random_uids_is_refused(keystore):
    card = VirtualCard.new(uid=UID)
    card.state.configuration |= 0x02  # random UID on
    with EmulatorReader(card=card) as reader, pytest.raises(IssueError, match="random UID"):
        issue_card(tap(reader), keystore, RECORD)


def test_another_schemes_application_under_our_aid_is_not_taken_over(reader, keystore):
    card = tap(reader)
    card.create_application(AID, key_count=2, key_type="aes")
    with pytest.raises(IssueError, match="other keys"):
        issue_card(tap(reader), keystore, RECORD)


def test_a_file_with_other_settings_stops_the_issue(reader, keystore):
    card = tap(reader)
    card.create_application(AID, key_count=KEY_COUNT, key_type="aes")
    card.select_application(AID)
    card.authenticate(0, Key.default("aes"), "aes")
    card.create_std_data_file(1, 128)
    with pytest.raises(IssueError, match="file 1"):
        issue_card(tap(reader), keystore, RECORD)


# --- reading cards that are not (fully) transit cards ---------------------------------------------


def test_a_factory_fresh_card_is_not_a_transit_card(reader, keystore):
    with pytest.raises(NotATransitCard, match="not a transit card"):
        read_card(tap(reader), keystore)


def test_an_application_with_factory_keys_is_not_issued(reader, keystore):
    tap(reader).create_application(AID, APP_KEY_SETTINGS, KEY_COUNT, "aes")
    with pytest.raises(CardNotIssued, match="factory defaults"):
        read_card(tap(reader), keystore)


def test_a_blank_card_record_is_not_issued(reader, keystore):
    issue_card(tap(reader), keystore, RECORD)
    reader.card.state.applications[AID].files[1].data[:] = bytes(128)
    with pytest.raises(CardNotIssued, match="never written"):
        read_card(tap(reader), keystore)


# --- the key provider is an interface -------------------------------------------------------------


class CountingProvider(KeyProvider):
    """A stand-in for a SAM: diversifies on request, counts what it was asked."""

    def __init__(self, inner: FileKeyStore) -> None:
        self.inner = inner
        self.asked: list[str] = []

    @property
    def system_id(self) -> bytes:
        return self.inner.system_id

    def card_key(self, role, uid):
        self.asked.append(f"card {KeyRole(role).label}")
        return self.inner.card_key(role, uid)

    def picc_key(self, uid):
        self.asked.append("picc")
        return self.inner.picc_key(uid)

    def signer(self):
        return self.inner.signer()

    def verifier(self):
        return self.inner.verifier()


def test_any_key_provider_plugs_in(reader, keystore):
    provider = CountingProvider(keystore)
    issue_card(tap(reader), provider, RECORD)
    assert read_card(tap(reader), provider).record == RECORD
    assert "picc" in provider.asked and "card read" in provider.asked
