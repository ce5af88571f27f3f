"""Power loss during a coupon-sized write never leaves a mixed file.

A terminal writes a 48-byte coupon into a backup data file and appends a 32-byte event record,
then commits.  The card is torn (power lost) before each command of that transaction and in the
middle of each; afterwards both files must show either the old state or the new one, and both the
same one: CommitTransaction is the single moment the change takes effect.
"""

from __future__ import annotations

import pytest

from ekarta.desfire import AccessRights, DESFire, Key, KeySettings
from ekarta.emulator import Faults
from ekarta.errors import CardRemovedError
from ekarta.readers import open_reader

AID = 0x4B4101
KEY = Key.aes(bytes.fromhex("0F1E2D3C4B5A69788796A5B4C3D2E1F0"))
COUPON_FILE, LOG_FILE = 1, 2
OLD_COUPON = bytes([0xA5]) * 48
NEW_COUPON = bytes(range(100, 148))
OLD_RECORD = b"old-event".ljust(32, b".")
NEW_RECORD = b"new-event".ljust(32, b"!")


@pytest.fixture
def reader():
    with open_reader("emulator:") as reader:
        card = DESFire(reader)
        card.create_application(AID, KeySettings(), key_count=2, key_type="aes")
        card.select_application(AID)
        card.authenticate(0, Key.aes(bytes(16)), "aes")
        card.change_key(1, KEY, Key.aes(bytes(16)))
        rights = AccessRights(read=1, write=1, read_write=1, change=0)
        card.create_backup_data_file(COUPON_FILE, 48, comm="full", access=rights)
        card.create_cyclic_record_file(LOG_FILE, 32, 6, comm="mac", access=rights)
        card.authenticate(1, KEY, "aes")
        card.write_data(COUPON_FILE, OLD_COUPON)
        card.write_record(LOG_FILE, OLD_RECORD)
        card.commit_transaction()
        yield reader


def write_coupon(reader) -> None:
    card = DESFire(reader)
    card.select_application(AID)
    card.authenticate(1, KEY, "aes")
    card.write_data(COUPON_FILE, NEW_COUPON, comm="full")
    card.write_record(LOG_FILE, NEW_RECORD, comm="mac")
    card.commit_transaction()


def card_contents(reader) -> tuple[bytes, list[bytes]]:
    card = DESFire(reader)
    card.select_application(AID)
    card.authenticate(1, KEY, "aes")
    return (card.read_data(COUPON_FILE, comm="full"),
            card.read_records(LOG_FILE, comm="mac", record_size=32))


def count_commands(reader) -> int:
    before = reader.card.commands_processed
    write_coupon(reader)
    return reader.card.commands_processed - before


OLD_STATE = (OLD_COUPON, [OLD_RECORD])
NEW_STATE = (NEW_COUPON, [OLD_RECORD, NEW_RECORD])


def test_the_transaction_without_faults_writes_both_files(reader):
    write_coupon(reader)
    assert card_contents(reader) == NEW_STATE


def _tear_points():
    # the transaction is select, two authentication frames, write, write, commit: 6 commands
    points = [("after", n, None) for n in range(7)]
    points += [("during", n, progress) for n in range(6) for progress in (0.1, 0.5, 0.9)]
    return points


@pytest.mark.parametrize(("kind", "n", "progress"), _tear_points(),
                         ids=lambda v: str(v))
def test_a_torn_write_leaves_the_files_old_or_new(reader, kind, n, progress):
    if kind == "after":
        reader.card.arm(Faults(tear_after=n))
    else:
        reader.card.arm(Faults(tear_during=n, tear_progress=progress))
    try:
        write_coupon(reader)
        torn = False
    except CardRemovedError:
        torn = True
    reader.card.arm(Faults())
    reader.card.insert()
    state = card_contents(reader)
    assert state in (OLD_STATE, NEW_STATE), state
    if kind == "after" and n < 6:
        assert torn and state == OLD_STATE
    if kind == "during" and n < 5:
        assert torn and state == OLD_STATE
    if kind == "during" and n == 5:
        assert torn
        assert state == (NEW_STATE if progress >= 0.5 else OLD_STATE)


def test_the_tear_points_cover_every_command(reader):
    assert count_commands(reader) == 6
