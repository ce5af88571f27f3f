"""Fixtures of the client <-> card round-trip suite.

Every test gets its card through :func:`reader` and nothing else, so that the whole suite can run
over every transport of :data:`TRANSPORTS`: the in-process emulator reader, PC/SC through pcscd +
vpcd, ekarta's PN532 driver and nfcpy's on a PN532 pty, nfcpy's UDP driver.  A transport hands
out a *factory-fresh* card (PICC key DES 00*8, key settings 0x0F, 8 KB, FreeMemory 7936) per test.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest

from ekarta.desfire.client import DESFire
from ekarta.emulator import CardHost, VirtualCard
from ekarta.readers import Reader, open_reader

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
#: and reach it with a real third-party stack: pcscd + vpcd with pyscard, ekarta's own PN532
#: driver on the PN532 pty, nfcpy's PN532 driver on the same kind of pty, nfcpy's UDP driver.
TRANSPORTS = ["emulator", "pcsc", "pn532", "nfcpy-tty", "nfcpy-udp"]


def _serve(name: str):
    """The context manager that serves a card over transport ``name`` (imported lazily)."""
    if name == "pcsc":
        from tests.support.pcsc import serve_pcsc
        return serve_pcsc
    if name == "pn532":
        from tests.support.pn532 import serve_pn532
        return serve_pn532
    if name == "nfcpy-tty":
        from tests.support.pn532 import serve_pn532_nfcpy
        return serve_pn532_nfcpy
    from tests.support.udp import serve_udp
    return serve_udp


class _Servers:
    """Each transport's server, started on first use and kept for the whole session."""

    def __init__(self, stack: contextlib.ExitStack) -> None:
        self._stack = stack
        self._running: dict[str, tuple[CardHost, str]] = {}

    def get(self, name: str) -> tuple[CardHost, str]:
        if name not in self._running:
            host = CardHost(VirtualCard.new())
            url = self._stack.enter_context(_serve(name)(host))
            self._running[name] = (host, url)
        return self._running[name]


@pytest.fixture(scope="session")
def servers() -> Iterator[_Servers]:
    with contextlib.ExitStack() as stack:
        yield _Servers(stack)


@pytest.fixture(params=TRANSPORTS)
def reader(request: pytest.FixtureRequest, servers: _Servers) -> Iterator[Reader]:
    """A reader holding a factory-fresh card, over each transport of :data:`TRANSPORTS`."""
    if request.param == "emulator":
        rdr = open_reader("emulator:")
    else:
        host, url = servers.get(request.param)
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


@pytest.fixture(params=AUTH_CASES, ids=AUTH_IDS)
def auth_case(request: pytest.FixtureRequest) -> AuthCase:
    """One authentication method with a key family (see ``_support.AUTH_CASES``)."""
    return request.param


@pytest.fixture
def app(card: DESFire, auth_case: AuthCase) -> App:
    """An application personalised for ``auth_case``: keys 1 and 2 changed, key-0 session open."""
    return personalise(card, auth_case)


@pytest.fixture(params=COMMS)
def comm(request: pytest.FixtureRequest) -> str:
    """A file communication mode."""
    return request.param


@pytest.fixture(params=PICC_CASES, ids=PICC_IDS)
def picc(card: DESFire, request: pytest.FixtureRequest) -> PiccCase:
    """The PICC master key set up for one method/key type (no session left open)."""
    return setup_picc(card, request.param)
