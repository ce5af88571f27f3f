"""The ``nfcpy:`` reader driver, over nfcpy's real udp driver and the emulator's UDP front-end.

What every driver does (mute card, removal mid-transaction, tracing, closing, waiting for a card)
is checked for this one too, over UDP and over a PN532 pty, by ``test_readers_contract.py``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from ekarta.desfire.client import DESFire
from ekarta.desfire.crypto import Key
from ekarta.desfire.structs import AccessRights
from ekarta.emulator import CardHost, Faults
from ekarta.errors import (
    CardRemovedError,
    NoCardError,
    NoReaderError,
    ReaderError,
    ReaderTimeout,
)
from ekarta.log import TRACE
from ekarta.readers import available_schemes, open_reader
from ekarta.readers.nfcpy import NfcpyReader
from tests.support.udp import serve_udp

UID = bytes.fromhex("04C0FFEE123456")
ATS = bytes.fromhex("067577810280")
AID = 0x0ECA01
AES = Key.default("aes")
KEY_1 = Key.from_hex("aes", "00112233445566778899AABBCCDDEEFF")
ACCESS = AccessRights(read=1, write=1, read_write=1, change=0)


def pattern(n: int) -> bytes:
    return bytes((i * 7 + 3) & 0xFF for i in range(n))


@pytest.fixture
def url(host: CardHost) -> Iterator[str]:
    with serve_udp(host) as served:
        yield served


@pytest.fixture
def reader(url: str) -> Iterator[NfcpyReader]:
    rdr = open_reader(url)
    try:
        yield rdr  # type: ignore[misc]
    finally:
        rdr.close()


def personalise(card: DESFire) -> None:
    """An AES application with a 300-byte std data file in full mode, key 1 its key."""
    card.create_application(AID, key_count=2, key_type="aes")
    card.select_application(AID)
    card.authenticate(0, AES, "aes")
    card.change_key(1, KEY_1, AES)
    card.create_std_data_file(1, 300, comm="full", access=ACCESS)
    card.authenticate(1, KEY_1, "aes")


# --- opening -------------------------------------------------------------------------------------


@pytest.mark.interop
def test_open_reader_picks_the_nfcpy_driver(reader: NfcpyReader, url: str) -> None:
    assert isinstance(reader, NfcpyReader)
    assert reader.url == url
    assert reader.path == url.removeprefix("nfcpy:")
    assert reader.card_info is None and reader.tag is None


def test_the_scheme_is_registered_lazily() -> None:
    assert "nfcpy" in available_schemes()


def test_no_device_is_no_reader() -> None:
    with pytest.raises(NoReaderError, match="nfcpy"):
        open_reader("nfcpy:tty:ekarta-no-such-tty:pn532")
    with pytest.raises(NoReaderError):
        open_reader("nfcpy:usb:ffff:ffff")


# --- activation ----------------------------------------------------------------------------------


@pytest.mark.interop
def test_close_ends_a_wait_in_another_thread(url: str, host: CardHost) -> None:
    host.remove()
    rdr = open_reader(url)
    outcome: list[BaseException] = []

    def wait() -> None:
        try:
            rdr.wait_for_card(timeout=None)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    time.sleep(0.3)
    rdr.close()
    thread.join(5)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], ReaderError)
    assert "closed" in str(outcome[0])


@pytest.mark.interop
def test_a_failed_device_is_no_reader_until_reopened(reader: NfcpyReader) -> None:
    reader.wait_for_card(timeout=5)
    reader.clf.close()  # what nfcpy is left with when its device goes away: IOError(ENODEV)
    with pytest.raises(NoReaderError, match="failed") as caught:
        reader.transceive(bytes.fromhex("9060000000"))
    assert isinstance(caught.value.__cause__, OSError)
    with pytest.raises(NoReaderError):
        reader.wait_for_card(timeout=0.1)
    reader.reopen()
    assert reader.wait_for_card(timeout=5).uid == UID
    assert reader.transceive(bytes.fromhex("9060000000"))[-2:] == b"\x91\xAF"


@pytest.mark.interop
def test_monitor_reports_insertions_and_removals(reader: NfcpyReader, host: CardHost) -> None:
    stop = threading.Event()
    events = reader.monitor(poll=0.05, stop=stop)
    try:
        first = next(events)
        assert first.kind == "inserted" and first.info is not None and first.info.uid == UID
        host.remove()
        assert next(events).kind == "removed"
        host.insert()
        assert next(events).kind == "inserted"
    finally:
        stop.set()
        events.close()


@pytest.mark.interop
def test_transceive_needs_a_selected_card(reader: NfcpyReader) -> None:
    with pytest.raises(NoCardError, match="wait_for_card"):
        reader.transceive(bytes.fromhex("9060000000"))


# --- DESFire over nfcpy --------------------------------------------------------------------------


def chained_blocks(caplog: pytest.LogCaptureFixture, direction: str) -> int:
    """I-blocks with the M bit the model traced (">": from the reader, "<": from the card)."""
    return sum(1 for r in caplog.records if r.name == "ekarta.emulator.iso14443"
               and r.getMessage()[:5] in (f"{direction} 12 ", f"{direction} 13 "))


@pytest.mark.interop
def test_desfire_round_trip_with_iso_dep_chaining(reader: NfcpyReader, host: CardHost,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    reader.wait_for_card(timeout=5)
    card = DESFire(reader)
    assert card.get_version().uid == UID
    personalise(card)
    data = pattern(300)
    # 300 bytes + CRC + padding, sent in frames of up to 255 bytes: each frame an APDU that
    # nfcpy chains over ISO-DEP in blocks of FSC - 3 = 61 bytes
    with caplog.at_level(TRACE, logger="ekarta.emulator.iso14443"):
        card.write_data(1, data)
    # APDUs of 261 and 78 bytes: 4 and 1 blocks with the M bit before their last block
    assert chained_blocks(caplog, ">") == 4 + 1
    assert card.read_data(1) == data
    assert card.read_data(1, 100, 150) == data[100:250]
    assert host.card.applications[AID].files[1].data == data


@pytest.mark.interop
def test_responses_longer_than_a_block_are_chained_by_the_card(
        reader: NfcpyReader, caplog: pytest.LogCaptureFixture) -> None:
    reader.wait_for_card(timeout=5)
    card = DESFire(reader)
    card.create_application(0x0ECA02, key_count=1, key_type="aes", iso_fid=0xE200)
    card.select_application(0x0ECA02)
    card.create_std_data_file(1, 300, comm="plain", iso_fid=0xE201,
                              access=AccessRights(read=0xE, write=0xE, read_write=0xE, change=0))
    data = pattern(300)
    card.write_data(1, data)
    assert reader.transceive(bytes.fromhex("00A4000C02E201")) == b"\x90\x00"
    # READ BINARY Le 00: 256 bytes + SW = 258 > FSD 256 - 3: two I-blocks from the card
    with caplog.at_level(TRACE, logger="ekarta.emulator.iso14443"):
        response = reader.transceive(bytes.fromhex("00B0000000"))
    assert response == data[:256] + b"\x90\x00"
    assert chained_blocks(caplog, "<") == 1


@pytest.mark.interop
def test_slow_card_is_carried_by_wtx(reader: NfcpyReader, host: CardHost) -> None:
    reader.wait_for_card(timeout=5)
    host.arm(Faults(latency=0.3))  # four times the frame waiting time
    try:
        assert reader.transceive(bytes.fromhex("9060000000")) == \
            bytes.fromhex("04010112001A0591AF")
    finally:
        host.arm(None)


# --- hostile peers -------------------------------------------------------------------------------


class FakeCard:
    """A UDP peer answering nfcpy with scripted frames: ``answer(frame) -> frame | None``."""

    def __init__(self, answer: Callable[[bytes], bytes | None]) -> None:
        self.answer = answer
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                datagram, peer = self.sock.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            parts = datagram.split()
            if len(parts) != 2:
                continue
            out = self.answer(bytes.fromhex(parts[1].decode()))
            if out is not None:
                self.sock.sendto(b"106A " + out.hex().encode(), peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()


def anticollision(sak: int, ats: bytes | None) -> Callable[[bytes], bytes | None]:
    uid = bytes.fromhex("01020304")
    level = uid + bytes([1 ^ 2 ^ 3 ^ 4])

    def answer(frame: bytes) -> bytes | None:
        if frame == b"\x26":
            return bytes.fromhex("0400")
        if frame == b"\x93\x20":
            return level
        if frame == b"\x93\x70" + level:
            return bytes([sak])
        if frame[:1] == b"\xE0":
            return ats
        return None

    return answer


@pytest.fixture
def fake() -> Iterator[Callable[[Callable[[bytes], bytes | None]], FakeCard]]:
    made: list[FakeCard] = []

    def make(answer: Callable[[bytes], bytes | None]) -> FakeCard:
        made.append(FakeCard(answer))
        return made[-1]

    yield make
    for peer in made:
        peer.close()


@pytest.mark.interop
@pytest.mark.parametrize(("sak", "ats", "why"), [
    (0x08, None, "SAK 08 .* not ISO 14443-4"),
    (0x20, bytes.fromhex("0675"), "did not complete RATS"),
    (0x20, bytes.fromhex("09757781"), "malformed ATS"),
    (0x20, None, "did not complete RATS"),
])
def test_hostile_cards_give_clear_timeouts(fake, sak: int, ats: bytes | None, why: str) -> None:
    peer = fake(anticollision(sak, ats))
    with (open_reader(f"nfcpy:udp:127.0.0.1:{peer.port}") as rdr,
          pytest.raises(ReaderTimeout, match=why)):
        rdr.wait_for_card(timeout=0.2)


@pytest.mark.interop
def test_garbled_iso_dep_answer_is_a_reader_error(fake) -> None:
    base = anticollision(0x20, ATS)

    def answer(frame: bytes) -> bytes | None:
        if frame[:1] in (b"\x02", b"\x03"):
            return b"\xF2"  # an S(WTX) without its WTXM byte
        return base(frame)

    peer = fake(answer)
    with open_reader(f"nfcpy:udp:127.0.0.1:{peer.port}") as rdr:
        rdr.wait_for_card(timeout=5)
        with pytest.raises(ReaderError, match="failed") as caught:
            rdr.transceive(bytes.fromhex("9060000000"))
        assert not isinstance(caught.value, CardRemovedError | ReaderTimeout)
        assert caught.value.__cause__ is not None


@pytest.mark.interop
def test_a_late_answer_leaves_no_stale_frame_behind(host: CardHost) -> None:
    """A frame nfcpy gave up waiting for must not be taken as the answer to the next command.

    Without WTX the card answers past the frame waiting time, as a peer that the OS scheduler
    held back would; nfcpy asks again with R(NAK) and the card repeats its last block.
    """
    from ekarta.emulator.udp import UdpFrontEnd

    with UdpFrontEnd(host, ("127.0.0.1", 0), wtx=False) as front_end, \
            open_reader(front_end.url) as reader:
        reader.wait_for_card(timeout=5)
        host.arm(Faults(latency=0.4))
        try:
            first = reader.transceive(bytes.fromhex("9060000000"))
        finally:
            host.arm(None)
        assert first == bytes.fromhex("04010112001A0591AF")
        time.sleep(0.05)
        for _ in range(3):
            assert reader.transceive(bytes.fromhex("9060000000")) == first
            assert reader.transceive(bytes.fromhex("90AF000000"))[-2:] == b"\x91\xAF"
            assert reader.transceive(bytes.fromhex("90AF000000"))[-2:] == b"\x91\x00"
