"""Test support for terminals: card numbers, feed pages sealed as the office seals them, a
store's whole content to compare before and after; for the terminals' commands, the keys of a
role exported as a terminal keeps them (:func:`terminal_keys`), a terminal directory synced an
hour before the tests' time (:func:`terminal`) and the fixture :func:`card_file` (a plugin of
the suite: see ``tests/conftest.py``)."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ekarta.emulator import VirtualCard
from ekarta.emulator.state import CardState
from ekarta.sync.envelope import seal
from ekarta.sync.messages import (
    ActionItem,
    ActionKind,
    ActionPage,
    DeviceView,
    Entitlement,
    EntitlementPage,
    Feed,
    HotlistItem,
    HotlistPage,
)
from ekarta.sync.roles import DeviceRole
from ekarta.terminal.config import init_terminal
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.security.keystore import TERMINAL_KEYS, FileKeyStore, create_keystore
from tests.support.actions import put_actions
from tests.support.validator import AT, put_lists

__all__ = ["OFFICE_KEY", "T0", "action", "card", "card_file", "dump", "entitlement", "hot",
           "sealed", "terminal", "terminal_keys"]

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


# --- the terminals' commands ----------------------------------------------------------------------


def terminal_keys(folder: Path, *roles: str) -> tuple[FileKeyStore, ...]:
    """A full keystore made in ``folder``, then the keys of each of ``roles`` exported from it
    into ``folder/ROLE.json``, private to the owner as a terminal keeps them."""
    full = create_keystore(folder / "keys.json")
    exported = []
    for role in roles:
        path = folder / f"{role}.json"
        path.write_text(json.dumps(full.export(TERMINAL_KEYS[role]).to_document()))
        os.chmod(path, 0o600)
        exported.append(FileKeyStore.load(path))
    return (FileKeyStore.load(folder / "keys.json"), *exported)


def terminal(folder: Path, keys: tuple[FileKeyStore, ...], role: DeviceRole, name: str,
             actions: Iterable[ActionItem] = (), *,
             entitlements: Iterable[Entitlement] = ()) -> str:
    """The terminal directory of the device ``name`` of ``role`` (its keys ``keys[1]``, as
    :func:`terminal_keys` gives them) in ``folder``, with the lists (``entitlements``) and the
    office's ``actions`` as a sync an hour before the tests' time left them; its path."""
    config = init_terminal(str(folder / name.replace(" ", "")), office="http://127.0.0.1:9",
                           token="ekarta_test", role=role, keystore=keys[1],
                           device=DeviceView(name=name, role=role))
    with config.open_store() as store:
        put_lists(store, entitlements=entitlements, issued_at=AT - timedelta(hours=1))
        put_actions(store, actions, issued_at=AT - timedelta(hours=1))
    return config.directory


@pytest.fixture
def card_file(tmp_path: Path, card_state: CardState) -> str:
    """The module's ``card_state`` (a fixture of its own) saved in a card file."""
    path = tmp_path / "card.json"
    VirtualCard(card_state).save(path)
    return str(path)
