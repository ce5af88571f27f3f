"""``ekarta validator``: one tap (``--once``) on an emulated card in a file and one card number
(``--number``) checked, as a script sees them (JSON, exit status) and as a person reads them;
every misuse a one-line error."""

from __future__ import annotations

import json
import os
from datetime import date, timedelta

import pytest

from ekarta.desfire import DESFire
from ekarta.emulator import VirtualCard
from ekarta.emulator.reader import EmulatorReader
from ekarta.sync.messages import JournalKind
from ekarta.sync.roles import DeviceRole
from ekarta.terminal.config import load_config
from ekarta.transit import EventKind
from ekarta.transit.cardio.reading import read_card
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
    return terminal_keys(tmp_path_factory.mktemp("keys"), "validator")


@pytest.fixture(scope="module")
def card_state(keys):
    full, _ = keys
    return make_card(full, slots=[signed(full, coupon(501, zones=(1,)))])


@pytest.fixture
def bus(tmp_path, keys):
    """A validator's directory ("bus 1017") with lists synced an hour before the tap."""
    held = signed(keys[0], coupon(900, date(2026, 11, 18)))
    return terminal(tmp_path, keys, DeviceRole.VALIDATOR, "bus 1017",
                    entitlements=[entitled(coupons=[(held, "pending")])])


def test_one_tap_as_json(capsys, bus, card_file, keys):
    code, out, err = run(capsys, "validator", bus, "--reader", f"emulator:{card_file}",
                         "--zone", "1", "--line", "14", "--once", "--json", "--at", WHEN,
                         "--wait", "1")
    assert code == 0, err
    document = json.loads(out)
    assert document["outcome"] == "verdict" and document["ok"] and document["recorded"]
    assert document["source"] == "chip" and document["card_number"] == NUMBER.digits
    assert document["verdict"]["reason"] == "valid" and document["verdict"]["coupon_serial"] == 501
    assert (document["zone"], document["line"], document["stale"]) == (1, 14, False)
    assert document["lists_age_seconds"] == 3600 and not document["repeated"]
    assert FIRST_NAME not in out and SURNAME not in out
    image = read_card(DESFire(EmulatorReader(path=card_file)), keys[0])
    [event] = image.events
    assert (event.kind, event.device, event.zone, event.line) == (EventKind.VALIDATION, 1017,
                                                                   1, 14)
    with load_config(bus).open_store() as store:
        [entry] = store.outbox(10)
    assert entry.kind is JournalKind.VALIDATION and entry.card_number == NUMBER.digits


def test_a_refusal_for_a_person_and_its_exit_status(capsys, bus, card_file):
    code, out, _ = run(capsys, "validator", bus, "-r", f"emulator:{card_file}", "--zone", "7",
                       "--once", "--at", WHEN, "--lang", "en", "--wait", "1")
    assert code == 3
    assert out.startswith("INVALID: ")
    assert "zone-not-covered" in out and "123 456 789 4" in out


def test_a_card_that_is_not_ours_has_no_verdict(capsys, bus, tmp_path):
    blank = tmp_path / "blank.json"
    VirtualCard.new().save(blank)
    code, out, _ = run(capsys, "validator", bus, "-r", f"emulator:{blank}", "--once", "--json",
                       "--wait", "1")
    assert code == 4
    document = json.loads(out)
    assert document["outcome"] == "not-a-transit-card" and document["verdict"] is None


def test_a_card_number_checked_by_the_lists(capsys, bus):
    code, out, _ = run(capsys, "validator", bus, "--zone", "1", "--number", NUMBER.formatted,
                       "--json", "--at", WHEN)
    assert code == 0
    document = json.loads(out)
    assert document["source"] == "barcode" and document["from_office"]
    assert document["verdict"]["coupon_serial"] == 900 and not document["recorded"]
    code, out, _ = run(capsys, "validator", bus, "--number", NUMBER.digits, "--at", WHEN,
                       "--lang", "en")
    assert code == 0 and out.startswith("VALID: ") and "from the barcode, data as of" in out
    code, out, _ = run(capsys, "validator", bus, "--number", "1234567890", "--json")
    assert code == 4 and json.loads(out)["outcome"] == "refused-number"


def test_stale_lists_are_a_warning(capsys, bus):
    later = (AT + timedelta(days=4)).isoformat()
    code, out, _ = run(capsys, "validator", bus, "--number", NUMBER.digits, "--at", later,
                       "--lang", "en")
    assert code == 0 and "WARNING: the lists are 4 days old" in out


@pytest.mark.parametrize(("extra", "message"), [
    (["--once", "--number", "1234567894"], "give one of them"),
    (["--number", "1234567894", "--scanner", "loop://"], "--scanner is the app's"),
    (["--json"], "--json prints the outcome"),
    (["--number", "1234567894", "--clear-after", "9"], "--clear-after is the app's"),
    (["--once", "--json"], "name the validator's reader"),
])
def test_misuse_is_one_line(capsys, bus, monkeypatch, extra, message):
    monkeypatch.delenv("EKARTA_READER", raising=False)
    code, out, err = run(capsys, "validator", bus, *extra)
    assert code == 1 and out == ""
    assert err.startswith("ekarta: error: ") and message in err and err.count("\n") == 1


@pytest.mark.parametrize("role", [DeviceRole.INSPECTOR, DeviceRole.KIOSK])
def test_another_roles_directory_is_refused_before_any_tap(capsys, tmp_path, role):
    keys = terminal_keys(tmp_path, role.value)
    directory = terminal(tmp_path, keys, role, f"{role} 7")
    for argv in (["--number", "1234567894"], ["--reader", "emulator:", "--once"]):
        code, out, err = run(capsys, "validator", directory, *argv)
        assert (code, out) == (1, "") and err.count("\n") == 1
        assert f"is a {role}'s terminal: a validator needs a validator's" in err


def test_a_directory_that_is_no_terminal_and_a_device_without_a_number(capsys, tmp_path, bus):
    code, _, err = run(capsys, "validator", str(tmp_path), "--number", "1234567894")
    assert code == 1 and "is not a terminal directory" in err
    path = os.path.join(bus, "terminal.json")
    with open(path) as f:
        document = json.load(f)
    document["device"] = "cab"
    with open(path, "w") as f:
        json.dump(document, f)
    code, _, err = run(capsys, "validator", bus, "--number", "1234567894")
    assert code == 1 and "--device" not in err and "ends with no number" in err
    code, _, err = run(capsys, "validator", bus, "--number", "1234567894", "--device", "5")
    assert code in (0, 3), err
