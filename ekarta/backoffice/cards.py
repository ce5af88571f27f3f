"""Cards and their holders: applying (:func:`apply`), activating a card (:func:`activate`),
changing its profile (:func:`change_profile`), and looking at them (:func:`show`,
:func:`list_cards`); :mod:`~ekarta.backoffice.production` issues an ordered card onto a chip.

The office's status of a card runs ordered -> produced -> active -> blocked.  The chip's own
status is written once, when the card is produced: *produced* for a card sent by post (its
holder activates it in the e-shop, which changes only the office's status: a terminal that finds
an office-active card still produced on its chip activates the chip), or *active* with
``active=True`` for a card handed over at a contact point, whose staff activate it at once.

A personal card's holder data lives in its own row (``holders``), deleted 90 days after the
application (:mod:`~ekarta.backoffice.purge`); the card row keeps its number, profile and
validity.  The profile end kept is the earlier of the one given and the day before the birthday
that ends the profile's age right, so that the office still knows when the discount ends once
the birth date is gone.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ekarta.backoffice.actions import ActionInfo, add_action, cancel_actions, waiting_actions
from ekarta.backoffice.errors import CardNotFound, InvalidRequest, OperationRefused
from ekarta.backoffice.feeds import next_number, refresh_entitlement
from ekarta.backoffice.schema import Block, Card, Holder
from ekarta.sync.messages import ActionKind
from ekarta.transit.errors import InvalidField
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.lifecycle import (
    RecordChange,
    check_card_record,
    plan_activation,
    plan_change,
)
from ekarta.transit.model.notation import enum_name, parse_enum
from ekarta.transit.model.rules import profile_end
from ekarta.transit.model.timecodec import local_date
from ekarta.transit.model.values import CardKind, CardRecord, CardStatus, Profile, add_years

__all__ = [
    "CARD_YEARS",
    "HOLDER_DAYS",
    "Application",
    "BlockInfo",
    "CardInfo",
    "HolderInfo",
    "activate",
    "apply",
    "card_info",
    "card_record",
    "change_profile",
    "find_card",
    "list_cards",
    "show",
]

log = logging.getLogger(__name__)

CARD_YEARS = 5
"""A card's validity when the application names none (the manual: at least 5 years)."""
HOLDER_DAYS = 90
"""Days after the application that the holder's data is kept."""
PLACEHOLDER_NAME = "-"
"""Stands for a purged name in a card record the rules look at (never written to a card)."""


@dataclass(frozen=True)
class Application:
    """What an applicant gives: ``first_name`` and ``surname`` make a personal card, none an
    anonymous one.  ``expiry`` None: :data:`CARD_YEARS` from the application day."""

    first_name: str = ""
    surname: str = ""
    birth_date: date | None = None
    profile: Profile | None = None
    profile_end: date | None = None
    expiry: date | None = None
    photo_ref: str | None = None
    contact: str | None = None

    @property
    def anonymous(self) -> bool:
        return not (self.first_name or self.surname)


@dataclass(frozen=True)
class HolderInfo:
    """A personal card's holder, as only the office role sees it."""

    first_name: str
    surname: str
    birth_date: date | None
    photo_ref: str | None
    contact: str | None
    purge_after: date


@dataclass(frozen=True)
class BlockInfo:
    reason: str
    blocked_at: datetime
    written_at: datetime | None
    unblocked_at: datetime | None


@dataclass(frozen=True)
class CardInfo:
    """A card as the office knows it; ``holder`` only when asked for (and not yet purged)."""

    card_number: CardNumber
    kind: CardKind
    status: CardStatus
    profile: Profile
    profile_end: date | None
    expiry: date
    uid: bytes | None
    applied_at: datetime
    produced_at: datetime | None
    activated_at: datetime | None
    purse_balance: int
    replaces: CardNumber | None = None
    loan_until: date | None = None
    return_by: date | None = None
    returned_at: datetime | None = None
    holder: HolderInfo | None = None
    blocks: tuple[BlockInfo, ...] = ()
    actions: tuple[ActionInfo, ...] = ()
    """What still waits for the chip (not in a list of cards)."""


def aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise InvalidRequest("an instant must carry its time zone")
    return now


def find_card(session: Session, number: CardNumber | int, *, lock: bool = False) -> Card:
    """The card row of ``number``; CardNotFound if the office has none."""
    query = select(Card).where(Card.card_number == int(CardNumber.of(number)))
    card = session.scalar(query.with_for_update() if lock else query)
    if card is None:
        raise CardNotFound(f"no card {CardNumber.of(number)} in the office")
    return card


def status_of(card: Card) -> CardStatus:
    return parse_enum(CardStatus, card.status, "status")


def card_record(card: Card, holder: Holder | None, *, status: CardStatus | None = None,
                for_rules: bool = False) -> CardRecord:
    """The transit card record of ``card``.  ``for_rules``: a record only the tariff rules look
    at, whose purged names are placeholders (it is never written to a card)."""
    kind = parse_enum(CardKind, card.kind, "kind")
    names = ("", "")
    if kind is CardKind.PERSONAL:
        if holder is not None:
            names = (holder.first_name, holder.surname)
        elif for_rules:
            names = (PLACEHOLDER_NAME, PLACEHOLDER_NAME)
        else:
            raise OperationRefused(f"card {CardNumber.of(card.card_number)}",
                                   detail="its holder's data was purged: apply for a new card")
    return CardRecord(card_number=CardNumber.of(card.card_number), kind=kind,
                      status=status or status_of(card), expiry=card.expiry,
                      profile=parse_enum(Profile, card.profile, "profile"),
                      profile_end=card.profile_end,
                      birth_date=None if holder is None else holder.birth_date,
                      first_name=names[0], surname=names[1])


def _holder_info(holder: Holder) -> HolderInfo:
    return HolderInfo(holder.first_name, holder.surname, holder.birth_date, holder.photo_ref,
                      holder.contact, holder.purge_after)


def card_info(session: Session, card: Card, *, holder: bool = False) -> CardInfo:
    replaces = None if card.replaces_id is None else session.get(Card, card.replaces_id)
    row = None if card.holder_id is None or not holder else session.get(Holder, card.holder_id)
    blocks = session.scalars(select(Block).where(Block.card_id == card.id).order_by(Block.id))
    return _info(card, None if replaces is None else replaces.card_number, blocks, row,
                 waiting_actions(session, card))


def _info(card: Card, replaces: int | None, blocks: Iterable[Block], row: Holder | None,
          actions: tuple[ActionInfo, ...] = ()) -> CardInfo:
    return CardInfo(
        card_number=CardNumber.of(card.card_number), kind=parse_enum(CardKind, card.kind, "kind"),
        status=status_of(card), profile=parse_enum(Profile, card.profile, "profile"),
        profile_end=card.profile_end, expiry=card.expiry, uid=card.uid,
        applied_at=card.applied_at, produced_at=card.produced_at,
        activated_at=card.activated_at, purse_balance=card.purse_balance,
        replaces=None if replaces is None else CardNumber.of(replaces),
        loan_until=card.loan_until, return_by=card.return_by, returned_at=card.returned_at,
        holder=None if row is None else _holder_info(row),
        blocks=tuple(BlockInfo(b.reason, b.blocked_at, b.written_at, b.unblocked_at)
                     for b in blocks),
        actions=actions)


def new_card(session: Session, application: Application, *, now: datetime,
             replaces: Card | None = None, purge_after: date | None = None) -> Card:
    """Add the card row (and its holder's) of ``application``, numbered from the ``card``
    counter; checked as a card record on the application day."""
    today = local_date(aware(now))
    anonymous = application.anonymous
    profile = application.profile or (Profile.ADULT_TRANSFERABLE if anonymous
                                      else Profile.ADULT_NON_TRANSFERABLE)
    number = CardNumber.from_serial(next_number(session, "card"))
    try:
        record = CardRecord(
            card_number=number, kind=CardKind.ANONYMOUS if anonymous else CardKind.PERSONAL,
            status=CardStatus.PRODUCED,
            expiry=application.expiry or add_years(today, CARD_YEARS), profile=profile,
            profile_end=application.profile_end, birth_date=application.birth_date,
            first_name=application.first_name, surname=application.surname)
    except InvalidField as exc:
        raise InvalidRequest(f"application: {exc}") from None
    refusals = check_card_record(record, today)
    if refusals:
        raise OperationRefused("application", refusals)
    holder = None
    if not anonymous:
        holder = Holder(first_name=record.first_name, surname=record.surname,
                        birth_date=record.birth_date, photo_ref=application.photo_ref,
                        contact=application.contact,
                        purge_after=purge_after or today + timedelta(days=HOLDER_DAYS))
        session.add(holder)
        session.flush()
    card = Card(card_number=int(number), kind=enum_name(record.kind), status="ordered",
                profile=enum_name(record.profile), profile_end=profile_end(record),
                expiry=record.expiry, holder_id=None if holder is None else holder.id,
                applied_at=now, replaces_id=None if replaces is None else replaces.id,
                purse_balance=0)
    session.add(card)
    session.flush()
    return card


def apply(engine: Engine, application: Application, *, now: datetime) -> CardInfo:
    """Record an application for a card: the card gets its number, status ordered."""
    with Session(engine) as session:
        card = new_card(session, application, now=now)
        info = card_info(session, card, holder=True)
        session.commit()
    log.info("card applied for (%s)", enum_name(info.kind))
    return info


def activate(engine: Engine, number: CardNumber, *, now: datetime) -> CardInfo:
    """Produced -> active, in the office (the holder confirms a card received by post); a chip
    issued as produced is written active by the next inspector or kiosk that sees it."""
    with Session(engine) as session:
        card = find_card(session, number, lock=True)
        holder = None if card.holder_id is None else session.get(Holder, card.holder_id)
        record = card_record(card, holder, for_rules=True)
        plan = plan_activation(record, local_date(aware(now)))
        if not plan.ok:
            raise OperationRefused(f"activating card {number}", plan.refusals)
        if plan.changed:
            card.status = "active"
            card.activated_at = now
            if card.uid is not None:
                add_action(session, card, ActionKind.ACTIVATE, now=now)
            refresh_entitlement(session, card, now=now)
        info = card_info(session, card)
        session.commit()
    return info


def change_profile(engine: Engine, number: CardNumber, change: RecordChange, *,
                   now: datetime) -> CardInfo:
    """A profile gained, renewed or lost at a ticket office (``change`` sets ``profile`` and
    ``profile_end``, or ``end_profile``; nothing else): the office's card takes it at once
    and its entitlement follows; a card already on a chip gets it written by the next
    inspector or kiosk that sees it (an update-profile action, which replaces one still
    pending).  Refused by the rules as the chip would refuse it: a blocked card, a discounted
    profile on an anonymous card or beyond the holder's age, a profile end already past."""
    if change != RecordChange(profile=change.profile, profile_end=change.profile_end,
                              end_profile=change.end_profile) or change.empty:
        raise InvalidRequest("a profile change sets a profile, a profile end, or ends the "
                             "profile")
    with Session(engine) as session:
        card = find_card(session, number, lock=True)
        holder = None if card.holder_id is None else session.get(Holder, card.holder_id)
        record = card_record(card, holder, for_rules=True)
        try:
            plan = plan_change(record, change, local_date(aware(now)))
        except InvalidField as exc:  # a change no card record can hold
            raise InvalidRequest(f"the profile change: {exc}") from None
        if not plan.ok:
            raise OperationRefused(f"changing the profile of card {number}", plan.refusals)
        if plan.changed:
            card.profile = enum_name(plan.record.profile)
            card.profile_end = profile_end(plan.record)
            cancel_actions(session, card, kinds=(ActionKind.UPDATE_PROFILE,))
            if card.uid is not None:
                add_action(session, card, ActionKind.UPDATE_PROFILE, now=now,
                           profile=card.profile, profile_end=card.profile_end)
            refresh_entitlement(session, card, now=now)
        info = card_info(session, card)
        session.commit()
    log.info("card profile %s", "changed" if plan.changed else "unchanged")
    return info


def show(engine: Engine, number: CardNumber) -> CardInfo:
    """Everything the office knows of a card, its holder's data included."""
    with Session(engine) as session:
        return card_info(session, find_card(session, number), holder=True)


def list_cards(engine: Engine, *, status: CardStatus | None = None) -> list[CardInfo]:
    """Every card (no holder data), by number."""
    with Session(engine) as session:
        chosen = () if status is None else (Card.status == enum_name(status),)
        listed = session.scalars(select(Card).where(*chosen).order_by(Card.card_number)).all()
        # three statements for the whole list, not three per card
        ids = select(Card.id).where(*chosen)
        blocks: dict[int, list[Block]] = {}
        for block in session.scalars(select(Block).where(Block.card_id.in_(ids))
                                     .order_by(Block.id)):
            blocks.setdefault(block.card_id, []).append(block)
        replaced = {c.replaces_id for c in listed if c.replaces_id is not None}
        numbers = {id_: number for id_, number in session.execute(
            select(Card.id, Card.card_number).where(Card.id.in_(replaced)))}
        return [_info(c, None if c.replaces_id is None else numbers[c.replaces_id],
                      blocks.get(c.id, ()), None) for c in listed]

