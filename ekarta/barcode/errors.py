"""The errors of :mod:`ekarta.barcode`, all under :class:`BarcodeError`.  Text that is not a
valid card number raises :class:`~ekarta.transit.errors.InvalidCardNumber` of the card number's
value type (:mod:`ekarta.transit.model.card_number`).
"""

from __future__ import annotations

from ekarta.errors import EkartaError

__all__ = [
    "BarcodeError",
    "NotReadable",
    "RenderError",
    "ScannerError",
    "WrongSymbology",
]


class BarcodeError(EkartaError):
    """Root of the errors of the card number's barcode and of barcode scanners."""


class NotReadable(BarcodeError):
    """No card number could be read from an image: no barcode, an unreadable one, or the image
    itself cannot be loaded."""


class WrongSymbology(NotReadable):
    """The image holds a barcode, but not a card's Code 128 (a QR code, an EAN-13...)."""


class RenderError(BarcodeError):
    """A barcode or card face cannot be produced as asked (output format, photo)."""


class ScannerError(BarcodeError):
    """A barcode scanner cannot be opened or read (bad URL, device missing or gone)."""

