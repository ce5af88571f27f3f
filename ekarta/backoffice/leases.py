"""Leases on actions: a terminal reserves an action before it performs it, so that two terminals
meeting the same card do not both load its coupon.

A lease is one conditional ``UPDATE`` (the action is pending, of a kind the device's role
performs, and not leased to another device until later than now), so two devices asking at
once cannot both get it, on SQLite or PostgreSQL.  The device holding a lease may renew it.

A lease that ran out on another device passes on, but contested for good: its holder may have
done the action and be out of reach with its journal, and only the journal's report closes an
action.  The next holder is told (:attr:`~ekarta.sync.messages.Lease.contested`) and must find
the proof on the card; a purse credit on a card whose log has dropped records then waits for
the report.  When that report cannot come (a handheld lost with its journal), the office's
operator, having made sure the action was not done, releases it (:func:`release_lease`): its
lease ends and its contest with it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import Engine, and_, or_, select, update
from sqlalchemy.orm import Session

from ekarta.backoffice.errors import OfficeError
from ekarta.backoffice.schema import Action, Card, Device
from ekarta.backoffice.store import DeviceInfo
from ekarta.sync.messages import ROLE_ACTIONS, Lease
from ekarta.transit.model.card_number import CardNumber

__all__ = [
    "LEASE_TIME",
    "ActionClosed",
    "ActionLeased",
    "ActionNotFound",
    "ActionNotPerformed",
    "LeaseRefused",
    "release_lease",
    "take_lease",
]

log = logging.getLogger(__name__)

LEASE_TIME = timedelta(minutes=5)
"""How long a lease holds unless renewed: ample for one card's write."""


class LeaseRefused(OfficeError):
    """The action cannot be leased to this device."""


class ActionNotFound(LeaseRefused):
    """No such action."""


class ActionNotPerformed(LeaseRefused):
    """The device's role does not perform actions of this kind."""


class ActionClosed(LeaseRefused):
    """The action is done or cancelled."""


class ActionLeased(LeaseRefused):
    """Another device holds an unexpired lease on the action."""


def take_lease(engine: Engine, device: DeviceInfo, action_id: int, *, now: datetime,
               duration: timedelta = LEASE_TIME) -> Lease:
    """Lease action ``action_id`` to ``device`` until ``now + duration`` (or renew its lease);
    raises the :class:`LeaseRefused` that says why not."""
    kinds = sorted(kind.value for kind in ROLE_ACTIONS[device.role])
    until = now + duration
    with Session(engine) as session, session.begin():
        # SET sees the row as it was: the lease that ran out is still there to be judged
        contested = session.execute(
            update(Action)
            .where(Action.id == action_id, Action.state == "pending", Action.kind.in_(kinds),
                   or_(Action.lease_device_id.is_(None), Action.lease_device_id == device.id,
                       Action.lease_until <= now))
            .values(lease_device_id=device.id, lease_until=until,
                    lease_contested=or_(Action.lease_contested,
                                        and_(Action.lease_device_id.is_not(None),
                                             Action.lease_device_id != device.id)))
            .returning(Action.lease_contested)
            .execution_options(synchronize_session=False)).scalar_one_or_none()
        if contested is not None:  # the row was leased: RETURNING gives its new value
            log.info("action %d leased to %s until %s%s", action_id, device.name,
                     until.isoformat(timespec="seconds"),
                     " (contested: a lease ran out on another device)" if contested else "")
            return Lease(action_id=action_id, device=device.name, until=until,
                         contested=contested)
        found = session.execute(select(Action.kind, Action.state)
                                .where(Action.id == action_id)).one_or_none()
    if found is None:
        raise ActionNotFound(f"no action {action_id}")
    if found.kind not in kinds:
        raise ActionNotPerformed(f"a {device.role} does not perform {found.kind} actions")
    if found.state != "pending":
        raise ActionClosed(f"action {action_id} is {found.state}")
    raise ActionLeased(f"action {action_id} is leased to another device")


def release_lease(engine: Engine, card_number: CardNumber, action_id: int, *,
                  now: datetime) -> str | None:
    """End the lease that ran out on the pending action ``action_id`` of ``card_number``, and
    its contest: the operator vouches that no device that held it did it.  A lease still
    running is refused (its holder may be writing the card now).  Returns the device whose
    lease it was (None: no lease)."""
    with Session(engine) as session, session.begin():
        found = session.execute(
            select(Action, Device.name).outerjoin(Device, Device.id == Action.lease_device_id)
            .join(Card, Card.id == Action.card_id)
            .where(Action.id == action_id, Card.card_number == int(card_number))
            .with_for_update(of=Action)).one_or_none()
        if found is None:
            raise ActionNotFound(f"card {card_number} has no action {action_id}")
        action, holder = found
        if action.state != "pending":
            raise ActionClosed(f"action {action_id} is {action.state}")
        if action.lease_until is not None and action.lease_until > now:
            raise ActionLeased(f"action {action_id} is leased to {holder} until "
                               f"{action.lease_until.isoformat(timespec='seconds')}: release "
                               "it once that has passed")
        action.lease_device_id = None
        action.lease_until = None
        action.lease_contested = False
    log.info("action %d released by the office (its lease was %s's)", action_id, holder)
    return holder
