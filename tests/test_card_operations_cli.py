"""A ticket office's card operations through the command line, on emulated cards in files
(``emulator:PATH``) issued with ``ekarta card issue`` under a keystore from ``ekarta keys new``:
``ekarta purse show|credit|debit|refund`` and ``ekarta coupon cancel|replace``."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from ekarta.cli import main
from ekarta.emulator import VirtualCard
from ekarta.transit.codec.coupon_file import CouponDocument

AT = "2026-11-20T09:00"


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("keys") / "keys.json"
    assert main(["keys", "new", str(path)]) == 0
    return str(path)


@pytest.fixture
def cli(capsys):
    capsys.readouterr()

    def run(*args: object) -> Run:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return run


@pytest.fixture(scope="module")
def issued(tmp_path_factory, keys) -> Path:
    """A card issued once for the module (each test works on its own copy)."""
    path = tmp_path_factory.mktemp("issued") / "card.json"
    VirtualCard.new(uid=bytes.fromhex("04D1D2D3D4D5D6")).save(path)
    code = main(["card", "issue", "--reader", f"emulator:{path}", "--keys", keys,
                 "--number", "1234567894", "--first-name", "Jana", "--surname", "Nováková",
                 "--expiry", "2030-12-31"])
    assert code == 0
    return path


@pytest.fixture
def card(tmp_path, keys, issued):
    """The options that name a copy of the issued card and its keystore."""
    path = tmp_path / "card.json"
    shutil.copy(issued, path)
    return ("--reader", f"emulator:{path}", "--keys", keys)


def one_error(run: Run, *parts: str) -> None:
    assert run.code != 0 and run.out == ""
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ekarta: error: "), run.err
    for part in parts:
        assert part in lines[0], run.err


# --- the e-purse ----------------------------------------------------------------------------------


def test_credit_debit_refund_and_show(cli, card):
    run = cli("purse", "credit", "150.50", "--serial", 1, *card, "--at", AT, "--device", 9)
    assert run.code == 0, run.err
    assert "credited 150.50 CZK" in run.out and "0.00 CZK -> 150.50 CZK" in run.out
    run = cli("purse", "debit", "20", "--serial", 2, *card, "--at", AT)
    assert run.code == 0 and "130.50 CZK" in run.out, run.err
    run = cli("purse", "show", *card, "--json")
    shown = json.loads(run.out)
    assert shown["balance_haler"] == 13_050
    assert [(e["operation"], e["serial"]) for e in shown["events"]] == [("debit", 2),
                                                                        ("credit", 1)]
    run = cli("purse", "refund", "--serial", 3, *card, "--at", AT, "--json")
    result = json.loads(run.out)
    assert (result["amount_haler"], result["balance_haler"], result["already_done"]) == \
        (13_050, 0, False)
    run = cli("purse", "show", *card, "--lang", "cs")
    assert "0,00 Kč" in run.out and "vrácení" not in run.out  # the listing names operations
    assert "refund" in run.out
    run = cli("card", "show", *card, "--at", AT)
    assert "purse-credit" in run.out and "operation 1" in run.out
    events = json.loads(cli("card", "show", *card, "--at", AT, "--json").out)["events"]
    assert [(e["kind"], e["operation_serial"], e["coupon_serial"]) for e in events[:3]] == [
        ("purse-refund", 3, None), ("purse-debit", 2, None), ("purse-credit", 1, None)]


def test_a_retried_operation_is_not_done_twice(cli, card):
    assert cli("purse", "credit", "100", "--serial", 7, *card, "--at", AT).code == 0
    run = cli("purse", "credit", "100", "--serial", 7, *card, "--at", AT)
    assert run.code == 0 and "nothing changed" in run.out and "100.00 CZK" in run.out
    run = cli("purse", "credit", "100", "--serial", 7, *card, "--at", AT, "--json")
    assert json.loads(run.out)["already_done"] is True
    assert json.loads(cli("purse", "show", *card, "--json").out)["balance_haler"] == 10_000


def test_refusals_name_their_reason(cli, card):
    one_error(cli("purse", "debit", "1", "--serial", 1, *card, "--at", AT),
              "purse-insufficient", "0.00 CZK")
    one_error(cli("purse", "refund", "--serial", 2, *card, "--at", AT), "purse-empty")
    assert cli("purse", "credit", "9999.99", "--serial", 3, *card, "--at", AT).code == 0
    one_error(cli("purse", "credit", "0.02", "--serial", 4, *card, "--at", AT),
              "purse-limit-exceeded")
    one_error(cli("purse", "debit", "1", "--serial", 3, *card, "--at", AT, "--lang", "cs"),
              "operation-serial-used", "Číslo operace 3")


@pytest.mark.parametrize("amount", ["0", "-5", "1.234", "1e3", "abc", "", "10000.01", "1,2,3",
                                    "nan", "٣"])
def test_a_bad_amount_is_one_line(cli, card, amount):
    one_error(cli("purse", "credit", amount, "--serial", 1, *card), "amount")


@pytest.mark.parametrize("serial", ["0", "-1", "4294967296", "x"])
def test_a_bad_serial_is_refused(cli, card, serial):
    run = cli("purse", "credit", "1", "--serial", serial, *card)
    assert run.code == 2 and "serial number" in run.err


def test_a_change_needs_an_operation_serial(cli, card):
    run = cli("purse", "credit", "1", *card)
    assert run.code == 2 and "--serial" in run.err


@pytest.mark.parametrize("command", [["purse"], ["purse", "credit"], ["purse", "debit"],
                                     ["purse", "refund"], ["purse", "show"],
                                     ["coupon", "cancel"], ["coupon", "replace"]])
def test_help_has_examples(cli, command):
    run = cli(*command, "--help")
    assert run.code == 0
    assert "examples:" in run.out and "ekarta " + command[0] in run.out


# --- cancel and replace ---------------------------------------------------------------------------


def _load(cli, card, serial: int, out) -> None:
    run = cli("coupon", "load", *card, "--at", AT, "--type", "30-day", "--zones", "1,2",
              "--serial", serial, "--out", out)
    assert run.code == 0, run.err


def test_cancel_takes_the_coupon_off_and_logs_it(cli, card, tmp_path):
    _load(cli, card, 5001, tmp_path / "c.json")
    run = cli("coupon", "cancel", 5001, *card, "--at", AT)
    assert run.code == 0 and "cancelled coupon 5001" in run.out, run.err
    shown = json.loads(cli("card", "show", *card, "--at", AT, "--json").out)
    assert all(slot["state"] == "empty" for slot in shown["slots"])
    assert (shown["events"][0]["kind"], shown["events"][0]["coupon_serial"]) == \
        ("coupon-cancel", 5001)
    run = cli("coupon", "cancel", 5001, *card, "--at", AT, "--json")
    assert run.code == 0 and json.loads(run.out)["already_done"] is True
    one_error(cli("coupon", "cancel", 5002, *card, "--at", AT), "coupon-not-on-card")


def test_replace_by_a_re_signed_coupon_and_by_another_serial(cli, card, tmp_path):
    _load(cli, card, 5101, tmp_path / "c.json")
    sold = json.loads((tmp_path / "c.json").read_text())
    unsigned = {k: v for k, v in sold.items() if k not in ("signature", "uid", "card_number")}
    (tmp_path / "wider.json").write_text(json.dumps({**unsigned, "zones": [1, 2, 3]}))
    run = cli("coupon", "replace", 5101, "--coupon", tmp_path / "wider.json", *card, "--at", AT)
    assert run.code == 0 and "replaced coupon 5101 by 5101" in run.out, run.err
    shown = json.loads(cli("card", "show", *card, "--at", AT, "--json").out)
    assert shown["slots"][0]["coupon"]["zones"] == [1, 2, 3]
    assert shown["slots"][0]["signature_valid"] is True
    # The loaded original no longer loads (another coupon holds its serial) ...
    one_error(cli("coupon", "load", *card, "--at", AT, "--coupon", tmp_path / "c.json"),
              "serial-held-by-other-coupon")
    # ... and an exchange puts a new serial in its place.
    (tmp_path / "new.json").write_text(json.dumps({**unsigned, "serial": 5102}))
    run = cli("coupon", "replace", 5101, "--coupon", tmp_path / "new.json", *card, "--at", AT,
              "--json")
    result = json.loads(run.out)
    assert (result["serial"], result["coupon"]["serial"], result["removed"]["serial"]) == \
        (5101, 5102, 5101)
    run = cli("coupon", "replace", 5101, "--coupon", tmp_path / "new.json", *card, "--at", AT)
    assert run.code == 0 and "nothing changed" in run.out
    assert CouponDocument.from_json(json.loads((tmp_path / "c.json").read_text())).signed


def test_replace_refusals_are_one_line(cli, card, tmp_path):
    _load(cli, card, 5201, tmp_path / "c.json")
    one_error(cli("coupon", "replace", 5299, "--coupon", tmp_path / "c.json", *card, "--at", AT),
              "coupon-not-on-card")
    sold = json.loads((tmp_path / "c.json").read_text())
    (tmp_path / "ended.json").write_text(json.dumps(
        {**{k: v for k, v in sold.items() if k != "signature"}, "serial": 5202,
         "valid_from": "2026-09-01", "valid_to": "2026-09-30", "sale_date": "2026-09-01"}))
    one_error(cli("coupon", "replace", 5201, "--coupon", tmp_path / "ended.json", *card,
                  "--at", AT), "expired")
