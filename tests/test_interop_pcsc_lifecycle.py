"""Acceptance 3 over PC/SC: the card's life cycle and a technician's card key, through the
command line, on an emulated card that pcscd sees in a vpcd reader.

One card goes through it all in sequence, each command a new connection as a ticket office would
make: issued as produced, activated, blocked, unblocked, its record changed, then its PICC key
derived from the UID the card gives and used by ``card info``."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from ekarta.cli import main
from ekarta.emulator import CardHost, VirtualCard
from tests.support.pcsc import Pcscd, pcscd, serve_pcsc  # noqa: F401 (pcscd: the fixture)

pytestmark = [pytest.mark.interop, pytest.mark.slow]

UID = bytes.fromhex("04A0A1A2A3A4A5")
AT = "2026-11-20T09:30"


@pytest.fixture
def url(pcscd: Pcscd) -> Iterator[str]:  # noqa: F811 (the imported fixture)
    host = CardHost(VirtualCard.new(uid=UID))
    with serve_pcsc(host) as served:
        yield served


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_life_of_a_card_over_pcsc(url, tmp_path, capsys):
    keys = str(tmp_path / "keys.json")
    assert run(capsys, "keys", "new", keys)[0] == 0
    common = ("--reader", url, "--keys", keys, "--at", AT)

    code, out, err = run(capsys, "card", "issue", *common, "--number", "1234567894",
                         "--first-name", "Jana", "--surname", "Nováková", "--profile",
                         "student", "--birth-date", "2008-04-01", "--profile-end",
                         "2027-08-31", "--status", "produced")
    assert code == 0, err
    steps = [
        (("activate",), "produced → active"),
        (("activate",), "already active"),
        (("block",), "active → blocked"),
        (("block", "--role", "load"), "already blocked"),
        (("unblock",), "blocked → active"),
        (("update", "--surname", "Novák", "--profile-end", "2028-08-31"), "Nováková → Novák"),
        (("update", "--surname", "Novák"), "nothing changed"),
    ]
    for args, expected in steps:
        code, out, err = run(capsys, "card", *args, *common)
        assert code == 0 and expected in out, (args, out, err)
    code, _, err = run(capsys, "card", "unblock", *common)
    assert code == 1 and "card-not-blocked" in err

    code, out, err = run(capsys, "card", "show", "--reader", url, "--keys", keys, "--at", AT,
                         "--json")
    document = json.loads(out)
    assert document["status"] == "active" and document["holder"]["surname"] == "Novák"
    assert [e["kind"] for e in document["events"]] == [
        "record-change", "unblocking", "blocking", "activation"]

    picc = tmp_path / "picc.key"
    code, out, err = run(capsys, "card", "key", "--keys", keys, "--reader", url, "--role",
                         "picc", "--out", str(picc))
    assert code == 0 and UID.hex().upper() in out, err
    code, out, err = run(capsys, "card", "info", "--reader", url, "--key-file", str(picc))
    assert code == 0 and f"real UID     {UID.hex().upper()}  (GetCardUID)" in out, err
