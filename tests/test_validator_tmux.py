"""The driver's validator as a person sees it: ``ekarta validator`` full screen in a terminal
(tmux), a card issued through the office and served by ``ekarta emulator serve`` as a PN532,
held to the reader and taken away through the emulator's control interface; the verdict read
off the screen, then the card's event log and, after a sync, the office's journal."""

from __future__ import annotations

import json

import pytest

from tests.support.cli import ekarta, run
from tests.support.office import office_json, synced
from tests.support.served import (
    FIRST_NAME,
    SURNAME,
    WAIT,
    card_off_reader,
    control,
    office_terminal,
    terminal_app,
)
from tests.support.tmux import TmuxSession, shows_big, shows_welcome

pytestmark = pytest.mark.slow

UID = "04C1C2C3C4C5C6"


def test_a_tap_seen_on_the_screen_then_on_the_card_and_in_the_office(tmp_path, capsys):
    with office_terminal(capsys, tmp_path, role="validator", device="bus 1017",
                         uid=UID) as (issued, bus):
        database, number, sold = issued.database, issued.number, issued.sold
        with card_off_reader(capsys, issued.chip, tmp_path) as card:
            app = terminal_app("validator", bus, tmp_path, "--zone", "1", "--line", "14",
                               # a verdict stays long enough to be read on a loaded machine,
                               # and goes before the next look for the welcome gives up
                               "--clear-after", "12")
            with TmuxSession(app, width=80, height=24) as tmux:
                screen = tmux.wait_for(shows_welcome, timeout=WAIT)
                assert "Zóna 1" in screen and "Linka 14" in screen

                control(capsys, card, "insert")
                screen = tmux.wait_for(lambda s: shows_big(s, "PLATNÁ"), timeout=WAIT)
                assert not shows_big(screen, "NEPLATNÁ")
                assert "Zóna 1, linka 14" in screen
                assert "Kupon: 30denní kupon, zóny 1, 2" in screen
                assert "E-karta 000 000 001 3" in screen
                assert FIRST_NAME not in screen and SURNAME not in screen

                control(capsys, card, "remove")
                tmux.wait_for(shows_welcome, timeout=WAIT)

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
        code, out, err = run(capsys, "card", "show", "--reader", f"emulator:{issued.chip}",
                             "--keys", issued.exported, "--json")
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
    assert FIRST_NAME not in out and SURNAME not in out
    journal = json.loads(out)
    # the tap once, and the blocked status the bus wrote onto the card
    assert [(e["kind"], e["device"], e["zone"], e["line"], e["coupon_serial"])
            for e in journal] == [("validation", "bus 1017", 1, 14, sold["serial"]),
                                  ("blocking", "bus 1017", 1, 14, None)]
