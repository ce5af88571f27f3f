"""A whole card at once: the raw files read from it (:class:`CardFiles`) and what they say
(:class:`CardImage`).

:func:`decode_card` keeps going past a bad coupon slot or log record: each one decodes to a
:class:`SlotError` in its place, so one torn write never hides the other coupons.  Only the card
record is essential; if it cannot be read the whole card cannot, and the error is raised.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import Enum

from ekarta.transit.codec.records import SLOT_SIZE, decode_card_record, decode_event, decode_slot
from ekarta.transit.errors import InvalidField, RecordError, UnknownFormatVersion
from ekarta.transit.model.values import CardRecord, EventRecord, SignedCoupon
from ekarta.transit.security.signing import UID_LENGTHS

__all__ = ["CardFiles", "CardImage", "SlotError", "SlotErrorKind", "decode_card", "split_slots"]

log = logging.getLogger(__name__)


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
class CardFiles:
    """The bytes of the transit application's files as a reader returned them.

    ``slots`` holds one :data:`~ekarta.transit.codec.records.SLOT_SIZE` string per coupon slot (see
    :func:`split_slots` for a single file holding them all); ``events`` the log records in the
    order the reader returned them; ``purse`` the e-purse value file's balance in haléř, if read.
    """

    uid: bytes
    card_record: bytes
    slots: tuple[bytes, ...] = ()
    events: tuple[bytes, ...] = ()
    purse: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.uid, bytes | bytearray) or len(self.uid) not in UID_LENGTHS:
            raise InvalidField("card UID must be 4, 7 or 10 bytes")
        object.__setattr__(self, "uid", bytes(self.uid))
        object.__setattr__(self, "slots", tuple(self.slots))
        object.__setattr__(self, "events", tuple(self.events))


@dataclass(frozen=True)
class CardImage:
    """What a card holds, decoded.

    ``slots`` has one entry per slot: a :class:`SignedCoupon`, None for an empty slot, or a
    :class:`SlotError`.  ``events`` likewise (empty records are dropped).  Signatures are not
    checked here: :func:`ekarta.transit.model.rules.judge` does that with the operator's public key.
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


def split_slots(data: bytes) -> tuple[bytes, ...]:
    """Cut one file holding consecutive slots into the slots; a partial slot at the end is kept
    as it is (it then decodes as corrupt instead of vanishing)."""
    return tuple(bytes(data[i:i + SLOT_SIZE]) for i in range(0, len(data), SLOT_SIZE))


def decode_card(files: CardFiles) -> CardImage:
    """Decode every file of a card.

    Raises the card record's :class:`~ekarta.transit.errors.RecordError` (corrupt, blank or an
    unknown newer format) since nothing can be judged without it; a bad slot or log record
    becomes a :class:`SlotError` in its place.
    """
    record = decode_card_record(files.card_record)
    slots: list[SignedCoupon | SlotError | None] = []
    for index, raw in enumerate(files.slots):
        try:
            slots.append(decode_slot(raw))
        except RecordError as exc:
            log.warning("coupon slot %d: %s", index, exc)
            slots.append(SlotError.of(index, exc, raw))
    events: list[EventRecord | SlotError] = []
    for index, raw in enumerate(files.events):
        try:
            event = decode_event(raw)
        except RecordError as exc:
            log.warning("log record %d: %s", index, exc)
            events.append(SlotError.of(index, exc, raw))
            continue
        if event is not None:
            events.append(event)
    return CardImage(files.uid, record, tuple(slots), tuple(events), files.purse)

