"""The ``pn532:`` reader: the HSU frame codec, and the driver against the emulated PN532 on a pty.

Every driver test talks to a real pseudo-terminal with the emulated chip
(:class:`ekarta.emulator.pn532.Pn532FrontEnd`) and the real card behind it.  What every driver
does (mute card, removal mid-transaction, tracing, closing, waiting for a card) is checked for
this one too by ``test_readers_contract.py``.
"""

from __future__ import annotations

import os
import pty
import random
import time

import pytest

from ekarta.desfire import AccessRights, DESFire, Key, KeySettings
from ekarta.emulator import Faults
from ekarta.errors import (
    InvalidArgument,
    NoReaderError,
    ReaderError,
    ReaderTimeout,
)
from ekarta.log import TRACE
from ekarta.readers import open_reader
from ekarta.readers.pn532 import ACK_TIMEOUT, Pn532Reader, open_pn532, parse_target_data
from ekarta.wire.pn532_frame import (
    ACK,
    ERROR_FRAME,
    MAX_PAYLOAD,
    NACK,
    WAKEUP,
    FrameDecoder,
    FrameKind,
    encode,
)
from tests.support.pn532 import front_end, serve_pn532

UID = bytes.fromhex("04C0FFEE123456")
ATS = bytes.fromhex("067577810280")
AID = 0x504E32
AES_DEFAULT = Key.aes(bytes(16))


# --- the frame codec -----------------------------------------------------------------------------


def test_encode_normal_and_extended_frames():
    assert encode(b"\xD4\x02") == bytes.fromhex("0000FF02FED4022A00")
    assert encode(b"\xD4\x14\x01\x00\x00") == bytes.fromhex("0000FF05FBD4140100001700")
    payload = b"\xD4\x00" + bytes(254)  # 256 bytes: too long for LEN
    frame = encode(payload)
    assert frame[:8] == bytes.fromhex("0000FFFFFF0100FF")
    assert frame[8:-2] == payload and frame[-1] == 0
    assert (sum(payload) + frame[-2]) & 0xFF == 0
    assert len(encode(b"\xD4" + bytes(254))) == 255 + 7  # 255 still fits a normal frame
    with pytest.raises(ValueError):
        encode(b"")
    with pytest.raises(ValueError):
        encode(bytes(MAX_PAYLOAD + 1))


def test_decode_every_kind_of_frame():
    stream = (WAKEUP + encode(b"\xD5\x03\x32\x01\x06\x07") + ACK + NACK + ERROR_FRAME
              + encode(b"\xD5\x01" + bytes(263)))
    frames = FrameDecoder(max_payload=400).feed(stream)
    assert [f.kind for f in frames] == [FrameKind.INFORMATION, FrameKind.ACK, FrameKind.NACK,
                                        FrameKind.ERROR, FrameKind.INFORMATION]
    first = frames[0]
    assert first.tfi == 0xD5 and first.code == 0x03 and first.data == b"\x32\x01\x06\x07"
    assert frames[4].data == bytes(263)


def test_decode_checksum_errors_and_resynchronise():
    good = encode(b"\xD5\x03\x32\x01\x06\x07")
    bad_dcs = good[:-2] + bytes([good[-2] ^ 0xFF]) + good[-1:]
    bad_lcs = good[:4] + bytes([good[4] ^ 0x10]) + good[5:]
    extended = encode(b"\xD5\x01" + bytes(263))
    bad_extended = extended[:7] + bytes([extended[7] ^ 1]) + extended[8:]
    decoder = FrameDecoder(max_payload=400)
    frames = decoder.feed(bad_dcs + bad_lcs + bad_extended + good)
    kinds = [(f.kind, f.reason) for f in frames]
    assert kinds[0] == (FrameKind.BAD, "data checksum error")
    assert (FrameKind.BAD, "length checksum error") in kinds
    assert (FrameKind.BAD, "extended frame length checksum error") in kinds
    assert frames[-1].kind is FrameKind.INFORMATION and frames[-1].data == b"\x32\x01\x06\x07"


def test_decode_bounds_and_pieces():
    decoder = FrameDecoder()
    too_long = bytes.fromhex("0000FFFFFF0200FE")  # 512 bytes announced
    frames = decoder.feed(too_long)
    assert frames[0].kind is FrameKind.BAD and "outside" in frames[0].reason
    assert decoder.pending == 0
    frame = encode(b"\xD5\x4B\x00")
    out = []
    for i in range(len(frame)):  # byte by byte, a start code split across pieces included
        out += decoder.feed(frame[i:i + 1])
    assert [f.data for f in out] == [b"\x00"]
    rng = random.Random(7)
    for _ in range(50):
        decoder.feed(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 800))))
        assert decoder.pending <= MAX_PAYLOAD + 8


def test_parse_target_data():
    data = bytes([1, 1, 0x03, 0x44, 0x20, 7]) + UID + ATS
    target = parse_target_data(data)
    assert target is not None
    assert (target.number, target.atqa, target.sak, target.uid, target.ats) == \
        (1, b"\x44\x03", 0x20, UID, ATS)
    assert parse_target_data(b"\x00") is None
    for broken in (b"", bytes([1, 1, 3, 0x44, 0x20, 9]) + UID, bytes([1, 1, 3, 0x44, 0x20, 7]),
                   bytes([1, 1, 3, 0x44, 0x20, 7]) + UID + b"\x09\x75"):
        with pytest.raises(ReaderError):
            parse_target_data(broken)


# --- the URL -------------------------------------------------------------------------------------


@pytest.mark.parametrize("rest, message", [
    ("", "needs a serial port"),
    ("?baud=9600", "needs a serial port"),
    ("/dev/null?baud=fast", "baud must be a number"),
    ("/dev/null?baud=0", "must be positive"),
    ("/dev/null?timeout=-1", "must be positive"),
    ("/dev/null?speed=9600", "unknown parameter"),
    ("/dev/null?baud=1&baud=2", "given 2 times"),
])
def test_url_errors(rest, message):
    with pytest.raises(InvalidArgument, match=message):
        open_pn532(rest)


def test_missing_port_is_no_reader(tmp_path):
    with pytest.raises(NoReaderError, match="cannot open"):
        open_reader(f"pn532:{tmp_path / 'nothing'}")


@pytest.mark.slow
def test_a_silent_port_is_no_reader():
    master, slave = pty.openpty()
    try:
        started = time.monotonic()
        with pytest.raises(NoReaderError, match="no PN532 answers"):
            open_reader(f"pn532:{os.ttyname(slave)}?timeout=0.3")
        assert time.monotonic() - started < 5
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.slow
def test_a_port_that_echoes_is_no_reader():
    # pyserial's loop:// URL: the driver hears its own commands, never a PN532
    with pytest.raises(NoReaderError):
        open_reader("pn532:loop://?timeout=0.3")


# --- the driver against the emulated chip --------------------------------------------------------


@pytest.fixture
def url(host):
    with serve_pn532(host) as url:
        yield url


@pytest.fixture
def reader(url):
    with open_reader(url) as reader:
        yield reader


def test_open_and_card_info(reader, url):
    assert isinstance(reader, Pn532Reader)
    assert reader.url == url and reader.firmware == bytes([0x32, 1, 6, 7])
    assert not reader.card_present and reader.card_info is None
    info = reader.wait_for_card(timeout=2)
    assert info.uid == UID and info.atqa == b"\x44\x03" and info.sak == 0x20
    assert info.ats == ATS and info.atr == bytes.fromhex("3B8180018080")
    assert reader.card_present and reader.card_info == info
    assert reader.wait_for_card(timeout=0) == info  # still there: nothing to do


def test_get_version(reader):
    reader.wait_for_card(timeout=2)
    version = DESFire(reader).get_version()
    assert version.uid == UID and version.hw_storage_size == 0x1A


def test_desfire_round_trip_with_a_300_byte_full_mode_file(reader):
    reader.wait_for_card(timeout=2)
    card = DESFire(reader)
    card.create_application(AID, KeySettings(), key_count=2, key_type="aes")
    card.select_application(AID)
    card.authenticate(0, AES_DEFAULT, "aes")
    card.create_std_data_file(1, 300, comm="full", access=AccessRights(0, 0, 0, 0))
    data = bytes((i * 13 + 5) & 0xFF for i in range(300))
    card.write_data(1, data)
    assert card.read_data(1) == data
    card.authenticate(0, AES_DEFAULT, "ev2first")
    assert card.read_data(1, 100, 150) == data[100:250]


def test_commands_longer_than_a_frame_go_with_mi(reader, host):
    received: list[bytes] = []
    original = host.transceive

    def recording(apdu: bytes) -> bytes:
        received.append(bytes(apdu))
        return original(apdu)

    host.transceive = recording  # type: ignore[method-assign]
    reader.wait_for_card(timeout=2)
    apdu = bytes.fromhex("90C4000000") + bytes(range(256)) + bytes(39)  # 300 bytes
    assert reader.transceive(apdu) == b"\x67\x00"  # no short APDU is that long
    assert received == [apdu]


def test_answers_longer_than_a_frame_come_with_mi(reader, url):
    reader.wait_for_card(timeout=2)
    chip = front_end(url).chip
    assert chip is not None
    chip.max_data = 16  # the chip hands out every answer in 16-byte parts
    card = DESFire(reader)
    card.create_application(AID)
    card.select_application(AID)
    card.create_std_data_file(1, 200)
    data = bytes(range(200))
    card.write_data(1, data)
    assert card.read_data(1) == data
    assert DESFire(reader).get_version().uid == UID


def test_a_chip_chaining_empty_parts_for_ever_is_refused(reader, url):
    reader.wait_for_card(timeout=2)
    chip = front_end(url).chip
    assert chip is not None
    parts = 0

    def empty_part() -> bytes:
        nonlocal parts
        parts += 1
        return b"\x40" if parts < 10_000 else b"\x00"  # MI with nothing in it

    chip._next_part = empty_part  # type: ignore[method-assign]
    with pytest.raises(ReaderError, match="empty part"):
        reader.transceive(bytes.fromhex("9060000000"))
    assert parts <= 2


def test_slow_card(reader, host):
    reader.wait_for_card(timeout=2)
    host.arm(Faults(latency=0.3))  # the card asks for waiting time extensions, the chip grants
    assert DESFire(reader).free_memory() == 7936


def test_garbled_answers_are_asked_for_again(reader, url):
    reader.wait_for_card(timeout=2)
    chip = front_end(url).chip
    assert chip is not None
    chip.line_faults(garble=2)
    assert DESFire(reader).free_memory() == 7936
    chip.line_faults(garble=3)
    with pytest.raises(ReaderError, match="corrupt"):
        reader.transceive(bytes.fromhex("906E000000"))


@pytest.mark.slow
def test_a_slow_card_is_acknowledged_at_once(host):
    """The emulated chip acknowledges InDataExchange before the card answers, so a card slower
    than the driver's ACK wait is still a good answer, only a late one."""
    with serve_pn532(host) as url, open_reader(url) as reader:
        reader.wait_for_card(timeout=2)
        host.arm(Faults(latency=ACK_TIMEOUT + 0.3))
        assert DESFire(reader).free_memory() == 7936


def test_a_lost_answer_is_a_timeout(host):
    with serve_pn532(host) as url, open_reader(url + "?timeout=0.3") as reader:
        reader.wait_for_card(timeout=2)
        front_end(url).chip.line_faults(drop=1)
        started = time.monotonic()
        with pytest.raises(ReaderTimeout, match="did not answer"):
            reader.transceive(bytes.fromhex("906E000000"))
        assert time.monotonic() - started < 2
        # the chip took the ACK as an abort and answers the next command normally
        assert reader.transceive(bytes.fromhex("906E000000")) == bytes.fromhex("001F00 9100")


def test_unplugged_reader_is_detected_and_reopened(host, tmp_path):
    link = tmp_path / "pn532"
    with serve_pn532(host, link) as url:
        reader = open_reader(url)
    try:
        # the front-end is gone (like a USB adapter pulled out)
        with pytest.raises(NoReaderError):
            reader.wait_for_card(timeout=0.2)
        with pytest.raises(NoReaderError):
            reader.transceive(bytes.fromhex("9060000000"))
        assert not reader.card_present
        with serve_pn532(host, link):
            assert reader.wait_for_card(timeout=3).uid == UID
            assert DESFire(reader).free_memory() == 7936
        # gone again while the reader holds a card
        with pytest.raises(NoReaderError):
            reader.transceive(bytes.fromhex("906E000000"))
        assert reader.card_info is None
        with serve_pn532(host, link):
            assert reader.wait_for_card(timeout=3).uid == UID
            assert DESFire(reader).free_memory() == 7936
    finally:
        reader.close()


def test_close_releases_the_card(reader, host):
    reader.wait_for_card(timeout=2)
    card = DESFire(reader)
    card.create_application(AID)
    card.select_application(AID)
    assert host.card.selected_aid == AID
    reader.close()
    assert host.card.selected_aid == 0  # field off: the card lost power
    assert reader.closed and not reader.card_present
    reader.close()
    with pytest.raises(ReaderError, match="closed"):
        reader.transceive(bytes.fromhex("9060000000"))
    with pytest.raises(ReaderError, match="closed"):
        reader.wait_for_card(timeout=0)


def test_chip_frames_are_traced_with_the_apdus(reader, caplog):
    # the APDUs themselves, once each, are checked for every driver in test_readers_contract.py
    reader.wait_for_card(timeout=2)
    with caplog.at_level(TRACE, logger="ekarta.readers.pn532"):
        reader.transceive(bytes.fromhex("906E000000"))
    lines = [r.getMessage() for r in caplog.records if r.levelno == TRACE]
    assert any(line.endswith("> 40 01 90 6E 00 00 00") for line in lines)  # InDataExchange


def test_pyserial_options_pass_through_a_url():
    reader = Pn532Reader.__new__(Pn532Reader)
    reader.port, reader._serial_options = "socket://127.0.0.1:9", {"logging": "debug"}
    assert reader._serial_url() == "socket://127.0.0.1:9?logging=debug"
    reader.port = "~/pn532"
    assert reader._serial_url() == os.path.expanduser("~/pn532")
