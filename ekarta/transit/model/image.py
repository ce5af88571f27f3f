"""What a whole card holds, decoded (:class:`CardImage`), with a :class:`SlotError` in place of each
coupon slot or log record that could not be read, so that one torn write never hides the other
coupons.  :func:`ekarta.transit.codec.files.decode_card` makes it from the card's bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from ekarta.transit.errors import RecordError, UnknownFormatVersion
from ekarta.transit.model.values import CardRecord, EventRecord, SignedCoupon

__all__ = ["CardImage", "SlotError", "SlotErrorKind"]


class SlotErrorKind(Enum):
    CORRUPT = "corrupt"
    """Wrong size, checksum mismatch or impossible field values."""
    UNKNOWN_VERSION = "unknown-version"
    """Written by a newer format than this software knows."""


@dataclass(frozen=True)
class SlotError:
    """A coupon slot or log record that could not be decoded, in place of its value."""

    index: int
    kind: SlotErrorKind
    message: str
    raw: bytes = field(repr=False, default=b"")

    @classmethod
    def of(cls, index: int, error: RecordError, raw: bytes) -> SlotError:
        kind = (SlotErrorKind.UNKNOWN_VERSION if isinstance(error, UnknownFormatVersion)
                else SlotErrorKind.CORRUPT)
        return cls(index, kind, str(error), bytes(raw))


@dataclass(frozen=True)
class CardImage:
    """What a card holds, decoded.

    ``slots`` has one entry per slot: a :class:`SignedCoupon`, None for an empty slot, or a
    :class:`SlotError`.  ``events`` likewise (empty records are dropped).  Signatures are not
    checked here: :func:`ekarta.transit.model.rules.judge` does that with the operator's public
    key.
    """

    uid: bytes
    record: CardRecord
    slots: tuple[SignedCoupon | SlotError | None, ...] = ()
    events: tuple[EventRecord | SlotError, ...] = ()
    purse: int | None = None

    @property
    def coupons(self) -> tuple[SignedCoupon, ...]:
        """The coupons that could be decoded, in slot order (signatures not yet checked)."""
        return tuple(s for s in self.slots if isinstance(s, SignedCoupon))

    @property
    def errors(self) -> tuple[SlotError, ...]:
        """Every slot and log record that could not be decoded."""
        return tuple(s for s in (*self.slots, *self.events) if isinstance(s, SlotError))

    @property
    def free_slots(self) -> tuple[int, ...]:
        """Indexes of the empty slots."""
        return tuple(i for i, s in enumerate(self.slots) if s is None)

    def slot_of(self, serial: int) -> int | None:
        """The slot holding the coupon with ``serial`` (loading is idempotent by serial)."""
        for i, s in enumerate(self.slots):
            if isinstance(s, SignedCoupon) and s.serial == serial:
                return i
        return None

    @property
    def next_sequence(self) -> int:
        """The sequence number for the next log record: one past the highest on the card."""
        numbers = [e.sequence for e in self.events if isinstance(e, EventRecord)]
        return max(numbers, default=0) + 1
