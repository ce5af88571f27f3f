"""Reading the transit application from a card: from the card's files to a :class:`CardImage`.

:func:`read_card` selects the application, authenticates with one key role's diversified key and
reads the card record, the coupon slots, the event log and the e-purse, each in the file's own
(full, encrypted) mode as :mod:`ekarta.transit.codec.layout` sets it.  Modes and record sizes are
passed explicitly, so no GetFileSettings round trip is spent on them.

A card that is not (completely) a transit card is told apart before anything is decoded:

- no transit application: :class:`NotATransitCard` (a factory-fresh card, another scheme's card);
- the application is there but issuing did not finish (keys still the factory defaults, a file
  missing, the card record never written): :class:`CardNotIssued`;
- the card does not accept this keystore's keys: :class:`ForeignCard`.

Everything read from the card is hostile: the codec of :mod:`ekarta.transit.codec.records`
checks it, and a bad coupon slot or log record becomes a
:class:`~ekarta.transit.model.image.SlotError` in place.
"""

from __future__ import annotations

import logging

from ekarta.desfire.client import DESFire
from ekarta.errors import (
    ApplicationNotFound,
    AuthenticationRejected,
    BoundaryError,
    DESFireStatusError,
    FileNotFound,
    NoSuchKey,
)
from ekarta.transit.codec.files import CardFiles, decode_card, split_slots
from ekarta.transit.codec.layout import (
    AID,
    CARD_RECORD_FILE,
    LOG_FILE,
    PURSE_FILE,
    SLOTS_FILE,
    KeyRole,
    allows,
)
from ekarta.transit.codec.records import decode_event
from ekarta.transit.errors import CouponError, RecordError
from ekarta.transit.model.image import CardImage
from ekarta.transit.security.keystore import KeyProvider

__all__ = [
    "CardAccessError",
    "CardNotIssued",
    "ForeignCard",
    "NotATransitCard",
    "authenticate",
    "card_uid",
    "read_card",
    "read_files",
]

log = logging.getLogger(__name__)


class CardAccessError(CouponError):
    """The card cannot be read as a transit card."""


class NotATransitCard(CardAccessError):
    """The card has no transit application."""


class CardNotIssued(CardAccessError):
    """The card has the transit application, but issuing it did not finish."""


class ForeignCard(CardAccessError):
    """The card's transit application does not accept this keystore's keys."""


def card_uid(desfire: DESFire) -> bytes:
    """The card's UID as GetVersion reports it (no authentication needed).

    Card keys are diversified from the real UID, so cards with random UIDs turned on are not
    supported: issuing refuses them (see :func:`ekarta.transit.cardio.issuance.issue_card`).
    """
    return desfire.get_version().uid


def authenticate(desfire: DESFire, keys: KeyProvider, role: KeyRole,
                 uid: bytes | None = None, *, select: bool = True) -> bytes:
    """Select the transit application and authenticate with ``role``'s key of this card (whose
    UID is read with GetVersion unless given); returns the UID.  ``select=False`` changes the
    key of a session already in the application (one command less)."""
    if select:
        try:
            # Selecting first also ends any session the card still has from an earlier client.
            desfire.select_application(AID)
        except ApplicationNotFound:
            raise NotATransitCard(
                f"not a transit card: the card has no application {AID:06X} (a factory-fresh "
                "card or another scheme's card)") from None
    if uid is None:
        uid = card_uid(desfire)
    try:
        desfire.authenticate(int(role), keys.card_key(role, uid), "aes")
    except (AuthenticationRejected, NoSuchKey):
        raise _diagnose_key(desfire, role) from None
    return uid


def _diagnose_key(desfire: DESFire, role: KeyRole) -> CardAccessError:
    # The key version is readable without a key: version 0 is the factory default, so a card
    # whose issuing was cut short is told from one issued under another keystore.
    try:
        version = desfire.get_key_version(int(role))
    except DESFireStatusError:
        version = None
    if version == 0:
        return CardNotIssued(
            "the transit card is not issued: issuing did not finish (its keys are still the "
            "factory defaults); run `ekarta card issue` again")
    return ForeignCard(
        f"the card's transit application does not accept this keystore's {role.label} key "
        "(a card issued under other keys)")


def read_files(desfire: DESFire, keys: KeyProvider, *, role: KeyRole = KeyRole.READ,
               uid: bytes | None = None, purse: bool = True,
               newest_only: bool = False) -> CardFiles:
    """Select, authenticate with ``role`` and read every file of the transit application.

    The card record is checked first: a blank one raises :class:`CardNotIssued` before the rest
    is read.  The purse is read when ``purse`` is true; when ``role`` may not read it (the read
    key may not: see :data:`~ekarta.transit.codec.layout.PURSE_FILE`), with a second
    authentication with the validation key, after everything else (so it is the session left
    open).

    ``newest_only`` reads only the newest log record (what a validator needs: the next sequence
    number, and whether the card logged its tap already), last and without the file settings'
    round trip: an empty log then answers with an error, which ends the session, so the caller
    authenticates again before it writes.  A newest record that does not decode would hide the
    sequence number: then the whole log is read.
    """
    uid = authenticate(desfire, keys, role, uid)
    try:
        record = desfire.read_data(CARD_RECORD_FILE.file_no, 0, CARD_RECORD_FILE.size or 0,
                                   comm=CARD_RECORD_FILE.comm)
    except FileNotFound:
        raise CardNotIssued("the transit card is not issued: its files are missing; run "
                            "`ekarta card issue` again") from None
    if not any(record):
        raise CardNotIssued("the transit card is not issued: its card record was never written; "
                            "run `ekarta card issue` again")
    slots = desfire.read_data(SLOTS_FILE.file_no, 0, SLOTS_FILE.size or 0, comm=SLOTS_FILE.comm)
    events = [] if newest_only else _read_log(desfire)
    value = None
    if purse:
        if not allows(role, PURSE_FILE, "get_value"):
            desfire.authenticate(int(KeyRole.VALIDATION),
                                 keys.card_key(KeyRole.VALIDATION, uid), "aes")
        value = desfire.get_value(PURSE_FILE.file_no, comm=PURSE_FILE.comm)
    if newest_only:
        events = _read_newest(desfire)
    return CardFiles(uid, record, split_slots(slots), tuple(events), value)


def _read_log(desfire: DESFire) -> list[bytes]:
    # ReadRecords on an empty record file is an error status, and an error ends the session; the
    # file settings tell the record count first so that the session survives for the writes.
    settings = desfire.get_file_settings(LOG_FILE.file_no)
    count = settings.current_records or 0
    if not count:
        return []
    size = LOG_FILE.record_size or 0
    count = min(count, LOG_FILE.max_records or count)
    return desfire.read_records(LOG_FILE.file_no, 0, count, comm=LOG_FILE.comm, record_size=size)


def _read_newest(desfire: DESFire) -> list[bytes]:
    try:
        records = desfire.read_records(LOG_FILE.file_no, 0, 1, comm=LOG_FILE.comm,
                                       record_size=LOG_FILE.record_size)
    except BoundaryError:
        return []  # a card never used
    try:
        decode_event(records[0])
    except RecordError:
        return _read_log(desfire)
    return records


def read_card(desfire: DESFire, keys: KeyProvider, *, role: KeyRole = KeyRole.READ,
              uid: bytes | None = None, purse: bool = True,
              newest_only: bool = False) -> CardImage:
    """:func:`read_files`, decoded; raises the card record's RecordError if it is unreadable."""
    image = decode_card(read_files(desfire, keys, role=role, uid=uid, purse=purse,
                                   newest_only=newest_only))
    log.info("read transit card (%d coupons, %d unreadable entries)", len(image.coupons),
             len(image.errors))
    return image
