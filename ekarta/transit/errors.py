"""The errors of the transit application: its values, codec, signatures and tariff rules, and
:func:`shown`, which quotes untrusted text for their messages.

Bytes read from a card or a file are hostile: whatever is wrong with them ends in a
:class:`RecordError` (never a bare ``ValueError`` or a traceback from construct).  A caller that
builds a value the format cannot carry gets :class:`InvalidField`, which is also a ``ValueError``.
"""

from __future__ import annotations

from ekarta.errors import EkartaError, InvalidArgument

__all__ = [
    "BlankRecord",
    "CorruptRecord",
    "CouponError",
    "CouponFileError",
    "HotlistError",
    "InvalidCardNumber",
    "InvalidField",
    "InvalidText",
    "KeyFormatError",
    "RecordError",
    "SignatureInvalid",
    "UnknownFormatVersion",
    "shown",
]


class CouponError(EkartaError):
    """Root of the errors of :mod:`ekarta.transit`."""


class InvalidField(CouponError, InvalidArgument):
    """A value given by the caller is out of the range the card format can carry."""


class InvalidCardNumber(InvalidField):
    """Text or a number is not a valid card number: wrong length, a non-digit, or a wrong check
    digit."""


class InvalidText(InvalidField):
    """Text (a command line, a file) does not spell a transit value: an unknown name, not an ISO
    date, not a list of zones."""


class CouponFileError(CouponError):
    """A coupon file cannot be read or does not hold a coupon."""


class HotlistError(CouponError):
    """A hotlist file cannot be read or holds something that is not a card number."""


class RecordError(CouponError):
    """The bytes of a card file cannot be decoded."""


class CorruptRecord(RecordError):
    """The bytes have the wrong size, a checksum that does not match or a field out of range."""


class BlankRecord(CorruptRecord):
    """The file was never written (format version 0): a card that is not personalised."""


class UnknownFormatVersion(RecordError):
    """The record was written by a newer format than this software knows."""

    def __init__(self, what: str, version: int, known: tuple[int, ...]):
        self.what = what
        self.version = version
        self.known = known
        knows = ", ".join(str(v) for v in known)
        super().__init__(
            f"{what} has format version {version}, which this software does not know "
            f"(it knows {knows}); update ekarta")


class SignatureInvalid(CouponError):
    """A coupon's signature does not verify with any of the operator's public keys."""


class KeyFormatError(CouponError):
    """A key file is not a PEM key of a supported type (Ed25519 or ECDSA P-256)."""


SHOWN_LIMIT = 40


def shown(text: str | bytes, limit: int = SHOWN_LIMIT) -> str:
    """``text`` quoted for an error message: escaped and cut to ``limit`` characters.

    Card numbers come from cameras, scanners, files and people; a message repeating them must not
    carry terminal control sequences or a megabyte of garbage into a log.
    """
    quoted = ascii(text[:limit])
    if isinstance(text, bytes):
        quoted = quoted[1:]  # drop the b of b'...': the message says what it is
    if len(text) > limit:
        quoted = quoted[:-1] + "..." + quoted[-1]
    return quoted
