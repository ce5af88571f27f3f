"""Fixtures of the client <-> card round-trip suite.

Every test gets its card through :func:`reader` and nothing else, so that the suite runs over
every transport of :data:`TRANSPORTS`: the in-process emulator reader, PC/SC through pcscd + vpcd,
ekarta's PN532 driver and nfcpy's on a PN532 pty, nfcpy's UDP driver.  A transport hands out a
*factory-fresh* card (PICC key DES 00*8, key settings 0x0F, 8 KB, FreeMemory 7936) per test.

The full matrix (every authentication method with every key type, x every communication mode)
runs on ``emulator:`` only: that is where the DESFire semantics are checked.  The other
transports run the conformance subset, the tests marked ``@pytest.mark.conformance(...)``, each
with the one authentication case, communication mode or PICC key its marker names.  The subset is
enough because a transport never sees what the matrix varies: it carries opaque APDUs, and the
key type, the authentication method and the communication mode change only the bytes inside
them, never how they are framed.  What a transport can get wrong is covered by the subset:

* every DESFire command goes through it at least once, so a command code or status word that a
  stack treats specially (PC/SC's 61 xx / 6C xx, nfcpy's ISO-DEP errors) would show;
* frame chaining both ways (GetVersion, long ReadData answers in 59-byte frames, a 28-application
  AID list, WriteData of 600 bytes chained by the client) and the largest frames: commands of
  255 data bytes (a 261-byte APDU, chained over ISO-DEP in several blocks) and full answers;
* one authentication of each family, each with its own frame sizes: legacy (DES, 2K3DES), ISO
  (DES, 2K3DES, 3K3DES), AES, EV2First and EV2NonFirst, and plain, MACed and enciphered
  files, so that every size of secure-messaging frame crosses the transport;
* error statuses (unknown command, missing rights, no such key) that end a session.

Removal of the card mid-transaction is transport behaviour, not DESFire behaviour: the reader
contract suite (``tests/test_readers_contract.py``) checks it on every one of these transports.
The transports that need a third-party stack (pcscd, nfcpy) are marked ``interop``; ekarta's own
PN532 driver against the emulated PN532 is not, and keeps the subset in the fast loop.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator

import pytest

from ekarta.desfire.client import DESFire
from ekarta.emulator import CardHost, VirtualCard
from ekarta.readers import Reader, open_reader
from tests.support.transports import INTEROP, serve
from tests.support.transports import TRANSPORTS as SERVED_TRANSPORTS

from ._support import (
    AUTH_CASES,
    AUTH_IDS,
    COMMS,
    PICC_CASES,
    PICC_IDS,
    App,
    AuthCase,
    PiccCase,
    personalise,
    setup_picc,
)

#: The transports the suite runs over; each must give a fresh factory card per test.
#: ``emulator`` is the in-process reader; the others serve one emulated card through a front-end
#: and reach it through a reader stack: pcscd + vpcd with pyscard, ekarta's own PN532 driver on
#: the PN532 pty, nfcpy's PN532 driver on the same kind of pty, nfcpy's UDP driver.
TRANSPORTS = ["emulator", *SERVED_TRANSPORTS]
#: Where the whole authentication x communication-mode matrix runs.
MATRIX_TRANSPORT = "emulator"
#: The transports that run only the conformance subset, with the marks each one's tests get.
CONFORMANCE_TRANSPORTS = {
    name: [pytest.mark.interop] if name in INTEROP else [] for name in SERVED_TRANSPORTS
}
#: The parametrised fixtures of the matrix: each one's cases and their ids.
MATRIX = {
    "auth_case": dict(zip(AUTH_IDS, AUTH_CASES, strict=True)),
    "comm": {comm: comm for comm in COMMS},
    "picc": dict(zip(PICC_IDS, PICC_CASES, strict=True)),
}
#: The keyword of the ``conformance`` marker that picks each matrix fixture's case.
CONFORMANCE_KEYWORD = {"auth_case": "auth", "comm": "comm", "picc": "picc"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "conformance(auth=ID, comm=MODE, picc=ID): run the test on every transport, not only on "
        "the emulator; off the emulator, with the one authentication case, communication mode or "
        "PICC key named (ids of _support.AUTH_CASES, COMMS, PICC_CASES)")


def _case(transport: str, axes: list[str], ids: tuple[str, ...],
          marks: list[pytest.MarkDecorator] | None = None) -> object:
    """One parameter set: the transport and the case of each matrix fixture, by id."""
    values = (MATRIX[axis][i] for axis, i in zip(axes, ids, strict=True))
    return pytest.param(transport, *values, id="-".join((transport, *ids)), marks=marks or [])


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise a test that takes a card: the full matrix on the emulator, and the subset its
    ``conformance`` marker names on the other transports (none without the marker)."""
    if "reader" not in metafunc.fixturenames:
        return
    axes = [name for name in MATRIX if name in metafunc.fixturenames]
    params = [_case(MATRIX_TRANSPORT, axes, ids)
              for ids in itertools.product(*(MATRIX[axis] for axis in axes))]
    marker = metafunc.definition.get_closest_marker("conformance")
    if marker is not None:
        wanted = {CONFORMANCE_KEYWORD[axis] for axis in axes}
        if set(marker.kwargs) != wanted:
            raise pytest.UsageError(
                f"{metafunc.definition.nodeid}: the conformance marker must name exactly "
                f"{sorted(wanted)}, not {sorted(marker.kwargs)}")
        ids = tuple(marker.kwargs[CONFORMANCE_KEYWORD[axis]] for axis in axes)
        params += [_case(transport, axes, ids, marks)
                   for transport, marks in CONFORMANCE_TRANSPORTS.items()]
    metafunc.parametrize(["transport", *axes], params, indirect=True)


class _Servers:
    """Each transport's server, started on first use and kept for the whole session."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self._stack = stack
        self._running: dict[str, tuple[CardHost, str]] = {}

    def get(self, name: str) -> tuple[CardHost, str]:
        if name not in self._running:
            host = CardHost(VirtualCard.new())
            url = self._stack.enter_context(serve(name, host))
            self._running[name] = (host, url)
        return self._running[name]


@pytest.fixture(scope="session")
def servers() -> Iterator[_Servers]:
    with contextlib.ExitStack() as stack:
        yield _Servers(stack)


@pytest.fixture
def transport(request: pytest.FixtureRequest) -> str:
    """The name of the transport the test runs over (see :func:`pytest_generate_tests`)."""
    return request.param


@pytest.fixture
def reader(transport: str, servers: _Servers) -> Iterator[Reader]:
    """A reader holding a factory-fresh card, over each transport of :data:`TRANSPORTS`."""
    if transport == "emulator":
        rdr = open_reader("emulator:")
    else:
        host, url = servers.get(transport)
        host.factory_reset()
        rdr = open_reader(url)
    try:
        rdr.wait_for_card(timeout=10.0)
        yield rdr
    finally:
        rdr.close()


@pytest.fixture
def card(reader: Reader) -> DESFire:
    """The client, talking to the fresh card."""
    return DESFire(reader)


@pytest.fixture
def auth_case(request: pytest.FixtureRequest) -> AuthCase:
    """One authentication method with a key family (see ``_support.AUTH_CASES``)."""
    return request.param


@pytest.fixture
def app(card: DESFire, auth_case: AuthCase) -> App:
    """An application personalised for ``auth_case``: keys 1 and 2 changed, key-0 session open."""
    return personalise(card, auth_case)


@pytest.fixture
def comm(request: pytest.FixtureRequest) -> str:
    """A file communication mode."""
    return request.param


@pytest.fixture
def picc(card: DESFire, request: pytest.FixtureRequest) -> PiccCase:
    """The PICC master key set up for one method/key type (no session left open)."""
    return setup_picc(card, request.param)
