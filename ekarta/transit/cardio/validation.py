"""A validator's tap: :func:`validate_card`, one card session from reading the card to its record.

1. Select the application, authenticate with the read key, read the card record, the coupon
   slots and the newest log record (:func:`~ekarta.transit.cardio.reading.read_card` with
   ``newest_only``: the log's last record gives the next sequence number and shows a tap already
   recorded).
2. Ask the terminal what its lists say of this card number and UID (:class:`CardLists`: the
   hotlist, and the coupons the office holds for the card, paid but perhaps not on the card
   yet) and judge (:func:`~ekarta.transit.model.rules.judge`) at the terminal's
   :class:`Place`.
3. Authenticate with the validation key (the application stays selected) and, in one
   transaction: a hotlisted card that is not blocked yet gets its blocked status and a BLOCKING
   record; any other card gets a VALIDATION record (device, line, vehicle, zone, the coupon used,
   the verdict's reason); then CommitTransaction.  A chip that still says produced while the
   office has the card active (a card sent by post, activated by its holder) is judged active
   and written active in the same transaction, its VALIDATION record standing for both.

That is 20 commands on a card whose UID the reader gave (23 with GetVersion), two
authentications, and one command more (the card record, 144 bytes) for a card being blocked.

**A tap already on the card.**  When the card's newest record is this device's, logged at or
after ``CardLists.repeat_since`` (to the minute: the log keeps minutes) for the same verdict at
the same place (or its BLOCKING record, for a card found blocked), the tap writes nothing and
returns that record (``written`` false).  That is a second tap within the terminal's repeat
window, and equally a tap whose answer to the commit was lost: the card took the record, the
terminal did not hear it, and the next tap must not log the validation twice.

**Torn taps.**  The card's files change only at CommitTransaction.  A card pulled away while it
is read raises the reader's :class:`~ekarta.errors.CardRemovedError`; once the writing has
begun, :class:`ValidationTorn` (one too), carrying what would have been recorded
(``staged``): the commit may or may not have taken effect, and only the card's log tells, at
the next tap.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from ekarta.desfire.client import DESFire
from ekarta.errors import CardRemovedError, ProtocolError, ReaderTimeout
from ekarta.transit.cardio.events import write_event
from ekarta.transit.cardio.reading import authenticate, read_card
from ekarta.transit.codec.layout import CARD_RECORD_FILE, KeyRole
from ekarta.transit.codec.records import encode_card_record
from ekarta.transit.errors import InvalidField
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.image import CardImage
from ekarta.transit.model.lifecycle import plan_activation, plan_blocking
from ekarta.transit.model.rules import SignatureCheck, Verdict, judge
from ekarta.transit.model.timecodec import floor_minute, local_date, require_aware
from ekarta.transit.model.values import (
    DEVICE_MAX,
    LINE_MAX,
    VEHICLE_MAX,
    ZONE_MAX,
    ZONE_MIN,
    CardStatus,
    EventKind,
    EventRecord,
    Reason,
    SignedCoupon,
)
from ekarta.transit.security.keystore import KeyProvider

__all__ = [
    "CardLists",
    "Lookup",
    "Place",
    "Validation",
    "ValidationTorn",
    "judge_tap",
    "logged_tap",
    "validate_card",
]

log = logging.getLogger(__name__)


def _check(name: str, value: object, low: int, high: int, *, optional: bool = True) -> None:
    if value is None and optional:
        return
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidField(f"{name} must be {low}..{high}{' or None' if optional else ''}, "
                           f"not {value!r}")


@dataclass(frozen=True)
class Place:
    """Where a validator stands: its device number (written into the card's log), the tariff
    zone it judges for (None: any zone), the line and the vehicle."""

    device: int
    zone: int | None = None
    line: int | None = None
    vehicle: int | None = None

    def __post_init__(self) -> None:
        _check("device", self.device, 0, DEVICE_MAX, optional=False)
        _check("zone", self.zone, ZONE_MIN, ZONE_MAX)
        _check("line", self.line, 1, LINE_MAX)
        _check("vehicle", self.vehicle, 1, VEHICLE_MAX)


def _none() -> tuple[SignedCoupon, ...]:
    return ()


def _no() -> bool:
    return False


@dataclass(frozen=True)
class CardLists:
    """What the terminal knows of the card in the field, asked once its number and UID are read.

    ``hotlisted``: the card is on the hotlist (by its number or its UID).  ``office_coupons``:
    gives the signed coupons the office holds for the card, asked only when the card's own do
    not make it valid; they then count as the card's, and a verdict made by one of them says so
    (:attr:`Validation.from_office`).  ``repeat_since``: a record of this device's logged at or
    after this instant stands for this tap (None: every tap is recorded anew).
    ``office_active``: whether the office has this chip's card as active, asked only when the
    chip still says produced: a card sent by post and activated by its holder at the office
    is written active by the first terminal that meets it, a validator included (its key
    writes the card record), else every bus would refuse it until an inspector saw it.
    """

    hotlisted: bool = False
    office_coupons: Callable[[], tuple[SignedCoupon, ...]] = _none
    repeat_since: datetime | None = None
    office_active: Callable[[], bool] = _no


Lookup = Callable[[CardNumber, bytes], CardLists]

_CARD_REFUSALS = frozenset({Reason.CARD_BLOCKED, Reason.CARD_NOT_ACTIVE, Reason.CARD_EXPIRED})
"""Refusals of the card itself, which no coupon changes."""
"""The terminal's answer for a card number and UID."""


@dataclass(frozen=True)
class Validation:
    """A tap on the card: what was read, the verdict and the card's record of the tap.

    ``written``: the record was committed in this session; false, the card's log held it
    already (a repeated tap, or one whose answer was lost).  ``blocked_written``: the card's
    blocked status is this device's doing (written now, or found as its newest record)."""

    image: CardImage
    verdict: Verdict
    event: EventRecord
    from_office: bool = False
    written: bool = True
    blocked_written: bool = False

    @property
    def uid(self) -> bytes:
        return self.image.uid

    @property
    def card_number(self) -> CardNumber:
        return self.image.record.card_number


class ValidationTorn(CardRemovedError):
    """The card left (or stopped answering) once the tap had begun to write: ``staged`` is what
    the card holds if the commit took effect, which only its log can tell."""

    def __init__(self, message: str, staged: Validation) -> None:
        super().__init__(message)
        self.staged = staged


def judge_tap(image: CardImage, lists: CardLists, *, at: datetime, zone: int | None,
              verifier: SignatureCheck) -> tuple[Verdict, bool]:
    """The verdict for the card read as ``image`` with the terminal's ``lists``, and whether
    the coupon that made it valid is one the office holds and the card does not (the office's
    coupons are asked for only when the card's own do not make it valid)."""
    hotlist = (image.record.card_number,) if lists.hotlisted else ()
    verdict = judge(image.record, image.slots, uid=image.uid, at=at, zone=zone,
                    verifier=verifier, hotlist=hotlist)
    if verdict.ok or verdict.reason in _CARD_REFUSALS:
        return verdict, False
    office = lists.office_coupons()
    if not office:
        return verdict, False
    verdict = judge(image.record, (*image.slots, *office), uid=image.uid, at=at, zone=zone,
                    verifier=verifier, hotlist=hotlist)
    return verdict, verdict.ok and verdict.coupon not in image.coupons


def logged_tap(image: CardImage, place: Place, verdict: Verdict,
               since: datetime | None, *, at: datetime,
               kind: EventKind = EventKind.VALIDATION) -> EventRecord | None:
    """The card's newest record, if it stands for this tap: this device's, logged between
    ``since`` (to the minute) and ``at``, of ``kind`` (a validator's VALIDATION, an inspector's
    INSPECTION) with the same result at the same place or, for a blocked card, a BLOCKING."""
    if since is None:
        return None
    newest = max((e for e in image.events if isinstance(e, EventRecord)),
                 key=lambda e: e.sequence, default=None)
    if (newest is None or newest.device != place.device
            or not floor_minute(since) <= newest.at <= at):
        return None
    if newest.kind is EventKind.BLOCKING:
        return newest if image.record.status is CardStatus.BLOCKED else None
    if (newest.kind is kind and newest.result is verdict.reason
            and (newest.zone, newest.line, newest.vehicle)
            == (place.zone, place.line, place.vehicle)):
        return newest
    return None


def validate_card(desfire: DESFire, keys: KeyProvider, verifier: SignatureCheck, *,
                  at: datetime, place: Place, lookup: Lookup,
                  uid: bytes | None = None) -> Validation:
    """One validator's tap on the card in the field (see the module docstring).

    ``uid`` is the card's UID when the reader reported it (it saves GetVersion).  Raises what
    reading raises (:class:`~ekarta.transit.cardio.reading.CardAccessError` for a card that is
    not one of ours, the reader's errors, RecordError for an unreadable card record) and
    :class:`ValidationTorn` when the card is lost while the tap is being written.
    """
    at = require_aware(at, "tap time")
    image = read_card(desfire, keys, role=KeyRole.READ, uid=uid, purse=False, newest_only=True)
    lists = lookup(image.record.card_number, image.uid)
    activation = None
    if (image.record.status is CardStatus.PRODUCED and not lists.hotlisted
            and lists.office_active()):
        activation = plan_activation(image.record, local_date(at))
        if activation.changed:
            image = replace(image, record=activation.record)  # judged as the card will be
        else:
            activation = None  # expired: refused as the chip says
    record = image.record
    verdict, from_office = judge_tap(image, lists, at=at, zone=place.zone, verifier=verifier)
    found = logged_tap(image, place, verdict, lists.repeat_since, at=at)
    if found is not None:
        log.info("tap already logged by the card (record %d)", found.sequence)
        return Validation(image, verdict, found, from_office, written=False,
                          blocked_written=found.kind is EventKind.BLOCKING)
    block = plan_blocking(record) if lists.hotlisted else None
    blocking = block is not None and block.changed
    kind = EventKind.BLOCKING if blocking else EventKind.VALIDATION
    result = Reason.VALID if blocking else verdict.reason
    serial = verdict.coupon.serial if verdict.ok and verdict.coupon is not None else None
    event = EventRecord(sequence=image.next_sequence, at=at, kind=kind, result=result,
                        device=place.device, line=place.line, vehicle=place.vehicle,
                        zone=place.zone, coupon_serial=serial)
    staged = Validation(image, verdict, event, from_office, blocked_written=blocking)
    try:
        authenticate(desfire, keys, KeyRole.VALIDATION, image.uid, select=False)
        # Both writes are staged by the card and take effect together at the commit.
        if block is not None and blocking:
            desfire.write_data(CARD_RECORD_FILE.file_no, encode_card_record(block.record),
                               comm=CARD_RECORD_FILE.comm)
        if activation is not None:
            # one record per transaction in the log (DESFire writes a transaction's records
            # into one): the tap's record stands for the activation too
            desfire.write_data(CARD_RECORD_FILE.file_no, encode_card_record(record),
                               comm=CARD_RECORD_FILE.comm)
        write_event(desfire, event)
        desfire.commit_transaction()
    except (CardRemovedError, ReaderTimeout, ProtocolError) as exc:
        raise ValidationTorn(f"the card was lost while the tap was being recorded: {exc}",
                             staged) from exc
    log.info("tap recorded (%s, record %d)", kind.name.lower(), event.sequence)
    return staged
