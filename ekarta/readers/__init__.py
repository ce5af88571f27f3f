"""Reader drivers, chosen by URL.

A reader is opened from a URL ``SCHEME:REST`` (in the manner of pyserial's ``serial_for_url``):
the scheme picks the driver, and the driver alone parses the rest.  Each driver module documents its
URL grammar in its docstring.  Built-in schemes:

``emulator:[PATH]``
    the software DESFire card of :mod:`ekarta.emulator`; its driver belongs to the emulator
    (:mod:`ekarta.emulator.reader`) and is found by name, so readers never import the emulator.
``pcsc:[SUBSTRING|#N]``
    a PC/SC reader through pcscd and pyscard (:mod:`ekarta.readers.pcsc`).
``nfcpy:PATH``
    any device nfcpy drives: ``nfcpy:usb``, ``nfcpy:tty:USB0:pn532``, ``nfcpy:udp:HOST:PORT``
    (:mod:`ekarta.readers.nfcpy`).
``pn532:PORT[?baud=N]``
    ekarta's own PN532 driver on a serial port or pyserial URL (:mod:`ekarta.readers.pn532`).
``spy:INNER[#secrets][#file=PATH]``
    any reader, every exchange logged with its duration and appended to a trace file, the data
    of authentication and key-changing frames hidden unless ``#secrets`` (unsafe) is given
    (:mod:`ekarta.readers.spy`).
``replay:PATH[#session=N]``
    a recorded trace played back; a command that differs from the recording fails loudly
    (:mod:`ekarta.readers.replay`).

Presence and unplugged readers.  ``reader.monitor()`` (:meth:`~ekarta.readers.base.Reader.monitor`)
yields a :class:`~ekarta.readers.base.CardEvent` each time a card comes into the field or leaves
it.  A driver whose device goes away (a USB reader unplugged, a serial port gone, pcscd
restarted) raises :class:`~ekarta.errors.NoReaderError` from whatever it was doing, never a raw
``OSError``, and implements :meth:`~ekarta.readers.base.Reader.reopen` to open the same device
again.  An exchange in flight when the reader went away is never retried (it may or may not have
reached the card).  Drivers that can find their device cheaply (pcsc, pn532) also reopen it on the
next ``wait_for_card``; the others fail every call until the reader is reopened.  ``monitor()``
reopens in every case: it reports the card removed, then calls
``reopen()`` every ``reconnect`` seconds (default 1) until the reader is back or the monitor is
stopped, and goes on watching; a terminal built on ``monitor()`` therefore survives a reader
being unplugged and plugged in again.

Drivers are registered by scheme, either as a callable ``factory(rest: str) -> Reader`` or, like
python-can's backends, as a ``"module:attribute"`` string that is imported on first use, so that
importing :mod:`ekarta.readers` never imports a driver's own dependencies (pyscard, nfcpy, ...)::

    from ekarta.readers import open_reader

    with open_reader("emulator:card.json") as reader:
        reader.wait_for_card(timeout=1.0)
        response = reader.transceive(bytes.fromhex("9060000000"))
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable

from ekarta.desfire.client import Transceiver
from ekarta.errors import ReaderError, UnknownReaderScheme
from ekarta.readers.base import CardInfo, Reader

__all__ = [
    "CardInfo",
    "Reader",
    "ReaderFactory",
    "Transceiver",
    "available_schemes",
    "open_reader",
    "register_driver",
    "unregister_driver",
]

ReaderFactory = Callable[[str], Reader]
"""A driver's entry point: takes the URL's part after ``SCHEME:`` and returns an open reader."""

_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*\Z")

_drivers: dict[str, ReaderFactory | str] = {
    "emulator": "ekarta.emulator.reader:open_emulator",
    "replay": "ekarta.readers.replay:open_replay",
    "spy": "ekarta.readers.spy:open_spy",
    "nfcpy": "ekarta.readers.nfcpy:open_nfcpy",
    "pcsc": "ekarta.readers.pcsc:open_pcsc",
    "pn532": "ekarta.readers.pn532:open_pn532",
}


def register_driver(scheme: str, factory: ReaderFactory | str) -> None:
    """Make ``scheme:...`` URLs open with ``factory``.

    ``factory`` is a callable ``factory(rest) -> Reader`` or a ``"package.module:attribute"``
    string naming one, imported when the scheme is first opened.  Schemes are case-insensitive
    and follow RFC 3986 (a letter, then letters, digits, ``+``, ``-`` or ``.``).  Registering a
    scheme again replaces its driver.
    """
    key = scheme.lower()
    if not _SCHEME.match(key):
        raise ValueError(f"invalid reader URL scheme {scheme!r}")
    if isinstance(factory, str):
        if factory.count(":") != 1 or not all(factory.split(":")):
            raise ValueError(f"driver reference {factory!r} is not of the form 'module:attribute'")
    elif not callable(factory):
        raise TypeError(f"driver factory for {scheme!r} must be callable or a 'module:attr' string")
    _drivers[key] = factory


def unregister_driver(scheme: str) -> None:
    """Forget the driver of ``scheme`` (no error if there is none)."""
    _drivers.pop(scheme.lower(), None)


def available_schemes() -> list[str]:
    """The registered schemes, sorted.  Lists lazily registered drivers without importing them."""
    return sorted(_drivers)


def _resolve(scheme: str) -> ReaderFactory:
    factory = _drivers[scheme]
    if not isinstance(factory, str):
        return factory
    module_name, _, attribute = factory.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # a missing dependency, or a driver module that fails as it loads
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ReaderError(
            f"the {scheme!r} reader driver ({factory}) cannot be loaded: {reason}"
        ) from exc
    try:
        resolved = getattr(module, attribute)
    except AttributeError as exc:
        raise ReaderError(f"the {scheme!r} reader driver {factory!r} does not exist") from exc
    if not callable(resolved):
        raise ReaderError(f"the {scheme!r} reader driver {factory!r} is not callable")
    if _drivers.get(scheme) == factory:  # cache, unless re-registered meanwhile
        _drivers[scheme] = resolved
    return resolved


def open_reader(url: str) -> Reader:
    """Open the reader that ``url`` (``SCHEME:REST``) names, with the driver of ``SCHEME``.

    Raises :class:`ekarta.errors.UnknownReaderScheme` when the URL has no scheme or one no
    driver handles, :class:`ekarta.errors.ReaderError` when the driver cannot be loaded, and
    whatever the driver raises when it cannot open the reader.
    """
    scheme, sep, rest = url.partition(":")
    known = ", ".join(f"{s}:" for s in available_schemes()) or "none"
    if not sep or not scheme:
        raise UnknownReaderScheme(
            f"reader URL {url!r} has no scheme; expected SCHEME:..., known schemes: {known}"
        )
    key = scheme.lower()
    if key not in _drivers:
        raise UnknownReaderScheme(
            f"unknown reader URL scheme {scheme!r} in {url!r}; known schemes: {known}"
        )
    return _resolve(key)(rest)
