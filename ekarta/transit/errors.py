"""The errors of the coupon codec, the signatures and the tariff rules.

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
    "InvalidField",
    "KeyFormatError",
    "RecordError",
    "SignatureInvalid",
    "UnknownFormatVersion",
]


class CouponError(EkartaError):
    """Root of the errors of :mod:`ekarta.transit`."""


class InvalidField(CouponError, InvalidArgument):
    """A value given by the caller is out of the range the card format can carry."""


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
