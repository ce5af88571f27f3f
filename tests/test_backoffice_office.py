"""The office's own operations on both databases: cards produced onto emulated chips, coupons
sold through the tariff rules, blocks and the hotlist, replacement cards, the purse, the purge
and the daily maintenance."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from ekarta.backoffice import blocking, cards, coupons, purse, replacement
from ekarta.backoffice.cards import Application
from ekarta.backoffice.database import open_engine
from ekarta.backoffice.errors import CardNotFound, InvalidRequest, OperationRefused
from ekarta.backoffice.feeds import refresh_entitlement
from ekarta.backoffice.maintenance import run_daily
from ekarta.backoffice.production import produce
from ekarta.backoffice.purge import purge
from ekarta.backoffice.schema import Action, Block, Card, CouponSale, Fee, HotlistEntry
from ekarta.backoffice.store import migrate
from ekarta.desfire.client import DESFire
from ekarta.emulator import CardHost, VirtualCard
from ekarta.sync.messages import ActionItem, Entitlement, slot_bytes
from ekarta.transit.cardio.issuance import issue_card
from ekarta.transit.cardio.reading import read_card
from ekarta.transit.codec.records import decode_slot
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.lifecycle import RecordChange
from ekarta.transit.model.rules import PurchaseRequest
from ekarta.transit.model.values import (
    CardKind,
    CardRecord,
    CardStatus,
    CouponType,
    Profile,
    Reason,
    SaleChannel,
)
from ekarta.transit.security.keystore import create_keystore

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TODAY = date(2026, 12, 1)
JANA = Application("Jana", "Nováková", date(2008, 4, 1), Profile.STUDENT, date(2027, 8, 31))
CARD_PAID = PurchaseRequest(CouponType.DAYS_30, (1, 2), SaleChannel.ESHOP_CARD)
BANK = PurchaseRequest(CouponType.DAYS_30, (1,), SaleChannel.ESHOP_BANK_TRANSFER)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return create_keystore(tmp_path_factory.mktemp("keys") / "keys.json")


@pytest.fixture
def engine(database):
    engine = open_engine(database)
    migrate(engine)
    yield engine
    engine.dispose()


def chip(uid: str) -> DESFire:
    return DESFire(CardHost(VirtualCard.new(uid=bytes.fromhex(uid))))


def active_card(engine, keys, uid="04A1B2C3D4E5F6", application=JANA) -> CardNumber:
    number = cards.apply(engine, application, now=NOW).card_number
    produce(engine, number, chip(uid), keys, now=NOW, active=True)
    return number


def rows(engine, model, **where):
    with Session(engine) as session:
        query = select(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return list(session.scalars(query))


def entitlement(engine, number) -> Entitlement:
    with engine.connect() as connection:
        body = connection.execute(text("SELECT body FROM entitlements WHERE card_number = :n"),
                                  {"n": int(number)}).scalar_one()
    return Entitlement.model_validate_json(body)


def reasons(excinfo) -> list[Reason]:
    return [r.reason for r in excinfo.value.refusals]


# --- cards ---------------------------------------------------------------------------------------


def test_a_card_is_applied_for_produced_onto_a_chip_and_activated(engine, keys):
    applied = cards.apply(engine, JANA, now=NOW)
    assert applied.status is CardStatus.ORDERED and applied.uid is None
    assert applied.card_number == CardNumber.from_serial(1)
    assert applied.holder.purge_after == TODAY + timedelta(days=90)
    assert applied.expiry == date(2031, 12, 1)
    desfire = chip("04A1B2C3D4E5F6")
    produced = produce(engine, applied.card_number, desfire, keys, now=NOW)
    assert produced.card.status is CardStatus.PRODUCED
    assert produced.card.uid == bytes.fromhex("04A1B2C3D4E5F6")
    image = read_card(desfire, keys)
    assert image.record.card_number == applied.card_number
    assert image.record.status is CardStatus.PRODUCED and image.record.surname == "Nováková"
    assert entitlement(engine, applied.card_number).status == "produced"
    with pytest.raises(OperationRefused, match="produced already"):
        produce(engine, applied.card_number, desfire, keys, now=NOW)

    assert cards.activate(engine, applied.card_number, now=NOW).status is CardStatus.ACTIVE
    assert cards.activate(engine, applied.card_number, now=NOW).status is CardStatus.ACTIVE
    # the chip still says produced: the next inspector or kiosk writes it active, once
    with Session(engine) as session:
        queued = session.scalars(select(Action.kind).where(Action.state == "pending")).all()
    assert queued == ["activate"]
    anonymous = cards.apply(engine, Application(), now=NOW)
    with pytest.raises(OperationRefused) as refused:
        cards.activate(engine, anonymous.card_number, now=NOW)
    assert reasons(refused) == [Reason.CARD_NOT_PRODUCED]
    listed = cards.list_cards(engine)
    assert [c.card_number for c in listed] == [applied.card_number, anonymous.card_number]
    assert all(c.holder is None for c in listed)
    assert cards.show(engine, applied.card_number).holder.first_name == "Jana"
    with pytest.raises(CardNotFound):
        cards.show(engine, CardNumber.from_serial(99))


@pytest.mark.slow
def test_an_application_is_checked_like_a_card_record(engine):
    with pytest.raises(OperationRefused) as refused:
        cards.apply(engine, Application("Jan", "Novák", profile=Profile.STUDENT), now=NOW)
    assert reasons(refused) == [Reason.BIRTH_DATE_REQUIRED]


# --- coupons -------------------------------------------------------------------------------------


def test_a_sale_counts_the_pending_coupons_and_the_bank_transfer_waits(engine, keys):
    number = active_card(engine, keys)
    paid = coupons.sell(engine, number, CARD_PAID, keys.signer(), now=NOW, price=550)
    assert paid.coupon.state == "pending" and paid.coupon.paid
    assert paid.coupon.coupon.valid_from == TODAY
    order = coupons.sell(engine, number, BANK, keys.signer(), now=NOW)
    assert not order.coupon.paid and order.coupon.coupon.valid_from == TODAY + timedelta(days=5)
    assert order.notes_cs  # the start moved by the payment's delay

    (action,) = rows(engine, Action, kind="load-coupon")
    item = ActionItem.model_validate_json(action.body)
    signed = decode_slot(slot_bytes(item.slot))
    assert keys.verifier().verify(signed, uid=bytes.fromhex("04A1B2C3D4E5F6"), card_number=number)
    assert [c.serial for c in entitlement(engine, number).coupons] == [paid.coupon.serial]

    with pytest.raises(OperationRefused) as refused:
        coupons.sell(engine, number, PurchaseRequest(
            CouponType.DAYS_30, (1,), SaleChannel.ESHOP_BANK_TRANSFER,
            start=TODAY + timedelta(days=1)), keys.signer(), now=NOW)
    assert reasons(refused) == [Reason.BANK_TRANSFER_TOO_EARLY]
    assert refused.value.message("cs") != refused.value.message("en")

    coupons.sell(engine, number, CARD_PAID, keys.signer(), now=NOW)
    coupons.sell(engine, number, CARD_PAID, keys.signer(), now=NOW)
    with pytest.raises(OperationRefused) as refused:
        coupons.sell(engine, number, CARD_PAID, keys.signer(), now=NOW)
    assert reasons(refused) == [Reason.TOO_MANY_COUPONS]

    assert coupons.pay(engine, order.coupon.serial, now=NOW).paid
    assert len(rows(engine, Action, kind="load-coupon")) == 4
    assert order.coupon.serial in [c.serial for c in entitlement(engine, number).coupons]
    cancelled = coupons.cancel(engine, order.coupon.serial, now=NOW)
    assert cancelled.state == "cancelled"
    assert [a.state for a in rows(engine, Action, coupon_id=rows(
        engine, CouponSale, serial=order.coupon.serial)[0].id)] == ["cancelled"]
    assert coupons.refund(engine, paid.coupon.serial, now=NOW).state == "refunded"
    with pytest.raises(OperationRefused, match="refunded"):
        coupons.cancel(engine, paid.coupon.serial, now=NOW)
    assert len(coupons.list_coupons(engine, number=number, state="pending")) == 2


def test_an_entitlement_drops_a_coupon_when_its_last_day_ends_in_prague(engine, keys):
    number = active_card(engine, keys)
    paid = coupons.sell(engine, number, CARD_PAID, keys.signer(), now=NOW)
    last_day = paid.coupon.coupon.valid_to
    # 23:30 UTC on the last day is already the next day in Prague (UTC+1 in winter)
    late = datetime.combine(last_day, datetime.min.time(), UTC) + timedelta(hours=23, minutes=30)
    with Session(engine) as session, session.begin():
        card = session.scalars(select(Card).where(Card.card_number == int(number))).one()
        refresh_entitlement(session, card, now=late - timedelta(hours=1))
    assert [c.serial for c in entitlement(engine, number).coupons] == [paid.coupon.serial]
    with Session(engine) as session, session.begin():
        card = session.scalars(select(Card).where(Card.card_number == int(number))).one()
        refresh_entitlement(session, card, now=late)
    assert entitlement(engine, number).coupons == ()


@pytest.mark.slow
def test_a_blocked_card_is_sold_nothing(engine, keys):
    number = active_card(engine, keys)
    blocking.block(engine, number, "stolen", now=NOW)
    with pytest.raises(OperationRefused) as refused:
        coupons.sell(engine, number, CARD_PAID, keys.signer(), now=NOW)
    assert reasons(refused) == [Reason.CARD_BLOCKED]


def pending(engine, kind: str) -> list[ActionItem]:
    return [ActionItem.model_validate_json(a.body)
            for a in rows(engine, Action, kind=kind, state="pending")]


def test_a_profile_changed_at_the_counter_goes_to_the_lists_and_to_the_chip(engine, keys):
    number = active_card(engine, keys)
    renewed = cards.change_profile(engine, number, RecordChange(profile_end=date(2028, 6, 30)),
                                   now=NOW)
    assert (renewed.profile, renewed.profile_end) == (Profile.STUDENT, date(2028, 6, 30))
    again = cards.change_profile(engine, number, RecordChange(profile_end=date(2028, 8, 31)),
                                 now=NOW)
    assert again.profile_end == date(2028, 8, 31)
    # the chip gets only the last change; the first is withdrawn
    [item] = pending(engine, "update-profile")
    assert (item.profile, item.profile_end, item.card_number) == ("student", date(2028, 8, 31),
                                                                  number.digits)
    assert [a.state for a in rows(engine, Action, kind="update-profile")] == ["cancelled",
                                                                              "pending"]
    held = entitlement(engine, number)
    assert (held.profile, held.profile_end) == ("student", date(2028, 8, 31))
    # the same again changes nothing and queues nothing
    cards.change_profile(engine, number, RecordChange(profile_end=date(2028, 8, 31)), now=NOW)
    assert len(rows(engine, Action, kind="update-profile")) == 2

    ended = cards.change_profile(engine, number, RecordChange(end_profile=True), now=NOW)
    assert (ended.profile, ended.profile_end) == (Profile.ADULT_NON_TRANSFERABLE, None)
    [item] = pending(engine, "update-profile")
    assert (item.profile, item.profile_end) == ("adult-non-transferable", None)
    assert entitlement(engine, number).profile == "adult-non-transferable"


def test_a_profile_change_is_refused_as_the_chip_would_refuse_it(engine, keys):
    number = active_card(engine, keys)
    with pytest.raises(OperationRefused) as refused:  # the holder is 18
        cards.change_profile(engine, number, RecordChange(profile=Profile.SENIOR), now=NOW)
    assert reasons(refused) == [Reason.AGE_NOT_ELIGIBLE]
    with pytest.raises(OperationRefused) as refused:
        cards.change_profile(engine, number, RecordChange(profile_end=date(2026, 11, 30)),
                             now=NOW)
    assert reasons(refused) == [Reason.PROFILE_END_PASSED]
    with pytest.raises(InvalidRequest, match="sets a profile"):
        cards.change_profile(engine, number, RecordChange(surname="Nová"), now=NOW)
    with pytest.raises(InvalidRequest, match="sets a profile"):
        cards.change_profile(engine, number, RecordChange(), now=NOW)
    blocking.block(engine, number, "lost", now=NOW)
    with pytest.raises(OperationRefused) as refused:
        cards.change_profile(engine, number, RecordChange(end_profile=True), now=NOW)
    assert reasons(refused) == [Reason.CARD_BLOCKED]
    assert pending(engine, "update-profile") == []
    assert cards.show(engine, number).profile is Profile.STUDENT
    # a card not on a chip yet takes the change in the office alone: produced with it
    ordered = cards.apply(engine, JANA, now=NOW).card_number
    changed = cards.change_profile(engine, ordered, RecordChange(end_profile=True), now=NOW)
    assert changed.profile is Profile.ADULT_NON_TRANSFERABLE
    assert pending(engine, "update-profile") == []
    with pytest.raises(CardNotFound):
        cards.change_profile(engine, CardNumber.from_serial(99), RecordChange(end_profile=True),
                             now=NOW)


# --- blocking ------------------------------------------------------------------------------------


def test_blocking_lists_the_card_and_unblocking_takes_it_off(engine, keys):
    number = active_card(engine, keys)
    assert blocking.block(engine, number, "lost", now=NOW).changed
    assert not blocking.block(engine, number, "stolen", now=NOW).changed
    (entry,) = rows(engine, HotlistEntry)
    assert entry.card_number == int(number) and not entry.removed
    assert entry.uid == bytes.fromhex("04A1B2C3D4E5F6")
    (action,) = rows(engine, Action, kind="write-blocked")
    assert action.state == "pending"
    assert entitlement(engine, number).status == "blocked"

    later = NOW + timedelta(days=1)
    info = blocking.unblock(engine, number, now=later, fee=15000)
    assert info.status is CardStatus.ACTIVE
    assert rows(engine, HotlistEntry)[0].removed
    assert rows(engine, Action, kind="write-blocked")[0].state == "cancelled"
    assert [(f.kind, f.amount) for f in rows(engine, Fee)] == [("unblocking", 15000)]
    (kept,) = rows(engine, Block)
    assert (kept.reason, kept.unblocked_at) == ("lost", later)
    with pytest.raises(OperationRefused) as refused:
        blocking.unblock(engine, number, now=later)
    assert reasons(refused) == [Reason.CARD_NOT_BLOCKED]


# --- replacement ---------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_replacement_gets_the_coupons_resigned_and_hands_them_on(engine, keys):
    number = active_card(engine, keys)
    written = coupons.sell(engine, number, CARD_PAID, keys.signer(), now=NOW).coupon
    future = coupons.sell(engine, number, PurchaseRequest(
        CouponType.DAYS_30, (3,), SaleChannel.ESHOP_CARD, start=TODAY + timedelta(days=40)),
        keys.signer(), now=NOW).coupon
    with engine.begin() as connection:  # as the journal reports a load
        connection.execute(text("UPDATE coupons SET state = 'written' WHERE serial = :s"),
                           {"s": written.serial})
    purse.top_up(engine, number, 20000, now=NOW)

    spare = replacement.replace(engine, number, now=NOW)
    assert spare.replaces == number and spare.status is CardStatus.ORDERED
    assert (spare.loan_until, spare.return_by) == (TODAY + timedelta(days=30),
                                                   TODAY + timedelta(days=60))
    assert spare.holder.surname == "Nováková"
    assert cards.show(engine, number).status is CardStatus.BLOCKED
    with pytest.raises(OperationRefused, match="replacement already"):
        replacement.replace(engine, number, now=NOW)

    uid = bytes.fromhex("04B1B2B3B4B5B6")
    made = produce(engine, spare.card_number, chip(uid.hex()), keys, now=NOW)
    assert made.card.status is CardStatus.ACTIVE and made.card.purse_balance == 20000
    moved = coupons.list_coupons(engine, number=spare.card_number)
    assert sorted(c.moved_from for c in moved) == [written.serial, future.serial]
    for info in moved:
        (sale,) = rows(engine, CouponSale, serial=info.serial)
        signed = decode_slot(sale.slot)
        assert keys.verifier().verify(signed, uid=uid, card_number=spare.card_number)
        assert signed.coupon.valid_to in (written.coupon.valid_to, future.coupon.valid_to)
    assert {c.state for c in coupons.list_coupons(engine, number=number)} == {"cancelled"}
    credits = [ActionItem.model_validate_json(a.body)
               for a in rows(engine, Action, kind="credit-purse", state="pending")]
    assert [(c.card_number, c.amount) for c in credits] == [(spare.card_number.digits, 20000)]
    assert cards.show(engine, number).purse_balance == 0
    with pytest.raises(OperationRefused, match="moved"):
        blocking.unblock(engine, number, now=NOW)

    new = active_card(engine, keys, "04C1C2C3C4C5C6")
    returned, handed = replacement.return_card(engine, spare.card_number, new, keys.signer(),
                                               now=NOW + timedelta(days=20))
    assert returned.status is CardStatus.BLOCKED and returned.returned_at is not None
    assert len(handed.serials) == 2 and handed.purse == 20000
    assert len(coupons.list_coupons(engine, number=new, state="pending")) == 2
    assert sorted(f.amount for f in rows(engine, Fee)) == [-10000, 10000]
    assert run_daily(engine, NOW + timedelta(days=70)).unreturned == 0
    listed = cards.list_cards(engine)
    assert [c.replaces for c in listed] == [None, number, None]
    assert [len(c.blocks) for c in listed] == [1, 1, 0]
    # a list leaves out the holders and what waits for each chip
    assert listed == [replace(cards.show(engine, c.card_number), holder=None, actions=())
                      for c in listed]
    assert cards.list_cards(engine, status=CardStatus.BLOCKED) == listed[:2]


# --- purse, maintenance, purge -------------------------------------------------------------------


@pytest.mark.slow
def test_a_top_up_is_refused_like_at_a_terminal(engine, keys):
    number = active_card(engine, keys)
    assert purse.top_up(engine, number, 999_000, now=NOW).balance == 999_000
    with pytest.raises(OperationRefused) as refused:
        purse.top_up(engine, number, 2_000, now=NOW)
    assert reasons(refused) == [Reason.PURSE_LIMIT_EXCEEDED]


@pytest.mark.slow
def test_maintenance_cancels_orders_and_blocks_once(engine, keys):
    number = active_card(engine, keys)
    order = coupons.sell(engine, number, BANK, keys.signer(), now=NOW).coupon
    spare = replacement.replace(engine, number, now=NOW).card_number
    produce(engine, spare, chip("04B1B2B3B4B5B6"), keys, now=NOW)
    short = active_card(engine, keys, "04D1D2D3D4D5D6", Application(expiry=TODAY))

    first = run_daily(engine, NOW + timedelta(days=2))
    assert (first.orders_cancelled, first.expired, first.unreturned) == (0, 1, 0)
    assert run_daily(engine, NOW + timedelta(days=3)).orders_cancelled == 1
    assert coupons.list_coupons(engine, number=number)[0].state == "cancelled"
    assert order.serial not in [c.serial for c in entitlement(engine, number).coupons]
    day61 = run_daily(engine, NOW + timedelta(days=61))
    assert day61.unreturned == 1 and day61.expired == 0
    assert [b.reason for b in rows(engine, Block)] == ["replaced", "expired", "unreturned"]
    assert not rows(engine, HotlistEntry, card_number=int(short))
    before = snapshot(engine)
    again = run_daily(engine, NOW + timedelta(days=61))
    assert (again.orders_cancelled, again.expired, again.unreturned, again.unlisted) == \
        (0, 0, 0, 0)
    assert drop(snapshot(engine), "purges") == drop(before, "purges")


def snapshot(engine) -> dict[str, list[tuple]]:
    with engine.connect() as connection:
        return {table: sorted(map(tuple, connection.execute(text(f"SELECT * FROM {table}"))),
                              key=repr)
                for table in inspect(engine).get_table_names()}


def drop(tables: dict, *names: str) -> dict:
    return {k: v for k, v in tables.items() if k not in names}


def test_purge_on_day_91_deletes_the_holder_and_nothing_else(engine, keys):
    number = active_card(engine, keys)
    coupons.sell(engine, number, CARD_PAID, keys.signer(), now=NOW)
    blocking.block(engine, number, "lost", now=NOW)
    assert purge(engine, now=NOW + timedelta(days=90)).holders == 0
    before = snapshot(engine)
    assert purge(engine, now=NOW + timedelta(days=91)).holders == 1
    after = snapshot(engine)
    assert after["holders"] == [] and len(after["purges"]) == 2
    assert drop(after, "holders", "purges", "cards") == drop(before, "holders", "purges", "cards")
    holder_column = [c["name"] for c in inspect(engine).get_columns("cards")].index("holder_id")
    assert [r[:holder_column] + r[holder_column + 1:] for r in after["cards"]] == \
        [r[:holder_column] + r[holder_column + 1:] for r in before["cards"]]
    everything = repr(after)
    assert "Nováková" not in everything and "Jana" not in everything
    assert "2008-04-01" not in everything and "2008, 4, 1" not in everything
    info = cards.show(engine, number)
    assert info.holder is None and info.profile is Profile.STUDENT
    assert info.profile_end == date(2027, 8, 31)


@pytest.mark.slow
def test_producing_completes_a_card_issued_before_the_office_recorded_it(engine, keys):
    number = cards.apply(engine, Application(), now=NOW).card_number
    desfire = chip("04E1E2E3E4E5E6")
    record = CardRecord(number, CardKind.ANONYMOUS, CardStatus.PRODUCED, date(2031, 12, 1),
                        Profile.ADULT_TRANSFERABLE)
    issue_card(desfire, keys, record, today=TODAY)  # the run that was torn before its commit
    result = produce(engine, number, desfire, keys, now=NOW)
    assert result.already_issued and result.card.uid == bytes.fromhex("04E1E2E3E4E5E6")
    other = cards.apply(engine, Application(), now=NOW).card_number
    with pytest.raises(OperationRefused, match="already issued as card"):
        produce(engine, other, desfire, keys, now=NOW)
    assert cards.show(engine, other).status is CardStatus.ORDERED
