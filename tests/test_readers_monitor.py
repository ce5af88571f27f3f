"""``Reader.monitor()``: card events, stopping, and reopening a reader that was unplugged."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator

import pytest

from ekarta.emulator import VirtualCard
from ekarta.errors import InvalidArgument, NoReaderError, ReaderTimeout
from ekarta.readers import open_reader
from ekarta.readers.base import CardEvent, CardInfo, Reader

FREE_MEMORY = bytes.fromhex("906E000000")
POLL = 0.02
#: Longest a test waits for one event before failing (instead of hanging the suite).
WAIT = 5.0


def deadline(seconds: float = WAIT):
    end = time.monotonic() + seconds
    return lambda: time.monotonic() > end


def next_event(events: Iterator[CardEvent]) -> CardEvent:
    event = next(events, None)
    assert event is not None, "the monitor ended without the expected event"
    return event


@pytest.fixture
def reader():
    with open_reader("emulator:") as reader:
        yield reader


def test_a_card_already_present_is_reported_inserted_then_removed_and_back(reader):
    events = reader.monitor(poll=POLL, stop=deadline())
    before = time.time()
    first = next_event(events)
    assert first.kind == "inserted" and first.info == reader.card_info
    assert first.info.uid == reader.card.uid and first.info.sak == 0x20
    assert before <= first.at <= time.time()

    reader.card.remove()
    removed = next_event(events)
    assert removed.kind == "removed" and removed.info == first.info

    reader.card.insert()
    again = next_event(events)
    assert again.kind == "inserted"
    assert reader.transceive(FREE_MEMORY).endswith(b"\x91\x00")
    events.close()


def test_events_follow_a_card_moved_by_another_thread(reader):
    reader.card.remove()
    seen = threading.Semaphore(0)

    def play() -> None:
        # each move waits for the monitor to report the one before: a polling monitor misses
        # a card in and out within one poll, which a loaded machine can stretch to any length
        for _ in range(2):
            reader.card.insert()
            seen.acquire(timeout=WAIT)
            reader.card.remove()
            seen.acquire(timeout=WAIT)

    player = threading.Thread(target=play, daemon=True)
    player.start()
    kinds = []
    try:
        for event in reader.monitor(poll=POLL, stop=deadline()):
            kinds.append(event.kind)
            seen.release()
            if len(kinds) == 4:
                break
    finally:
        player.join(WAIT)
    assert kinds == ["inserted", "removed", "inserted", "removed"]
    assert not player.is_alive()


def test_a_stop_event_ends_the_monitor_within_a_poll(reader):
    reader.card.remove()
    stop = threading.Event()
    timer = threading.Timer(0.1, stop.set)
    timer.start()
    started = time.monotonic()
    try:
        assert list(reader.monitor(poll=0.05, stop=stop)) == []
    finally:
        timer.cancel()
        timer.join(WAIT)
    assert time.monotonic() - started < WAIT / 2


def test_a_stop_callable_and_closing_the_reader_end_the_monitor(reader):
    assert list(reader.monitor(poll=POLL, stop=lambda: True)) == []
    events = reader.monitor(poll=POLL, stop=deadline())
    assert next_event(events).kind == "inserted"
    reader.close()
    assert next(events, None) is None


def test_monitor_arguments_are_checked(reader):
    with pytest.raises(InvalidArgument):
        next(reader.monitor(poll=0))
    with pytest.raises(InvalidArgument):
        next(reader.monitor(stop="soon"))
    with pytest.raises(InvalidArgument):
        next(reader.monitor(reconnect=0))


def test_card_event_is_frozen():
    event = CardEvent("inserted", CardInfo(uid=b"\x01"), 1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.kind = "removed"


def test_monitor_through_spy():
    with open_reader("spy:emulator:") as spy:
        events = spy.monitor(poll=POLL, stop=deadline())
        assert next_event(events).kind == "inserted"
        spy.inner.card.remove()
        assert next_event(events).kind == "removed"
        events.close()


# --- an unplugged reader --------------------------------------------------------------------------


class Device:
    """A USB-like reader device that can be unplugged and plugged in again (a real object)."""

    def __init__(self) -> None:
        self.card = VirtualCard.new()
        self.plugged = True
        self.generation = 0  # bumps at every plug-in: old handles are dead

    def unplug(self) -> None:
        self.plugged = False

    def plug(self) -> None:
        self.generation += 1
        self.plugged = True


class DeviceReader(Reader):
    """A driver for :class:`Device`, following the policy: NoReaderError once the device went
    away, and ``reopen()`` to get a fresh handle."""

    def __init__(self, device: Device) -> None:
        super().__init__("device:0")
        self.device = device
        self.handle = device.generation
        self.reopens = 0

    def _check(self) -> None:
        if not self.device.plugged or self.handle != self.device.generation:
            raise NoReaderError(f"{self.url}: the device is gone")

    def transceive(self, apdu: bytes) -> bytes:
        self._check()
        return self.device.card.process(apdu)

    @property
    def card_present(self) -> bool:
        self._check()
        return self.device.card.present

    def wait_for_card(self, timeout: float | None = None) -> CardInfo:
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            self._check()
            if self.device.card.present:
                self._card_info = CardInfo(uid=self.device.card.uid)
                return self._card_info
            if end is not None and time.monotonic() >= end:
                raise ReaderTimeout(f"{self.url}: no card")
            time.sleep(0.005)

    def reopen(self) -> None:
        if not self.device.plugged:
            raise NoReaderError(f"{self.url}: no such device")
        self.handle = self.device.generation
        self.reopens += 1


class OneShotDeviceReader(DeviceReader):
    """The same driver without ``reopen()``: it cannot find its device again."""

    reopen = Reader.reopen


def test_an_unplugged_reader_is_reopened_by_the_monitor():
    device = Device()
    reader = DeviceReader(device)
    events = reader.monitor(poll=POLL, stop=deadline(), reconnect=0.05)
    assert next_event(events).kind == "inserted"

    device.unplug()
    with pytest.raises(NoReaderError):
        reader.transceive(FREE_MEMORY)
    assert next_event(events).kind == "removed"

    timer = threading.Timer(0.2, device.plug)
    timer.start()
    try:
        back = next_event(events)
    finally:
        timer.join(WAIT)
    assert back.kind == "inserted" and back.info.uid == device.card.uid
    assert reader.reopens == 1 and reader.handle == device.generation == 1
    assert reader.transceive(FREE_MEMORY).endswith(b"\x91\x00")
    events.close()


def test_a_reader_replugged_between_polls_is_reopened_too():
    device = Device()
    reader = DeviceReader(device)
    events = reader.monitor(poll=POLL, stop=deadline(), reconnect=0.05)
    assert next_event(events).kind == "inserted"
    device.unplug()
    device.plug()  # back at once, but the old handle is dead
    assert next_event(events).kind == "removed"
    assert next_event(events).kind == "inserted"
    assert reader.reopens == 1


def test_the_monitor_stops_while_waiting_for_the_reader_to_come_back():
    device = Device()
    reader = DeviceReader(device)
    stop = threading.Event()
    events = reader.monitor(poll=POLL, stop=stop, reconnect=0.05)
    assert next_event(events).kind == "inserted"
    device.unplug()
    assert next_event(events).kind == "removed"
    timer = threading.Timer(0.15, stop.set)
    timer.start()
    try:
        assert next(events, None) is None
    finally:
        timer.join(WAIT)
    assert reader.reopens == 0


def test_without_reopen_the_error_reaches_the_caller():
    device = Device()
    for reader, kwargs in ((OneShotDeviceReader(device), {}),
                           (DeviceReader(device), {"reconnect": None})):
        device.plug()
        reader.handle = device.generation
        events = reader.monitor(poll=POLL, stop=deadline(), **kwargs)
        assert next_event(events).kind == "inserted"
        device.unplug()
        with pytest.raises(NoReaderError, match="the device is gone"):
            next(events)


def test_a_spy_reopens_only_what_its_inner_reader_can():
    from ekarta.readers.spy import SpyReader

    device = Device()
    for inner, reopens in ((DeviceReader(device), True), (OneShotDeviceReader(device), False)):
        device.plug()
        inner.handle = device.generation
        spy = SpyReader(inner)
        events = spy.monitor(poll=POLL, stop=deadline(), reconnect=0.02)
        assert next_event(events).kind == "inserted"
        device.unplug()
        if reopens:
            assert next_event(events).kind == "removed"
            device.plug()
            assert next_event(events).kind == "inserted" and inner.reopens == 1
            events.close()
        else:
            with pytest.raises(NoReaderError, match="the device is gone"):
                next(events)


def test_the_default_reopen_says_it_cannot(reader):
    with pytest.raises(NoReaderError, match="cannot be reopened"):
        reader.reopen()
