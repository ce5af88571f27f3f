"""The ``ekarta`` command line, run in-process against the real emulator."""

from __future__ import annotations

import io
import json
import os
import re
import runpy
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ekarta.cli import main
from ekarta.cli.apdu_cmd import describe_status, parse_apdu
from ekarta.cli.common import CLIError, parse_key_spec, read_key_file
from ekarta.desfire.commands import PICC_AID
from ekarta.desfire.crypto import Key, KeyType
from ekarta.desfire.keyring import KeyRing
from ekarta.desfire.structs import AccessRights, KeySettings

ROOT = Path(__file__).resolve().parent.parent
FACTORY_DES = "0:des:0000000000000000"
ZERO_AES = "00000000000000000000000000000000"
APP = 0xA1B2C3
LOCKED_APP = 0x00BEEF
SECRET_HEX = "0123456789ABCDEFFEDCBA9876543210"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(autouse=True)
def _no_reader_env(monkeypatch):
    monkeypatch.delenv("EKARTA_READER", raising=False)


@pytest.fixture
def card_path(tmp_path, capsys) -> Path:
    path = tmp_path / "card.json"
    code, _, err = run(capsys, "emulator", "new", str(path), "--uid", "04A1B2C3D4E5F6")
    assert code == 0, err
    return path


def desfire(path: Path):
    """A client on the stored card, as a context manager that saves on exit."""
    from ekarta.desfire.client import DESFire
    from ekarta.readers import open_reader

    class Session:
        def __enter__(self):
            self.reader = open_reader(f"emulator:{path}")
            self.reader.__enter__()
            self.reader.wait_for_card(timeout=1.0)
            return DESFire(self.reader)

        def __exit__(self, *exc):
            return self.reader.__exit__(*exc)

    return Session()


@pytest.fixture
def populated_card(card_path) -> Path:
    """A stored card with one open application (three files) and one locked application."""
    with desfire(card_path) as df:
        df.create_application(APP, KeySettings(), key_count=3, key_type="aes",
                              iso_fid=0xE110, df_name=b"ekarta")
        df.select_application(APP)
        df.create_std_data_file(1, 32, comm="plain",
                                access=AccessRights(read=1, write=2, read_write=0xE, change=0))
        df.create_value_file(2, lower_limit=-100, upper_limit=1000, value=10, comm="full",
                             access=AccessRights(1, 2, 3, 0))
        df.create_cyclic_record_file(3, 16, 10, comm="mac", access=AccessRights.free())

        df.select_application(0)
        df.create_application(LOCKED_APP, KeySettings(free_directory=False), key_count=1,
                              key_type="aes")
        df.select_application(LOCKED_APP)
        df.authenticate(0, Key.default(KeyType.AES), "aes")
        df.create_backup_data_file(7, 64, comm="full", access=AccessRights(0, 0, 0, 0))
    return card_path


# --- help, version, entry points ------------------------------------------------------------------


@pytest.mark.slow
def test_console_script_and_module_help():
    script = ROOT / ".venv" / "bin" / "ekarta"
    for argv in ([str(script), "--help"], [sys.executable, "-m", "ekarta", "--help"]):
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=ROOT)
        assert done.returncode == 0, done.stderr
        assert "usage: ekarta" in done.stdout
        for command in ("emulator", "card", "apdu"):
            assert command in done.stdout
        assert "examples:" in done.stdout


def test_module_runs_the_command_line(capsys, monkeypatch):
    """``python -m ekarta`` in this process (the subprocess test above is slow)."""
    monkeypatch.setattr(sys, "argv", ["ekarta", "--version"])
    with pytest.raises(SystemExit) as done:
        runpy.run_module("ekarta", run_name="__main__")
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("ekarta ")


def test_version(capsys):
    from ekarta import __version__

    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out.strip() == f"ekarta {__version__}"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["emulator"],
        ["emulator", "new"],
        ["emulator", "show"],
        ["card"],
        ["card", "info"],
        ["card", "format"],
        ["apdu"],
    ],
)
def test_help_at_every_level_has_an_example(capsys, argv):
    code, out, _ = run(capsys, *argv, "--help")
    assert code == 0
    assert "usage: ekarta" in out
    assert "example" in out


def test_help_lists_reader_schemes_and_key_file(capsys):
    _, out, _ = run(capsys, "card", "info", "--help")
    assert "emulator:" in out
    assert "EKARTA_READER" in out
    assert "--key-file" in out
    assert "process list" in out


def test_no_command_is_a_usage_error(capsys):
    code, _, err = run(capsys)
    assert code == 2
    assert "usage:" in err


# --- emulator new / show --------------------------------------------------------------------------


def test_emulator_new_creates_private_file(tmp_path, capsys):
    path = tmp_path / "c.json"
    code, out, err = run(capsys, "emulator", "new", str(path), "--uid", "04:a1:b2:c3:d4:e5:f6")
    assert code == 0, err
    assert path.is_file()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert str(path) in out
    assert "04A1B2C3D4E5F6" in out


def test_emulator_new_random_uid_starts_with_04(tmp_path, capsys):
    path = tmp_path / "c.json"
    code, out, _ = run(capsys, "emulator", "new", str(path))
    assert code == 0
    uid = out.split("UID")[1].split()[0]
    assert len(uid) == 14 and uid.startswith("04")
    code, out, _ = run(capsys, "card", "info", "--reader", f"emulator:{path}", "--json")
    assert json.loads(out)["uid"] == uid


def test_emulator_new_json_gives_the_path_and_the_uid(tmp_path, capsys):
    path = tmp_path / "c.json"
    code, out, err = run(capsys, "emulator", "new", str(path), "--uid", "04A1B2C3D4E5F6", "--json")
    assert code == 0, err
    assert json.loads(out) == {"path": str(path), "uid": "04A1B2C3D4E5F6"}


def test_emulator_new_refuses_to_overwrite(card_path, capsys):
    before = card_path.read_bytes()
    code, out, err = run(capsys, "emulator", "new", str(card_path))
    assert code == 1
    assert err.startswith("ekarta: error:")
    assert "--force" in err
    assert card_path.read_bytes() == before
    code, out, err = run(capsys, "emulator", "new", str(card_path), "--force",
                         "--uid", "04000000000001")
    assert code == 0, err
    assert "04000000000001" in out
    assert stat.S_IMODE(card_path.stat().st_mode) == 0o600


@pytest.mark.parametrize("uid", ["05A1B2C3D4E5F6", "04A1B2", "04A1B2C3D4E5F6FF", "04A1B2C3D4E5GG"])
def test_emulator_new_rejects_bad_uid(tmp_path, capsys, uid):
    path = tmp_path / "c.json"
    code, _, err = run(capsys, "emulator", "new", str(path), "--uid", uid)
    assert code == 2
    assert "14 hex digits starting with 04" in err
    assert not path.exists()


def test_emulator_show(populated_card, capsys):
    code, out, err = run(capsys, "emulator", "show", str(populated_card))
    assert code == 0, err
    assert "04A1B2C3D4E5F6" in out
    assert "A1B2C3" in out and "00BEEF" in out
    assert "free memory" in out


def test_emulator_show_missing_file(tmp_path, capsys):
    code, _, err = run(capsys, "emulator", "show", str(tmp_path / "nope.json"))
    assert code == 1
    assert err.startswith("ekarta: error:")


# --- card info ------------------------------------------------------------------------------------


def test_card_info_fresh_emulated_card(capsys):
    code, out, err = run(capsys, "card", "info", "--reader", "emulator:")
    assert code == 0, err
    assert "MIFARE DESFire" in out
    assert "hardware" in out and "software" in out
    assert "UID" in out
    assert re.search(r"free memory +7936 bytes", out)
    assert "Applications: none" in out
    assert "Traceback" not in err


def test_card_info_default_reader_is_a_fresh_emulator(capsys):
    code, out, _ = run(capsys, "card", "info")
    assert code == 0
    assert "7936 bytes" in out


def test_card_info_reader_from_environment(card_path, capsys, monkeypatch):
    monkeypatch.setenv("EKARTA_READER", f"emulator:{card_path}")
    code, out, _ = run(capsys, "card", "info")
    assert code == 0
    assert "04A1B2C3D4E5F6" in out


def test_card_info_json(capsys):
    code, out, err = run(capsys, "card", "info", "--reader", "emulator:", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["free_memory"] == 7936
    assert len(doc["uid"]) == 14 and doc["uid"].startswith("04")
    assert doc["applications"] == []
    assert doc["picc"]["key_settings"]["free_listing"] is True
    assert doc["product"].startswith("MIFARE DESFire")


def test_card_info_lists_applications_and_files(populated_card, capsys):
    code, out, err = run(capsys, "card", "info", "--reader", f"emulator:{populated_card}")
    assert code == 0, err
    assert "04A1B2C3D4E5F6" in out
    assert "Applications: 2" in out
    assert "A1B2C3  ISO FID E110  DF name 656B61727461 \"ekarta\"" in out
    assert "3 aes keys" in out
    lines = out.splitlines()
    std = next(line for line in lines if line.strip().startswith("01 "))
    assert "std data" in std and "plain" in std
    assert "read=key1 write=key2 rw=free change=key0" in std
    assert "size 32" in std
    value = next(line for line in lines if line.strip().startswith("02 "))
    assert "value" in value and "full" in value and "limits -100..1000" in value
    record = next(line for line in lines if line.strip().startswith("03 "))
    assert "cyclic record" in record and "record size 16" in record and "max 10" in record
    # The locked application: noted, and the command went on to the end.
    assert "locked: listing needs key 0" in out
    assert out.index("\n  00BEEF") < out.index("\n  A1B2C3")  # sorted by AID
    assert "07 " not in out


def test_card_info_json_lists_applications(populated_card, capsys):
    code, out, _ = run(capsys, "card", "info", "--reader", f"emulator:{populated_card}", "--json")
    assert code == 0
    doc = json.loads(out)
    apps = {app["aid"]: app for app in doc["applications"]}
    assert set(apps) == {"A1B2C3", "00BEEF"}
    app = apps["A1B2C3"]
    assert app["iso_fid"] == "E110"
    assert bytes.fromhex(app["df_name"]) == b"ekarta"
    assert app["key_settings"]["key_count"] == 3
    assert [f["file_no"] for f in app["files"]] == [1, 2, 3]
    assert app["files"][0]["access"] == {
        "read": "key1", "write": "key2", "read_write": "free", "change": "key0"}
    assert app["files"][0]["size"] == 32
    assert apps["00BEEF"]["files"] is None
    assert "locked" in apps["00BEEF"]["locked"]


def test_card_info_with_application_key_unlocks_listing(populated_card, capsys):
    code, out, err = run(capsys, "card", "info", "--reader", f"emulator:{populated_card}",
                         "--key", f"00BEEF:0:aes:{ZERO_AES}")
    assert code == 0, err
    assert "locked" not in out
    line = next(line for line in out.splitlines() if line.strip().startswith("07 "))
    assert "backup data" in line and "full" in line and "size 64" in line
    assert ZERO_AES not in out + err


def test_card_info_with_key_file(populated_card, tmp_path, capsys):
    keys = tmp_path / "keys.txt"
    keys.write_text(f"# the locked application\n\n00BEEF:0:aes:{ZERO_AES}  # key 0\n"
                    f"{FACTORY_DES}\n")
    keys.chmod(0o600)
    code, out, err = run(capsys, "card", "info", "--reader", f"emulator:{populated_card}",
                         "--key-file", str(keys))
    assert code == 0, err
    assert "locked" not in out
    assert "real UID" in out
    assert "04A1B2C3D4E5F6  (GetCardUID)" in out


def test_card_info_with_picc_key_shows_real_uid(card_path, capsys):
    code, out, err = run(capsys, "card", "info", "--reader", f"emulator:{card_path}",
                         "--key", FACTORY_DES, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["real_uid"] == "04A1B2C3D4E5F6"


def test_card_info_wrong_application_key_is_noted_not_fatal(populated_card, capsys):
    code, out, err = run(capsys, "-vvv", "card", "info", "--reader",
                         f"emulator:{populated_card}", "--key", f"00BEEF:0:aes:{SECRET_HEX}")
    assert code == 0
    assert "authentication with key 0 failed" in out
    assert "locked: listing needs key 0" in out
    assert "ekarta: warning:" in err
    # Key material shows nowhere, not even in the TRACE log of every frame.
    everything = (out + err).upper()
    assert ">>" in everything  # the frames were logged
    assert SECRET_HEX not in everything
    assert SECRET_HEX[:16] not in everything.replace(" ", "")


PICC_AES = "00112233445566778899AABBCCDDEEFF"


@pytest.fixture
def locked_picc_card(card_path) -> Path:
    """A stored card whose PICC needs its (AES) master key for listing, with one application."""
    with desfire(card_path) as df:
        df.create_application(0x123456, KeySettings(), 2, "3k3des")
        df.authenticate(0, Key.default(KeyType.DES), "iso")
        df.change_key_settings(KeySettings(free_directory=False, free_create_delete=False))
        df.change_key(0, Key.aes(bytes.fromhex(PICC_AES)))
    return card_path


def test_card_info_locked_picc(locked_picc_card, capsys):
    code, out, _ = run(capsys, "card", "info", "--reader", f"emulator:{locked_picc_card}")
    assert code == 0
    assert "Applications: locked: listing needs the PICC master key" in out
    assert re.search(r"free memory +\d+ bytes", out)
    code, out, _ = run(capsys, "card", "info", "--reader", f"emulator:{locked_picc_card}",
                       "--json")
    doc = json.loads(out)
    assert doc["applications"] is None
    assert doc["applications_locked"].startswith("locked")


@pytest.mark.parametrize("ev2", [False, True])
def test_card_info_with_aes_picc_key(locked_picc_card, capsys, monkeypatch, ev2):
    from ekarta.desfire.client import DESFire

    methods = []
    authenticate = DESFire.authenticate

    def spy(self, key_no, key, method="aes"):
        methods.append(method)
        return authenticate(self, key_no, key, method)

    monkeypatch.setattr(DESFire, "authenticate", spy)
    argv = ["card", "info", "--reader", f"emulator:{locked_picc_card}",
            "--key", f"0:aes:{PICC_AES}", *(["--ev2"] if ev2 else [])]
    code, out, err = run(capsys, *argv)
    assert code == 0, err
    assert methods == ["ev2first" if ev2 else "aes"]
    assert "locked" not in out
    assert "04A1B2C3D4E5F6  (GetCardUID)" in out
    assert "\n  123456" in out
    assert "2 3k3des keys" in out
    assert "master key    aes" in out


def test_card_info_bad_key_file_line(tmp_path, capsys):
    keys = tmp_path / "keys.txt"
    keys.write_text(f"{FACTORY_DES}\n0:des:{SECRET_HEX}\n")
    code, _, err = run(capsys, "card", "info", "--key-file", str(keys))
    assert code == 1
    assert f"{keys}:2:" in err
    assert "8 bytes" in err
    assert SECRET_HEX not in err


def test_card_info_missing_key_file(tmp_path, capsys):
    code, _, err = run(capsys, "card", "info", "--key-file", str(tmp_path / "nope"))
    assert code == 1
    assert err.startswith("ekarta: error: cannot read key file")


def test_unknown_reader_scheme(capsys):
    code, out, err = run(capsys, "card", "info", "--reader", "nosuch:thing")
    assert code == 1
    assert out == ""
    assert err.startswith("ekarta: error: unknown reader URL scheme 'nosuch'")
    assert "emulator:" in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_debug_logging_shows_the_traceback(capsys):
    code, _, err = run(capsys, "-vv", "card", "info", "--reader", "nosuch:thing")
    assert code == 1
    assert "Traceback" in err
    assert "ekarta: error: unknown reader URL scheme" in err


def test_log_file(tmp_path, capsys):
    log_file = tmp_path / "ekarta.log"
    code, _, _ = run(capsys, "card", "info", "-vvv", "--log-file", str(log_file))
    assert code == 0
    text = log_file.read_text()
    assert ">> 90 60 00 00 00" in text
    assert "TRACE" in text


# --- key specs ------------------------------------------------------------------------------------


def test_parse_key_spec_forms():
    spec = parse_key_spec(FACTORY_DES)
    assert (spec.aid, spec.key_no, spec.key.type) == (PICC_AID, 0, KeyType.DES)
    assert spec.method() == "iso"
    spec = parse_key_spec(f"A1B2C3:13:aes:{SECRET_HEX}")
    assert (spec.aid, spec.key_no, spec.key.type) == (APP, 13, KeyType.AES)
    assert spec.key.data == bytes.fromhex(SECRET_HEX)
    assert spec.method() == "aes" and spec.method(ev2=True) == "ev2first"
    spec = parse_key_spec("1:2k3des:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF")
    assert spec.key.type is KeyType.TDES2 and spec.key_no == 1
    assert parse_key_spec("000000:0:3k3des:" + "00" * 24).key.type is KeyType.TDES3
    assert SECRET_HEX not in repr(parse_key_spec(f"0:aes:{SECRET_HEX}"))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("0:rsa:00", "TYPE one of"),
        ("14:des:0000000000000000", "key number must be 0..13"),
        ("x:des:0000000000000000", "key number must be 0..13"),
        ("A1B2:0:des:0000000000000000", "6 hex digits"),
        ("0:des:00000000000000", "8 bytes"),
        ("0:aes:zz" + "00" * 15, "hex"),
        ("0:des", "[AID:]KEYNO:TYPE:HEX"),
    ],
)
def test_parse_key_spec_errors(spec, message):
    with pytest.raises(CLIError, match=message.replace("[", r"\[").replace(".", r"\.")):
        parse_key_spec(spec)


def test_bad_key_option_is_a_usage_error_without_the_key(capsys):
    code, _, err = run(capsys, "card", "info", "--key", f"0:des:{SECRET_HEX}")
    assert code == 2
    assert "argument -k/--key" in err and "8 bytes" in err
    assert SECRET_HEX not in err


def test_key_file_parsing():
    text = io.StringIO(f"# comment\n\n  {FACTORY_DES}  # PICC\nA1B2C3:1:aes:{SECRET_HEX}\n")
    ring = KeyRing(read_key_file("keys", text))
    assert len(ring) == 2
    assert ring.get(PICC_AID, 0).key.type is KeyType.DES
    assert ring.master(APP).key_no == 1
    assert SECRET_HEX not in repr(ring)


def test_key_file_from_stdin(populated_card, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"00BEEF:0:aes:{ZERO_AES}\n"))
    code, out, _ = run(capsys, "card", "info", "--reader", f"emulator:{populated_card}",
                       "--key-file", "-")
    assert code == 0
    assert "locked" not in out


def test_world_readable_key_file_warns(tmp_path, capsys):
    keys = tmp_path / "keys.txt"
    keys.write_text(f"{FACTORY_DES}\n")
    keys.chmod(0o644)
    code, _, err = run(capsys, "card", "info", "--key-file", str(keys))
    assert code == 0
    assert "readable by other users" in err


# --- card format ----------------------------------------------------------------------------------


def _application_ids(path: Path) -> list[str]:
    with desfire(path) as df:
        return [f"{aid:06X}" for aid in df.get_application_ids()]


def test_card_format_erases_applications(populated_card, capsys):
    code, out, err = run(capsys, "card", "format", "--reader", f"emulator:{populated_card}",
                         "--key", FACTORY_DES, "--yes")
    assert code == 0, err
    assert "04A1B2C3D4E5F6" in out
    assert "7936 bytes" in out
    assert _application_ids(populated_card) == []
    code, out, _ = run(capsys, "card", "info", "--reader", f"emulator:{populated_card}")
    assert "Applications: none" in out
    assert re.search(r"free memory +7936 bytes", out)


def test_card_format_wrong_key(populated_card, capsys):
    code, out, err = run(capsys, "card", "format", "--reader", f"emulator:{populated_card}",
                         "--key", f"0:aes:{SECRET_HEX}", "--yes")
    assert code == 1
    assert err.startswith("ekarta: error: authentication with the PICC master key failed")
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert SECRET_HEX not in (out + err).upper()
    assert _application_ids(populated_card) == ["A1B2C3", "00BEEF"]


def test_card_format_needs_picc_key(card_path, capsys):
    code, _, err = run(capsys, "card", "format", "--reader", f"emulator:{card_path}", "--yes")
    assert code == 1
    assert "needs the PICC master key" in err


def test_card_format_without_tty_needs_yes(populated_card, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    code, _out, err = run(capsys, "card", "format", "--reader", f"emulator:{populated_card}",
                         "--key", FACTORY_DES)
    assert code == 1
    assert "--yes" in err
    assert _application_ids(populated_card) == ["A1B2C3", "00BEEF"]


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("answer", "erased"), [("y\n", True), ("yes\n", True), ("\n", False),
                                               ("no\n", False)])
def test_card_format_asks_on_a_tty(populated_card, capsys, monkeypatch, answer, erased):
    monkeypatch.setattr(sys, "stdin", FakeTTY(answer))
    code, _, err = run(capsys, "card", "format", "--reader", f"emulator:{populated_card}",
                       "--key", FACTORY_DES)
    assert "this erases every application on card UID 04A1B2C3D4E5F6" in err
    assert code == (0 if erased else 1)
    expected = [] if erased else ["A1B2C3", "00BEEF"]
    assert _application_ids(populated_card) == expected


# --- apdu -----------------------------------------------------------------------------------------


def test_apdu_trace(capsys):
    code, out, err = run(capsys, "apdu", "--reader", "emulator:", "9060000000")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == ">> 90 60 00 00 00"
    assert lines[1].startswith("<< 04 ")
    assert lines[1].split("   ")[0].endswith("91 AF")
    assert "status 91AF: additional frame" in lines[1]
    assert lines[1].endswith(" ms)")


def test_apdu_sequence_on_one_connection(capsys):
    code, out, _ = run(capsys, "apdu", "--reader", "emulator:", "90 60 00 00 00",
                       "90:AF:00:00:00", "90af000000")
    assert code == 0
    responses = [line for line in out.splitlines() if line.startswith("<<")]
    assert len(responses) == 3
    assert "status 91AF" in responses[1]
    assert "status 9100: OK" in responses[2]


def test_apdu_error_status_is_not_a_failure(capsys):
    code, out, _ = run(capsys, "apdu", "--reader", "emulator:", "90FF000000", "9064000001FF00")
    assert code == 0
    assert "status 911C: illegal command code" in out


def test_apdu_bad_hex_sends_nothing(capsys):
    code, out, err = run(capsys, "apdu", "--reader", "emulator:", "9060000000", "90 6G 00")
    assert code == 2
    assert out == ""
    assert "not hex" in err


def test_apdu_odd_hex(capsys):
    code, out, err = run(capsys, "apdu", "906000000")
    assert code == 2 and out == ""
    assert "odd number of hex digits" in err


def test_apdu_reader_error_exit_status(capsys):
    code, out, err = run(capsys, "apdu", "--reader", "nosuch:", "9060000000")
    assert code == 1
    assert out == ""
    assert "unknown reader URL scheme" in err


def test_parse_apdu_and_status_names():
    assert parse_apdu("90 60:00 00\t00") == bytes.fromhex("9060000000")
    assert describe_status(0x9000) == "OK"
    assert describe_status(0x9100) == "OK"
    assert describe_status(0x91AE) == "authentication error"
    assert describe_status(0x919D) == "permission denied"
    assert describe_status(0x6A82) == "file not found"
    assert describe_status(0x6982) == "security status not satisfied"
    assert describe_status(0x6700) == "wrong length"
    assert describe_status(0x6D00) == "INS not supported"
    assert describe_status(0x6E00) == "CLA not supported"
    assert describe_status(0x1234) == ""


# --- error handling -------------------------------------------------------------------------------


def test_keyboard_interrupt_exits_130_quietly(capsys, monkeypatch):
    import ekarta.cli.apdu_cmd as apdu_cmd

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(apdu_cmd, "open_card", interrupted)
    code, out, err = run(capsys, "apdu", "9060000000")
    assert code == 130
    assert out == "" and err == ""


def test_logging_is_restored_after_main(capsys):
    import logging

    logger = logging.getLogger("ekarta")
    before = (list(logger.handlers), logger.level, logger.propagate)
    run(capsys, "-vvv", "card", "info")
    assert (list(logger.handlers), logger.level, logger.propagate) == before


def test_no_stray_files(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run(capsys, "card", "info")
    run(capsys, "apdu", "9060000000")
    assert os.listdir(tmp_path) == []


# The session's served cards trace from their own threads meanwhile (pcscd polls the vpcd one).
SERVING_LOGGERS = {"ekarta.emulator.vpcd", "ekarta.emulator.pn532", "ekarta.emulator.udp",
                   "ekarta.emulator.iso14443"}


def test_every_frame_is_traced_once_at_the_highest_verbosity(capsys):
    assert main(["-vvv", "card", "info", "--reader", "emulator:"]) == 0
    frames = [line for line in capsys.readouterr().err.splitlines()
              if ": TRACE: " in line and line.split(": ")[2] not in SERVING_LOGGERS]
    sent = [line for line in frames if ">> 90 60 00 00 00" in line]
    assert len(sent) == 1, frames
    assert {line.split(": ")[2] for line in frames} == {"ekarta.emulator.reader"}, frames
