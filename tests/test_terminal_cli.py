"""``ekarta terminal``: a terminal directory made against an office on loopback, synced,
inspected and looked up through the command line, and every refusal a one-line error."""

from __future__ import annotations

import io
import json
import os
import socket
import stat
import uuid
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ekarta.sync.messages import DeviceView, Feed, JournalEvent, JournalKind
from ekarta.sync.roles import DeviceRole
from ekarta.terminal.config import load_config
from ekarta.terminal.errors import FeedStalled, LeaseRefused
from ekarta.terminal.sync import OfficeClient, lease, pull_feed, sync_once
from ekarta.transit.security.keystore import TERMINAL_KEYS, create_keystore
from tests.support.cli import run
from tests.support.mini_office import MiniOffice, serve
from tests.support.terminal import action, card, entitlement, hot

TOKENS = {"validator": "tok-validator-0123456789", "inspector": "tok-inspector-0123456789",
          "kiosk": "tok-kiosk-0123456789", "kiosk2": "tok-kiosk2-0123456789"}


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """The operator's keystore and the exports of every terminal role."""
    folder = tmp_path_factory.mktemp("keys")
    full = create_keystore(folder / "keys.json")
    signing = serialization.load_pem_private_key(full.signer().to_pem(), password=None)
    assert isinstance(signing, Ed25519PrivateKey)
    exported = {"full": str(folder / "keys.json")}
    for role in ("validator", "inspector", "kiosk"):
        part = full.export(TERMINAL_KEYS[role])
        path = folder / f"{role}.json"
        path.write_text(json.dumps(part.to_document()))
        os.chmod(path, 0o600)
        exported[role] = str(path)
    return signing, exported


@pytest.fixture(scope="module")
def served(keys):
    office = MiniOffice(key=keys[0])
    for name, token in TOKENS.items():
        role = DeviceRole("kiosk" if name == "kiosk2" else name)
        office.devices[token] = DeviceView(name=f"{name} 1", role=role)
    with serve(office) as url:
        yield office, url


@pytest.fixture
def office(served):
    office, url = served
    office.feeds = {feed: {} for feed in Feed}
    office.journal.clear()
    office.leases.clear()
    office.revoked.clear()
    office.fail_journal = office.stall = False
    return office, url


def init(capsys, keys, url, directory, role="validator", *extra):
    return run(capsys, "terminal", "init", str(directory), "--office", url, "--role", role,
               "--keys", keys[1][role], "--token", TOKENS[role], *extra)


def test_init_makes_a_private_directory_and_never_shows_the_token(capsys, keys, office,
                                                                  tmp_path):
    _, url = office
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


def test_the_token_comes_from_standard_input_or_the_environment(capsys, keys, office,
                                                                tmp_path, monkeypatch):
    _, url = office
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
def test_init_refuses_a_keystore_that_is_not_the_roles_export(capsys, keys, office, tmp_path,
                                                              keystore, role, message):
    _, url = office
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
def test_init_refusals_are_one_line(capsys, keys, office, tmp_path, case, message):
    _, url = office
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


def test_init_refuses_an_existing_directory_without_force(capsys, keys, office, tmp_path):
    _, url = office
    assert init(capsys, keys, url, tmp_path / "bus")[0] == 0
    mini, _ = office
    mini.put(Feed.HOTLIST, hot(1))
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
    mini, url = office
    mini.put(Feed.HOTLIST, hot(1, uid="04a1b2c3d4e5f6"))
    mini.put(Feed.ENTITLEMENTS, entitlement(2, "student"))
    mini.put(Feed.ACTIONS, action(5, 2))
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
    assert status["lists"] == {"hotlist": 1, "entitlements": 1, "actions": 0}
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
    assert found["actions"] == []

    assert run(capsys, "terminal", "sync", str(tmp_path / "kiosk"))[0] == 0
    code, out, _ = run(capsys, "terminal", "lookup", str(tmp_path / "kiosk"), card(2))
    assert "action 5" in out and "write-blocked" in out

    # the office unblocks card 1: the next sync drops it
    mini.remove(Feed.HOTLIST, card(1))
    code, out, _ = run(capsys, "terminal", "sync", str(tmp_path / "bus"))
    assert code == 0 and "hotlist" in out
    assert "not listed" in run(capsys, "terminal", "lookup", str(tmp_path / "bus"), card(1))[1]


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


def test_sync_pushes_the_journal_and_keeps_what_the_office_did_not_take(capsys, keys, office,
                                                                       tmp_path):
    mini, url = office
    assert init(capsys, keys, url, tmp_path / "bus")[0] == 0
    queue(tmp_path / "bus", 3)
    mini.fail_journal = True
    code, out, err = run(capsys, "terminal", "sync", str(tmp_path / "bus"), "--json")
    assert code == 1 and json.loads(out)["journal"]["outbox"] == 3
    assert "failed to answer /journal (HTTP 503)" in err and "Traceback" not in err
    mini.fail_journal = False
    code, out, _ = run(capsys, "terminal", "sync", str(tmp_path / "bus"), "--json")
    assert code == 0 and json.loads(out)["journal"] == {"pushed": 3, "acknowledged": 3,
                                                        "outbox": 0}
    assert len(mini.journal) == 3


def test_a_revoked_token_or_a_foreign_key_fails_the_sync_in_one_line(capsys, keys, office,
                                                                     tmp_path):
    mini, url = office
    mini.put(Feed.HOTLIST, hot(1))
    assert init(capsys, keys, url, tmp_path / "bus")[0] == 0
    mini.revoked.add(TOKENS["validator"])
    code, _, err = run(capsys, "terminal", "sync", str(tmp_path / "bus"))
    assert code == 1 and err.count("ekarta: error:") == 1 and "unknown or revoked" in err
    mini.revoked.clear()
    original = mini.key
    mini.key = Ed25519PrivateKey.generate()
    try:
        code, _, err = run(capsys, "terminal", "sync", str(tmp_path / "bus"))
    finally:
        mini.key = original
    assert code == 1 and "signature does not verify" in err
    with load_config(str(tmp_path / "bus")).open_store() as store:
        assert store.status().hotlist == 0


def test_a_snapshot_over_many_pages_a_stalled_feed_and_leases(keys, office, tmp_path, capsys):
    mini, url = office
    for n in range(1, 8):
        mini.put(Feed.HOTLIST, hot(n))
    mini.put(Feed.ACTIONS, action(5, 2))
    assert init(capsys, keys, url, tmp_path / "kiosk", "kiosk")[0] == 0
    config = load_config(str(tmp_path / "kiosk"))
    with config.open_store() as store:
        report = sync_once(config, store, datetime.now(UTC), limit=2)
        assert report.ok and report.feeds[0].pages == 4 and report.feeds[0].items == 7
        assert report.feeds[0].snapshot_done and store.status().hotlist == 7

        mini.stall = True
        with OfficeClient(config) as client, pytest.raises(FeedStalled):
            pull_feed(store, client, Feed.HOTLIST, keys=[mini.key.public_key()],
                      now=datetime.now(UTC))
        mini.stall = False

        taken = lease(config, store, 5)
        assert taken.device == "kiosk 1" and store.lease_until(5) == taken.until
        with pytest.raises(LeaseRefused, match="no action 6") as refused:
            lease(config, store, 6)
        assert refused.value.status == 404
    assert init(capsys, keys, url, tmp_path / "kiosk2", "kiosk")[0] == 0
    other = load_config(str(tmp_path / "kiosk2"))
    other = type(other)(**{**other.__dict__, "token": TOKENS["kiosk2"]})
    with other.open_store() as store, pytest.raises(LeaseRefused, match="another device"):
        lease(other, store, 5)
