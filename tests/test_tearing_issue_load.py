"""Acceptance 2: a card pulled away at any command of ``coupon load`` or of issuing is never left
corrupt.

For loading, the card is torn as each command arrives (and half-way through some): afterwards
it still decodes, with no unreadable slot or log record, and holds the coupon either once, with
its log record, or not at all; loading again then leaves it there exactly once.  For issuing,
the torn card reads (through ``ekarta card show``) as not a transit card, as not issued, or as the
complete card; ``ekarta card issue`` run again completes it.
"""

from __future__ import annotations

import shutil
from datetime import date, datetime

import pytest

from ekarta.cli import main
from ekarta.desfire import DESFire
from ekarta.emulator import Faults, VirtualCard
from ekarta.errors import CardRemovedError
from ekarta.readers import open_reader
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
from ekarta.transit.cardio.issuance import issue_card
from ekarta.transit.cardio.loading import load_coupon
from ekarta.transit.cardio.reading import read_card
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.timecodec import PRAGUE
from ekarta.transit.security.keystore import FileKeyStore, create_keystore

UID = bytes.fromhex("04A1B2C3D4E5F6")
NUMBER = int(CardNumber.from_serial(123456789))
AT = datetime(2026, 11, 20, 9, 30, tzinfo=PRAGUE)
RECORD = CardRecord(NUMBER, CardKind.PERSONAL, CardStatus.ACTIVE, date(2030, 12, 31),
                    Profile.ADULT_NON_TRANSFERABLE, first_name="Jana", surname="Nováková")

LOAD_COMMANDS = 24
"""SelectApplication 1, GetVersion 3 frames, AuthenticateAES 2, card record 3 frames, slots 9
frames, log settings 1, log 1, purse 1, slot write 1, log record write 1, commit 1 (on a card
holding one coupon and one log record)."""
ISSUE_COMMANDS = 38
"""A factory-fresh card: PICC key, settings, application, 4 files, 4 keys, the card record."""


def coupon(serial: int, start: date) -> Coupon:
    kind = CouponType.DAYS_30
    return Coupon(serial, kind, Profile.ADULT_NON_TRANSFERABLE, Zones((1, 2)), start,
                  kind.end_date(start), start, SaleChannel.TICKET_OFFICE)


@pytest.fixture(scope="module")
def keystore_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("keys") / "keys.json"
    create_keystore(path)
    return path


@pytest.fixture(scope="module")
def keystore(keystore_path):
    return FileKeyStore.load(keystore_path)


@pytest.fixture(scope="module")
def fresh_card(tmp_path_factory):
    path = tmp_path_factory.mktemp("fresh") / "card.json"
    VirtualCard.new(uid=UID).save(path)
    return path


@pytest.fixture(scope="module")
def loaded_card(tmp_path_factory, keystore, fresh_card):
    """An issued card holding one coupon (so the load under test goes to slot 1)."""
    path = tmp_path_factory.mktemp("loaded") / "card.json"
    shutil.copy(fresh_card, path)
    with open_reader(f"emulator:{path}") as reader:
        issue_card(DESFire(reader), keystore, RECORD)
        first = keystore.signer().sign(coupon(100, date(2026, 11, 1)), uid=UID,
                                       card_number=NUMBER)
        load_coupon(DESFire(reader), keystore, first, at=AT)
    return path


@pytest.fixture(scope="module")
def new_coupon(keystore):
    return keystore.signer().sign(coupon(200, date(2026, 12, 1)), uid=UID, card_number=NUMBER)


def _faults(kind: str, n: int, progress: float) -> Faults:
    return Faults(tear_after=n) if kind == "after" else Faults(tear_during=n,
                                                              tear_progress=progress)


def _load(path, keystore, signed, faults: Faults | None = None) -> bool:
    """Load ``signed`` onto the card at ``path``; True if it went through, False if torn."""
    with open_reader(f"emulator:{path}") as reader:
        if faults is not None:
            reader.card.arm(faults)
        try:
            load_coupon(DESFire(reader), keystore, signed, at=AT)
        except CardRemovedError:
            return False
        return True


def _image(path, keystore):
    with open_reader(f"emulator:{path}") as reader:  # a new tap: the card powers up
        return read_card(DESFire(reader), keystore)


def _check_load_outcome(image, serial: int) -> bool:
    """The card decodes cleanly and holds ``serial`` once with its log record, or not at all;
    returns whether it holds it."""
    assert image.errors == ()
    assert [c.serial for c in image.coupons].count(100) == 1
    holds = [c.serial for c in image.coupons].count(serial)
    logged = [e.coupon_serial for e in image.events if e.kind is EventKind.LOAD].count(serial)
    assert holds in (0, 1)
    assert logged == holds  # slot and log record change together
    return holds == 1


def test_load_takes_the_counted_commands(tmp_path, loaded_card, keystore, new_coupon):
    path = tmp_path / "card.json"
    shutil.copy(loaded_card, path)
    with open_reader(f"emulator:{path}") as reader:
        before = reader.card.commands_processed
        load_coupon(DESFire(reader), keystore, new_coupon, at=AT)
        assert reader.card.commands_processed - before == LOAD_COMMANDS


def _point(kind, n, progress, *, fast):
    marks = () if fast else (pytest.mark.slow,)
    return pytest.param(kind, n, progress, marks=marks, id=f"{kind}-{n}-{progress}")


def _load_points():
    # The fast loop tears after every command and half-way through the commit; the slow run
    # also half-way through every other command.
    points = [_point("after", n, 0.0, fast=True) for n in range(LOAD_COMMANDS + 1)]
    points += [_point("during", n, p, fast=n == LOAD_COMMANDS - 1)
               for n in range(LOAD_COMMANDS) for p in (0.1, 0.9)]
    return points


@pytest.mark.parametrize(("kind", "n", "progress"), _load_points(), ids=str)
def test_a_load_torn_anywhere_leaves_the_coupon_whole_or_absent(
        tmp_path, loaded_card, keystore, new_coupon, kind, n, progress):
    path = tmp_path / "card.json"
    shutil.copy(loaded_card, path)
    done = _load(path, keystore, new_coupon, _faults(kind, n, progress))
    holds = _check_load_outcome(_image(path, keystore), new_coupon.serial)
    last = LOAD_COMMANDS - 1  # CommitTransaction
    if kind == "after":
        assert done == (n == LOAD_COMMANDS)
        assert holds == done  # torn as a command arrived: committed only if the commit ran
    else:
        assert not done
        assert holds == (n == last and progress >= 0.5)
    # The terminal retries: the coupon ends up on the card exactly once.
    assert _load(path, keystore, new_coupon)
    assert _check_load_outcome(_image(path, keystore), new_coupon.serial)


# --- issuing --------------------------------------------------------------------------------------


def _issue_args(path, keystore_path) -> list[str]:
    return ["card", "issue", "--reader", f"emulator:{path}", "--keys", str(keystore_path),
            "--number", str(NUMBER), "--first-name", "Jana", "--surname", "Nováková",
            "--expiry", "2030-12-31"]


def _show(path, keystore_path, capsys) -> tuple[int, str, str]:
    code = main(["card", "show", "--reader", f"emulator:{path}", "--keys", str(keystore_path),
                 "--at", "2026-11-20T10:00"])
    out, err = capsys.readouterr()
    return code, out, err


def test_issue_takes_the_counted_commands(tmp_path, fresh_card, keystore):
    path = tmp_path / "card.json"
    shutil.copy(fresh_card, path)
    with open_reader(f"emulator:{path}") as reader:
        issue_card(DESFire(reader), keystore, RECORD)
        assert reader.card.commands_processed == ISSUE_COMMANDS


def _issue_points():
    # The fast loop tears every fourth command, the last one and one command half-way; the
    # slow run tears all of them.
    last = ISSUE_COMMANDS - 1
    points = [_point("after", n, 0.0, fast=n % 4 == 0 or n == last)
              for n in range(ISSUE_COMMANDS)]
    points += [_point("during", n, p, fast=(n, p) == (last, 0.9))
               for n in (3, 8, 12, 20, 30, last) for p in (0.1, 0.9)]
    return points


@pytest.mark.parametrize(("kind", "n", "progress"), _issue_points(), ids=str)
def test_an_issue_torn_anywhere_reads_as_not_issued_or_issued_and_completes(
        tmp_path, fresh_card, keystore, keystore_path, capsys, kind, n, progress):
    path = tmp_path / "card.json"
    shutil.copy(fresh_card, path)
    with open_reader(f"emulator:{path}") as reader:
        reader.card.arm(_faults(kind, n, progress))
        with pytest.raises(CardRemovedError):
            issue_card(DESFire(reader), keystore, RECORD)

    code, out, err = _show(path, keystore_path, capsys)
    committed = kind == "during" and n == ISSUE_COMMANDS - 1 and progress >= 0.5
    if committed:
        assert code == 3 and "no-coupon" in out  # the whole card, no coupon yet
        assert CardNumber.from_int(NUMBER).formatted in out
    else:
        assert code == 1 and out == ""
        assert "not a transit card" in err or "not issued" in err, err

    assert main(_issue_args(path, keystore_path)) == 0
    out = capsys.readouterr().out
    assert ("already issued" in out) == committed
    code, out, err = _show(path, keystore_path, capsys)
    assert code == 3 and "Jana Nováková" in out and err == ""
    assert _image(path, keystore).record == RECORD
