"""The files a command writes: never one it reads, an existing one only with --force, nothing at
all when it fails, log files private and appended to only when they are logs.

A refused run must leave every file as it was, byte for byte: the card file (whose loss is the
loss of the emulated card), the keystore (every master key and the signing key), the hotlist.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from ekarta.cli import main
from ekarta.emulator import VirtualCard
from ekarta.files import FileLock
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.security.keystore import create_keystore

AT = "2026-11-20T09:00"
NUMBER = str(CardNumber.from_serial(123_456_789))


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch):
    monkeypatch.delenv("EKARTA_READER", raising=False)
    monkeypatch.delenv("EKARTA_KEYS", raising=False)


@pytest.fixture(scope="module")
def issued(tmp_path_factory) -> tuple[bytes, bytes]:
    """A keystore and a card issued with it, as bytes (each test gets fresh copies)."""
    where = tmp_path_factory.mktemp("issued")
    keys, card = where / "keys.json", where / "card.json"
    create_keystore(keys)
    VirtualCard.new(uid=bytes.fromhex("04112233445566")).save(card)
    code = main(["card", "issue", "--reader", f"emulator:{card}", "--keys", str(keys),
                 "--number", NUMBER, "--first-name", "Jana", "--surname", "Nováková",
                 "--expiry", "2030-12-31"])
    assert code == 0
    return keys.read_bytes(), card.read_bytes()


class Files:
    def __init__(self, root: Path, issued: tuple[bytes, bytes]) -> None:
        self.root = root
        self.keys = root / "keys.json"
        self.card = root / "card.json"
        self.hotlist = root / "hotlist.txt"
        self.keys.write_bytes(issued[0])
        self.card.write_bytes(issued[1])
        self.hotlist.write_text("# no blocked cards\n")
        for path in (self.keys, self.card):
            path.chmod(0o600)
        self.before = self.snapshot()

    def snapshot(self) -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in (self.keys, self.card, self.hotlist)}

    def unchanged(self) -> bool:
        return self.snapshot() == self.before

    def slots(self) -> int:
        from ekarta.transit.codec.layout import AID, SLOTS_FILE
        from ekarta.transit.codec.records import SLOT_SIZE

        data = VirtualCard.load(self.card).state.applications[AID].files[SLOTS_FILE.file_no].data
        return sum(1 for i in range(0, len(data), SLOT_SIZE) if any(data[i:i + SLOT_SIZE]))


@pytest.fixture
def files(tmp_path, issued) -> Files:
    return Files(tmp_path, issued)


def run(capsys, *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def load(files: Files, *extra: object) -> list[object]:
    return ["coupon", "load", "--reader", f"emulator:{files.card}", "--keys", files.keys,
            "--hotlist", files.hotlist, "--at", AT, "--type", "30-day", "--zones", "1,2",
            "--serial", 77, *extra]


def one_error(code: int, err: str, *words: str) -> None:
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ekarta: error: "), err
    for word in words:
        assert word in lines[0], err


# --- no output over an input ----------------------------------------------------------------------


@pytest.mark.parametrize("which", ["card", "keys", "hotlist"])
def test_coupon_out_never_replaces_a_file_the_command_reads(files, capsys, which):
    target = getattr(files, which)
    code, _, err = run(capsys, *load(files, "--out", target, "--force"))
    one_error(code, err, str(target), "also read by this command")
    assert files.unchanged()


def test_an_input_is_recognised_whatever_its_spelling(files, capsys):
    (files.root / "link.json").symlink_to(files.keys.name)
    os.link(files.card, files.root / "hard.json")
    for alias in (files.root / "link.json", files.root / "hard.json",
                  f"{files.root}/./{files.card.name}"):
        code, _, err = run(capsys, *load(files, "--out", alias, "--force"))
        one_error(code, err, "also read by this command")
    assert files.unchanged()


@pytest.mark.parametrize("which", ["card", "keys", "hotlist"])
@pytest.mark.parametrize("where", ["global", "command"])
def test_the_log_file_is_never_a_file_the_command_reads(files, capsys, which, where):
    target = getattr(files, which)
    argv = load(files)
    argv = (["--log-file", target, *argv] if where == "global"
            else [*argv, "--log-file", target])
    code, _, err = run(capsys, "-vv", *argv)
    one_error(code, err, str(target), "also read by this command")
    assert files.unchanged()
    assert files.slots() == 0


def test_the_keystore_of_the_environment_is_an_input_too(files, capsys, monkeypatch):
    monkeypatch.setenv("EKARTA_KEYS", str(files.keys))
    code, _, err = run(capsys, "card", "show", "--reader", f"emulator:{files.card}",
                       "--at", AT, "--log-file", files.keys)
    one_error(code, err, "also read by this command")
    assert files.unchanged()


def test_a_key_file_is_an_input(tmp_path, capsys):
    keyfile = tmp_path / "keys.txt"
    keyfile.write_text("0:des:0000000000000000\n")
    keyfile.chmod(0o600)
    code, _, err = run(capsys, "card", "info", "--key-file", keyfile, "--log-file", keyfile)
    one_error(code, err, "also read by this command")
    assert keyfile.read_text() == "0:des:0000000000000000\n"


def test_a_spy_trace_is_never_the_card_it_spies_on(files, capsys):
    code, _, err = run(capsys, "card", "info", "--reader",
                       f"spy:emulator:{files.card}#file={files.card}")
    one_error(code, err, "also read by this command")
    assert files.unchanged()


def test_a_barcode_is_not_written_over_the_photo_it_shows(tmp_path, capsys):
    photo = tmp_path / "photo.png"
    code, _, err = run(capsys, "barcode", "render", NUMBER, "-o", photo)
    assert code == 0, err
    before = photo.read_bytes()
    code, _, err = run(capsys, "barcode", "render", NUMBER, "-o", photo, "--photo", photo,
                       "--force")
    one_error(code, err, "also read by this command")
    assert photo.read_bytes() == before


# --- an existing output only with --force -------------------------------------------------------


def test_coupon_out_replaces_an_existing_file_only_with_force(files, capsys):
    out = files.root / "sale.json"
    out.write_text("an earlier sale\n")
    code, _, err = run(capsys, *load(files, "--out", out))
    one_error(code, err, str(out), "exists; use --force")
    assert out.read_text() == "an earlier sale\n"
    assert files.unchanged(), "the coupon was loaded though the command failed"
    code, _, err = run(capsys, *load(files, "--out", out, "--force"))
    assert code == 0, err
    assert json.loads(out.read_text())["serial"] == 77
    assert files.slots() == 1


def test_barcode_render_replaces_an_existing_file_only_with_force(tmp_path, capsys):
    out = tmp_path / "card.svg"
    out.write_text("artwork\n")
    code, _, err = run(capsys, "barcode", "render", NUMBER, "-o", out)
    one_error(code, err, "exists; use --force")
    assert out.read_text() == "artwork\n"
    code, _, err = run(capsys, "barcode", "render", NUMBER, "-o", out, "--force")
    assert code == 0, err
    assert out.read_text().startswith("<?xml")


# --- a failed command writes nothing -------------------------------------------------------------


def test_an_out_that_cannot_be_written_is_found_before_the_card_is_touched(files, capsys):
    out = files.root / "missing" / "sale.json"
    code, _, err = run(capsys, *load(files, "--out", out))
    one_error(code, err, str(out))
    assert files.unchanged(), "the coupon was loaded though --out could not be written"
    assert files.slots() == 0


def test_a_refused_load_writes_no_out(files, capsys):
    out = files.root / "sale.json"
    code, _, err = run(capsys, *load(files, "--out", out, "--type", "yearly", "--from",
                                     "2026-01-01"))
    assert code == 1, err
    assert not out.exists()


def test_a_written_out_leaves_no_temporary_file(files, capsys):
    code, _, err = run(capsys, *load(files, "--out", files.root / "sale.json"))
    assert code == 0, err
    assert not [n for n in os.listdir(files.root) if n.endswith(".tmp")]


# --- log files ------------------------------------------------------------------------------------


def test_a_new_log_file_is_private_and_later_runs_append_to_it(tmp_path, capsys):
    log = tmp_path / "ekarta.log"
    old = os.umask(0o022)
    try:
        code, _, err = run(capsys, "-v", "card", "info", "--log-file", log)
    finally:
        os.umask(old)
    assert code == 0, err
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    first = log.read_text()
    assert "opening reader" in first
    code, _, err = run(capsys, "--log-file", log, "-v", "card", "info")
    assert code == 0, err
    assert log.read_text().startswith(first) and len(log.read_text()) > len(first)


def test_the_log_goes_to_an_empty_file_but_never_into_a_file_that_is_no_log(tmp_path, capsys):
    empty = tmp_path / "empty.log"
    empty.touch()
    code, _, err = run(capsys, "-v", "card", "info", "--log-file", empty)
    assert code == 0, err
    assert empty.read_text()
    document = tmp_path / "other-keys.json"
    document.write_text('{"format": 1}\n')
    code, _, err = run(capsys, "-v", "card", "info", "--log-file", document)
    one_error(code, err, str(document), "not an ekarta log")
    assert document.read_text() == '{"format": 1}\n'


def test_the_log_file_help_says_the_rule(capsys):
    code, out, _ = run(capsys, "card", "info", "--help")
    assert code == 0
    assert "0600" in " ".join(out.split()) and "never a file the command reads" in " ".join(
        out.split())


# --- other outputs --------------------------------------------------------------------------------


def test_emulator_new_force_does_not_replace_a_card_another_holder_has(tmp_path, capsys):
    card = tmp_path / "card.json"
    VirtualCard.new(uid=bytes.fromhex("04010203040506")).save(card)
    before = card.read_bytes()
    with FileLock(card):
        code, _, err = run(capsys, "emulator", "new", card, "--force")
    one_error(code, err, "card file", "in use by another process")
    assert card.read_bytes() == before


def test_keys_new_never_replaces_without_force(files, capsys):
    code, _, err = run(capsys, "keys", "new", files.keys)
    one_error(code, err, "exists")
    assert files.unchanged()
