"""Acceptance 5: a card removed or torn mid-transaction through the control interface.

A stored card is served with a control interface (:class:`~ekarta.emulator.serve.EmulatorServer`)
and a validator runs its transaction on it: select the transit application, authenticate with an
AES key, write the new ticket into a backup data file, append a record to the journal, debit the
purse, commit.  Between two of its commands (or during the commit) the card is taken away by a
command sent to the control interface, as a test harness or a person at another terminal would.
The client must get a clear :class:`~ekarta.errors.CardRemovedError`, and once the card is back
its files must be as the tear rules say (:mod:`ekarta.emulator.faults`): all old unless the commit
got far enough, then all new; never a mix.  The same holds for the card file on disk.

The client reaches the served card through :class:`HostReader`, a reader straight over the
:class:`~ekarta.emulator.host.CardHost`; the ``reader`` fixture is the one place to parametrise
over the real transports (``tests/support/<name>.py``: ``serve_<name>(host)`` yields a URL).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from ekarta.desfire import AccessRights, DESFire, Key, KeySettings
from ekarta.emulator import ATQA, SAK, CardHost, CardMute, CardTorn, VirtualCard
from ekarta.emulator.control import send_control
from ekarta.emulator.serve import EmulatorServer
from ekarta.errors import CardRemovedError, ReaderError, ReaderTimeout
from ekarta.readers.base import CardInfo, Reader

AID = 0x7A0001
KEY = Key.aes(bytes.fromhex("8899AABBCCDDEEFF0011223344556677"))
TICKET_FILE, JOURNAL_FILE, PURSE_FILE = 1, 2, 3
OLD_TICKET = b"ticket:old".ljust(32, b".")
NEW_TICKET = b"ticket:new".ljust(32, b"!")
OLD_ENTRY = b"entry:old".ljust(16, b".")
NEW_ENTRY = b"entry:new".ljust(16, b"!")
BALANCE, FARE = 1000, 35

OLD_STATE = (OLD_TICKET, [OLD_ENTRY], BALANCE)
NEW_STATE = (NEW_TICKET, [OLD_ENTRY, NEW_ENTRY], BALANCE - FARE)
#: select, authenticate (2 frames), write the ticket, write the journal, debit, commit
COMMANDS = 7
COMMIT = COMMANDS - 1
TIMEOUT = 5.0


class HostReader(Reader):
    """A reader over a served :class:`CardHost`: a torn or removed card is a CardRemovedError."""

    def __init__(self, host: CardHost) -> None:
        super().__init__("host:card")
        self.host = host

    def transceive(self, apdu: bytes) -> bytes:
        if self.closed:
            raise ReaderError(f"{self.url}: the reader is closed")
        try:
            return self.host.transceive(apdu)
        except CardTorn as exc:
            self._card_info = None
            raise CardRemovedError(f"{self.url}: the card left the field: {exc}") from exc
        except CardMute as exc:
            raise ReaderTimeout(f"{self.url}: the card did not answer") from exc

    @property
    def card_present(self) -> bool:
        return not self.closed and self.host.present

    def wait_for_card(self, timeout: float | None = None) -> CardInfo:
        end = None if timeout is None else time.monotonic() + timeout
        while not self.host.present:
            if end is not None and time.monotonic() >= end:
                raise ReaderTimeout(f"{self.url}: no card in the field")
            time.sleep(0.01)
        card = self.host.card
        self._card_info = CardInfo(uid=card.anticollision_uid, ats=card.ats, atqa=ATQA, sak=SAK)
        return self._card_info


def personalise(reader: Reader) -> None:
    card = DESFire(reader)
    card.create_application(AID, KeySettings(), key_count=2, key_type="aes")
    card.select_application(AID)
    card.authenticate(0, Key.aes(bytes(16)), "aes")
    card.change_key(1, KEY, Key.aes(bytes(16)))
    rights = AccessRights(read=1, write=1, read_write=1, change=0)
    card.create_backup_data_file(TICKET_FILE, 32, comm="full", access=rights)
    card.create_cyclic_record_file(JOURNAL_FILE, 16, 5, comm="mac", access=rights)
    card.create_value_file(PURSE_FILE, lower_limit=0, upper_limit=10_000, value=BALANCE,
                           comm="mac", access=rights)
    card.authenticate(1, KEY, "aes")
    card.write_data(TICKET_FILE, OLD_TICKET)
    card.write_record(JOURNAL_FILE, OLD_ENTRY)
    card.commit_transaction()


def validate(reader) -> None:
    """The validator's transaction: 7 commands."""
    card = DESFire(reader)
    card.select_application(AID)
    card.authenticate(1, KEY, "aes")
    card.write_data(TICKET_FILE, NEW_TICKET, comm="full")
    card.write_record(JOURNAL_FILE, NEW_ENTRY, comm="mac")
    card.debit(PURSE_FILE, FARE, comm="mac")
    card.commit_transaction()


def contents(reader: Reader) -> tuple[bytes, list[bytes], int]:
    card = DESFire(reader)
    card.select_application(AID)
    card.authenticate(1, KEY, "aes")
    return (card.read_data(TICKET_FILE, comm="full"),
            card.read_records(JOURNAL_FILE, comm="mac", record_size=16),
            card.get_value(PURSE_FILE, comm="mac"))


def stored_contents(path: Path) -> tuple[bytes, list[bytes], int]:
    """What the card file on disk holds, read through a card loaded from it afresh."""
    return contents(HostReader(CardHost(VirtualCard.load(path))))


@dataclass
class Served:
    host: CardHost
    path: Path
    control: str

    def ask(self, command: str) -> str:
        answer = send_control(self.control, command, timeout=TIMEOUT)
        assert answer.startswith("ok"), f"{command!r} -> {answer!r}"
        return answer


@pytest.fixture
def served(tmp_path) -> Served:
    path = tmp_path / "card.json"
    with HostReader(CardHost(VirtualCard.new(), path)) as setup:
        personalise(setup)
    host = CardHost(VirtualCard.load(path), path)
    control = f"unix:{tmp_path / 'control.sock'}"
    with EmulatorServer(host, control=control):
        yield Served(host, path, control)


@pytest.fixture
def reader(served):
    # the place to parametrise over pcsc:/pn532:/nfcpy: once their serve_<name>(host) exist
    with HostReader(served.host) as reader:
        reader.wait_for_card(timeout=TIMEOUT)
        yield reader


class ControlBefore:
    """Forwards APDUs to ``reader``; sends ``command`` to the control interface just before
    APDU number ``index`` (0-based) goes out."""

    def __init__(self, reader: Reader, served: Served, index: int, command: str) -> None:
        self.reader, self.served, self.index, self.command = reader, served, index, command
        self.sent = 0

    def transceive(self, apdu: bytes) -> bytes:
        if self.sent == self.index:
            self.served.ask(self.command)
        self.sent += 1
        return self.reader.transceive(apdu)


def test_the_transaction_has_seven_commands_and_writes_everything(served, reader):
    counter = ControlBefore(reader, served, -1, "status")
    validate(counter)
    assert counter.sent == COMMANDS
    assert contents(reader) == NEW_STATE
    assert stored_contents(served.path) == NEW_STATE


@pytest.mark.parametrize("command", ["remove", "tear"])
@pytest.mark.parametrize("index", range(COMMANDS))
def test_removal_between_commands_leaves_everything_old(served, reader, index, command):
    with pytest.raises(CardRemovedError) as caught:
        validate(ControlBefore(reader, served, index, command))
    message = str(caught.value)
    assert message == ("host:card: the card left the field: "
                       "no card in the field (removed, or it lost power)")
    assert not reader.card_present and reader.card_info is None
    assert "present=no" in served.ask("status")

    served.ask("insert")
    assert reader.wait_for_card(timeout=TIMEOUT).uid == served.host.card.uid
    assert contents(reader) == OLD_STATE
    assert stored_contents(served.path) == OLD_STATE
    validate(reader)  # the card works as before
    assert contents(reader) == NEW_STATE


@pytest.mark.parametrize(("progress", "expected"), [
    (0.0, OLD_STATE), (0.49, OLD_STATE), (0.5, NEW_STATE), (0.9, NEW_STATE), (1.0, NEW_STATE),
])
def test_a_tear_during_the_commit_is_all_or_nothing(served, reader, progress, expected):
    served.ask(f"tear during {COMMIT} progress {progress}")
    with pytest.raises(CardRemovedError, match="lost power during a command"):
        validate(reader)
    assert "present=no" in served.ask("status")
    served.ask("insert")
    served.ask("clear")
    reader.wait_for_card(timeout=TIMEOUT)
    assert contents(reader) == expected
    assert stored_contents(served.path) == expected


@pytest.mark.parametrize("index", range(COMMIT))
def test_a_tear_during_any_earlier_command_leaves_everything_old(served, reader, index):
    served.ask(f"tear during {index} progress 0.9")
    with pytest.raises(CardRemovedError):
        validate(reader)
    served.ask("insert")
    served.ask("clear")
    assert contents(reader) == OLD_STATE
    assert stored_contents(served.path) == OLD_STATE


@pytest.mark.parametrize("index", range(COMMANDS))
def test_a_tear_as_a_command_arrives_leaves_everything_old(served, reader, index):
    served.ask(f"tear after {index}")
    with pytest.raises(CardRemovedError, match="lost power as command"):
        validate(reader)
    served.ask("insert")
    served.ask("clear")
    assert contents(reader) == OLD_STATE


def test_the_validator_starts_again_once_the_card_is_back(served, reader):
    # the validator reads the card, the card is taken away before it writes, then put back:
    # the validator starts again from scratch and its second attempt goes through
    with pytest.raises(CardRemovedError):
        validate(ControlBefore(reader, served, 3, "remove"))
    assert not served.host.present
    served.ask("insert")
    reader.wait_for_card(timeout=TIMEOUT)
    validate(reader)
    assert contents(reader) == NEW_STATE
    assert stored_contents(served.path) == NEW_STATE


# --- the same through real reader stacks ----------------------------------------------------------

REAL_TRANSPORTS = ["pcsc", "pn532", "nfcpy-udp"]


def _serve(name: str):
    if name == "pcsc":
        from tests.support.pcsc import serve_pcsc
        return serve_pcsc
    if name == "pn532":
        from tests.support.pn532 import serve_pn532
        return serve_pn532
    from tests.support.udp import serve_udp
    return serve_udp


@pytest.fixture(params=REAL_TRANSPORTS)
def over_transport(request, tmp_path):
    """A served card with a control interface, reached through pcscd, a PN532 pty or nfcpy."""
    from ekarta.readers import open_reader

    path = tmp_path / "card.json"
    with HostReader(CardHost(VirtualCard.new(), path)) as setup:
        personalise(setup)
    host = CardHost(VirtualCard.load(path), path)
    control = f"unix:{tmp_path / 'control.sock'}"
    with EmulatorServer(host, control=control), _serve(request.param)(host) as url, \
            open_reader(url) as reader:
        reader.wait_for_card(timeout=10)
        yield Served(host, path, control), reader


@pytest.mark.parametrize("index", [3, COMMIT])
def test_removal_through_control_over_a_real_transport(over_transport, index):
    served, reader = over_transport
    with pytest.raises(CardRemovedError):
        validate(ControlBefore(reader, served, index, "remove"))
    served.ask("insert")
    reader.wait_for_card(timeout=10)
    assert contents(reader) == OLD_STATE
    assert stored_contents(served.path) == OLD_STATE


def test_a_tear_during_the_commit_over_a_real_transport(over_transport):
    served, reader = over_transport
    served.ask(f"tear during {COMMIT} progress 0.9")
    with pytest.raises(CardRemovedError):
        validate(reader)
    served.ask("insert")
    served.ask("clear")
    reader.wait_for_card(timeout=10)
    assert contents(reader) == NEW_STATE
    assert stored_contents(served.path) == NEW_STATE
