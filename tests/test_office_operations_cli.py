"""The office's operations through ``ekarta office``: a card applied for and produced onto an
emulated card file, read back with ``ekarta card show`` (the card and the office agree), coupons
sold and refused, a profile renewed and ended, blocking, a replacement, a top-up, the purge at
day 91 and the errors."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from ekarta.cli import main
from ekarta.emulator import VirtualCard

AT = "2026-12-01T10:00"


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    def json(self):
        assert self.code == 0, self.err
        return json.loads(self.out)


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("keys") / "keys.json"
    assert main(["keys", "new", str(path)]) == 0
    return str(path)


@pytest.fixture
def office(database, capsys, monkeypatch):
    monkeypatch.setenv("EKARTA_OFFICE_DB", database)
    assert main(["office", "init"]) == 0
    capsys.readouterr()

    def run(*args: object) -> Run:
        code = main(["office", *map(str, args)])
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return run


def card_file(tmp_path, uid: str) -> str:
    path = tmp_path / f"{uid}.json"
    VirtualCard.new(uid=bytes.fromhex(uid)).save(path)
    return str(path)


@pytest.mark.slow
def test_a_card_produced_by_the_office_reads_back_as_the_office_has_it(
        office, keys, tmp_path, capsys):
    applied = office("card", "apply", "--first-name", "Jana", "--surname", "Nováková",
                     "--profile", "student", "--birth-date", "2008-04-01",
                     "--profile-end", "2027-08-31", "--at", AT, "--json").json()
    number = applied["card_number"]
    assert applied["status"] == "ordered" and applied["holder"]["purge_after"] == "2027-03-01"
    path = card_file(tmp_path, "04A1B2C3D4E5F6")
    produced = office("card", "produce", number, "--keys", keys, "--reader", f"emulator:{path}",
                      "--active", "--at", AT, "--json").json()
    assert produced["uid"] == "04A1B2C3D4E5F6" and produced["status"] == "active"

    assert main(["card", "show", "--reader", f"emulator:{path}", "--keys", keys,
                 "--at", AT, "--json"]) in (0, 3)
    on_card = json.loads(capsys.readouterr().out)
    in_office = office("card", "show", number, "--json").json()
    for field in ("card_number", "uid", "kind", "status", "profile", "profile_end", "expiry"):
        assert on_card[field] == in_office[field], field
    assert on_card["holder"] == {"first_name": "Jana", "surname": "Nováková"}
    assert in_office["holder"]["first_name"] == "Jana"

    sold = office("coupon", "sell", number, "--type", "30-day", "--zones", "1,2",
                  "--keys", keys, "--at", AT, "--json").json()
    assert (sold["state"], sold["paid"], sold["valid_from"]) == ("pending", True, "2026-12-01")
    refused = office("coupon", "sell", number, "--type", "30-day", "--zones", "1",
                     "--channel", "eshop-bank-transfer", "--start", "2026-12-02",
                     "--keys", keys, "--at", AT, "--lang", "cs")
    one_error(refused, "bank-transfer-too-early", "převodem")
    order = office("coupon", "sell", number, "--type", "30-day", "--zones", "1",
                   "--channel", "eshop-bank-transfer", "--keys", keys, "--at", AT,
                   "--json").json()
    assert not order["paid"] and order["valid_from"] == "2026-12-06"
    assert office("coupon", "pay", order["serial"], "--at", AT, "--json").json()["paid"]
    listed = office("coupon", "list", "--card", number, "--json").json()
    assert [c["serial"] for c in listed] == [sold["serial"], order["serial"]]
    assert office("purse", "top-up", number, "150.50", "--at", AT, "--json").json()[
        "balance"] == 15050

    renewed = office("card", "profile", number, "--profile-end", "2028-08-31", "--at", AT,
                     "--json").json()
    assert (renewed["profile"], renewed["profile_end"]) == ("student", "2028-08-31")
    one_error(office("card", "profile", number, "--profile", "senior", "--at", AT),
              "age-not-eligible")
    shown = office("card", "profile", number, "--end-profile", "--at", AT)
    assert shown.code == 0 and "profile adult-non-transferable" in shown.out, shown.err

    blocked = office("card", "block", number, "--reason", "lost", "--at", AT, "--json").json()
    assert blocked["status"] == "blocked" and blocked["blocks"][0]["reason"] == "lost"
    one_error(office("purse", "top-up", number, "10", "--at", AT), "card-blocked")
    spare = office("card", "replace", number, "--at", AT, "--json").json()
    assert spare["replaces"] == number and spare["return_by"] == "2027-01-30"
    spare_path = card_file(tmp_path, "04B1B2B3B4B5B6")
    office("card", "produce", spare["card_number"], "--keys", keys,
           "--reader", f"emulator:{spare_path}", "--at", AT, "--json").json()
    moved = office("coupon", "list", "--card", spare["card_number"], "--json").json()
    assert sorted(c["moved_from"] for c in moved) == [sold["serial"], order["serial"]]
    assert office("journal", "--card", number, "--json").json() == []

    assert office("purge", "--at", "2027-03-01T12:00", "--json").json()["holders"] == 0
    assert office("purge", "--at", "2027-03-02T12:00", "--json").json()["holders"] == 2
    assert office("card", "show", number, "--json").json()["holder"] is None


def one_error(run: Run, *parts: str) -> None:
    assert run.code == 1 and run.out == ""
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ekarta: error: "), run.err
    for part in parts:
        assert part in lines[0], run.err


def test_bad_requests_are_one_line(office):
    one_error(office("card", "show", "0000000013"), "no card 0000000013")
    one_error(office("card", "apply", "--first-name", "Jan"), "--first-name and --surname")
    one_error(office("card", "apply", "--first-name", "Jan", "--surname", "Novák",
                     "--profile", "child"), "birth-date-required")
    one_error(office("coupon", "pay", "5"), "no coupon 5")
    anonymous = office("card", "apply", "--anonymous", "--json").json()
    one_error(office("card", "activate", anonymous["card_number"]), "card-not-produced")
    one_error(office("card", "profile", anonymous["card_number"], "--end-profile"),
              "an anonymous card has no discounted profile")
    one_error(office("card", "profile", anonymous["card_number"]), "say what changes")
    one_error(office("card", "profile", anonymous["card_number"], "--end-profile",
                     "--profile", "student"), "drop --profile")
    one_error(office("card", "produce", anonymous["card_number"], "--keys", "missing.json",
                     "--reader", "emulator:x.json"), "missing.json")
    bad = office("card", "show", "1234567890")
    assert bad.code == 2 and "check digit" in bad.err
    assert office("card", "list", "--json").json()[0]["holder"] is None


def test_what_waits_for_the_chip_who_leased_it_and_the_operator_s_release(
        office, database, keys, tmp_path):
    from datetime import datetime, timedelta

    from ekarta.backoffice.database import open_engine
    from ekarta.backoffice.leases import take_lease
    from ekarta.backoffice.store import device_for_token
    from ekarta.transit.model.timecodec import PRAGUE

    number = office("card", "apply", "--anonymous", "--at", AT, "--json").json()["card_number"]
    path = card_file(tmp_path, "04C1C2C3C4C5C6")
    office("card", "produce", number, "--keys", keys, "--reader", f"emulator:{path}",
           "--active", "--at", AT, "--json").json()
    office("purse", "top-up", number, "150.50", "--at", AT, "--json").json()
    sold = office("coupon", "sell", number, "--type", "transferable-30-day", "--zones", "1,2",
                  "--keys", keys, "--at", AT, "--json").json()
    tokens = [office("device", "add", name, "--role", "kiosk", "--json").json()["token"]
              for name in ("kiosk 1", "kiosk 2")]
    shown = office("card", "show", number, "--json").json()["actions"]
    assert [(a["kind"], a["serial"], a["amount"], a["leased_to"], a["contested"])
            for a in shown] == [("credit-purse", 1, 15_050, None, False),
                                ("load-coupon", sold["serial"], None, None, False)]
    credit = shown[0]["id"]
    at = datetime.fromisoformat(AT).replace(tzinfo=PRAGUE)
    engine = open_engine(database)
    try:
        first, second = (device_for_token(engine, t) for t in tokens)
        take_lease(engine, first, credit, now=at)
        # kiosk 1 never reports: its lease runs out and passes to kiosk 2, contested
        take_lease(engine, second, credit, now=at + timedelta(minutes=6))
    finally:
        engine.dispose()

    running = office("card", "show", number, "--at", "2026-12-01T10:08")
    assert "leased to kiosk 2 until 2026-12-01 10:11:00, contested" in running.out
    text = office("card", "show", number, "--at", "2026-12-01T10:12")
    assert text.code == 0, text.err
    waiting = [line.split(None, 1)[1] for line in text.out.splitlines()
               if line.split(None, 1)[0] == "waiting"]
    load = shown[1]["id"]
    assert waiting == [
        f"credit-purse 150.50 CZK (operation 1) since 2026-12-01 10:00 (action {credit}), "
        "leased to kiosk 2 until 2026-12-01 10:11:00 (ran out), contested: a lease ran out on "
        "a terminal that has not reported it, which may have done it",
        f"load-coupon {sold['serial']} since 2026-12-01 10:00 (action {load})"]
    leased = office("card", "show", number, "--json").json()["actions"][0]
    assert (leased["leased_to"], leased["contested"]) == ("kiosk 2", True)
    assert leased["lease_until"] == "2026-12-01T09:11:00+00:00"

    # kiosk 1 turns out lost with its journal, and the card's balance shows no credit: the
    # operator releases the credit once kiosk 2's lease has run out too
    one_error(office("card", "release", number, str(credit), "--at", "2026-12-01T10:08"),
              f"action {credit} is leased to kiosk 2 until")
    released = office("card", "release", number, str(credit), "--at", "2026-12-01T10:12")
    assert released.code == 0, released.err
    assert released.out.startswith(f"action {credit} of card 000 000 001 3 released (its "
                                   "lease was kiosk 2's)\n")
    after = office("card", "show", number, "--json").json()["actions"][0]
    assert (after["id"], after["leased_to"], after["lease_until"], after["contested"]) == (
        credit, None, None, False)
    engine = open_engine(database)
    try:
        # the next terminal's lease is a plain one
        assert not take_lease(engine, first, credit, now=at + timedelta(minutes=13)).contested
    finally:
        engine.dispose()
    one_error(office("card", "release", number, "999"), f"card {number} has no action 999")
    for wrong in ("0", "2147483648", "99999999999999999999999", "x"):
        refused = office("card", "release", number, wrong)
        assert (refused.code, refused.out) == (2, "") and "Traceback" not in refused.err
        assert "argument ACTION: the action is a number 1..2147483647" in refused.err
    other = office("card", "apply", "--anonymous", "--at", AT, "--json").json()["card_number"]
    one_error(office("card", "release", other, str(credit)), "has no action")
