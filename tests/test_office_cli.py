"""``ekarta office init`` and ``ekarta office device``, on an SQLite file and on PostgreSQL."""

from __future__ import annotations

import json

import pytest

from ekarta.backoffice.database import open_engine
from ekarta.backoffice.store import device_for_token, newest_version
from ekarta.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_init_then_devices_through_the_command_line(database, capsys):
    code, out, _ = run(capsys, "office", "init", "--db", database)
    assert code == 0 and f"ready (schema {newest_version()})" in out
    code, out, _ = run(capsys, "office", "init", "--db", database, "--json")
    assert code == 0 and json.loads(out)["changed"] is False

    code, out, _ = run(capsys, "office", "device", "add", "bus 1017", "--role", "validator",
                       "--db", database)
    assert code == 0 and out.startswith("added device bus 1017 (validator)")
    token = out.splitlines()[-1]
    engine = open_engine(database)
    assert device_for_token(engine, token) is not None

    code, out, _ = run(capsys, "office", "device", "list", "--db", database, "--json")
    listed = json.loads(out)
    assert [(d["name"], d["role"], d["revoked_at"]) for d in listed] == \
        [("bus 1017", "validator", None)]
    assert token not in out

    code, out, _ = run(capsys, "office", "device", "revoke", "bus 1017", "--db", database)
    assert code == 0 and "revoked" in out
    assert device_for_token(engine, token) is None
    engine.dispose()
    code, _, err = run(capsys, "office", "device", "add", "bus 1017", "--role", "kiosk",
                       "--db", database)
    assert code == 1 and err == "ekarta: error: a device named 'bus 1017' exists already\n"


@pytest.mark.parametrize(("argv", "message"), [
    (("office", "device", "list"), "is not an office database yet"),
    (("office", "init", "--db", "mysql://root@localhost/office"), "unsupported database"),
    (("office", "device", "revoke", "ghost"), "is not an office database yet"),
])
def test_errors_are_one_line(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == "" and message in err and err.count("\n") == 1


@pytest.mark.parametrize("argv", [("office", "init"), ("office", "card", "show", "0000000013"),
                                  ("office", "device", "list", "--json")])
def test_a_file_that_is_no_database_is_one_line(tmp_path, capsys, monkeypatch, argv):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "office.db").write_bytes(b"not a database, but a note left here\n" * 100)
    code, out, err = run(capsys, *argv, "--db", "office.db")
    assert (code, out) == (1, "")
    assert err == "ekarta: error: cannot read the database: file is not a database\n"
    assert (tmp_path / "office.db").read_bytes().startswith(b"not a database")


def test_the_default_database_is_a_file_in_the_working_directory(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EKARTA_OFFICE_DB", raising=False)
    assert run(capsys, "office", "init")[0] == 0
    assert (tmp_path / "ekarta-office.db").exists()
    code, _, err = run(capsys, "office", "device", "add", "k", "--role", "cashier")
    assert code == 2 and "invalid choice: 'cashier'" in err
