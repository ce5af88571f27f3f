"""Acceptance 3: a ticket office's card operations torn at every command leave the card whole.

Each operation (e-purse credit, debit and refund; coupon cancel and replace) runs on a card that
holds a coupon and a balance, and the card is torn as each of its commands arrives and half-way
through each (:class:`~ekarta.emulator.Faults`).  Afterwards the card, saved and loaded back,
still decodes with no unreadable slot or log record, and holds the change with its log record or
neither; the operation retried then leaves the change on the card exactly once.

The sweep over every command is slow (marked so); the fast loop tears each operation around its
commit, where a tear decides the outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime

import pytest

from ekarta.desfire import DESFire
from ekarta.emulator import Faults, VirtualCard
from ekarta.emulator.reader import EmulatorReader
from ekarta.errors import CardRemovedError
from ekarta.transit import (
    CardKind,
    CardRecord,
    CardStatus,
    Coupon,
    CouponType,
    EventKind,
    Profile,
    SaleChannel,
    Zones,
)
from ekarta.transit.cardio.coupons import cancel_coupon, replace_coupon
from ekarta.transit.cardio.issuance import issue_card
from ekarta.transit.cardio.loading import load_coupon
from ekarta.transit.cardio.purse import credit_purse, debit_purse, refund_purse
from ekarta.transit.cardio.reading import read_card
from ekarta.transit.model.image import CardImage
from ekarta.transit.model.timecodec import PRAGUE
from ekarta.transit.security.keystore import FileKeyStore

UID = bytes.fromhex("04E1E2E3E4E5E6")
NUMBER = 1234567894
AT = datetime(2026, 11, 20, 9, 30, tzinfo=PRAGUE)
RECORD = CardRecord(NUMBER, CardKind.PERSONAL, CardStatus.ACTIVE, date(2030, 12, 31),
                    Profile.ADULT_NON_TRANSFERABLE, first_name="Jana", surname="Nováková")
BALANCE = 5_000
START = date(2026, 11, 20)
COUPON = Coupon(100, CouponType.DAYS_30, Profile.ADULT_NON_TRANSFERABLE, Zones((1, 2)), START,
                CouponType.DAYS_30.end_date(START), START, SaleChannel.TICKET_OFFICE, 0, 550)
WIDER = replace(COUPON, zones=Zones((1, 2, 3)))


@pytest.fixture(scope="module")
def base(tmp_path_factory, keystore):
    """A card file holding the coupon 100 and a balance of 50 CZK."""
    path = tmp_path_factory.mktemp("base") / "card.json"
    with EmulatorReader(card=VirtualCard.new(uid=UID)) as reader:
        issue_card(DESFire(reader), keystore, RECORD)
        signed = keystore.signer().sign(COUPON, uid=UID, card_number=NUMBER)
        load_coupon(DESFire(reader), keystore, signed, at=AT)
        credit_purse(DESFire(reader), keystore, BALANCE, serial=1, at=AT)
        reader.card.save(path)
    return path


@dataclass(frozen=True)
class Operation:
    run: Callable[[DESFire, FileKeyStore], object]
    kind: EventKind
    serial: int
    changed: Callable[[CardImage], bool]
    unchanged: Callable[[CardImage], bool]


def _slot0(image: CardImage) -> Coupon | None:
    slot = image.slots[0]
    return getattr(slot, "coupon", None)


def _replace(desfire: DESFire, keys: FileKeyStore) -> object:
    new = keys.signer().sign(WIDER, uid=UID, card_number=NUMBER)
    return replace_coupon(desfire, keys, 100, new, at=AT)


OPERATIONS = {
    "credit": Operation(lambda d, k: credit_purse(d, k, 1_000, serial=11, at=AT),
                        EventKind.PURSE_CREDIT, 11, lambda i: i.purse == BALANCE + 1_000,
                        lambda i: i.purse == BALANCE),
    "debit": Operation(lambda d, k: debit_purse(d, k, 700, serial=12, at=AT),
                       EventKind.PURSE_DEBIT, 12, lambda i: i.purse == BALANCE - 700,
                       lambda i: i.purse == BALANCE),
    "refund": Operation(lambda d, k: refund_purse(d, k, serial=13, at=AT),
                        EventKind.PURSE_REFUND, 13, lambda i: i.purse == 0,
                        lambda i: i.purse == BALANCE),
    "cancel": Operation(lambda d, k: cancel_coupon(d, k, 100, at=AT), EventKind.COUPON_CANCEL,
                        100, lambda i: i.slots[0] is None, lambda i: _slot0(i) == COUPON),
    "replace": Operation(_replace, EventKind.COUPON_REPLACE, 100,
                         lambda i: _slot0(i) == WIDER, lambda i: _slot0(i) == COUPON),
}


def _card(base) -> VirtualCard:
    return VirtualCard.load(base)


def _attempt(card: VirtualCard, keystore, op: Operation, faults: Faults | None = None) -> bool:
    """Run ``op`` on the card; True if it went through, False if the card was torn."""
    card.insert()
    card.reset()
    reader = EmulatorReader(card=card)
    if faults is not None:
        card.arm(faults)
    try:
        op.run(DESFire(reader), keystore)
    except CardRemovedError:
        return False
    finally:
        card.arm(None)
    return True


def _outcome(card: VirtualCard, keystore, op: Operation, tmp_path) -> bool:
    """The card, saved and loaded back, decodes cleanly and holds the change with its log
    record or neither; returns whether it holds the change."""
    card.save(tmp_path / "torn.json")
    card = VirtualCard.load(tmp_path / "torn.json")
    with EmulatorReader(card=card) as reader:
        image = read_card(DESFire(reader), keystore)
    assert image.errors == ()
    changed, unchanged = op.changed(image), op.unchanged(image)
    assert changed != unchanged
    logged = [e for e in image.events if e.kind is op.kind and e.coupon_serial == op.serial]
    assert len(logged) == int(changed)
    assert [e.sequence for e in image.events] == list(range(1, len(image.events) + 1))
    return changed


def _commands(base, keystore, op: Operation) -> int:
    card = _card(base)
    card.insert()
    before = card.commands_processed
    assert _attempt(card, keystore, op)
    return card.commands_processed - before


def _tear(base, keystore, op: Operation, faults: Faults, tmp_path) -> tuple[bool, bool]:
    card = _card(base)
    done = _attempt(card, keystore, op, faults)
    holds = _outcome(card, keystore, op, tmp_path)
    # The ticket office retries: the change ends up on the card exactly once.
    assert _attempt(card, keystore, op)
    assert _outcome(card, keystore, op, tmp_path)
    return done, holds


def _check(base, keystore, op: Operation, kind: str, n: int, progress: float, count: int,
           tmp_path) -> None:
    faults = (Faults(tear_after=n) if kind == "after"
              else Faults(tear_during=n, tear_progress=progress))
    done, holds = _tear(base, keystore, op, faults, tmp_path)
    commit = count - 1
    if kind == "after":
        assert done == (n == count)
        assert holds == done  # torn as a command arrived: changed only if the commit ran
    else:
        assert not done
        assert holds == (n == commit and progress >= 0.5)


@pytest.mark.parametrize("name", OPERATIONS)
def test_an_operation_torn_around_its_commit_is_whole_or_absent(base, keystore, tmp_path, name):
    op = OPERATIONS[name]
    count = _commands(base, keystore, op)
    for kind, n, progress in (("after", count - 1, 0.0), ("during", count - 1, 0.1),
                              ("during", count - 1, 0.9), ("after", count - 2, 0.0)):
        _check(base, keystore, op, kind, n, progress, count, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", OPERATIONS)
def test_an_operation_torn_at_every_command_is_whole_or_absent(base, keystore, tmp_path, name):
    op = OPERATIONS[name]
    count = _commands(base, keystore, op)
    assert count > 10  # the whole tap: select, authenticate, read, write, log, commit
    for n in range(count + 1):
        _check(base, keystore, op, "after", n, 0.0, count, tmp_path)
    for n in range(count):
        for progress in (0.1, 0.9):
            _check(base, keystore, op, "during", n, progress, count, tmp_path)
