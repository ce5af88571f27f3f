""":class:`CardOperationRefused`: the one error of every card operation that the card's state or
the rules forbid (a load, a purchase, a purse credit, an activation...), naming every rule."""

from __future__ import annotations

from collections.abc import Iterable

from ekarta.transit.errors import CouponError
from ekarta.transit.model.notation import enum_name
from ekarta.transit.model.rules import Refusal

__all__ = ["CardOperationRefused"]


class CardOperationRefused(CouponError):
    """``operation`` ("activation", "coupon 1001", "credit 7") is refused; ``refusals`` names
    every rule that forbids it, the first one as :attr:`refusal`."""

    def __init__(self, operation: str, refusals: Iterable[Refusal]) -> None:
        self.operation = operation
        self.refusals = tuple(refusals)
        if not self.refusals:
            raise ValueError("a refusal names at least one rule")
        super().__init__(self.message("en"))

    @property
    def refusal(self) -> Refusal:
        return self.refusals[0]

    def message(self, lang: str = "en") -> str:
        """The refusal with each rule's reason code and message in ``lang``."""
        reasons = "; ".join(f"{enum_name(r.reason)}: {r.message(lang)}" for r in self.refusals)
        return f"{self.operation} refused ({reasons})"
