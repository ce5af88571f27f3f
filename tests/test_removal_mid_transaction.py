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
:class:`~ekarta.emulator.host.CardHost`.  The same removal and tear through every reader driver
and transport (pcscd, the PN532, nfcpy) is in the reader contract suite
(``tests/test_readers_contract.py``); the application and its transaction are
:mod:`tests.support.ticketing`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from ekarta.emulator import ATQA, SAK, CardHost, CardMute, CardTorn, VirtualCard
from ekarta.emulator.control import send_control
from ekarta.emulator.serve import EmulatorServer
from ekarta.errors import CardRemovedError, ReaderError, ReaderTimeout
from ekarta.readers.base import CardInfo, Reader
from tests.support.ticketing import (
    COMMANDS,
    COMMIT,
    NEW_STATE,
    OLD_STATE,
    BeforeCommand,
    State,
    contents,
    personalise,
    validate,
)

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


def stored_contents(path: Path) -> State:
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
    with HostReader(served.host) as reader:
        reader.wait_for_card(timeout=TIMEOUT)
        yield reader


def control_before(reader: Reader, served: Served, index: int, command: str) -> BeforeCommand:
    """The reader, with ``command`` sent to the control interface just before APDU ``index``."""
    return BeforeCommand(reader, index, lambda: served.ask(command))


def test_the_transaction_has_seven_commands_and_writes_everything(served, reader):
    counter = control_before(reader, served, -1, "status")
    validate(counter)
    assert counter.sent == COMMANDS
    assert contents(reader) == NEW_STATE
    assert stored_contents(served.path) == NEW_STATE


@pytest.mark.parametrize("command", ["remove", "tear"])
@pytest.mark.parametrize("index", range(COMMANDS))
def test_removal_between_commands_leaves_everything_old(served, reader, index, command):
    with pytest.raises(CardRemovedError) as caught:
        validate(control_before(reader, served, index, command))
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
        validate(control_before(reader, served, 3, "remove"))
    assert not served.host.present
    served.ask("insert")
    reader.wait_for_card(timeout=TIMEOUT)
    validate(reader)
    assert contents(reader) == NEW_STATE
    assert stored_contents(served.path) == NEW_STATE
