"""Test support for the validator: transit cards made on the emulator (issued, with coupons on
them, or a slot written as it is), the terminal's lists put into its store as a sync would, and
a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest

from ekarta.desfire import DESFire
from ekarta.emulator import VirtualCard
from ekarta.emulator.reader import EmulatorReader
from ekarta.emulator.state import CardState
from ekarta.sync.messages import (
    EntitledCoupon,
    Entitlement,
    EntitlementPage,
    Feed,
    HotlistItem,
    HotlistPage,
    slot_text,
)
from ekarta.terminal.store import TerminalStore
from ekarta.transit import (
    CardKind,
    CardRecord,
    CardStatus,
    Coupon,
    CouponType,
    Profile,
    SaleChannel,
    SignedCoupon,
    Zones,
)
from ekarta.transit.cardio.issuance import issue_card
from ekarta.transit.cardio.reading import authenticate
from ekarta.transit.codec.layout import SLOTS_FILE, KeyRole
from ekarta.transit.codec.records import SLOT_SIZE, encode_slot
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.notation import enum_name
from ekarta.transit.model.timecodec import PRAGUE
from ekarta.transit.security.keystore import FileKeyStore, create_keystore

__all__ = [
    "AT",
    "FIRST_NAME",
    "NUMBER",
    "RECORD",
    "SURNAME",
    "TODAY",
    "UID",
    "Clock",
    "coupon",
    "entitled",
    "make_card",
    "put_lists",
    "signed",
    "tap_again",
]

UID = bytes.fromhex("04A1B2C3D4E5F6")
NUMBER = CardNumber.from_serial(123456789)
TODAY = date(2026, 11, 20)
AT = datetime(2026, 11, 20, 9, 30, 15, tzinfo=PRAGUE)
FIRST_NAME, SURNAME = "Jana", "Nováková"
RECORD = CardRecord(NUMBER, CardKind.PERSONAL, CardStatus.ACTIVE, date(2030, 12, 31),
                    Profile.ADULT_NON_TRANSFERABLE, first_name=FIRST_NAME, surname=SURNAME)
EXPIRY = date(2030, 12, 31)


@dataclass
class Clock:
    """A clock the test sets and moves (``clock.now += timedelta(...)``)."""

    now: datetime = field(default_factory=lambda: AT.astimezone(UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def coupon(serial: int, start: date = date(2026, 11, 1), *, zones: Iterable[int] = (1, 2),
           kind: CouponType = CouponType.DAYS_30,
           profile: Profile = Profile.ADULT_NON_TRANSFERABLE) -> Coupon:
    return Coupon(serial, kind, profile, Zones(tuple(zones)), start, kind.end_date(start), start,
                  SaleChannel.TICKET_OFFICE, 0, 550)


def signed(keystore: FileKeyStore, c: Coupon, *, uid: bytes = UID,
           number: CardNumber = NUMBER) -> SignedCoupon:
    return keystore.signer().sign(c, uid=uid, card_number=number)


def make_card(keystore: FileKeyStore, record: CardRecord = RECORD, *,
              slots: Iterable[SignedCoupon | bytes] = (), uid: bytes = UID) -> CardState:
    """A card issued as ``record`` whose first slots hold ``slots`` (signed coupons, or a slot's
    raw bytes), written as they are with the load key (no rule asked)."""
    card = VirtualCard.new(uid=uid)
    reader = EmulatorReader(card=card)
    issue_card(DESFire(reader), keystore, record)
    raw = [encode_slot(s) if isinstance(s, SignedCoupon) else s for s in slots]
    if raw:
        card.reset()
        df = DESFire(reader)
        authenticate(df, keystore, KeyRole.LOAD, uid)
        df.write_data(SLOTS_FILE.file_no, b"".join(r.ljust(SLOT_SIZE, b"\0") for r in raw),
                      comm=SLOTS_FILE.comm)
        df.commit_transaction()
    card.reset()
    return card.state


def tap_again(card: VirtualCard) -> VirtualCard:
    """The card is held to the reader again: back in the field, powered up afresh."""
    if not card.present:
        card.insert()
    card.arm(None)
    card.reset()
    return card


def entitled(number: CardNumber = NUMBER, *, uid: bytes | None = UID,
             coupons: Iterable[tuple[SignedCoupon, str]] = (), status: str = "active",
             kind: str = "personal",
             profile: Profile = Profile.ADULT_NON_TRANSFERABLE,
             profile_end: date | None = None, expiry: date = EXPIRY) -> Entitlement:
    """The office's entry for a card, with ``coupons`` as (signed coupon, state) pairs."""
    return Entitlement(
        card_number=number.digits, uid=None if uid is None else uid.hex(), status=status,
        kind=kind, profile=enum_name(profile), profile_end=profile_end, expiry=expiry,
        coupons=tuple(EntitledCoupon(serial=s.serial, state=state, valid_from=s.coupon.valid_from,
                                     valid_to=s.coupon.valid_to, slot=slot_text(encode_slot(s)))
                      for s, state in coupons))


def put_lists(store: TerminalStore, *, hot: Iterable[tuple[CardNumber, bytes | None]] = (),
              entitlements: Iterable[Entitlement] = (), issued_at: datetime,
              valid_for: timedelta = timedelta(days=3)) -> None:
    """Both lists as a full sync issued at ``issued_at`` leaves them."""
    hotlist = HotlistPage(reset=True, more=False, items=tuple(
        HotlistItem(card_number=n.digits, uid=None if u is None else u.hex(), expiry=EXPIRY)
        for n, u in hot))
    for feed, page in ((Feed.HOTLIST, hotlist),
                       (Feed.ENTITLEMENTS, EntitlementPage(reset=True, more=False,
                                                           items=tuple(entitlements)))):
        cursor = store.feed_state(feed).cursor + 1
        store.apply_page(feed, page, cursor=cursor, issued_at=issued_at,
                         valid_until=issued_at + valid_for, now=issued_at)


@pytest.fixture
def clock() -> Clock:
    """The terminal's clock, at :data:`AT` (a module's own ``clock`` wins)."""
    return Clock()


@pytest.fixture
def store(tmp_path, clock: Clock) -> Iterator[TerminalStore]:
    """A terminal's store whose lists were synced two hours before ``clock`` (a module's own
    ``store`` wins)."""
    with TerminalStore.open(tmp_path / "store.sqlite", create=True) as store:
        put_lists(store, issued_at=clock.now - timedelta(hours=2))
        yield store


@pytest.fixture(scope="module")
def keystore(tmp_path_factory) -> FileKeyStore:
    """A full keystore for a module's tests (imported by the modules that use it)."""
    path = tmp_path_factory.mktemp("keys") / "keys.json"
    create_keystore(path)
    return FileKeyStore.load(path)
