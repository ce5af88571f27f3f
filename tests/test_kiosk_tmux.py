"""The kiosk as a person sees it: ``ekarta kiosk`` full screen in a terminal (tmux), a card
issued through the office and served by ``ekarta emulator serve`` as a PN532, placed on the reader
through the emulator's control interface.  The coupon paid at the office is loaded and shown with
the holder's name; after the interval the welcome is back and the name is nowhere in the pane.
And the reader unplugged and plugged back while the kiosk runs: "out of order" meanwhile, then
it works again without a restart."""

from __future__ import annotations

import json
import os
import sys
from datetime import timedelta

import pytest

from ekarta.emulator import VirtualCard
from ekarta.sync.messages import DeviceView
from ekarta.sync.roles import DeviceRole
from ekarta.terminal.config import init_terminal
from ekarta.transit.security.keystore import TERMINAL_KEYS, FileKeyStore, create_keystore
from tests.support.cli import ekarta
from tests.support.office import OfficeServer, synced
from tests.support.served import FIRST_NAME as FIRST
from tests.support.served import SURNAME as LAST
from tests.support.served import WAIT, control, issued_through_office, served_card
from tests.support.tmux import TmuxSession, shows_big
from tests.support.validator import AT, FIRST_NAME, SURNAME, make_card, put_lists

pytestmark = pytest.mark.slow

UID = "04D1D2D3D4D5D6"
SIZE = {"width": 100, "height": 36}
HIDE_AFTER = 5


def welcome(screen: str) -> bool:
    return shows_big(screen, "PŘILOŽTE") and "Present your card" in screen


def out_of_order(screen: str) -> bool:
    return shows_big(screen, "MIMO PROVOZ") and "ČTEČKA NEPŘIPOJENA" in screen


def kiosk(directory, link) -> list[str]:
    return [sys.executable, "-m", "ekarta", "kiosk", str(directory), "--reader",
            f"pn532:{link}", "--hide-after", str(HIDE_AFTER)]


def test_a_card_shown_with_the_coupon_loaded_then_hidden_by_time(tmp_path, capsys):
    # a coupon paid in the e-shop: the office holds it until a kiosk or an inspector loads it
    issued = issued_through_office(capsys, tmp_path, role="kiosk", device="kiosk 3", uid=UID)
    database, number, chip = issued.database, issued.number, issued.chip

    hall = tmp_path / "hall"
    with OfficeServer.running(database, issued.keys, log=tmp_path / "serve.log") as server:
        ekarta(capsys, "terminal", "init", str(hall), "--office", server.url, "--role", "kiosk",
               "--keys", issued.exported, "--token", issued.token)
        synced(capsys, hall)
        with served_card(chip, tmp_path / "pn532", tmp_path / "card.sock") as card:
            control(capsys, card, "remove")
            with TmuxSession(kiosk(hall, tmp_path / "pn532"), **SIZE) as tmux:
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
    full = create_keystore(tmp_path / "keys.json")
    exported = tmp_path / "kiosk-keys.json"
    exported.write_text(json.dumps(full.export(TERMINAL_KEYS["kiosk"]).to_document()))
    os.chmod(exported, 0o600)
    config = init_terminal(str(tmp_path / "hall"), office="http://127.0.0.1:9",
                           token="ekarta_test", role=DeviceRole.KIOSK,
                           keystore=FileKeyStore.load(exported),
                           device=DeviceView(name="kiosk 3", role=DeviceRole.KIOSK))
    with config.open_store() as store:
        put_lists(store, issued_at=AT - timedelta(hours=1))
    chip = tmp_path / "card.json"
    VirtualCard(make_card(FileKeyStore.load(tmp_path / "keys.json"))).save(chip)
    link, socket = tmp_path / "pn532", tmp_path / "card.sock"

    with TmuxSession(kiosk(config.directory, link), **SIZE) as tmux:
        # no reader yet: out of order, not a traceback
        tmux.wait_for(out_of_order, timeout=WAIT)
        with served_card(chip, link, socket) as card:
            control(capsys, card, "remove")
            tmux.wait_for(welcome, timeout=WAIT)
            control(capsys, card, "insert")
            tmux.wait_for(f"{FIRST_NAME} {SURNAME}", timeout=WAIT)
            control(capsys, card, "quit")  # the reader unplugged, with a card shown

        screen = tmux.wait_for(out_of_order, timeout=WAIT)
        assert FIRST_NAME not in screen and "Traceback" not in screen
        assert tmux.exit_status() is None

        with served_card(chip, link, socket) as card:  # plugged back
            control(capsys, card, "remove")
            tmux.wait_for(welcome, timeout=WAIT)
            control(capsys, card, "insert")
            tmux.wait_for(f"{FIRST_NAME} {SURNAME}", timeout=WAIT)
            tmux.send_keys("Escape")  # hidden by the key of the Hide button
            screen = tmux.wait_for(welcome, timeout=WAIT)
            assert FIRST_NAME not in screen
            tmux.send_keys("C-x", "C-c")
            assert tmux.wait_for_exit(timeout=WAIT) == 0
            control(capsys, card, "quit")
