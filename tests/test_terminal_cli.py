"""``ekarta terminal``: a terminal directory made against an office on loopback, synced,
inspected and looked up through the command line, and every refusal a one-line error."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import stat
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from ekarta.backoffice.api import create_app
from ekarta.backoffice.database import open_engine
from ekarta.backoffice.feeds import unlist_blocked
from ekarta.backoffice.schema import JournalEntry
from ekarta.backoffice.store import add_device, migrate, revoke_device
from ekarta.sync.envelope import envelope_key
from ekarta.sync.messages import ActionKind, Feed, JournalEvent, JournalKind
from ekarta.sync.roles import DeviceRole
from ekarta.terminal.config import load_config
from ekarta.terminal.errors import FeedStalled, LeaseRefused
from ekarta.terminal.sync import OfficeClient, lease, pull_feed, sync_once
from ekarta.transit.security.keystore import TERMINAL_KEYS, create_keystore
from tests.support.cli import run
from tests.support.office import FaultyOffice, Seed, served
from tests.support.terminal import card

TOKENS: dict[str, str] = {}
"""Every device's token, by its name's first word (the office makes them)."""
DEVICES = {"validator": DeviceRole.VALIDATOR, "inspector": DeviceRole.INSPECTOR,
           "kiosk": DeviceRole.KIOSK, "kiosk2": DeviceRole.KIOSK}


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """The operator's envelope key, its keystore and the exports of every terminal role."""
    folder = tmp_path_factory.mktemp("keys")
    full = create_keystore(folder / "keys.json")
    exported = {"full": str(folder / "keys.json")}
    for role in ("validator", "inspector", "kiosk"):
        part = full.export(TERMINAL_KEYS[role])
        path = folder / f"{role}.json"
        path.write_text(json.dumps(part.to_document()))
        os.chmod(path, 0o600)
        exported[role] = str(path)
    return envelope_key(full.signer()), exported


@pytest.fixture(scope="module")
def front(tmp_path_factory):
    """The office served on loopback for the module, and a migrated database with its devices
    to copy for each test."""
    folder = tmp_path_factory.mktemp("office")
    engine = open_engine(str(folder / "template.db"))
    migrate(engine)
    now = datetime.now(UTC)
    for name, role in DEVICES.items():
        TOKENS[name] = add_device(engine, f"{name} 1", role, now=now)
    engine.dispose()
    office = FaultyOffice()
    with served(office) as url:
        yield office, url, folder / "template.db"


@dataclass
class Office:
    url: str
    engine: Engine
    seed: Seed
    front: FaultyOffice


@pytest.fixture
def office(front, keys, tmp_path):
    faulty, url, template = front
    shutil.copy(template, tmp_path / "office.db")
    engine = open_engine(str(tmp_path / "office.db"))
    faulty.app = create_app(engine, envelope_key=keys[0])
    faulty.fail_journal = False
    faulty.stall_key = None
    yield Office(url, engine, Seed(engine, datetime.now(UTC)), faulty)
    faulty.app = None
    engine.dispose()


def blocked(office: Office, serial: int, uid: str | None = None) -> int:
    number = office.seed.card(serial, uid=None if uid is None else bytes.fromhex(uid))
    office.seed.block(number)
    return number


def init(capsys, keys, url, directory, role="validator", *extra):
    return run(capsys, "terminal", "init", str(directory), "--office", url, "--role", role,
               "--keys", keys[1][role], "--token", TOKENS[role], *extra)


def test_init_makes_a_private_directory_and_never_shows_the_token(capsys, keys, office,
                                                                  tmp_path):
    url = office.url
    code, out, err = init(capsys, keys, url, tmp_path / "bus")
    assert code == 0, err
    assert "validator 'validator 1'" in out and TOKENS["validator"] not in out + err
    for name in ("terminal.json", "keys.json", "store.sqlite"):
        assert stat.S_IMODE(os.stat(tmp_path / "bus" / name).st_mode) == 0o600, name
    config = load_config(str(tmp_path / "bus"))
    assert (config.role, config.device, config.office) == (DeviceRole.VALIDATOR,
                                                           "validator 1", url)
    assert TOKENS["validator"] not in repr(config)
    # nor in the most verbose log of a sync
    code, out, err = run(capsys, "-vvv", "terminal", "sync", str(tmp_path / "bus"))
    assert code == 0 and TOKENS["validator"] not in out + err


@pytest.mark.slow
def test_the_token_comes_from_standard_input_or_the_environment(capsys, keys, office,
                                                                tmp_path, monkeypatch):
    url = office.url
    monkeypatch.setattr("sys.stdin", io.StringIO(TOKENS["kiosk"] + "\n"))
    code, out, err = run(capsys, "terminal", "init", str(tmp_path / "a"), "--office", url,
                         "--role", "kiosk", "--keys", keys[1]["kiosk"], "--token", "-",
                         "--json")
    assert code == 0, err
    assert json.loads(out)["device"] == "kiosk 1" and TOKENS["kiosk"] not in out
    monkeypatch.setenv("EKARTA_TOKEN", TOKENS["kiosk"])
    code, _, err = run(capsys, "terminal", "init", str(tmp_path / "b"), "--office", url,
                       "--role", "kiosk", "--keys", keys[1]["kiosk"])
    assert code == 0, err
    monkeypatch.delenv("EKARTA_TOKEN")
    code, _, err = run(capsys, "terminal", "init", str(tmp_path / "c"), "--office", url,
                       "--role", "kiosk", "--keys", keys[1]["kiosk"])
    assert code == 1 and "give the device's token" in err


@pytest.mark.parametrize("keystore, role, message", [
    ("full", "validator", "holds the coupon-signing key and the PICC master key and the load, "
                          "master keys"),
    ("inspector", "validator", "lacks the validation key"),
    ("validator", "kiosk", "lacks the load key"),
])
@pytest.mark.slow
def test_init_refuses_a_keystore_that_is_not_the_roles_export(capsys, keys, office, tmp_path,
                                                              keystore, role, message):
    url = office.url
    code, _, err = run(capsys, "terminal", "init", str(tmp_path / "t"), "--office", url,
                       "--role", role, "--keys", keys[1][keystore], "--token", TOKENS[role])
    assert code == 1
    assert err.startswith("ekarta: error: ") and err.count("\n") == 1 and message in err
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("case, message", [
    ("other role", "knows this token as 'kiosk 1', a kiosk, not a validator"),
    ("unknown token", "refused this terminal's token"),
    ("unreachable", "cannot reach the office"),
    ("bad url", "must be an http:// or https:// URL"),
    ("bad token", "the token must be"),
])
@pytest.mark.slow
def test_init_refusals_are_one_line(capsys, keys, office, tmp_path, case, message):
    url = office.url
    token = TOKENS["validator"]
    if case == "other role":
        token = TOKENS["kiosk"]
    elif case == "unknown token":
        token = "nobody-knows-me"
    elif case == "unreachable":
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            url = f"http://127.0.0.1:{s.getsockname()[1]}"
    elif case == "bad url":
        url = "ftp://office"
    elif case == "bad token":
        token = "two words"
    code, out, err = run(capsys, "terminal", "init", str(tmp_path / "t"), "--office", url,
                         "--role", "validator", "--keys", keys[1]["validator"], "--token", token)
    assert code == 1 and out == ""
    assert err.startswith("ekarta: error: ") and err.count("\n") == 1 and message in err, err
    assert "Traceback" not in err and token not in err


@pytest.mark.slow
def test_init_refuses_an_existing_directory_without_force(capsys, keys, office, tmp_path):
    url = office.url
    assert init(capsys, keys, url, tmp_path / "bus")[0] == 0
    blocked(office, 1)
    assert run(capsys, "terminal", "sync", str(tmp_path / "bus"))[0] == 0
    queue(tmp_path / "bus", 2)
    code, _, err = init(capsys, keys, url, tmp_path / "bus")
    assert code == 1 and "exists and is not empty" in err
    assert init(capsys, keys, url, tmp_path / "bus", "validator", "--force")[0] == 0
    with load_config(str(tmp_path / "bus")).open_store() as store:
        status = store.status()
        assert (status.hotlist, status.outbox) == (0, 2), "lists pulled again, journal kept"
        assert store.feed_state(Feed.HOTLIST).cursor == 0


def test_sync_status_and_lookup(capsys, keys, office, tmp_path):
    url = office.url
    one = blocked(office, 1, uid="04a1b2c3d4e5f6")
    two = office.seed.card(2, holder=("Jana", "Nová"))
    pending = office.seed.action(two, ActionKind.WRITE_BLOCKED)
    assert init(capsys, keys, url, tmp_path / "bus")[0] == 0
    assert init(capsys, keys, url, tmp_path / "kiosk", "kiosk")[0] == 0

    code, out, err = run(capsys, "terminal", "sync", str(tmp_path / "bus"), "--json")
    assert code == 0, err
    report = json.loads(out)
    assert [f["feed"] for f in report["feeds"]] == ["hotlist", "entitlements"], \
        "a validator pulls no actions"
    assert report["feeds"][0]["items"] == 1 and report["ok"]

    code, out, _ = run(capsys, "terminal", "status", str(tmp_path / "bus"), "--json")
    status = json.loads(out)
    assert status["lists"] == {"hotlist": 1, "entitlements": 2, "actions": 0}
    assert [f["stale"] for f in status["feeds"]] == [False, False, True]
    assert TOKENS["validator"] not in out
    code, out, _ = run(capsys, "terminal", "status", str(tmp_path / "bus"),
                       "--at", "2099-01-01T00:00+00:00")
    assert code == 0 and "STALE" in out and "never synced" in out

    code, out, _ = run(capsys, "terminal", "lookup", str(tmp_path / "bus"), card(1))
    assert code == 0 and "BLOCKED" in out
    code, out, _ = run(capsys, "terminal", "lookup", str(tmp_path / "bus"), card(2), "--json")
    found = json.loads(out)
    assert found["hotlist"] is None and found["entitlement"]["profile"] == "student"
    assert "Jana" not in out and found["actions"] == []

    assert run(capsys, "terminal", "sync", str(tmp_path / "kiosk"))[0] == 0
    code, out, _ = run(capsys, "terminal", "lookup", str(tmp_path / "kiosk"), card(2))
    assert f"action {pending}" in out and "write-blocked" in out

    # the office takes card 1 off the hotlist: the next sync drops it
    with Session(office.engine) as session, session.begin():
        unlist_blocked(session, one, now=datetime.now(UTC))
    code, out, _ = run(capsys, "terminal", "sync", str(tmp_path / "bus"))
    assert code == 0 and "hotlist" in out
    assert "not listed" in run(capsys, "terminal", "lookup", str(tmp_path / "bus"), card(1))[1]


@pytest.mark.slow
def test_lookup_and_status_refusals(capsys, tmp_path):
    code, _, err = run(capsys, "terminal", "status", str(tmp_path))
    assert code == 1 and "is not a terminal directory" in err
    code, _, err = run(capsys, "terminal", "lookup", str(tmp_path), "1234567890")
    assert code == 2 and "check digit" in err


def queue(directory, n):
    config = load_config(str(directory))
    with config.open_store() as store:
        for _ in range(n):
            store.append_journal(JournalEvent(event_id=uuid.uuid4(), kind=JournalKind.VALIDATION,
                                              at=datetime.now(UTC), card_number=card(1)),
                                 now=datetime.now(UTC))


@pytest.mark.slow
def test_sync_pushes_the_journal_and_keeps_what_the_office_did_not_take(capsys, keys, office,
                                                                       tmp_path):
    url = office.url
    assert init(capsys, keys, url, tmp_path / "bus")[0] == 0
    queue(tmp_path / "bus", 3)
    office.front.fail_journal = True
    code, out, err = run(capsys, "terminal", "sync", str(tmp_path / "bus"), "--json")
    assert code == 1 and json.loads(out)["journal"]["outbox"] == 3
    assert "failed to answer /journal (HTTP 503)" in err and "Traceback" not in err
    office.front.fail_journal = False
    code, out, _ = run(capsys, "terminal", "sync", str(tmp_path / "bus"), "--json")
    assert code == 0 and json.loads(out)["journal"] == {"pushed": 3, "acknowledged": 3,
                                                        "outbox": 0}
    with Session(office.engine) as session:
        assert session.scalar(select(func.count()).select_from(JournalEntry)) == 3


@pytest.mark.slow
def test_a_foreign_key_or_a_revoked_token_fails_the_sync_in_one_line(capsys, keys, office,
                                                                     tmp_path):
    blocked(office, 1)
    assert init(capsys, keys, office.url, tmp_path / "bus")[0] == 0
    original = office.front.app
    office.front.app = create_app(office.engine, envelope_key=Ed25519PrivateKey.generate())
    try:
        code, _, err = run(capsys, "terminal", "sync", str(tmp_path / "bus"))
    finally:
        office.front.app = original
    assert code == 1 and "signature does not verify" in err
    with load_config(str(tmp_path / "bus")).open_store() as store:
        assert store.status().hotlist == 0
    revoke_device(office.engine, "validator 1", now=datetime.now(UTC))
    code, _, err = run(capsys, "terminal", "sync", str(tmp_path / "bus"))
    assert code == 1 and err.count("ekarta: error:") == 1 and "unknown or revoked" in err


@pytest.mark.slow
def test_a_snapshot_over_many_pages_a_stalled_feed_and_leases(keys, office, tmp_path, capsys):
    url = office.url
    for n in range(1, 8):
        blocked(office, n)
    pending = office.seed.action(office.seed.card(8), ActionKind.WRITE_BLOCKED)
    assert init(capsys, keys, url, tmp_path / "kiosk", "kiosk")[0] == 0
    config = load_config(str(tmp_path / "kiosk"))
    with config.open_store() as store:
        report = sync_once(config, store, datetime.now(UTC), limit=2)
        assert report.ok and report.feeds[0].pages == 4 and report.feeds[0].items == 7
        assert report.feeds[0].snapshot_done and store.status().hotlist == 7

        office.front.stall_key = keys[0]
        with OfficeClient(config) as client, pytest.raises(FeedStalled):
            pull_feed(store, client, Feed.HOTLIST, keys=[keys[0].public_key()],
                      now=datetime.now(UTC))
        office.front.stall_key = None

        taken = lease(config, store, pending)
        assert taken.device == "kiosk 1" and store.lease_until(pending) == taken.until
        with pytest.raises(LeaseRefused, match=f"no action {pending + 1}") as refused:
            lease(config, store, pending + 1)
        assert refused.value.status == 404
    assert init(capsys, keys, url, tmp_path / "kiosk2", "kiosk")[0] == 0
    other = load_config(str(tmp_path / "kiosk2"))
    other = type(other)(**{**other.__dict__, "token": TOKENS["kiosk2"]})
    with other.open_store() as store, pytest.raises(LeaseRefused, match="another device"):
        lease(other, store, pending)
