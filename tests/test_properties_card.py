"""Properties of the emulated card under random APDU sequences.

Sequences mix garbage APDUs, native commands with random parameters, well-formed commands sent by
the client (in whatever session the sequence has authenticated), power cycles and tears, on a card
that holds an application with every kind of file.  Whatever comes: every answer is a status word,
no exception but a tear's escapes the card, and the card's state saves and loads back unchanged.
"""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ekarta.desfire.client import DESFire
from ekarta.desfire.commands import I32_MAX, I32_MIN, U24_MAX, Cmd
from ekarta.desfire.crypto import Key
from ekarta.desfire.structs import AccessRights
from ekarta.emulator import CardTorn, Faults, VirtualCard
from ekarta.emulator.state import CardState
from ekarta.errors import BoundaryError, EkartaError
from tests.support.apdu import counting_rng, native
from tests.support.properties import (
    AES0,
    AID,
    BUDGETS,
    DES0,
    KEY1,
    Card,
    budgeted,
    card_with_files,
)

#: the file numbers a command may name (the card's files are 0..6)
FILES = range(8)


BASE = card_with_files()

# --- what a sequence does -------------------------------------------------------------------------

amounts = st.one_of(st.integers(0, I32_MAX), st.sampled_from([0, 1, I32_MAX, I32_MAX - 1]))
sizes = st.one_of(st.integers(1, 300), st.sampled_from([U24_MAX, 0x10000, 8192, 7936]))
small = st.one_of(st.integers(0, 8), st.integers(0, 48))
file_nos = st.one_of(st.sampled_from(FILES), st.integers(0, 31))


def files(*numbers: int) -> st.SearchStrategy[int]:
    """Mostly the files a command applies to, sometimes any."""
    return st.one_of(st.sampled_from(numbers), st.sampled_from(numbers), file_nos)


data_files, value_files, record_files = files(0, 1, 2), files(3, 4), files(5, 6)
keys = st.sampled_from([AES0, KEY1, DES0, Key.aes(bytes([0xFF] * 16))])
modes = st.sampled_from(["plain", "mac", "full"])
comms = st.one_of(st.none(), st.none(), modes)
access = st.builds(AccessRights.from_int, st.integers(0, 0xFFFF))
data = st.one_of(st.binary(min_size=1, max_size=8), st.binary(min_size=1, max_size=64))


def _calls() -> st.SearchStrategy:
    """Client calls with random parameters: (name, args, kwargs)."""
    def call(name, *args, **kwargs):
        return st.tuples(st.just(name), st.tuples(*args), st.fixed_dictionaries(kwargs))

    login = st.sampled_from([(0, AES0), (1, KEY1), (2, AES0)])
    return st.one_of(
        call("select_application", st.sampled_from([0, AID, AID, AID, 0x123456])),
        st.builds(lambda k, method: ("authenticate", (k[0], k[1], method), {}), login,
                  st.sampled_from(["aes", "ev2first", "ev2nonfirst"])),
        call("authenticate", st.integers(0, 3), keys,
             st.sampled_from(["aes", "ev2first", "ev2nonfirst", "legacy", "iso"])),
        call("get_version"), call("free_memory"), call("get_card_uid"), call("get_df_names"),
        call("get_application_ids"), call("get_key_settings"), call("get_file_ids"),
        call("get_iso_file_ids"), call("get_key_version", st.integers(0, 13)),
        call("get_file_settings", file_nos),
        call("read_data", data_files, small, small, comm=comms),
        call("write_data", data_files, data, small, comm=comms),
        call("get_value", value_files, comm=comms),
        call("credit", value_files, amounts, comm=comms),
        call("debit", value_files, amounts, comm=comms),
        call("debit", st.just(3), st.just(I32_MAX), comm=st.just("plain")),
        call("limited_credit", value_files, amounts, comm=comms),
        call("write_record", record_files, data, small, comm=comms),
        call("read_records", record_files, st.integers(0, 4), st.integers(0, 4), comm=comms,
             record_size=st.sampled_from([8, 12, 1])),
        call("clear_record_file", record_files),
        call("commit_transaction"), call("commit_transaction"), call("abort_transaction"),
        call("change_file_settings", file_nos, modes, access),
        call("change_key_settings", st.integers(0, 255)),
        call("change_key", st.integers(0, 3), keys, keys),
        call("create_std_data_file", file_nos, sizes, comm=modes, access=access,
             iso_fid=st.one_of(st.none(), st.integers(0, 0xFFFF))),
        call("create_backup_data_file", file_nos, sizes, comm=modes, access=access),
        call("create_value_file", file_nos, lower_limit=st.sampled_from([I32_MIN, -5, 0]),
             upper_limit=st.sampled_from([I32_MAX, 5]), value=st.sampled_from([0, 5]),
             limited_credit=st.booleans(), free_get_value=st.booleans(), access=access),
        call("create_linear_record_file", file_nos, sizes, sizes, access=access),
        call("create_cyclic_record_file", file_nos, sizes, sizes, access=access),
        call("delete_file", file_nos),
        call("create_application", st.integers(1, U24_MAX), st.integers(0, 255),
             st.integers(1, 14), st.sampled_from(["aes", "des", "3k3des"])),
        call("delete_application", st.sampled_from([AID, 0x123456])),
        call("format_picc"),
        call("configure_picc", disable_format=st.booleans(), random_uid=st.booleans()),
        call("set_default_key", keys),
        call("set_configuration", st.integers(0, 3), st.binary(min_size=1, max_size=30)),
    )


iso_apdus = st.one_of(
    st.builds(lambda p1, d: bytes([0, 0xA4, p1, 0x0C, len(d)]) + d,
              st.sampled_from([0, 2, 4]),
              st.sampled_from([b"\xe1\x01", b"\xe1\x02", b"\x3f\x00", b"EKARTA"])),
    st.builds(lambda p1, p2, le: bytes([0, 0xB0, p1, p2, le]),
              st.sampled_from([0, 0x82, 0x80]), st.integers(0, 40), st.integers(0, 255)),
    st.builds(lambda p1, p2, d: bytes([0, 0xD6, p1, p2, len(d)]) + d,
              st.sampled_from([0, 0x82]), st.integers(0, 40), data),
)

operations = st.one_of(
    st.tuples(st.just("raw"), st.binary(max_size=40)),
    st.tuples(st.just("raw"), st.builds(native, st.sampled_from(list(Cmd)),
                                        st.binary(max_size=40))),
    st.tuples(st.just("raw"), iso_apdus),
    st.tuples(st.just("call"), _calls()),
    st.tuples(st.just("call"), _calls()),
    st.tuples(st.just("call"), _calls()),
    st.tuples(st.just("call"), _calls()),
    st.tuples(st.just("call"), _calls()),
    st.tuples(st.just("reset"), st.none()),
    st.tuples(st.just("tear"), st.tuples(st.floats(0, 1), _calls())),
)


def _round_trip(state: CardState) -> None:
    saved = state.to_dict()
    again = CardState.from_dict(json.loads(json.dumps(saved)))
    assert again.to_dict() == saved


def _client(link: Card) -> DESFire:
    """A client at the application, as a reader begins after a power-up."""
    df = DESFire(link, rng=counting_rng(9))
    with contextlib.suppress(EkartaError):  # deleted, or the card was formatted
        df.select_application(AID)
    return df


def _run(ops: list) -> None:
    card = VirtualCard(CardState.from_dict(BASE), rng=counting_rng(3))
    link = Card(card)
    df = _client(link)
    for kind, arg in ops:
        if kind == "raw":
            link.transceive(arg)
        elif kind == "reset":
            card.reset()
            df = _client(link)
        else:
            if kind == "tear":
                progress, arg = arg
                card.arm(Faults(tear_during=0, tear_progress=progress))
            name, args, kwargs = arg
            with contextlib.suppress(EkartaError):
                getattr(df, name)(*args, **kwargs)
            card.arm(None)
            if not card.present:
                card.insert()
                df = _client(link)
        _round_trip(card.state)


#: two Debits of 2^31 - 1 in one transaction on the free value file (whose value is 2^31 - 1)
TWO_MAXIMAL_DEBITS = [("call", ("debit", (3, I32_MAX), {"comm": "plain"}))] * 2 + [
    ("call", ("commit_transaction", (), {}))]


@pytest.mark.parametrize("budget", BUDGETS)
def test_random_sequences_answer_status_words_and_the_state_round_trips(budget):
    @budgeted(budget, fast=40, slow=400)
    @given(st.lists(operations, min_size=1, max_size=30))
    @example(TWO_MAXIMAL_DEBITS)
    @example([*TWO_MAXIMAL_DEBITS[:2], ("tear", (0.7, ("commit_transaction", (), {})))])
    @example([("call", ("create_std_data_file", (9, 0xFFFFFF), {}))])
    def check(ops):
        _run(ops)

    check()


# --- what the properties found --------------------------------------------------------------------


def test_two_maximal_debits_in_one_transaction_stay_within_the_saved_range():
    card = VirtualCard(CardState.from_dict(BASE), rng=counting_rng(3))
    df = DESFire(Card(card))
    df.select_application(AID)
    df.debit(3, I32_MAX)
    with pytest.raises(BoundaryError):
        df.debit(3, I32_MAX)
    df.select_application(AID)
    df.debit(3, I32_MAX - 1)
    df.debit(3, 1)
    df.commit_transaction()
    _round_trip(card.state)
    assert card.state.applications[AID].files[3].limited_credit_value == I32_MAX


def test_a_tear_on_a_card_after_maximal_debits_tears():
    card = VirtualCard(CardState.from_dict(BASE), rng=counting_rng(3))
    df = DESFire(Card(card))
    df.select_application(AID)
    df.debit(3, I32_MAX)
    try:
        df.debit(3, I32_MAX)
    except BoundaryError:
        df.select_application(AID)
    df.commit_transaction()
    card.arm(Faults(tear_during=0))
    with pytest.raises(CardTorn):
        df.get_value(3)
    _round_trip(card.state)
