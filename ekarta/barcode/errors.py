"""The errors of :mod:`ekarta.barcode`, all under :class:`BarcodeError`, and :func:`shown`, which
quotes untrusted text for their messages.
"""

from __future__ import annotations

from ekarta.errors import EkartaError

__all__ = [
    "BarcodeError",
    "InvalidCardNumber",
    "NotReadable",
    "RenderError",
    "ScannerError",
    "WrongSymbology",
    "shown",
]


class BarcodeError(EkartaError):
    """Root of the errors of the card number, its barcode and barcode scanners."""


class InvalidCardNumber(BarcodeError, ValueError):
    """Text is not a valid card number: wrong length, a non-digit, or a wrong check digit."""


class NotReadable(BarcodeError):
    """No card number could be read from an image: no barcode, an unreadable one, or the image
    itself cannot be loaded."""


class WrongSymbology(NotReadable):
    """The image holds a barcode, but not a card's Code 128 (a QR code, an EAN-13...)."""


class RenderError(BarcodeError):
    """A barcode or card face cannot be produced as asked (output format, photo)."""


class ScannerError(BarcodeError):
    """A barcode scanner cannot be opened or read (bad URL, device missing or gone)."""


SHOWN_LIMIT = 40


def shown(text: str | bytes, limit: int = SHOWN_LIMIT) -> str:
    """``text`` quoted for an error message: escaped and cut to ``limit`` characters.

    Card numbers come from cameras, scanners and people; a message repeating them must not carry
    terminal control sequences or a megabyte of garbage into a log.
    """
    quoted = ascii(text[:limit])
    if isinstance(text, bytes):
        quoted = quoted[1:]  # drop the b of b'...': the message says what it is
    if len(text) > limit:
        quoted = quoted[:-1] + "..." + quoted[-1]
    return quoted
