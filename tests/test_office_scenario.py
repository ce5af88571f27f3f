"""The office and its terminals end to end, through the command line alone, on both databases:
keys, a personal card applied for, produced onto an emulated card and activated, a validator,
an inspector and a kiosk synced from a served office, coupons sold by card and by bank
transfer, the card blocked onto every hotlist, and the holder's data purged at day 91 from
every table, and nothing else with it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import MetaData, select

from ekarta.backoffice.database import open_engine
from tests.support.cli import run
from tests.support.office import OfficeServer
from tests.support.office import office_json as office
from tests.support.office import ok_json as ok
from tests.support.office import synced as sync

FIRST, SURNAME, BORN = "Xaverína", "Quendlová", date(2007, 3, 17)
UID = "04C1C2C3C4C5C6"
ROLES = ("validator", "inspector", "kiosk")


def tables(database: str) -> dict[str, list[tuple]]:
    """Every row of every table of the office's database, as text, in a stable order."""
    engine = open_engine(database)
    try:
        meta = MetaData()
        meta.reflect(engine)
        with engine.connect() as db:
            return {name: sorted((tuple(_text(v) for v in row)
                                  for row in db.execute(select(table))), key=repr)
                    for name, table in meta.tables.items()}
    finally:
        engine.dispose()


def columns(database: str, table: str) -> list[str]:
    engine = open_engine(database)
    try:
        meta = MetaData()
        meta.reflect(engine, only=[table])
        return [c.name for c in meta.tables[table].columns]
    finally:
        engine.dispose()


def _text(value: object) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat() if value.tzinfo else value.isoformat()
    if isinstance(value, Decimal):
        return str(int(value)) if value == int(value) else str(value)
    return str(value)


def personal(rows: dict[str, list[tuple]]) -> list[tuple[str, tuple]]:
    """The rows that hold the holder's names or birth date, in any form."""
    needles = (FIRST, SURNAME, BORN.isoformat(), BORN.strftime("%Y%m%d"),
               BORN.strftime("%d.%m.%Y"))
    return [(name, row) for name, found in rows.items() for row in found
            if any(needle in value for value in row for needle in needles)]


def lookup(capsys, directory, number: str) -> dict:
    return ok(capsys, "terminal", "lookup", str(directory), number, "--json")


@pytest.mark.slow
def test_a_card_from_application_to_purge_through_the_office_and_its_terminals(
        database, tmp_path, capsys):
    keys = str(tmp_path / "keys.json")
    code, _, err = run(capsys, "keys", "new", keys)
    assert code == 0, err
    exported = {}
    for role in ROLES:
        exported[role] = str(tmp_path / f"{role}-keys.json")
        code, _, err = run(capsys, "keys", "export", keys, "--role", role, "-o",
                           exported[role])
        assert code == 0, err
    assert office(capsys, database, "init")["version"]

    applied = office(capsys, database, "card", "apply", "--first-name", FIRST,
                     "--surname", SURNAME, "--birth-date", BORN.isoformat(),
                     "--profile", "student", "--profile-end", "2027-08-31",
                     "--contact", "xq@example.cz")
    number = applied["card_number"]
    applied_at = datetime.fromisoformat(applied["applied_at"])
    assert applied["status"] == "ordered" and applied["holder"]["surname"] == SURNAME

    chip = str(tmp_path / "card.json")
    code, _, err = run(capsys, "emulator", "new", chip, "--uid", UID)
    assert code == 0, err
    produced = office(capsys, database, "card", "produce", number, "--keys", keys,
                      "--reader", f"emulator:{chip}")
    assert (produced["status"], produced["uid"]) == ("produced", UID)
    assert office(capsys, database, "card", "activate", number)["status"] == "active"

    tokens = {role: office(capsys, database, "device", "add", f"{role} 1",
                           "--role", role)["token"] for role in ROLES}
    sold = office(capsys, database, "coupon", "sell", number, "--type", "30-day",
                  "--zones", "1,2", "--keys", keys)
    order = office(capsys, database, "coupon", "sell", number, "--type", "30-day",
                   "--zones", "1,2", "--channel", "eshop-bank-transfer", "--follows",
                   str(sold["serial"]), "--keys", keys)
    assert sold["paid"] and not order["paid"]
    assert (sold["state"], order["state"]) == ("pending", "pending")

    with OfficeServer.running(database, keys, log=tmp_path / "serve.log") as server:
        terminals = {role: tmp_path / role for role in ROLES}
        for role, directory in terminals.items():
            code, _, err = run(capsys, "terminal", "init", str(directory), "--office",
                               server.url, "--role", role, "--keys", exported[role],
                               "--token", tokens[role])
            assert code == 0, err
            sync(capsys, directory)

        entitled = lookup(capsys, terminals["validator"], number)["entitlement"]
        assert entitled is not None
        assert (entitled["status"], entitled["profile"]) == ("active", "student")
        # the office gives terminals what is paid: the unpaid order is neither an
        # entitlement nor a load yet
        assert [c["serial"] for c in entitled["coupons"]] == [sold["serial"]]
        loads = lookup(capsys, terminals["kiosk"], number)["actions"]
        assert [a.get("serial") for a in loads if a["kind"] == "load-coupon"] == [
            sold["serial"]]
        assert lookup(capsys, terminals["validator"], number)["actions"] == []

        assert office(capsys, database, "coupon", "pay", str(order["serial"]))["paid"]
        for directory in terminals.values():
            sync(capsys, directory)
        entitled = lookup(capsys, terminals["validator"], number)["entitlement"]
        assert sorted(c["serial"] for c in entitled["coupons"]) == sorted(
            [sold["serial"], order["serial"]])
        for role in ("inspector", "kiosk"):
            loads = lookup(capsys, terminals[role], number)["actions"]
            assert sorted(a["serial"] for a in loads if a["kind"] == "load-coupon") == sorted(
                [sold["serial"], order["serial"]]), role
        for role, directory in terminals.items():
            assert lookup(capsys, directory, number)["hotlist"] is None, role

        blocked = office(capsys, database, "card", "block", number, "--reason", "lost")
        assert blocked["status"] == "blocked"
        for role, directory in terminals.items():
            sync(capsys, directory)
            found = lookup(capsys, directory, number)
            assert found["hotlist"] is not None, role
            assert found["hotlist"]["uid"].upper() == UID, role
            assert found["entitlement"]["status"] == "blocked", role
        kiosk = lookup(capsys, terminals["kiosk"], number)["actions"]
        assert "write-blocked" in [a["kind"] for a in kiosk]
        # terminals keep no personal data
        for directory in terminals.values():
            stored = b"".join(f.read_bytes() for f in directory.iterdir() if f.is_file())
            for needle in (FIRST, SURNAME, BORN.isoformat()):
                assert needle.encode() not in stored, directory

    day_90 = (applied_at + timedelta(days=90)).isoformat()
    day_91 = (applied_at + timedelta(days=91)).isoformat()
    earlier = tables(database)
    assert office(capsys, database, "purge", "--at", day_90)["holders"] == 0
    before = tables(database)
    assert {k: v for k, v in before.items() if k != "purges"} == {
        k: v for k, v in earlier.items() if k != "purges"}
    assert [name for name, _ in personal(before)] == ["holders"]
    assert office(capsys, database, "purge", "--at", day_91)["holders"] == 1
    after = tables(database)

    assert personal(after) == []
    assert after["holders"] == []
    assert len(after["purges"]) == len(before["purges"]) + 1
    assert after["purges"][:-1] == before["purges"]
    # the card loses the link to its holder's row and nothing more
    link = columns(database, "cards").index("holder_id")
    unlinked = sorted(((*row[:link], "None", *row[link + 1:]) for row in before["cards"]),
                      key=repr)
    assert after["cards"] == unlinked
    for name in sorted(set(before) - {"holders", "purges", "cards"}):
        assert after[name] == before[name], name
    shown = office(capsys, database, "card", "show", number)
    assert shown["holder"] is None and shown["status"] == "blocked"
    assert (shown["profile"], shown["profile_end"]) == ("student", "2027-08-31")
