"""Property-based tests: their budgets (a few examples in the fast loop, many under ``slow``)
and the card they run against.

A property test takes ``budget`` from :data:`BUDGETS` and runs its body with :func:`budgeted`, so
the fast and the slow run share one body::

    @pytest.mark.parametrize("budget", BUDGETS)
    def test_something(budget):
        @budgeted(budget)
        @given(st.binary())
        def check(data): ...
        check()
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from ekarta.desfire.client import DESFire
from ekarta.desfire.commands import I32_MAX, I32_MIN
from ekarta.desfire.crypto import Key
from ekarta.desfire.structs import AccessRights, KeySettings
from ekarta.emulator import CardTorn, VirtualCard
from tests.support.apdu import counting_rng

__all__ = ["AES0", "AID", "BUDGETS", "DES0", "KEY1", "Card", "budgeted", "card_with_files",
           "is_status_word"]

AID = 0x0E0001
DES0 = Key.des(bytes(8))
AES0 = Key.aes(bytes(16))
KEY1 = Key.aes(bytes(range(16)), version=1)
KEYED = AccessRights(read=1, write=1, read_write=0, change=0)

#: (examples in the fast loop, examples under the slow marker)
FAST, SLOW = 25, 800

BUDGETS = [
    pytest.param(FAST, id="fast"),
    pytest.param(SLOW, id="slow", marks=pytest.mark.slow),
]


def budgeted(budget: int, *, fast: int | None = None,
             slow: int | None = None) -> Callable[[Any], Any]:
    """Hypothesis settings for ``budget`` examples (``fast`` and ``slow`` override the count of
    the fast loop and of the slow run, for a property whose examples cost more), without a
    deadline: the slow run shares the machine with other tests."""
    override = fast if budget == FAST else slow
    examples = override if override is not None else budget
    return settings(max_examples=examples, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


def is_status_word(response: bytes) -> bool:
    if len(response) < 2:
        return False
    sw1 = response[-2]
    return sw1 == 0x91 or response[-2:] == b"\x90\x00" or sw1 >> 4 == 6


class Card:
    """The card under test, seen through its APDU entry point: checks every answer."""

    def __init__(self, card: VirtualCard) -> None:
        self.card = card

    def transceive(self, apdu: bytes) -> bytes:
        try:
            response = self.card.process(apdu)
        except CardTorn:
            raise  # power lost: the only way a command may end without an answer
        except Exception as exc:  # even an EkartaError: the card answers, it does not raise
            raise AssertionError(f"the card raised {exc!r} for {apdu.hex()}") from exc
        assert is_status_word(response), f"{apdu.hex()} -> {response.hex()}"
        return response


def card_with_files() -> dict[str, Any]:
    """The saved state of a card with one AES application (key 0 :data:`AES0`, key 1
    :data:`KEY1`, key 2 :data:`AES0`) holding each kind of file, free and keyed (files 0..6)."""
    card = VirtualCard(uid=bytes.fromhex("04A1B2C3D4E5F6"), rng=counting_rng())
    df = DESFire(Card(card), rng=counting_rng(7))
    df.authenticate(0, DES0, "legacy")
    df.create_application(AID, KeySettings(), key_count=3, key_type="aes", iso_fid=0xE101,
                          df_name=b"EKARTA")
    df.select_application(AID)
    df.authenticate(0, AES0)
    df.change_key(1, KEY1)
    df.create_std_data_file(0, 32, iso_fid=0xE102)
    df.create_std_data_file(1, 40, comm="mac", access=KEYED)
    df.create_backup_data_file(2, 24, comm="full", access=KEYED)
    df.create_value_file(3, lower_limit=I32_MIN, upper_limit=I32_MAX, value=I32_MAX,
                         limited_credit=True, free_get_value=True)
    df.create_value_file(4, lower_limit=-100, upper_limit=1000, value=10, limited_credit=True,
                         comm="full", access=KEYED)
    df.create_linear_record_file(5, 8, 3)
    df.create_cyclic_record_file(6, 12, 4, comm="mac", access=KEYED)
    df.commit_transaction()
    return card.state.to_dict()
