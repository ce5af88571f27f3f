"""What every reader driver promises, checked on each one with the same tests.

A *rig* is a driver with an emulated card behind it and a hand on that card (take it away, put
it back, make it mute or tear it): ``emulator:`` with a stored card; ``pcsc:`` (pcscd + vpcd),
``pn532:`` (ekarta's driver on the emulated PN532's pty), ``nfcpy:`` over a PN532 pty and over
UDP, each serving a :class:`~ekarta.emulator.CardHost`; ``spy:`` around ``emulator:``; and
``replay:`` where it applies: the test runs first through ``spy:`` on the emulator, recording,
then again on the recording, which must answer it the same way (with the card left alone: the
recording already holds what the hand did).

The contract: a mute card is a :class:`~ekarta.errors.ReaderTimeout`, and the card answers again
once it speaks; a card removed or torn in the middle of a transaction is a
:class:`~ekarta.errors.CardRemovedError`, the reader then knows it is gone, and once it is back
it holds all of the transaction or none of it; every APDU and response is traced at TRACE exactly
once and nothing is printed; a closed reader refuses to work, closing twice is harmless and the
URL opens again; ``wait_for_card`` reports the card, times out without one and returns when one
comes.  Each driver's own behaviour stays in its ``test_readers_<driver>.py``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ekarta.emulator import CardHost, Faults, VirtualCard
from ekarta.errors import CardRemovedError, NoCardError, ReaderError, ReaderTimeout
from ekarta.log import TRACE
from ekarta.readers import CardInfo, Reader, open_reader
from tests.support.apdu import counting_rng, h, native
from tests.support.ticketing import (
    COMMIT,
    NEW_STATE,
    OLD_STATE,
    BeforeCommand,
    contents,
    personalise,
    validate,
)
from tests.support.transports import INTEROP, serve

UID = h("04C0FFEE123456")
ATS = h("067577810280")
ATR = h("3B8180018080")
FREE_MEMORY = native(0x6E)
FRESH_FREE_MEMORY = h("001F00 9100")
#: how long vpcd's front-end lets a mute card keep pcscd waiting
MUTE_TIMEOUT = 0.5

#: What each driver reports when the card is selected: NFC front ends the activation, PC/SC the
#: ATR it builds and the UID it answers to FF CA.
CARD_INFO = {
    "emulator": CardInfo(uid=UID, atr=ATR, ats=ATS, atqa=h("4403"), sak=0x20),
    "spy": CardInfo(uid=UID, atr=ATR, ats=ATS, atqa=h("4403"), sak=0x20),
    "pcsc": CardInfo(uid=UID, atr=ATR),
    "pn532": CardInfo(uid=UID, atr=ATR, ats=ATS, atqa=h("4403"), sak=0x20),
    "nfcpy-tty": CardInfo(uid=UID, ats=ATS, atqa=h("4403"), sak=0x20),
    "nfcpy-udp": CardInfo(uid=UID, ats=ATS, atqa=h("4403"), sak=0x20),
}


def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout`` passes (False): pcscd notices a
    card leaving only at its next poll of the reader."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


# --- rigs -----------------------------------------------------------------------------------------


class Rig:
    """A reader driver with an emulated card behind it, and a hand on the card."""

    name: str
    #: what a command raises while the card is away: the served transports know no card is
    #: selected; the emulator's reader finds the card gone again
    absent_error: type[ReaderError] = NoCardError

    def open(self) -> Reader:
        raise NotImplementedError

    def remove(self) -> None:
        raise NotImplementedError

    def insert(self) -> None:
        raise NotImplementedError

    def arm(self, faults: Faults | None) -> None:
        raise NotImplementedError

    def device_url(self, reader: Reader) -> str:
        """The URL of the reader that talks to the device (and traces the frames)."""
        return reader.url

    def run(self, scenario: Callable[[Rig], None]) -> None:
        """Play ``scenario`` (a contract, written against a rig) on this driver."""
        scenario(self)


class ServedRig(Rig):
    """A card served by a front-end, reached through a driver (pcsc, pn532, nfcpy)."""

    def __init__(self, name: str, host: CardHost, url: str) -> None:
        self.name, self.host, self.url = name, host, url

    def open(self) -> Reader:
        return open_reader(self.url)

    def remove(self) -> None:
        self.host.remove()

    def insert(self) -> None:
        self.host.insert()

    def arm(self, faults: Faults | None) -> None:
        self.host.arm(faults)


class EmulatorRig(Rig):
    """``emulator:PATH``: the card is the one the last opened reader loaded."""

    name = "emulator"
    absent_error = CardRemovedError

    def __init__(self, directory: Path) -> None:
        path = directory / "card.json"
        VirtualCard.new(uid=UID).save(path)
        self.url = f"emulator:{path}"
        self._card: VirtualCard | None = None

    def open(self) -> Reader:
        reader = open_reader(self.url)
        self._card = reader.card  # type: ignore[attr-defined]
        return reader

    @property
    def card(self) -> VirtualCard:
        assert self._card is not None, "open the reader first"
        return self._card

    def remove(self) -> None:
        self.card.remove()

    def insert(self) -> None:
        self.card.insert()

    def arm(self, faults: Faults | None) -> None:
        self.card.arm(faults)


class SpyRig(EmulatorRig):
    """``spy:emulator:PATH``, tracing to ``trace`` when given."""

    name = "spy"

    def __init__(self, directory: Path, trace: Path | None = None) -> None:
        super().__init__(directory)
        # a trace to replay keeps the secrets (authentications cannot be replayed without them)
        self.url = "spy:" + self.url + ("" if trace is None else f"#secrets#file={trace}")

    def open(self) -> Reader:
        reader = open_reader(self.url)
        self._card = reader.inner.card  # type: ignore[attr-defined]
        return reader

    def device_url(self, reader: Reader) -> str:
        return reader.inner.url  # type: ignore[attr-defined]


class ReplayRig(Rig):
    """``replay:`` of what a :class:`SpyRig` recorded running the same scenario; the hand does
    nothing, and every replayed session must be used up."""

    name = "replay"
    absent_error = CardRemovedError

    def __init__(self, directory: Path) -> None:
        self.trace = directory / "trace.jsonl"
        self.recorder = SpyRig(directory, self.trace)
        self.opened: list[Reader] = []

    def run(self, scenario: Callable[[Rig], None]) -> None:
        scenario(self.recorder)
        scenario(self)
        for reader in self.opened:
            reader.assert_done()  # type: ignore[attr-defined]

    def open(self) -> Reader:
        reader = open_reader(f"replay:{self.trace}#session={len(self.opened) + 1}")
        self.opened.append(reader)
        return reader

    def remove(self) -> None:
        pass

    def insert(self) -> None:
        pass

    def arm(self, faults: Faults | None) -> None:
        pass


LIVE = ["emulator", "pcsc", "pn532", "nfcpy-tty", "nfcpy-udp", "spy"]


def _param(name: str) -> object:
    return pytest.param(name, id=name, marks=[pytest.mark.interop] if name in INTEROP else [])


LIVE_RIGS = [_param(name) for name in LIVE]
ALL_RIGS = [*LIVE_RIGS, _param("replay")]


@pytest.fixture
def rig(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Rig]:
    """The driver ``request.param`` with its card (parametrised by each test: LIVE_RIGS or
    ALL_RIGS, as the contract applies to a replay or not)."""
    name = request.param
    if name == "emulator":
        yield EmulatorRig(tmp_path)
    elif name == "spy":
        yield SpyRig(tmp_path)
    elif name == "replay":
        yield ReplayRig(tmp_path)
    else:
        host = CardHost(VirtualCard.new(uid=UID))
        options = {"mute_timeout": MUTE_TIMEOUT} if name == "pcsc" else {}
        with serve(name, host, **options) as url:
            yield ServedRig(name, host, url)


# --- the contract ---------------------------------------------------------------------------------


@pytest.mark.parametrize("rig", ALL_RIGS, indirect=True)
def test_a_mute_card_times_out_and_answers_once_it_speaks(rig: Rig) -> None:
    def scenario(rig: Rig) -> None:
        with rig.open() as reader:
            reader.wait_for_card(timeout=5)
            assert reader.transceive(FREE_MEMORY) == FRESH_FREE_MEMORY
            rig.arm(Faults(mute=True))
            started = time.monotonic()
            with pytest.raises(ReaderTimeout):
                reader.transceive(FREE_MEMORY)
            assert time.monotonic() - started < 5
            rig.arm(None)
            reader.wait_for_card(timeout=5)
            assert reader.transceive(FREE_MEMORY) == FRESH_FREE_MEMORY

    rig.run(scenario)


@pytest.mark.parametrize("how", ["removed before the commit", "torn during the commit"])
@pytest.mark.parametrize("rig", ALL_RIGS, indirect=True)
def test_a_card_removed_mid_transaction(rig: Rig, how: str) -> None:
    """The card leaves before the commit (all old) or is torn late in it (all new)."""
    def scenario(rig: Rig) -> None:
        with rig.open() as reader:
            reader.wait_for_card(timeout=5)
            personalise(reader, counting_rng(1))
            if how == "removed before the commit":
                interrupted, expected = BeforeCommand(reader, COMMIT, rig.remove), OLD_STATE
            else:
                rig.arm(Faults(tear_during=COMMIT, tear_progress=0.9))
                interrupted, expected = reader, NEW_STATE
            with pytest.raises(CardRemovedError):
                validate(interrupted, counting_rng(2))
            assert reader.card_info is None
            assert eventually(lambda: not reader.card_present)
            with pytest.raises(rig.absent_error):
                reader.transceive(FREE_MEMORY)
            rig.arm(None)
            rig.insert()
            assert reader.wait_for_card(timeout=10).uid == UID
            assert contents(reader, counting_rng(3)) == expected

    rig.run(scenario)


@pytest.mark.parametrize("rig", LIVE_RIGS, indirect=True)
def test_frames_are_traced_once_each_and_nothing_is_printed(
        rig: Rig, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> None:
    with rig.open() as reader:
        reader.wait_for_card(timeout=5)
        with caplog.at_level(TRACE, logger="ekarta"):
            reader.transceive(FREE_MEMORY)
        url = rig.device_url(reader)
    frames = [r.getMessage() for r in caplog.records if r.levelno == TRACE]
    assert frames.count(f"{url} >> 90 6E 00 00 00") == 1, frames
    assert frames.count(f"{url} << 00 1F 00 91 00") == 1, frames
    assert capsys.readouterr() == ("", "")
    assert logging.getLevelName(TRACE) == "TRACE"


@pytest.mark.parametrize("rig", ALL_RIGS, indirect=True)
def test_a_closed_reader_refuses_work_and_its_url_opens_again(rig: Rig) -> None:
    def scenario(rig: Rig) -> None:
        reader = rig.open()
        reader.wait_for_card(timeout=5)
        assert reader.transceive(FREE_MEMORY) == FRESH_FREE_MEMORY
        reader.close()
        assert reader.closed and not reader.card_present and reader.card_info is None
        with pytest.raises(ReaderError, match="closed"):
            reader.transceive(FREE_MEMORY)
        with pytest.raises(ReaderError, match="closed"):  # though the card is still there
            reader.wait_for_card(timeout=1)
        reader.close()  # harmless
        with rig.open() as again:  # the device was let go of: the same URL opens again
            again.wait_for_card(timeout=5)
            assert again.transceive(FREE_MEMORY) == FRESH_FREE_MEMORY

    rig.run(scenario)


@pytest.mark.parametrize("rig", LIVE_RIGS, indirect=True)
def test_wait_for_card_reports_the_card_times_out_and_returns_when_it_comes(rig: Rig) -> None:
    with rig.open() as reader:
        info = reader.wait_for_card(timeout=5)
        assert info == CARD_INFO[rig.name]
        assert reader.card_present and reader.card_info == info
        assert reader.wait_for_card(timeout=0) == info  # still there: nothing to do

        rig.remove()
        assert eventually(lambda: not reader.card_present)
        started = time.monotonic()
        with pytest.raises(ReaderTimeout):
            reader.wait_for_card(timeout=0.3)
        # it waits the whole timeout; one sense of nfcpy's udp driver may take up to 1 s more
        assert 0.3 <= time.monotonic() - started < 3

        timer = threading.Timer(0.3, rig.insert)
        timer.start()
        try:
            assert reader.wait_for_card(timeout=10) == info
        finally:
            timer.cancel()
            timer.join(5)
        assert reader.card_present
        assert reader.transceive(FREE_MEMORY) == FRESH_FREE_MEMORY
