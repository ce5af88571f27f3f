"""The vpcd front-end against a small vpcd of our own: vpcd's wire format on a real TCP socket.

``FakeVpcd`` plays pcscd's vpcd driver: it listens on a free port of 127.0.0.1, accepts the
front-end's connection and speaks vpcd's protocol (2-byte big-endian length, then the payload;
1-byte control codes).  End-to-end tests with the real pcscd and vpcd are in
``test_readers_pcsc.py``.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from ekarta.desfire.client import DESFire
from ekarta.desfire.crypto import Key
from ekarta.emulator import CardHost, Faults, VirtualCard
from ekarta.emulator.vpcd import DEFAULT_ADDRESS, VpcdFrontEnd, parse_address
from ekarta.errors import InvalidArgument
from ekarta.log import TRACE

UID = bytes.fromhex("04A0A1A2A3A4A5")
ATR = bytes.fromhex("3B8180018080")
GET_VERSION = bytes.fromhex("9060000000")
FREE_MEMORY = bytes.fromhex("906E000000")
TIMEOUT = 3.0  # the longest any single step may take before the test fails


class FakeVpcd:
    """vpcd's end of the wire: a TCP server on 127.0.0.1 taking one virtual card at a time."""

    def __init__(self, port: int = 0) -> None:
        self.server = socket.create_server(("127.0.0.1", port))
        self.port = self.server.getsockname()[1]
        self.conn: socket.socket | None = None
        self.accepted = 0

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def accept(self, timeout: float = TIMEOUT) -> socket.socket:
        self.server.settimeout(timeout)
        try:
            conn, _ = self.server.accept()
        except TimeoutError:
            raise AssertionError(f"the front-end did not connect within {timeout} s") from None
        self.drop()
        self.conn = conn
        self.accepted += 1
        return conn

    def no_connection(self, within: float) -> bool:
        """True if the front-end does not connect within ``within`` seconds."""
        self.server.settimeout(within)
        try:
            conn, _ = self.server.accept()
        except TimeoutError:
            return True
        conn.close()
        return False

    def send_raw(self, data: bytes) -> None:
        assert self.conn is not None, "no connection"
        self.conn.sendall(data)

    def send(self, payload: bytes) -> None:
        self.send_raw(struct.pack(">H", len(payload)) + payload)

    def _recv_exact(self, n: int, timeout: float) -> bytes:
        assert self.conn is not None, "no connection"
        self.conn.settimeout(timeout)
        data = b""
        while len(data) < n:
            chunk = self.conn.recv(n - len(data))
            if not chunk:
                raise ConnectionAbortedError("the front-end closed the connection")
            data += chunk
        return data

    def recv(self, timeout: float = TIMEOUT) -> bytes:
        (length,) = struct.unpack(">H", self._recv_exact(2, timeout))
        return self._recv_exact(length, timeout)

    def exchange(self, payload: bytes, timeout: float = TIMEOUT) -> bytes:
        self.send(payload)
        return self.recv(timeout)

    def control(self, code: int) -> None:
        self.send(bytes([code]))

    def atr(self) -> bytes:
        return self.exchange(b"\x04")

    def silent(self, within: float) -> bool:
        """True if nothing arrives (and the connection stays open) for ``within`` seconds."""
        assert self.conn is not None
        self.conn.settimeout(within)
        try:
            self.conn.recv(1)
        except TimeoutError:
            return True
        return False

    def closed_by_peer(self, timeout: float = TIMEOUT) -> bool:
        """Wait until the front-end closes the connection; False if it stays open."""
        assert self.conn is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.conn.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                if not self.conn.recv(4096):
                    return True
            except TimeoutError:
                return False
            except ConnectionResetError:
                return True
        return False

    def drop(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def close(self) -> None:
        self.drop()
        self.server.close()


@pytest.fixture
def vpcd() -> Iterator[FakeVpcd]:
    server = FakeVpcd()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def make_front_end(host: CardHost) -> Iterator[Callable[..., VpcdFrontEnd]]:
    """Start VpcdFrontEnds for ``host``; every one is stopped (and its thread joined) after."""
    made: list[VpcdFrontEnd] = []

    def make(address: tuple[str, int], **options: float) -> VpcdFrontEnd:
        options.setdefault("retry_interval", 0.05)
        options.setdefault("max_retry_interval", 0.2)
        front_end = VpcdFrontEnd(host, address, **options)
        made.append(front_end)
        front_end.start()
        return front_end

    yield make
    for front_end in made:
        front_end.stop()
        assert not front_end.running, "the front-end thread did not end"


@pytest.fixture
def served(vpcd: FakeVpcd, make_front_end: Callable[..., VpcdFrontEnd]) -> VpcdFrontEnd:
    """A front-end connected to ``vpcd`` (already accepted)."""
    front_end = make_front_end(vpcd.address)
    vpcd.accept()
    return front_end


def test_atr_apdus_and_banner(vpcd: FakeVpcd, served: VpcdFrontEnd, host: CardHost):
    assert vpcd.atr() == ATR
    first = vpcd.exchange(GET_VERSION)
    assert first[-2:] == b"\x91\xAF" and len(first) == 9
    assert vpcd.exchange(bytes.fromhex("90AF000000"))[-2:] == b"\x91\xAF"
    last = vpcd.exchange(bytes.fromhex("90AF000000"))
    assert last[:7] == UID and last[-2:] == b"\x91\x00"
    assert vpcd.exchange(FREE_MEMORY) == bytes.fromhex("001F00 9100")
    assert served.describe() == f"vpcd: connected to 127.0.0.1:{vpcd.port}"
    assert served.connected and served.connections == 1
    assert served.messages == 5
    assert host.card.commands_processed == 4


def test_power_control_codes_cycle_the_card(vpcd: FakeVpcd, served: VpcdFrontEnd,
                                            host: CardHost):
    assert vpcd.exchange(bytes.fromhex("90CA000005 010000 0F 81 00".replace(" ", ""))) \
        == b"\x91\x00"
    for code in (0, 1, 2):
        assert vpcd.exchange(bytes.fromhex("905A00000301000000")) == b"\x91\x00"
        assert host.card.selected_aid == 1
        vpcd.control(code)
        assert vpcd.silent(0.1), f"control code {code} must get no answer"
        assert host.card.selected_aid == 0, f"control code {code} did not power-cycle the card"
    assert vpcd.atr() == ATR  # the ATR request alone does not reset the card
    assert vpcd.exchange(bytes.fromhex("905A00000301000000")) == b"\x91\x00"
    assert vpcd.atr() == ATR
    assert host.card.selected_aid == 1


@pytest.mark.parametrize(("apdu", "response"), [
    ("FFCA000000", UID.hex() + "9000"),
    ("FFCA0000", UID.hex() + "9000"),            # no Le: all of it
    ("FFCA000007", UID.hex() + "9000"),
    ("FFCA000004", "6C07"),                      # Le too short: the exact length
    ("FFCA00000A", UID.hex() + "6282"),          # Le too long: end of data reached
    ("FFCA010000", "809000"),                    # the ATS historical bytes
    ("FFCA010002", "806282"),
    ("FFCA020000", "6A81"),
    ("FFCA000100", "6A81"),
    ("FFCA00000100", "6700"),                    # GET DATA carries no data
    ("FFCA", "6700"),
    ("FF82000006FFFFFFFFFFFF", "6A81"),          # load keys: no key store
    ("FFB0000010", "6A81"),                      # read binary: no storage card
    ("FF00000002D402", "6D00"),                  # a vendor's pseudo-APDU
])
def test_pcsc_part3_pseudo_apdus_are_answered_by_the_reader(
        vpcd: FakeVpcd, served: VpcdFrontEnd, host: CardHost, apdu: str, response: str):
    assert vpcd.exchange(bytes.fromhex(apdu)).hex().upper() == response.upper()
    assert host.card.commands_processed == 0, "the card must not see a reader's own command"


def test_get_data_gives_the_random_id_of_a_random_uid_card(vpcd: FakeVpcd, served: VpcdFrontEnd,
                                                            host: CardHost):
    client = DESFire(host)
    client.authenticate(0, Key.default("des"), "legacy")
    client.configure_picc(random_uid=True)
    vpcd.control(1)
    uid = vpcd.exchange(bytes.fromhex("FFCA000000"))
    assert uid[-2:] == b"\x90\x00" and len(uid) == 6 and uid[0] == 0x08
    assert uid[:-2] == host.card.anticollision_uid != UID


@pytest.mark.slow
def test_removal_closes_the_connection_and_insertion_reconnects(
        vpcd: FakeVpcd, served: VpcdFrontEnd, host: CardHost):
    assert vpcd.atr() == ATR
    host.remove()
    assert vpcd.closed_by_peer(), "a removed card must drop the connection"
    assert vpcd.no_connection(within=0.4), "no reconnection while the card is out"
    assert served.describe().startswith("vpcd: card not in the field")
    host.insert()
    vpcd.accept()
    assert vpcd.atr() == ATR
    assert served.connections == 2


@pytest.mark.slow
def test_removal_then_insertion_at_once_still_drops_the_connection(
        vpcd: FakeVpcd, served: VpcdFrontEnd, host: CardHost):
    assert vpcd.exchange(bytes.fromhex("905A00000300000000")) == b"\x91\x00"
    left = time.monotonic()
    host.remove()
    host.insert()
    assert vpcd.closed_by_peer(), "the card was out: the reader must see it go"
    vpcd.accept()
    # out for longer than pcscd's presence poll, or pcscd would not notice the swap
    assert time.monotonic() - left >= served.min_absence == 0.6
    assert vpcd.atr() == ATR


@pytest.mark.slow
def test_a_tear_during_an_exchange_gets_no_answer(vpcd: FakeVpcd, served: VpcdFrontEnd,
                                                  host: CardHost):
    host.arm(Faults(tear_after=0))
    vpcd.send(FREE_MEMORY)
    assert vpcd.closed_by_peer(), "a torn card must drop the connection, not answer"
    assert not host.present
    assert vpcd.no_connection(within=0.3)
    host.insert()
    vpcd.accept()
    assert vpcd.exchange(FREE_MEMORY) == bytes.fromhex("001F00 9100")


class SlowToLookHost(CardHost):
    """A host whose presence takes 0.3 s to read once ``slow`` is set: what the front-end does
    before it looks (queue its next connection) is then visibly done before it looks."""

    slow = False

    @property
    def present(self) -> bool:
        if self.slow:
            time.sleep(0.3)
        return super().present


@pytest.mark.slow
def test_a_mute_card_drops_the_exchange_after_the_mute_timeout(vpcd: FakeVpcd):
    host = SlowToLookHost(VirtualCard.new(uid=UID))
    front_end = VpcdFrontEnd(host, vpcd.address, mute_timeout=0.3)
    front_end.start()
    try:
        vpcd.accept()
        host.arm(Faults(mute=True))
        host.slow = True
        started = time.monotonic()
        vpcd.send(FREE_MEMORY)
        assert vpcd.closed_by_peer(timeout=TIMEOUT)
        waited = time.monotonic() - started
        assert 0.25 <= waited < 2.0, f"mute card dropped after {waited:.2f} s, expected 0.3 s"
        # still in the field: the next connection was queued before this one closed, so vpcd
        # finds the card again at once (pcscd never sees it leave)
        vpcd.accept(timeout=0.01)
        host.slow = False
        host.arm(None)
        assert vpcd.exchange(FREE_MEMORY) == bytes.fromhex("001F00 9100")
    finally:
        front_end.stop()
    assert not front_end.running


def test_retries_until_vpcd_listens(make_front_end: Callable[..., VpcdFrontEnd]):
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    started = time.monotonic()
    front_end = make_front_end(("127.0.0.1", port))
    assert time.monotonic() - started < 2.5, "start() must not wait for vpcd"
    assert not front_end.connected
    assert "retrying" in front_end.describe()
    time.sleep(0.3)
    late = FakeVpcd(port)
    try:
        late.accept()
        assert late.atr() == ATR
        assert front_end.describe() == f"vpcd: connected to 127.0.0.1:{port}"
    finally:
        late.close()


def test_a_card_out_of_the_field_at_start_connects_when_inserted(
        vpcd: FakeVpcd, make_front_end: Callable[..., VpcdFrontEnd], host: CardHost):
    host.remove()
    front_end = make_front_end(vpcd.address)
    assert vpcd.no_connection(within=0.3)
    assert not front_end.connected
    host.insert()
    vpcd.accept()
    assert vpcd.atr() == ATR


@pytest.mark.parametrize(("garbage", "why"), [
    (b"\x00\x00", "an empty message"),
    (b"\x00\x01\x07", "an unknown control code"),
    (b"\x00\x0A\x90\x60\x00", "a message cut short"),
], ids=["empty", "unknown-control", "cut-short"])
def test_garbage_from_vpcd_drops_the_connection(
        vpcd: FakeVpcd, make_front_end: Callable[..., VpcdFrontEnd], host: CardHost,
        garbage: bytes, why: str):
    make_front_end(vpcd.address, message_timeout=0.3)
    vpcd.accept()
    vpcd.send_raw(garbage)
    assert vpcd.closed_by_peer(), f"{why} must drop the connection"
    assert host.card.commands_processed == 0
    vpcd.accept()  # and the front-end tries again
    assert vpcd.atr() == ATR


@pytest.mark.slow
def test_a_peer_that_hangs_up_at_once_is_retried_with_back_off(
        vpcd: FakeVpcd, make_front_end: Callable[..., VpcdFrontEnd]):
    make_front_end(vpcd.address, retry_interval=0.1, max_retry_interval=1.0)
    deadline = time.monotonic() + 1.2
    while time.monotonic() < deadline:
        vpcd.accept()
        vpcd.drop()
    assert 2 <= vpcd.accepted <= 6, f"{vpcd.accepted} connections in 1.2 s: no back-off"


def test_vpcd_closing_the_connection_makes_the_front_end_reconnect(
        vpcd: FakeVpcd, served: VpcdFrontEnd):
    assert vpcd.atr() == ATR
    vpcd.drop()
    vpcd.accept()
    assert vpcd.atr() == ATR
    assert served.connections == 2


def test_stop_closes_the_connection_and_is_idempotent(vpcd: FakeVpcd, host: CardHost):
    with VpcdFrontEnd(host, vpcd.address) as front_end:
        vpcd.accept()
        assert vpcd.atr() == ATR
        assert front_end.running
    assert not front_end.running
    assert vpcd.closed_by_peer()
    assert front_end.describe() == "vpcd: stopped"
    front_end.stop()
    host.remove()
    host.insert()  # no listener left behind
    assert vpcd.no_connection(within=0.2)
    with pytest.raises(InvalidArgument):
        front_end.start()


def test_stop_while_retrying_is_prompt(host: CardHost):
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    front_end = VpcdFrontEnd(host, ("127.0.0.1", port), retry_interval=0.5,
                             max_retry_interval=5.0)
    front_end.start()
    started = time.monotonic()
    front_end.stop()
    assert not front_end.running
    # well below the 5 s retry interval and FrontEnd.JOIN_TIMEOUT
    assert time.monotonic() - started < 3.0


def test_stop_during_a_mute_wait_is_prompt(vpcd: FakeVpcd, host: CardHost):
    front_end = VpcdFrontEnd(host, vpcd.address, mute_timeout=30.0)
    front_end.start()
    try:
        vpcd.accept()
        host.arm(Faults(mute=True))
        vpcd.send(FREE_MEMORY)
        time.sleep(0.1)
    finally:
        started = time.monotonic()
        front_end.stop()
    assert not front_end.running
    assert time.monotonic() - started < 3.0


@pytest.mark.slow
def test_presence_changes_from_another_thread_do_not_deadlock(
        vpcd: FakeVpcd, served: VpcdFrontEnd, host: CardHost):
    """The listener runs under the host's lock while the worker may wait for that lock."""
    stop = threading.Event()

    def toggle() -> None:
        while not stop.is_set():
            host.remove()
            host.insert()
            time.sleep(0.005)

    toggler = threading.Thread(target=toggle, daemon=True)
    toggler.start()
    try:
        deadline = time.monotonic() + 0.5
        while time.monotonic() < deadline:
            try:
                vpcd.exchange(FREE_MEMORY, timeout=0.5)
            except OSError:  # the card was out: the connection went
                break
    finally:
        stop.set()
        toggler.join(TIMEOUT)
    assert not toggler.is_alive()
    assert host.present and served.running
    vpcd.accept()  # back once the card has stayed in the field for min_absence
    assert vpcd.exchange(FREE_MEMORY) == bytes.fromhex("001F00 9100")


def own_records(caplog: pytest.LogCaptureFixture, vpcd: FakeVpcd) -> list[logging.LogRecord]:
    """The records of the front-end serving ``vpcd``: other front-ends of the session (the one
    in pcscd's real vpcd, polled with ATR requests) log to the same logger meanwhile."""
    return [r for r in caplog.records if r.threadName == f"vpcd 127.0.0.1:{vpcd.port}"]


def test_frames_are_traced(vpcd: FakeVpcd, served: VpcdFrontEnd,
                           caplog: pytest.LogCaptureFixture):
    with caplog.at_level(TRACE, "ekarta.emulator.vpcd"):
        assert vpcd.exchange(FREE_MEMORY) == bytes.fromhex("001F00 9100")
    messages = [r.getMessage() for r in own_records(caplog, vpcd) if r.levelno == TRACE]
    assert messages == ["vpcd >> 90 6E 00 00 00", "vpcd << 00 1F 00 91 00"]


def test_the_library_logs_why_it_drops_a_connection(vpcd: FakeVpcd, served: VpcdFrontEnd,
                                                    host: CardHost,
                                                    caplog: pytest.LogCaptureFixture):
    def left(caplog: pytest.LogCaptureFixture) -> bool:
        return any("the card left the field" in r.getMessage()
                   for r in own_records(caplog, vpcd))

    with caplog.at_level(logging.INFO, "ekarta.emulator.vpcd"):
        host.remove()
        assert vpcd.closed_by_peer()
        deadline = time.monotonic() + TIMEOUT
        while not left(caplog) and time.monotonic() < deadline:
            time.sleep(0.01)
    assert left(caplog)


@pytest.mark.parametrize(("text", "address"), [
    (None, DEFAULT_ADDRESS),
    ("", DEFAULT_ADDRESS),
    ("127.0.0.1:35964", ("127.0.0.1", 35964)),
    ("localhost", ("localhost", 35963)),
    ("35964", ("127.0.0.1", 35964)),
    (":35964", ("127.0.0.1", 35964)),
    ("[::1]:4000", ("::1", 4000)),
    ("[::1]", ("::1", 35963)),
])
def test_parse_address(text: str | None, address: tuple[str, int]):
    assert parse_address(text) == address


@pytest.mark.parametrize("text", ["host:0", "host:65536", "host:port", "[::1", "[::1]x"])
def test_parse_address_rejects(text: str):
    with pytest.raises(InvalidArgument):
        parse_address(text)


def test_bad_options_are_rejected(host: CardHost):
    with pytest.raises(InvalidArgument):
        VpcdFrontEnd(host, ("127.0.0.1", 0))
    with pytest.raises(InvalidArgument):
        VpcdFrontEnd(host, mute_timeout=0)
    assert VpcdFrontEnd(host, "127.0.0.1:4000").address == ("127.0.0.1", 4000)
