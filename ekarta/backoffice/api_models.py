"""The models of the office role's part of the API: a card with its holder's data, blocks,
coupons and what waits for its chip (:class:`CardView`), a sale (:class:`SaleRequest`,
:class:`SaleView`), a block (:class:`BlockRequest`) and a refusal with the rules' reason codes
(:class:`OperationRefusal`).

They live here, not in :mod:`ekarta.sync.messages`: no terminal ever sends or receives them.
Transit values are written by their names (``30-day``, ``student``, ``eshop-card``) as the
command line writes them; zones are ``"network"`` or a list of zone numbers.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from enum import IntEnum
from typing import Annotated, Literal, TypeVar

from pydantic import ConfigDict, Field, PlainSerializer, PlainValidator, WithJsonSchema

from ekarta.backoffice.actions import ActionInfo
from ekarta.backoffice.cards import CardInfo, HolderInfo
from ekarta.backoffice.coupons import CouponInfo, Sale
from ekarta.backoffice.errors import OperationRefused
from ekarta.sync.messages import ActionKind, CardNumberText, Message, UidText
from ekarta.transit.model.lifecycle import RecordChange
from ekarta.transit.model.notation import enum_name, enum_names
from ekarta.transit.model.rules import PurchaseRequest, Refusal
from ekarta.transit.model.timecodec import DATE_MAX, DATE_MIN
from ekarta.transit.model.values import (
    PRICE_MAX,
    SERIAL_MAX,
    ZONE_MAX,
    ZONE_MIN,
    CouponType,
    Profile,
    SaleChannel,
    Zones,
)

__all__ = [
    "ActionView",
    "BlockRequest",
    "BlockView",
    "CardView",
    "CouponView",
    "HolderView",
    "OperationRefusal",
    "RuleRefusal",
    "SaleRequest",
    "SaleView",
]

E = TypeVar("E", bound=IntEnum)


def _parser(enum: type[E], what: str) -> Callable[[object], E]:
    names = enum_names(enum)

    def parse(value: object) -> E:
        if isinstance(value, enum):
            return value
        member = names.get(value) if isinstance(value, str) else None
        if member is None:
            raise ValueError(f"{what} is one of {', '.join(names)}")
        return member

    return parse


def _schema(enum: type[IntEnum]) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "enum": list(enum_names(enum))})


_as_name = PlainSerializer(enum_name, return_type=str)
CouponTypeName = Annotated[CouponType, PlainValidator(_parser(CouponType, "a coupon type")),
                           _as_name, _schema(CouponType)]
ProfileName = Annotated[Profile, PlainValidator(_parser(Profile, "a profile")), _as_name,
                        _schema(Profile)]
ChannelName = Annotated[SaleChannel, PlainValidator(_parser(SaleChannel, "a sale channel")),
                        _as_name, _schema(SaleChannel)]
Zone = Annotated[int, Field(ge=ZONE_MIN, le=ZONE_MAX)]
ZoneList = Literal["network"] | Annotated[tuple[Zone, ...],
                                          Field(min_length=1, max_length=ZONE_MAX)]
"""``"network"``, or zone numbers (more than 10 make a network ticket)."""
Serial = Annotated[int, Field(ge=1, le=SERIAL_MAX)]
Day = Annotated[date, Field(ge=DATE_MIN, le=DATE_MAX)]
"""A day a coupon's record can hold."""


def _zones(zones: Zones) -> ZoneList:
    return "network" if zones.network else zones.numbers


# --- requests ------------------------------------------------------------------------------------


class SaleRequest(Message):
    """A coupon to sell onto a card, paid at once unless ``channel`` is ``eshop-bank-transfer``;
    ``start``, ``follows`` and ``profile`` as for ``ekarta office coupon sell``; ``price`` in
    whole CZK."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"card_number": "0000000013", "type": "30-day", "zones": [1, 2],
         "channel": "eshop-card"},
        {"card_number": "0000000013", "type": "yearly", "zones": "network",
         "channel": "eshop-bank-transfer", "profile": "adult-non-transferable"}]})

    card_number: CardNumberText
    type: CouponTypeName
    zones: ZoneList
    channel: ChannelName
    start: Day | None = None
    follows: Serial | None = None
    profile: ProfileName | None = None
    price: Annotated[int, Field(ge=0, le=PRICE_MAX)] = 0

    def purchase(self) -> PurchaseRequest:
        """The purchase the tariff rules judge (InvalidField if it cannot be one)."""
        zones = Zones(network=True) if self.zones == "network" else self.zones
        return PurchaseRequest(self.type, zones, self.channel, start=self.start,
                               follows=self.follows, profile=self.profile)


class BlockRequest(Message):
    """Why the holder has the card blocked."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "lost"}]})

    reason: Literal["lost", "stolen", "request"]


class ProfileRequest(Message):
    """A profile gained or renewed (``profile``, ``profile_end``: the last day of a discounted
    one), or a discounted profile ended (``end_profile``: back to adult non-transferable), as
    for ``ekarta office card profile``."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"profile": "student", "profile_end": "2027-08-31"},
        {"profile_end": "2028-08-31"},
        {"end_profile": True}]})

    profile: ProfileName | None = None
    profile_end: Day | None = None
    end_profile: bool = False

    def change(self) -> RecordChange:
        """The change the rules judge (InvalidField if it cannot be one)."""
        return RecordChange(profile=self.profile, profile_end=self.profile_end,
                            end_profile=self.end_profile)


# --- responses -----------------------------------------------------------------------------------


class HolderView(Message):
    """A personal card's holder: the office role alone ever sees it."""

    first_name: str
    surname: str
    birth_date: date | None
    photo_ref: str | None
    contact: str | None
    purge_after: date
    """The day after which the office deletes this data."""

    @classmethod
    def of(cls, holder: HolderInfo) -> HolderView:
        return cls(first_name=holder.first_name, surname=holder.surname,
                   birth_date=holder.birth_date, photo_ref=holder.photo_ref,
                   contact=holder.contact, purge_after=holder.purge_after)


class BlockView(Message):
    reason: str
    """lost, stolen, request (the holder's), or expired, unreturned, replaced, returned (the
    office's own)."""
    blocked_at: datetime
    written_at: datetime | None
    """When a terminal reported the blocked status written onto the card."""
    unblocked_at: datetime | None


class CouponView(Message):
    """A coupon the office sold: ``pending`` until a terminal reports it loaded (``written``),
    or ``cancelled`` / ``refunded``; ``paid`` false for a bank-transfer order still unpaid."""

    serial: Serial
    card_number: CardNumberText
    state: Literal["pending", "written", "cancelled", "refunded"]
    paid: bool
    type: CouponTypeName
    profile: ProfileName
    zones: ZoneList
    valid_from: date
    valid_to: date
    sale_date: date
    channel: ChannelName
    price: int
    sold_at: datetime
    paid_at: datetime | None
    written_at: datetime | None
    closed_at: datetime | None
    moved_from: int | None
    """The serial of the coupon this one was re-signed from (a replacement card's)."""

    @classmethod
    def of(cls, info: CouponInfo) -> CouponView:
        c = info.coupon
        return cls(serial=info.serial, card_number=info.card_number.digits,
                   state=info.state,  # type: ignore[arg-type]
                   paid=info.paid, type=c.coupon_type, profile=c.profile,
                   zones=_zones(c.zones), valid_from=c.valid_from, valid_to=c.valid_to,
                   sale_date=c.sale_date, channel=c.channel, price=c.price,
                   sold_at=info.sold_at, paid_at=info.paid_at, written_at=info.written_at,
                   closed_at=info.closed_at, moved_from=info.moved_from)


class ActionView(Message):
    """An action still waiting for the card's chip: a coupon's load (``serial``), a purse
    credit (``amount`` under the operation ``serial``), the blocked status, a profile, an
    activation."""

    id: int
    kind: ActionKind
    created_at: datetime
    serial: int | None
    amount: int | None
    """In haléř."""
    leased_to: str | None
    """The device that took its lease last."""
    lease_until: datetime | None
    contested: bool
    """A lease on it ran out on a device that had not reported it, which may have done it: a
    purse credit then waits for that report on a card whose log has dropped records."""

    @classmethod
    def of(cls, action: ActionInfo) -> ActionView:
        return cls(id=action.id, kind=action.kind, created_at=action.created_at,
                   serial=action.serial, amount=action.amount, leased_to=action.leased_to,
                   lease_until=action.lease_until, contested=action.contested)


class CardView(Message):
    """A card as the office knows it, with its holder's data (none once purged, or for an
    anonymous card), every block, every coupon the office sold for it and the actions still
    waiting for its chip."""

    card_number: CardNumberText
    kind: Literal["personal", "anonymous"]
    status: Literal["ordered", "produced", "active", "blocked"]
    profile: ProfileName
    profile_end: date | None
    expiry: date
    uid: UidText | None
    applied_at: datetime
    produced_at: datetime | None
    activated_at: datetime | None
    purse_balance: int
    """In haléř."""
    replaces: CardNumberText | None
    loan_until: date | None
    return_by: date | None
    returned_at: datetime | None
    holder: HolderView | None
    blocks: tuple[BlockView, ...]
    coupons: tuple[CouponView, ...]
    actions: tuple[ActionView, ...]

    @classmethod
    def of(cls, card: CardInfo, coupons: tuple[CouponInfo, ...] = ()) -> CardView:
        return cls(
            card_number=card.card_number.digits,
            kind=enum_name(card.kind),  # type: ignore[arg-type]
            status=enum_name(card.status),  # type: ignore[arg-type]
            profile=card.profile, profile_end=card.profile_end, expiry=card.expiry,
            uid=None if card.uid is None else card.uid.hex(), applied_at=card.applied_at,
            produced_at=card.produced_at, activated_at=card.activated_at,
            purse_balance=card.purse_balance,
            replaces=None if card.replaces is None else card.replaces.digits,
            loan_until=card.loan_until, return_by=card.return_by, returned_at=card.returned_at,
            holder=None if card.holder is None else HolderView.of(card.holder),
            blocks=tuple(BlockView(reason=b.reason, blocked_at=b.blocked_at,
                                   written_at=b.written_at, unblocked_at=b.unblocked_at)
                         for b in card.blocks),
            coupons=tuple(CouponView.of(c) for c in coupons),
            actions=tuple(ActionView.of(a) for a in card.actions))


class SaleView(Message):
    """A coupon sold, with the buyer's notes on the decision (English and Czech)."""

    coupon: CouponView
    notes_en: tuple[str, ...]
    notes_cs: tuple[str, ...]

    @classmethod
    def of(cls, sale: Sale) -> SaleView:
        return cls(coupon=CouponView.of(sale.coupon), notes_en=sale.notes_en,
                   notes_cs=sale.notes_cs)


class RuleRefusal(Message):
    """A rule that forbids the operation: its reason code (the same as a terminal's, by name and
    by number) and the passenger's message in English and Czech."""

    reason: str
    code: Annotated[int, Field(ge=0, le=63)]
    message_en: str
    message_cs: str

    @classmethod
    def of(cls, refusal: Refusal) -> RuleRefusal:
        return cls(reason=enum_name(refusal.reason), code=int(refusal.reason),
                   message_en=refusal.message_en, message_cs=refusal.message_cs)


class OperationRefusal(Message):
    """Why the office refused (409): every rule that forbids it (``refusals``), or none when the
    office's own records do (the coupon is cancelled, the holder's data was purged)."""

    detail: str
    refusals: tuple[RuleRefusal, ...] = ()

    @classmethod
    def of(cls, refused: OperationRefused) -> OperationRefusal:
        return cls(detail=refused.message("en"),
                   refusals=tuple(RuleRefusal.of(r) for r in refused.refusals))
