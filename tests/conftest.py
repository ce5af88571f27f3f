"""Shared test helpers: a transceiver that replays a recorded card conversation, a served card,
a private PostgreSQL server; the tests that need pcscd or PostgreSQL marked ``interop``."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
from collections.abc import Iterator

import pytest
from hypothesis import settings

from ekarta.emulator import CardHost, VirtualCard
from tests.support.apdu import h
from tests.support.postgres import PostgresServer

# pytest rewrites the asserts of every test module at import and caches the result only where
# Python may write bytecode; a machine exporting PYTHONDONTWRITEBYTECODE would redo it on every
# run (about a fifth of the fast loop), so the suite's own modules are cached regardless.
sys.dont_write_bytecode = False

MEMORY = "/dev/shm"
MEMORY_NEEDED = 2 * 1024**3


def _temporary_files_in_memory() -> None:
    """The suite's temporary files (cards saved after every command, stores, PostgreSQL
    clusters) go to memory when the machine has room there: every save is synced to the disk as
    a product's must be, and a slow or busy disk would otherwise set the pace of the whole run
    (a container's small /dev/shm is left alone)."""
    try:
        room = os.statvfs(MEMORY)
    except OSError:
        return
    if room.f_bavail * room.f_frsize >= MEMORY_NEEDED and os.access(MEMORY, os.W_OK | os.X_OK):
        tempfile.tempdir = MEMORY
        os.environ["TMPDIR"] = MEMORY  # for the processes the tests start


_temporary_files_in_memory()

# Property tests without a budget of their own take 50 examples (Hypothesis's default is 100):
# they run in the fast loop, and the deep searches are the ``slow`` ones with budgets of their
# own.  No deadline: a busy machine stretches any one example, which says nothing of the code.
settings.register_profile("ekarta", max_examples=50, deadline=None)
settings.load_profile("ekarta")

# the validator's tests share their keystore fixture (a module's own ``keystore`` wins), the
# terminals' commands' tests their card_file (the module's own card_state saved in a file)
pytest_plugins = ["tests.support.validator", "tests.support.terminal"]

#: fixtures that start a third-party daemon: a test using one is an ``interop`` test
DAEMON_FIXTURES = frozenset({"pcscd", "postgres_server"})


class ScriptedTransceiver:
    """Replays a script of (expected C-APDU, recorded R-APDU) pairs, in order.

    Every APDU the client sends must equal the next expected one byte for byte; anything else
    (a different APDU, one APDU too many) raises AssertionError naming the step, so a test fails
    loudly at the first divergence.  Hex strings may contain spaces.
    """

    def __init__(self, *steps: tuple[str | bytes, str | bytes]) -> None:
        self.steps: list[tuple[bytes, bytes]] = []
        self.sent: list[bytes] = []
        for command, response in steps:
            self.expect(command, response)

    def expect(self, command: str | bytes, response: str | bytes) -> ScriptedTransceiver:
        """Append one step; returns self for chaining."""
        self.steps.append((h(command), h(response)))
        return self

    def transceive(self, apdu: bytes) -> bytes:
        n = len(self.sent)
        apdu = bytes(apdu)
        self.sent.append(apdu)
        if n >= len(self.steps):
            raise AssertionError(
                f"APDU #{n + 1} {apdu.hex().upper()} was not expected: the script has "
                f"{len(self.steps)} steps")
        expected, response = self.steps[n]
        if apdu != expected:
            raise AssertionError(
                f"APDU #{n + 1} differs from the script\n"
                f"  expected {expected.hex().upper()}\n"
                f"  sent     {apdu.hex().upper()}")
        return response

    @property
    def remaining(self) -> int:
        """Steps not replayed yet."""
        return len(self.steps) - len(self.sent)

    def assert_done(self) -> None:
        """Fail unless every step of the script was replayed."""
        assert self.remaining == 0, f"{self.remaining} scripted APDUs were never sent"


# before xdist's own hook, which reads the groups to schedule by
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses the ``pcscd`` fixture (tests/support/pcsc.py, the daemon and its vpcd
    driver) or a PostgreSQL server is an ``interop`` test, whichever module it is in; the
    ``interop`` tests run in one xdist group."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("database") == "postgresql"
        if on_postgres or DAEMON_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.interop)
        if item.get_closest_marker("interop") is not None:
            # one worker runs them all, one after another: pcscd is one per machine (and a test
            # restarts it), and the daemons' start-up waits overlap the other workers' tests
            item.add_marker(pytest.mark.xdist_group("interop"))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One private PostgreSQL server for the session (tests/support/postgres.py)."""
    with PostgresServer.running() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path) -> str:
    """The URL of a new, empty office database: an SQLite file, then a PostgreSQL database
    (the same test on both stores)."""
    if request.param == "sqlite":
        return str(tmp_path / "office.db")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.new_database()


@pytest.fixture
def script() -> Iterator[type[ScriptedTransceiver]]:
    """Make ScriptedTransceivers that must be replayed completely by the end of the test."""
    made: list[ScriptedTransceiver] = []

    class Tracked(ScriptedTransceiver):
        def __init__(self, *steps: tuple[str | bytes, str | bytes]) -> None:
            super().__init__(*steps)
            made.append(self)

    yield Tracked
    for transceiver in made:
        transceiver.assert_done()


@pytest.fixture
def host(request: pytest.FixtureRequest) -> CardHost:
    """A factory-fresh emulated card to serve, whose UID is the test module's ``UID``."""
    return CardHost(VirtualCard.new(uid=request.module.UID))


@pytest.fixture
def ctrl_c() -> Iterator[None]:
    """SIGINT raises KeyboardInterrupt here and in child processes, as under an interactive shell.

    A suite started as a background job of a shell without job control inherits SIGINT ignored,
    Python keeps it so, and so would every child; the tests of Ctrl-C set the usual handler.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
