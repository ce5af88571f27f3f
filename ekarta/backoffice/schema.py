"""The office's tables, declared once with SQLAlchemy 2; Alembic's migrations
(:mod:`ekarta.backoffice.migrations`) create them, and a test checks that the two agree.

Constraint names follow one convention, so that a migration can name what it changes on SQLite
and on PostgreSQL alike.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Text,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from ekarta.backoffice.errors import OfficeError
from ekarta.sync.roles import DeviceRole

__all__ = [
    "Action",
    "Base",
    "Block",
    "Card",
    "CardCoupon",
    "Counter",
    "CouponSale",
    "Device",
    "DeviceRole",
    "EntitlementEntry",
    "Fee",
    "FeedFloor",
    "Holder",
    "HotlistEntry",
    "Instant",
    "JournalEntry",
    "Purge",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Instant(TypeDecorator[datetime]):
    """An instant, stored in UTC and read back aware on both databases (SQLite keeps no time
    zone: a naive value read from it is UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise OfficeError("an instant must carry its time zone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Device(Base):
    """A terminal or an office workplace that talks to the API with a token of its own.  Only
    the token's SHA-256 is kept: the token itself is shown once, when the device is added."""

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(Instant())
    revoked_at: Mapped[datetime | None] = mapped_column(Instant(), default=None)


# --- cards and holders ---------------------------------------------------------------------------


class Holder(Base):
    """A personal card's holder: the only personal data the office keeps, apart from the card so
    that :mod:`~ekarta.backoffice.purge` can delete it on its date (the row goes, the card
    stays)."""

    __tablename__ = "holders"

    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str] = mapped_column(String(26))
    surname: Mapped[str] = mapped_column(String(26))
    birth_date: Mapped[date | None] = mapped_column(Date(), default=None)
    photo_ref: Mapped[str | None] = mapped_column(String(200), default=None)
    contact: Mapped[str | None] = mapped_column(String(200), default=None)
    purge_after: Mapped[date] = mapped_column(Date(), index=True)
    """The day after which the holder's data is deleted: 90 days after the application."""


class Card(Base):
    """A card application and, once produced, the card: everything but the holder's data.

    ``status`` is a :class:`~ekarta.transit.model.values.CardStatus` name (ordered, produced,
    active, blocked); ``kind`` and ``profile`` likewise name their enums.  A replacement card
    points at the card it stands in for (``replaces_id``) and is on loan until ``loan_until``;
    unless ``returned_at`` is set it is blocked after ``return_by``.
    """

    __tablename__ = "cards"

    id: Mapped[int] = mapped_column(primary_key=True)
    card_number: Mapped[int] = mapped_column(BigInteger(), unique=True)
    uid: Mapped[bytes | None] = mapped_column(LargeBinary(10), unique=True, default=None)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), index=True)
    profile: Mapped[str] = mapped_column(String(32))
    profile_end: Mapped[date | None] = mapped_column(Date(), default=None)
    expiry: Mapped[date] = mapped_column(Date(), index=True)
    holder_id: Mapped[int | None] = mapped_column(
        ForeignKey("holders.id", ondelete="SET NULL"), index=True, default=None)
    applied_at: Mapped[datetime] = mapped_column(Instant())
    produced_at: Mapped[datetime | None] = mapped_column(Instant(), default=None)
    activated_at: Mapped[datetime | None] = mapped_column(Instant(), default=None)
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id"), index=True,
                                                    default=None)
    loan_until: Mapped[date | None] = mapped_column(Date(), default=None)
    return_by: Mapped[date | None] = mapped_column(Date(), index=True, default=None)
    returned_at: Mapped[datetime | None] = mapped_column(Instant(), default=None)
    purse_balance: Mapped[int] = mapped_column(Integer(), default=0)
    """The e-purse balance in haléř as the office knows it (credits it queued included)."""
    coupons_read_at: Mapped[datetime | None] = mapped_column(Instant(), default=None)
    """When the newest reading of the card's coupons a terminal reported was made (an older
    one reported later changes nothing, even after a reading of an empty card)."""


class Block(Base):
    """Every block the office ever made; the hotlist sent to terminals is derived from the open
    ones (:class:`HotlistEntry`)."""

    __tablename__ = "blocks"

    id: Mapped[int] = mapped_column(primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), index=True)
    reason: Mapped[str] = mapped_column(String(16))
    """lost, stolen, request, expired, unreturned, replaced"""
    blocked_at: Mapped[datetime] = mapped_column(Instant())
    written_at: Mapped[datetime | None] = mapped_column(Instant(), default=None)
    """When a terminal reported the blocked status written onto the card."""
    unblocked_at: Mapped[datetime | None] = mapped_column(Instant(), default=None)


class Fee(Base):
    """A fee recorded for a card (unblocking, a replacement card's loan), in haléř."""

    __tablename__ = "fees"

    id: Mapped[int] = mapped_column(primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(Integer())
    at: Mapped[datetime] = mapped_column(Instant())


# --- coupons and actions -------------------------------------------------------------------------


class CouponSale(Base):
    """A coupon the office sold (or re-signed for a replacement card).

    ``slot`` is the signed coupon as a card slot holds it
    (:func:`~ekarta.transit.codec.records.encode_slot`), signed for the card's UID and number.
    ``state``: pending (paid or awaiting a bank transfer, not on the card), written (a terminal
    journalled the load), cancelled, refunded.  ``paid_at`` is None for a bank-transfer order
    not yet paid; such an order is cancelled 3 days after ``sold_at``.
    """

    __tablename__ = "coupons"

    id: Mapped[int] = mapped_column(primary_key=True)
    serial: Mapped[int] = mapped_column(BigInteger(), unique=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    valid_from: Mapped[date] = mapped_column(Date())
    valid_to: Mapped[date] = mapped_column(Date(), index=True)
    slot: Mapped[bytes] = mapped_column(LargeBinary())
    sold_at: Mapped[datetime] = mapped_column(Instant())
    paid_at: Mapped[datetime | None] = mapped_column(Instant(), default=None)
    written_at: Mapped[datetime | None] = mapped_column(Instant(), default=None)
    closed_at: Mapped[datetime | None] = mapped_column(Instant(), default=None)
    """When it was cancelled or refunded."""
    moved_from: Mapped[int | None] = mapped_column(BigInteger(), default=None)
    """The serial of the coupon this one re-signs for a replacement or returned card."""


class CardCoupon(Base):
    """A coupon on a card as a terminal last reported it (read in an inspection or a kiosk
    view): what a sale is checked against besides the office's own pending coupons."""

    __tablename__ = "card_coupons"

    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), primary_key=True)
    serial: Mapped[int] = mapped_column(BigInteger(), primary_key=True)
    slot: Mapped[bytes] = mapped_column(LargeBinary())
    seen_at: Mapped[datetime] = mapped_column(Instant())


class Action(Base):
    """What the next terminal able to do it must do to a card: load a coupon, credit the purse,
    write the blocked status, update the profile (``kind``: a
    :class:`~ekarta.sync.messages.ActionKind` value).

    ``body`` is the action's message as terminals receive it (JSON).  A terminal leases it
    before performing it (``lease_device_id`` until ``lease_until``); the journal's report of the
    commit closes it (state done).  ``lease_contested``: a lease on it once ran out on a device
    that had not reported it done, which may have done it all the same.  ``seq`` orders the
    actions feed.
    """

    __tablename__ = "actions"

    id: Mapped[int] = mapped_column(primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    """pending, done, cancelled"""
    coupon_id: Mapped[int | None] = mapped_column(ForeignKey("coupons.id"), default=None)
    body: Mapped[str] = mapped_column(Text())
    created_at: Mapped[datetime] = mapped_column(Instant())
    lease_device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id"), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(Instant(), default=None)
    lease_contested: Mapped[bool] = mapped_column(Boolean(), default=False,
                                                  server_default=false())
    done_at: Mapped[datetime | None] = mapped_column(Instant(), default=None)
    seq: Mapped[int] = mapped_column(BigInteger(), index=True)


# --- what terminals report -----------------------------------------------------------------------


class JournalEntry(Base):
    """One event a terminal reported: stored once by its ``event_id`` (a resent batch changes
    nothing), never with personal data."""

    __tablename__ = "journal"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16), index=True)
    at: Mapped[datetime] = mapped_column(Instant(), index=True)
    received_at: Mapped[datetime] = mapped_column(Instant())
    card_number: Mapped[int | None] = mapped_column(BigInteger(), index=True, default=None)
    result: Mapped[int] = mapped_column(SmallInteger(), default=0)
    line: Mapped[int | None] = mapped_column(Integer(), default=None)
    vehicle: Mapped[int | None] = mapped_column(Integer(), default=None)
    zone: Mapped[int | None] = mapped_column(SmallInteger(), default=None)
    coupon_serial: Mapped[int | None] = mapped_column(BigInteger(), default=None)
    action_id: Mapped[int | None] = mapped_column(BigInteger(), default=None)
    amount: Mapped[int | None] = mapped_column(Integer(), default=None)
    note: Mapped[str | None] = mapped_column(String(200), default=None)


class Purge(Base):
    """One run of the purge: how many holders' data it deleted, never what."""

    __tablename__ = "purges"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(Instant())
    holders: Mapped[int] = mapped_column(Integer())


# --- the feeds terminals pull --------------------------------------------------------------------


class Counter(Base):
    """Named counters: ``feed`` numbers every change of the feeds (taken under the row's lock, so
    that sequence numbers become visible in the order they were taken), ``serial`` the coupon
    serials."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger())


class HotlistEntry(Base):
    """A card on the hotlist terminals hold (``removed``: a tombstone kept so that deltas can
    tell terminals to drop it)."""

    __tablename__ = "hotlist"

    card_number: Mapped[int] = mapped_column(BigInteger(), primary_key=True)
    uid: Mapped[bytes | None] = mapped_column(LargeBinary(10), default=None)
    expiry: Mapped[date] = mapped_column(Date())
    removed: Mapped[bool] = mapped_column(Boolean(), default=False)
    seq: Mapped[int] = mapped_column(BigInteger(), index=True)
    changed_at: Mapped[datetime] = mapped_column(Instant())


class EntitlementEntry(Base):
    """A card's entitlements as terminals receive them (``body``: the JSON of one
    :class:`~ekarta.sync.messages.Entitlement`, kept ready so that a full sync only copies)."""

    __tablename__ = "entitlements"

    card_number: Mapped[int] = mapped_column(BigInteger(), primary_key=True)
    body: Mapped[str] = mapped_column(Text())
    removed: Mapped[bool] = mapped_column(Boolean(), default=False)
    seq: Mapped[int] = mapped_column(BigInteger(), index=True)
    changed_at: Mapped[datetime] = mapped_column(Instant())


class FeedFloor(Base):
    """The oldest cursor a feed can still serve a delta from: tombstones at or below it were
    pruned, so a terminal behind it gets a full snapshot."""

    __tablename__ = "feed_floors"

    feed: Mapped[str] = mapped_column(String(16), primary_key=True)
    floor: Mapped[int] = mapped_column(BigInteger())
