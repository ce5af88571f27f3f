"""What every tap engine of a terminal shares: :class:`TerminalEngine`.

The validator (:mod:`ekarta.terminal.tap`), the inspector's handheld and the kiosk
(:mod:`ekarta.terminal.inspect`) each turn a card in the field, or a card number a scanner or a
person gives, into a :class:`~ekarta.terminal.outcome.TapOutcome`.  They share:

- the terminal's store and keys, its device number (written into card logs) and its
  :class:`Position` (zone, line, vehicle);
- how current the lists are (:class:`ListsState`: the older of the hotlist and the entitlements,
  stale past ``stale_after`` or when never synced), which every outcome carries;
- what the lists say of a card read (:meth:`TerminalEngine.card_lists`: the hotlist by number and
  UID, the office's coupons and status, read at most once);
- the barcode fallback's judging of a card number by the lists
  (:meth:`TerminalEngine.judge_number`);
- a card's error as an outcome with a one-line detail (:meth:`TerminalEngine.card_error`);
- the journal event of a record on the card, under an id made from the card and the record
  (:func:`journal_event`), so that a record found again is never journalled twice.
"""

from __future__ import annotations

import functools
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, ClassVar, Self

from ekarta.errors import CardRemovedError, EkartaError, NoCardError, ReaderTimeout
from ekarta.readers.base import Reader
from ekarta.sync.messages import Entitlement, JournalEvent, JournalKind, slot_bytes
from ekarta.sync.roles import DeviceRole
from ekarta.terminal.config import TerminalConfig
from ekarta.terminal.errors import TerminalConfigError
from ekarta.terminal.outcome import Outcome, Source, TapOutcome
from ekarta.terminal.store import TerminalStore
from ekarta.transit.cardio.reading import CardAccessError
from ekarta.transit.cardio.validation import CardLists, Place
from ekarta.transit.codec.records import decode_slot, encode_event
from ekarta.transit.errors import CouponError, InvalidCardNumber, InvalidField, RecordError
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.image import CardImage
from ekarta.transit.model.notation import parse_enum
from ekarta.transit.model.rules import SignatureCheck, Verdict, judge
from ekarta.transit.model.values import (
    DEVICE_MAX,
    FALLBACK_PROFILE,
    LINE_MAX,
    VEHICLE_MAX,
    ZONE_MAX,
    CardKind,
    CardRecord,
    CardStatus,
    EventKind,
    EventRecord,
    Profile,
    Reason,
    SignedCoupon,
)
from ekarta.transit.security.keystore import KeyProvider

__all__ = [
    "EVENT_NAMESPACE",
    "JOURNAL_KINDS",
    "JOURNAL_ZONE_MAX",
    "PLACEHOLDER_NAME",
    "REPEAT_WINDOW",
    "STALE_AFTER",
    "EngineStatus",
    "ListsState",
    "NumberCheck",
    "Position",
    "TerminalEngine",
    "device_number",
    "journal_event",
    "office_coupons",
    "one_line",
    "record_for_rules",
    "utc_now",
]

log = logging.getLogger(__name__)

REPEAT_WINDOW = timedelta(seconds=60)
"""A second tap (check) of a card within this time shows it again and writes nothing."""
STALE_AFTER = timedelta(days=3)
"""The operator's promise for blocking: a card blocked at the office is refused within 3 days."""
JOURNAL_ZONE_MAX = ZONE_MAX
"""The highest zone a journal event carries (:class:`~ekarta.sync.messages.JournalEvent`): the
card's own highest."""

EVENT_NAMESPACE = uuid.UUID("5b0f6a3e-3c1d-4c57-9a55-6b1d0e7a3f21")
"""The name space of the journal's event ids made from a card's log record."""

PLACEHOLDER_NAME = "-"
"""The name a record made only for the rules carries (the lists hold no names)."""

JOURNAL_KINDS = {
    EventKind.VALIDATION: JournalKind.VALIDATION,
    EventKind.INSPECTION: JournalKind.INSPECTION,
    EventKind.KIOSK_VIEW: JournalKind.KIOSK_VIEW,
    EventKind.BLOCKING: JournalKind.BLOCKING,
    EventKind.LOAD: JournalKind.LOAD,
    EventKind.PURSE_CREDIT: JournalKind.PURSE_CREDIT,
    EventKind.ACTIVATION: JournalKind.ACTIVATION,
    EventKind.RECORD_CHANGE: JournalKind.PROFILE_UPDATE,
}
"""The journal's kind of each kind of record a terminal writes onto a card."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def _check(name: str, value: object, high: int) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                              or not 1 <= value <= high):
        raise InvalidField(f"{name} must be 1..{high} or None, not {value!r}")


@dataclass(frozen=True)
class Position:
    """Where the terminal is: the tariff zone it judges for (None: any zone), the line and the
    vehicle, as the driver or the inspector sets them."""

    zone: int | None = None
    line: int | None = None
    vehicle: int | None = None

    def __post_init__(self) -> None:
        _check("zone", self.zone, JOURNAL_ZONE_MAX)
        _check("line", self.line, LINE_MAX)
        _check("vehicle", self.vehicle, VEHICLE_MAX)


@dataclass(frozen=True)
class ListsState:
    """How current the lists a verdict is made from are: ``data_as_of`` the office's issue time
    of the older of the hotlist and the entitlements (None: never synced), ``age`` how old that
    is now, ``stale`` past the terminal's limit (or never synced)."""

    data_as_of: datetime | None
    age: timedelta | None
    stale: bool


@dataclass(frozen=True)
class EngineStatus:
    """What a terminal's status line shows."""

    position: Position
    lists: ListsState
    backlog: int
    """Journal events the office has not acknowledged yet."""

    @property
    def lists_age(self) -> timedelta | None:
        """How old the lists are (None: never synced)."""
        return self.lists.age

    @property
    def stale(self) -> bool:
        """Past the terminal's limit, or never synced."""
        return self.lists.stale


@dataclass(frozen=True)
class NumberCheck:
    """A card number judged by the lists (:meth:`TerminalEngine.judge_number`): the outcome,
    and for a verdict the card as the office's entry describes it (placeholder names, the
    office's coupons as its slots; None when the lists hold nothing for the number)."""

    outcome: TapOutcome
    image: CardImage | None = None


def device_number(name: str) -> int | None:
    """The device number a terminal writes into card logs, from its name at the office: the
    number it ends with (``bus 1017`` -> 1017), None if it ends with none (or one too large)."""
    found = re.search(r"(\d+)\s*$", name)
    if found is None:
        return None
    number = int(found.group(1))
    return number if number <= DEVICE_MAX else None


def journal_event(event: EventRecord, card_number: CardNumber, uid: bytes, *,
                  at: datetime | None = None, **more: Any) -> JournalEvent:
    """The journal event of a record on the card.  Its id is made from the card (number and
    UID) and the record's own bytes (sequence number, minute, device, result...), so the same
    record always gives the same event; ``at`` is the exact time when known (the record keeps
    the minute); ``more`` sets the event's other fields (``coupons``, ``action_id``...)."""
    name = f"{card_number.digits}/{uid.hex()}/{encode_event(event).hex()}"
    return JournalEvent(event_id=uuid.uuid5(EVENT_NAMESPACE, name),
                        kind=JOURNAL_KINDS.get(event.kind, JournalKind.VALIDATION),
                        at=at or event.at, card_number=card_number.digits,
                        result=int(event.result), line=event.line, vehicle=event.vehicle,
                        zone=event.zone, coupon_serial=event.coupon_serial, **more)


def office_coupons(entitlement: Entitlement | None) -> tuple[tuple[SignedCoupon, bool], ...]:
    """The signed coupons of an entitlement, each with whether the office holds it as pending
    (paid, not yet on the card); a slot that does not decode is left out."""
    if entitlement is None:
        return ()
    coupons = []
    for held in entitlement.coupons:
        try:
            signed = decode_slot(slot_bytes(held.slot))
        except (RecordError, ValueError):
            log.warning("card %s: the office's coupon %d does not decode; left out",
                        entitlement.card_number, held.serial)
            continue
        if signed is not None:
            coupons.append((signed, held.state == "pending"))
    return tuple(coupons)


def record_for_rules(entitlement: Entitlement) -> CardRecord:
    """The card record the rules judge a card number by: what the office's entry holds, with
    placeholder names (it is never written anywhere)."""
    kind = parse_enum(CardKind, entitlement.kind, "kind")
    name = PLACEHOLDER_NAME if kind is CardKind.PERSONAL else ""
    return CardRecord(card_number=CardNumber(entitlement.card_number), kind=kind,
                      status=parse_enum(CardStatus, entitlement.status, "status"),
                      expiry=entitlement.expiry,
                      profile=parse_enum(Profile, entitlement.profile, "profile"),
                      profile_end=entitlement.profile_end, first_name=name, surname=name)


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


class TerminalEngine:
    """A terminal's engine over its store and keys (see the module docstring).  An engine and
    its store belong to one thread (the card worker's); only :attr:`position` may be set from
    another."""

    def __init__(self, store: TerminalStore, keys: KeyProvider, verifier: SignatureCheck, *,
                 device: int, position: Position | None = None,
                 stale_after: timedelta = STALE_AFTER,
                 clock: Callable[[], datetime] = utc_now) -> None:
        if stale_after < timedelta(0):
            raise InvalidField("the lists' limit cannot be negative")
        Place(device)  # checks the device number
        self.store = store
        self._keys = keys
        self._verifier = verifier
        self.device = device
        self._position = position or Position()
        self.stale_after = stale_after
        self._clock = clock
        self._owns_store = False

    @classmethod
    def from_config(cls, config: TerminalConfig, *, device: int | None = None,
                    **options: Any) -> Self:
        """The engine of a terminal directory: its store (closed with the engine) and its
        keystore; ``device`` defaults to the number the device's name ends with; ``options``
        go to the engine's constructor."""
        cls.check_config(config)
        if device is None:
            device = device_number(config.device)
            if device is None:
                raise TerminalConfigError(
                    f"the device name {config.device!r} ends with no number (0..{DEVICE_MAX}) "
                    "to write into card logs: give the device number")
        keystore = config.load_keystore()
        store = config.open_store()
        try:
            engine = cls(store, keystore, keystore.verifier(), device=device, **options)
        except BaseException:
            store.close()
            raise
        engine._owns_store = True
        return engine

    WORKS_WITH: ClassVar[frozenset[DeviceRole]] = frozenset(DeviceRole)
    """The roles whose terminal directory (and keys) the engine works with."""
    NEEDS: ClassVar[str] = ""
    """What the refusal of another role's directory says the engine needs."""

    @classmethod
    def check_config(cls, config: TerminalConfig) -> None:
        """Refuse a terminal directory this engine cannot work with (another role's)."""
        if config.role not in cls.WORKS_WITH:
            raise TerminalConfigError(f"{config.directory} is a {config.role}'s terminal: "
                                      f"{cls.NEEDS}")

    def close(self) -> None:
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    # --- position and status ----------------------------------------------------------------------

    @property
    def position(self) -> Position:
        return self._position

    @position.setter
    def position(self, position: Position) -> None:
        """The terminal moved on: the next card is judged and recorded at ``position``."""
        if not isinstance(position, Position):
            raise InvalidField(f"expected a Position, not {type(position).__name__}")
        self._position = position

    def place(self, position: Position | None = None) -> Place:
        """Where a card is recorded: this device at ``position`` (the engine's)."""
        position = position or self._position
        return Place(self.device, position.zone, position.line, position.vehicle)

    def lists(self, now: datetime | None = None) -> ListsState:
        """How current the lists are at ``now`` (the engine's clock by default)."""
        now = now or self._clock()
        as_of = self.store.lists_as_of()
        if as_of is None:
            return ListsState(None, None, True)
        age = now - as_of
        return ListsState(as_of, age, age > self.stale_after)

    def status(self) -> EngineStatus:
        return EngineStatus(self._position, self.lists(), self.store.outbox_size())

    # --- the shared parts of a check --------------------------------------------------------------

    def base_outcome(self, source: Source, now: datetime,
                     position: Position | None = None) -> TapOutcome:
        """An outcome at ``now`` with the position and the lists' state, to be completed."""
        position = position or self._position
        lists = self.lists(now)
        return TapOutcome(Outcome.VERDICT, source, now, zone=position.zone, line=position.line,
                          data_as_of=lists.data_as_of, lists_age=lists.age, stale=lists.stale)

    @staticmethod
    def reader_uid(transceiver: object, uid: bytes | None) -> bytes | None:
        """``uid``, or the UID a :class:`~ekarta.readers.Reader` reported for its card."""
        if uid is None and isinstance(transceiver, Reader) and transceiver.card_info is not None:
            return transceiver.card_info.uid
        return uid

    def card_lists(self, number: CardNumber, uid: bytes, *,
                   repeat_since: datetime | None = None) -> CardLists:
        """What the lists say of the card read (its number and UID): hotlisted by either, the
        office's coupons and whether the office has this chip's card active (the entitlement
        read at most once, and only if asked)."""
        hot = self.store.is_hotlisted(int(number), uid)
        entitlement = functools.cache(lambda: self.store.entitlement(number))

        def office() -> tuple[SignedCoupon, ...]:
            return tuple(c for c, _ in office_coupons(entitlement()))

        def office_active() -> bool:
            held = entitlement()
            return held is not None and held.status == "active" and held.uid == uid.hex()

        return CardLists(hot, office, repeat_since, office_active)

    @staticmethod
    def card_error(base: TapOutcome, exc: EkartaError) -> TapOutcome:
        """The outcome of a card that could not be read as one of ours: never a verdict."""
        if isinstance(exc, CardAccessError):
            return replace(base, outcome=Outcome.NOT_A_TRANSIT_CARD, detail=one_line(exc))
        if isinstance(exc, CardRemovedError | NoCardError):
            return replace(base, outcome=Outcome.TAP_AGAIN,
                           detail="the card left before it was read: tap again")
        if isinstance(exc, ReaderTimeout):
            return replace(base, outcome=Outcome.UNREADABLE,
                           detail=f"the card does not answer: {one_line(exc)}")
        if isinstance(exc, RecordError):
            return replace(base, outcome=Outcome.UNREADABLE,
                           detail=f"the card record cannot be read: {one_line(exc)}")
        return replace(base, outcome=Outcome.UNREADABLE, detail=one_line(exc))

    # --- the barcode fallback ---------------------------------------------------------------------

    def judge_number(self, text: str) -> NumberCheck:
        """Judge the card number in ``text`` (from a scanner or typed) by the synced lists:
        ``Source.BARCODE``; a number whose check digit fails is ``REFUSED_NUMBER``.  Nothing is
        written or journalled."""
        now = self._clock()
        position = self._position
        base = self.base_outcome(Source.BARCODE, now, position)
        try:
            number = CardNumber.parse(text)
        except InvalidCardNumber as exc:
            return NumberCheck(replace(base, outcome=Outcome.REFUSED_NUMBER,
                                       detail=one_line(exc)))
        entitlement = self.store.entitlement(number)
        hot = self.store.is_hotlisted(
            int(number), entitlement.uid if entitlement is not None else None)
        base = replace(base, card_number=number)
        if entitlement is None:
            reason = Reason.CARD_BLOCKED if hot else Reason.NO_COUPON
            return NumberCheck(replace(
                base, verdict=Verdict(False, reason, FALLBACK_PROFILE, zone=position.zone),
                detail="the office's lists hold nothing for this card number"))
        try:
            record = record_for_rules(entitlement)
        except CouponError as exc:
            return NumberCheck(replace(
                base, outcome=Outcome.UNREADABLE,
                detail="the office's entry for this card cannot be judged: " + one_line(exc)))
        held = office_coupons(entitlement)
        detail = None
        if entitlement.uid is None and held:
            held = ()  # a coupon is signed for the chip's UID, which the office does not know
            detail = "the office does not know the card's chip: its coupons cannot be checked"
        uid = bytes.fromhex(entitlement.uid) if entitlement.uid else b""
        verdict = judge(record, (c for c, _ in held), uid=uid, at=now, zone=position.zone,
                        verifier=self._verifier, hotlist=(number,) if hot else ())
        pending = {c.signature: p for c, p in held}
        from_office = verdict.ok and verdict.coupon is not None and pending.get(
            verdict.coupon.signature, False)
        image = CardImage(uid, record, tuple(c for c, _ in held))
        return NumberCheck(replace(base, verdict=verdict, from_office=from_office,
                                   detail=detail), image)
