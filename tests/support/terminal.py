"""Test support for terminals: card numbers, feed pages sealed as the office seals them, and a
store's whole content to compare before and after."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, date, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ekarta.sync.envelope import seal
from ekarta.sync.messages import (
    ActionItem,
    ActionKind,
    ActionPage,
    Entitlement,
    EntitlementPage,
    Feed,
    HotlistItem,
    HotlistPage,
)
from ekarta.transit.model.card_number import CardNumber

__all__ = ["OFFICE_KEY", "T0", "action", "card", "dump", "entitlement", "hot", "sealed"]

OFFICE_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
EXPIRY = date(2030, 12, 31)


def card(serial: int) -> str:
    """The card number of ``serial`` (its 10 digits)."""
    return CardNumber.from_serial(serial).digits


def hot(serial: int, uid: str | None = None) -> HotlistItem:
    return HotlistItem(card_number=card(serial), uid=uid, expiry=EXPIRY)


def entitlement(serial: int, profile: str = "adult") -> Entitlement:
    return Entitlement(card_number=card(serial), status="active", kind="personal",
                       profile=profile, expiry=EXPIRY)


def action(action_id: int, serial: int,
           kind: ActionKind = ActionKind.WRITE_BLOCKED) -> ActionItem:
    return ActionItem(id=action_id, card_number=card(serial), kind=kind)


def sealed(page: HotlistPage | EntitlementPage | ActionPage, *, cursor: int,
           issued_at: datetime, feed: Feed | None = None, key: Ed25519PrivateKey = OFFICE_KEY,
           valid_for: timedelta = timedelta(days=3)) -> bytes:
    """``page`` in the envelope the office sends it in."""
    kind = feed or {HotlistPage: Feed.HOTLIST, EntitlementPage: Feed.ENTITLEMENTS,
                    ActionPage: Feed.ACTIONS}[type(page)]
    return seal(page.model_dump_json().encode(), kind=kind.value, key=key, issued_at=issued_at,
                valid_for=valid_for, cursor=cursor)


def dump(path: str) -> dict[str, list[tuple]]:
    """Every row of every table of the store in ``path``."""
    with closing(sqlite3.connect(path)) as db:
        tables = [name for (name,) in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: sorted(db.execute(f"SELECT * FROM {t}").fetchall(), key=repr)
                for t in tables}
