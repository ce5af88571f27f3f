"""The driver's validator as a person sees it: ``ekarta validator`` full screen in a terminal
(tmux), a card issued through the office and served by ``ekarta emulator serve`` as a PN532,
held to the reader and taken away through the emulator's control interface; the verdict read
off the screen, then the card's event log and, after a sync, the office's journal."""

from __future__ import annotations

import json
import sys

import pytest

from tests.support.cli import ekarta, run
from tests.support.office import OfficeServer, office_json, synced
from tests.support.served import WAIT, control, served_card
from tests.support.tmux import TmuxSession, shows_big

pytestmark = pytest.mark.slow

FIRST, SURNAME = "Xaverína", "Quendlová"
UID = "04C1C2C3C4C5C6"


def welcome(screen: str) -> bool:
    return shows_big(screen, "PŘILOŽTE") and "Present your card" in screen


def test_a_tap_seen_on_the_screen_then_on_the_card_and_in_the_office(tmp_path, capsys):
    database = str(tmp_path / "office.db")
    keys, exported = str(tmp_path / "keys.json"), str(tmp_path / "validator-keys.json")
    ekarta(capsys, "keys", "new", keys)
    ekarta(capsys, "keys", "export", keys, "--role", "validator", "-o", exported)
    office_json(capsys, database, "init")
    number = office_json(capsys, database, "card", "apply", "--first-name", FIRST, "--surname",
                         SURNAME, "--birth-date", "2007-03-17", "--profile", "student",
                         "--profile-end", "2027-08-31", "--contact", "xq@example.cz"
                         )["card_number"]
    chip = tmp_path / "card.json"
    ekarta(capsys, "emulator", "new", str(chip), "--uid", UID)
    office_json(capsys, database, "card", "produce", number, "--keys", keys,
                "--reader", f"emulator:{chip}")
    office_json(capsys, database, "card", "activate", number)
    # staff at the contact point hand the card over active: its chip says so too
    ekarta(capsys, "card", "activate", "--reader", f"emulator:{chip}", "--keys", keys)
    token = office_json(capsys, database, "device", "add", "bus 1017",
                        "--role", "validator")["token"]
    sold = office_json(capsys, database, "coupon", "sell", number, "--type", "30-day",
                       "--zones", "1,2", "--keys", keys)
    assert sold["paid"]

    bus = tmp_path / "bus"
    with OfficeServer.running(database, keys, log=tmp_path / "serve.log") as server:
        ekarta(capsys, "terminal", "init", str(bus), "--office", server.url, "--role",
               "validator", "--keys", exported, "--token", token)
        synced(capsys, bus)
        with served_card(chip, tmp_path / "pn532", tmp_path / "card.sock") as card:
            control(capsys, card, "remove")
            app = [sys.executable, "-m", "ekarta", "validator", str(bus), "--reader",
                   f"pn532:{tmp_path / 'pn532'}", "--zone", "1", "--line", "14"]
            with TmuxSession(app, width=80, height=24) as tmux:
                screen = tmux.wait_for(welcome, timeout=WAIT)
                assert "Zóna 1" in screen and "Linka 14" in screen

                control(capsys, card, "insert")
                screen = tmux.wait_for(lambda s: shows_big(s, "PLATNÁ"), timeout=WAIT)
                assert not shows_big(screen, "NEPLATNÁ")
                assert "Zóna 1, linka 14" in screen
                assert "Kupon: 30denní kupon, zóny 1, 2" in screen
                assert "E-karta 000 000 001 3" in screen
                assert FIRST not in screen and SURNAME not in screen

                control(capsys, card, "remove")
                tmux.wait_for(welcome, timeout=WAIT)

                # the holder reports the card lost; the office's hotlist reaches the bus
                office_json(capsys, database, "card", "block", number, "--reason", "lost")
                synced(capsys, bus)
                control(capsys, card, "insert")
                screen = tmux.wait_for(lambda s: shows_big(s, "BLOKOVÁNA"), timeout=WAIT)
                assert not shows_big(screen, "PLATNÁ")
                control(capsys, card, "remove")

                tmux.send_keys("C-x", "C-c")
                assert tmux.wait_for_exit(timeout=WAIT) == 0
            control(capsys, card, "quit")

        # the card is blocked now, on its chip too: not valid (3)
        code, out, err = run(capsys, "card", "show", "--reader", f"emulator:{chip}", "--keys",
                             exported, "--json")
        assert code == 3, err
        events = json.loads(out)["events"]
        assert [e["kind"] for e in events] == ["blocking", "validation", "activation"]
        [validation] = [e for e in events if e["kind"] == "validation"]
        assert (validation["zone"], validation["line"]) == (1, 14)
        assert (validation["result"], validation["device"]) == ("valid", 1017)
        assert validation["coupon_serial"] == sold["serial"]
        assert json.loads(out)["status"] == "blocked"

        report = synced(capsys, bus)
        assert report["journal"]["outbox"] == 0
    out = ekarta(capsys, "office", "journal", "--db", database, "--card", number, "--json")
    assert FIRST not in out and SURNAME not in out
    journal = json.loads(out)
    # the tap once, and the blocked status the bus wrote onto the card
    assert [(e["kind"], e["device"], e["zone"], e["line"], e["coupon_serial"])
            for e in journal] == [("validation", "bus 1017", 1, 14, sold["serial"]),
                                  ("blocking", "bus 1017", 1, 14, None)]
