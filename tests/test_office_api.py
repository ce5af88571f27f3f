"""The office's HTTP API on both databases, through FastAPI's test client: who may call what,
the feeds' pages (deltas, snapshots, the floor), the journal (idempotent, with its effects),
leases, and what a terminal's token never sees."""

from __future__ import annotations

import base64
import json
import re
import shutil
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ekarta.backoffice.api import BODY_MAX, create_app
from ekarta.backoffice.database import open_engine
from ekarta.backoffice.feeds import _hotlist_item, prune, read_feed
from ekarta.backoffice.schema import (
    Action,
    Block,
    Card,
    CardCoupon,
    CouponSale,
    EntitlementEntry,
    HotlistEntry,
    JournalEntry,
)
from ekarta.backoffice.store import add_device, migrate, revoke_device
from ekarta.sync.envelope import envelope_key, open_envelope, verify_keys
from ekarta.sync.messages import (
    ActionKind,
    ActionPage,
    EntitlementPage,
    Feed,
    HotlistItem,
    HotlistPage,
    JournalAck,
)
from ekarta.sync.roles import DeviceRole
from ekarta.transit.model.values import Reason
from ekarta.transit.security.signing import CouponSigner
from tests.support.office import Seed, card_number

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
UID = bytes.fromhex("04a1b2c3d4e5f6")
SIGNER = CouponSigner.generate()
KEY = envelope_key(SIGNER)
HOLDER = ("Xaverína", "Quendlová")
"""A holder whose names no terminal may ever see."""
PAGES = {Feed.HOTLIST: HotlistPage, Feed.ENTITLEMENTS: EntitlementPage,
         Feed.ACTIONS: ActionPage}


class Office:
    """The app on a fresh database, a device of each role (and a revoked one), a clock."""

    def __init__(self, database: str, template: Path | None = None) -> None:
        if template is not None and "://" not in database:
            shutil.copyfile(template, database)  # a migrated SQLite file: 50 times faster
        self.engine = open_engine(database)
        migrate(self.engine)
        self.now = NOW
        self.tokens = {role: add_device(self.engine, f"{role} 1", role, now=NOW)
                       for role in DeviceRole}
        self.second_kiosk = add_device(self.engine, "kiosk 2", DeviceRole.KIOSK, now=NOW)
        self.revoked = add_device(self.engine, "old bus", DeviceRole.VALIDATOR, now=NOW)
        revoke_device(self.engine, "old bus", now=NOW)
        self.app = create_app(self.engine, envelope_key=KEY, signer=SIGNER,
                              clock=lambda: self.now)
        self.client = TestClient(self.app)
        self.seed = Seed(self.engine, NOW, SIGNER)
        self.last: dict[str, datetime] = {}

    def call(self, method: str, path: str, token: str | None, **options):
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return self.client.request(method, path, headers=headers, **options)

    def page(self, feed: Feed, role: DeviceRole = DeviceRole.INSPECTOR, *, cursor: int = 0,
             limit: int | None = None):
        """The feed's page, opened as a terminal opens it: (page, envelope cursor)."""
        params = {"cursor": cursor} | ({} if limit is None else {"limit": limit})
        response = self.call("GET", f"/v1/feeds/{feed}", self.tokens[role], params=params)
        assert response.status_code == 200, response.text
        envelope = open_envelope(response.content, key=verify_keys(SIGNER.verifier),
                                 kind=feed.value, now=self.now)
        return PAGES[feed].model_validate_json(envelope.payload), envelope.cursor

    def journal(self, token: str, *events: dict):
        return self.call("POST", "/v1/journal", token, json={"events": list(events)})

    def count(self, table) -> int:
        with Session(self.engine) as session:
            return session.scalar(select(func.count()).select_from(table)) or 0


@pytest.fixture(scope="module")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("template") / "office.db"
    engine = open_engine(str(path))
    migrate(engine)
    engine.dispose()
    return path


@pytest.fixture
def office(database, sqlite_template):
    office = Office(database, sqlite_template)
    yield office
    office.client.close()
    office.engine.dispose()


def event(kind: str = "validation", **fields) -> dict:
    return {"event_id": str(uuid.uuid4()), "kind": kind, "at": NOW.isoformat()} | fields


# --- who may call what ---------------------------------------------------------------------------

OFFICE_ENDPOINTS = [
    ("GET", f"/v1/cards/{card_number(1):010d}", None),
    ("POST", f"/v1/cards/{card_number(1):010d}/block", {"reason": "lost"}),
    ("POST", f"/v1/cards/{card_number(1):010d}/profile", {"end_profile": True}),
    ("POST", "/v1/coupons", {"card_number": f"{card_number(1):010d}", "type": "30-day",
                             "zones": [1, 2], "channel": "eshop-card"}),
    ("POST", "/v1/coupons/1/pay", None),
]
"""What only an office workplace reaches: holder data, sales, blocks."""

ENDPOINTS = [
    ("GET", "/v1/device", None),
    ("GET", "/v1/feeds/hotlist", None),
    ("GET", "/v1/feeds/entitlements", None),
    ("GET", "/v1/feeds/actions", None),
    ("POST", "/v1/journal", {"events": [event()]}),
    ("POST", "/v1/actions/1/lease", None),
    *OFFICE_ENDPOINTS,
]


def test_every_endpoint_refuses_a_missing_unknown_or_revoked_token(office):
    for method, path, body in ENDPOINTS:
        for token in (None, "not-a-token", office.revoked):
            response = office.call(method, path, token, json=body)
            assert response.status_code == 401, (path, token, response.text)
            assert response.headers["www-authenticate"] == "Bearer"
        response = office.client.request(method, path, json=body, headers={
            "Authorization": f"Basic {office.tokens['office']}"})
        assert response.status_code == 401


def test_the_endpoints_checked_are_every_endpoint_served(office):
    served = office.client.get("/openapi.json").json()["paths"]
    for template, operations in served.items():
        pattern = re.compile(re.sub(r"\\{[a-z_]+\\}", "[^/]+", re.escape(template)) + "$")
        for method in operations:
            assert any(m == method.upper() and pattern.match(p) for m, p, _ in ENDPOINTS), \
                (method, template)


def test_a_validator_reaches_no_actions(office):
    number = office.seed.card(1)
    office.seed.action(number, ActionKind.UPDATE_PROFILE)
    for method, path in [("GET", "/v1/feeds/actions"), ("POST", "/v1/actions/1/lease")]:
        response = office.call(method, path, office.tokens[DeviceRole.VALIDATOR])
        assert response.status_code == 403 and "validator" in response.json()["detail"]


def test_only_an_office_token_reaches_holders_sales_and_blocks(office):
    number = office.seed.card(1, holder=HOLDER, uid=UID)
    office.seed.load_action(number, 1, start=NOW.date())
    for method, path, body in OFFICE_ENDPOINTS:
        for role in (DeviceRole.VALIDATOR, DeviceRole.INSPECTOR, DeviceRole.KIOSK):
            response = office.call(method, path, office.tokens[role], json=body)
            assert response.status_code == 403, (path, role, response.text)
            assert role.value in response.json()["detail"]
    with Session(office.engine) as session:  # nothing was sold, blocked or changed
        assert session.scalars(select(CouponSale.serial)).all() == [1]
        assert session.scalars(select(Block)).all() == []
        assert session.scalars(select(Card.profile)).all() == ["student"]


@pytest.mark.slow
def test_the_device_is_told_who_it_is(office):
    for role, token in office.tokens.items():
        assert office.call("GET", "/v1/device", token).json() == {"name": f"{role} 1",
                                                                  "role": role.value}


def test_no_terminal_response_holds_holder_data(office):
    number = office.seed.card(1, holder=HOLDER, uid=UID)
    office.seed.load_action(number, 11, start=NOW.date())
    office.seed.block(office.seed.card(2, holder=("Ignác", "Zrzavý"), uid=bytes(range(1, 8))))
    office.seed.action(number, ActionKind.UPDATE_PROFILE)
    for role in (DeviceRole.VALIDATOR, DeviceRole.INSPECTOR, DeviceRole.KIOSK):
        token = office.tokens[role]
        bodies = [office.journal(token, event(card_number=f"{number:010d}")).content]
        for method, path, body in ENDPOINTS:  # every endpoint there is (see below)
            response = office.call(method, path, token, json=body)
            bodies.append(response.content)  # a feed's envelope holds its page as it is
        seen = b"\n".join(bodies).decode(errors="replace")  # an envelope begins with its signature
        assert f"{number:010d}" in seen or role is DeviceRole.VALIDATOR
        for secret in (*HOLDER, "Ignác", "Zrzavý", "2004-02-29", "example.cz"):
            assert secret not in seen, (role, secret)


# --- feeds ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_hotlist_item_is_written_as_the_message_says():
    for uid in (None, UID):
        written = _hotlist_item(1234567894, uid, date(2030, 1, 31))
        assert json.loads(written) == json.loads(HotlistItem(
            card_number="1234567894", uid=None if uid is None else uid.hex(),
            expiry=date(2030, 1, 31)).model_dump_json())


def test_feeds_come_as_snapshots_then_deltas_in_pages(office):
    numbers = [office.seed.card(serial, uid=bytes([serial] * 7)) for serial in range(1, 6)]
    for number in numbers:
        office.seed.block(number)
    page, cursor = office.page(Feed.HOTLIST, limit=2)
    assert page.reset and page.more and len(page.items) == 2
    held = [item.card_number for item in page.items]
    while page.more:
        page, cursor = office.page(Feed.HOTLIST, cursor=cursor, limit=2)
        assert not page.reset
        held += [item.card_number for item in page.items]
    assert held == [f"{n:010d}" for n in numbers]
    assert office.page(Feed.HOTLIST, cursor=cursor) == (
        HotlistPage(reset=False, more=False), cursor)

    with Session(office.engine) as session, session.begin():
        from ekarta.backoffice.feeds import unlist_blocked
        unlist_blocked(session, numbers[1], now=NOW)
    office.seed.block(office.seed.card(9))
    delta, after = office.page(Feed.HOTLIST, cursor=cursor)
    assert delta.removed == (f"{numbers[1]:010d}",) and len(delta.items) == 1 and after > cursor

    entitlements, _ = office.page(Feed.ENTITLEMENTS, role=DeviceRole.VALIDATOR)
    assert [e.card_number for e in entitlements.items] == [f"{n:010d}" for n in
                                                           (*numbers, card_number(9))]
    by_number = {e.card_number: e for e in entitlements.items}
    assert by_number[f"{numbers[0]:010d}"].status == "blocked"


@pytest.mark.slow
def test_a_cursor_below_the_floor_gets_a_snapshot(office):
    numbers = [office.seed.card(serial) for serial in range(1, 4)]
    for number in numbers:
        office.seed.block(number)
    _, cursor = office.page(Feed.HOTLIST)
    with Session(office.engine) as session, session.begin():
        from ekarta.backoffice.feeds import unlist_blocked
        unlist_blocked(session, numbers[0], now=NOW)
    with Session(office.engine) as session, session.begin():
        assert prune(session, NOW + timedelta(days=29)) == 0
        assert prune(session, NOW + timedelta(days=31)) == 1
    assert office.count(HotlistEntry) == 2
    page, after = office.page(Feed.HOTLIST, cursor=cursor)
    assert page.reset and {i.card_number for i in page.items} == {f"{n:010d}" for n in
                                                                 numbers[1:]}
    assert page.removed == () and after > cursor
    assert not office.page(Feed.HOTLIST, cursor=after)[0].reset


@pytest.mark.slow
def test_the_actions_feed_lists_pending_actions_and_drops_closed_ones(office):
    number = office.seed.card(1, uid=UID)
    load = office.seed.load_action(number, 21, start=NOW.date())
    profile = office.seed.action(number, ActionKind.UPDATE_PROFILE)
    page, cursor = office.page(Feed.ACTIONS, role=DeviceRole.KIOSK)
    assert page.reset and [(a.id, a.kind) for a in page.items] == [
        (load, ActionKind.LOAD_COUPON), (profile, ActionKind.UPDATE_PROFILE)]
    assert page.items[0].slot is not None and page.items[0].serial == 21
    office.seed.close_action(profile)
    delta, _ = office.page(Feed.ACTIONS, role=DeviceRole.KIOSK, cursor=cursor)
    assert delta.items == () and delta.removed == (profile,)
    snapshot, _ = office.page(Feed.ACTIONS, role=DeviceRole.OFFICE)
    assert [a.id for a in snapshot.items] == [load] and snapshot.removed == ()


@pytest.mark.slow
def test_the_actions_feed_holds_only_the_kinds_of_the_role(office, monkeypatch):
    number = office.seed.card(1)
    office.seed.action(number, ActionKind.UPDATE_PROFILE)
    credit = office.seed.action(number, ActionKind.CREDIT_PURSE)
    from ekarta.sync import messages
    monkeypatch.setitem(messages.ROLE_ACTIONS, DeviceRole.INSPECTOR,
                        frozenset({ActionKind.CREDIT_PURSE}))
    with Session(office.engine) as session:
        page = read_feed(session, Feed.ACTIONS, cursor=0, role=DeviceRole.INSPECTOR)
    assert [a.id for a in ActionPage.model_validate_json(page.payload).items] == [credit]


@pytest.mark.slow
def test_a_bad_page_request_is_422(office):
    for query in ["cursor=-1", "limit=0", "limit=50001", "cursor=x", f"cursor={2**63}"]:
        response = office.call("GET", f"/v1/feeds/hotlist?{query}", office.tokens["validator"])
        assert response.status_code == 422, query
    assert office.call("GET", "/v1/feeds/lists", office.tokens["validator"]).status_code == 422


# --- the journal ---------------------------------------------------------------------------------


def test_a_resent_batch_is_acknowledged_again_and_stored_once(office):
    token = office.tokens[DeviceRole.VALIDATOR]
    events = [event(card_number="1234567894", line=7, vehicle=1017, zone=1) for _ in range(5)]
    first = office.journal(token, *events, events[0])
    assert first.status_code == 200
    ack = JournalAck.model_validate_json(first.content)
    assert [str(e) for e in ack.acknowledged] == [e["event_id"] for e in events]
    office.now += timedelta(minutes=5)
    again = office.journal(token, *reversed(events))
    assert set(JournalAck.model_validate_json(again.content).acknowledged) == \
        set(ack.acknowledged)
    assert office.count(JournalEntry) == 5
    with Session(office.engine) as session:
        received = session.scalars(select(JournalEntry.received_at)).all()
    assert set(received) == {NOW}


@pytest.mark.slow
def test_a_reported_load_closes_its_action_and_writes_the_coupon(office):
    number = office.seed.card(1, uid=UID)
    action = office.seed.load_action(number, 31, start=NOW.date())
    _, cursor = office.page(Feed.ACTIONS, role=DeviceRole.KIOSK)
    load = event("load", card_number=f"{number:010d}", action_id=action, coupon_serial=31)
    assert office.journal(office.tokens["kiosk"], load).status_code == 200
    with Session(office.engine) as session:
        done = session.get(Action, action)
        sale = session.scalars(select(CouponSale)).one()
        assert (done.state, sale.state, sale.written_at) == ("done", "written", NOW)
    delta, _ = office.page(Feed.ACTIONS, role=DeviceRole.KIOSK, cursor=cursor)
    assert delta.removed == (action,)
    entitlements, _ = office.page(Feed.ENTITLEMENTS)
    assert [c.state for c in entitlements.items[0].coupons] == ["written"]
    # the same report again, or another terminal's, changes nothing
    seq = _seq(office, action)
    office.journal(office.tokens["kiosk"], load)
    office.journal(office.tokens["inspector"], load | {"event_id": str(uuid.uuid4())})
    assert _seq(office, action) == seq


def _seq(office, action_id):
    with Session(office.engine) as session:
        return session.get(Action, action_id).seq


@pytest.mark.slow
def test_a_report_for_another_card_or_kind_leaves_the_action(office):
    number = office.seed.card(1, uid=UID)
    other = office.seed.card(2)
    action = office.seed.load_action(number, 41, start=NOW.date())
    office.journal(office.tokens["kiosk"],
                   event("load", card_number=f"{other:010d}", action_id=action),
                   event("purse-credit", card_number=f"{number:010d}", action_id=action),
                   event("load", card_number=f"{number:010d}", action_id=action, result=5),
                   event("validation", card_number=f"{number:010d}", action_id=action))
    with Session(office.engine) as session:
        assert session.get(Action, action).state == "pending"


@pytest.mark.slow
def test_a_blocking_written_onto_the_card_takes_it_off_the_hotlist(office):
    number = office.seed.card(1, uid=UID)
    office.seed.block(number)
    page, cursor = office.page(Feed.HOTLIST)
    assert [i.card_number for i in page.items] == [f"{number:010d}"]
    office.now += timedelta(hours=1)
    office.journal(office.tokens["validator"], event("blocking", card_number=f"{number:010d}",
                                                     at=office.now.isoformat()))
    delta, _ = office.page(Feed.HOTLIST, cursor=cursor)
    assert delta.removed == (f"{number:010d}",)
    with Session(office.engine) as session:
        assert session.scalars(select(Block.written_at)).one() == NOW + timedelta(hours=1)


@pytest.mark.slow
def test_the_coupons_read_from_a_card_replace_what_the_office_knew(office):
    number = office.seed.card(1, uid=UID)
    slots = [office.seed.slot(number, UID, serial, NOW.date()) for serial in (51, 52)]
    text_of = [base64.b64encode(s).decode() for s in slots]
    empty = base64.b64encode(bytes(len(slots[0]))).decode()
    card = f"{number:010d}"
    office.journal(office.tokens["inspector"],
                   event("inspection", card_number=card, coupons=[*text_of, empty]))
    assert _card_coupons(office) == {51, 52}
    later = (NOW + timedelta(hours=1)).isoformat()
    office.journal(office.tokens["kiosk"], event("kiosk-view", card_number=card, at=later,
                                                 coupons=[text_of[1], "AAAA"]))
    assert _card_coupons(office) == {52}
    # an older reading reported late changes nothing
    office.journal(office.tokens["inspector"],
                   event("inspection", card_number=card, coupons=text_of))
    assert _card_coupons(office) == {52}
    # nor after a reading of a card that held none
    emptied = (NOW + timedelta(minutes=90)).isoformat()
    office.journal(office.tokens["kiosk"], event("kiosk-view", card_number=card, at=emptied,
                                                 coupons=[empty]))
    assert _card_coupons(office) == set()
    office.journal(office.tokens["inspector"],
                   event("inspection", card_number=card, coupons=text_of))
    assert _card_coupons(office) == set()
    # a coupon signed for another card, or not by the operator, is no coupon of this card
    other = office.seed.card(2, uid=bytes.fromhex("04000000000002"))
    stolen = office.seed.slot(other, bytes.fromhex("04000000000002"), 53, NOW.date())
    forged = slots[0][:-64] + bytes(64)
    latest = (NOW + timedelta(hours=2)).isoformat()
    office.journal(office.tokens["kiosk"], event(
        "kiosk-view", card_number=card, at=latest,
        coupons=[text_of[1], *(base64.b64encode(s).decode() for s in (stolen, forged))]))
    assert _card_coupons(office) == {52}
    # a check that refused the card (here: no coupon valid now) read its slots all the same
    refused = (NOW + timedelta(hours=3)).isoformat()
    office.journal(office.tokens["inspector"], event(
        "inspection", card_number=card, at=refused, result=int(Reason.NO_COUPON),
        coupons=[text_of[0], empty]))
    assert _card_coupons(office) == {51}


def _card_coupons(office) -> set[int]:
    with Session(office.engine) as session:
        return set(session.scalars(select(CardCoupon.serial)))


MALFORMED = [
    {"at": "2026-12-01T09:00:00"},  # no time zone
    {"at": "0001-01-01T00:00:00+05:00"},  # before the first instant in UTC
    {"note": "fine\u0000 42"},
    {"action_id": 2**31},
    {"card_number": "1234567890"},  # a wrong check digit
    {"kind": "teleport"},
    {"extra": 1},
    {"coupons": ["not base64!"]},
]


def test_a_malformed_event_is_refused_and_nothing_is_stored(office):
    for change in MALFORMED:
        response = office.journal(office.tokens["validator"], event(), event() | change)
        assert response.status_code == 422, (change, response.text)
        # every 422 has FastAPI's documented shape, whichever check refused the request
        assert isinstance(response.json()["detail"], list), (change, response.text)
    assert office.count(JournalEntry) == 0


@pytest.mark.slow
def test_bodies_are_limited(office):
    token = office.tokens["validator"]
    big = b'{"events": [' + b" " * BODY_MAX + b"]}"
    assert office.call("POST", "/v1/journal", token, content=big).status_code == 413
    assert office.call("POST", "/v1/journal", token, content=b"{not json").status_code == 422
    assert office.call("POST", "/v1/journal", token, json={"events": []}).status_code == 422

    def chunks():
        yield b'{"events": ['
        for _ in range(BODY_MAX // 65536 + 1):
            yield b" " * 65536
    assert office.call("POST", "/v1/journal", token, content=chunks()).status_code == 413


# --- leases --------------------------------------------------------------------------------------


def test_an_action_is_leased_to_one_device_at_a_time(office):
    number = office.seed.card(1, uid=UID)
    action = office.seed.load_action(number, 61, start=NOW.date())
    path = f"/v1/actions/{action}/lease"
    first = office.call("POST", path, office.tokens["kiosk"])
    assert first.status_code == 200
    assert first.json() == {"action_id": action, "device": "kiosk 1",
                            "until": (NOW + timedelta(minutes=5)).isoformat().replace("+00:00",
                                                                                     "Z"),
                            "contested": False}
    refused = office.call("POST", path, office.second_kiosk)
    assert refused.status_code == 409
    office.now += timedelta(minutes=3)
    renewed = office.call("POST", path, office.tokens["kiosk"])
    assert renewed.status_code == 200 and renewed.json()["contested"] is False
    office.now += timedelta(minutes=4)
    assert office.call("POST", path, office.second_kiosk).status_code == 409
    office.now += timedelta(minutes=2)
    taken = office.call("POST", path, office.second_kiosk)
    assert taken.status_code == 200 and taken.json()["device"] == "kiosk 2"
    # kiosk 1 let its lease run out without reporting: it may have loaded the coupon
    assert taken.json()["contested"] is True
    assert office.call("POST", path, office.tokens["kiosk"]).status_code == 409
    office.now += timedelta(minutes=1)
    assert office.call("POST", path, office.second_kiosk).json()["contested"] is True

    office.journal(office.second_kiosk, event("load", card_number=f"{number:010d}",
                                              action_id=action))
    assert office.call("POST", path, office.tokens["kiosk"]).status_code == 410
    assert office.call("POST", "/v1/actions/999999/lease", office.tokens["kiosk"]).status_code \
        == 404
    assert office.call("POST", f"/v1/actions/{2**31}/lease",
                       office.tokens["kiosk"]).status_code == 422
    cancelled = office.seed.action(number, ActionKind.UPDATE_PROFILE)
    office.seed.close_action(cancelled)
    assert office.call("POST", f"/v1/actions/{cancelled}/lease",
                       office.tokens["inspector"]).status_code == 410


def test_a_lease_run_out_stays_contested_until_the_action_is_reported(office):
    number = office.seed.card(1, uid=UID)
    credit = office.seed.action(number, ActionKind.CREDIT_PURSE)
    path = f"/v1/actions/{credit}/lease"
    assert office.call("POST", path, office.tokens["kiosk"]).json()["contested"] is False
    office.now += timedelta(minutes=6)
    # its own lease run out is no contest: the device knows what it did
    assert office.call("POST", path, office.tokens["kiosk"]).json()["contested"] is False
    office.now += timedelta(minutes=6)
    assert office.call("POST", path, office.tokens["inspector"]).json()["contested"] is True
    office.now += timedelta(minutes=6)
    # back with the first holder, and with every later one: no lease settles it
    assert office.call("POST", path, office.tokens["kiosk"]).json()["contested"] is True
    office.now += timedelta(minutes=6)
    assert office.call("POST", path, office.second_kiosk).json()["contested"] is True
    office.journal(office.tokens["kiosk"], event("purse-credit", card_number=f"{number:010d}",
                                                 action_id=credit, amount=100))
    assert office.call("POST", path, office.second_kiosk).status_code == 410


@pytest.mark.slow
def test_a_role_that_does_not_perform_the_kind_is_refused_its_lease(office, monkeypatch):
    number = office.seed.card(1)
    action = office.seed.action(number, ActionKind.CREDIT_PURSE)
    from ekarta.sync import messages
    monkeypatch.setitem(messages.ROLE_ACTIONS, DeviceRole.INSPECTOR,
                        frozenset({ActionKind.UPDATE_PROFILE}))
    response = office.call("POST", f"/v1/actions/{action}/lease", office.tokens["inspector"])
    assert response.status_code == 403


# --- the office's workplaces ---------------------------------------------------------------------


def sale(number: int, **fields) -> dict:
    return {"card_number": f"{number:010d}", "type": "30-day", "zones": [1, 2],
            "channel": "eshop-card"} | fields


@pytest.mark.slow
def test_an_office_token_sees_the_card_with_its_holder_blocks_and_coupons(office):
    number = office.seed.card(1, holder=HOLDER, uid=UID)
    load = office.seed.load_action(number, 1, start=NOW.date())
    office.seed.block(number, reason="stolen")
    assert office.call("POST", f"/v1/actions/{load}/lease",
                       office.tokens["kiosk"]).status_code == 200
    response = office.call("GET", f"/v1/cards/{number:010d}", office.tokens["office"])
    assert response.status_code == 200, response.text
    card = response.json()
    assert (card["status"], card["uid"], card["profile"]) == ("blocked", UID.hex(), "student")
    assert (card["holder"]["first_name"], card["holder"]["surname"]) == HOLDER
    assert card["holder"]["birth_date"] == "2004-02-29"
    assert [b["reason"] for b in card["blocks"]] == ["stolen"]
    assert [(c["serial"], c["state"], c["type"], c["zones"]) for c in card["coupons"]] == [
        (1, "pending", "30-day", [1, 2])]
    # what waits for the chip, and who leased it
    [waiting] = card["actions"]
    assert (waiting["id"], waiting["kind"], waiting["serial"], waiting["leased_to"],
            waiting["contested"]) == (load, "load-coupon", 1, "kiosk 1", False)
    assert waiting["lease_until"] == (NOW + timedelta(minutes=5)).isoformat().replace(
        "+00:00", "Z")
    anonymous = office.seed.card(2)
    assert office.call("GET", f"/v1/cards/{anonymous:010d}",
                       office.tokens["office"]).json()["holder"] is None


def test_a_coupon_sold_by_the_office_reaches_the_entitlements(office):
    number = office.seed.card(1, holder=HOLDER, uid=UID)
    _, cursor = office.page(Feed.ENTITLEMENTS, role=DeviceRole.VALIDATOR)
    response = office.call("POST", "/v1/coupons", office.tokens["office"],
                           json=sale(number, price=550))
    assert response.status_code == 200, response.text
    sold = response.json()["coupon"]
    assert (sold["state"], sold["paid"], sold["profile"], sold["price"]) == (
        "pending", True, "student", 550)
    assert (sold["valid_from"], sold["valid_to"]) == ("2026-12-01", "2026-12-30")
    delta, _ = office.page(Feed.ENTITLEMENTS, role=DeviceRole.VALIDATOR, cursor=cursor)
    assert [c.serial for c in delta.items[0].coupons] == [sold["serial"]]
    actions, _ = office.page(Feed.ACTIONS, role=DeviceRole.KIOSK)
    assert [(a.kind, a.serial) for a in actions.items] == [(ActionKind.LOAD_COUPON,
                                                            sold["serial"])]


@pytest.mark.slow
def test_a_bank_transfer_order_waits_for_its_payment(office):
    number = office.seed.card(1, uid=UID)
    response = office.call("POST", "/v1/coupons", office.tokens["office"],
                           json=sale(number, type="transferable-30-day", zones="network",
                                     channel="eshop-bank-transfer"))
    assert response.status_code == 200, response.text
    order = response.json()
    assert not order["coupon"]["paid"] and order["coupon"]["zones"] == "network"
    assert order["notes_en"] and order["notes_cs"]
    assert office.page(Feed.ACTIONS, role=DeviceRole.KIOSK)[0].items == ()
    serial = order["coupon"]["serial"]
    paid = office.call("POST", f"/v1/coupons/{serial}/pay", office.tokens["office"])
    assert paid.status_code == 200 and paid.json()["paid"]
    assert [a.serial for a in office.page(Feed.ACTIONS, role=DeviceRole.KIOSK)[0].items] == [
        serial]
    assert office.call("POST", "/v1/coupons/999/pay", office.tokens["office"]).status_code \
        == 404


@pytest.mark.slow
def test_a_refused_sale_names_the_reason_codes_of_a_terminal(office):
    number = office.seed.card(1, holder=HOLDER, uid=UID)
    response = office.call("POST", "/v1/coupons", office.tokens["office"],
                           json=sale(number, type="transferable-yearly", start="2026-11-30"))
    assert response.status_code == 409, response.text
    refusal = response.json()
    assert [(r["reason"], r["code"]) for r in refusal["refusals"]] == [
        ("transferable-only-anonymous", 33), ("start-in-past", 35)]
    assert refusal["refusals"][0]["message_cs"].startswith("Přenosný kupon")
    assert "transferable-only-anonymous" in refusal["detail"]
    assert office.count(CouponSale) == 0


@pytest.mark.slow
def test_blocking_puts_the_card_on_the_hotlist(office):
    number = office.seed.card(1, holder=HOLDER, uid=UID)
    _, cursor = office.page(Feed.HOTLIST)
    path = f"/v1/cards/{number:010d}/block"
    response = office.call("POST", path, office.tokens["office"], json={"reason": "lost"})
    assert response.status_code == 200, response.text
    card = response.json()
    assert card["status"] == "blocked" and [b["reason"] for b in card["blocks"]] == ["lost"]
    delta, after = office.page(Feed.HOTLIST, cursor=cursor)
    assert [i.card_number for i in delta.items] == [f"{number:010d}"]
    again = office.call("POST", path, office.tokens["office"], json={"reason": "stolen"})
    assert again.status_code == 200 and len(again.json()["blocks"]) == 1
    assert office.page(Feed.HOTLIST, cursor=after)[0].items == ()
    refused = office.call("POST", "/v1/coupons", office.tokens["office"], json=sale(number))
    assert [r["code"] for r in refused.json()["refusals"]] == [7]


@pytest.mark.slow
def test_a_profile_change_reaches_the_lists_and_the_actions(office):
    number = office.seed.card(1, holder=HOLDER, uid=UID)  # a student born in 2004
    _, entitlements = office.page(Feed.ENTITLEMENTS)
    _, actions = office.page(Feed.ACTIONS)
    path = f"/v1/cards/{number:010d}/profile"
    response = office.call("POST", path, office.tokens["office"],
                           json={"profile_end": "2027-08-31"})
    assert response.status_code == 200, response.text
    assert (response.json()["profile"], response.json()["profile_end"]) == ("student",
                                                                            "2027-08-31")
    [held] = office.page(Feed.ENTITLEMENTS, cursor=entitlements)[0].items
    assert held.profile_end == date(2027, 8, 31)
    [item] = office.page(Feed.ACTIONS, cursor=actions)[0].items
    assert (item.kind, item.profile, item.profile_end) == (ActionKind.UPDATE_PROFILE, "student",
                                                           date(2027, 8, 31))
    refused = office.call("POST", path, office.tokens["office"], json={"profile": "senior"})
    assert refused.status_code == 409
    assert [r["code"] for r in refused.json()["refusals"]] == [int(Reason.AGE_NOT_ELIGIBLE)]


BAD_OFFICE_REQUESTS = [
    ("POST", "/v1/cards/0000000013/profile", {"profile": "wizard"}, 422),
    ("POST", "/v1/cards/0000000013/profile", {}, 422),
    ("POST", "/v1/cards/0000000013/profile", {"profile": "student", "end_profile": True}, 422),
    ("POST", "/v1/cards/0000000013/profile", {"profile_end": "1999-12-31"}, 422),
    ("POST", "/v1/cards/0000000013/profile", {"end_profile": True, "extra": 1}, 422),
    ("POST", "/v1/cards/0000000021/profile", {"end_profile": True}, 404),
    ("GET", "/v1/cards/0000000021", None, 404),
    ("GET", "/v1/cards/0000000020", None, 422),  # a wrong check digit
    ("GET", "/v1/cards/12", None, 422),
    ("POST", "/v1/cards/0000000013/block", {"reason": "expired"}, 422),
    ("POST", "/v1/cards/0000000013/block", {}, 422),
    ("POST", "/v1/coupons", sale(card_number(9)), 404),
    ("POST", "/v1/coupons", sale(card_number(1), type="weekly"), 422),
    ("POST", "/v1/coupons", sale(card_number(1), type=1), 422),
    ("POST", "/v1/coupons", sale(card_number(1), zones=[]), 422),
    ("POST", "/v1/coupons", sale(card_number(1), zones=[0]), 422),
    ("POST", "/v1/coupons", sale(card_number(1), channel="post"), 422),
    ("POST", "/v1/coupons", sale(card_number(1), start="1999-12-31"), 422),
    ("POST", "/v1/coupons", sale(card_number(1), type="yearly", start="2179-06-01"), 422),
    ("POST", "/v1/coupons", sale(card_number(1), price=-1), 422),
    ("POST", "/v1/coupons", sale(card_number(1), extra=1), 422),
    ("POST", "/v1/coupons/0/pay", None, 422),
    ("POST", f"/v1/coupons/{2**32}/pay", None, 422),
]


@pytest.mark.slow
def test_an_office_request_the_office_cannot_do_is_4xx(office):
    office.seed.card(1, holder=HOLDER, uid=UID)
    for method, path, body, status in BAD_OFFICE_REQUESTS:
        response = office.call(method, path, office.tokens["office"], json=body)
        assert response.status_code == status, (path, body, response.text)
        detail = response.json()["detail"]
        assert isinstance(detail, str if status == 404 else list), detail
    assert office.count(CouponSale) == 0 and office.count(Block) == 0
    assert office.count(Action) == 0


@pytest.mark.slow
def test_an_office_without_the_signing_key_sells_nothing(office):
    office.seed.card(1, uid=UID)
    with TestClient(create_app(office.engine, envelope_key=KEY)) as client:
        response = client.post("/v1/coupons", json=sale(card_number(1)),
                               headers={"Authorization": f"Bearer {office.tokens['office']}"})
    assert response.status_code == 503 and office.count(CouponSale) == 0


# --- the schema ----------------------------------------------------------------------------------


@pytest.mark.slow
def test_the_openapi_schema_names_every_message(office):
    schema = office.client.get("/openapi.json").json()
    paths = schema["paths"]

    def ok(path, method):
        content = paths[path][method]["responses"]["200"]["content"]["application/json"]
        return content["schema"]["$ref"].rsplit("/", 1)[1]

    assert ok("/v1/device", "get") == "DeviceView"
    envelope = paths["/v1/feeds/{feed}"]["get"]["responses"]["200"]["content"]
    assert envelope == {"application/octet-stream": {"schema": {"type": "string",
                                                                "format": "binary"}}}
    assert ok("/v1/journal", "post") == "JournalAck"
    assert ok("/v1/actions/{action_id}/lease", "post") == "Lease"
    assert set(paths["/v1/actions/{action_id}/lease"]["post"]["responses"]) >= \
        {"200", "401", "403", "404", "409", "410", "422"}
    assert ok("/v1/cards/{card_number}", "get") == "CardView"
    assert ok("/v1/cards/{card_number}/block", "post") == "CardView"
    assert ok("/v1/cards/{card_number}/profile", "post") == "CardView"
    assert ok("/v1/coupons", "post") == "SaleView"
    assert ok("/v1/coupons/{serial}/pay", "post") == "CouponView"
    refusal = paths["/v1/coupons"]["post"]["responses"]["409"]["content"]["application/json"]
    assert refusal["schema"]["$ref"].endswith("/OperationRefusal")
    for path, method in [("/v1/cards/{card_number}", "get"), ("/v1/coupons", "post"),
                         ("/v1/cards/{card_number}/block", "post"),
                         ("/v1/cards/{card_number}/profile", "post"),
                         ("/v1/coupons/{serial}/pay", "post")]:
        assert set(paths[path][method]["responses"]) >= {"200", "401", "403", "404", "422"}
        assert paths[path][method]["tags"] == ["office"]
    assert "HTTPBearer" in schema["components"]["securitySchemes"]


@pytest.mark.slow
def test_an_unavailable_database_is_503(tmp_path):
    engine = open_engine(str(tmp_path / "office.db"))
    migrate(engine)
    token = add_device(engine, "bus", DeviceRole.VALIDATOR, now=NOW)
    client = TestClient(create_app(engine, envelope_key=KEY))
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE hotlist"))
    response = client.get("/v1/feeds/hotlist", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503 and response.headers["retry-after"]
    engine.dispose()


@pytest.mark.slow
def test_entitlement_bodies_pass_through_unchanged(office):
    number = office.seed.card(1, uid=UID)
    office.seed.load_action(number, 71, start=NOW.date())
    with Session(office.engine) as session:
        body = session.scalars(select(EntitlementEntry.body)).one()
    page, _ = office.page(Feed.ENTITLEMENTS)
    assert page.items[0].model_dump_json() == body


# --- the envelope's key, the daily jobs ----------------------------------------------------------


@pytest.mark.slow
def test_an_envelope_is_signed_with_the_operator_key_and_opened_with_any_of_its_keys():
    from ekarta.sync.envelope import EnvelopeKeyError, EnvelopeTampered, seal
    from ekarta.transit.security.signing import CouponVerifier

    sealed = seal(b"{}", kind="hotlist", key=KEY, issued_at=NOW, valid_for=timedelta(days=1),
                  cursor=3)
    KEY.public_key().verify(sealed[:64], sealed[64:])  # the operator's key signed it
    older = CouponSigner.generate()
    both = CouponVerifier.from_pem(*older.verifier.to_pem(), *SIGNER.verifier.to_pem())
    assert open_envelope(sealed, key=verify_keys(both), kind="hotlist", now=NOW).cursor == 3
    with pytest.raises(EnvelopeTampered):
        open_envelope(sealed, key=verify_keys(older.verifier), kind="hotlist", now=NOW)
    with pytest.raises(EnvelopeKeyError, match="Ed25519"):
        envelope_key(CouponSigner.generate("ecdsa-p256"))
    with pytest.raises(EnvelopeKeyError):
        verify_keys(CouponSigner.generate("ecdsa-p256").verifier)


@pytest.mark.slow
def test_the_daily_jobs_prune_the_feeds(office):
    from ekarta.backoffice.feeds import unlist_blocked
    from ekarta.backoffice.service import DailyJobs

    number = office.seed.card(1)
    office.seed.block(number)
    with Session(office.engine) as session, session.begin():
        unlist_blocked(session, number, now=NOW)
    jobs = DailyJobs(office.engine, clock=lambda: NOW + timedelta(days=40)).start()
    jobs.stop()
    assert jobs.runs == 1 and office.count(HotlistEntry) == 0


@pytest.mark.slow
def test_two_devices_asking_at_once_do_not_both_get_the_lease(office):
    from concurrent.futures import ThreadPoolExecutor

    from ekarta.backoffice.leases import ActionLeased, take_lease
    from ekarta.backoffice.store import device_for_token

    number = office.seed.card(1)
    action = office.seed.action(number, ActionKind.UPDATE_PROFILE)
    devices = [device_for_token(office.engine, office.tokens["kiosk"]),
               device_for_token(office.engine, office.second_kiosk)] * 4

    def ask(device):
        try:
            return take_lease(office.engine, device, action, now=NOW).device
        except ActionLeased:
            return None

    with ThreadPoolExecutor(8) as pool:
        holders = {name for name in pool.map(ask, devices) if name is not None}
    assert len(holders) == 1


def test_a_batch_and_its_resend_racing_each_other_store_every_event_once(office):
    from concurrent.futures import ThreadPoolExecutor

    from ekarta.backoffice.journal import ingest
    from ekarta.backoffice.store import device_for_token
    from ekarta.sync.messages import JournalBatch

    device = device_for_token(office.engine, office.tokens["validator"])
    events = [event(card_number="1234567894") for _ in range(200)]
    batches = [JournalBatch.model_validate({"events": events}),
               JournalBatch.model_validate({"events": events[::-1]})] * 2
    with ThreadPoolExecutor(4) as pool:
        acks = list(pool.map(lambda batch: ingest(office.engine, device, batch, NOW), batches))
    assert all(len(set(ack.acknowledged)) == 200 for ack in acks)
    assert office.count(JournalEntry) == 200
