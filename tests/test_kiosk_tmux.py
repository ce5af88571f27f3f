"""The kiosk as a person sees it: ``ekarta kiosk`` full screen in a terminal (tmux), a card
issued through the office and served by ``ekarta emulator serve`` as a PN532, placed on the reader
through the emulator's control interface.  The coupon paid at the office is loaded and shown with
the holder's name; after the interval the welcome is back and the name is nowhere in the pane.
And the reader unplugged and plugged back while the kiosk runs: "out of order" meanwhile, then
it works again without a restart."""

from __future__ import annotations

import json

import pytest

from ekarta.emulator import VirtualCard
from ekarta.sync.roles import DeviceRole
from tests.support.cli import ekarta
from tests.support.office import synced
from tests.support.served import FIRST_NAME as FIRST
from tests.support.served import SURNAME as LAST
from tests.support.served import (
    WAIT,
    card_off_reader,
    control,
    office_terminal,
    terminal_app,
)
from tests.support.terminal import terminal, terminal_keys
from tests.support.tmux import TmuxSession, shows_big
from tests.support.tmux import shows_welcome as welcome
from tests.support.validator import FIRST_NAME, SURNAME, make_card

pytestmark = pytest.mark.slow

UID = "04D1D2D3D4D5D6"
SIZE = {"width": 100, "height": 36}
HIDE_AFTER = 5


def out_of_order(screen: str) -> bool:
    return shows_big(screen, "MIMO PROVOZ") and "ČTEČKA NEPŘIPOJENA" in screen


def kiosk(directory, folder) -> list[str]:
    return terminal_app("kiosk", directory, folder, "--hide-after", str(HIDE_AFTER))


def test_a_card_shown_with_the_coupon_loaded_then_hidden_by_time(tmp_path, capsys):
    # a coupon paid in the e-shop: the office holds it until a kiosk or an inspector loads it
    with office_terminal(capsys, tmp_path, role="kiosk", device="kiosk 3",
                         uid=UID) as (issued, hall):
        database, number, chip = issued.database, issued.number, issued.chip
        with card_off_reader(capsys, chip, tmp_path) as card:
            with TmuxSession(kiosk(hall, tmp_path), **SIZE) as tmux:
                tmux.wait_for(welcome, timeout=WAIT)

                control(capsys, card, "insert")
                screen = tmux.wait_for(f"{FIRST} {LAST}", timeout=WAIT)
                assert "Kupony platné nyní a budoucí" in screen
                assert "30denní kupon" in screen and "zóny 1, 2" in screen
                assert "Nahráno nyní: 30denní kupon" in screen
                assert "SKRÝT" in screen and "Profil: žáci a studenti" in screen

                # nobody touches it: the welcome is back, and nothing of the holder's
                screen = tmux.wait_for(welcome, timeout=HIDE_AFTER + WAIT)
                for trace in (FIRST, LAST, number, "30denní kupon", "2007"):
                    assert trace not in screen
                control(capsys, card, "remove")

                tmux.send_keys("C-x", "C-c")
                assert tmux.wait_for_exit(timeout=WAIT) == 0
            control(capsys, card, "quit")
        report = synced(capsys, hall)
        assert report["journal"]["outbox"] == 0
    out = ekarta(capsys, "office", "journal", "--db", database, "--card", number, "--json")
    assert FIRST not in out and LAST not in out
    journal = json.loads(out)
    # the view, the coupon it loaded (and the activation the office asked, found done)
    assert {"kiosk-view", "load"} <= {event["kind"] for event in journal}
    assert {event["device"] for event in journal} == {"kiosk 3"}


def test_a_reader_unplugged_and_plugged_back_while_the_kiosk_runs(tmp_path, capsys):
    keys = terminal_keys(tmp_path, "kiosk")
    hall = terminal(tmp_path, keys, DeviceRole.KIOSK, "kiosk 3")
    chip = tmp_path / "card.json"
    VirtualCard(make_card(keys[0])).save(chip)

    with TmuxSession(kiosk(hall, tmp_path), **SIZE) as tmux:
        # no reader yet: out of order, not a traceback
        tmux.wait_for(out_of_order, timeout=WAIT)
        with card_off_reader(capsys, chip, tmp_path) as card:
            tmux.wait_for(welcome, timeout=WAIT)
            control(capsys, card, "insert")
            tmux.wait_for(f"{FIRST_NAME} {SURNAME}", timeout=WAIT)
            control(capsys, card, "quit")  # the reader unplugged, with a card shown

        screen = tmux.wait_for(out_of_order, timeout=WAIT)
        assert FIRST_NAME not in screen and "Traceback" not in screen
        assert tmux.exit_status() is None

        with card_off_reader(capsys, chip, tmp_path) as card:  # plugged back
            tmux.wait_for(welcome, timeout=WAIT)
            control(capsys, card, "insert")
            tmux.wait_for(f"{FIRST_NAME} {SURNAME}", timeout=WAIT)
            tmux.send_keys("Escape")  # hidden by the key of the Hide button
            screen = tmux.wait_for(welcome, timeout=WAIT)
            assert FIRST_NAME not in screen
            tmux.send_keys("C-x", "C-c")
            assert tmux.wait_for_exit(timeout=WAIT) == 0
            control(capsys, card, "quit")
