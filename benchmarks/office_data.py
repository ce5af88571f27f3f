"""A large network's office, made fast for the office benchmark: cards, their entitlements and a
hotlist written straight into the tables with bulk inserts (the office's own operations would
take minutes for 300,000 cards and are measured by the tests, not here)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, insert, update
from sqlalchemy.orm import Session

from ekarta.backoffice.schema import Card, Counter, EntitlementEntry, HotlistEntry
from ekarta.sync.messages import EntitledCoupon, Entitlement, slot_text
from ekarta.transit.codec.records import encode_slot
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.values import (
    Coupon,
    CouponType,
    Profile,
    SaleChannel,
    Zones,
)
from ekarta.transit.security.signing import CouponSigner

CHUNK = 10_000


def _uid(i: int) -> bytes:
    return b"\x04" + i.to_bytes(6, "big")


def populate(engine: Engine, *, entitled: int, blocked: int, now: datetime,
             first_serial: int = 1) -> int:
    """``entitled`` active cards with one signed coupon each in the entitlements feed, of which
    the first ``blocked`` are also on the hotlist (more blocked than entitled: the rest are
    hotlist entries only).  Returns the last feed sequence number used."""
    # One signed coupon stands for every card's: the feeds carry it as bytes and never check
    # it, so its size is what matters here, and signing 300,000 coupons is not the office's cost
    # to measure.
    today = now.date()
    expiry = date(today.year + 4, 12, 31)
    coupon = Coupon(first_serial, CouponType.DAYS_30, Profile.ADULT_NON_TRANSFERABLE,
                    Zones.of([1, 2]), today, today + timedelta(days=29), today,
                    SaleChannel.ESHOP_CARD)
    slot = slot_text(encode_slot(CouponSigner.generate().sign(
        coupon, uid=_uid(first_serial), card_number=CardNumber.from_serial(first_serial))))
    template = Entitlement(
        card_number="0000000000", uid="04000000000000", status="active", kind="personal",
        profile="adult-non-transferable", expiry=expiry,
        coupons=(EntitledCoupon(serial=first_serial, state="pending",
                                valid_from=coupon.valid_from, valid_to=coupon.valid_to,
                                slot=slot),),
    ).model_dump_json()
    seq = 0
    with Session(engine) as session:
        for start in range(0, max(entitled, blocked), CHUNK):
            stop = min(start + CHUNK, max(entitled, blocked))
            cards, entries, hot = [], [], []
            for i in range(start, stop):
                number = int(CardNumber.from_serial(first_serial + i))
                uid = _uid(first_serial + i)
                status = "blocked" if i < blocked else "active"
                cards.append({"card_number": number, "uid": uid, "kind": "personal",
                              "status": status, "profile": "adult-non-transferable",
                              "expiry": expiry, "applied_at": now, "purse_balance": 0})
                if i < entitled:
                    seq += 1
                    body = (template.replace('"0000000000"', f'"{number:010d}"', 1)
                            .replace('"04000000000000"', f'"{uid.hex()}"', 1)
                            .replace('"active"', f'"{status}"', 1))
                    entries.append({"card_number": number, "body": body, "removed": False,
                                    "seq": seq, "changed_at": now})
                if i < blocked:
                    seq += 1
                    hot.append({"card_number": number, "uid": uid, "expiry": expiry,
                                "removed": False, "seq": seq, "changed_at": now})
            session.execute(insert(Card.__table__), cards)
            if entries:
                session.execute(insert(EntitlementEntry.__table__), entries)
            if hot:
                session.execute(insert(HotlistEntry.__table__), hot)
        session.execute(update(Counter).where(Counter.name == "feed").values(value=seq))
        session.commit()
    return seq


def utc_now() -> datetime:
    return datetime.now(UTC)
