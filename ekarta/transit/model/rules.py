"""The operator's tariff rules: is this card valid here and now, may this coupon be sold, where
does a paid coupon go on the card.

Everything here is a pure function of its arguments.  The clock is injected: :func:`judge` takes
the instant ``at`` (an aware datetime, judged by its Prague calendar date) and the purchase rules
take ``today`` (a Prague date); nothing reads the system clock.

The rules, with the operator's manual as the authority where DOMAIN.md is shorter:

- A coupon is valid on the Prague calendar days ``valid_from``..``valid_to``, both included, and
  with this card only until the card's expiry date (included).  After the expiry the card is
  expired whatever it holds.
- A discounted profile ends on the card's profile end date or, when the birth date is known, on
  the day before the birthday that ends the right ("do dovršení 15 let": the right ends on the
  15th birthday), whichever is earlier; afterwards the card has the adult non-transferable
  profile.  A coupon bought for the discounted profile may run at most 29 days past that end:
  a purchase beyond is refused (the manual: "only such a coupon may be bought"), and a validator
  refuses such a coupon after the 29 days.  A coupon bought for the card's former profile after
  the office changed the profile keeps its own validity.
- Ages count completed years on the coupon's first day; a holder born on 29 February ages on
  1 March in common years.  Only children and students must have a birth date on the card (the
  manual fills it in "only for children, pupils and students"); the other age limits (pensioners
  under 70, citizens over 70) are checked when the birth date happens to be known.
- The dog coupon is sold for every profile (the manual), also on an anonymous card, alone or
  with another coupon, so the profile rules do not bind it; it makes the dog valid, never the
  holder (``judge(..., dog=True)`` asks about the dog).
- At most four coupons may be valid at once: a purchase is refused when the card already has
  four coupons that are valid today or start later (dog coupons included).  This is stricter than
  "overlapping periods" and is what the card's slots can hold.
- Start: today at the earliest (payment card, ticket office), 5 days after the purchase at the
  earliest for a bank transfer.  A follow-on coupon's suggested start is the day after the coupon
  it continues ends (or the earliest allowed start, if later).
"""

from __future__ import annotations

import logging
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol

from ekarta.transit.errors import InvalidField
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.image import CardImage, SlotError, SlotErrorKind
from ekarta.transit.model.messages import text
from ekarta.transit.model.timecodec import local_date
from ekarta.transit.model.values import (
    FALLBACK_PROFILE,
    ZONE_MAX,
    ZONE_MIN,
    CardKind,
    CardRecord,
    CardStatus,
    Coupon,
    CouponType,
    EventKind,
    EventRecord,
    Note,
    Profile,
    Reason,
    SaleChannel,
    SignedCoupon,
    Zones,
    add_years,
    age_on,
)

__all__ = [
    "BANK_TRANSFER_DELAY",
    "MAX_VALID_COUPONS",
    "PROFILE_GRACE_DAYS",
    "LoadPlan",
    "PurchaseDecision",
    "PurchaseRequest",
    "Refusal",
    "SignatureCheck",
    "Verdict",
    "age_refusal",
    "card_refusal",
    "check_purchase",
    "effective_profile",
    "judge",
    "judge_card",
    "logged_serial",
    "plan_cancel",
    "plan_load",
    "plan_replace",
    "profile_end",
    "same_coupon",
    "suggest_start",
    "valid_or_future",
]

log = logging.getLogger(__name__)

PROFILE_GRACE_DAYS = 29
MAX_VALID_COUPONS = 4
BANK_TRANSFER_DELAY = 5

_DAY = timedelta(days=1)


class SignatureCheck(Protocol):
    """What the rules need to know of a coupon's signature: whether the operator signed it for
    this card.  :class:`~ekarta.transit.security.signing.CouponVerifier` is one; the rules take
    it as an argument so that they stay below the layer that holds the keys."""

    def verify(self, signed: SignedCoupon, *, uid: bytes, card_number: CardNumber) -> bool: ...


# --- profile -------------------------------------------------------------------------------------


def profile_end(card: CardRecord) -> date | None:
    """The last day of the card's discounted profile; None if it does not end (or is full fare).

    The earlier of the card's profile end date and the day before the birthday on which the
    profile's age right ends (when the birth date is on the card).
    """
    if not card.profile.discounted:
        return None
    ends = [card.profile_end] if card.profile_end is not None else []
    upper = card.profile.age_range[1]
    if upper is not None and card.birth_date is not None:
        ends.append(add_years(card.birth_date, upper) - _DAY)
    return min(ends, default=None)


def effective_profile(card: CardRecord, on: date) -> Profile:
    """The card's profile on the day ``on``: its own, or the fallback once a discount ended."""
    end = profile_end(card)
    if end is not None and on > end:
        return FALLBACK_PROFILE
    return card.profile


def _coupon(value: Coupon | SignedCoupon) -> Coupon:
    if isinstance(value, SignedCoupon):
        return value.coupon
    if isinstance(value, Coupon):
        return value
    raise InvalidField(f"expected a Coupon or SignedCoupon, not {type(value).__name__}")


def valid_or_future(
    coupons: Iterable[Coupon | SignedCoupon | SlotError | None], today: date,
) -> tuple[Coupon, ...]:
    """The coupons that are valid on ``today`` or start later (what a kiosk shows)."""
    return tuple(c for c in (_coupon(x) for x in coupons if x is not None
                             and not isinstance(x, SlotError)) if c.valid_to >= today)


# --- verdicts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What a validator or an inspector shows for a card at one time and zone.

    ``coupon`` is the coupon that made the card valid or, for a refusal about a coupon, the
    coupon concerned.  ``profile`` is the card's effective profile at that time (the fallback
    once a discounted profile ended).  ``date`` is the day the message speaks of: the last day
    of validity, the first day of a future coupon, the day something ended.
    """

    ok: bool
    reason: Reason
    profile: Profile
    coupon: SignedCoupon | None = None
    date: date | None = None
    zone: int | None = None

    def message(self, lang: str = "en") -> str:
        return text(self.reason, lang, date=self.date, zone=self.zone)


# Of several refusals, the one that tells the passenger most.  An unreadable slot comes before
# "not yet valid" and "expired" because the unreadable one may be the coupon that is valid now.
_FAILURE_RANK = {
    Reason.SIGNATURE_INVALID: 0,
    Reason.PROFILE_EXPIRED: 1,
    Reason.ZONE_NOT_COVERED: 2,
    Reason.COUPON_UNREADABLE: 3,
    Reason.NOT_YET_VALID: 4,
    Reason.EXPIRED: 5,
}

_UNREADABLE_RANK = (_FAILURE_RANK[Reason.COUPON_UNREADABLE], 0)


@dataclass(frozen=True)
class _Assessment:
    reason: Reason
    day: date
    signed: SignedCoupon

    def rank(self) -> tuple[int, int]:
        if self.reason is Reason.NOT_YET_VALID:
            tie = self.day.toordinal()  # the one that starts soonest
        elif self.reason in (Reason.EXPIRED, Reason.VALID):
            tie = -self.day.toordinal()  # the one that ended last, the one that runs longest
        else:
            tie = 0
        return _FAILURE_RANK.get(self.reason, -1), tie


def _assess(card: CardRecord, signed: SignedCoupon, day: date, zone: int | None,
            end: date | None) -> _Assessment:
    coupon = signed.coupon
    usable_to = min(coupon.valid_to, card.expiry)
    if day < coupon.valid_from:
        return _Assessment(Reason.NOT_YET_VALID, coupon.valid_from, signed)
    if day > usable_to:
        return _Assessment(Reason.EXPIRED, usable_to, signed)
    if (end is not None and not coupon.coupon_type.dog and coupon.profile is card.profile):
        grace_end = end + timedelta(days=PROFILE_GRACE_DAYS)
        if day > grace_end:
            return _Assessment(Reason.PROFILE_EXPIRED, end, signed)
        usable_to = min(usable_to, grace_end)
    if zone is not None and not coupon.zones.covers(zone):
        return _Assessment(Reason.ZONE_NOT_COVERED, usable_to, signed)
    return _Assessment(Reason.VALID, usable_to, signed)


def judge(
    card: CardRecord,
    coupons: Iterable[SignedCoupon | SlotError | None],
    *,
    uid: bytes,
    at: datetime,
    zone: int | None,
    verifier: SignatureCheck,
    hotlist: Container[CardNumber] = frozenset(),
    dog: bool = False,
) -> Verdict:
    """Judge a card at the instant ``at`` in ``zone`` (None: any zone, as a kiosk does).

    ``coupons`` are the card's slots (empty slots and :class:`SlotError` are allowed) or, after a
    barcode scan, the coupons the back office holds for the card; ``uid`` is the chip's UID the
    signatures were made for; ``hotlist`` holds blocked card numbers.  With ``dog=True`` the
    question is whether the holder's dog may travel (only dog coupons count); otherwise dog
    coupons are ignored.

    Only the coupons that decide the verdict are signature-checked (the valid one, or the one
    the refusal names), so a card full of coupons costs one verification, rarely more.
    """
    day = local_date(at)
    if zone is not None and (not isinstance(zone, int) or not ZONE_MIN <= zone <= ZONE_MAX):
        raise InvalidField(f"zone must be {ZONE_MIN}..{ZONE_MAX} or None, not {zone!r}")
    profile = effective_profile(card, day)

    def verdict(reason: Reason, coupon: SignedCoupon | None = None,
                when: date | None = None) -> Verdict:
        return Verdict(reason is Reason.VALID, reason, profile, coupon, when, zone)

    if card.status is CardStatus.BLOCKED or card.card_number in hotlist:
        return verdict(Reason.CARD_BLOCKED)
    if card.status is not CardStatus.ACTIVE:
        return verdict(Reason.CARD_NOT_ACTIVE)
    if day > card.expiry:
        return verdict(Reason.CARD_EXPIRED, when=card.expiry)

    end = profile_end(card)
    assessed: list[_Assessment] = []
    unreadable = False
    for entry in coupons:
        if isinstance(entry, SignedCoupon):
            if entry.coupon.coupon_type.dog is dog:
                assessed.append(_assess(card, entry, day, zone, end))
        elif isinstance(entry, SlotError):
            unreadable = True

    def genuine(signed: SignedCoupon) -> bool:
        return verifier.verify(signed, uid=uid, card_number=card.card_number)

    forged: SignedCoupon | None = None
    for candidate in sorted((a for a in assessed if a.reason is Reason.VALID), key=_rank):
        if genuine(candidate.signed):
            return verdict(Reason.VALID, candidate.signed, candidate.day)
        forged = forged or candidate.signed
    if forged is not None:
        return verdict(Reason.SIGNATURE_INVALID, forged)

    failures = sorted(assessed, key=_rank)
    if unreadable and (not failures or _rank(failures[0]) > _UNREADABLE_RANK):
        return verdict(Reason.COUPON_UNREADABLE)
    if not failures:
        return verdict(Reason.NO_COUPON)
    worst = failures[0]
    if not genuine(worst.signed):
        return verdict(Reason.SIGNATURE_INVALID, worst.signed)
    return verdict(worst.reason, worst.signed, worst.day)


def _rank(assessment: _Assessment) -> tuple[int, int]:
    return assessment.rank()


def judge_card(
    image: CardImage,
    *,
    at: datetime,
    zone: int | None,
    verifier: SignatureCheck,
    hotlist: Container[CardNumber] = frozenset(),
    dog: bool = False,
) -> Verdict:
    """:func:`judge` for a decoded card."""
    return judge(image.record, image.slots, uid=image.uid, at=at, zone=zone, verifier=verifier,
                 hotlist=hotlist, dog=dog)


# --- purchases -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """Why something cannot be done, with the passenger's message in English and Czech."""

    reason: Reason
    message_en: str
    message_cs: str

    @classmethod
    def of(cls, reason: Reason, **details: object) -> Refusal:
        return cls(reason, text(reason, "en", **details), text(reason, "cs", **details))

    def message(self, lang: str = "en") -> str:
        if lang == "cs":
            return self.message_cs
        if lang == "en":
            return self.message_en
        raise InvalidField(f"language must be 'en' or 'cs', not {lang!r}")


@dataclass(frozen=True)
class PurchaseRequest:
    """What the buyer asks for.

    ``zones`` may be any iterable of zone numbers (more than 10 make a network ticket).
    ``start`` None takes the suggested start (:func:`suggest_start`).  ``follows`` names the
    serial of the valid coupon this one continues.  ``profile`` None takes the card's profile on
    the start day; a personal card may also ask for the full fare (adult non-transferable).
    """

    coupon_type: CouponType
    zones: Zones | Iterable[int]
    channel: SaleChannel
    start: date | None = None
    follows: int | None = None
    profile: Profile | None = None
    widened: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "coupon_type", CouponType(self.coupon_type))
            object.__setattr__(self, "channel", SaleChannel(self.channel))
            if self.profile is not None:
                object.__setattr__(self, "profile", Profile(self.profile))
        except ValueError as exc:
            raise InvalidField(str(exc)) from None
        if not isinstance(self.zones, Zones):
            chosen = tuple(self.zones)
            zones = Zones.of(chosen)
            object.__setattr__(self, "zones", zones)
            object.__setattr__(self, "widened", zones.network)
        if self.start is not None and (not isinstance(self.start, date)
                                       or isinstance(self.start, datetime)):
            raise InvalidField("start must be a date")


@dataclass(frozen=True)
class PurchaseDecision:
    """The outcome of :func:`check_purchase`: the coupon to sell, or why not.

    When ``refusals`` is empty the purchase is accepted and :meth:`coupon` makes the coupon to
    sign.  ``usable_until`` is the last day the coupon can be used with this card (the card's
    expiry may cut it short); ``notes`` are what the buyer must be told.
    """

    refusals: tuple[Refusal, ...]
    coupon_type: CouponType
    profile: Profile
    zones: Zones
    channel: SaleChannel
    sale_date: date
    valid_from: date
    valid_to: date
    usable_until: date
    notes: tuple[Note, ...] = ()
    note_dates: tuple[date | None, ...] = field(default=(), repr=False)

    @property
    def ok(self) -> bool:
        return not self.refusals

    @property
    def refusal(self) -> Refusal | None:
        """The first refusal, or None when accepted."""
        return self.refusals[0] if self.refusals else None

    @property
    def reasons(self) -> tuple[Reason, ...]:
        return tuple(r.reason for r in self.refusals)

    def note_messages(self, lang: str = "en") -> tuple[str, ...]:
        return tuple(text(note, lang, date=day) for note, day in
                     zip(self.notes, self.note_dates, strict=True))

    def coupon(self, *, serial: int, device: int = 0, price: int = 0) -> Coupon:
        """The coupon to sign and load; InvalidField if the purchase was refused."""
        if self.refusals:
            raise InvalidField(f"the purchase was refused: {self.refusals[0].message_en}")
        return Coupon(serial, self.coupon_type, self.profile, self.zones, self.valid_from,
                      self.valid_to, self.sale_date, self.channel, device, price)


def _earliest_start(channel: SaleChannel, today: date) -> date:
    if channel is SaleChannel.ESHOP_BANK_TRANSFER:
        return today + timedelta(days=BANK_TRANSFER_DELAY)
    return today


def _followed(existing: Iterable[Coupon | SignedCoupon], serial: int,
              today: date) -> Coupon | None:
    for coupon in map(_coupon, existing):
        if coupon.serial == serial and coupon.valid_to >= today:
            return coupon
    return None


def suggest_start(
    existing: Iterable[Coupon | SignedCoupon],
    *,
    today: date,
    channel: SaleChannel,
    follows: int | None = None,
) -> date:
    """The start date to offer: the day after the followed coupon ends, or the earliest start
    the payment allows (today; 5 days later for a bank transfer), whichever is later."""
    earliest = _earliest_start(SaleChannel(channel), today)
    if follows is not None:
        followed = _followed(existing, follows, today)
        if followed is not None:
            return max(followed.valid_to + _DAY, earliest)
    return earliest


def check_purchase(
    card: CardRecord,
    existing: Iterable[Coupon | SignedCoupon],
    request: PurchaseRequest,
    *,
    today: date,
    hotlist: Container[CardNumber] = frozenset(),
) -> PurchaseDecision:
    """Apply the operator's purchase rules to ``request`` for ``card`` on the day ``today``.

    ``existing`` are all the card's coupons known to the seller (on the card and paid but not
    yet loaded).  Every rule that fails adds its own :class:`Refusal`, in a fixed order; an
    accepted purchase comes with its validity, the usable end and the notes for the buyer.
    """
    existing = tuple(map(_coupon, existing))
    refusals: list[Refusal] = []
    notes: list[tuple[Note, date | None]] = []
    kind = request.coupon_type

    if card.status is CardStatus.BLOCKED or card.card_number in hotlist:
        refusals.append(Refusal.of(Reason.CARD_BLOCKED))
    elif card.status is not CardStatus.ACTIVE:
        refusals.append(Refusal.of(Reason.CARD_NOT_ACTIVE))
    if today > card.expiry:
        refusals.append(Refusal.of(Reason.CARD_EXPIRED, date=card.expiry))

    if card.kind is CardKind.ANONYMOUS and not (kind.transferable or kind.dog):
        refusals.append(Refusal.of(Reason.ANONYMOUS_ONLY_TRANSFERABLE))
    if card.kind is CardKind.PERSONAL and kind.transferable:
        refusals.append(Refusal.of(Reason.TRANSFERABLE_ONLY_ANONYMOUS))

    earliest = _earliest_start(request.channel, today)
    if request.follows is not None and _followed(existing, request.follows, today) is None:
        refusals.append(Refusal.of(Reason.NOTHING_TO_FOLLOW, serial=request.follows))
    start = request.start
    if start is None:
        start = suggest_start(existing, today=today, channel=request.channel,
                              follows=request.follows)
        if start == earliest > today:  # the payment's delay, not a followed coupon, set it
            notes.append((Note.BANK_TRANSFER_START, start))
    if start < today:
        refusals.append(Refusal.of(Reason.START_IN_PAST, date=today))
    elif start < earliest:
        refusals.append(Refusal.of(Reason.BANK_TRANSFER_TOO_EARLY, date=earliest))
    valid_to = kind.end_date(start)

    at_start = effective_profile(card, start)
    profile = request.profile or at_start
    end = profile_end(card)
    if not kind.dog:
        allowed = {at_start, FALLBACK_PROFILE} if card.personal else {at_start}
        age_refused = _check_age(card, profile, start, refusals)
        if not age_refused and profile not in allowed:
            refusals.append(Refusal.of(Reason.PROFILE_NOT_ALLOWED, profile=profile, date=start))
        if profile is card.profile and end is not None:
            limit = end + timedelta(days=PROFILE_GRACE_DAYS)
            if valid_to > limit:
                refusals.append(Refusal.of(Reason.PROFILE_END_LIMIT, end=end, date=limit,
                                           valid_to=valid_to))
        if request.profile is None and profile is not card.profile and card.profile.discounted:
            notes.append((Note.PROFILE_FALLBACK, end))

    live = valid_or_future(existing, today)
    if len(live) >= MAX_VALID_COUPONS:
        refusals.append(Refusal.of(Reason.TOO_MANY_COUPONS, count=len(live)))

    if request.widened:
        notes.insert(0, (Note.NETWORK, None))
    usable_until = min(valid_to, card.expiry)
    if usable_until < valid_to:
        notes.append((Note.USABLE_UNTIL_CARD_EXPIRY, card.expiry))

    if refusals:
        log.info("purchase of %s refused: %s", kind.name,
                 ", ".join(r.reason.name for r in refusals))
    zones = request.zones
    assert isinstance(zones, Zones)  # PurchaseRequest made its zones Zones on construction
    return PurchaseDecision(
        refusals=tuple(refusals), coupon_type=kind, profile=profile, zones=zones,
        channel=request.channel, sale_date=today, valid_from=start, valid_to=valid_to,
        usable_until=usable_until, notes=tuple(n for n, _ in notes),
        note_dates=tuple(d for _, d in notes))


def _check_age(card: CardRecord, profile: Profile, start: date,
               refusals: list[Refusal]) -> bool:
    """Add the birth-date or age refusal for ``profile`` if due; True if one was added."""
    refusal = age_refusal(card, profile, start)
    if refusal is not None:
        refusals.append(refusal)
    return refusal is not None


def age_refusal(card: CardRecord, profile: Profile, on: date) -> Refusal | None:
    """Why the holder of ``card`` may not have ``profile`` on the day ``on`` (no birth date where
    the profile needs one, an age outside the profile's range), or None."""
    if profile.needs_birth_date and card.birth_date is None:
        return Refusal.of(Reason.BIRTH_DATE_REQUIRED, profile=profile)
    low, high = profile.age_range
    if card.birth_date is None or (low is None and high is None):
        return None
    age = age_on(card.birth_date, on)
    if (low is not None and age < low) or (high is not None and age >= high):
        return Refusal.of(Reason.AGE_NOT_ELIGIBLE, date=on, age=age, profile=profile)
    return None


# --- loading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadPlan:
    """Where a paid coupon goes on the card (or which slot a cancel or replace writes).

    ``slot`` is the slot to write (None: write nothing).  ``already_loaded`` is True when the
    card already holds the coupon (for a cancel or replace: the operation is done already):
    loading is idempotent, so that is a success.
    """

    slot: int | None
    already_loaded: bool = False
    refusal: Refusal | None = None

    @property
    def ok(self) -> bool:
        return self.refusal is None


def card_refusal(record: CardRecord, today: date) -> Refusal | None:
    """Why the card takes no new value on ``today`` (blocked, not active, expired), if it does
    not."""
    if record.status is CardStatus.BLOCKED:
        return Refusal.of(Reason.CARD_BLOCKED)
    if record.status is not CardStatus.ACTIVE:
        return Refusal.of(Reason.CARD_NOT_ACTIVE)
    if today > record.expiry:
        return Refusal.of(Reason.CARD_EXPIRED, date=record.expiry)
    return None


def _coupon_refusal(image: CardImage, signed: SignedCoupon, today: date,
                    verifier: SignatureCheck) -> Refusal | None:
    """Why the card does not take ``signed`` today, if it does not."""
    refusal = card_refusal(image.record, today)
    if refusal is not None:
        return refusal
    if not verifier.verify(signed, uid=image.uid, card_number=image.record.card_number):
        return Refusal.of(Reason.SIGNATURE_INVALID)
    if signed.coupon.valid_to < today:
        return Refusal.of(Reason.EXPIRED, date=signed.coupon.valid_to)
    return None


def logged_serial(events: Iterable[EventRecord | SlotError], serial: int,
                  kinds: Iterable[EventKind]) -> EventRecord | None:
    """The newest readable event of one of ``kinds`` that logs ``serial``, if the card's log
    holds one (how an operation retried after a tear finds that it is done)."""
    wanted = frozenset(kinds)
    found = [e for e in events if isinstance(e, EventRecord) and e.kind in wanted
             and e.coupon_serial == serial]
    return max(found, key=lambda e: e.sequence, default=None)


def same_coupon(image: CardImage, slot: int, signed: SignedCoupon,
                verifier: SignatureCheck) -> bool:
    """Whether slot ``slot`` of ``image`` holds the coupon ``signed``: the same bytes, or (an
    ECDSA signature differs each time it is made) the same coupon with both signatures the
    operator's for this card."""
    held = image.slots[slot]
    if not isinstance(held, SignedCoupon) or held.coupon != signed.coupon:
        return False
    if held == signed:
        return True
    uid, number = image.uid, image.record.card_number
    return (verifier.verify(held, uid=uid, card_number=number)
            and verifier.verify(signed, uid=uid, card_number=number))


def plan_load(image: CardImage, signed: SignedCoupon, *, today: date,
              verifier: SignatureCheck) -> LoadPlan:
    """Decide where to write ``signed`` on the card ``image``.

    Loading is idempotent by serial: a card that holds this coupon (:func:`same_coupon`) has it
    "already loaded" whatever else it holds or has become; a card that holds another coupon
    under this serial refuses it (SERIAL_HELD_BY_OTHER_COUPON): replacing a coupon is an
    explicit operation (:func:`plan_replace`), never a side effect of a load.

    Refused when the card is blocked, not active or expired, when the coupon's signature does
    not verify for this card, or when the coupon has already ended.  The slot chosen is, in
    order: an empty slot, the slot of the coupon that ended longest ago, a corrupt slot, a slot
    of an unknown newer format (the back office reloads whatever it held).  A slot with a coupon
    valid today or later is never overwritten.
    """
    existing = image.slot_of(signed.serial)
    if existing is not None:
        if same_coupon(image, existing, signed, verifier):
            return LoadPlan(existing, already_loaded=True)
        return LoadPlan(None, refusal=Refusal.of(Reason.SERIAL_HELD_BY_OTHER_COUPON,
                                                 serial=signed.serial))
    refusal = _coupon_refusal(image, signed, today, verifier)
    if refusal is not None:
        return LoadPlan(None, refusal=refusal)
    choices: list[tuple[int, int, int]] = []
    for index, slot in enumerate(image.slots):
        if slot is None:
            choices.append((0, 0, index))
        elif isinstance(slot, SignedCoupon):
            if slot.coupon.valid_to < today:
                choices.append((1, slot.coupon.valid_to.toordinal(), index))
        elif slot.kind is SlotErrorKind.CORRUPT:
            choices.append((2, 0, index))
        else:
            choices.append((3, 0, index))
    if not choices:
        return LoadPlan(None, refusal=Refusal.of(Reason.NO_FREE_SLOT))
    return LoadPlan(min(choices)[2])


# --- cancelling and replacing --------------------------------------------------------------------


def plan_cancel(image: CardImage, serial: int) -> LoadPlan:
    """Which slot to empty to cancel the coupon ``serial`` (a ticket office takes it back).

    Any card status: taking a coupon off is never a gain for the holder, and a blocked card's
    coupons are what a contact point settles.  A serial that is not on the card is refused
    (COUPON_NOT_ON_CARD) unless the card's log shows it cancelled: then the cancel is done
    (``already_loaded``, a retry after a tear).
    """
    slot = image.slot_of(serial)
    if slot is not None:
        return LoadPlan(slot)
    if logged_serial(image.events, serial, (EventKind.COUPON_CANCEL,)) is not None:
        return LoadPlan(None, already_loaded=True)
    return LoadPlan(None, refusal=Refusal.of(Reason.COUPON_NOT_ON_CARD, serial=serial))


def plan_replace(image: CardImage, serial: int, signed: SignedCoupon, *, today: date,
                 verifier: SignatureCheck) -> LoadPlan:
    """Which slot gets ``signed`` in place of the coupon ``serial``.

    ``signed`` is the same serial re-signed (a new key, the coupon corrected by the back office)
    or a coupon under a new serial that takes the old one's place (an exchange); it must be
    valid for this card like a coupon being loaded, and a new serial must not be on the card
    already (SERIAL_HELD_BY_OTHER_COUPON).  Done already (``already_loaded``) when the card
    holds ``signed`` where ``serial`` was: the slot holds it, or ``serial`` is gone, ``signed``
    is there and the card's log shows the replacement.
    """
    slot = image.slot_of(serial)
    if slot is None:
        held = image.slot_of(signed.serial)
        if (held is not None and same_coupon(image, held, signed, verifier)
                and logged_serial(image.events, serial, (EventKind.COUPON_REPLACE,)) is not None):
            return LoadPlan(held, already_loaded=True)
        return LoadPlan(None, refusal=Refusal.of(Reason.COUPON_NOT_ON_CARD, serial=serial))
    if same_coupon(image, slot, signed, verifier):
        return LoadPlan(slot, already_loaded=True)
    refusal = _coupon_refusal(image, signed, today, verifier)
    if refusal is not None:
        return LoadPlan(None, refusal=refusal)
    if signed.serial != serial and image.slot_of(signed.serial) is not None:
        return LoadPlan(None, refusal=Refusal.of(Reason.SERIAL_HELD_BY_OTHER_COUPON,
                                                 serial=signed.serial))
    return LoadPlan(slot)
