"""Test support for the office's actions on a terminal: the items the actions feed brings, put
into a terminal's store as a sync would."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta

from ekarta.sync.messages import ActionItem, ActionKind, ActionPage, Feed, slot_text
from ekarta.terminal.store import TerminalStore
from ekarta.transit import Profile, SignedCoupon
from ekarta.transit.codec.records import encode_slot
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.notation import enum_name
from tests.support.validator import NUMBER, UID

__all__ = ["activate", "block", "credit", "load", "profile", "put_actions"]


def _item(action_id: int, kind: ActionKind, *, number: CardNumber = NUMBER,
          uid: bytes | None = UID, **fields: object) -> ActionItem:
    return ActionItem(id=action_id, card_number=number.digits,
                      uid=None if uid is None else uid.hex(), kind=kind, **fields)


def load(action_id: int, coupon: SignedCoupon, **where: object) -> ActionItem:
    return _item(action_id, ActionKind.LOAD_COUPON, serial=coupon.serial,
                 slot=slot_text(encode_slot(coupon)), **where)


def credit(action_id: int, serial: int, amount: int, **where: object) -> ActionItem:
    return _item(action_id, ActionKind.CREDIT_PURSE, serial=serial, amount=amount, **where)


def block(action_id: int, **where: object) -> ActionItem:
    return _item(action_id, ActionKind.WRITE_BLOCKED, **where)


def activate(action_id: int, **where: object) -> ActionItem:
    return _item(action_id, ActionKind.ACTIVATE, **where)


def profile(action_id: int, to: Profile, end: date | None = None,
            **where: object) -> ActionItem:
    return _item(action_id, ActionKind.UPDATE_PROFILE, profile=enum_name(to), profile_end=end,
                 **where)


def put_actions(store: TerminalStore, items: Iterable[ActionItem], *, issued_at: datetime,
                valid_for: timedelta = timedelta(days=3)) -> None:
    """The actions feed as a full sync issued at ``issued_at`` leaves it."""
    state = store.feed_state(Feed.ACTIONS)
    if state.issued_at is not None and issued_at <= state.issued_at:
        issued_at = state.issued_at + timedelta(seconds=1)
    store.apply_page(Feed.ACTIONS, ActionPage(reset=True, more=False, items=tuple(items)),
                     cursor=state.cursor + 1, issued_at=issued_at,
                     valid_until=issued_at + valid_for, now=issued_at)
