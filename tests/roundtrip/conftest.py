"""Fixtures of the client <-> card round-trip suite.

Every test gets its card through :func:`reader` and nothing else, so that the whole suite can run
over another transport by adding an entry to :data:`TRANSPORTS` (and an opener to
:data:`_OPENERS`): PC/SC through pcscd + vpcd, a PN532 on a pty, nfcpy...  A transport must hand
out a *factory-fresh* card (PICC key DES 00*8, key settings 0x0F, 8 KB, FreeMemory 7936) per test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from ekarta.desfire.client import DESFire
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
TRANSPORTS = ["emulator"]


def _open_emulator() -> Reader:
    return open_reader("emulator:")


_OPENERS: dict[str, Callable[[], Reader]] = {
    "emulator": _open_emulator,
}


@pytest.fixture(params=TRANSPORTS)
def reader(request: pytest.FixtureRequest) -> Iterator[Reader]:
    """A reader holding a factory-fresh card, over each transport of :data:`TRANSPORTS`."""
    rdr = _OPENERS[request.param]()
    try:
        rdr.wait_for_card(timeout=5.0)
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
