"""``ekarta inspector``: one check (``--once``) of an emulated card in a file, which loads the
coupon the office holds for it, and one card number (``--number``) checked, as a script sees
them (JSON without names, exit status) and as a person reads them; every misuse a one-line
error."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from ekarta.desfire import DESFire
from ekarta.emulator import VirtualCard
from ekarta.emulator.reader import EmulatorReader
from ekarta.sync.messages import DeviceView, JournalKind
from ekarta.sync.roles import DeviceRole
from ekarta.terminal.config import init_terminal, load_config
from ekarta.transit import EventKind
from ekarta.transit.cardio.reading import read_card
from ekarta.transit.cardio.validation import CardLists, Place, validate_card
from tests.support.actions import load as load_item
from tests.support.cli import run
from tests.support.terminal import terminal, terminal_keys
from tests.support.validator import (
    AT,
    FIRST_NAME,
    NUMBER,
    SURNAME,
    coupon,
    entitled,
    make_card,
    signed,
)

WHEN = AT.isoformat()


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return terminal_keys(tmp_path_factory.mktemp("keys"), "inspector", "validator")


@pytest.fixture(scope="module")
def card_state(keys):
    full = keys[0]
    state = make_card(full)
    # the card was validated on a bus an hour before the check
    card = VirtualCard(state)
    validate_card(DESFire(EmulatorReader(card=card)), full, full.verifier(),
                  at=AT - timedelta(hours=1), place=Place(1017, zone=1, line=14),
                  lookup=lambda *_: CardLists())
    return card.state


@pytest.fixture(scope="module")
def held(keys):
    return signed(keys[0], coupon(900, date(2026, 11, 18), zones=(1,)))


@pytest.fixture
def handheld(tmp_path, keys, held):
    """An inspector's directory ("handheld 7") with the lists and a paid coupon to load, synced
    an hour before the check."""
    return terminal(tmp_path, keys, DeviceRole.INSPECTOR, "handheld 7", [load_item(31, held)],
                    entitlements=[entitled(coupons=[(held, "pending")])])


def test_one_check_loads_the_offices_coupon_and_prints_json_without_names(
        capsys, handheld, card_file, keys, held):
    code, out, err = run(capsys, "inspector", handheld, "--reader", f"emulator:{card_file}",
                         "--zone", "1", "--line", "14", "--once", "--json", "--at", WHEN,
                         "--wait", "1")
    assert code == 0, err
    document = json.loads(out)
    assert document["outcome"] == "verdict" and document["ok"] and document["recorded"]
    assert document["verdict"]["coupon_serial"] == 900 and not document["from_office"]
    [action] = document["actions"]
    assert (action["action_id"], action["kind"], action["state"], action["serial"]) == (
        31, "load-coupon", "done", 900)
    card = document["card"]
    assert card["status"] == "active" and card["purse"] == 0
    assert [c["serial"] for c in card["coupons"]] == [900]
    last = document["last_validation"]
    assert (last["kind"], last["device"], last["line"], last["zone"]) == ("validation", 1017,
                                                                          14, 1)
    assert document["event_id"]
    assert FIRST_NAME not in out and SURNAME not in out and "Nov" not in out
    image = read_card(DESFire(EmulatorReader(path=card_file)), keys[0])
    assert image.coupons == (held,)
    assert (image.events[-1].kind, image.events[-1].device) == (EventKind.INSPECTION, 7)
    with load_config(handheld).open_store() as store:
        assert [e.kind for e in store.outbox(10)] == [JournalKind.INSPECTION, JournalKind.LOAD]
        assert store.pending_actions(NUMBER) == ()


def test_a_check_for_a_person_and_a_refusals_exit_status(capsys, handheld, card_file):
    code, out, _ = run(capsys, "inspector", handheld, "-r", f"emulator:{card_file}",
                       "--zone", "7", "--once", "--at", WHEN, "--lang", "en", "--wait", "1")
    assert code == 3
    assert out.startswith("INVALID: ") and "zone-not-covered" in out
    assert "load-coupon 900: done" in out and "last validation" in out
    assert FIRST_NAME not in out


def test_a_card_number_checked_by_the_lists(capsys, handheld):
    code, out, _ = run(capsys, "inspector", handheld, "--zone", "1", "--number",
                       NUMBER.formatted, "--json", "--at", WHEN)
    assert code == 0
    document = json.loads(out)
    assert document["source"] == "barcode" and document["from_office"]
    assert document["card"]["coupons"][0]["serial"] == 900 and document["actions"] == []
    code, out, _ = run(capsys, "inspector", handheld, "--number", NUMBER.digits, "--at", WHEN,
                       "--lang", "en")
    assert code == 0 and out.startswith("VALID: ") and "from the barcode" in out
    code, out, _ = run(capsys, "inspector", handheld, "--number", "1234567890", "--json")
    assert code == 4 and json.loads(out)["outcome"] == "refused-number"


@pytest.mark.parametrize(("extra", "message"), [
    (["--once", "--number", "1234567894"], "give one of them"),
    (["--number", "1234567894", "--scanner", "loop://"], "--scanner is the app's"),
    (["--number", "1234567894", "--clear-after", "5"], "--clear-after is the app's"),
    (["--json"], "--json prints the outcome"),
    (["--once", "--json"], "name the inspector's reader"),
    (["--line", "0", "--number", "1234567894"], "line is a number"),
])
def test_misuse_is_one_line(capsys, handheld, monkeypatch, extra, message):
    monkeypatch.delenv("EKARTA_READER", raising=False)
    code, out, err = run(capsys, "inspector", handheld, *extra)
    assert out == "" and message in err
    if code == 2:  # argparse's usage error: the usage, then one line
        assert err.splitlines()[-1].startswith("ekarta inspector: error: ")
    else:
        assert code == 1 and err.startswith("ekarta: error: ") and err.count("\n") == 1


def test_a_validators_directory_is_refused(capsys, tmp_path, keys):
    config = init_terminal(str(tmp_path / "bus"), office="http://127.0.0.1:9",
                           token="ekarta_test", role=DeviceRole.VALIDATOR, keystore=keys[2],
                           device=DeviceView(name="bus 1017", role=DeviceRole.VALIDATOR))
    code, out, err = run(capsys, "inspector", config.directory, "--number", "1234567894")
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith("ekarta: error: ") and "validator's terminal" in err


def test_a_kiosks_directory_is_refused(capsys, tmp_path, keys):
    config = init_terminal(str(tmp_path / "kiosk"), office="http://127.0.0.1:9",
                           token="ekarta_test", role=DeviceRole.KIOSK, keystore=keys[1],
                           device=DeviceView(name="kiosk 3", role=DeviceRole.KIOSK))
    for argv in (["--number", "1234567894"], ["--reader", "emulator:"]):
        code, out, err = run(capsys, "inspector", config.directory, *argv)
        assert code == 1 and out == "" and err.count("\n") == 1
        assert "kiosk's terminal: the inspector needs an inspector's" in err
