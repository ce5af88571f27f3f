"""The driver's validator without its screen: :class:`Validator` turns a tap, or a card number a
scanner or the driver gives, into a :class:`~ekarta.terminal.outcome.TapOutcome`.

A tap is one card session (:func:`~ekarta.transit.cardio.validation.validate_card`): read the
card, look it up on the terminal's hotlist (by card number and by UID) and among the office's
entitlements, judge it at the validator's :class:`Position`, then write onto the card its blocked
status (a hotlisted card) or the tap's record, and commit.  Each record committed goes into the
journal outbox once (:class:`~ekarta.sync.messages.JournalEvent`, no names), under an event id
made from the card's record itself, so that a record found again (a tap whose answer was lost,
a restarted validator) is never journalled twice.

- **Repeat window.**  A second tap of a card within ``repeat_window`` (60 s) of its recorded
  validation shows the verdict again (``repeated``) and writes nothing.  The validator
  remembers the exact time of the taps it recorded; for a card it does not remember (after a
  restart) the card's own log, which keeps minutes, decides.
- **Torn taps.**  A card pulled away before the commit answered gives ``TAP_AGAIN``, never a
  verdict.  The validator remembers what it was writing: at the card's next tap its log shows
  whether the commit took effect; if it did, that record is journalled and stands for the tap
  (nothing is written twice), otherwise the tap is recorded as any other.
- **Barcode fallback.**  :meth:`Validator.check_number` judges a card number from the synced
  hotlist and entitlements (``Source.BARCODE``, with the lists' time); a number whose check digit
  fails is ``REFUSED_NUMBER``.  Nothing is written or journalled.
- **Offline.**  Every outcome carries the age of the lists (the older of the hotlist and the
  entitlements) and, past ``stale_after`` (3 days) or when never synced, ``stale``.

A card's error (not a transit card, not issued, another operator's, mute, a record that does not
decode) is an outcome with a one-line ``detail``, never an exception.  A :class:`Validator` and its
store belong to one thread (the card worker's); only :attr:`Validator.position` may be set from
another.
"""

from __future__ import annotations

import functools
import logging
import re
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self

from ekarta.desfire.client import DESFire, Transceiver
from ekarta.errors import CardRemovedError, EkartaError, NoCardError, ReaderTimeout
from ekarta.readers.base import Reader
from ekarta.sync.messages import Entitlement, JournalEvent, JournalKind, slot_bytes
from ekarta.terminal.config import TerminalConfig
from ekarta.terminal.errors import TerminalConfigError
from ekarta.terminal.journal import JournalWriter
from ekarta.terminal.outcome import Outcome, Source, TapOutcome
from ekarta.terminal.store import TerminalStore
from ekarta.transit.cardio.reading import CardAccessError
from ekarta.transit.cardio.validation import (
    CardLists,
    Place,
    Validation,
    ValidationTorn,
    validate_card,
)
from ekarta.transit.codec.records import decode_slot, encode_event
from ekarta.transit.errors import CouponError, InvalidCardNumber, InvalidField, RecordError
from ekarta.transit.model.card_number import CardNumber
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
    "JOURNAL_ZONE_MAX",
    "REPEAT_WINDOW",
    "STALE_AFTER",
    "ListsState",
    "Position",
    "Validator",
    "ValidatorStatus",
    "device_number",
    "journal_event",
]

log = logging.getLogger(__name__)

REPEAT_WINDOW = timedelta(seconds=60)
STALE_AFTER = timedelta(days=3)
"""The operator's promise for blocking: a card blocked at the office is refused within 3 days."""
JOURNAL_ZONE_MAX = ZONE_MAX
"""The highest zone a journal event carries (:class:`~ekarta.sync.messages.JournalEvent`): the
card's own highest."""
REMEMBERED = 256
"""How many cards the validator remembers (its recent taps, for the repeat window)."""

EVENT_NAMESPACE = uuid.UUID("5b0f6a3e-3c1d-4c57-9a55-6b1d0e7a3f21")
"""The name space of the journal's event ids made from a card's log record."""

_PLACEHOLDER_NAME = "-"
"""The name a record made only for the rules carries (the lists hold no names)."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _check(name: str, value: object, high: int) -> None:
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                              or not 1 <= value <= high):
        raise InvalidField(f"{name} must be 1..{high} or None, not {value!r}")


@dataclass(frozen=True)
class Position:
    """Where the validator's vehicle is: the tariff zone it judges for (None: any zone), the
    line and the vehicle, as the driver sets them."""

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
    is now, ``stale`` past the validator's limit (or never synced)."""

    data_as_of: datetime | None
    age: timedelta | None
    stale: bool


@dataclass(frozen=True)
class ValidatorStatus:
    """What the validator's status line shows."""

    position: Position
    lists: ListsState
    backlog: int
    """Journal events the office has not acknowledged yet."""


@dataclass(frozen=True)
class _Seen:
    """A card's last tap recorded (or being recorded) here."""

    at: datetime
    """The exact time of the tap that wrote the record."""
    event: EventRecord
    journal: JournalEvent
    committed: bool
    """False: the card was lost during the commit; its log will tell."""


def device_number(name: str) -> int | None:
    """The device number a terminal writes into card logs, from its name at the office: the
    number it ends with (``bus 1017`` -> 1017), None if it ends with none (or one too large)."""
    found = re.search(r"(\d+)\s*$", name)
    if found is None:
        return None
    number = int(found.group(1))
    return number if number <= DEVICE_MAX else None


def journal_event(event: EventRecord, card_number: CardNumber, uid: bytes, *,
                  at: datetime | None = None) -> JournalEvent:
    """The journal event of a record on the card.  Its id is made from the card (number and
    UID) and the record's own bytes (sequence number, minute, device, result...), so the same
    record always gives the same event; ``at`` is the exact time when known (the record keeps
    the minute)."""
    name = f"{card_number.digits}/{uid.hex()}/{encode_event(event).hex()}"
    kind = JournalKind.BLOCKING if event.kind is EventKind.BLOCKING else JournalKind.VALIDATION
    return JournalEvent(event_id=uuid.uuid5(EVENT_NAMESPACE, name), kind=kind,
                        at=at or event.at, card_number=card_number.digits,
                        result=int(event.result), line=event.line, vehicle=event.vehicle,
                        zone=event.zone, coupon_serial=event.coupon_serial)


def _office_coupons(entitlement: Entitlement | None) -> tuple[tuple[SignedCoupon, bool], ...]:
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


def _record_for_rules(entitlement: Entitlement) -> CardRecord:
    """The card record the rules judge a card number by: what the office's entry holds, with
    placeholder names (it is never written anywhere)."""
    kind = parse_enum(CardKind, entitlement.kind, "kind")
    name = _PLACEHOLDER_NAME if kind is CardKind.PERSONAL else ""
    return CardRecord(card_number=CardNumber(entitlement.card_number), kind=kind,
                      status=parse_enum(CardStatus, entitlement.status, "status"),
                      expiry=entitlement.expiry,
                      profile=parse_enum(Profile, entitlement.profile, "profile"),
                      profile_end=entitlement.profile_end, first_name=name, surname=name)


class Validator:
    """The validator's engine over a terminal's store and keys (see the module docstring)."""

    def __init__(self, store: TerminalStore, keys: KeyProvider, verifier: SignatureCheck, *,
                 device: int, position: Position | None = None,
                 repeat_window: timedelta = REPEAT_WINDOW, stale_after: timedelta = STALE_AFTER,
                 clock: Callable[[], datetime] = _utc_now,
                 journal: JournalWriter | None = None) -> None:
        if repeat_window < timedelta(0) or stale_after < timedelta(0):
            raise InvalidField("the repeat window and the lists' limit cannot be negative")
        Place(device)  # checks the device number
        self.store = store
        self._keys = keys
        self._verifier = verifier
        self.device = device
        self._position = position or Position()
        self.repeat_window = repeat_window
        self.stale_after = stale_after
        self._clock = clock
        self._seen: OrderedDict[bytes, _Seen] = OrderedDict()
        self._owns_store = False
        self.journal = journal
        """Appends the journal's events off the tap's path (None: the tap appends them to
        ``store`` itself, durably, before it answers)."""

    @classmethod
    def from_config(cls, config: TerminalConfig, *, device: int | None = None,
                    position: Position | None = None, repeat_window: timedelta = REPEAT_WINDOW,
                    stale_after: timedelta = STALE_AFTER,
                    clock: Callable[[], datetime] = _utc_now) -> Validator:
        """The validator of a terminal directory: its store (closed with the validator) and its
        keystore; ``device`` defaults to the number the device's name ends with."""
        if device is None:
            device = device_number(config.device)
            if device is None:
                raise TerminalConfigError(
                    f"the device name {config.device!r} ends with no number (0..{DEVICE_MAX}) "
                    "to write into card logs: give the device number")
        keystore = config.load_keystore()
        store = config.open_store()
        try:
            validator = cls(store, keystore, keystore.verifier(), device=device,
                            position=position, repeat_window=repeat_window,
                            stale_after=stale_after, clock=clock,
                            journal=JournalWriter(config.open_store))
        except BaseException:
            store.close()
            raise
        validator._owns_store = True
        return validator

    def close(self) -> None:
        """Write the journal's queued events (when the validator has its own writer, see
        :meth:`from_config`) and close the store it opened."""
        try:
            if self._owns_store and self.journal is not None:
                self.journal.close()
        finally:
            if self._owns_store:
                self.store.close()

    def _append(self, event: JournalEvent, now: datetime) -> None:
        if self.journal is not None:
            self.journal.append(event, now=now)
        else:
            self.store.append_journal(event, now=now)

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
        """The driver moved on: the next tap is judged and recorded at ``position``."""
        if not isinstance(position, Position):
            raise InvalidField(f"expected a Position, not {type(position).__name__}")
        self._position = position

    def lists(self, now: datetime | None = None) -> ListsState:
        """How current the lists are at ``now`` (the validator's clock by default)."""
        now = now or self._clock()
        as_of = self.store.lists_as_of()
        if as_of is None:
            return ListsState(None, None, True)
        age = now - as_of
        return ListsState(as_of, age, age > self.stale_after)

    def status(self) -> ValidatorStatus:
        queued = self.journal.pending if self.journal is not None else 0
        return ValidatorStatus(self._position, self.lists(), self.store.outbox_size() + queued)

    # --- a tap ------------------------------------------------------------------------------------

    def tap(self, transceiver: Transceiver, *, uid: bytes | None = None) -> TapOutcome:
        """One tap of the card in the field of ``transceiver`` (a reader's ``transceive``).

        ``uid`` is the card's UID if the reader reported it; a :class:`~ekarta.readers.Reader`'s
        own report is taken when it is not given (it saves the card's GetVersion)."""
        now = self._clock()
        position = self._position
        place = Place(self.device, position.zone, position.line, position.vehicle)
        lists = self.lists(now)
        if uid is None and isinstance(transceiver, Reader) and transceiver.card_info is not None:
            uid = transceiver.card_info.uid
        base = TapOutcome(Outcome.VERDICT, Source.CHIP, now, zone=position.zone,
                          line=position.line, data_as_of=lists.data_as_of,
                          lists_age=lists.age, stale=lists.stale)

        def lookup(number: CardNumber, card_uid: bytes) -> CardLists:
            hot = (self.store.is_hotlisted(int(number))
                   or self.store.hotlisted_uid(card_uid) is not None)

            # read once, and only if the card's own coupons or status leave a question
            entitlement = functools.cache(lambda: self.store.entitlement(number))

            def office() -> tuple[SignedCoupon, ...]:
                return tuple(c for c, _ in _office_coupons(entitlement()))

            def office_active() -> bool:
                held = entitlement()
                return (held is not None and held.status == "active"
                        and held.uid == card_uid.hex())

            return CardLists(hot, office, self._repeat_since(card_uid, now), office_active)

        try:
            validation = validate_card(DESFire(transceiver), self._keys, self._verifier, at=now,
                                       place=place, lookup=lookup, uid=uid)
        except ValidationTorn as exc:
            staged = exc.staged
            self._remember(staged.uid, _Seen(now, staged.event, self._journal(staged, now),
                                             committed=False))
            log.info("card %s lost during the commit: tap again", staged.card_number)
            return replace(base, outcome=Outcome.TAP_AGAIN, card_number=staged.card_number,
                           detail="the card left before its tap was recorded: tap again")
        except CardAccessError as exc:
            return replace(base, outcome=Outcome.NOT_A_TRANSIT_CARD, detail=_one_line(exc))
        except (CardRemovedError, NoCardError):
            return replace(base, outcome=Outcome.TAP_AGAIN,
                           detail="the card left before it was read: tap again")
        except ReaderTimeout as exc:
            return replace(base, outcome=Outcome.UNREADABLE,
                           detail=f"the card does not answer: {_one_line(exc)}")
        except RecordError as exc:
            return replace(base, outcome=Outcome.UNREADABLE,
                           detail=f"the card record cannot be read: {_one_line(exc)}")
        except EkartaError as exc:  # the card's protocol, the reader
            return replace(base, outcome=Outcome.UNREADABLE, detail=_one_line(exc))
        return self._settle(validation, base, now)

    def _repeat_since(self, uid: bytes, now: datetime) -> datetime | None:
        seen = self._seen.get(uid)
        if seen is not None and now - seen.at >= self.repeat_window:
            return None  # the card's last tap here is older than the window: a new one
        return now - self.repeat_window

    def _journal(self, validation: Validation, at: datetime) -> JournalEvent:
        return journal_event(validation.event, validation.card_number, validation.uid, at=at)

    def _remember(self, uid: bytes, seen: _Seen) -> None:
        self._seen[uid] = seen
        self._seen.move_to_end(uid)
        while len(self._seen) > REMEMBERED:
            self._seen.popitem(last=False)

    def _settle(self, validation: Validation, base: TapOutcome, now: datetime) -> TapOutcome:
        uid = validation.uid
        seen = self._seen.get(uid)
        lost = seen if seen is not None and not seen.committed else None
        if lost is not None and lost.event in validation.image.events:
            # the commit the card was pulled from took effect: it is journalled now
            self._append(lost.journal, now)
        if validation.written:
            journal, at = self._journal(validation, now), now
            self._append(journal, now)
        elif seen is not None and seen.event == validation.event:
            journal, at = seen.journal, seen.at  # journalled already
        else:  # a record of this device the validator does not remember (it restarted)
            journal, at = self._journal(validation, validation.event.at), validation.event.at
            self._append(journal, now)
        self._remember(uid, _Seen(at, validation.event, journal, committed=True))
        verdict = validation.verdict
        # a verdict shown before: not the first showing for a tap whose answer was lost
        repeated = not validation.written and (lost is None or lost.event != validation.event)
        return replace(base, card_number=validation.card_number, verdict=verdict,
                       from_office=validation.from_office, repeated=repeated,
                       blocked_written=validation.blocked_written, recorded=True)

    # --- the barcode fallback ---------------------------------------------------------------------

    def check_number(self, text: str) -> TapOutcome:
        """Judge the card number in ``text`` (from a scanner or typed) by the synced lists."""
        now = self._clock()
        position = self._position
        lists = self.lists(now)
        base = TapOutcome(Outcome.VERDICT, Source.BARCODE, now, zone=position.zone,
                          line=position.line, data_as_of=lists.data_as_of,
                          lists_age=lists.age, stale=lists.stale)
        try:
            number = CardNumber.parse(text)
        except InvalidCardNumber as exc:
            return replace(base, outcome=Outcome.REFUSED_NUMBER, detail=_one_line(exc))
        entitlement = self.store.entitlement(number)
        hot = self.store.is_hotlisted(int(number)) or (
            entitlement is not None and entitlement.uid is not None
            and self.store.hotlisted_uid(entitlement.uid) is not None)
        base = replace(base, card_number=number)
        if entitlement is None:
            reason = Reason.CARD_BLOCKED if hot else Reason.NO_COUPON
            return replace(base, verdict=Verdict(False, reason, FALLBACK_PROFILE,
                                                 zone=position.zone),
                           detail="the office's lists hold nothing for this card number")
        try:
            record = _record_for_rules(entitlement)
        except CouponError as exc:
            return replace(base, outcome=Outcome.UNREADABLE,
                           detail="the office's entry for this card cannot be judged: "
                                  + _one_line(exc))
        held = _office_coupons(entitlement)
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
        return replace(base, verdict=verdict, from_office=from_office, detail=detail)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
