"""The inspector's handheld as a person sees it: ``ekarta inspector`` full screen in a terminal
(tmux), a card issued through the office with a coupon paid there and not yet on it, served by
``ekarta emulator serve`` as a PN532 and held to the reader through the emulator's control
interface.
A chip check loads the coupon and shows the holder, the inspector records the outcome; then the
chip goes mute and its barcode's number, typed, gives the same verdict from the synced lists,
and the inspector records that the card is someone else's; the shift's summary counts both.
The screen is read back with tmux's capture-pane, then the card and, after a sync, the office's
journal."""

from __future__ import annotations

import json
import time

import pytest

from ekarta.transit.model.values import Reason
from tests.support.cli import ekarta, run
from tests.support.office import synced
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

UID = "04D1D2D3D4D5D6"


def test_a_chip_check_and_a_barcode_check_of_the_mute_chip_seen_on_the_screen(tmp_path, capsys):
    with office_terminal(capsys, tmp_path, role="inspector", device="revizor 21",
                         uid=UID) as (issued, handheld):
        database, keys, number, sold = issued.database, issued.keys, issued.number, issued.sold
        with card_off_reader(capsys, issued.chip, tmp_path) as card:
            app = terminal_app("inspector", handheld, tmp_path, "--zone", "1", "--line", "14",
                               "--clear-after", "600")
            with TmuxSession(app, width=80, height=24) as tmux:
                screen = tmux.wait_for(shows_welcome, timeout=WAIT)
                assert "Zóna 1" in screen and "Linka 14" in screen and "F6 Směna" in screen

                # the chip: checked, the office's coupon loaded, the holder shown
                control(capsys, card, "insert")
                screen = tmux.wait_for(lambda s: shows_big(s, "PLATNÁ"), timeout=WAIT)
                assert not shows_big(screen, "NEPLATNÁ")
                assert f"{FIRST_NAME} {SURNAME}, nar. 17. 3. 2007" in screen
                assert "Profil: žáci a studenti od 15 do 26 let, do 31. 8. 2027" in screen
                assert "30denní kupon, zóny 1, 2" in screen and "nahráno nyní" in screen
                assert "Poslední odbavení: na e-kartě žádné" in screen

                tmux.send_keys("F5")
                tmux.wait_for("Výsledek kontroly: PLATNÁ", timeout=WAIT)
                tmux.send_keys("P-1", literal=True)
                # as a person would: the note is seen in its field before it is sent
                tmux.wait_for("P-1", timeout=WAIT)
                tmux.send_keys("F5")
                screen = tmux.wait_for("Zaznamenáno: platná; poznámka: P-1", timeout=WAIT)
                assert f"{FIRST_NAME} {SURNAME}" in screen
                control(capsys, card, "remove")

                # the chip goes mute: unreadable; its barcode's number, typed, gives the verdict
                control(capsys, card, "mute on")
                control(capsys, card, "insert")
                screen = tmux.wait_for(lambda s: shows_big(s, "NEČITELNÁ"), timeout=WAIT)
                assert "Čip nelze přečíst: ověřte čárový kód e-karty." in screen
                assert FIRST_NAME not in screen
                tmux.send_keys(number, literal=True)
                tmux.send_keys("Enter")
                screen = tmux.wait_for("Podle čárového kódu", timeout=WAIT)
                assert shows_big(screen, "PLATNÁ") and not shows_big(screen, "NEPLATNÁ")
                assert "Osobní e-karta: jméno ověřte na kartě" in screen
                assert FIRST_NAME not in screen and SURNAME not in screen
                control(capsys, card, "remove")
                # the name printed on the card is not the passenger's: someone else's card
                tmux.send_keys("F5")
                tmux.wait_for("Výsledek kontroly: PLATNÁ", timeout=WAIT)
                tmux.send_keys("F6")
                tmux.wait_for("* cizí e-karta", timeout=WAIT)
                tmux.send_keys("*", literal=True)
                tmux.wait_for("Zaznamenáno: neplatná, cizí e-karta", timeout=WAIT)

                tmux.send_keys("F6")
                screen = tmux.wait_for("kontrol 2", timeout=WAIT)
                assert "Platných 2 · neplatných 0 · z toho čárovým kódem 1" in screen
                assert "Výsledek zaznamenán 2 (neplatných 1) · nezaznamenán 0" in screen
                assert "Podle linek: 14: 2" in screen
                tmux.send_keys("Escape")
                screen = tmux.wait_for("F6 Směna", timeout=WAIT)
                assert "F5 Zaznamenat výsledek" not in screen  # the check's outcome is in

                tmux.send_keys("C-c", "C-q")  # not the service keys: it runs on
                time.sleep(0.5)
                assert tmux.exit_status() is None
                tmux.send_keys("C-x", "C-c")
                assert tmux.wait_for_exit(timeout=WAIT) == 0
            control(capsys, card, "quit")

        # the coupon is on the card once, with the inspection in its log
        code, out, err = run(capsys, "card", "show", "--reader", f"emulator:{issued.chip}",
                             "--keys", keys, "--json")
        assert code == 0, err
        shown = json.loads(out)
        assert [s["coupon"]["serial"] for s in shown["slots"] if s["state"] == "coupon"] == [
            sold["serial"]]
        assert shown["events"][0]["kind"] == "inspection"
        report = synced(capsys, handheld)
        assert report["journal"]["outbox"] == 0
    out = ekarta(capsys, "office", "journal", "--db", database, "--card", number, "--json")
    assert FIRST_NAME not in out and SURNAME not in out
    kinds = [e["kind"] for e in json.loads(out)]
    assert kinds.count("load") == 1 and "inspection" in kinds
    results = [e.get("result") for e in json.loads(out) if e["kind"] == "inspection"]
    assert int(Reason.NOT_THE_HOLDER) in results  # the outcome recorded, without a name
