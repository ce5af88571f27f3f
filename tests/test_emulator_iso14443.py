"""The ISO 14443-3A/-4 model of the emulated card (:mod:`ekarta.emulator.iso14443`).

Expected frames are written out byte by byte (UID CLn, BCC, SAK, PCBs) rather than computed with
the module's own helpers, so that a wrong helper fails here.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator

import pytest

from ekarta.desfire.client import DESFire
from ekarta.desfire.crypto import Key
from ekarta.emulator import CardHost, Faults
from ekarta.emulator.iso14443 import Activation, Iso14443A, State
from ekarta.wire.ats import fsd_of, parse_ats
from ekarta.wire.iso14443 import append_crc_a, check_crc_a, crc_a
from tests.support.apdu import h

UID = bytes.fromhex("04112233445566")
#: CL1: cascade tag 88, u0 u1 u2, BCC = 88^04^11^22 = BF
CL1 = bytes.fromhex("88041122BF")
#: CL2: u3..u6, BCC = 33^44^55^66 = 44
CL2 = bytes.fromhex("3344556644")
DESFIRE_ATS = bytes.fromhex("067577810280")
GET_VERSION = bytes.fromhex("9060000000")
MORE = bytes.fromhex("90AF000000")
HW_PART = bytes.fromhex("04010112001A05")


@pytest.fixture
def model(host: CardHost) -> Iterator[Iso14443A]:
    m = Iso14443A(host, wtx=False)
    yield m
    m.close()


def activate(model: Iso14443A, rats: str = "E0 80") -> None:
    assert model.exchange(b"\x26", bits=7) == h("4403")
    assert model.exchange(h("9320")) == CL1
    assert model.exchange(h("9370") + CL1) == h("04")
    assert model.exchange(h("9520")) == CL2
    assert model.exchange(h("9570") + CL2) == h("20")
    assert model.exchange(h(rats)) == DESFIRE_ATS
    assert model.state is State.PROTOCOL


# --- CRC_A and helpers ---------------------------------------------------------------------------


def test_crc_a_known_values() -> None:
    assert crc_a(b"123456789") == h("05BF")  # CRC-16/ISO-IEC-14443-3-A check value 0xBF05
    assert crc_a(h("5000")) == h("57CD")  # HLTA as every reader sends it
    assert crc_a(h("0000")) == h("A01E")
    assert crc_a(h("E080")) == h("3173")  # RATS FSDI 8, CID 0
    assert crc_a(h("04")) == h("DA17")  # SAK 04 and 20 as libnfc's nfc-anticol shows them
    assert crc_a(h("20")) == h("FC70")
    assert append_crc_a(h("5000")) == h("500057CD")
    assert check_crc_a(h("500057CD"))
    assert not check_crc_a(h("500057CE"))
    assert not check_crc_a(h("57CD"))


def test_frame_sizes_and_waiting_time() -> None:
    assert [fsd_of(i) for i in range(9)] == [16, 24, 32, 40, 48, 64, 96, 128, 256]
    assert fsd_of(12) == 256
    assert parse_ats(DESFIRE_ATS).fwt == pytest.approx(4096 * 256 / 13.56e6)  # FWI 8: 77.3 ms


# --- ISO 14443-3: wake-up, anticollision, select -------------------------------------------------


def test_reqa_anticollision_select_cascade(model: Iso14443A) -> None:
    assert model.state is State.IDLE
    assert model.exchange(b"\x26", bits=7) == h("44 03")
    assert model.state is State.READY
    assert model.exchange(h("93 20")) == CL1
    assert model.exchange(h("93 70") + CL1) == h("04")  # UID not complete
    assert model.state is State.READY
    assert model.exchange(h("95 20")) == CL2
    assert model.exchange(h("95 70") + CL2) == h("20")  # ISO 14443-4
    assert model.state is State.ACTIVE


def test_wupa_answers_like_reqa(model: Iso14443A) -> None:
    assert model.exchange(b"\x52", bits=7) == h("4403")


def test_short_frames_need_seven_bits(model: Iso14443A) -> None:
    assert model.exchange(b"\x26") is None  # a full byte 26 is no REQA
    assert model.exchange(b"\x35", bits=7) is None  # not REQA/WUPA
    assert model.state is State.IDLE


def test_bit_oriented_anticollision(model: Iso14443A) -> None:
    model.exchange(b"\x26", bits=7)
    # 1 byte + 5 bits known: 88, then the low 5 bits of 04 (00100); the card sends the other 3
    # bits of 04 (zeros here) and the rest of CL1.
    assert model.exchange(h("93 35 88 04"), bits=5) == h("00 11 22 BF")
    # the low 4 bits of 0x88 (1000) only: the card answers from the high nibble on
    assert model.exchange(h("93 24 08"), bits=4) == h("80 04 11 22 BF")
    # whole bytes: 88 04 known
    assert model.exchange(h("93 40 88 04")) == h("11 22 BF")
    # other bits than the card's: it keeps quiet (another card's turn)
    assert model.exchange(h("93 24 07"), bits=4) is None
    assert model.exchange(h("93 30 89")) is None
    # and still selects with the whole level
    assert model.exchange(h("93 70") + CL1) == h("04")


def test_select_with_another_uid_sends_the_card_back_to_idle(model: Iso14443A) -> None:
    model.exchange(b"\x26", bits=7)
    assert model.exchange(h("93 70 88 04 11 23 BE")) is None
    assert model.state is State.IDLE


def test_wrong_cascade_level_is_ignored(model: Iso14443A) -> None:
    model.exchange(b"\x26", bits=7)
    assert model.exchange(h("95 20")) is None  # CL2 before CL1
    assert model.state is State.IDLE


def test_four_byte_random_id_completes_at_level_one(host: CardHost) -> None:
    client = DESFire(host)
    client.authenticate(0, Key.default("des"), "legacy")
    client.configure_picc(random_uid=True)
    model = Iso14443A(host, wtx=False)
    try:
        for _ in range(2):
            model.field_off()
            host.power_cycle()  # the card draws a new random ID at every power-up
            random_id = host.card.anticollision_uid
            assert len(random_id) == 4 and random_id[0] == 0x08
            level = random_id + bytes([random_id[0] ^ random_id[1] ^ random_id[2] ^ random_id[3]])
            assert model.exchange(b"\x26", bits=7) == h("0403")  # single-size UID bits
            assert model.exchange(h("9320")) == level
            assert model.exchange(h("9370") + level) == h("20")  # complete at CL1
            assert model.state is State.ACTIVE
            assert model.exchange(h("E080")) == DESFIRE_ATS
    finally:
        model.close()


def test_hlta_halts_and_only_wupa_wakes(model: Iso14443A) -> None:
    activate_without_rats(model)
    assert model.exchange(h("5000")) is None
    assert model.state is State.HALT
    assert model.exchange(b"\x26", bits=7) is None
    assert model.exchange(b"\x52", bits=7) == h("4403")
    assert model.state is State.READY and model.halted
    # a wrong frame in READY* goes back to HALT, not IDLE
    assert model.exchange(h("1234")) is None
    assert model.state is State.HALT


def activate_without_rats(model: Iso14443A) -> None:
    model.exchange(b"\x26", bits=7)
    model.exchange(h("9370") + CL1)
    model.exchange(h("9570") + CL2)
    assert model.state is State.ACTIVE


def test_rats_returns_the_cards_ats(model: Iso14443A, host: CardHost) -> None:
    assert model.exchange(h("E080")) is None  # IDLE: nothing
    activate_without_rats(model)
    assert model.exchange(h("E080")) == host.card.ats == DESFIRE_ATS
    assert model.state is State.PROTOCOL
    # a second RATS is no ISO-DEP block
    assert model.exchange(h("E080")) is None


def test_activate_helper(model: Iso14443A) -> None:
    assert model.activate() == Activation(atqa=h("4403"), uid=UID, sak=0x20, ats=DESFIRE_ATS)
    assert model.state is State.PROTOCOL
    # in PROTOCOL state the card ignores REQA/WUPA until the field goes off
    assert model.activate(wakeup=True) is None
    model.field_off()
    assert model.activate(rats=False) == Activation(atqa=h("4403"), uid=UID, sak=0x20,
                                                    ats=None)
    assert model.state is State.ACTIVE


# --- frames with CRC_A ---------------------------------------------------------------------------


def test_crc_mode_checks_and_appends(model: Iso14443A) -> None:
    assert model.exchange(b"\x26", bits=7, crc=True) == h("4403")  # short frames: no CRC
    assert model.exchange(h("9320"), crc=True) == CL1  # anticollision: no CRC
    assert model.exchange(append_crc_a(h("9370") + CL1), crc=True) == h("04 DA 17")
    assert model.exchange(h("9520"), crc=True) == CL2
    assert model.exchange(h("9570") + CL2 + h("0000"), crc=True) is None  # bad CRC: silence
    assert model.state is State.READY
    assert model.exchange(append_crc_a(h("9570") + CL2), crc=True) == append_crc_a(h("20"))
    assert model.exchange(h("E080 0000"), crc=True) is None
    assert model.state is State.ACTIVE
    assert model.exchange(h("E080 3173"), crc=True) == append_crc_a(DESFIRE_ATS)
    answer = model.exchange(append_crc_a(h("02") + GET_VERSION), crc=True)
    assert answer == append_crc_a(h("02") + HW_PART + h("91AF"))
    corrupted = bytearray(append_crc_a(h("03") + MORE))
    corrupted[-1] ^= 1
    assert model.exchange(bytes(corrupted), crc=True) is None


def test_crc_switches_apart(model: Iso14443A) -> None:
    # a PN532 that adds the CRC on transmit but leaves the received one to the host
    assert model.exchange(b"\x26", bits=7, crc_out=True) == h("4403")
    assert model.exchange(h("9320"), crc_out=True) == CL1
    assert model.exchange(h("9370") + CL1, crc_out=True) == h("04 DA 17")
    # and the other way round: the host sends CRCs, the chip checks and strips the answer's
    assert model.exchange(append_crc_a(h("9570") + CL2), crc=True, crc_out=False) == h("20")
    assert model.exchange(h("E080 3173"), crc=True, crc_out=False) == DESFIRE_ATS


def test_activate_helper_with_crc(model: Iso14443A) -> None:
    assert model.activate(crc=True) == Activation(atqa=h("4403"), uid=UID, sak=0x20,
                                                  ats=DESFIRE_ATS)


# --- ISO-DEP -------------------------------------------------------------------------------------


def test_i_blocks_carry_a_getversion_with_block_numbers(model: Iso14443A) -> None:
    activate(model)
    assert model.exchange(h("02") + GET_VERSION) == h("02") + HW_PART + h("91AF")
    assert model.exchange(h("03") + MORE) == h("03") + HW_PART + h("91AF")
    third = model.exchange(h("02") + MORE)
    assert third is not None and third[0] == 0x02 and third[1:-2].startswith(UID)
    assert third[-2:] == h("9100") and len(third) == 1 + 14 + 2


def test_duplicate_i_block_is_ignored(model: Iso14443A, host: CardHost) -> None:
    activate(model)
    assert model.exchange(h("02") + GET_VERSION) is not None
    processed = host.card.commands_processed
    assert model.exchange(h("02") + MORE) is None  # block number 0 again: not a new block
    assert host.card.commands_processed == processed


def test_reader_chaining(model: Iso14443A, host: CardHost) -> None:
    activate(model)
    assert model.exchange(h("12 90")) == h("A2")  # R(ACK), block 0
    assert model.exchange(h("13 60 00")) == h("A3")  # R(ACK), block 1
    assert host.card.commands_processed == 0  # nothing reaches the card before the end
    assert model.exchange(h("02 00 00")) == h("02") + HW_PART + h("91AF")
    assert host.card.commands_processed == 1


def test_card_chaining_with_a_small_fsd(model: Iso14443A) -> None:
    activate(model, rats="E0 00")  # FSDI 0: FSD 16, so 13 bytes of INF per block
    assert model.exchange(h("02") + GET_VERSION) == h("02") + HW_PART + h("91AF")  # 9: fits
    model.exchange(h("03") + MORE)
    first = model.exchange(h("02") + MORE)  # 14 + 2 bytes: 13 + 3
    assert first is not None and first[0] == 0x12 and len(first) == 1 + 13
    assert first[1:8] == UID
    # R(ACK) with the card's own block number: the block again (rule 11)
    assert model.exchange(h("A2")) == first
    # R(ACK) with the next block number: the chain goes on (rule 13)
    second = model.exchange(h("A3"))
    assert second is not None and second[0] == 0x03 and len(second) == 1 + 3
    assert second[-2:] == h("9100")
    # the chain is over: the next I-block is block 0 again
    assert model.exchange(h("02") + GET_VERSION) == h("02") + HW_PART + h("91AF")


def test_r_nak_retransmits_the_last_block(model: Iso14443A, host: CardHost) -> None:
    activate(model)
    answer = model.exchange(h("02") + GET_VERSION)
    processed = host.card.commands_processed
    assert model.exchange(h("B2")) == answer  # R(NAK) 0: the reader lost our answer
    assert host.card.commands_processed == processed  # not executed twice
    assert model.exchange(h("B3")) == h("A2")  # R(NAK) 1: the card never saw block 1 -> R(ACK)


def test_deselect_halts(model: Iso14443A) -> None:
    activate(model)
    assert model.exchange(h("C2")) == h("C2")
    assert model.state is State.HALT
    assert model.exchange(h("02") + GET_VERSION) is None
    assert model.exchange(b"\x52", bits=7) == h("4403")


def test_cid(model: Iso14443A) -> None:
    activate(model, rats="E0 83")  # CID 3
    assert model.exchange(h("02") + GET_VERSION) is None  # without CID: not for us
    assert model.exchange(h("0A 04") + GET_VERSION) is None  # CID 4: another card
    assert model.exchange(h("0A 03") + GET_VERSION) == h("0A 03") + HW_PART + h("91AF")
    assert model.exchange(h("BB 03")) == h("AA 03")  # R(NAK) 1 with CID -> R(ACK) 0 with CID
    assert model.exchange(h("CA 03")) == h("CA 03")
    assert model.state is State.HALT


def test_pps_right_after_the_ats(model: Iso14443A) -> None:
    activate(model)
    assert model.exchange(h("D0 11 00")) == h("D0")
    assert model.exchange(h("D0 11 00")) is None  # only once, right after the ATS
    assert model.exchange(h("02") + GET_VERSION) == h("02") + HW_PART + h("91AF")


def test_wtx_while_the_card_is_slow(host: CardHost) -> None:
    model = Iso14443A(host, wtx=True, wtx_after=0.02)
    try:
        activate(model)
        host.arm(Faults(latency=0.25))
        answer = model.exchange(h("02") + GET_VERSION)
        assert answer is not None and answer[0] == 0xF2  # S(WTX) request
        wtxm = answer[1]
        assert 1 <= wtxm <= 59
        # DESFire FWT is 77 ms: the card asks for about a second
        assert wtxm * parse_ats(DESFIRE_ATS).fwt == pytest.approx(1.0, rel=0.1)
        requests = 1
        while answer is not None and answer[0] == 0xF2:
            answer = model.exchange(answer)  # the reader's S(WTX) response echoes WTXM
            requests += 1
            assert requests < 50
        assert answer == h("02") + HW_PART + h("91AF")
    finally:
        host.arm(None)
        model.close()


def test_r_nak_during_wtx_asks_again_or_answers(host: CardHost) -> None:
    model = Iso14443A(host, wtx=True, wtx_after=0.01)
    try:
        activate(model)
        host.arm(Faults(latency=0.2))
        first = model.exchange(h("02") + GET_VERSION)
        assert first is not None and first[0] == 0xF2
        assert model.exchange(h("02") + GET_VERSION) is None  # no new I-block while busy
        answer = model.exchange(h("B2"))  # the reader lost the S(WTX): ask again
        while answer is not None and answer[0] == 0xF2:
            answer = model.exchange(answer)
        assert answer == h("02") + HW_PART + h("91AF")
    finally:
        host.arm(None)
        model.close()


def test_fast_commands_need_no_wtx(host: CardHost) -> None:
    model = Iso14443A(host)  # WTX on, threshold from the ATS
    try:
        activate(model)
        assert model.exchange(h("02") + GET_VERSION) == h("02") + HW_PART + h("91AF")
    finally:
        model.close()


# --- presence, power and faults ------------------------------------------------------------------


def test_absent_card_is_silent(model: Iso14443A, host: CardHost) -> None:
    host.remove()
    assert model.exchange(b"\x26", bits=7) is None
    assert model.exchange(b"\x52", bits=7) is None
    host.insert()
    assert model.exchange(b"\x26", bits=7) == h("4403")


def test_removal_resets_the_model(model: Iso14443A, host: CardHost) -> None:
    activate(model)
    host.remove()
    host.insert()  # back before the reader noticed: a fresh power-up all the same
    assert model.state is State.IDLE
    assert model.exchange(h("02") + GET_VERSION) is None
    activate(model)


def test_tear_gives_no_answer_and_idle(model: Iso14443A, host: CardHost) -> None:
    activate(model)
    host.arm(Faults(tear_after=0))
    assert model.exchange(h("02") + GET_VERSION) is None
    assert model.state is State.IDLE
    assert not host.present


def test_tear_with_wtx_worker(host: CardHost) -> None:
    model = Iso14443A(host, wtx=True)
    try:
        activate(model)
        host.arm(Faults(tear_after=0))
        assert model.exchange(h("02") + GET_VERSION) is None
        assert model.state is State.IDLE
    finally:
        model.close()


def test_mute_card_lets_the_reader_repeat(model: Iso14443A, host: CardHost) -> None:
    activate(model)
    host.arm(Faults(mute=True))
    assert model.exchange(h("02") + GET_VERSION) is None
    # the reader's R(NAK) 0: the card acts as if block 0 never arrived and asks for it
    assert model.exchange(h("B2")) == h("A3")
    host.arm(None)
    assert model.exchange(h("02") + GET_VERSION) == h("02") + HW_PART + h("91AF")


def test_field_off_powers_the_card_down(model: Iso14443A, host: CardHost) -> None:
    client = DESFire(host)
    client.authenticate(0, Key.default("des"), "legacy")
    assert host.card.session is not None
    model.field_off()  # never woken by this model: the card keeps its power
    assert host.card.session is not None
    activate(model)
    model.field_off()
    assert host.card.session is None
    assert model.state is State.IDLE


def test_presence_listener_does_not_deadlock(model: Iso14443A, host: CardHost) -> None:
    activate(model)
    stop = threading.Event()

    def toggle() -> None:
        while not stop.is_set():
            host.remove()
            host.insert()

    thread = threading.Thread(target=toggle, daemon=True)
    thread.start()
    try:
        for _ in range(300):
            model.exchange(b"\x26", bits=7)
            model.exchange(h("9370") + CL1)
            model.exchange(h("02") + GET_VERSION)
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


# --- hostile frames ------------------------------------------------------------------------------


def test_oversized_frames_are_ignored(model: Iso14443A) -> None:
    activate(model)
    assert model.exchange(h("02") + bytes(1000)) is None
    assert model.exchange(h("02") + GET_VERSION) == h("02") + HW_PART + h("91AF")


def test_random_frames_never_raise(host: CardHost) -> None:
    rng = random.Random(14443)
    model = Iso14443A(host, wtx=False)
    try:
        for i in range(4000):
            if i % 200 == 0:
                model.field_off()
                model.activate(rats=rng.random() < 0.8, fsdi=rng.randrange(16),
                               cid=rng.randrange(15))
            frame = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
            bits = rng.choice((8, 8, 8, 7, rng.randrange(1, 9)))
            result = model.exchange(frame, bits=bits, crc=rng.random() < 0.2)
            assert result is None or isinstance(result, bytes)
    finally:
        model.close()
    with pytest.raises(ValueError):
        model.exchange(b"\x26", bits=0)
