"""The barcode printed on the card with the card number: generating it for print, decoding it from
its text or image, and reading it from a barcode scanner's input.

* :class:`CardNumber`, :func:`validate`, :class:`InvalidCardNumber` — the card number (IDK): 9
  serial digits and a Damm check digit (``docs/card-number.md``), a value of the transit
  application (:mod:`ekarta.transit.model.card_number`) that this package reads and prints;
* :func:`barcode_image`, :func:`barcode_png`, :func:`barcode_svg`, :func:`save_barcode` — its
  Code 128 barcode for print; :func:`render_card_face`, :func:`save_card_face` — a preview of
  the card face;
* :func:`decode_image`, :func:`decode_all`, :func:`load_image` — reading the number from an
  image file or a camera frame;
* :func:`open_scanner`, :class:`Scanner`, :class:`Scan`, :class:`ScanFilter`,
  :class:`KeyboardWedge` — serial and keyboard-wedge barcode scanners;
* :class:`BarcodeError` and its subclasses.

Imaging (Pillow, numpy, zxing-cpp) and pyserial are imported by the functions that use them, so
importing this package stays cheap.
"""

from __future__ import annotations

from ekarta.barcode.card_face import render_card_face, save_card_face
from ekarta.barcode.decode import decode_all, decode_image, load_image
from ekarta.barcode.errors import (
    BarcodeError,
    NotReadable,
    RenderError,
    ScannerError,
    WrongSymbology,
)
from ekarta.barcode.render import barcode_image, barcode_png, barcode_svg, save_barcode
from ekarta.barcode.scan import Scan, ScanFilter
from ekarta.barcode.scanner import Scanner, open_scanner
from ekarta.barcode.wedge import KeyboardWedge
from ekarta.transit.errors import InvalidCardNumber
from ekarta.transit.model.card_number import CardNumber, validate

__all__ = [
    "BarcodeError",
    "CardNumber",
    "InvalidCardNumber",
    "KeyboardWedge",
    "NotReadable",
    "RenderError",
    "Scan",
    "ScanFilter",
    "Scanner",
    "ScannerError",
    "WrongSymbology",
    "barcode_image",
    "barcode_png",
    "barcode_svg",
    "decode_all",
    "decode_image",
    "load_image",
    "open_scanner",
    "render_card_face",
    "save_barcode",
    "save_card_face",
    "validate",
]
