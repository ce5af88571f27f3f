"""The messages terminals and the office exchange, as typed models (pydantic): the office's API
declares them in its OpenAPI schema and checks every request against them, and a terminal checks
every response the same way.

Three feeds go to terminals, each a sequence of pages in signed envelopes
(:mod:`~ekarta.sync.envelope`, ``kind`` = the feed's name, ``cursor`` = the last change the page
holds):

- ``hotlist``: the blocked cards a terminal must refuse (:class:`HotlistItem`);
- ``entitlements``: per card number what the office knows and holds for it, with its signed
  coupons and no names (:class:`Entitlement`);
- ``actions``: what a terminal able to do it must do to a card (:class:`ActionItem`).

A page (:class:`HotlistPage`, ...) holds the items changed after the terminal's cursor and the
keys of those removed; ``reset`` says that the terminal's cursor was too old (or 0) and the pages
up to the last one (``more`` false) are a full snapshot: what is not in them is to be dropped.

Terminals push their journals as :class:`JournalBatch` and get a :class:`JournalAck` naming every
event the office holds from the batch (a resent event is acknowledged again and stored once).

The personal data of a holder is in none of these models: a card number, a UID, a profile and
dates are all a terminal ever receives or sends.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Literal, Self
from uuid import UUID

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from ekarta.sync.roles import DeviceRole
from ekarta.transit.errors import InvalidCardNumber
from ekarta.transit.model.card_number import CardNumber, check_digit_holds
from ekarta.transit.model.values import ZONE_MAX

__all__ = [
    "API_PREFIX",
    "FEED_ROLES",
    "JOURNAL_BATCH_MAX",
    "PAGE_MAX",
    "ROLE_ACTIONS",
    "ROW_ID_MAX",
    "ActionItem",
    "ActionKind",
    "ActionPage",
    "CardNumberText",
    "DeviceView",
    "EntitledCoupon",
    "Entitlement",
    "EntitlementPage",
    "Feed",
    "HotlistItem",
    "HotlistPage",
    "JournalAck",
    "JournalBatch",
    "JournalEvent",
    "JournalKind",
    "Lease",
    "ListedCardNumber",
    "Message",
    "SlotText",
    "UidText",
    "slot_bytes",
    "slot_text",
]

API_PREFIX = "/v1"
PAGE_MAX = 50_000
"""The most items one feed page holds (a terminal asks for fewer with ``limit``)."""
JOURNAL_BATCH_MAX = 1_000
"""The most events one journal batch holds."""
NOTE_MAX = 200
SLOT_TEXT_MAX = 256
"""A coupon slot is 96 bytes: 128 characters of base64; anything longer is not one."""


class Message(BaseModel):
    """Every sync message: immutable, and no field it does not declare."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def _card_number(text: str) -> str:
    # the pattern has made sure of the 10 digits: only the check digit is left to check (without
    # a CardNumber: a terminal's full sync checks hundreds of thousands)
    if check_digit_holds(text):
        return text
    try:
        CardNumber(text)
    except InvalidCardNumber as exc:
        raise ValueError(str(exc)) from None
    raise ValueError("not a card number")  # pragma: no cover  # the two checks agree


SLOT_PATTERN = r"^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"
"""Base64 as :func:`slot_text` writes it, checked by the validator's own regular expressions
(a Python check per coupon would cost a full sync more than the rest of the coupon)."""


CardNumberText = Annotated[str, Field(min_length=10, max_length=10, pattern=r"^[0-9]{10}$"),
                           AfterValidator(_card_number)]
"""A card number (IDK): its 10 digits, the check digit checked."""
ListedCardNumber = Annotated[str, Field(min_length=10, max_length=10, pattern=r"^[0-9]{10}$")]
"""A card number in a feed's item: 10 digits, whose check digit the page checks (see
:class:`HotlistPage`)."""
UidText = Annotated[str, Field(pattern=r"^(?:[0-9a-f]{8}|[0-9a-f]{14}|[0-9a-f]{20})$")]
"""A card's UID in lower-case hex: 4, 7 or 10 bytes."""
SlotText = Annotated[str, Field(min_length=4, max_length=SLOT_TEXT_MAX, pattern=SLOT_PATTERN)]
"""A signed coupon as a card slot holds it, in base64
(:func:`~ekarta.transit.codec.records.encode_slot`)."""
Serial = Annotated[int, Field(ge=1, le=2**32 - 1)]


def _note(text: str) -> str:
    # what a database column can hold: no NUL, no lone surrogate
    if "\x00" in text:
        raise ValueError("a note holds no NUL character")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("a note is valid Unicode text") from None
    return text


ROW_ID_MAX = 2**31 - 1
RowId = Annotated[int, Field(ge=1, le=ROW_ID_MAX)]
"""The office's number of a record (an action): a database key of 32 bits."""
NoteText = Annotated[str, Field(max_length=NOTE_MAX), AfterValidator(_note)]


def slot_text(slot: bytes) -> str:
    return base64.b64encode(slot).decode("ascii")


def slot_bytes(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


class Feed(StrEnum):
    HOTLIST = "hotlist"
    ENTITLEMENTS = "entitlements"
    ACTIONS = "actions"


class ActionKind(StrEnum):
    LOAD_COUPON = "load-coupon"
    CREDIT_PURSE = "credit-purse"
    WRITE_BLOCKED = "write-blocked"
    UPDATE_PROFILE = "update-profile"
    ACTIVATE = "activate"
    """A card sent by post and activated by its holder at the office: its chip still says
    produced until a terminal writes it active."""


ROLE_ACTIONS: dict[DeviceRole, frozenset[ActionKind]] = {
    DeviceRole.VALIDATOR: frozenset(),
    DeviceRole.INSPECTOR: frozenset(ActionKind),
    DeviceRole.KIOSK: frozenset(ActionKind),
    DeviceRole.OFFICE: frozenset(ActionKind),
}
"""The actions each role performs.  A validator performs none from the office (it writes the
blocked status of a card it finds on its hotlist by itself), so it is never given any."""

FEED_ROLES: dict[Feed, frozenset[DeviceRole]] = {
    Feed.HOTLIST: frozenset(DeviceRole),
    Feed.ENTITLEMENTS: frozenset(DeviceRole),
    Feed.ACTIONS: frozenset(r for r, kinds in ROLE_ACTIONS.items() if kinds),
}
"""Which roles may pull each feed."""


# --- the feeds -----------------------------------------------------------------------------------


class HotlistItem(Message):
    """A blocked card a terminal must refuse (and write the blocked status onto)."""

    card_number: ListedCardNumber
    uid: UidText | None = None
    expiry: date
    """The card's expiry: after it the entry leaves the list (the card is refused anyway)."""


class EntitledCoupon(Message):
    """A valid or future coupon the office holds for a card, signed for the card's UID and
    number: ``pending`` is paid but not yet on the card, ``written`` a terminal reported
    loaded."""

    serial: Serial
    state: Literal["pending", "written"]
    valid_from: date
    valid_to: date
    slot: SlotText


class Entitlement(Message):
    """What the office knows and holds for one card: enough to judge it by its number when its
    chip cannot be read, and no names."""

    card_number: ListedCardNumber
    uid: UidText | None = None
    status: Literal["ordered", "produced", "active", "blocked"]
    kind: Literal["personal", "anonymous"]
    profile: str = Field(max_length=32)
    profile_end: date | None = None
    expiry: date
    coupons: tuple[EntitledCoupon, ...] = Field(default=(), max_length=64)


class ActionItem(Message):
    """One thing a terminal must do to a card the next time it sees it.

    ``load-coupon``: ``slot`` holds the signed coupon (``serial`` its serial);
    ``credit-purse``: ``amount`` haléř under the operation ``serial``;
    ``write-blocked`` and ``activate``: no more; ``update-profile``: ``profile`` and
    ``profile_end``.
    """

    id: RowId
    card_number: ListedCardNumber
    uid: UidText | None = None
    kind: ActionKind
    serial: Serial | None = None
    slot: SlotText | None = None
    amount: Annotated[int, Field(ge=1, le=10**9)] | None = None
    profile: str | None = Field(default=None, max_length=32)
    profile_end: date | None = None


def _check_digits(numbers: Iterable[str]) -> None:
    listed = tuple(numbers)
    if not all(map(check_digit_holds, listed)):
        for number in listed:
            _card_number(number)  # the usual reason for the first that fails


class _Page(Message):
    """A page of a feed.  Its card numbers' check digits are checked together once the page is
    parsed: a check called per number from the parser cost a full sync of 400,000 items a
    tenth of its time, for a list the office signed."""

    reset: bool
    """The items up to the last page are the whole feed: drop what they do not hold."""
    more: bool
    """Another page follows after this one's cursor."""

    def _card_numbers(self) -> Iterable[str]:
        return ()

    @model_validator(mode="after")
    def _listed_numbers_hold(self) -> Self:
        _check_digits(self._card_numbers())
        return self


class HotlistPage(_Page):
    items: tuple[HotlistItem, ...] = Field(default=(), max_length=PAGE_MAX)
    removed: tuple[ListedCardNumber, ...] = Field(default=(), max_length=PAGE_MAX)

    def _card_numbers(self) -> Iterable[str]:
        return (*(item.card_number for item in self.items), *self.removed)


class EntitlementPage(_Page):
    items: tuple[Entitlement, ...] = Field(default=(), max_length=PAGE_MAX)
    removed: tuple[ListedCardNumber, ...] = Field(default=(), max_length=PAGE_MAX)

    def _card_numbers(self) -> Iterable[str]:
        return (*(item.card_number for item in self.items), *self.removed)


class ActionPage(_Page):
    items: tuple[ActionItem, ...] = Field(default=(), max_length=PAGE_MAX)
    removed: tuple[RowId, ...] = Field(default=(), max_length=PAGE_MAX)

    def _card_numbers(self) -> Iterable[str]:
        return (item.card_number for item in self.items)


class Lease(Message):
    """An action reserved for one device until ``until``: others are refused it meanwhile."""

    action_id: int
    device: str
    until: datetime
    contested: bool = False
    """A lease on the action ran out before on another device that had not reported it done:
    that device may have done it while out of reach, so the card must show it was not (a coupon
    is on the card by its serial; a purse credit only in the card's log, while it has kept every
    record)."""


# --- the journal ---------------------------------------------------------------------------------


class JournalKind(StrEnum):
    VALIDATION = "validation"
    INSPECTION = "inspection"
    LOAD = "load"
    PURSE_CREDIT = "purse-credit"
    PROFILE_UPDATE = "profile-update"
    BLOCKING = "blocking"
    KIOSK_VIEW = "kiosk-view"
    REFUSAL = "refusal"
    ACTIVATION = "activation"


class JournalEvent(Message):
    """One thing a terminal did, reported later: ``event_id`` is the terminal's own (a UUID),
    which makes a resent event harmless.  ``result`` is the verdict's reason code (0: valid or
    done).  ``action_id`` names the office's action a load, credit, profile update or blocking
    performed; ``coupons`` the serials of the coupons the card held when read.  No names: the
    ``note`` is the inspector's (a fine's number), never the holder's."""

    event_id: UUID
    kind: JournalKind
    at: AwareDatetime
    card_number: CardNumberText | None = None
    result: Annotated[int, Field(ge=0, le=63)] = 0
    line: Annotated[int, Field(ge=1, le=65535)] | None = None
    vehicle: Annotated[int, Field(ge=1, le=65535)] | None = None
    zone: Annotated[int, Field(ge=1, le=ZONE_MAX)] | None = None
    coupon_serial: Serial | None = None
    action_id: RowId | None = None
    amount: Annotated[int, Field(ge=0, le=10**9)] | None = None
    note: NoteText | None = None
    coupons: tuple[SlotText, ...] | None = Field(default=None, max_length=16)
    """The signed coupons the card held when read (inspection, kiosk view), so that the office
    sells against what is on the card."""


class JournalBatch(Message):
    events: tuple[JournalEvent, ...] = Field(min_length=1, max_length=JOURNAL_BATCH_MAX)


class JournalAck(Message):
    """Every event of the batch the office now holds (stored by this batch or before)."""

    acknowledged: tuple[UUID, ...]


class DeviceView(Message):
    """Who a token belongs to (``GET /v1/device``)."""

    name: str
    role: DeviceRole
