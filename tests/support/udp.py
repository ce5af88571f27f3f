"""Test support: serve a :class:`~ekarta.emulator.host.CardHost` to nfcpy's ``udp`` driver.

``serve_udp(host)`` starts a :class:`~ekarta.emulator.udp.UdpFrontEnd` on a free port of
127.0.0.1 and yields the reader URL ``nfcpy:udp:127.0.0.1:PORT`` for
:func:`ekarta.readers.open_reader`.  No system daemon is involved: the front-end is a daemon
thread of the test process, stopped (and its socket closed) when the context exits.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ekarta.emulator.host import CardHost
from ekarta.emulator.udp import UdpFrontEnd

__all__ = ["serve_udp"]


@contextmanager
def serve_udp(host: CardHost) -> Iterator[str]:
    """Serve ``host`` to nfcpy's udp driver for the duration of the context; yield its URL."""
    with UdpFrontEnd(host, ("127.0.0.1", 0)) as front_end:
        yield front_end.url
