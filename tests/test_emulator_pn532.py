"""The emulated PN532: the chip's frames and commands byte for byte, and its pseudo-terminal.

The chip (:class:`Pn532Chip`) is driven with raw HSU frames, as libnfc and nfcpy send them, over
the real card model and card; the front-end is driven through a real pty.
"""

from __future__ import annotations

import os
import select
import termios
import threading
import time

import pytest

from ekarta.desfire import DESFire
from ekarta.emulator import CardHost, Faults, VirtualCard
from ekarta.emulator.iso14443 import Iso14443A, State
from ekarta.emulator.pn532 import FIRMWARE_VERSION, Pn532Chip, Pn532FrontEnd
from ekarta.errors import EmulatorError
from ekarta.wire.iso14443 import append_crc_a, check_crc_a
from ekarta.wire.pn532_frame import (
    ACK,
    ERROR_FRAME,
    NACK,
    WAKEUP,
    FrameDecoder,
    FrameKind,
    encode,
)

UID = bytes.fromhex("04A1B2C3D4E5F6")
ATS = bytes.fromhex("067577810280")
GET_VERSION = bytes.fromhex("9060000000")
VERSION_1 = bytes.fromhex("04010112001A05 91AF")


class RecordingHost(CardHost):
    """A CardHost that keeps every APDU the card received (the card still answers them)."""

    def __init__(self, card: VirtualCard) -> None:
        super().__init__(card)
        self.apdus: list[bytes] = []

    def transceive(self, apdu: bytes) -> bytes:
        self.apdus.append(bytes(apdu))
        return super().transceive(apdu)


@pytest.fixture
def host() -> RecordingHost:
    return RecordingHost(VirtualCard.new(uid=UID))


@pytest.fixture
def model(host):
    model = Iso14443A(host, wtx=False)
    yield model
    model.close()


@pytest.fixture
def chip(model) -> Pn532Chip:
    return Pn532Chip(model)


def answer_frames(out: bytes) -> list:
    return FrameDecoder().feed(out)


def command(chip: Pn532Chip, code: int, data: bytes = b"") -> bytes:
    """Send one command frame; check the ACK and the answer frame; return the answer's data."""
    out = chip.receive(encode(bytes([0xD4, code]) + data))
    assert out.startswith(ACK), out.hex()
    frames = answer_frames(out[len(ACK):])
    assert [f.kind for f in frames] == [FrameKind.INFORMATION], out.hex()
    assert frames[0].payload[:2] == bytes([0xD5, code + 1])
    return frames[0].data


def activate(chip: Pn532Chip) -> bytes:
    answer = command(chip, 0x4A, b"\x01\x00")
    assert answer[0] == 1
    return answer


# --- frames --------------------------------------------------------------------------------------


def test_get_firmware_version_byte_for_byte(chip):
    # nfcpy's probe: a long zero preamble, then GetFirmwareVersion
    out = chip.receive(bytes(10) + bytes.fromhex("0000ff02fed4022a00"))
    assert out == ACK + bytes.fromhex("0000ff06fa d503 32010607 e8 00")
    assert bytes([0x32, 1, 6, 7]) == FIRMWARE_VERSION


def test_libnfc_wake_up_then_sam_configuration(chip):
    sam_configuration = bytes.fromhex("0000ff05fbd4140100001700")
    out = chip.receive(bytes.fromhex("5555") + bytes(14) + sam_configuration)
    assert out == ACK + bytes.fromhex("0000ff02fed5151600")


def test_frames_split_into_single_bytes(chip):
    frame = encode(b"\xD4\x02")
    out = b"".join(chip.receive(frame[i:i + 1]) for i in range(len(frame)))
    assert out == ACK + encode(b"\xD5\x03" + FIRMWARE_VERSION)


def test_nack_gets_the_last_answer_again_and_ack_nothing(chip):
    first = chip.receive(encode(b"\xD4\x02"))
    assert chip.receive(NACK) == first[len(ACK):]
    assert chip.receive(NACK) == first[len(ACK):]
    assert chip.receive(ACK) == b""


def test_the_ack_comes_before_the_command_runs(chip, host):
    """A real PN532 acknowledges a command at once; hosts wait for that ACK far less long than
    a card may take to answer.  stream() hands out the ACK before the card sees the APDU."""
    activate(chip)
    pieces = chip.stream(encode(b"\xD4\x40\x01" + GET_VERSION))
    assert next(pieces) == ACK
    assert host.apdus == []
    rest = b"".join(pieces)
    assert host.apdus == [GET_VERSION]
    assert answer_frames(rest)[0].data == b"\x00" + VERSION_1
    assert list(chip.stream(ACK)) == []


def test_bad_checksums_are_ignored_and_the_next_frame_is_answered(chip):
    good = encode(b"\xD4\x02")
    bad_data = good[:-2] + bytes([good[-2] ^ 1]) + good[-1:]
    bad_length = good[:4] + bytes([good[4] ^ 1]) + good[5:]
    assert chip.receive(bad_data) == b""
    assert chip.receive(bad_length) == b""
    assert chip.commands == 0
    assert chip.receive(b"\x12\x34garbage\xFF" + good) == \
        ACK + encode(b"\xD5\x03" + FIRMWARE_VERSION)


def test_half_a_frame_left_by_a_dead_host_is_dropped(chip):
    frame = encode(b"\xD4\x40\x01" + bytes(200))
    assert chip.receive(frame[:50], now=100.0) == b""
    # the next host (libnfc: 0x55 and a long preamble, then SAMConfiguration) a second later
    out = chip.receive(WAKEUP + encode(b"\xD4\x14\x01\x00\x00"), now=101.0)
    assert out == ACK + encode(b"\xD5\x15")
    # and without the pause the swallowed frame is found again after the checksum error
    assert chip.receive(frame[:50], now=200.0) == b""
    out = chip.receive(encode(b"\xD4\x02") + bytes(200), now=200.01)
    assert out == ACK + encode(b"\xD5\x03" + FIRMWARE_VERSION)


def test_syntax_errors_get_the_error_frame(chip):
    assert chip.receive(encode(b"\xD4\xEE")) == ACK + ERROR_FRAME  # unknown command
    assert chip.receive(encode(b"\xD4\x06\x63")) == ACK + ERROR_FRAME  # half an address
    assert chip.receive(encode(b"\xD5\x02")) == ACK + ERROR_FRAME  # not from a host
    assert chip.receive(encode(b"\xD4\x4A\x05\x00")) == ACK + ERROR_FRAME  # MaxTg 5
    assert chip.receive(encode(b"\xD4\x32\x05\x00")) == ACK + ERROR_FRAME  # short item
    assert chip.receive(NACK) == ERROR_FRAME


def test_extended_frames_for_the_line_test(chip):
    # nfcpy's Diagnose "line" test: 263 data bytes, so extended frames both ways
    data = b"\x00" + bytes(i & 0xFF for i in range(262))
    out = chip.receive(encode(b"\xD4\x00" + data))
    assert out[len(ACK):len(ACK) + 5] == bytes.fromhex("0000FFFFFF")
    assert out == ACK + encode(b"\xD5\x01" + data)
    assert command(chip, 0x00, b"\x00libnfc") == b"\x00libnfc"


def test_decoder_survives_any_garbage(chip):
    rng = __import__("random").Random(3)
    noise = bytes(rng.randrange(256) for _ in range(20000))
    chip.receive(noise)
    assert chip._decoder.pending <= 300
    chip.receive(ACK)  # whatever the noise left half-finished is dropped by ACK/NACK resync
    out = chip.receive(bytes(300) + encode(b"\xD4\x02"))
    assert out.endswith(encode(b"\xD5\x03" + FIRMWARE_VERSION))


# --- miscellaneous commands ----------------------------------------------------------------------


def test_registers(chip):
    # TxMode, RxMode, ManualRCV, TxControl, FIFOLevel at their reset values
    assert command(chip, 0x06, bytes.fromhex("6302 6303 630D 6304 633A")) == \
        bytes.fromhex("00 00 00 80 00")
    assert command(chip, 0x08, bytes.fromhex("6302 83 6303 8B FF20 5A")) == b""
    assert command(chip, 0x06, bytes.fromhex("6302 6303 FF20")) == bytes.fromhex("83 8B 5A")


def test_status_parameters_sam_gpio_baud(chip):
    assert command(chip, 0x04) == bytes.fromhex("00 00 00 00")
    assert command(chip, 0x12, b"\x14") == b""
    assert command(chip, 0x14, b"\x01\x14\x01") == b""
    assert command(chip, 0x0C) == bytes.fromhex("3F 06 00")
    assert command(chip, 0x0E, b"\x80\x80") == b""
    assert command(chip, 0x10, b"\x04") == b""
    for item in (b"\x02\x00\x0B\x0A", b"\x04\x00", b"\x05\xFF\x01\x02",
                 b"\x0A" + bytes(11), b"\x0B" + bytes(8), b"\x0C" + bytes(3), b"\x0D" + bytes(9)):
        assert command(chip, 0x32, item) == b""
    assert command(chip, 0x00, b"\x01") == b"\x00"
    activate(chip)
    assert command(chip, 0x04) == bytes.fromhex("00 00 01 01 00 00 00 00")


def test_rf_field_and_power_down_reset_the_card(chip, host):
    activate(chip)
    card = DESFire(ChipTransceiver(chip))
    card.create_application(0x010203)
    card.select_application(0x010203)
    assert host.card.selected_aid == 0x010203
    assert command(chip, 0x32, b"\x01\x00") == b""  # field off: the card loses power
    assert host.card.selected_aid == 0
    assert command(chip, 0x40, b"\x01" + GET_VERSION) == b"\x27"  # the target went with it
    activate(chip)
    card.select_application(0x010203)
    assert command(chip, 0x16, b"\xF0\x01") == b"\x00"  # PowerDown
    assert chip.powered_down and host.card.selected_aid == 0
    out = chip.receive(bytes.fromhex("55 55 00 00 00") + encode(b"\xD4\x02"))
    assert not chip.powered_down
    assert out == ACK + encode(b"\xD5\x03" + FIRMWARE_VERSION)


# --- activation ----------------------------------------------------------------------------------


def test_in_list_passive_target_with_automatic_rats(chip, model):
    # Tg, SENS_RES 03 44 (most significant byte first, as nfc-list prints it), SEL_RES,
    # NFCIDLength, NFCID1, ATS
    assert activate(chip) == bytes([1, 1, 0x03, 0x44, 0x20, 7]) + UID + ATS
    assert model.state is State.PROTOCOL
    assert command(chip, 0x06, bytes.fromhex("6302 6303")) == b"\x80\x80"  # CRC on, 106 A


def test_without_automatic_rats_the_host_sends_rats_through(chip, model):
    command(chip, 0x12, b"\x00")
    assert activate(chip) == bytes([1, 1, 0x03, 0x44, 0x20, 7]) + UID
    assert model.state is State.ACTIVE
    assert command(chip, 0x42, b"\xE0\x80") == b"\x00" + ATS
    # nfcpy's own ISO-DEP: an I-block through InCommunicateThru
    assert command(chip, 0x42, b"\x02" + GET_VERSION) == b"\x00\x02" + VERSION_1


def test_in_list_passive_target_by_uid_wakes_a_halted_card(chip, model):
    activate(chip)
    assert command(chip, 0x44, b"\x01") == b"\x00"  # InDeselect: S(DESELECT)
    assert model.state is State.HALT
    # libfreefare connects with the UID (cascade tag included, as libnfc sends it)
    answer = command(chip, 0x4A, b"\x01\x00\x88" + UID[:3] + UID[3:])
    assert answer == bytes([1, 1, 0x03, 0x44, 0x20, 7]) + UID + ATS
    command(chip, 0x32, b"\x05\xFF\x01\x02")  # finite retries: another UID finds nothing
    assert command(chip, 0x4A, b"\x01\x00\x88\x01\x02\x03\x04\x05\x06\x07") == b"\x00"


def test_other_modulations_find_nothing(chip):
    assert command(chip, 0x4A, b"\x01\x01\x00\xFF\xFF\x01\x00") == b"\x00"  # FeliCa 212
    assert command(chip, 0x4A, b"\x01\x03\x00") == b"\x00"  # type B
    assert command(chip, 0x4A, b"\x01\x04") == b"\x00"  # Jewel


def test_no_card_finite_retries(chip, host):
    host.remove()
    command(chip, 0x32, b"\x05\xFF\x01\x02")
    assert command(chip, 0x4A, b"\x01\x00") == b"\x00"
    assert command(chip, 0x06, b"\x63\x39") == b"\x26"  # nfcpy: REQA still in the FIFO


def test_endless_retries_wait_for_a_card_until_aborted(chip, host):
    host.remove()
    assert chip.receive(encode(b"\xD4\x4A\x01\x00")) == ACK
    assert chip.waiting and chip.poll() == b""
    host.insert()
    out = chip.poll()
    assert not chip.waiting
    assert out == encode(b"\xD5\x4B" + bytes([1, 1, 0x03, 0x44, 0x20, 7]) + UID + ATS)
    # an ACK from the host aborts the wait
    host.remove()
    assert chip.receive(encode(b"\xD4\x4A\x01\x00")) == ACK
    assert chip.receive(ACK) == b""
    host.insert()
    assert not chip.waiting and chip.poll() == b""


def test_in_auto_poll(chip):
    answer = command(chip, 0x60, b"\x01\x01\x20")
    target = bytes([1, 0x03, 0x44, 0x20, 7]) + UID + ATS
    assert answer == bytes([1, 0x20, len(target)]) + target


def test_deselect_select_release(chip, model):
    activate(chip)
    assert command(chip, 0x44, b"\x01") == b"\x00"
    assert command(chip, 0x40, b"\x01" + GET_VERSION) == b"\x27"
    assert command(chip, 0x54, b"\x01") == b"\x00"  # InSelect: WUPA, SELECT, RATS again
    assert model.state is State.PROTOCOL
    assert command(chip, 0x40, b"\x01" + GET_VERSION) == b"\x00" + VERSION_1
    assert command(chip, 0x52, b"\x01") == b"\x00"  # InRelease
    assert model.state is State.HALT
    assert command(chip, 0x40, b"\x01" + GET_VERSION) == b"\x27"
    assert command(chip, 0x54, b"\x01") == b"\x27"
    assert command(chip, 0x52, b"\x00") == b"\x00"  # releasing nothing is fine


# --- exchanges -----------------------------------------------------------------------------------


class ChipTransceiver:
    """APDUs through InDataExchange, straight into the chip (no pty)."""

    def __init__(self, chip: Pn532Chip) -> None:
        self.chip = chip

    def transceive(self, apdu: bytes) -> bytes:
        answer = command(self.chip, 0x40, b"\x01" + apdu)
        assert answer[0] == 0, answer.hex()
        return answer[1:]


def test_in_data_exchange(chip, host):
    assert command(chip, 0x40, b"\x01" + GET_VERSION) == b"\x27"  # no target yet
    activate(chip)
    assert command(chip, 0x40, b"\x01" + GET_VERSION) == b"\x00" + VERSION_1
    assert command(chip, 0x40, b"\x02" + GET_VERSION) == b"\x27"  # no target 2
    assert host.apdus == [GET_VERSION]


def test_in_data_exchange_chains_long_commands_on_the_air_and_with_the_host(chip, host):
    activate(chip)
    apdu = bytes.fromhex("00D60000") + bytes([255]) + bytes(range(255)) + bytes(40)  # 300 bytes
    assert command(chip, 0x40, b"\x41" + apdu[:200]) == b"\x00"  # MI: more to come
    assert host.apdus == []
    answer = command(chip, 0x40, b"\x01" + apdu[200:])
    assert answer == b"\x00\x67\x00"  # the card got the whole (malformed) APDU
    assert host.apdus == [apdu]


def test_in_data_exchange_answers_in_parts_with_mi(chip):
    activate(chip)
    chip.max_data = 4
    assert command(chip, 0x40, b"\x01" + GET_VERSION) == b"\x40" + VERSION_1[:4]
    assert command(chip, 0x40, b"\x01") == b"\x40" + VERSION_1[4:8]
    assert command(chip, 0x40, b"\x01") == b"\x00" + VERSION_1[8:]


def test_long_answers_come_in_chained_i_blocks(chip, host):
    activate(chip)
    card = DESFire(ChipTransceiver(chip))
    card.create_application(0x0A0B0C, iso_fid=0xE110, df_name=b"ekarta-test")
    card.select_application(0x0A0B0C)
    card.create_std_data_file(1, 256, iso_fid=0xE104)
    data = bytes((i * 7) & 0xFF for i in range(256))
    card.write_data(1, data)  # a 261-byte APDU: five I-blocks of the card's FSC (64), chained
    assert [len(a) for a in host.apdus[-2:]] == [261, 14]  # 90 3D ... Lc=FF, then 90 AF
    assert card.read_data(1) == data
    # READ BINARY answers 258 bytes in one APDU: the card chains I-blocks at the chip's FSD (64)
    assert command(chip, 0x40, b"\x01" + bytes.fromhex("00B0810000")) == \
        b"\x00" + data + b"\x90\x00"


def test_removed_torn_and_mute_cards(chip, host):
    activate(chip)
    host.remove()
    assert command(chip, 0x40, b"\x01" + GET_VERSION) == b"\x01"  # timeout, as the real chip
    assert command(chip, 0x00, b"\x06") == b"\x01"  # card presence: gone
    host.insert()
    activate(chip)
    host.arm(Faults(mute=True))
    assert command(chip, 0x40, b"\x01" + GET_VERSION) == b"\x01"
    assert command(chip, 0x00, b"\x06") == b"\x00"  # still there, just not answering
    host.arm(Faults(tear_after=0))
    assert command(chip, 0x40, b"\x01" + GET_VERSION) == b"\x01"
    assert not host.present
    assert command(chip, 0x00, b"\x06") == b"\x01"


def test_slow_card_gets_its_waiting_time_extensions(host):
    model = Iso14443A(host, wtx=True, wtx_after=0.01)
    try:
        chip = Pn532Chip(model)
        activate(chip)
        host.arm(Faults(latency=0.15))
        assert command(chip, 0x40, b"\x01" + GET_VERSION) == b"\x00" + VERSION_1
    finally:
        model.close()


def test_in_communicate_thru_follows_the_ciu_registers(chip, host):
    command(chip, 0x32, b"\x01\x01")  # field on
    # host-side CRC, 7-bit short frame: a WUPA by hand
    command(chip, 0x08, bytes.fromhex("6302 00 6303 00 633D 07"))
    assert command(chip, 0x42, b"\x52") == b"\x00\x44\x03"
    command(chip, 0x08, bytes.fromhex("633D 00"))
    cl1 = command(chip, 0x42, b"\x93\x20")[1:]
    assert cl1[:4] == b"\x88" + UID[:3]
    sak = command(chip, 0x42, append_crc_a(b"\x93\x70" + cl1))[1:]
    assert sak[0] == 0x04 and check_crc_a(sak)
    assert command(chip, 0x42, b"\x93\x70" + cl1 + b"\x00\x00") == b"\x01"  # bad CRC: silence
    # only 106 kbps type A framing reaches the card
    command(chip, 0x08, bytes.fromhex("6302 03"))
    assert command(chip, 0x42, b"\x05\x00\x08") == b"\x01"
    assert command(chip, 0x42, b"") == b"\x01"


# --- the pseudo-terminal -------------------------------------------------------------------------


@pytest.fixture
def front_end(host, tmp_path):
    fe = Pn532FrontEnd(host, tmp_path / "pn532")
    fe.start()
    yield fe
    fe.stop()


def exchange_on(fd: int, data: bytes, expect: int, timeout: float = 2.0) -> bytes:
    os.write(fd, data)
    out = b""
    deadline = time.monotonic() + timeout
    while len(out) < expect:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"only {out.hex()} after {timeout} s"
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            out += os.read(fd, 4096)
    return out


def open_raw(path) -> int:
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
    return fd


def test_front_end_links_a_raw_pty(front_end, tmp_path):
    link = tmp_path / "pn532"
    assert link.is_symlink() and os.readlink(link) == front_end.slave_name
    assert front_end.slave_name.startswith("/dev/pts/")
    assert front_end.describe() == f"pn532: PN532 (HSU) on {link} -> {front_end.slave_name}"
    fd = open_raw(link)
    try:
        attrs = termios.tcgetattr(fd)
        assert not attrs[3] & (termios.ECHO | termios.ICANON | termios.ISIG)
        assert not attrs[1] & termios.OPOST
        answer = exchange_on(fd, encode(b"\xD4\x02"), 6 + 13)
        assert answer == ACK + encode(b"\xD5\x03" + FIRMWARE_VERSION)
    finally:
        os.close(fd)
    front_end.stop()
    assert not os.path.lexists(link)
    front_end.stop()  # idempotent


def test_front_end_reflects_presence_while_waiting(front_end, host, tmp_path):
    host.remove()
    fd = open_raw(tmp_path / "pn532")
    try:
        assert exchange_on(fd, encode(b"\xD4\x4A\x01\x00"), 6) == ACK
        time.sleep(0.1)
        threading.Timer(0.05, host.insert).start()
        expected = encode(b"\xD5\x4B" + bytes([1, 1, 0x03, 0x44, 0x20, 7]) + UID + ATS)
        assert exchange_on(fd, b"", len(expected)) == expected
    finally:
        os.close(fd)


def test_stale_links_are_replaced_and_files_kept(host, tmp_path):
    stale = tmp_path / "stale"
    stale.symlink_to(tmp_path / "nothing-here")
    with Pn532FrontEnd(host, stale) as fe:
        assert os.readlink(stale) == fe.slave_name
    regular = tmp_path / "regular"
    regular.write_text("keep me")
    with pytest.raises(EmulatorError, match="not a symbolic link"):
        Pn532FrontEnd(host, regular).start()
    assert regular.read_text() == "keep me"


def test_a_host_that_never_reads_does_not_block_stop(host, tmp_path):
    """A host that sends and never reads fills the pty both ways: the chip's thread blocks in a
    write, and stop() must still end it at once rather than when the write gives up.

    The write timeout is made far longer than the bound on stop(), so only the stop request can
    end the blocked write.  The pty holds about 20 KB each way and a line test's answer is 270
    bytes: a hundred or so line tests fill it.  The host writes them without blocking until the
    pty has taken no byte for 0.3 s, which a chip that still reads (every 50 ms) never allows.
    """
    fe = Pn532FrontEnd(host, tmp_path / "pn532")
    fe.WRITE_TIMEOUT = 60.0
    fe.start()
    fd = open_raw(tmp_path / "pn532")
    os.set_blocking(fd, False)
    try:
        line_test = encode(b"\xD4\x00\x00" + bytes(260))
        frames, refused_since = 0, None
        while refused_since is None or time.monotonic() - refused_since < 0.3:
            try:
                os.write(fd, line_test)
            except BlockingIOError:
                refused_since = refused_since or time.monotonic()
                time.sleep(0.01)
                continue
            refused_since = None
            frames += 1
            assert frames < 1000, "the pty never filled up"
        started = time.monotonic()
        fe.stop()
        assert time.monotonic() - started < 3
        assert fe._thread is None
    finally:
        os.close(fd)
