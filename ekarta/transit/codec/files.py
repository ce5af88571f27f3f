"""A whole card at once: the raw files read from it (:class:`CardFiles`) decoded into what they say
(a :class:`~ekarta.transit.model.image.CardImage`).

:func:`decode_card` keeps going past a bad coupon slot or log record: each one decodes to a
:class:`~ekarta.transit.model.image.SlotError` in its place, so one torn write never hides the
other coupons.  Only the card record is essential; if it cannot be read the whole card cannot,
and the error is raised.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ekarta.transit.codec.records import SLOT_SIZE, decode_card_record, decode_event, decode_slot
from ekarta.transit.errors import RecordError
from ekarta.transit.model.image import CardImage, SlotError
from ekarta.transit.model.values import EventRecord, SignedCoupon, check_uid

__all__ = ["CardFiles", "decode_card", "split_slots"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CardFiles:
    """The bytes of the transit application's files as a reader returned them.

    ``slots`` holds one :data:`~ekarta.transit.codec.records.SLOT_SIZE` string per coupon slot
    (see :func:`split_slots` for a single file holding them all); ``events`` the log records in
    the order the reader returned them; ``purse`` the e-purse value file's balance in haléř, if
    read.
    """

    uid: bytes
    card_record: bytes
    slots: tuple[bytes, ...] = ()
    events: tuple[bytes, ...] = ()
    purse: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "uid", check_uid(self.uid))
        object.__setattr__(self, "slots", tuple(self.slots))
        object.__setattr__(self, "events", tuple(self.events))


def split_slots(data: bytes) -> tuple[bytes, ...]:
    """Cut one file holding consecutive slots into the slots; a partial slot at the end is kept
    as it is (it then decodes as corrupt instead of vanishing)."""
    return tuple(bytes(data[i:i + SLOT_SIZE]) for i in range(0, len(data), SLOT_SIZE))


def decode_card(files: CardFiles) -> CardImage:
    """Decode every file of a card.

    Raises the card record's :class:`~ekarta.transit.errors.RecordError` (corrupt, blank or an
    unknown newer format) since nothing can be judged without it; a bad slot or log record
    becomes a :class:`~ekarta.transit.model.image.SlotError` in its place.
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
