"""Acceptance 2, end to end: a coupon sold at the office and paid by bank transfer (and a purse
top-up) is not on the card; the inspector's handheld syncs, checks the card (``ekarta inspector
--once --json``) and writes both onto it; after its next sync the office has the coupon written
and both actions done; a second check changes nothing, and neither does a kiosk's.

Everything runs as the operator and the terminals run it: ``ekarta office ...`` on the office's
database, ``ekarta office serve`` on a free port, ``ekarta terminal init|sync`` and the card
served from a file by the emulator reader.  The test prints what it measured (the check's card
commands and times, the syncs' times).

A profile renewed at the office's counter reaches the chip the same way, at a kiosk.  Two
terminals meeting one card get each action's lease in turn; one whose lease ran out while its
journal was out of the office's reach leaves the next to prove the card lacks what it leased.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ekarta.backoffice.api import create_app
from ekarta.backoffice.service import open_office
from ekarta.desfire import DESFire
from ekarta.emulator.reader import EmulatorReader
from ekarta.terminal.config import load_config
from ekarta.terminal.inspect import Inspector
from ekarta.terminal.outcome import Outcome
from ekarta.transit.cardio.validation import CardLists, Place, validate_card
from ekarta.transit.codec.records import EVENT_LOG_RECORDS
from ekarta.transit.security.keystore import FileKeyStore
from tests.support.cli import ekarta, run
from tests.support.office import OfficeServer, office_json, served, synced

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


def kiosk_once(capsys, directory: Path, chip: Path) -> dict:
    """``ekarta kiosk DIRECTORY --once --json`` on the card in ``chip``."""
    code, out, err = run(capsys, "kiosk", str(directory), "--reader", f"emulator:{chip}",
                         "--once", "--json")
    assert code in (0, 3), err
    return json.loads(out)


def timed(what: dict[str, float], name: str, call, *args, **kwargs):
    started = time.perf_counter()
    result = call(*args, **kwargs)
    what[name] = time.perf_counter() - started
    return result


@dataclass(frozen=True)
class Counter:
    """An office with one card produced onto a chip and activated (at the counter, chip and
    office), and the handheld's and the kiosk's keys and tokens."""

    database: str
    keys: str
    exported: dict[str, str]
    tokens: dict[str, str]
    number: str
    chip: Path

    def terminals(self, capsys, tmp_path: Path, url: str) -> tuple[Path, Path]:
        """``ekarta terminal init`` of the handheld and the kiosk against the office at
        ``url``: their directories."""
        handheld, kiosk = tmp_path / "handheld", tmp_path / "kiosk"
        for directory, role in ((handheld, "inspector"), (kiosk, "kiosk")):
            ekarta(capsys, "terminal", "init", str(directory), "--office", url,
                   "--role", role, "--keys", self.exported[role], "--token", self.tokens[role])
        return handheld, kiosk


def counter(capsys, tmp_path: Path, *application: str) -> Counter:
    """The office and the card of ``application`` (``ekarta office card apply``'s options)."""
    database = str(tmp_path / "office.db")
    keys = str(tmp_path / "keys.json")
    ekarta(capsys, "keys", "new", keys)
    exported = {}
    for role in ("inspector", "kiosk"):
        exported[role] = str(tmp_path / f"{role}-keys.json")
        ekarta(capsys, "keys", "export", keys, "--role", role, "-o", exported[role])
    office_json(capsys, database, "init")
    number = office_json(capsys, database, "card", "apply", "--first-name", FIRST, "--surname",
                         SURNAME, *application)["card_number"]
    chip = tmp_path / "card.json"
    ekarta(capsys, "emulator", "new", str(chip), "--uid", UID)
    office_json(capsys, database, "card", "produce", number, "--keys", keys,
                "--reader", f"emulator:{chip}")
    office_json(capsys, database, "card", "activate", number)
    ekarta(capsys, "card", "activate", "--reader", f"emulator:{chip}", "--keys", keys)
    tokens = {role: office_json(capsys, database, "device", "add", name, "--role", role)["token"]
              for role, name in (("inspector", "handheld 7"), ("kiosk", "kiosk 3"))}
    return Counter(database, keys, exported, tokens, number, chip)


def test_a_coupon_paid_by_bank_transfer_reaches_the_card_at_an_inspection(tmp_path, capsys):
    measured: dict[str, float] = {}
    office = counter(capsys, tmp_path, "--birth-date", "1980-03-17",
                     "--contact", "xq@example.cz")
    database, keys, number, chip = office.database, office.keys, office.number, office.chip

    # an e-shop order paid by bank transfer: paid days later, not on the card
    sold = office_json(capsys, database, "coupon", "sell", number, "--type", "30-day",
                       "--zones", "1,2", "--channel", "eshop-bank-transfer", "--keys", keys)
    assert not sold["paid"]
    office_json(capsys, database, "coupon", "pay", str(sold["serial"]))
    office_json(capsys, database, "purse", "top-up", number, "150")
    assert card_show(capsys, chip, keys)["slots"][0]["state"] == "empty"

    with OfficeServer.running(database, keys, log=tmp_path / "serve.log") as server:
        handheld, kiosk = office.terminals(capsys, tmp_path, server.url)
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


def test_a_profile_renewed_at_the_counter_reaches_the_chip_at_a_kiosk(tmp_path, capsys):
    office = counter(capsys, tmp_path, "--birth-date", "2008-04-01", "--profile", "student",
                     "--profile-end", "2027-08-31")
    database, number, chip = office.database, office.number, office.chip
    assert card_show(capsys, chip, office.keys)["profile_end"] == "2027-08-31"
    # the holder shows this year's confirmation of studies; then changes their mind once
    office_json(capsys, database, "card", "profile", number, "--profile-end", "2028-06-30")
    renewed = office_json(capsys, database, "card", "profile", number,
                          "--profile-end", "2028-08-31")
    assert (renewed["profile"], renewed["profile_end"]) == ("student", "2028-08-31")

    with OfficeServer.running(database, office.keys, log=tmp_path / "serve.log") as server:
        _, kiosk = office.terminals(capsys, tmp_path, server.url)
        synced(capsys, kiosk)
        view = kiosk_once(capsys, kiosk, chip)
        # the first change was withdrawn by the second: one update, done (and the office's
        # activation found done, as at the inspection above)
        assert sorted((a["kind"], a["state"]) for a in view["actions"]) == [
            ("activate", "found"), ("update-profile", "done")]
        shown = card_show(capsys, chip, office.keys)
        assert (shown["profile"], shown["profile_end"]) == ("student", "2028-08-31")
        synced(capsys, kiosk)
        kinds = [e["kind"] for e in office_json(capsys, database, "journal", "--card", number)]
        assert "profile-update" in kinds
        # done at the office too: a kiosk that syncs again has nothing left to write
        synced(capsys, kiosk)
        assert kiosk_once(capsys, kiosk, chip)["actions"] == []


def credits(check: dict) -> list[tuple[str, str | None]]:
    return [(a["state"], a["refusal"]) for a in check["actions"] if a["kind"] == "credit-purse"]


def test_two_terminals_meeting_one_card_the_office_leases_each_action_to_one(tmp_path, capsys):
    office = counter(capsys, tmp_path, "--birth-date", "1980-03-17",
                     "--contact", "xq@example.cz")
    database, keys, number, chip = office.database, office.keys, office.number, office.chip
    office_json(capsys, database, "purse", "top-up", number, "150")
    sold = office_json(capsys, database, "coupon", "sell", number, "--type", "30-day",
                       "--zones", "1,2", "--keys", keys)

    with OfficeServer.running(database, keys, log=tmp_path / "serve.log") as server:
        handheld, kiosk = office.terminals(capsys, tmp_path, server.url)
        synced(capsys, handheld)
        synced(capsys, kiosk)
        # the coupon is cancelled at the counter after the handheld's sync: the handheld still
        # lists its load, the office no longer leases it
        office_json(capsys, database, "coupon", "cancel", str(sold["serial"]))
        check = inspector(capsys, handheld, chip)
        loads = [(a["state"], a["refusal"]) for a in check["actions"]
                 if a["kind"] == "load-coupon"]
        assert loads == [("waiting", "action-elsewhere")]
        assert credits(check) == [("done", None)]  # the top-up, leased to the handheld
        shown = card_show(capsys, chip, keys)
        assert shown["purse"] == 15_000
        assert [s["state"] for s in shown["slots"]] == ["empty"] * len(shown["slots"])
        # the kiosk, its list from before the handheld's journal reached the office, finds
        # the top-up on the card (its log) and writes nothing; no lease was asked for it
        view = kiosk_once(capsys, kiosk, chip)
        assert credits(view) == [("found", None)]
        assert card_show(capsys, chip, keys)["purse"] == 15_000
        synced(capsys, handheld)
        synced(capsys, kiosk)
        journal = office_json(capsys, database, "journal", "--card", number)
        assert {e["device"] for e in journal if e["kind"] == "purse-credit"} <= {
            "handheld 7", "kiosk 3"}
        assert office_json(capsys, database, "card", "show", number)["purse_balance"] == 15_000

        # another top-up, synced by the handheld, which then loses the office
        office_json(capsys, database, "purse", "top-up", number, "50")
        synced(capsys, handheld)
    # no lease to be had: the card's log, which still holds every event the card logged, says
    # the credit was never made, and the handheld makes it
    assert len(card_show(capsys, chip, keys)["events"]) < EVENT_LOG_RECORDS
    assert credits(inspector(capsys, handheld, chip)) == [("done", None)]
    assert card_show(capsys, chip, keys)["purse"] == 20_000


def test_a_lease_run_out_on_a_terminal_out_of_reach_leaves_the_next_to_prove_it(tmp_path,
                                                                                  capsys):
    office = counter(capsys, tmp_path, "--birth-date", "1980-03-17",
                     "--contact", "xq@example.cz")
    database, keys, number, chip = office.database, office.keys, office.number, office.chip
    office_json(capsys, database, "purse", "top-up", number, "150")
    engine, office_keys = open_office(database, keys)
    # leases as short as a check: the one below runs out within the test
    app = create_app(engine, envelope_key=office_keys.envelope, signer=office_keys.signer,
                     lease_for=timedelta(seconds=1))
    with served(app) as url:
        handheld, kiosk = office.terminals(capsys, tmp_path, url)
        synced(capsys, handheld)
        synced(capsys, kiosk)
        # the handheld credits the card under its lease, then loses the office with the
        # credit in its journal
        assert credits(inspector(capsys, handheld, chip)) == [("done", None)]
        # the card goes on being used: its log no longer holds the credit
        validations = FileKeyStore.load(keys)
        reader = EmulatorReader(path=str(chip))
        reader.wait_for_card(timeout=1)
        for minute in range(EVENT_LOG_RECORDS):
            reader.card.reset()
            validate_card(DESFire(reader), validations, validations.verifier(),
                          at=datetime.now(UTC) + timedelta(minutes=minute),
                          place=Place(1017, zone=1), lookup=lambda *_: CardLists())
        reader.close()
        assert "purse-credit" not in [e["kind"] for e in card_show(capsys, chip, keys)["events"]]
        time.sleep(1.2)
        # the kiosk gets the lease that ran out, but contested: with nothing on the card to
        # show the credit was not made, it waits for the handheld's report
        view = kiosk_once(capsys, kiosk, chip)
        assert credits(view) == [("waiting", "credit-unproven")]
        assert card_show(capsys, chip, keys)["purse"] == 15_000
        # the operator sees why the top-up is not on the card yet
        [waiting] = [a for a in office_json(capsys, database, "card", "show", number)["actions"]
                     if a["kind"] == "credit-purse"]
        assert (waiting["kind"], waiting["amount"], waiting["leased_to"], waiting["contested"]) \
            == ("credit-purse", 15_000, "kiosk 3", True)
        # the handheld's journal reaches the office: the credit is done, and the kiosk lets it be
        synced(capsys, handheld)
        synced(capsys, kiosk)
        assert credits(kiosk_once(capsys, kiosk, chip)) == []
        assert card_show(capsys, chip, keys)["purse"] == 15_000
        shown = office_json(capsys, database, "card", "show", number)
        assert shown["purse_balance"] == 15_000 and shown["actions"] == []
        journal = office_json(capsys, database, "journal", "--card", number)
        assert [e["device"] for e in journal if e["kind"] == "purse-credit"] == ["handheld 7"]
    engine.dispose()
