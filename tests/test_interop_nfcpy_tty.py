"""nfcpy's own PN532 driver (``tty:NAME:pn532``) against the emulated PN532.

Acceptance 4 of issue 3, the pty half.

nfcpy drives the chip its own way: Diagnose line test with extended frames, SetSerialBaudRate,
InListPassiveTarget without automatic RATS, then RATS and ISO-DEP in software through
InCommunicateThru with the CIU registers it writes.  The pty is linked under ``/dev`` because
nfcpy's ``tty:NAME`` path only looks there (:func:`tests.support.pn532.serve_pn532_nfcpy`).
"""

from __future__ import annotations

import os
import shutil
import subprocess

import nfc
import nfc.clf
import nfc.tag
import pytest

from ekarta.desfire import DESFire
from ekarta.emulator import CardHost, VirtualCard
from ekarta.errors import CardRemovedError
from ekarta.readers import open_reader
from tests.support.pn532 import serve_pn532_nfcpy

pytestmark = pytest.mark.interop

UID = bytes.fromhex("04E1C2A3B4D5F6")
ATS = bytes.fromhex("067577810280")
TOOL_TIMEOUT = 60
#: An NFC Forum URI record (prefix 0x04 = "https://"): https://ekarta.example/pn532
NDEF_MESSAGE = bytes([0xD1, 0x01, 1 + len(b"ekarta.example/pn532"), 0x55, 0x04]) + \
    b"ekarta.example/pn532"


@pytest.fixture
def url(host):
    with serve_pn532_nfcpy(host) as url:
        yield url


def device_name(url: str) -> str:
    return url.split(":")[2]


def test_nfcpy_reader_senses_and_exchanges(url, host):
    with open_reader(url) as reader:
        info = reader.wait_for_card(timeout=5)
        assert info.uid == UID and info.atqa == b"\x44\x03" and info.sak == 0x20
        assert info.ats == ATS
        card = DESFire(reader)
        assert card.get_version().uid == UID
        card.create_application(0x4E4643)
        card.select_application(0x4E4643)
        card.create_std_data_file(1, 300)
        data = bytes((7 * i) & 0xFF for i in range(300))
        card.write_data(1, data)  # ISO-DEP chaining by nfcpy, through InCommunicateThru
        assert card.read_data(1) == data
        host.remove()
        with pytest.raises(CardRemovedError):
            card.get_version()


def test_nfcpy_reads_the_ndef_message_libfreefare_wrote(url, tmp_path):
    name = device_name(url)
    message = tmp_path / "F.ndef"
    message.write_bytes(NDEF_MESSAGE)
    env = dict(os.environ, LIBNFC_DEVICE=f"pn532_uart:/dev/{name}", LIBNFC_AUTO_SCAN="false",
               LIBNFC_INTRUSIVE_SCAN="false", LIBNFC_LOG_LEVEL="1")
    env.pop("LIBNFC_DEFAULT_DEVICE", None)
    for argv in (["mifare-desfire-format", "-y"], ["mifare-desfire-create-ndef", "-y"],
                 ["mifare-desfire-write-ndef", "-y", "-i", str(message)]):
        assert shutil.which(argv[0]), f"{argv[0]} is missing: run scripts/install"
        done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=TOOL_TIMEOUT)
        assert done.returncode == 0, f"{argv}: {done.stdout}{done.stderr}"

    # nfcpy's own Type 4 tag code, on the same chip after libnfc left it powered down
    clf = nfc.ContactlessFrontend(f"tty:{name}:pn532")
    try:
        target = clf.sense(nfc.clf.RemoteTarget("106A"), iterations=5, interval=0.1)
        assert target is not None, "nfcpy found no target"
        assert bytes(target.sdd_res) == UID
        tag = nfc.tag.activate(clf, target)
        assert tag is not None and tag.type == "Type4Tag"
        assert tag.ndef is not None, "no NDEF application found by nfcpy"
        assert bytes(tag.ndef.octets) == NDEF_MESSAGE
        record = tag.ndef.records[0]
        assert record.uri == "https://ekarta.example/pn532"
    finally:
        clf.close()


def test_nfcpy_over_udp_reads_the_ndef_message_libfreefare_wrote(tmp_path):
    """Acceptance 4, the UDP half: libfreefare writes through the PN532 pty, and nfcpy's Type 4
    code reads the same card through its UDP driver."""
    from tests.support.pn532 import serve_pn532
    from tests.support.udp import serve_udp

    host = CardHost(VirtualCard.new(uid=UID))
    message = tmp_path / "F.ndef"
    message.write_bytes(NDEF_MESSAGE)
    with serve_pn532(host, tmp_path / "pn532") as pn532_url:
        env = dict(os.environ, LIBNFC_DEVICE=f"pn532_uart:{pn532_url.split(':', 1)[1]}",
                   LIBNFC_AUTO_SCAN="false", LIBNFC_INTRUSIVE_SCAN="false", LIBNFC_LOG_LEVEL="1")
        env.pop("LIBNFC_DEFAULT_DEVICE", None)
        for argv in (["mifare-desfire-format", "-y"], ["mifare-desfire-create-ndef", "-y"],
                     ["mifare-desfire-write-ndef", "-y", "-i", str(message)]):
            done = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, timeout=TOOL_TIMEOUT)
            assert done.returncode == 0, f"{argv}: {done.stdout}{done.stderr}"
    with serve_udp(host) as udp_url:
        clf = nfc.ContactlessFrontend(udp_url.removeprefix("nfcpy:"))
        try:
            target = clf.sense(nfc.clf.RemoteTarget("106A"), iterations=5, interval=0.1)
            assert target is not None, "nfcpy found no target over UDP"
            tag = nfc.tag.activate(clf, target)
            assert tag is not None and tag.type == "Type4Tag"
            assert tag.ndef is not None, "no NDEF application found by nfcpy"
            assert bytes(tag.ndef.octets) == NDEF_MESSAGE
            assert tag.ndef.records[0].uri == "https://ekarta.example/pn532"
        finally:
            clf.close()
