"""One emulated card served over each transport, by the transport's name.

``serve(name, host)`` serves ``host`` (a :class:`~ekarta.emulator.CardHost`) over ``name`` for
the duration of the context and yields the reader URL that reaches it: ``pcsc`` (pcscd + vpcd,
:mod:`tests.support.pcsc`), ``pn532`` (ekarta's driver on the emulated PN532's pty),
``nfcpy-tty`` (nfcpy's PN532 driver on the same kind of pty, :mod:`tests.support.pn532`) and
``nfcpy-udp`` (nfcpy's udp driver, :mod:`tests.support.udp`).  Each module is imported on first
use, so a test that serves nothing loads neither pyscard nor nfcpy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from ekarta.emulator import CardHost

__all__ = ["INTEROP", "TRANSPORTS", "serve"]

#: Every transport a served card can be reached over.
TRANSPORTS = ("pcsc", "pn532", "nfcpy-tty", "nfcpy-udp")
#: The transports that need a third-party stack (pcscd and pyscard, nfcpy's drivers): the tests
#: over them are marked ``interop``.  ``pn532`` is ekarta's driver against ekarta's chip.
INTEROP = frozenset({"pcsc", "nfcpy-tty", "nfcpy-udp"})


@contextlib.contextmanager
def serve(name: str, host: CardHost, **options: Any) -> Iterator[str]:
    """Serve ``host``'s card over transport ``name``; yield the reader URL.  ``options`` go to
    the front-end (``mute_timeout`` for pcsc, ``wtx`` for the PN532 ones)."""
    if name == "pcsc":
        from tests.support.pcsc import serve_pcsc as serve_over
    elif name == "pn532":
        from tests.support.pn532 import serve_pn532 as serve_over
    elif name == "nfcpy-tty":
        from tests.support.pn532 import serve_pn532_nfcpy as serve_over
    elif name == "nfcpy-udp":
        from tests.support.udp import serve_udp as serve_over
    else:
        raise ValueError(f"no transport {name!r}; there are {', '.join(TRANSPORTS)}")
    with serve_over(host, **options) as url:
        yield url
