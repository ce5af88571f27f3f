"""Test support for the back office: a real ``ekarta office serve`` on a free loopback port
(:class:`OfficeServer`), and rows the office's operations would have written (:class:`Seed`),
put straight into the tables with the feed helpers, so that API tests need no card operations.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ekarta.backoffice.feeds import list_blocked, publish_action, refresh_entitlement
from ekarta.backoffice.schema import (
    Action,
    Block,
    Card,
    Counter,
    CouponSale,
    EntitlementEntry,
    Holder,
    HotlistEntry,
)
from ekarta.sync.messages import (
    ActionItem,
    ActionKind,
    ActionPage,
    Entitlement,
    EntitlementPage,
    Feed,
    HotlistPage,
)
from ekarta.transit import CardNumber
from ekarta.transit.codec.records import encode_slot
from ekarta.transit.model.values import Coupon, CouponType, Profile, SaleChannel, Zones
from ekarta.transit.security.signing import CouponSigner

__all__ = ["FaultyOffice", "OfficeServer", "Seed", "card_number", "free_port",
           "office_json", "ok_json", "served", "synced"]

READY_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def card_number(serial: int) -> int:
    """A valid card number (IDK) as the office stores it."""
    return int(CardNumber.from_serial(serial).digits)


def ok_json(capsys, *argv: str) -> Any:
    """``ekarta ARGV`` run in this process, which must succeed; its JSON output."""
    from tests.support.cli import run

    code, out, err = run(capsys, *argv)
    assert code == 0, (argv, err)
    return json.loads(out)


def office_json(capsys, database: str, *argv: str) -> Any:
    """``ekarta office ARGV --db DATABASE --json``, which must succeed; its JSON output."""
    return ok_json(capsys, "office", *argv, "--db", database, "--json")


def synced(capsys, directory: str | Path) -> Any:
    """``ekarta terminal sync DIRECTORY --json``, which must sync without an error; its
    report."""
    report = ok_json(capsys, "terminal", "sync", str(directory), "--json")
    assert report["ok"], report["errors"]
    return report


class OfficeServer:
    """``ekarta office serve`` in a subprocess, on a free loopback port."""

    def __init__(self, database: str, keys: str | Path, *, workers: int = 1,
                 log: Path | None = None, extra: tuple[str, ...] = ()) -> None:
        self.database = database
        self.keys = str(keys)
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.extra = extra
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> OfficeServer:
        """Start the server and wait until it answers."""
        argv = [sys.executable, "-m", "ekarta", "-v", "office", "serve", "--db", self.database,
                "--keys", self.keys, "--listen", f"127.0.0.1:{self.port}",
                "--workers", str(self.workers), *self.extra]
        stderr = subprocess.DEVNULL if self.log is None else self.log.open("ab")
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=stderr,
                                        env=os.environ | {"PYTHONUNBUFFERED": "1"})
        if self.log is not None:
            stderr.close()  # type: ignore[union-attr]
        self.wait_ready()
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"ekarta office serve exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/openapi.json", timeout=2.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"ekarta office serve did not answer within {timeout} s")
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Stop it with ``sig`` and return its exit status."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL, as a crash would (the server gets no chance to shut down)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def client(self, token: str | None = None, **options) -> httpx.Client:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return httpx.Client(base_url=self.url, headers=headers, **options)

    @classmethod
    @contextmanager
    def running(cls, database: str, keys: str | Path, **options) -> Iterator[OfficeServer]:
        server = cls(database, keys, **options).start()
        try:
            yield server
        finally:
            if server.process is not None and server.process.poll() is None:
                with suppress(subprocess.TimeoutExpired):
                    server.stop()


@dataclass
class Seed:
    """Writes the rows an office operation would, with the feeds kept current."""

    engine: Engine
    now: datetime
    signer: CouponSigner | None = None

    def card(self, serial: int, *, status: str = "active", holder: tuple[str, str] | None = None,
             uid: bytes | None = None, expiry: date | None = None) -> int:
        """A card (and its holder's data), on the entitlements feed; returns its number."""
        number = card_number(serial)
        with Session(self.engine) as session, session.begin():
            holder_id = None
            if holder is not None:
                row = Holder(first_name=holder[0], surname=holder[1],
                             birth_date=date(2004, 2, 29), contact=f"{holder[0]}@example.cz",
                             purge_after=self.now.date() + timedelta(days=90))
                session.add(row)
                session.flush()
                holder_id = row.id
            card = Card(card_number=number, uid=uid, kind="personal" if holder else "anonymous",
                        status=status, profile="student" if holder else "adult-transferable",
                        expiry=expiry or date(2031, 12, 31), holder_id=holder_id,
                        applied_at=self.now)
            session.add(card)
            session.flush()
            refresh_entitlement(session, card, now=self.now)
        return number

    def blocked_cards(self, first: int, count: int) -> None:
        """``count`` blocked anonymous cards from serial ``first``, on the hotlist and the
        entitlements feed, in bulk (a large feed for a sync to be in the middle of)."""
        from sqlalchemy import insert, select, update

        expiry = date(2031, 12, 31)
        with Session(self.engine) as session, session.begin():
            seq = session.scalars(select(Counter.value).where(Counter.name == "feed")).one()
            cards, entries, hot = [], [], []
            for serial in range(first, first + count):
                number = card_number(serial)
                uid = b"\x04" + serial.to_bytes(6, "big")
                cards.append({"card_number": number, "uid": uid, "kind": "anonymous",
                              "status": "blocked", "profile": "adult-transferable",
                              "expiry": expiry, "applied_at": self.now, "purse_balance": 0})
                body = Entitlement(card_number=f"{number:010d}", uid=uid.hex(),
                                   status="blocked", kind="anonymous",
                                   profile="adult-transferable", expiry=expiry)
                entries.append({"card_number": number, "body": body.model_dump_json(),
                                "removed": False, "seq": seq + 1, "changed_at": self.now})
                hot.append({"card_number": number, "uid": uid, "expiry": expiry,
                            "removed": False, "seq": seq + 2, "changed_at": self.now})
                seq += 2
            session.execute(insert(Card.__table__), cards)
            session.execute(insert(EntitlementEntry.__table__), entries)
            session.execute(insert(HotlistEntry.__table__), hot)
            session.execute(update(Counter).where(Counter.name == "feed").values(value=seq))

    def _card(self, session: Session, number: int) -> Card:
        from sqlalchemy import select

        return session.scalars(select(Card).where(Card.card_number == number)).one()

    def block(self, number: int, *, reason: str = "lost") -> None:
        with Session(self.engine) as session, session.begin():
            card = self._card(session, number)
            card.status = "blocked"
            session.add(Block(card_id=card.id, reason=reason, blocked_at=self.now))
            list_blocked(session, card, now=self.now)
            refresh_entitlement(session, card, now=self.now)

    def slot(self, number: int, uid: bytes, serial: int, start: date) -> bytes:
        assert self.signer is not None
        kind = CouponType.DAYS_30
        coupon = Coupon(serial, kind, Profile.STUDENT, Zones((1, 2)), start,
                        kind.end_date(start), start, SaleChannel.ESHOP_CARD)
        return encode_slot(self.signer.sign(coupon, uid=uid, card_number=number))

    def load_action(self, number: int, serial: int, *, start: date) -> int:
        """A coupon sold (pending) and the action that loads it; returns the action's id."""
        with Session(self.engine) as session, session.begin():
            card = self._card(session, number)
            slot = self.slot(number, card.uid or bytes(7), serial, start)
            sale = CouponSale(serial=serial, card_id=card.id, state="pending",
                              channel="eshop-card", valid_from=start,
                              valid_to=start + timedelta(days=29), slot=slot, sold_at=self.now,
                              paid_at=self.now)
            session.add(sale)
            session.flush()
            action_id = self._action(session, card, ActionKind.LOAD_COUPON, coupon_id=sale.id,
                                     serial=serial, slot=slot)
            refresh_entitlement(session, card, now=self.now)
        return action_id

    def action(self, number: int, kind: ActionKind) -> int:
        with Session(self.engine) as session, session.begin():
            card = self._card(session, number)
            extra = {"amount": 500, "serial": 7} if kind is ActionKind.CREDIT_PURSE else {}
            return self._action(session, card, kind, **extra)

    def _action(self, session: Session, card: Card, kind: ActionKind, *,
                coupon_id: int | None = None, **fields) -> int:
        from ekarta.sync.messages import slot_text

        if "slot" in fields:
            fields["slot"] = slot_text(fields["slot"])
        action = Action(card_id=card.id, kind=kind.value, state="pending", coupon_id=coupon_id,
                        body="", created_at=self.now, seq=0)
        session.add(action)
        session.flush()
        action.body = ActionItem(id=action.id, card_number=f"{card.card_number:010d}",
                                 uid=None if card.uid is None else card.uid.hex(), kind=kind,
                                 **fields).model_dump_json()
        publish_action(session, action)
        return action.id

    def close_action(self, action_id: int, state: str = "cancelled") -> None:
        with Session(self.engine) as session, session.begin():
            action = session.get(Action, action_id)
            assert action is not None
            action.state = state
            publish_action(session, action)


class FaultyOffice:
    """The office's app (``self.app``, swapped by a test) behind faults the real office never
    shows: a journal endpoint that fails (503) and a feed that announces more pages without
    moving on from the cursor asked for (sealed with ``stall_key``)."""

    def __init__(self) -> None:
        self.app: Any = None
        self.fail_journal = False
        self.stall_key: Ed25519PrivateKey | None = None

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        from starlette.responses import Response

        path = scope.get("path", "")
        if scope["type"] == "http" and self.fail_journal and path == "/v1/journal":
            await Response(b'{"detail": "down"}', 503, media_type="application/json")(
                scope, receive, send)
            return
        if scope["type"] == "http" and self.stall_key is not None and \
                path.startswith("/v1/feeds/"):
            query = parse_qs(scope.get("query_string", b"").decode())
            await Response(self._stalled(Feed(path.rsplit("/", 1)[1]),
                                         int(query.get("cursor", ["0"])[0])), 200,
                           media_type="application/json")(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _stalled(self, feed: Feed, cursor: int) -> bytes:
        from datetime import UTC

        from ekarta.sync.envelope import seal

        assert self.stall_key is not None
        page = {Feed.HOTLIST: HotlistPage, Feed.ENTITLEMENTS: EntitlementPage,
                Feed.ACTIONS: ActionPage}[feed](reset=False, more=True)
        return seal(page.model_dump_json().encode(), kind=feed.value, key=self.stall_key,
                    issued_at=datetime.now(UTC), valid_for=timedelta(days=1), cursor=cursor)


@contextmanager
def served(app: Any) -> Iterator[str]:
    """``app`` served by uvicorn in a thread of this process on a free loopback port; yields
    its base URL."""
    import threading

    import uvicorn

    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the office did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
