"""``ekarta office serve``: the API served by uvicorn in its own process on both databases,
stopped cleanly by SIGTERM or Ctrl-C, with one worker or several; and schemathesis against the
OpenAPI schema it serves (no 5xx, every response as the schema says)."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime

import httpx
import pytest

from ekarta.backoffice.database import open_engine
from ekarta.backoffice.store import add_device, migrate
from ekarta.sync.envelope import open_envelope, verify_keys
from ekarta.sync.messages import ActionKind, EntitlementPage, JournalAck
from ekarta.sync.roles import DeviceRole
from ekarta.transit.security.keystore import FileKeyStore, create_keystore
from tests.support.cli import run
from tests.support.office import OfficeServer, Seed

NOW = datetime.now(UTC)


@pytest.fixture
def office_db(database, tmp_path):
    """An office database with a device of each role, two cards, a blocked one and actions;
    the keystore; the tokens."""
    keys = tmp_path / "keys.json"
    store = create_keystore(keys)
    engine = open_engine(database)
    migrate(engine)
    tokens = {role: add_device(engine, f"{role} 1", role, now=NOW) for role in DeviceRole}
    seed = Seed(engine, NOW, store.signer())
    number = seed.card(1, uid=bytes(range(7)), holder=("Xaverína", "Quendlová"))
    seed.load_action(number, 5, start=NOW.date())
    seed.action(number, ActionKind.UPDATE_PROFILE)
    seed.block(seed.card(2, uid=bytes(range(1, 8))))
    engine.dispose()
    return database, keys, tokens


@pytest.mark.slow
def test_the_served_api_answers_and_stops_cleanly(office_db, tmp_path):
    database, keys, tokens = office_db
    # one process on SQLite, as an office runs it; several workers on PostgreSQL, the store
    # they share when one process is not enough
    workers = 2 if database.startswith("postgresql") else 1
    log = tmp_path / "serve.log"
    server = OfficeServer(database, keys, workers=workers, log=log).start()
    try:
        with server.client(tokens[DeviceRole.VALIDATOR]) as client:
            assert client.get("/v1/device").json() == {"name": "validator 1",
                                                      "role": "validator"}
            response = client.get("/v1/feeds/entitlements")
            verifier = FileKeyStore.load(keys).verifier()
            envelope = open_envelope(response.content, key=verify_keys(verifier),
                                     kind="entitlements", now=datetime.now(UTC))
            page = EntitlementPage.model_validate_json(envelope.payload)
            assert len(page.items) == 2 and page.reset
            event_id = str(uuid.uuid4())
            batch = {"events": [{"event_id": event_id, "kind": "validation",
                                 "at": NOW.isoformat()}]}
            ack = JournalAck.model_validate_json(client.post("/v1/journal", json=batch).content)
            assert [str(e) for e in ack.acknowledged] == [event_id]
            assert client.get("/v1/feeds/actions").status_code == 403
        with server.client() as client:
            assert client.get("/v1/device").status_code == 401
            assert client.get("/docs").status_code == 200
    finally:
        code = server.stop(signal.SIGTERM)
    assert code == 0
    text = log.read_text()
    assert "ekarta.backoffice.http" in text and "Traceback" not in text
    if workers == 2:  # a crash of the process that started the workers takes them along
        server = OfficeServer(database, keys, workers=2, log=log).start()
        server.kill()
        deadline = time.monotonic() + 10
        while _answers(server) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _answers(server)
    if workers == 1:  # Ctrl-C too, and a restart on the same port after a crash
        server = OfficeServer(database, keys, log=log).start()
        server.kill()
        server.start()
        with server.client(tokens[DeviceRole.KIOSK]) as client:
            assert client.get("/v1/device").status_code == 200
        assert server.stop(signal.SIGINT) == 0


def _answers(server: OfficeServer) -> bool:
    try:
        httpx.get(f"{server.url}/openapi.json", timeout=1.0)
    except httpx.TransportError:
        return False
    return True


def test_serve_refuses_what_it_cannot_serve(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EKARTA_KEYS", raising=False)
    keys = tmp_path / "keys.json"
    create_keystore(keys)
    for argv, message in [
        ((), "give the office's keystore"),
        (("--keys", str(keys), "--listen", "localhost"), "--listen takes HOST:PORT"),
        (("--keys", str(keys), "--listen", "127.0.0.1:99999"), "--listen takes HOST:PORT"),
        (("--keys", str(keys), "--workers", "0"), "--workers takes"),
        (("--keys", str(keys)), "not an office database"),
        (("--keys", str(tmp_path / "none.json")), "cannot sign sync responses"),
    ]:
        code, _out, err = run(capsys, "office", "serve", *argv)
        assert code == 1 and message in err and err.count("\n") == 1, (argv, err)


@pytest.mark.slow
@pytest.mark.parametrize("role", [DeviceRole.KIOSK, DeviceRole.OFFICE])
def test_schemathesis_finds_no_server_error_and_no_response_off_the_schema(office_db, tmp_path,
                                                                            role):
    """schemathesis generates requests from the served schema (valid and not) with a kiosk's
    token over the terminals' endpoints (its role reaches every one), and with an office's over
    the office's own (holders, sales, blocks, profiles)."""
    database, keys, tokens = office_db
    st = shutil.which("st", path=str(sys.executable).rsplit("/", 1)[0]) or shutil.which("st")
    assert st is not None, "schemathesis is one of the test tools: pip install -e '.[test]'"
    with OfficeServer.running(database, keys, log=tmp_path / "serve.log") as server:
        # one worker: with two, schemathesis's generation parses source in both threads at
        # once, and Python 3.11's parser is not safe for that (SystemError: AST constructor
        # recursion depth mismatch); two workers took as long anyway
        done = subprocess.run(
            [st, "run", f"{server.url}/openapi.json",
             "-H", f"Authorization: Bearer {tokens[role]}",
             "--include-tag" if role is DeviceRole.OFFICE else "--exclude-tag", "office",
             "--checks", "not_a_server_error,response_schema_conformance,"
                         "content_type_conformance,status_code_conformance",
             "--max-examples", "40", "--seed", "10", "--workers", "1", "--no-color"],
            capture_output=True, text=True, timeout=280, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "Traceback" not in (tmp_path / "serve.log").read_text()
    if role is DeviceRole.OFFICE:
        # the schema's examples reached the office's records: a sale, or a block (after which,
        # with two workers racing, the sale may be refused instead)
        assert re.search(r"office 1: (coupon \d+ sold|card blocked)",
                         (tmp_path / "serve.log").read_text())
