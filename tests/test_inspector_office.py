"""Acceptance 2, end to end: a coupon sold at the office and paid by bank transfer (and a purse
top-up) is not on the card; the inspector's handheld syncs, checks the card (``ekarta inspector
--once --json``) and writes both onto it; after its next sync the office has the coupon written
and both actions done; a second check changes nothing, and neither does a kiosk's.

Everything runs as the operator and the terminals run it: ``ekarta office ...`` on the office's
database, ``ekarta office serve`` on a free port, ``ekarta terminal init|sync`` and the card
served from a file by the emulator reader.  The test prints what it measured (the check's card
commands and times, the syncs' times).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from ekarta.emulator.reader import EmulatorReader
from ekarta.terminal.config import load_config
from ekarta.terminal.inspect import Inspector
from ekarta.terminal.outcome import Outcome
from tests.support.cli import ekarta, run
from tests.support.office import OfficeServer, office_json, synced

pytestmark = pytest.mark.slow

FIRST, SURNAME = "Xaverína", "Quendlová"
UID = "04D1D2D3D4D5D6"


def card_show(capsys, chip: Path, keys: str) -> dict:
    code, out, err = run(capsys, "card", "show", "--reader", f"emulator:{chip}", "--keys", keys,
                         "--json")
    assert code in (0, 3), err
    return json.loads(out)


def inspector(capsys, directory: Path, chip: Path) -> dict:
    """``ekarta inspector DIRECTORY --once --json`` on the card in ``chip``: a verdict."""
    code, out, err = run(capsys, "inspector", str(directory), "--reader", f"emulator:{chip}",
                         "--zone", "1", "--once", "--json", "--repeat-window", "600")
    assert code in (0, 3), err
    return json.loads(out)


def timed(what: dict[str, float], name: str, call, *args, **kwargs):
    started = time.perf_counter()
    result = call(*args, **kwargs)
    what[name] = time.perf_counter() - started
    return result


def test_a_coupon_paid_by_bank_transfer_reaches_the_card_at_an_inspection(tmp_path, capsys):
    measured: dict[str, float] = {}
    database = str(tmp_path / "office.db")
    keys = str(tmp_path / "keys.json")
    ekarta(capsys, "keys", "new", keys)
    exported = {}
    for role in ("inspector", "kiosk"):
        exported[role] = str(tmp_path / f"{role}-keys.json")
        ekarta(capsys, "keys", "export", keys, "--role", role, "-o", exported[role])
    office_json(capsys, database, "init")
    number = office_json(capsys, database, "card", "apply", "--first-name", FIRST, "--surname",
                         SURNAME, "--birth-date", "1980-03-17", "--contact", "xq@example.cz"
                         )["card_number"]
    chip = tmp_path / "card.json"
    ekarta(capsys, "emulator", "new", str(chip), "--uid", UID)
    office_json(capsys, database, "card", "produce", number, "--keys", keys,
                "--reader", f"emulator:{chip}")
    office_json(capsys, database, "card", "activate", number)
    ekarta(capsys, "card", "activate", "--reader", f"emulator:{chip}", "--keys", keys)
    tokens = {role: office_json(capsys, database, "device", "add", name, "--role", role)["token"]
              for role, name in (("inspector", "handheld 7"), ("kiosk", "kiosk 3"))}

    # an e-shop order paid by bank transfer: paid days later, not on the card
    sold = office_json(capsys, database, "coupon", "sell", number, "--type", "30-day",
                       "--zones", "1,2", "--channel", "eshop-bank-transfer", "--keys", keys)
    assert not sold["paid"]
    office_json(capsys, database, "coupon", "pay", str(sold["serial"]))
    office_json(capsys, database, "purse", "top-up", number, "150")
    assert card_show(capsys, chip, keys)["slots"][0]["state"] == "empty"

    handheld, kiosk = tmp_path / "handheld", tmp_path / "kiosk"
    with OfficeServer.running(database, keys, log=tmp_path / "serve.log") as server:
        for directory, role in ((handheld, "inspector"), (kiosk, "kiosk")):
            ekarta(capsys, "terminal", "init", str(directory), "--office", server.url,
                   "--role", role, "--keys", exported[role], "--token", tokens[role])
        timed(measured, "first sync", synced, capsys, handheld)

        # the inspector checks the card: the coupon and the credit go onto it
        check = timed(measured, "check (command, in process)", inspector, capsys, handheld, chip)
        # a bank transfer's coupon starts 5 days after the sale at the earliest
        assert check["outcome"] == "verdict" and check["card_number"] == number
        assert check["verdict"]["reason"] == "not-yet-valid"
        assert check["verdict"]["coupon_serial"] == sold["serial"]
        # the office's activation is found done: the chip was activated at the counter
        assert {(a["kind"], a["state"]) for a in check["actions"]} == {
            ("activate", "found"), ("load-coupon", "done"), ("credit-purse", "done")}
        assert FIRST not in json.dumps(check) and SURNAME not in json.dumps(check)
        shown = card_show(capsys, chip, keys)
        [on_card] = [s for s in shown["slots"] if s["state"] == "coupon"]
        assert on_card["coupon"]["serial"] == sold["serial"]
        assert shown["purse"] == 15_000
        events = [e["kind"] for e in shown["events"]]
        assert events[:2] == ["inspection", "purse-credit"]

        # the office hears of it at the next sync: the coupon is written, the actions done
        report = timed(measured, "sync after the check", synced, capsys, handheld)
        assert report["journal"]["outbox"] == 0
        [coupon] = office_json(capsys, database, "coupon", "list", "--card", number)
        assert coupon["state"] == "written" and coupon["written_at"]
        journal = office_json(capsys, database, "journal", "--card", number)
        assert sorted(e["kind"] for e in journal) == ["activation", "inspection", "load",
                                                      "purse-credit"]
        assert all(e["device"] == "handheld 7" for e in journal)
        card = office_json(capsys, database, "card", "show", number)
        assert card["purse_balance"] == 15_000

        # a second check changes nothing on the card
        synced(capsys, handheld)
        again = timed(measured, "second check", inspector, capsys, handheld, chip)
        assert again["actions"] == [] and again["repeated"]
        assert card_show(capsys, chip, keys)["events"] == shown["events"]

        # nor does a kiosk's look at it
        timed(measured, "kiosk sync", synced, capsys, kiosk)
        with Inspector.from_config(load_config(str(kiosk))) as engine:
            reader = EmulatorReader(path=str(chip))
            reader.wait_for_card(timeout=1)
            before = reader.card.commands_processed
            started = time.perf_counter()
            view = engine.check(reader)
            measured["kiosk check (engine)"] = time.perf_counter() - started
            commands = reader.card.commands_processed - before
            reader.close()
        assert view.outcome is Outcome.VERDICT and view.actions == () and not view.recorded
        assert card_show(capsys, chip, keys)["events"] == shown["events"]
        assert card_show(capsys, chip, keys)["slots"] == shown["slots"]
        synced(capsys, kiosk)
        kinds = sorted(e["kind"] for e in office_json(capsys, database, "journal", "--card",
                                                      number))
        assert kinds == ["activation", "inspection", "kiosk-view", "load", "purse-credit"]
        [coupon] = office_json(capsys, database, "coupon", "list", "--card", number)
        assert coupon["state"] == "written"
        print("\nmeasured:", ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in measured.items()),
              f"(the kiosk's check: {commands} card commands)")
