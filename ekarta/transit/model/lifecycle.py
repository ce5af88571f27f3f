"""The card record's life cycle: what a record must be to be written, and what activating,
blocking, unblocking and changing it make of it.

Everything here is a pure function of the record and the day ``today`` (a Prague date); card I/O
(:mod:`ekarta.transit.cardio.lifecycle`, :mod:`ekarta.transit.cardio.issuance`) reads the card,
asks these functions and writes what they return.

The rules, from the operator's manual:

- A card is issued as *produced* (sent by post: its holder activates it) or *active* (handed
  over at a contact point).  Only a produced card can be activated ("Aktivaci e-karty lze
  provést pouze tehdy, pokud má e-karta status Vyrobeno"), and not once it has expired.
- Blocking (loss, theft, the holder's request, a terminal finding the card on the hotlist)
  works on a card of any status; unblocking (the specialised workplace, for a fee charged by the
  back office) makes a blocked card active: its holder is at the counter with it.
- A record written to a card makes sense on the day it is written: a personal card's names hold
  a visible character, a birth date is not in the future, the children's and students' profiles
  have a birth date and every profile fits the holder's age where the birth date is known, a
  profile end is not past and only a discounted profile has one, the expiry is not past.
  When a record is *changed*, only what the change sets is checked: a card whose student
  profile lapsed since it was issued may still have its holder's name corrected.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace
from datetime import date

from ekarta.transit.errors import InvalidField
from ekarta.transit.model.rules import Refusal, age_refusal
from ekarta.transit.model.values import (
    FALLBACK_PROFILE,
    CardRecord,
    CardStatus,
    Profile,
    Reason,
)

__all__ = [
    "ISSUABLE_STATUSES",
    "RecordChange",
    "RecordPlan",
    "check_card_record",
    "plan_activation",
    "plan_blocking",
    "plan_change",
    "plan_unblocking",
]

ISSUABLE_STATUSES = (CardStatus.PRODUCED, CardStatus.ACTIVE)


def _blank(name: str) -> bool:
    # Spaces, zero-width and other format characters show nothing on a card face or a receipt.
    return all(unicodedata.category(ch)[0] in "ZC" for ch in name)


def check_card_record(record: CardRecord, today: date, *,
                      before: CardRecord | None = None) -> tuple[Refusal, ...]:
    """Every reason why ``record`` cannot be written to a card on ``today``; empty if none.

    Without ``before`` the record is a new card's (issuing) and all of it is checked.  With
    ``before``, the record on the card it replaces, only the parts that differ from it are: the
    names, the profile (profile, profile end and birth date together), the expiry.
    """
    if not isinstance(record, CardRecord):
        raise InvalidField(f"expected a CardRecord, not {type(record).__name__}")
    refusals: list[Refusal] = []

    def changed(*names: str) -> bool:
        return before is None or any(getattr(record, n) != getattr(before, n) for n in names)

    if before is None and record.status not in ISSUABLE_STATUSES:
        refusals.append(Refusal.of(Reason.STATUS_NOT_ISSUABLE, status=record.status))
    if record.personal and changed("first_name", "surname") and (
            _blank(record.first_name) or _blank(record.surname)):
        refusals.append(Refusal.of(Reason.NAME_BLANK))
    if changed("profile", "profile_end", "birth_date"):
        birth = record.birth_date
        if birth is not None and birth > today:
            refusals.append(Refusal.of(Reason.BIRTH_DATE_IN_FUTURE, date=birth))
        else:
            refusal = age_refusal(record, record.profile, today)
            if refusal is not None:
                refusals.append(refusal)
        end = record.profile_end
        if end is not None:
            if not record.profile.discounted:
                refusals.append(Refusal.of(Reason.PROFILE_END_WITHOUT_DISCOUNT,
                                           profile=record.profile))
            elif end < today:
                refusals.append(Refusal.of(Reason.PROFILE_END_PASSED, date=end))
    if changed("expiry") and record.expiry < today:
        refusals.append(Refusal.of(Reason.EXPIRY_PASSED, date=record.expiry))
    return tuple(refusals)


@dataclass(frozen=True)
class RecordPlan:
    """What an operation makes of a card record: ``record`` to write when ``changed``, the card's
    own record when there is nothing to do, or the ``refusals`` that forbid it."""

    record: CardRecord
    changed: bool = False
    refusals: tuple[Refusal, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.refusals


def _to(record: CardRecord, status: CardStatus) -> RecordPlan:
    return RecordPlan(replace(record, status=status), changed=True)


def _refused(record: CardRecord, *refusals: Refusal) -> RecordPlan:
    return RecordPlan(record, refusals=refusals)


def plan_activation(record: CardRecord, today: date) -> RecordPlan:
    """Produced -> active.  An active card stays as it is (activating twice is no error)."""
    if record.status is CardStatus.ACTIVE:
        return RecordPlan(record)
    if record.status is CardStatus.BLOCKED:
        return _refused(record, Refusal.of(Reason.CARD_BLOCKED))
    if record.status is not CardStatus.PRODUCED:
        return _refused(record, Refusal.of(Reason.CARD_NOT_PRODUCED, status=record.status))
    if today > record.expiry:
        return _refused(record, Refusal.of(Reason.CARD_EXPIRED, date=record.expiry))
    return _to(record, CardStatus.ACTIVE)


def plan_blocking(record: CardRecord) -> RecordPlan:
    """Any status -> blocked; a blocked card stays as it is."""
    if record.status is CardStatus.BLOCKED:
        return RecordPlan(record)
    return _to(record, CardStatus.BLOCKED)


def plan_unblocking(record: CardRecord) -> RecordPlan:
    """Blocked -> active; refused for a card that is not blocked (there is nothing to undo, and
    a produced card must be activated, not unblocked)."""
    if record.status is not CardStatus.BLOCKED:
        return _refused(record, Refusal.of(Reason.CARD_NOT_BLOCKED))
    return _to(record, CardStatus.ACTIVE)


@dataclass(frozen=True)
class RecordChange:
    """A change of a card record at a ticket office: each field given replaces the card's.

    ``profile`` with ``profile_end`` renews or changes a profile; a full-fare profile drops the
    profile end.  ``end_profile`` ends a discounted profile now: the card gets the fallback
    profile (adult non-transferable) and no profile end.  The card number, the kind and the
    status never change here (the status has its own operations).
    """

    first_name: str | None = None
    surname: str | None = None
    birth_date: date | None = None
    profile: Profile | None = None
    profile_end: date | None = None
    expiry: date | None = None
    end_profile: bool = False

    def __post_init__(self) -> None:
        if self.profile is not None:
            try:
                object.__setattr__(self, "profile", Profile(self.profile))
            except ValueError:
                raise InvalidField(f"profile must be a Profile, not {self.profile!r}") from None
        if self.end_profile and (self.profile is not None or self.profile_end is not None):
            raise InvalidField("ending the profile sets neither a profile nor a profile end")

    @property
    def empty(self) -> bool:
        return self == RecordChange()

    def apply(self, record: CardRecord) -> CardRecord:
        """``record`` with this change; InvalidField if the result is no card record (a name on
        an anonymous card...)."""
        profile, end = record.profile, record.profile_end
        if self.end_profile:
            if not record.personal:
                raise InvalidField("an anonymous card has no discounted profile to end")
            profile, end = FALLBACK_PROFILE, None
        if self.profile is not None:
            profile = self.profile
            if not profile.discounted:
                end = None
        if self.profile_end is not None:
            end = self.profile_end
        return replace(
            record,
            first_name=record.first_name if self.first_name is None else self.first_name,
            surname=record.surname if self.surname is None else self.surname,
            birth_date=record.birth_date if self.birth_date is None else self.birth_date,
            profile=profile, profile_end=end,
            expiry=record.expiry if self.expiry is None else self.expiry)


def plan_change(record: CardRecord, change: RecordChange, today: date) -> RecordPlan:
    """Apply ``change`` to the card's ``record`` if what it sets makes sense on ``today``.

    A blocked card is refused (unblock it first); a change that changes nothing is no error.
    """
    if record.status is CardStatus.BLOCKED:
        return _refused(record, Refusal.of(Reason.CARD_BLOCKED))
    new = change.apply(record)
    if new == record:
        return RecordPlan(record)
    refusals = check_card_record(new, today, before=record)
    if refusals:
        return _refused(record, *refusals)
    return RecordPlan(new, changed=True)
