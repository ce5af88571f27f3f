"""libnfc and libfreefare, unmodified, against the emulated card on the emulated PN532.

Acceptance 3 of issue 3.

libnfc's ``pn532_uart`` driver opens the front-end's pty (``LIBNFC_DEVICE=pn532_uart:LINK``):
``nfc-list`` must show the card, and libfreefare's own DESFire tools must succeed one after the
other on the same card, exactly as a developer would run them on a PN532 board.  The tools come
from Debian's ``libnfc-bin`` and ``libfreefare-bin`` (installed by ``scripts/install``); a missing
tool fails the test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator

import pytest

from ekarta.desfire import DESFire
from ekarta.readers import open_reader
from tests.support.pn532 import serve_pn532

pytestmark = pytest.mark.interop

UID = bytes.fromhex("04D35A0B7C1E80")
TOOL_TIMEOUT = 60
#: An NFC Forum URI record (prefix 0x02 = "https://www."): https://www.example.org/ekarta
NDEF_MESSAGE = bytes([0xD1, 0x01, 1 + len(b"example.org/ekarta"), 0x55, 0x02]) + \
    b"example.org/ekarta"
#: The NDEF application of the NFC Forum Type 4 mapping (version 2) that create-ndef makes.
NDEF_DF_NAME = bytes.fromhex("D2760000850101")


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path, f"{name} is missing: run scripts/install (Debian libnfc-bin, libfreefare-bin)"
    return path


def run(argv: list[str], env: dict[str, str], cwd: str | None = None) -> str:
    """Run one tool with a timeout; fail the test with its output unless it exits 0."""
    try:
        done = subprocess.run(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=TOOL_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"{' '.join(argv)} did not finish in {TOOL_TIMEOUT} s\n"
                    f"stdout: {exc.stdout}\nstderr: {exc.stderr}")
    output = f"$ {' '.join(argv)} (exit {done.returncode})\n{done.stdout}{done.stderr}"
    assert done.returncode == 0, output
    return output


@pytest.fixture
def served(host) -> Iterator[tuple[str, dict[str, str]]]:
    """The pn532: URL of the emulated chip and the environment that points libnfc at it."""
    with serve_pn532(host) as url:
        link = url.partition(":")[2]
        env = dict(os.environ, LIBNFC_DEVICE=f"pn532_uart:{link}", LIBNFC_AUTO_SCAN="false",
                   LIBNFC_INTRUSIVE_SCAN="false", LIBNFC_LOG_LEVEL="1")
        env.pop("LIBNFC_DEFAULT_DEVICE", None)
        yield url, env


def spaced(data: bytes) -> str:
    """Bytes as nfc-list prints them: lower-case hex, two spaces apart."""
    return "  ".join(f"{b:02x}" for b in data)


def test_nfc_list_shows_the_emulated_desfire(served):
    _url, env = served
    output = run([tool("nfc-list")], env)
    assert "NFC device: user defined device opened" in output
    assert "1 ISO14443A passive target(s) found" in output, output
    assert f"UID (NFCID1): {spaced(UID)}" in output, output
    assert "ATQA (SENS_RES): 03  44" in output, output
    assert "SAK (SEL_RES): 20" in output, output
    assert "ATS: 75  77  81  02  80" in output, output


def test_nfc_list_without_a_card(served, host):
    _url, env = served
    host.remove()
    output = run([tool("nfc-list")], env)
    assert "NFC device: user defined device opened" in output
    assert "passive target" not in output, output


def test_libfreefare_tools_in_order(served, host, tmp_path):
    url, env = served
    written, read = tmp_path / "F.ndef", tmp_path / "G.ndef"
    written.write_bytes(NDEF_MESSAGE)
    uid_hex = UID.hex()

    info = run([tool("mifare-desfire-info")], env)
    assert f"Version information for tag {uid_hex}" in info, info
    assert f"UID:                      0x{uid_hex}" in info, info
    assert "Free memory: 7936 bytes" in info, info

    output = run([tool("mifare-desfire-format"), "-y"], env)
    assert f"Found Mifare DESFire with UID {uid_hex}" in output, output

    output = run([tool("mifare-desfire-create-ndef"), "-y"], env)
    assert f"Found Mifare DESFire with UID {uid_hex}" in output, output

    output = run([tool("mifare-desfire-write-ndef"), "-y", "-i", str(written)], env)
    assert f"NDEF file is {len(NDEF_MESSAGE) + 2} bytes long" in output, output

    output = run([tool("mifare-desfire-read-ndef"), "-y", "-o", str(read)], env)
    assert f"NDEF size: {len(NDEF_MESSAGE)} bytes" in output, output
    assert read.read_bytes() == written.read_bytes()

    # What libfreefare built, seen by ekarta's own client through its own PN532 driver.
    with open_reader(url) as reader:
        reader.wait_for_card(timeout=5)
        names = {entry.df_name for entry in DESFire(reader).get_df_names()}
        assert NDEF_DF_NAME in names

    # access authenticates with DES, creates an application with an enciphered file, writes and
    # reads it, then formats the card again.
    run([tool("mifare-desfire-access")], env)
    assert host.card.applications == {}
    with open_reader(url) as reader:
        reader.wait_for_card(timeout=5)
        assert DESFire(reader).free_memory() == 7936
