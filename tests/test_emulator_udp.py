"""The UDP front-end (:mod:`ekarta.emulator.udp`): its datagrams, and nfcpy's real udp driver."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import nfc
import nfc.clf
import nfc.tag
import pytest

from ekarta.emulator import CardHost
from ekarta.emulator.iso14443 import State
from ekarta.emulator.udp import MAX_DATAGRAM, UdpFrontEnd
from ekarta.errors import EmulatorError

UID = bytes.fromhex("04A1B2C3D4E5F6")
WAIT = 2.0


@pytest.fixture
def front_end(host: CardHost) -> Iterator[UdpFrontEnd]:
    fe = UdpFrontEnd(host, ("127.0.0.1", 0))
    fe.start()
    try:
        yield fe
    finally:
        fe.stop()


class Peer:
    """A raw UDP socket talking to the front-end, as nfcpy's driver does."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(WAIT)

    def send(self, datagram: bytes) -> None:
        self.sock.sendto(datagram, self.address)

    def ask(self, datagram: bytes, timeout: float = WAIT) -> bytes | None:
        self.send(datagram)
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(4096)
        except TimeoutError:
            return None

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def peer(front_end: UdpFrontEnd) -> Iterator[Peer]:
    p = Peer(front_end.address)
    try:
        yield p
    finally:
        p.close()


@pytest.fixture
def clf(front_end: UdpFrontEnd) -> Iterator[nfc.ContactlessFrontend]:
    host, port = front_end.address
    frontend = nfc.ContactlessFrontend(f"udp:{host}:{port}")
    try:
        yield frontend
    finally:
        frontend.close()


# --- the datagram format -------------------------------------------------------------------------


def test_front_end_answers_the_exact_frames(peer: Peer) -> None:
    # UID 04 A1 B2 C3 D4 E5 F6: CL1 = 88 04 A1 B2, BCC 88^04^A1^B2 = 9F; CL2 = C3 D4 E5 F6,
    # BCC C3^D4^E5^F6 = 04
    assert peer.ask(b"106A 26") == b"106A 4403"
    assert peer.ask(b"106A 9320") == b"106A 8804a1b29f"
    assert peer.ask(b"106A 93708804a1b29f") == b"106A 04"
    assert peer.ask(b"106A 9520") == b"106A c3d4e5f604"
    assert peer.ask(b"106A 9570c3d4e5f604") == b"106A 20"
    assert peer.ask(b"106A e080") == b"106A 067577810280"
    assert peer.ask(b"106A 029060000000") == b"106A 020401011200" + b"1a0591af"
    assert peer.ask(b"106A c2") == b"106A c2"


def test_upper_case_hex_and_a_trailing_newline_are_accepted(peer: Peer) -> None:
    assert peer.ask(b"106A 26") == b"106A 4403"
    assert peer.ask(b"106A 93708804A1B29F\n") == b"106A 04"


@pytest.mark.slow
def test_other_technologies_and_garbage_get_no_answer(peer: Peer) -> None:
    assert peer.ask(b"106B 050010", timeout=0.3) is None
    assert peer.ask(b"212F 0600ffff0100", timeout=0.3) is None
    assert peer.ask(b"hello", timeout=0.3) is None
    assert peer.ask(b"106A 2", timeout=0.3) is None  # odd hex
    assert peer.ask(b"106A zz", timeout=0.3) is None
    assert peer.ask(b"106A", timeout=0.3) is None
    assert peer.ask(b"\xff\xfe\x00", timeout=0.3) is None
    assert peer.ask(b"106A " + b"00" * MAX_DATAGRAM, timeout=0.3) is None  # oversized
    # and the front-end is still there
    assert peer.ask(b"106A 26") == b"106A 4403"


def test_absent_card_is_silent(peer: Peer, host: CardHost) -> None:
    host.remove()
    assert peer.ask(b"106A 26", timeout=0.3) is None
    host.insert()
    assert peer.ask(b"106A 26") == b"106A 4403"


def test_rfoff_powers_the_card_down(peer: Peer, front_end: UdpFrontEnd, host: CardHost) -> None:
    assert peer.ask(b"106A 26") == b"106A 4403"
    assert front_end.model is not None and front_end.model.state is State.READY
    peer.send(b"RFOFF")
    assert peer.ask(b"106A 9320", timeout=0.3) is None  # IDLE: anticollision means nothing
    assert front_end.model.state is State.IDLE


def test_a_new_reader_is_a_new_field(front_end: UdpFrontEnd) -> None:
    first, second = Peer(front_end.address), Peer(front_end.address)
    try:
        assert first.ask(b"106A 26") == b"106A 4403"
        assert first.ask(b"106A 93708804a1b29f") == b"106A 04"
        assert first.ask(b"106A 9570c3d4e5f604") == b"106A 20"
        assert first.ask(b"106A e080") == b"106A 067577810280"
        # another socket: the first reader is gone, the card starts over for the second
        assert second.ask(b"106A 26") == b"106A 4403"
        # an RFOFF from the reader that is gone changes nothing
        first.send(b"RFOFF")
        assert second.ask(b"106A 9320") == b"106A 8804a1b29f"
    finally:
        first.close()
        second.close()


# --- lifecycle -----------------------------------------------------------------------------------


def test_start_stop_describe(host: CardHost) -> None:
    fe = UdpFrontEnd(host, ("127.0.0.1", 0))
    assert "stopped" in fe.describe()
    with fe:
        host_, port = fe.address
        assert host_ == "127.0.0.1" and port > 0
        assert fe.describe() == (f"udp: nfcpy udp driver listening on 127.0.0.1:{port} "
                                 f"(reader URL nfcpy:udp:127.0.0.1:{port})")
        assert fe.url == f"nfcpy:udp:127.0.0.1:{port}"
        names = {t.name for t in threading.enumerate()}
        assert f"udp-frontend-{port}" in names
    fe.stop()  # idempotent
    assert f"udp-frontend-{port}" not in {t.name for t in threading.enumerate()}
    # the port is free again
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind(("127.0.0.1", port))
    finally:
        probe.close()


def test_port_in_use_is_a_clear_error(host: CardHost, front_end: UdpFrontEnd) -> None:
    with pytest.raises(EmulatorError, match=r"cannot listen on 127\.0\.0\.1"):
        UdpFrontEnd(host, front_end.address).start()


# --- nfcpy's own udp driver ----------------------------------------------------------------------


@pytest.mark.interop
def test_nfcpy_senses_the_card(clf: nfc.ContactlessFrontend) -> None:
    target = clf.sense(nfc.clf.RemoteTarget("106A"))
    assert target is not None
    assert bytes(target.sdd_res) == UID
    assert bytes(target.sens_res) == bytes.fromhex("4403")
    assert bytes(target.sel_res) == b"\x20"


@pytest.mark.interop
def test_nfcpy_selects_the_card_by_uid(clf: nfc.ContactlessFrontend) -> None:
    target = clf.sense(nfc.clf.RemoteTarget("106A", sel_req=bytearray(UID)))
    assert target is not None and bytes(target.sdd_res) == UID
    other = bytearray(UID)
    other[-1] ^= 0xFF
    assert clf.sense(nfc.clf.RemoteTarget("106A", sel_req=other)) is None


@pytest.mark.interop
def test_nfcpy_type4_tag_exchanges_apdus(clf: nfc.ContactlessFrontend) -> None:
    target = clf.sense(nfc.clf.RemoteTarget("106A"))
    tag = nfc.tag.activate(clf, target)
    assert isinstance(tag, nfc.tag.tt4.Type4ATag)
    response = tag.transceive(bytearray.fromhex("9060000000"))
    assert bytes(response) == bytes.fromhex("04010112001A0591AF")
    assert tag.is_present


@pytest.mark.interop
def test_nfcpy_sees_a_removed_card_gone(clf: nfc.ContactlessFrontend, host: CardHost) -> None:
    target = clf.sense(nfc.clf.RemoteTarget("106A"))
    tag = nfc.tag.activate(clf, target)
    assert tag.is_present
    host.remove()
    assert not tag.is_present
    assert clf.sense(nfc.clf.RemoteTarget("106A")) is None
