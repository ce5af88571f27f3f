"""``ekarta kiosk``: one view (``--once``) of an emulated card in a file, which loads the coupon
the office holds for it, as a script sees it (JSON without names, exit status) and as a person
reads it; every misuse a one-line error."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date

import pytest

from ekarta.desfire import DESFire
from ekarta.emulator import VirtualCard
from ekarta.emulator.reader import EmulatorReader
from ekarta.sync.messages import JournalKind
from ekarta.sync.roles import DeviceRole
from ekarta.terminal.config import load_config
from ekarta.transit import CardStatus, EventKind
from ekarta.transit.cardio.reading import read_card
from tests.support.actions import load as load_item
from tests.support.cli import run
from tests.support.terminal import terminal, terminal_keys
from tests.support.validator import (
    AT,
    FIRST_NAME,
    RECORD,
    SURNAME,
    coupon,
    make_card,
    signed,
)

WHEN = AT.isoformat()


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    return terminal_keys(tmp_path_factory.mktemp("keys"), "kiosk")


@pytest.fixture(scope="module")
def held(keys):
    return signed(keys[0], coupon(950, date(2026, 12, 1), zones=(1, 2)))


@pytest.fixture
def kiosk_dir(tmp_path, keys, held) -> str:
    """A kiosk ("kiosk 3") with a paid coupon to load, synced an hour before."""
    return terminal(tmp_path, keys, DeviceRole.KIOSK, "kiosk 3", [load_item(44, held)])


def card_file(tmp_path, keys, record=RECORD) -> str:
    path = tmp_path / "card.json"
    VirtualCard(make_card(keys[0], record, slots=[signed(keys[0], coupon(949))])).save(path)
    return str(path)


def test_one_view_loads_the_offices_coupon_and_prints_json_without_names(
        capsys, tmp_path, keys, kiosk_dir, held):
    card = card_file(tmp_path, keys)
    code, out, err = run(capsys, "kiosk", kiosk_dir, "--reader", f"emulator:{card}", "--once",
                         "--json", "--at", WHEN, "--wait", "1")
    assert code == 0, err
    document = json.loads(out)
    assert document["outcome"] == "verdict" and document["ok"]
    assert document["zone"] is None and document["verdict"]["zone"] is None
    [action] = document["actions"]
    assert (action["action_id"], action["state"], action["serial"]) == (44, "done", 950)
    assert sorted(c["serial"] for c in document["card"]["coupons"]) == [949, 950]
    assert FIRST_NAME not in out and SURNAME not in out
    image = read_card(DESFire(EmulatorReader(path=card)), keys[0])
    assert held in image.coupons
    assert (image.events[-1].kind, image.events[-1].device) == (EventKind.KIOSK_VIEW, 3)
    with load_config(kiosk_dir).open_store() as store:
        events = store.outbox(10)
        assert [e.kind for e in events] == [JournalKind.KIOSK_VIEW, JournalKind.LOAD]
        assert FIRST_NAME not in str([e.model_dump() for e in events])


def test_a_person_reads_the_view_and_a_card_not_yet_active_exits_3(capsys, tmp_path, keys):
    directory = terminal(tmp_path, keys, DeviceRole.KIOSK, "kiosk 3")
    card = card_file(tmp_path, keys)
    code, out, err = run(capsys, "kiosk", directory, "--reader", f"emulator:{card}", "--once",
                         "--at", WHEN, "--lang", "en", "--wait", "1")
    assert code == 0, err
    assert out.startswith("VALID: Valid until") and FIRST_NAME not in out
    produced = card_file(tmp_path, keys, replace(RECORD, status=CardStatus.PRODUCED))
    code, out, err = run(capsys, "kiosk", directory, "--reader", f"emulator:{produced}",
                         "--once", "--json", "--at", WHEN, "--wait", "1")
    assert code == 3, err
    assert json.loads(out)["verdict"]["reason"] == "card-not-active"


def test_a_card_not_ours_has_no_verdict(capsys, tmp_path, kiosk_dir):
    path = tmp_path / "blank.json"
    VirtualCard.new().save(path)
    code, out, err = run(capsys, "kiosk", kiosk_dir, "--reader", f"emulator:{path}", "--once",
                         "--json", "--wait", "1")
    assert code == 4, err
    assert json.loads(out)["outcome"] == "not-a-transit-card"


@pytest.mark.parametrize(("argv", "message"), [
    (["--json", "--reader", "emulator:"], "--json prints the outcome of --once"),
    (["--at", WHEN, "--reader", "emulator:"], "--at sets the clock of --once"),
    (["--once", "--reader", "emulator:", "--hide-after", "60", "--hide-max", "30"],
     "--hide-after (60 s) is longer than --hide-max (30 s)"),
    (["--once", "--hide-after", "0"], "a number of seconds above 0"),
    (["--lang", "de"], "invalid choice"),
], ids=["json-without-once", "at-without-once", "hide-after-past-max", "hide-after-zero",
        "language"])
def test_misuse_is_one_line(capsys, kiosk_dir, argv, message) -> None:
    code, out, err = run(capsys, "kiosk", kiosk_dir, *argv)
    assert code in (1, 2) and out == "" and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("ekarta")
    assert message in err


def test_a_kiosk_needs_its_reader_named_and_a_kiosk_s_directory(capsys, tmp_path, keys,
                                                                 kiosk_dir, monkeypatch):
    monkeypatch.delenv("EKARTA_READER", raising=False)
    code, _, err = run(capsys, "kiosk", kiosk_dir, "--once")
    assert code == 1 and "name the kiosk's reader with --reader URL" in err
    handheld = terminal(tmp_path, keys, DeviceRole.INSPECTOR, "handheld 7")
    code, _, err = run(capsys, "kiosk", handheld, "--reader", "emulator:", "--once")
    assert code == 1 and "a kiosk needs a kiosk's" in err
    code, _, err = run(capsys, "kiosk", str(tmp_path / "nothing"), "--reader", "emulator:")
    assert code == 1 and "is not a terminal directory" in err
