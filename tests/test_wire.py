"""The wire rules readers and the emulated card share (:mod:`ekarta.wire`).

CRC_A, frame sizes, the ATR and the PN532 frames are also checked where each side uses them (the
emulator's ISO 14443 and PN532 tests, the ``emulator:`` and ``pn532:`` reader tests, and the
interop tests against pcscd, libnfc and nfcpy); here: the ATS parser, cascade levels, and that the
package stands on its own below readers and emulator.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from ekarta.wire.ats import AtsParameters, atr_from_ats, parse_ats
from ekarta.wire.iso14443 import CASCADE_TAG, bcc, cascade_levels

DESFIRE_ATS = bytes.fromhex("067577810280")


def test_the_ats_of_a_desfire() -> None:
    ats = parse_ats(DESFIRE_ATS)
    # T0 75: TA, TB, TC follow, FSCI 5; TB 81: FWI 8; TC 02: CID supported; historical 80
    assert ats == AtsParameters(fsci=5, fwi=8, cid=True, historical=b"\x80")
    assert ats.fsc == 64
    assert ats.fwt == pytest.approx(4096 * 256 / 13.56e6)


@pytest.mark.parametrize(("ats", "expected"), [
    (b"", AtsParameters()),
    (b"\x01", AtsParameters()),  # TL only: no T0, the defaults
    (bytes.fromhex("0278"), AtsParameters(fsci=8)),  # T0 says TA, TB, TC follow; TL says not
    (bytes.fromhex("0578807002"), AtsParameters(fsci=8, fwi=7, cid=True)),
    (bytes.fromhex("0328F0"), AtsParameters(fsci=8)),  # FWI 15 is RFU: the default, 4
    (bytes.fromhex("04 02 A1B2"), AtsParameters(fsci=2, historical=bytes.fromhex("A1B2"))),
    (bytes.fromhex("09 02 A1B2"), AtsParameters(fsci=2, historical=bytes.fromhex("A1B2"))),
    (bytes.fromhex("00 75 77 81 02 80"), AtsParameters()),  # TL 0: not an ATS
])
def test_a_short_or_odd_ats_reads_as_defaults(ats: bytes, expected: AtsParameters) -> None:
    assert parse_ats(ats) == expected


def test_the_atr_carries_at_most_fifteen_historical_bytes() -> None:
    historical = bytes(range(1, 21))
    atr = atr_from_ats(bytes([2 + len(historical), 0x08]) + historical)
    assert atr[:4] == bytes.fromhex("3B8F8001") and atr[4:-1] == historical[:15]
    assert bcc(atr[1:]) == 0  # TCK makes the XOR of everything after 3B zero


def test_cascade_levels_of_each_uid_size() -> None:
    assert cascade_levels(bytes.fromhex("08112233")) == [bytes.fromhex("08112233") + b"\x08"]
    uid7 = bytes.fromhex("04112233445566")
    assert cascade_levels(uid7) == [bytes.fromhex("88041122BF"), bytes.fromhex("3344556644")]
    uid10 = bytes.fromhex("0411223344556677 8899")
    levels = cascade_levels(uid10)
    assert [level[0] for level in levels[:2]] == [CASCADE_TAG, CASCADE_TAG]
    assert b"".join(level[1:4] for level in levels[:2]) + levels[2][:4] == uid10
    assert all(bcc(level) == 0 for level in levels)
    for size in (0, 5, 8, 11):
        with pytest.raises(ValueError, match="4, 7 or 10 bytes"):
            cascade_levels(bytes(size))


def test_wire_stands_alone_below_readers_and_emulator() -> None:
    code = textwrap.dedent("""
        import sys
        from ekarta.wire import ats, iso14443, pn532_frame
        frame = pn532_frame.encode(bytes([0xD4, 0x02]))
        decoded = pn532_frame.FrameDecoder().feed(pn532_frame.WAKEUP + frame)
        atr = ats.atr_from_ats(bytes.fromhex("067577810280"))
        print(iso14443.crc_a(b"123456789").hex(), atr.hex(), frame.hex(), decoded[0].payload.hex())
        print(sorted(m for m in sys.modules if m.startswith(("ekarta.readers", "ekarta.emulator"))))
    """)
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    values, loaded = out.stdout.splitlines()
    assert values.split() == ["05bf", "3b8180018080", "0000ff02fed4022a00", "d402"]
    assert loaded == "[]"
