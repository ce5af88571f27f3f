"""What the office does by itself every day: :func:`run_daily` (``office serve`` calls it once a
day; running it again the same day changes nothing more).

- the purge of holders' data due (:mod:`~ekarta.backoffice.purge`);
- cancelling bank-transfer orders unpaid 3 days after the sale;
- blocking cards past their expiry (not on the hotlist: every terminal refuses an expired card)
  and replacement cards not returned by their return day (on the hotlist);
- taking cards past their expiry off the hotlist.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ekarta.backoffice.blocking import block_card
from ekarta.backoffice.cards import aware
from ekarta.backoffice.coupons import ORDER_DAYS, close_sale
from ekarta.backoffice.feeds import unlist_blocked
from ekarta.backoffice.purge import purge_holders
from ekarta.backoffice.schema import Card, CouponSale, HotlistEntry
from ekarta.transit.model.timecodec import local_date

__all__ = ["DailyRun", "run_daily"]

log = logging.getLogger(__name__)

LIVE = ("produced", "active")


@dataclass(frozen=True)
class DailyRun:
    """What one run did, as counts."""

    purged: int
    orders_cancelled: int
    expired: int
    unreturned: int
    unlisted: int


def run_daily(engine: Engine, now: datetime) -> DailyRun:
    """Run the office's daily work at ``now``, in one transaction."""
    today = local_date(aware(now))
    with Session(engine) as session:
        purged = purge_holders(session, now=now)

        orders = 0
        for sale in session.scalars(select(CouponSale).where(
                CouponSale.state == "pending", CouponSale.paid_at.is_(None),
                CouponSale.sold_at <= now - timedelta(days=ORDER_DAYS)).with_for_update()):
            card = session.get(Card, sale.card_id)
            assert card is not None
            close_sale(session, sale, card, "cancelled", now=now)
            orders += 1

        expired = 0
        for card in session.scalars(select(Card).where(
                Card.expiry < today, Card.status.in_(LIVE)).with_for_update()):
            expired += block_card(session, card, "expired", now=now, hotlist=False)

        unreturned = 0
        for card in session.scalars(select(Card).where(
                Card.return_by < today, Card.returned_at.is_(None), Card.status.in_(LIVE))
                .with_for_update()):
            unreturned += block_card(session, card, "unreturned", now=now)

        unlisted = 0
        for entry in session.scalars(select(HotlistEntry).where(
                HotlistEntry.expiry < today, HotlistEntry.removed.is_(False))):
            unlist_blocked(session, entry.card_number, now=now)
            unlisted += 1
        session.commit()
    run = DailyRun(purged, orders, expired, unreturned, unlisted)
    log.info("daily run: %s", run)
    return run
