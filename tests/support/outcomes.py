"""Tap outcomes as the tap engine gives them to the terminal apps: one per verdict reason, with
the coupon and the dates the transit rules would give, to drive the apps' screens."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ekarta.terminal.outcome import Outcome, Source, TapOutcome
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.rules import Verdict
from ekarta.transit.model.values import (
    Coupon,
    CouponType,
    Profile,
    Reason,
    SaleChannel,
    SignedCoupon,
    Zones,
)

__all__ = ["AT", "COUPON", "NUMBER", "VERDICT_REASONS", "no_verdict", "outcome", "verdict"]

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
"""When the taps happen: 10:00 in Prague."""
SYNCED = AT - timedelta(hours=2, minutes=5)
NUMBER = CardNumber.from_serial(123456789)
COUPON = SignedCoupon(Coupon(serial=4242, coupon_type=CouponType.DAYS_30, profile=Profile.STUDENT,
                             zones=Zones((1, 2)), valid_from=date(2026, 11, 20),
                             valid_to=date(2026, 12, 19), sale_date=date(2026, 11, 19),
                             channel=SaleChannel.ESHOP_CARD), signature=bytes(64))

VERDICT_REASONS = tuple(r for r in Reason if r < 32)
"""The reasons a terminal's verdict can give (0 valid, 1..10 the refusals)."""


def _coupon(**changes: Any) -> SignedCoupon:
    return replace(COUPON, coupon=replace(COUPON.coupon, **changes))


_VERDICTS: dict[Reason, dict[str, Any]] = {
    Reason.VALID: {"coupon": COUPON, "date": date(2026, 12, 19)},
    Reason.NO_COUPON: {},
    Reason.NOT_YET_VALID: {"coupon": _coupon(valid_from=date(2026, 12, 5),
                                             valid_to=date(2027, 1, 3)),
                           "date": date(2026, 12, 5)},
    Reason.EXPIRED: {"coupon": _coupon(valid_from=date(2026, 10, 1), valid_to=date(2026, 10, 30)),
                     "date": date(2026, 10, 30)},
    Reason.ZONE_NOT_COVERED: {"coupon": COUPON},
    Reason.PROFILE_EXPIRED: {"coupon": COUPON, "date": date(2026, 10, 31),
                             "profile": Profile.ADULT_NON_TRANSFERABLE},
    Reason.CARD_EXPIRED: {"date": date(2026, 11, 30)},
    Reason.CARD_BLOCKED: {},
    Reason.SIGNATURE_INVALID: {"coupon": COUPON},
    Reason.CARD_NOT_ACTIVE: {},
    Reason.COUPON_UNREADABLE: {},
}


def _zone(reason: Reason, zone: int | None) -> int:
    """Zone 7 (which the coupon lacks) for ZONE_NOT_COVERED, else zone 1 (which it has)."""
    return zone if zone is not None else 7 if reason is Reason.ZONE_NOT_COVERED else 1


def verdict(reason: Reason = Reason.VALID, *, zone: int | None = None) -> Verdict:
    """The verdict the rules give for ``reason`` in ``zone``, for a student's card."""
    zone = _zone(reason, zone)
    fields = {"profile": Profile.STUDENT, **_VERDICTS[reason]}
    return Verdict(ok=reason is Reason.VALID, reason=reason, zone=zone, **fields)


def outcome(reason: Reason = Reason.VALID, *, zone: int | None = None,
            **changes: Any) -> TapOutcome:
    """A chip tap's outcome with the verdict for ``reason``; ``changes`` to its fields."""
    zone = _zone(reason, zone)
    tap = TapOutcome(Outcome.VERDICT, Source.CHIP, at=AT, zone=zone, line=12,
                     card_number=NUMBER, verdict=verdict(reason, zone=zone), recorded=True,
                     data_as_of=SYNCED, lists_age=AT - SYNCED)
    return replace(tap, **changes)


def no_verdict(kind: Outcome, **changes: Any) -> TapOutcome:
    """An outcome without a verdict (tap again, not a transit card, unreadable, refused)."""
    source = Source.BARCODE if kind is Outcome.REFUSED_NUMBER else Source.CHIP
    tap = TapOutcome(kind, source, at=AT, zone=1, line=12, data_as_of=SYNCED,
                     lists_age=AT - SYNCED, detail="card left the field")
    return replace(tap, **changes)
