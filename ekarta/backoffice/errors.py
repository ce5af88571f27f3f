"""The back office's errors: :class:`OfficeError` and what it groups."""

from __future__ import annotations

from ekarta.errors import EkartaError

__all__ = ["DatabaseError", "OfficeError"]


class OfficeError(EkartaError):
    """A failure of the back office."""


class DatabaseError(OfficeError):
    """The office's database cannot be named, reached or used."""
