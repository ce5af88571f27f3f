"""Test support: serve a :class:`~ekarta.emulator.host.CardHost` as a PN532 on a pseudo-terminal.

``serve_pn532(host)`` starts a :class:`~ekarta.emulator.pn532.Pn532FrontEnd` whose pty is linked
at a fresh temporary path and yields the reader URL ``pn532:LINK`` for
:func:`ekarta.readers.open_reader` (libnfc takes the same link: ``pn532_uart:LINK``).
``serve_pn532_nfcpy(host)`` links the pty under ``/dev`` instead, because nfcpy's ``tty:NAME``
path only looks there, with a name unique to the test process and the call
(``/dev/ekarta-pn532-<pid>-<n>``), and yields ``nfcpy:tty:NAME:pn532``.

No system daemon is involved: the emulated chip is a daemon thread of the test process.  Leaving
the context stops the thread, closes the pty and removes the link (and the temporary directory).
``front_end(url)`` gives the running :class:`Pn532FrontEnd` behind a URL these yielded (tests
reach its chip for line faults).
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from ekarta.emulator.host import CardHost
from ekarta.emulator.pn532 import Pn532FrontEnd

__all__ = ["front_end", "serve_pn532", "serve_pn532_nfcpy"]

_names = itertools.count()
_running: dict[str, Pn532FrontEnd] = {}


def front_end(url: str) -> Pn532FrontEnd:
    """The front-end serving ``url`` (one that ``serve_pn532*`` yielded and is still running)."""
    return _running[url]


@contextmanager
def _serve(host: CardHost, link_path: str | os.PathLike[str], url: str | None,
           wtx: bool) -> Iterator[str]:
    with Pn532FrontEnd(host, link_path, wtx=wtx) as fe:
        url = url or f"pn532:{fe.link_path}"
        _running[url] = fe
        try:
            yield url
        finally:
            if _running.get(url) is fe:
                del _running[url]


@contextmanager
def serve_pn532(host: CardHost, link_path: str | os.PathLike[str] | None = None,
                *, wtx: bool = True) -> Iterator[str]:
    """Serve ``host`` as a PN532 on a pty linked at ``link_path`` (default: a temporary path);
    yield the URL ``pn532:LINK``."""
    directory = None
    if link_path is None:
        directory = tempfile.mkdtemp(prefix="ekarta-pn532-")
        link_path = os.path.join(directory, "pn532")
    try:
        with _serve(host, link_path, None, wtx) as url:
            yield url
    finally:
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def serve_pn532_nfcpy(host: CardHost, *, wtx: bool = True) -> Iterator[str]:
    """Serve ``host`` as a PN532 on a pty linked at ``/dev/ekarta-pn532-<pid>-<n>``; yield the
    nfcpy reader URL ``nfcpy:tty:ekarta-pn532-<pid>-<n>:pn532``."""
    name = f"ekarta-pn532-{os.getpid()}-{next(_names)}"
    with _serve(host, os.path.join("/dev", name), f"nfcpy:tty:{name}:pn532", wtx) as url:
        yield url
