"""The back office's errors: :class:`OfficeError` and what it groups.

- :class:`DatabaseError`: the database cannot be named, reached or used;
- :class:`NotFound` (:class:`CardNotFound`, :class:`CouponNotFound`): no such record;
- :class:`InvalidRequest`: what was asked makes no sense (a name that does not fit, an amount
  out of range);
- :class:`OperationRefused`: the card's or the coupon's state or the tariff rules forbid the
  operation; it carries the transit :class:`~ekarta.transit.model.rules.Refusal` of every rule,
  with the same reason codes and messages as a terminal's.
"""

from __future__ import annotations

from collections.abc import Iterable

from ekarta.errors import EkartaError
from ekarta.transit.model.notation import enum_name
from ekarta.transit.model.rules import Refusal

__all__ = ["CardNotFound", "CouponNotFound", "DatabaseError", "InvalidRequest", "NotFound",
           "OfficeError", "OperationRefused"]


class OfficeError(EkartaError):
    """A failure of the back office."""


class DatabaseError(OfficeError):
    """The office's database cannot be named, reached or used."""


class NotFound(OfficeError):
    """The office holds no such record."""


class CardNotFound(NotFound):
    """No card with that number."""


class CouponNotFound(NotFound):
    """No coupon with that serial."""


class InvalidRequest(OfficeError):
    """The request itself makes no sense, whatever the card's state."""


class OperationRefused(OfficeError):
    """``operation`` is refused: by the rules (``refusals``, each with its reason code and its
    English and Czech message) or, with no refusal, by the office's own records (``detail``)."""

    def __init__(self, operation: str, refusals: Iterable[Refusal] = (), *,
                 detail: str | None = None) -> None:
        self.operation = operation
        self.refusals = tuple(refusals)
        self.detail = detail
        if not self.refusals and detail is None:
            raise ValueError("a refusal names a rule or says why")
        super().__init__(self.message("en"))

    def message(self, lang: str = "en") -> str:
        if not self.refusals:
            return f"{self.operation} refused: {self.detail}"
        reasons = "; ".join(f"{enum_name(r.reason)}: {r.message(lang)}" for r in self.refusals)
        return f"{self.operation} refused ({reasons})"
