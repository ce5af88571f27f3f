"""Every command starts from a known card state over PC/SC, whatever the last holder left.

pcscd keeps a card powered between two applications (``SCARD_LEAVE_CARD``): a command that
ended inside an authenticated session left the card answering the next one with MACs.  The pcsc
driver resets the card when it connects, so the next command finds it fresh.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ekarta.cli import main
from ekarta.desfire.client import DESFire
from ekarta.desfire.crypto import Key
from ekarta.emulator import CardHost, VirtualCard
from ekarta.readers import open_reader
from tests.support.pcsc import Pcscd, pcscd, serve_pcsc  # noqa: F401 (pcscd: fixture)

pytestmark = pytest.mark.interop

FACTORY_DES = "0:des:0000000000000000"
AES_APP = 0x00A1A2


@pytest.fixture
def url(pcscd: Pcscd) -> Iterator[str]:  # noqa: F811 (the imported fixture)
    host = CardHost(VirtualCard.new(uid=bytes.fromhex("04B0B1B2B3B4B5")))
    with serve_pcsc(host) as reader_url:
        yield reader_url


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_card_info_after_a_command_that_left_an_ev2_session(url, capsys):
    with open_reader(url) as reader:
        reader.wait_for_card(timeout=5)
        df = DESFire(reader)
        df.authenticate(0, Key.from_hex("des", "00" * 8), "iso")
        df.create_application(AES_APP, key_count=1, key_type="aes")
        df.select_application(AES_APP)
        df.authenticate(0, Key.from_hex("aes", "00" * 16), "ev2first")
        df.get_key_version(0)  # a MACed exchange: the card is in the EV2 session now
    code, out, err = run(capsys, "card", "info", "--reader", url, "--wait", "5")
    assert code == 0, err
    assert "00A1A2" in out


def test_card_info_after_card_format(url, capsys):
    code, _, err = run(capsys, "card", "format", "--reader", url, "--key", FACTORY_DES,
                       "--yes", "--wait", "5")
    assert code == 0, err
    code, out, err = run(capsys, "card", "info", "--reader", url, "--wait", "5")
    assert code == 0, err
    assert "Traceback" not in err and "GetVersion" not in err
    assert "04B0B1B2B3B4B5" in out
