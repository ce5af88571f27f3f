"""The ``pcsc:`` reader end to end: pyscard -> pcscd -> vpcd -> VpcdFrontEnd -> emulated card.

Nothing is mocked: pcscd runs with Debian's vsmartcard-vpcd driver (started by the session
fixture ``pcscd`` unless one runs already), and each test serves a fresh emulated card in one of
vpcd's readers through :func:`support.pcsc.serve_pcsc`.  What every driver does (mute card,
removal mid-transaction, tracing, closing, waiting for a card) is checked for this one too by
``test_readers_contract.py``; here is what is PC/SC's own.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from ekarta.desfire.client import DESFire
from ekarta.desfire.crypto import Key
from ekarta.desfire.structs import AccessRights
from ekarta.emulator import CardHost, VirtualCard
from ekarta.errors import (
    CardRemovedError,
    InvalidArgument,
    NoReaderError,
    ReaderError,
    ReaderTimeout,
)
from ekarta.log import TRACE
from ekarta.readers import open_reader
from ekarta.readers.base import CardEvent
from ekarta.readers.pcsc import PcscReader, list_readers
from tests.support.pcsc import (  # noqa: F401 (pcscd: the session fixture)
    Pcscd,
    PcscdShared,
    factory_reset,
    pcscd,
    serve_pcsc,
    wait_reader,
)

UID = bytes.fromhex("04A0A1A2A3A4A5")
OTHER_UID = bytes.fromhex("04B0B1B2B3B4B5")
ATR = bytes.fromhex("3B8180018080")
FREE_MEMORY = bytes.fromhex("906E000000")
FRESH_FREE_MEMORY = bytes.fromhex("001F00 9100")
MUTE_TIMEOUT = 0.5
AID = 0x5A1E01
AES_KEY = Key.from_hex("aes", "00112233445566778899AABBCCDDEEFF")
FREE = AccessRights(read=0xE, write=0xE, read_write=0xE, change=0xE)
KEY1 = AccessRights(read=1, write=1, read_write=1, change=0)


@dataclass(frozen=True)
class Served:
    host: CardHost
    url: str

    @property
    def reader_name(self) -> str:
        return self.url.removeprefix("pcsc:")


@pytest.fixture
def served(pcscd: Pcscd) -> Iterator[Served]:  # noqa: F811 (the imported fixture)
    """A fresh emulated card in a vpcd reader of pcscd."""
    host = CardHost(VirtualCard.new(uid=UID))
    with serve_pcsc(host, mute_timeout=MUTE_TIMEOUT) as url:
        yield Served(host, url)


@pytest.fixture
def reader(served: Served) -> Iterator[PcscReader]:
    rdr = open_reader(served.url)
    assert isinstance(rdr, PcscReader)
    try:
        rdr.wait_for_card(timeout=5.0)
        yield rdr
    finally:
        rdr.close()


# --- readers and URLs -----------------------------------------------------------------------------


def test_list_readers_shows_vpcd_readers(pcscd: Pcscd):  # noqa: F811
    names = list_readers()
    assert "Virtual PCD 00 00" in names and "Virtual PCD 00 01" in names


@pytest.mark.parametrize(("rest", "index_or_name"), [
    ("", 0),
    ("#1", 1),
    ("virtual pcd 00 01", "Virtual PCD 00 01"),
    ("Virtual PCD 00 00", "Virtual PCD 00 00"),
    ("PCD", 0),
])
def test_url_selects_the_reader(pcscd: Pcscd, rest: str, index_or_name: int | str):  # noqa: F811
    names = list_readers()
    expected = names[index_or_name] if isinstance(index_or_name, int) else index_or_name
    with open_reader(f"pcsc:{rest}") as rdr:
        assert isinstance(rdr, PcscReader)
        assert rdr.reader_name == expected
        assert rdr.url == f"pcsc:{rest}"
        assert rdr.card_info is None and rdr.protocol is None


@pytest.mark.parametrize("rest", ["no such reader", "#7"])
def test_no_matching_reader_lists_the_readers(pcscd: Pcscd, rest: str):  # noqa: F811
    with pytest.raises(NoReaderError) as caught:
        open_reader(f"pcsc:{rest}")
    assert "'Virtual PCD 00 00'" in str(caught.value)
    assert "'Virtual PCD 00 01'" in str(caught.value)


@pytest.mark.interop
def test_without_pcscd_the_error_says_so(tmp_path):
    """pcsc-lite's client reads the socket path from PCSCLITE_CSOCK_NAME once per process."""
    script = (
        "import json\n"
        "from ekarta.readers import open_reader\n"
        "from ekarta.readers.pcsc import list_readers\n"
        "out = []\n"
        "for call in (lambda: open_reader('pcsc:'), list_readers):\n"
        "    try:\n"
        "        call()\n"
        "        out.append(['no error', ''])\n"
        "    except Exception as exc:\n"
        "        out.append([type(exc).__name__, str(exc)])\n"
        "print(json.dumps(out))\n"
    )
    env = dict(os.environ, PCSCLITE_CSOCK_NAME=str(tmp_path / "no-pcscd.comm"))
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    for name, message in json.loads(result.stdout):
        assert name == "NoReaderError"
        assert "is pcscd running?" in message


# --- the card -------------------------------------------------------------------------------------


def test_card_info_get_version_and_uid(served: Served):
    with open_reader(served.url) as rdr:
        assert rdr.card_present
        info = rdr.wait_for_card(timeout=5.0)
        assert info.atr == ATR
        assert info.uid == UID  # from FF CA 00 00 00, answered by the virtual reader
        assert info.ats is None and info.atqa is None and info.sak is None
        assert rdr.card_info == info
        assert rdr.protocol == "T=1"
        version = DESFire(rdr).get_version()
        assert version.uid == UID
        assert (version.hw_vendor_id, version.hw_major, version.hw_storage_size) == (4, 18, 0x1A)
        assert rdr.wait_for_card(timeout=0) == info  # still the same card: no reconnection
    assert rdr.closed and not rdr.card_present and rdr.card_info is None
    with pytest.raises(ReaderError):
        rdr.transceive(FREE_MEMORY)
    rdr.close()


def test_transceive_connects_by_itself(served: Served):
    with open_reader(served.url) as rdr:
        assert rdr.transceive(FREE_MEMORY) == FRESH_FREE_MEMORY
        assert rdr.card_info is not None and rdr.card_info.uid == UID


def test_a_short_apdu_is_refused(reader: PcscReader):
    with pytest.raises(InvalidArgument):
        reader.transceive(b"\x90\x60")


def test_6cxx_sends_the_command_again_with_the_right_le(reader: PcscReader,
                                                        caplog: pytest.LogCaptureFixture):
    with caplog.at_level(TRACE, "ekarta.readers.pcsc"):
        assert reader.transceive(bytes.fromhex("FFCA000004")) == UID + b"\x90\x00"
    frames = [r.getMessage() for r in caplog.records if r.levelno == TRACE]
    assert frames == [f"{reader.url} {frame}" for frame in (
        ">> FF CA 00 00 04",
        "<< 6C 07",
        ">> FF CA 00 00 07",
        "<< 04 A0 A1 A2 A3 A4 A5 90 00",
    )]


class ChainedResponseHost(CardHost):
    """A card that answers GlobalPlatform's GET DATA (CPLC) with ``61 xx``, as T=0 cards do:
    its 42 bytes come in GET RESPONSE rounds of at most 20 bytes."""

    DATA = bytes(range(0x80, 0x80 + 42))

    def __init__(self) -> None:
        super().__init__(VirtualCard.new(uid=UID))
        self.seen: list[bytes] = []
        self._left = b""

    def transceive(self, apdu: bytes) -> bytes:
        self.seen.append(bytes(apdu))
        if apdu == bytes.fromhex("80CA9F7F00"):
            self._left = self.DATA
            return bytes([0x61, 20])
        if apdu[:4] == bytes.fromhex("00C00000") and len(apdu) == 5 and self._left:
            chunk, self._left = self._left[:apdu[4]], self._left[apdu[4]:]
            return chunk + (bytes([0x61, min(20, len(self._left))]) if self._left
                            else b"\x90\x00")
        return super().transceive(apdu)


def test_61xx_is_followed_by_get_response(pcscd: Pcscd):  # noqa: F811
    host = ChainedResponseHost()
    with serve_pcsc(host) as url, open_reader(url) as rdr:
        rdr.wait_for_card(timeout=5.0)
        host.seen.clear()
        assert rdr.transceive(bytes.fromhex("80CA9F7F00")) == ChainedResponseHost.DATA + \
            b"\x90\x00"
        assert host.seen == [bytes.fromhex(apdu) for apdu in (
            "80CA9F7F00", "00C0000014", "00C0000014", "00C0000002")]


class HostileHost(CardHost):
    """A card that answers ``80 01 00 00 00`` with whatever ``answer`` says."""

    def __init__(self, answer: bytes) -> None:
        super().__init__(VirtualCard.new(uid=UID))
        self.answer = answer
        self.count = 0

    def transceive(self, apdu: bytes) -> bytes:
        if apdu[:2] in (b"\x80\x01", b"\x00\xC0"):
            self.count += 1
            return self.answer
        return super().transceive(apdu)


def test_an_answer_without_a_status_word_is_a_timeout(pcscd: Pcscd):  # noqa: F811
    host = HostileHost(b"\x90")
    with serve_pcsc(host) as url, PcscReader(url.removeprefix("pcsc:"),
                                             removal_grace=0.3) as rdr:
        rdr.wait_for_card(timeout=5.0)
        with pytest.raises(ReaderTimeout, match="1 bytes, no status word"):
            rdr.transceive(bytes.fromhex("8001000000"))
        assert rdr.transceive(FREE_MEMORY) == FRESH_FREE_MEMORY  # the card is still there


def test_endless_61xx_is_cut_short(pcscd: Pcscd):  # noqa: F811
    host = HostileHost(b"\x61\x00")
    with serve_pcsc(host) as url, open_reader(url) as rdr:
        rdr.wait_for_card(timeout=5.0)
        with pytest.raises(ReaderError, match="still answering 61 xx after 512"):
            rdr.transceive(bytes.fromhex("8001000000"))
        assert host.count == 512


@pytest.mark.parametrize(("apdu", "le", "expected"), [
    ("00B00000", 0x10, "00B0000010"),          # case 1: Le added
    ("00B0000000", 0x10, "00B0000010"),        # case 2: Le replaced
    ("00A4040002 3F00", 0x10, "00A4040002 3F00 10"),   # case 3: Le added
    ("00A4040002 3F00 00", 0x10, "00A4040002 3F00 10"),  # case 4: Le replaced
    ("00B0000000 0001", 0x10, None),           # extended length: left alone
    ("00A4040005 3F00", 0x10, None),           # Lc does not match: left alone
])
def test_le_for_6cxx(apdu: str, le: int, expected: str | None):
    from ekarta.readers.pcsc import _with_le

    result = _with_le(bytes.fromhex(apdu.replace(" ", "")), le)
    assert result == (None if expected is None else bytes.fromhex(expected.replace(" ", "")))


@pytest.mark.parametrize(("cla", "get_response_cla"), [
    (0x00, 0x00), (0x01, 0x01), (0x0C, 0x00), (0x6D, 0x4D), (0x90, 0x00), (0x80, 0x00),
])
def test_get_response_keeps_the_logical_channel(cla: int, get_response_cla: int):
    from ekarta.readers.pcsc import _get_response_cla

    assert _get_response_cla(cla) == get_response_cla


def test_desfire_round_trip_with_aes_and_full_mode(reader: PcscReader):
    card = DESFire(reader)
    card.authenticate(0, Key.default("des"), "legacy")
    card.create_application(AID, 0x0F, 3, "aes")
    card.select_application(AID)
    card.authenticate(0, Key.default("aes"), "aes")
    card.change_key(1, AES_KEY)
    card.create_std_data_file(1, 200, comm="full", access=KEY1)
    card.authenticate(1, AES_KEY, "aes")
    data = bytes((i * 37 + 11) & 0xFF for i in range(200))  # long enough to chain frames
    card.write_data(1, data)
    assert card.read_data(1) == data
    assert card.read_data(1, offset=50, length=10) == data[50:60]
    card.authenticate(0, Key.default("aes"), "ev2first")
    assert card.get_file_ids() == [1]


def test_factory_reset_gives_a_fresh_card_on_the_same_connection(served: Served,
                                                                  reader: PcscReader):
    card = DESFire(reader)
    card.authenticate(0, Key.default("des"), "legacy")
    card.create_application(AID, 0x0F, 1, "aes")
    card.select_application(AID)
    info = reader.card_info
    factory_reset(served.host)
    card = DESFire(reader)
    assert card.get_application_ids() == []
    assert card.free_memory() == 7936
    assert reader.card_info == info and reader.wait_for_card(timeout=0) == info


# --- presence -------------------------------------------------------------------------------------


def test_another_card_is_seen_as_removal_then_a_new_card(served: Served, reader: PcscReader):
    reader.transceive(FREE_MEMORY)
    served.host.replace(VirtualCard.new(uid=OTHER_UID))
    with pytest.raises(CardRemovedError):
        reader.transceive(FREE_MEMORY)
    assert reader.wait_for_card(timeout=5.0).uid == OTHER_UID
    assert DESFire(reader).get_version().uid == OTHER_UID


def test_card_present_from_a_monitor_thread(served: Served, reader: PcscReader):
    seen: list[bool] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def monitor() -> None:
        try:
            while not stop.is_set():
                seen.append(reader.card_present)
                time.sleep(0.01)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=monitor, daemon=True)
    thread.start()
    try:
        for _ in range(50):
            assert reader.transceive(FREE_MEMORY) == FRESH_FREE_MEMORY
        served.host.remove()
        assert wait_reader(served.reader_name, present=False)
        time.sleep(0.1)
    finally:
        stop.set()
        thread.join(5.0)
    assert not thread.is_alive() and not errors
    assert seen[0] is True and seen[-1] is False


class Monitor:
    """``reader.monitor()`` run on a thread, its events collected."""

    def __init__(self, rdr: PcscReader) -> None:
        self.events: list[CardEvent] = []
        self.errors: list[BaseException] = []
        self.stop = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, args=(rdr,), daemon=True)
        self._thread.start()

    def _run(self, rdr: PcscReader) -> None:
        try:
            for event in rdr.monitor(poll=0.1, stop=self.stop, reconnect=0.2):
                with self._changed:
                    self.events.append(event)
                    self._changed.notify_all()
        except BaseException as exc:
            self.errors.append(exc)

    def wait_for(self, kinds: list[str], timeout: float = 10.0) -> None:
        with self._changed:
            done = self._changed.wait_for(
                lambda: [e.kind for e in self.events] == kinds or self.errors, timeout)
        assert not self.errors, self.errors
        assert done, f"monitor saw {[e.kind for e in self.events]}, expected {kinds}"

    def close(self) -> None:
        self.stop.set()
        self._thread.join(5.0)
        assert not self._thread.is_alive(), "the monitor did not stop"


def test_monitor_reports_removal_and_insertion(served: Served):
    with open_reader(served.url) as rdr:
        assert isinstance(rdr, PcscReader)
        monitor = Monitor(rdr)
        try:
            monitor.wait_for(["inserted"])
            served.host.remove()
            monitor.wait_for(["inserted", "removed"])
            served.host.insert()
            monitor.wait_for(["inserted", "removed", "inserted"])
        finally:
            monitor.close()
    first, removed, again = monitor.events
    assert first.info is not None and first.info.uid == UID and again.info == first.info
    assert removed.info == first.info


def test_pcscd_going_away_and_coming_back(pcscd: Pcscd, served: Served,  # noqa: F811
                                          reader: PcscReader):
    """pcscd stops (as when a reader is unplugged, the reader vanishes): NoReaderError; the
    reader is found again on the next wait_for_card once pcscd is back."""
    assert reader.transceive(FREE_MEMORY) == FRESH_FREE_MEMORY
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(pcscd.stopped())
        except PcscdShared as exc:
            pytest.skip(f"pcscd cannot be restarted now: {exc}")
        with pytest.raises(NoReaderError, match="is pcscd running"):
            reader.transceive(FREE_MEMORY)
        assert not reader.card_present
        with pytest.raises(NoReaderError, match=r"after 0\.3 s"):
            reader.wait_for_card(timeout=0.3)
    info = reader.wait_for_card(timeout=10.0)  # the front-end reconnects to the new vpcd
    assert info.uid == UID
    assert reader.transceive(FREE_MEMORY) == FRESH_FREE_MEMORY
    assert reader.card_present


def test_monitor_survives_pcscd_going_away(pcscd: Pcscd, served: Served):  # noqa: F811
    """A terminal on monitor() sees the card go with pcscd and come back with it (reopen())."""
    with open_reader(served.url) as rdr:
        assert isinstance(rdr, PcscReader)
        monitor = Monitor(rdr)
        try:
            monitor.wait_for(["inserted"])
            with contextlib.ExitStack() as stack:
                try:
                    stack.enter_context(pcscd.stopped())
                except PcscdShared as exc:
                    pytest.skip(f"pcscd cannot be restarted now: {exc}")
                monitor.wait_for(["inserted", "removed"])
                time.sleep(1.0)  # long enough for wait_for_card to give up: monitor must reopen
            # pcscd is back: the front-end reconnects to vpcd, the monitor reopens the reader
            monitor.wait_for(["inserted", "removed", "inserted"], timeout=15.0)
        finally:
            monitor.close()
    assert monitor.events[-1].info is not None and monitor.events[-1].info.uid == UID
