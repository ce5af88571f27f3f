"""Acceptance 3 over PC/SC: a ticket office's card operations through the real pcscd and vpcd.

One emulated card served in a vpcd reader goes through a day at the ticket office, each step an
``ekarta`` command with ``--reader pcsc:NAME``: issued, a coupon loaded, the e-purse credited,
debited and paid back, the coupon replaced and cancelled; each step's change is read back
through the same reader.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from ekarta.cli import main
from ekarta.emulator import CardHost, VirtualCard
from ekarta.transit.security.keystore import create_keystore
from tests.support.pcsc import Pcscd, pcscd, serve_pcsc  # noqa: F401 (pcscd: fixture)

pytestmark = pytest.mark.interop

UID = bytes.fromhex("04B0B1B2B3B4B5")
AT = "2026-11-20T09:00"


@pytest.fixture
def url(pcscd: Pcscd) -> Iterator[str]:  # noqa: F811 (the imported fixture)
    with serve_pcsc(CardHost(VirtualCard.new(uid=UID))) as url:
        yield url


def test_the_card_operations_in_sequence_over_pcsc(url, tmp_path, capsys):
    keys = tmp_path / "keys.json"
    create_keystore(keys)
    card = ("--reader", url, "--keys", str(keys))

    def run(*args: object, codes: tuple[int, ...] = (0,)) -> str:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        assert code in codes, err
        return out

    def shown() -> dict:
        # exit status 3: the verdict is a refusal (no coupon left at the end)
        return json.loads(run("card", "show", *card, "--at", AT, "--json", codes=(0, 3)))

    run("card", "issue", *card, "--number", "1234567894", "--first-name", "Jana",
        "--surname", "Nováková", "--expiry", "2030-12-31")
    run("coupon", "load", *card, "--at", AT, "--type", "30-day", "--zones", "1,2",
        "--serial", 3001, "--out", tmp_path / "c.json")
    assert "credited 200.00 CZK" in run("purse", "credit", "200", "--serial", 1, *card,
                                        "--at", AT)
    assert "nothing changed" in run("purse", "credit", "200", "--serial", 1, *card, "--at", AT)
    assert "150.50 CZK" in run("purse", "debit", "49.50", "--serial", 2, *card, "--at", AT)
    assert json.loads(run("purse", "show", *card, "--json"))["balance_haler"] == 15_050
    refund = json.loads(run("purse", "refund", "--serial", 3, *card, "--at", AT, "--json"))
    assert (refund["amount_haler"], refund["balance_haler"]) == (15_050, 0)

    sold = json.loads((tmp_path / "c.json").read_text())
    (tmp_path / "wider.json").write_text(json.dumps(
        {**{k: v for k, v in sold.items() if k != "signature"}, "zones": [1, 2, 3]}))
    assert "replaced coupon 3001" in run("coupon", "replace", 3001, "--coupon",
                                         tmp_path / "wider.json", *card, "--at", AT)
    assert shown()["slots"][0]["coupon"]["zones"] == [1, 2, 3]
    assert "cancelled coupon 3001" in run("coupon", "cancel", 3001, *card, "--at", AT)
    report = shown()
    assert report["purse"] == 0
    assert all(slot["state"] == "empty" for slot in report["slots"])
    assert [e["kind"] for e in report["events"]] == [
        "coupon-cancel", "coupon-replace", "purse-refund", "purse-debit", "purse-credit",
        "load"]
