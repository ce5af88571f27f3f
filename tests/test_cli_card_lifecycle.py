"""``ekarta card issue`` refusing records that make no sense (issue 9, fault 10), the card's life
cycle through the command line (``card activate|block|unblock|update``), a technician's card key
(``card key``) used with ``card info``, ``card format`` and ``apdu``, and ``ekarta card-number``.

Every card here is an ``emulator:PATH`` card issued by ``ekarta card issue`` with a keystore made
by ``ekarta keys new``."""

from __future__ import annotations

import json
import os
import shutil
import stat

import pytest

from ekarta.cli import main
from ekarta.desfire import DESFire
from ekarta.emulator import VirtualCard
from ekarta.readers import open_reader
from ekarta.transit import CardStatus, EventKind, Profile
from ekarta.transit.cardio.reading import read_card
from ekarta.transit.security.keystore import FileKeyStore

UID = bytes.fromhex("04A1B2C3D4E5F6")
NUMBER = "1234567894"
AT = "2026-11-20T09:30"


@pytest.fixture(scope="module")
def keystore_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("keys") / "keys.json"
    assert main(["keys", "new", str(path)]) == 0
    return path


@pytest.fixture(scope="module")
def fresh_card(tmp_path_factory):
    path = tmp_path_factory.mktemp("fresh") / "card.json"
    VirtualCard.new(uid=UID).save(path)
    return path


def issue_args(path, keystore_path, *extra: str) -> list[str]:
    return ["card", "issue", "--reader", f"emulator:{path}", "--keys", str(keystore_path),
            "--number", NUMBER, "--at", AT, *extra]


@pytest.fixture(scope="module")
def produced_card(tmp_path_factory, fresh_card, keystore_path):
    """A student's card issued as produced (sent by post)."""
    path = tmp_path_factory.mktemp("produced") / "card.json"
    shutil.copy(fresh_card, path)
    assert main(issue_args(path, keystore_path, "--first-name", "Jana", "--surname", "Nováková",
                           "--profile", "student", "--birth-date", "2008-04-01",
                           "--profile-end", "2027-08-31", "--expiry", "2030-12-31",
                           "--status", "produced")) == 0
    return path


@pytest.fixture
def card(tmp_path, produced_card):
    path = tmp_path / "card.json"
    shutil.copy(produced_card, path)
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def op(capsys, name: str, path, keystore_path, *extra: str) -> tuple[int, str, str]:
    return run(capsys, "card", *name.split(), "--reader", f"emulator:{path}", "--keys",
               str(keystore_path), "--at", AT, *extra)


def image(path, keystore_path):
    with open_reader(f"emulator:{path}") as reader:
        return read_card(DESFire(reader), FileKeyStore.load(keystore_path))


# --- fault 10: card issue refuses records that make no sense -------------------------------------

PERSON = ("--first-name", "Jana", "--surname", "Nováková")


@pytest.mark.parametrize(("extra", "reason"), [
    (("--first-name", " ", "--surname", "Nováková"), "name-blank"),
    (("--first-name", "Jana", "--surname", "\u200b"), "name-blank"),
    ((*PERSON, "--birth-date", "2027-01-01"), "birth-date-in-future"),
    ((*PERSON, "--profile", "student", "--profile-end", "2027-08-31"), "birth-date-required"),
    ((*PERSON, "--profile", "child", "--profile-end", "2027-08-31"), "birth-date-required"),
    ((*PERSON, "--profile", "student", "--birth-date", "2015-01-01"), "age-not-eligible"),
    ((*PERSON, "--profile", "child", "--birth-date", "2008-01-01"), "age-not-eligible"),
    ((*PERSON, "--profile", "child", "--birth-date", "2021-01-01"), "age-not-eligible"),
    ((*PERSON, "--profile", "student", "--birth-date", "2008-04-01",
      "--profile-end", "2026-08-31"), "profile-end-passed"),
    ((*PERSON, "--profile-end", "2027-08-31"), "profile-end-without-discount"),
    ((*PERSON, "--expiry", "2026-11-19"), "expiry-passed"),
])
def test_issue_refuses_a_record_that_makes_no_sense(tmp_path, fresh_card, keystore_path,
                                                     capsys, extra, reason):
    path = tmp_path / "card.json"
    shutil.copy(fresh_card, path)
    code, out, err = run(capsys, *issue_args(path, keystore_path, *extra))
    assert code == 1 and out == ""
    assert err.startswith("ekarta: error: issuing refused (") and f"{reason}:" in err, err
    assert len(err.splitlines()) == 1
    assert VirtualCard.load(path).state == VirtualCard.load(fresh_card).state  # card untouched


def test_issue_refusal_in_czech(tmp_path, fresh_card, keystore_path, capsys):
    path = tmp_path / "card.json"
    shutil.copy(fresh_card, path)
    code, _, err = run(capsys, *issue_args(path, keystore_path, *PERSON, "--expiry",
                                           "2026-01-01", "--lang", "cs"))
    assert code == 1 and "Konec platnosti e-karty 1. 1. 2026 již uplynul" in err


@pytest.mark.parametrize("number", [("-1234567894",), ("--number=-1234567894",),
                                    ("--number=1234567894-",), ("--number=-123-456-789-4",)])
def test_issue_refuses_a_negative_card_number(tmp_path, fresh_card, keystore_path, capsys,
                                              number):
    path = tmp_path / "card.json"
    shutil.copy(fresh_card, path)
    args = issue_args(path, keystore_path, *PERSON)
    at = args.index(NUMBER)
    args[at - 1 if number[0].startswith("--") else at:at + 1] = number
    code, _out, err = run(capsys, *args)
    assert code == 2 and "must start and end with a digit" in err
    assert VirtualCard.load(path).state == VirtualCard.load(fresh_card).state


# --- the card's life cycle ------------------------------------------------------------------------


def test_activate_then_already_active(card, keystore_path, capsys):
    code, out, err = op(capsys, "activate", card, keystore_path, "--device", "7")
    assert code == 0 and err == ""
    assert out.startswith("activated card 123 456 789 4") and "produced → active" in out
    code, out, _ = op(capsys, "activate", card, keystore_path)
    assert code == 0 and "is already active: nothing changed" in out
    img = image(card, keystore_path)
    assert img.record.status is CardStatus.ACTIVE
    assert [(e.kind, e.device) for e in img.events] == [(EventKind.ACTIVATION, 7)]


def test_block_unblock_and_their_refusals(card, keystore_path, capsys):
    code, out, _ = op(capsys, "block", card, keystore_path)
    assert code == 0 and "produced → blocked" in out
    code, out, _ = op(capsys, "block", card, keystore_path, "--role", "load")
    assert code == 0 and "is already blocked: nothing changed" in out
    code, out, err = op(capsys, "activate", card, keystore_path, "--lang", "cs")
    assert code == 1 and out == ""
    assert err == "ekarta: error: activation refused (card-blocked: E-karta je zablokována.)\n"
    code, out, err = op(capsys, "update", card, keystore_path, "--surname", "Novák")
    assert code == 1 and "card-blocked" in err
    code, out, _ = op(capsys, "unblock", card, keystore_path)
    assert code == 0 and "blocked → active" in out
    code, out, err = op(capsys, "unblock", card, keystore_path)
    assert code == 1 and "card-not-blocked: The card is not blocked." in err
    kinds = [e.kind for e in image(card, keystore_path).events]
    assert kinds == [EventKind.BLOCKING, EventKind.UNBLOCKING]


def test_update_the_record(card, keystore_path, capsys):
    code, out, _ = op(capsys, "update", card, keystore_path, "--surname", "Novák",
                      "--profile-end", "2028-08-31", "--expiry", "2032-12-31")
    assert code == 0
    assert "Nováková → Novák" in out and "31 August 2028" in out and "31 December 2032" in out
    code, out, _ = op(capsys, "update", card, keystore_path, "--surname", "Novák")
    assert code == 0 and "already has this record: nothing changed" in out
    code, out, _ = op(capsys, "update", card, keystore_path, "--end-profile", "--json")
    document = json.loads(out)
    assert document["changed"] and document["before"]["profile"] == "student"
    assert document["record"]["profile"] == "adult-non-transferable"
    assert document["record"]["profile_end"] is None
    assert document["event"]["kind"] == "record-change"
    record = image(card, keystore_path).record
    assert (record.surname, record.profile, record.expiry.isoformat()) == (
        "Novák", Profile.ADULT_NON_TRANSFERABLE, "2032-12-31")


@pytest.mark.parametrize(("extra", "message"), [
    ((), "nothing to change"),
    (("--end-profile", "--profile", "student"), "ending the profile"),
    (("--expiry", "2026-11-19"), "expiry-passed"),
    (("--first-name", "  "), "name-blank"),
    (("--profile", "child"), "age-not-eligible"),
    (("--device", "70000"), "device number is 0..65535"),
    (("--device", "-1"), "device number is 0..65535"),
])
def test_update_errors_are_one_line(card, keystore_path, capsys, extra, message):
    before = VirtualCard.load(card).state
    code, out, err = op(capsys, "update", card, keystore_path, *extra)
    assert code in (1, 2) and out == "" and message in err
    assert "Traceback" not in err
    assert VirtualCard.load(card).state == before


def test_operations_json(card, keystore_path, capsys):
    code, out, _ = op(capsys, "activate", card, keystore_path, "--json")
    document = json.loads(out)
    assert code == 0 and document["changed"] and document["record"]["status"] == "active"
    assert document["card_number"] == NUMBER and document["uid"] == UID.hex().upper()
    code, out, _ = op(capsys, "activate", card, keystore_path, "--json")
    assert json.loads(out)["changed"] is False and json.loads(out)["event"] is None


@pytest.mark.parametrize("name", ["activate", "block", "unblock", "update", "key"])
def test_help_has_examples(name, capsys):
    code, out, _ = run(capsys, "card", name, "--help")
    assert code == 0 and "examples:" in out and f"ekarta card {name}" in out


def test_unblock_help_notes_the_fee(capsys):
    assert "fee" in run(capsys, "card", "unblock", "--help")[1]


# --- the technician's card key --------------------------------------------------------------------


def key_args(keystore_path, role: str, *extra: str) -> list[str]:
    return ["card", "key", "--keys", str(keystore_path), "--role", role, *extra]


def test_card_key_file_opens_the_issued_card(card, keystore_path, tmp_path, capsys):
    picc = tmp_path / "picc.key"
    code, out, err = run(capsys, *key_args(keystore_path, "picc", "--reader",
                                           f"emulator:{card}", "--out", str(picc)))
    assert code == 0 and str(picc) in out
    assert stat.S_IMODE(os.stat(picc).st_mode) == 0o600
    text = picc.read_text()
    assert text.splitlines()[-1].startswith("0:aes:")
    assert text.splitlines()[-1].split(":")[-1] not in out + err  # the key is not shown

    # card info: with the PICC key the real UID is read (GetCardUID needs it)
    code, out, _ = run(capsys, "card", "info", "--reader", f"emulator:{card}",
                       "--key-file", str(picc))
    assert code == 0 and "real UID" in out
    # apdu: GetCardUID in the session the key opens; refused without it
    code, out, _ = run(capsys, "apdu", "--reader", f"emulator:{card}", "9051000000")
    assert "91AE" in out
    code, out, _ = run(capsys, "apdu", "--reader", f"emulator:{card}", "--key-file", str(picc),
                       "9051000000")
    assert code == 0 and "authenticated with PICC key 0 (aes)" in out and "status 9100" in out

    # an application key from the UID alone, for card info
    load = tmp_path / "load.key"
    code, _, _ = run(capsys, *key_args(keystore_path, "master", "--uid", UID.hex(),
                                       "--out", str(load)))
    assert code == 0 and load.read_text().splitlines()[-1].startswith("4B4501:0:aes:")
    code, out, err = run(capsys, "card", "info", "--reader", f"emulator:{card}",
                         "--key-file", str(load))
    assert code == 0 and "versions 1 1 1 1" in out and "cyclic record" in out

    # card format with the PICC key erases the transit application
    code, out, _ = run(capsys, "card", "format", "--reader", f"emulator:{card}",
                       "--key-file", str(picc), "--yes")
    assert code == 0 and "formatted card" in out
    code, out, _ = run(capsys, "card", "info", "--reader", f"emulator:{card}")
    assert "Applications: none" in out


def test_card_key_never_overwrites_without_force_nor_a_file_it_reads(card, keystore_path,
                                                                     tmp_path, capsys):
    out_file = tmp_path / "k.key"
    out_file.write_text("keep me\n")
    code, _, err = run(capsys, *key_args(keystore_path, "load", "--uid", UID.hex(),
                                         "--out", str(out_file)))
    assert code == 1 and "exists; use --force" in err and out_file.read_text() == "keep me\n"
    code, _, _ = run(capsys, *key_args(keystore_path, "load", "--uid", UID.hex(),
                                       "--out", str(out_file), "--force"))
    assert code == 0 and out_file.read_text().splitlines()[-1].startswith("4B4501:1:aes:")
    assert stat.S_IMODE(os.stat(out_file).st_mode) == 0o600
    keystore = keystore_path.read_bytes()
    for target in (keystore_path, card):
        before = target.read_bytes()
        code, _, err = run(capsys, *key_args(keystore_path, "load", "--reader",
                                             f"emulator:{card}", "--out", str(target),
                                             "--force"))
        assert code == 1 and "is also read by this command" in err
        assert target.read_bytes() == before
    assert keystore_path.read_bytes() == keystore
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_card_key_prints_only_when_asked(keystore_path, capsys):
    code, out, err = run(capsys, *key_args(keystore_path, "read", "--uid", "04:A1:B2:C3:D4:E5:F6",
                                           "--print-key", "-vv"))
    keystore = FileKeyStore.load(keystore_path)
    expected = keystore.card_key(3, UID).data.hex().upper()
    assert code == 0 and out == f"4B4501:3:aes:{expected}\n"
    assert expected not in err  # never logged
    code, _, err = run(capsys, *key_args(keystore_path, "read", "--uid", UID.hex()))
    assert code == 2 and "--out" in err and "--print-key" in err


@pytest.mark.parametrize(("extra", "message"), [
    (("--uid", "04A1", "--print-key"), "4, 7 or 10 bytes"),
    (("--uid", "zz", "--print-key"), "hex digits"),
    (("--print-key",), "needs the card's UID"),
    (("--uid", UID.hex(), "--reader", "emulator:", "--print-key"), "not both"),
])
def test_card_key_errors(keystore_path, capsys, extra, message):
    code, out, err = run(capsys, *key_args(keystore_path, "picc", *extra))
    assert code in (1, 2) and out == "" and message in err


# --- card-number ----------------------------------------------------------------------------------


def test_card_number_check(capsys):
    code, out, _ = run(capsys, "card-number", "check", "1234567894", "123-456-789-4")
    assert code == 0 and out == "123 456 789 4  valid\n123 456 789 4  valid\n"
    code, out, _ = run(capsys, "card-number", "check", "1234567894", "1234567895",
                       "-1234567894")
    assert code == 1
    lines = out.splitlines()
    assert "valid" in lines[0] and "fails its check digit" in lines[1]
    assert "start and end with a digit" in lines[2]
    code, out, _ = run(capsys, "card-number", "check", "--json", "1234567895")
    document = json.loads(out)
    assert code == 1 and document["valid"] is False
    assert document["numbers"][0]["valid"] is False


def test_card_number_complete(capsys):
    code, out, _ = run(capsys, "card-number", "complete", "123456789")
    assert code == 0 and out == "123 456 789 4\n"
    code, out, _ = run(capsys, "card-number", "complete", "000 000 001", "--json")
    document = json.loads(out)
    assert code == 0 and document["card_number"][:9] == "000000001"
    assert run(capsys, "card-number", "check", document["card_number"])[0] == 0


@pytest.mark.parametrize(("digits", "message"), [
    ("12345678", "got 8"), ("1234567890", "got 10"), ("12345678x", "contain 'x'"),
    ("-123456789", "start and end with a digit"), ("", "start and end with a digit"),
])
def test_card_number_complete_errors(capsys, digits, message):
    code, out, err = run(capsys, "card-number", "complete", "--", digits)
    assert code == 1 and out == "" and message in err and err.startswith("ekarta: error: ")
