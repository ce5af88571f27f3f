"""A small office for terminal tests: the sync API's contract (``/v1/device``, ``/v1/feeds``,
``/v1/journal``, ``/v1/actions/{id}/lease``) over in-memory feeds, served by uvicorn on
loopback.  Just enough to drive a terminal through HTTP; the office's own API is tested with
the office."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI, Header, HTTPException, Response

from ekarta.sync.envelope import seal
from ekarta.sync.messages import (
    FEED_ROLES,
    ActionItem,
    ActionPage,
    DeviceView,
    Entitlement,
    EntitlementPage,
    Feed,
    HotlistItem,
    HotlistPage,
    JournalAck,
    JournalBatch,
    JournalEvent,
    Lease,
)
from ekarta.sync.roles import DeviceRole

__all__ = ["MiniOffice", "serve"]

Item = HotlistItem | Entitlement | ActionItem


@dataclass
class MiniOffice:
    key: Ed25519PrivateKey
    devices: dict[str, DeviceView] = field(default_factory=dict)
    revoked: set[str] = field(default_factory=set)
    seq: int = 0
    feeds: dict[Feed, dict[object, tuple[int, Item | None]]] = field(
        default_factory=lambda: {feed: {} for feed in Feed})
    journal: dict[UUID, JournalEvent] = field(default_factory=dict)
    leases: dict[int, str] = field(default_factory=dict)
    fail_journal: bool = False
    stall: bool = False
    """Announce more pages without moving on."""

    def put(self, feed: Feed, item: Item) -> None:
        self.seq += 1
        key = item.id if isinstance(item, ActionItem) else item.card_number
        self.feeds[feed][key] = (self.seq, item)

    def remove(self, feed: Feed, key: object) -> None:
        self.seq += 1
        self.feeds[feed][key] = (self.seq, None)

    def page(self, feed: Feed, cursor: int, limit: int) -> bytes:
        reset = cursor == 0
        changes = sorted((seq, key, item) for key, (seq, item) in self.feeds[feed].items()
                         if seq > cursor and (item is not None or not reset))
        chunk = changes[:limit]
        items = tuple(item for _, _, item in chunk if item is not None)
        removed = tuple(key for _, key, item in chunk if item is None)
        more = len(changes) > limit or self.stall
        model = {Feed.HOTLIST: HotlistPage, Feed.ENTITLEMENTS: EntitlementPage,
                 Feed.ACTIONS: ActionPage}[feed]
        page = model(reset=reset, more=more, items=items, removed=removed)  # type: ignore[arg-type]
        last = chunk[-1][0] if chunk else max(cursor, self.seq)
        if self.stall:
            last = cursor
        return seal(page.model_dump_json().encode(), kind=feed.value, key=self.key,
                    issued_at=datetime.now(UTC), valid_for=timedelta(days=3), cursor=last)

    def app(self) -> FastAPI:
        app = FastAPI()

        def device(authorization: str | None) -> DeviceView:
            token = (authorization or "").removeprefix("Bearer ")
            if token not in self.devices or token in self.revoked:
                raise HTTPException(401, "unknown token")
            return self.devices[token]

        @app.get("/v1/device")
        def get_device(authorization: str | None = Header(None)) -> DeviceView:
            return device(authorization)

        @app.get("/v1/feeds/{feed}")
        def get_feed(feed: Feed, cursor: int = 0, limit: int = 1000,
                     authorization: str | None = Header(None)) -> Response:
            if device(authorization).role not in FEED_ROLES[feed]:
                raise HTTPException(403, "not for this role")
            return Response(self.page(feed, cursor, limit), media_type="application/json")

        @app.post("/v1/journal")
        def post_journal(batch: JournalBatch,
                         authorization: str | None = Header(None)) -> JournalAck:
            device(authorization)
            if self.fail_journal:
                raise HTTPException(503, "down")
            for event in batch.events:
                self.journal.setdefault(event.event_id, event)
            return JournalAck(acknowledged=tuple(e.event_id for e in batch.events))

        @app.post("/v1/actions/{action_id}/lease")
        def post_lease(action_id: int, authorization: str | None = Header(None)) -> Lease:
            me = device(authorization)
            if me.role is DeviceRole.VALIDATOR:
                raise HTTPException(403, "not for this role")
            if not any(k == action_id and item is not None
                       for k, (_, item) in self.feeds[Feed.ACTIONS].items()):
                raise HTTPException(404, "no such action")
            holder = self.leases.setdefault(action_id, me.name)
            if holder != me.name:
                raise HTTPException(409, "leased")
            return Lease(action_id=action_id, device=me.name,
                         until=datetime.now(UTC) + timedelta(minutes=5))

        return app


@contextmanager
def serve(office: MiniOffice) -> Iterator[str]:
    """``office`` served on a free loopback port; yields its base URL."""
    config = uvicorn.Config(office.app(), host="127.0.0.1", port=0, log_level="warning",
                            lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test office did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
