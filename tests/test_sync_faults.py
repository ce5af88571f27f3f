"""Sync under faults, against a real ``ekarta office serve`` on both databases: 200 terminals
push their journals while the office is killed (SIGKILL) and restarted twice, and every event
ends up stored exactly once; a terminal killed in the middle of a large sync keeps an intact
store and the next sync makes its lists exactly the office's."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from ekarta.backoffice.database import open_engine
from ekarta.backoffice.schema import EntitlementEntry, HotlistEntry, JournalEntry
from ekarta.backoffice.store import add_device, migrate
from ekarta.cli import main
from ekarta.sync.messages import DeviceView, Entitlement, Feed, JournalEvent, JournalKind
from ekarta.sync.roles import DeviceRole
from ekarta.terminal.config import TerminalConfig, init_terminal, load_config
from ekarta.terminal.store import TerminalStore
from ekarta.terminal.sync import sync_once
from ekarta.transit.security.keystore import FileKeyStore, create_keystore
from tests.support.cli import run
from tests.support.office import OfficeServer, Seed, card_number

pytestmark = pytest.mark.slow

TERMINALS = 200
EVENTS = 100
ROUNDS = 2
"""Each terminal journals EVENTS // ROUNDS events, then syncs, ROUNDS times."""
BATCH = 25
THREADS = 16
KILLS = (0.25, 0.6)
"""The shares of all events acknowledged at which the office is killed and restarted."""
RETRY_FOR = 120.0


def utc_now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture
def stores_dir() -> Iterator[Path]:
    """Where the terminals keep their stores: memory-backed where the machine has it, since
    two hundred stores each syncing to the disk would measure the disk, not the sync."""
    shm = "/dev/shm"
    with tempfile.TemporaryDirectory(dir=shm if os.path.isdir(shm) else None) as folder:
        yield Path(folder)


@pytest.fixture
def keys(tmp_path) -> tuple[Path, FileKeyStore]:
    """The operator's keystore and a validator's export of it."""
    create_keystore(tmp_path / "keys.json")
    export = tmp_path / "validator-keys.json"
    assert main(["keys", "export", str(tmp_path / "keys.json"), "--role", "validator",
                 "-o", str(export)]) == 0
    return tmp_path / "keys.json", FileKeyStore.load(export)


def restart(server: OfficeServer) -> None:
    """SIGKILL the office and start it again on the same port (a worker of the killed one
    may hold the port for a moment)."""
    server.kill()
    deadline = time.monotonic() + 20
    while True:
        try:
            server.start()
            return
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def engine(database) -> Iterator[Engine]:
    """The office's database, migrated."""
    engine = open_engine(database)
    migrate(engine)
    yield engine
    engine.dispose()


# about a minute on a quiet machine; the suite's 300 s ran out once on a loaded one
@pytest.mark.timeout(600)
def test_two_hundred_terminals_push_through_two_office_crashes(database, engine, keys,
                                                               stores_dir, tmp_path):
    keystore, export = keys
    now = utc_now()
    tokens = [add_device(engine, f"validator {i}", DeviceRole.VALIDATOR, now=now)
              for i in range(TERMINALS)]
    workers = 2 if database.startswith("postgresql") else 1
    server = OfficeServer(database, keystore, workers=workers, log=tmp_path / "serve.log")
    configs = [init_terminal(str(stores_dir / f"t{i}"), office=server.url, token=token,
                             role=DeviceRole.VALIDATOR, keystore=export,
                             device=DeviceView(name=f"validator {i}", role=DeviceRole.VALIDATOR))
               for i, token in enumerate(tokens)]
    events = [[JournalEvent(event_id=uuid.uuid4(), kind=JournalKind.VALIDATION, at=now,
                            card_number=f"{card_number(i * EVENTS + n + 1):010d}", line=1 + i,
                            vehicle=1 + n) for n in range(EVENTS)] for i in range(TERMINALS)]

    lock = threading.Lock()
    acknowledged = [0]
    failed_syncs = [0]
    crashed = threading.Event()

    def life(config: TerminalConfig, mine: list[JournalEvent]) -> int:
        share = EVENTS // ROUNDS
        with config.open_store() as store:
            for r in range(ROUNDS):
                for event in mine[r * share:(r + 1) * share]:
                    store.append_journal(event, now=utc_now())
                report = sync_once(config, store, utc_now(), batch=BATCH)
                with lock:
                    acknowledged[0] += report.acknowledged
                    failed_syncs[0] += not report.ok
            deadline = time.monotonic() + RETRY_FOR
            while store.status().outbox:
                assert time.monotonic() < deadline, f"{config.device}: outbox never emptied"
                report = sync_once(config, store, utc_now(), batch=BATCH)
                with lock:
                    acknowledged[0] += report.acknowledged
                if not report.ok:
                    time.sleep(0.2)
            return store.status().outbox

    def crasher() -> None:
        for share in KILLS:
            while acknowledged[0] < share * TERMINALS * EVENTS:
                if crashed.is_set():
                    return
                time.sleep(0.01)
            restart(server)

    started = time.monotonic()
    server.start()
    try:
        killer = threading.Thread(target=crasher)
        killer.start()
        try:
            with ThreadPoolExecutor(THREADS) as pool:
                left = list(pool.map(life, configs, events))
        finally:
            crashed.set()
            killer.join()
        assert acknowledged[0] == TERMINALS * EVENTS
    finally:
        server.stop()
    elapsed = time.monotonic() - started
    assert left == [0] * TERMINALS
    assert failed_syncs[0] > 0, "the crashes were not felt: the test proves nothing"

    with engine.connect() as db:
        counted = dict(db.execute(select(JournalEntry.event_id, func.count())
                                  .group_by(JournalEntry.event_id)).all())
    sent = {str(e.event_id) for mine in events for e in mine}
    assert len(sent) == TERMINALS * EVENTS
    assert set(counted) == sent, "every event stored, and nothing else"
    assert set(counted.values()) == {1}, "each exactly once"
    for config in configs:
        with closing(sqlite3.connect(config.store_path)) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            assert db.execute("SELECT count(*), count(acked_at) FROM journal").fetchone() == (
                EVENTS, EVENTS), config.device
    assert "Traceback" not in (tmp_path / "serve.log").read_text()
    print(f"{TERMINALS} terminals, {TERMINALS * EVENTS} events, 2 crashes: {elapsed:.1f} s, "
          f"{failed_syncs[0]} syncs failed")


BLOCKED = 30_000


def test_a_terminal_killed_mid_sync_keeps_its_store_and_catches_up(database, engine, keys,
                                                                    tmp_path, capsys):
    keystore, export = keys
    now = utc_now()
    token = add_device(engine, "validator 1", DeviceRole.VALIDATOR, now=now)
    Seed(engine, now).blocked_cards(1, BLOCKED)
    directory = tmp_path / "bus"
    with OfficeServer.running(database, keystore, log=tmp_path / "serve.log") as server:
        code, _, err = run(capsys, "terminal", "init", str(directory), "--office", server.url,
                           "--role", "validator", "--keys", str(export.path),
                           "--token", token)
        assert code == 0, err
        store_path = load_config(str(directory)).store_path
        child = subprocess.Popen([sys.executable, "-m", "ekarta", "terminal", "sync",
                                  str(directory)], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        try:
            cursor = _wait_for_a_page(store_path, child)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        with closing(sqlite3.connect(store_path)) as db:
            assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        with TerminalStore.open(store_path) as store:
            state = store.feed_state(Feed.HOTLIST)
            assert state.cursor >= cursor and state.snapshot is not None, \
                "killed in the middle of the hotlist's snapshot"
            assert 0 < store.status().hotlist < BLOCKED

        code, _, err = run(capsys, "terminal", "sync", str(directory))
        assert code == 0, err

    with engine.connect() as db:
        hotlist = {n: (u.hex() if u else None, e.isoformat()) for n, u, e in db.execute(
            select(HotlistEntry.card_number, HotlistEntry.uid, HotlistEntry.expiry)
            .where(HotlistEntry.removed.is_(False)))}
        entitled = {n: Entitlement.model_validate_json(b) for n, b in db.execute(
            select(EntitlementEntry.card_number, EntitlementEntry.body)
            .where(EntitlementEntry.removed.is_(False)))}
    assert len(hotlist) == len(entitled) == BLOCKED
    with closing(sqlite3.connect(store_path)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert {n: (u, e) for n, u, e in db.execute(
            "SELECT card_number, uid, expiry FROM hotlist")} == hotlist
        assert {n: Entitlement.model_validate_json(b) for n, b in db.execute(
            "SELECT card_number, body FROM entitlements")} == entitled
        assert db.execute("SELECT count(*) FROM feeds WHERE snapshot IS NOT NULL").fetchone() \
            == (0,)


def _wait_for_a_page(path: str, child: subprocess.Popen[bytes]) -> int:
    """The hotlist cursor once the sync in ``child`` applied its first page."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert child.poll() is None, "the sync ended before it could be killed"
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            try:
                row = db.execute("SELECT cursor FROM feeds WHERE feed = 'hotlist'").fetchone()
            except sqlite3.OperationalError:
                row = None
        if row is not None and row[0] > 0:
            return int(row[0])
        time.sleep(0.005)
    raise AssertionError("the sync applied no page within a minute")
