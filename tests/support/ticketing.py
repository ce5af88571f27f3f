"""A validator's application on a card: what the tearing, removal and reader contract tests
personalise, the transaction they interrupt, and how they read the outcome.

The application (AES keys; key 1 the validator's) holds a ticket in a backup data file (48 bytes,
enciphered), a journal of 32-byte entries in a cyclic record file (MACed) and a purse in a value
file (MACed).  :func:`personalise` leaves the old ticket and one old entry committed.
:func:`validate` is the validator's transaction, :data:`COMMANDS` APDUs: select, authenticate (two
frames), write the new ticket, append the new entry, debit the fare, commit.  Until the commit
(APDU :data:`COMMIT`) takes effect the card shows :data:`OLD_STATE`, after it :data:`NEW_STATE`;
never a mix.

Each function takes the client's ``rng`` (:func:`tests.support.apdu.counting_rng`) for a
conversation that a ``replay:`` reader can play back.
"""

from __future__ import annotations

from collections.abc import Callable

from ekarta.desfire import AccessRights, DESFire, Key, KeySettings
from ekarta.readers import Transceiver

__all__ = [
    "AID", "COMMANDS", "COMMIT", "KEY", "NEW_STATE", "OLD_STATE", "BeforeCommand", "State",
    "contents", "personalise", "validate",
]

Rng = Callable[[int], bytes]
State = tuple[bytes, list[bytes], int]
"""The ticket, the journal's entries (oldest first) and the purse's value."""

AID = 0x7A0001
KEY = Key.aes(bytes.fromhex("8899AABBCCDDEEFF0011223344556677"))
TICKET_FILE, JOURNAL_FILE, PURSE_FILE = 1, 2, 3
TICKET_SIZE, ENTRY_SIZE, JOURNAL_RECORDS = 48, 32, 6
OLD_TICKET = b"ticket:old".ljust(TICKET_SIZE, b".")
NEW_TICKET = b"ticket:new".ljust(TICKET_SIZE, b"!")
OLD_ENTRY = b"entry:old".ljust(ENTRY_SIZE, b".")
NEW_ENTRY = b"entry:new".ljust(ENTRY_SIZE, b"!")
BALANCE, FARE = 1000, 35

OLD_STATE: State = (OLD_TICKET, [OLD_ENTRY], BALANCE)
NEW_STATE: State = (NEW_TICKET, [OLD_ENTRY, NEW_ENTRY], BALANCE - FARE)
#: select, authenticate (2 frames), write the ticket, append the entry, debit, commit
COMMANDS = 7
#: the index (0-based) of the CommitTransaction APDU in :func:`validate`
COMMIT = COMMANDS - 1


def personalise(reader: Transceiver, rng: Rng | None = None) -> None:
    """Create the application on a factory-fresh card; commit the old ticket and entry."""
    card = DESFire(reader, rng=rng)
    card.create_application(AID, KeySettings(), key_count=2, key_type="aes")
    card.select_application(AID)
    card.authenticate(0, Key.aes(bytes(16)), "aes")
    card.change_key(1, KEY, Key.aes(bytes(16)))
    rights = AccessRights(read=1, write=1, read_write=1, change=0)
    card.create_backup_data_file(TICKET_FILE, TICKET_SIZE, comm="full", access=rights)
    card.create_cyclic_record_file(JOURNAL_FILE, ENTRY_SIZE, JOURNAL_RECORDS, comm="mac",
                                   access=rights)
    card.create_value_file(PURSE_FILE, lower_limit=0, upper_limit=10_000, value=BALANCE,
                           comm="mac", access=rights)
    card.authenticate(1, KEY, "aes")
    card.write_data(TICKET_FILE, OLD_TICKET)
    card.write_record(JOURNAL_FILE, OLD_ENTRY)
    card.commit_transaction()


def validate(reader: Transceiver, rng: Rng | None = None) -> None:
    """The validator's transaction: :data:`COMMANDS` APDUs (see the module docstring)."""
    card = DESFire(reader, rng=rng)
    card.select_application(AID)
    card.authenticate(1, KEY, "aes")
    card.write_data(TICKET_FILE, NEW_TICKET, comm="full")
    card.write_record(JOURNAL_FILE, NEW_ENTRY, comm="mac")
    card.debit(PURSE_FILE, FARE, comm="mac")
    card.commit_transaction()


def contents(reader: Transceiver, rng: Rng | None = None) -> State:
    """What the card holds now: the ticket, the journal and the purse."""
    card = DESFire(reader, rng=rng)
    card.select_application(AID)
    card.authenticate(1, KEY, "aes")
    return (card.read_data(TICKET_FILE, comm="full"),
            card.read_records(JOURNAL_FILE, comm="mac", record_size=ENTRY_SIZE),
            card.get_value(PURSE_FILE, comm="mac"))


class BeforeCommand:
    """Passes APDUs to ``reader``, and calls ``action()`` just before APDU number ``index``
    (0-based) goes out: a card taken away, or torn, at a chosen point of a transaction."""

    def __init__(self, reader: Transceiver, index: int, action: Callable[[], object]) -> None:
        self.reader, self.index, self.action = reader, index, action
        self.sent = 0

    def transceive(self, apdu: bytes) -> bytes:
        if self.sent == self.index:
            self.action()
        self.sent += 1
        return self.reader.transceive(apdu)
