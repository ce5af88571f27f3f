"""Turning a factory-fresh DESFire card into a transit card: :func:`issue_card`.

Issuing is a sequence of commands, and the card may be pulled away between any two.  Every step
is therefore one the next run can recognise as done, and the card counts as issued only when
its card record decodes — the last step, written to a backup file and committed atomically.  A
torn issue leaves a card that reads as "not issued"
(:class:`~ekarta.transit.cardio.reading.CardNotIssued` or
:class:`~ekarta.transit.cardio.reading.NotATransitCard`), and running the issue again finds what
is done and completes the rest:

1. PICC master key: the factory DES key becomes the card's diversified AES key (done when
   GetKeySettings, free, reports an AES PICC key).  Then the PICC key settings are tightened
   (:data:`~ekarta.transit.codec.layout.PICC_KEY_SETTINGS`) and the real UID is checked with
   GetCardUID (a card with random UIDs would break the diversification).
2. The transit application, if absent (GetApplicationIDs).
3. Its files, each one missing (GetFileIDs); one present with other settings stops the issue.
4. Keys 1, 2, 3, then key 0, each still at version 0 (GetKeyVersion, free: issued keys carry
   the keystore's version 1..255).  Key 0 goes last because changing the key the session runs
   on ends the session; a resumed run authenticates with whichever key 0 the version shows.
5. The card record, with the load key, in one transaction.

Running it on a card that is issued already changes nothing: with the same card record it
reports ``already_issued``, with another it raises :class:`AlreadyIssued`.

Before the card is touched the record is checked against the day of issuing
(:func:`~ekarta.transit.model.lifecycle.check_card_record`): a record that makes no sense (a
blank name, a birth date in the future, a student without a birth date, an expiry already
past...) raises :class:`IssueRefused` naming every rule it breaks.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from ekarta.desfire.client import DESFire
from ekarta.desfire.commands import AppCrypto
from ekarta.desfire.crypto import Key, KeyType
from ekarta.errors import AuthenticationRejected, NoSuchKey
from ekarta.transit.cardio.refusals import CardOperationRefused
from ekarta.transit.codec.layout import (
    AID,
    APP_KEY_SETTINGS,
    CARD_RECORD_FILE,
    FILES,
    KEY_COUNT,
    PICC_AID,
    PICC_KEY_SETTINGS,
    FileKind,
    FileSpec,
    KeyRole,
    settings_match,
)
from ekarta.transit.codec.records import decode_card_record, encode_card_record
from ekarta.transit.errors import CouponError, RecordError
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.lifecycle import check_card_record
from ekarta.transit.model.values import CardRecord, Reason
from ekarta.transit.security.keystore import KeyProvider

__all__ = ["AlreadyIssued", "IssueError", "IssueRefused", "IssueResult", "issue_card"]

log = logging.getLogger(__name__)


class IssueError(CouponError):
    """The card cannot be issued (someone else's card, another layout, random UIDs...)."""


class AlreadyIssued(IssueError):
    """The card is issued already, with another card record."""

    def __init__(self, card_number: CardNumber, *, same_number: bool = False) -> None:
        self.card_number = card_number
        detail = " with other card data (issuing never rewrites a card record)" \
            if same_number else ""
        super().__init__(f"the card is already issued as card {card_number}{detail}")


class IssueRefused(IssueError, CardOperationRefused):
    """The card record makes no sense on the day of issuing; ``refusals`` names every rule."""


@dataclass(frozen=True)
class IssueResult:
    """What :func:`issue_card` did: ``steps`` names each step this run performed (a resumed
    issue lists only the rest); ``already_issued`` when the card held this card record."""

    uid: bytes
    card_number: CardNumber
    steps: tuple[str, ...]
    already_issued: bool = False


# What check_card_record refuses whatever the day (the undated checks of issue_card).
_UNDATED = frozenset({Reason.STATUS_NOT_ISSUABLE, Reason.NAME_BLANK,
                      Reason.BIRTH_DATE_REQUIRED, Reason.PROFILE_END_WITHOUT_DISCOUNT})

_FACTORY_AES = Key.default(KeyType.AES)
_FACTORY_DES = Key.default(KeyType.DES)


def issue_card(desfire: DESFire, keys: KeyProvider, record: CardRecord, *,
               uid: bytes | None = None, today: date | None = None) -> IssueResult:
    """Issue (or finish issuing) the card in the field as the transit card ``record``.

    ``today`` is the day of issuing (a Prague date), against which the record is checked; a
    caller without a clock (None) gets only the checks that need no date: the status, the names,
    a children's or students' profile without a birth date.
    """
    if not isinstance(record, CardRecord):
        raise IssueError(f"expected a CardRecord, not {type(record).__name__}")
    encoded = encode_card_record(record)  # fails before the card is touched
    refusals = check_card_record(record, date.max if today is None else today)
    if today is None:
        refusals = tuple(r for r in refusals if r.reason in _UNDATED)
    if refusals:
        log.info("issue refused: %s", ", ".join(r.reason.name for r in refusals))
        raise IssueRefused("issuing", refusals)
    steps: list[str] = []
    uid = _picc(desfire, keys, uid, steps)
    _application(desfire, keys, uid, steps)
    result = _card_record(desfire, keys, uid, record, encoded, steps)
    # The card number stays out of the log (it identifies the holder); the steps say enough.
    log.info("card %s", "already issued" if result.already_issued
             else "issued (" + ", ".join(steps) + ")")
    return result


def _picc(desfire: DESFire, keys: KeyProvider, uid: bytes | None, steps: list[str]) -> bytes:
    # Selecting first also ends any session the card still has from an earlier client.
    desfire.select_application(PICC_AID)
    if uid is None:
        uid = desfire.get_version().uid
    info = desfire.get_key_settings()
    picc_key = keys.picc_key(uid)
    if info.crypto is not AppCrypto.AES:
        try:
            desfire.authenticate(0, _FACTORY_DES, "iso")
        except AuthenticationRejected:
            raise IssueError("the PICC master key is not the factory default: the card is "
                             "someone else's or issued by another system") from None
        desfire.change_key(0, picc_key)  # ends the session: it was authenticated with key 0
        steps.append("PICC master key")
    try:
        desfire.authenticate(0, picc_key, "aes")
    except AuthenticationRejected:
        raise IssueError("the card's PICC master key is not this keystore's: the card was "
                         "issued under other keys") from None
    if desfire.get_card_uid() != uid:
        raise IssueError("the card shows a random UID; card keys are diversified from the real "
                         "UID, so cards with random UIDs are not supported")
    if info.settings != PICC_KEY_SETTINGS:
        desfire.change_key_settings(PICC_KEY_SETTINGS)
        steps.append("PICC key settings")
    if AID not in desfire.get_application_ids():
        desfire.create_application(AID, APP_KEY_SETTINGS, KEY_COUNT, "aes")
        steps.append("application")
    return uid


def _application(desfire: DESFire, keys: KeyProvider, uid: bytes, steps: list[str]) -> None:
    desfire.select_application(AID)
    info = desfire.get_key_settings()
    if info.crypto is not AppCrypto.AES or info.key_count != KEY_COUNT:
        raise IssueError(f"application {AID:06X} exists with other keys "
                         f"({info.key_count} keys): it is not this scheme's")
    card_keys = {role: keys.card_key(role, uid) for role in KeyRole}
    versions = {role: desfire.get_key_version(int(role)) for role in KeyRole}
    for role, version in versions.items():
        if version not in (0, card_keys[role].version):
            raise IssueError(f"key {int(role)} of application {AID:06X} has version {version}, "
                             "neither the factory default nor this keystore's")
    master_done = versions[KeyRole.MASTER] != 0
    try:
        desfire.authenticate(0, card_keys[KeyRole.MASTER] if master_done else _FACTORY_AES,
                             "aes")
    except (AuthenticationRejected, NoSuchKey):
        raise IssueError(f"application {AID:06X} does not accept this keystore's master key: "
                         "the card was issued under other keys") from None
    present = set(desfire.get_file_ids())
    for spec in FILES:
        if spec.file_no in present:
            if not settings_match(spec, desfire.get_file_settings(spec.file_no)):
                raise IssueError(f"file {spec.file_no} of application {AID:06X} exists with "
                                 f"other settings than the {spec.name} file")
        else:
            _create_file(desfire, spec)
            steps.append(f"file {spec.file_no} ({spec.name})")
    # Key 0 last: changing the key the session runs on ends the session.
    for role in (KeyRole.LOAD, KeyRole.VALIDATION, KeyRole.READ, KeyRole.MASTER):
        if versions[role] == 0:
            desfire.change_key(int(role), card_keys[role],
                               None if role is KeyRole.MASTER else _FACTORY_AES)
            steps.append(f"key {int(role)} ({role.label})")


def _create_file(desfire: DESFire, spec: FileSpec) -> None:
    if spec.kind is FileKind.BACKUP:
        desfire.create_backup_data_file(spec.file_no, spec.size or 0, comm=spec.comm,
                                        access=spec.access)
    elif spec.kind is FileKind.CYCLIC:
        desfire.create_cyclic_record_file(spec.file_no, spec.record_size or 0,
                                          spec.max_records or 0, comm=spec.comm,
                                          access=spec.access)
    else:
        desfire.create_value_file(spec.file_no, lower_limit=spec.lower_limit or 0,
                                  upper_limit=spec.upper_limit or 0, value=0,
                                  limited_credit=spec.limited_credit, comm=spec.comm,
                                  access=spec.access)


def _card_record(desfire: DESFire, keys: KeyProvider, uid: bytes, record: CardRecord,
                 encoded: bytes, steps: list[str]) -> IssueResult:
    desfire.authenticate(int(KeyRole.LOAD), keys.card_key(KeyRole.LOAD, uid), "aes")
    current = desfire.read_data(CARD_RECORD_FILE.file_no, 0, CARD_RECORD_FILE.size or 0,
                                comm=CARD_RECORD_FILE.comm)
    if any(current):
        try:
            existing = decode_card_record(current)
        except RecordError as exc:
            raise IssueError(f"the card record on the card cannot be read: {exc}") from None
        if existing != record:
            raise AlreadyIssued(existing.card_number,
                                same_number=existing.card_number == record.card_number)
        return IssueResult(uid, record.card_number, tuple(steps), already_issued=True)
    desfire.write_data(CARD_RECORD_FILE.file_no, encoded, comm=CARD_RECORD_FILE.comm)
    desfire.commit_transaction()
    steps.append("card record")
    return IssueResult(uid, record.card_number, tuple(steps))
