"""Deleting holders' personal data on its date: :func:`purge`.

A holder's row (names, birth date, photo reference, contact) is deleted once its
``purge_after`` day has passed, 90 days after the application; the card keeps its number,
profile and validity, with no holder.  Each run is recorded as a count, never as data.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import Session

from ekarta.backoffice.cards import aware
from ekarta.backoffice.schema import Card, Holder, Purge
from ekarta.transit.model.timecodec import local_date

__all__ = ["PurgeResult", "purge", "purge_holders"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PurgeResult:
    at: datetime
    holders: int


def purge_holders(session: Session, *, now: datetime) -> int:
    """Delete the holders whose day has passed, in ``session``; returns how many."""
    today = local_date(aware(now))
    due = select(Holder.id).where(Holder.purge_after < today)
    session.execute(update(Card).where(Card.holder_id.in_(due)).values(holder_id=None))
    count = session.scalar(select(func.count()).select_from(Holder)
                           .where(Holder.purge_after < today)) or 0
    session.execute(delete(Holder).where(Holder.purge_after < today))
    session.add(Purge(at=now, holders=count))
    log.info("purged %d holders' data", count)
    return int(count)


def purge(engine: Engine, *, now: datetime) -> PurgeResult:
    """Run the purge and record it."""
    with Session(engine) as session:
        count = purge_holders(session, now=now)
        session.commit()
    return PurgeResult(now, count)
