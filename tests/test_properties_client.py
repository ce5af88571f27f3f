"""Properties of the DESFire client against a hostile card.

Every public method of :class:`~ekarta.desfire.client.DESFire` is called, without a session and
in sessions of each kind, through a transceiver that answers garbage, chains for ever, or passes
the command to a real emulated card and damages its answer.  Whatever the card does, a call ends
in a result or an :class:`~ekarta.errors.EkartaError`, never another exception, after a bounded
number of frames.
"""

from __future__ import annotations

import inspect

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from ekarta.desfire.client import MAX_FRAMES, DESFire
from ekarta.desfire.commands import I32_MAX
from ekarta.desfire.crypto import Key
from ekarta.desfire.structs import AccessRights
from ekarta.emulator import VirtualCard
from ekarta.emulator.state import CardState
from ekarta.errors import EkartaError
from tests.support.apdu import counting_rng
from tests.support.properties import AES0, AID, BUDGETS, KEY1, Card, budgeted, card_with_files

BASE = card_with_files()
#: a call sends at most two commands (file settings fetched, then the command itself), and an
#: authentication two frames
FRAME_BOUND = 2 * MAX_FRAMES + 4

keys = st.sampled_from([AES0, KEY1, Key.des(bytes(8)), Key.tdes3(bytes(range(24)))])
files = st.integers(0, 7)
small = st.integers(0, 64)
data = st.binary(min_size=1, max_size=80)
amounts = st.integers(0, I32_MAX)
access = st.builds(AccessRights.from_int, st.integers(0, 0xFFFF))
modes = st.one_of(st.none(), st.sampled_from(["plain", "mac", "full"]))

#: every public method of the client, with arguments it accepts
CALLS: dict[str, st.SearchStrategy] = {
    "authenticate": st.tuples(st.integers(0, 2), keys,
                              st.sampled_from(["aes", "ev2first", "ev2nonfirst", "legacy", "iso"])),
    "get_version": st.tuples(),
    "get_card_uid": st.tuples(),
    "free_memory": st.tuples(),
    "format_picc": st.tuples(),
    "get_key_settings": st.tuples(),
    "change_key_settings": st.tuples(st.integers(0, 255)),
    "get_key_version": st.tuples(st.integers(0, 13)),
    "change_key": st.tuples(st.integers(0, 2), keys, st.one_of(st.none(), keys)),
    "set_configuration": st.tuples(st.integers(0, 3), st.binary(min_size=1, max_size=30)),
    "set_default_key": st.tuples(keys),
    "configure_picc": st.tuples(),
    "create_application": st.tuples(st.integers(1, 0xFFFFFF), st.integers(0, 255),
                                    st.integers(1, 14), st.sampled_from(["aes", "des"])),
    "delete_application": st.tuples(st.integers(1, 0xFFFFFF)),
    "select_application": st.tuples(st.sampled_from([0, AID])),
    "get_application_ids": st.tuples(),
    "get_df_names": st.tuples(),
    "get_file_ids": st.tuples(),
    "get_iso_file_ids": st.tuples(),
    "get_file_settings": st.tuples(files),
    "change_file_settings": st.tuples(files, st.sampled_from(["plain", "mac", "full"]), access),
    "create_std_data_file": st.tuples(files, st.integers(1, 300)),
    "create_backup_data_file": st.tuples(files, st.integers(1, 300)),
    "create_value_file": st.tuples(files),
    "create_linear_record_file": st.tuples(files, st.integers(1, 40), st.integers(1, 9)),
    "create_cyclic_record_file": st.tuples(files, st.integers(1, 40), st.integers(2, 9)),
    "delete_file": st.tuples(files),
    "read_data": st.tuples(files, small, small, modes),
    "write_data": st.tuples(files, data, small, modes),
    "get_value": st.tuples(files, modes),
    "credit": st.tuples(files, amounts, modes),
    "debit": st.tuples(files, amounts, modes),
    "limited_credit": st.tuples(files, amounts, modes),
    "write_record": st.tuples(files, data, small, modes),
    "read_records": st.tuples(files, st.integers(0, 4), st.integers(0, 4), modes,
                              st.one_of(st.none(), st.integers(1, 12))),
    "clear_record_file": st.tuples(files),
    "commit_transaction": st.tuples(),
    "abort_transaction": st.tuples(),
}
#: arguments passed by keyword (after the positional ones, in this order)
KEYWORDS = {
    "read_data": ("comm",), "write_data": ("comm",), "get_value": ("comm",),
    "credit": ("comm",), "debit": ("comm",), "limited_credit": ("comm",),
    "write_record": ("comm",), "read_records": ("comm", "record_size"),
}


def test_every_public_method_of_the_client_is_called():
    public = {name for name, member in inspect.getmembers(DESFire)
              if not name.startswith("_") and callable(member)}
    assert public == set(CALLS)


# --- the hostile card -----------------------------------------------------------------------------

status_words = st.one_of(
    st.sampled_from([b"\x91\x00", b"\x91\xAF", b"\x91\xAE", b"\x91\x1E", b"\x91\x7E", b"\x90\x00",
                     b"\x67\x00"]),
    st.binary(min_size=2, max_size=2))
garbage = st.one_of(
    st.builds(lambda d, sw: d + sw, st.binary(max_size=70), status_words),
    st.binary(max_size=4))


@st.composite
def damage(draw) -> object:
    """A way to damage one real answer: flip a bit, cut it, change its status, add bytes."""
    kind = draw(st.sampled_from(["flip", "cut", "status", "extend", "keep", "keep"]))
    where = draw(st.integers(0, 300))
    value = draw(st.integers(0, 255))
    extra = draw(st.binary(max_size=20))

    def apply(response: bytes) -> bytes:
        if kind == "keep" or not response:
            return response
        i = where % len(response)
        if kind == "flip":
            return response[:i] + bytes([response[i] ^ (1 << value % 8)]) + response[i + 1:]
        if kind == "cut":
            return response[:i]
        if kind == "status":
            return response[:-1] + bytes([value])
        return response[:-2] + extra + response[-2:]

    return apply


class Hostile:
    """The card the client talks to once the session is set up: ``mode`` says how it answers.

    ``script`` answers garbage then chains for ever; ``empty`` chains empty frames for ever;
    ``endless`` chains ``chunk`` for ever; ``damaged`` passes each command to the real card and
    damages its answer with the next of ``damages`` (then answers unharmed).
    """

    def __init__(self, card: VirtualCard, mode: str, script: list[bytes], chunk: bytes,
                 damages: list) -> None:
        self.card = card
        self.mode = mode
        self.script = script
        self.chunk = chunk
        self.damages = damages
        self.frames = 0

    def transceive(self, apdu: bytes) -> bytes:
        self.frames += 1
        if self.frames > FRAME_BOUND:
            raise AssertionError(f"the client sent more than {FRAME_BOUND} frames in one call")
        if self.mode == "script":
            return self.script.pop(0) if self.script else b"\x00\x91\xAF"
        if self.mode == "empty":
            return b"\x91\xAF"
        if self.mode == "endless":
            return self.chunk + b"\x91\xAF"
        response = self.card.process(apdu)
        return self.damages.pop(0)(response) if self.damages else response


SESSIONS = [None, (0, AES0, "aes"), (1, KEY1, "aes"), (0, AES0, "ev2first"),
            (0, Key.des(bytes(8)), "legacy"), (0, Key.des(bytes(8)), "iso")]


def _client(session: tuple | None) -> tuple[DESFire, VirtualCard, Card]:
    """A client in application AID (or at PICC level for the DES sessions), authenticated as
    ``session`` says, against a real card."""
    card = VirtualCard(CardState.from_dict(BASE), rng=counting_rng(3))
    link = Card(card)
    df = DESFire(link, rng=counting_rng(5))
    if session is None or session[1].type.value == "aes":
        df.select_application(AID)
    if session is not None:
        df.authenticate(*session)
    return df, card, link


@st.composite
def hostile_calls(draw) -> tuple:
    name = draw(st.sampled_from(sorted(CALLS)))
    args = list(draw(CALLS[name]))
    kwargs = {}
    for keyword in reversed(KEYWORDS.get(name, ())):
        kwargs[keyword] = args.pop()
    mode = draw(st.sampled_from(["script", "empty", "endless", "damaged", "damaged", "damaged"]))
    script = draw(st.lists(garbage, max_size=6))
    chunk = draw(st.binary(min_size=1, max_size=59))
    damages = draw(st.lists(damage(), min_size=1, max_size=4))
    return name, args, kwargs, mode, script, chunk, damages


def _call_against_a_hostile_card(session: tuple | None, call: tuple) -> None:
    name, args, kwargs, mode, script, chunk, damages = call
    df, card, _ = _client(session)
    hostile = Hostile(card, mode, script, chunk, damages)
    df.transceiver = hostile
    try:
        getattr(df, name)(*args, **kwargs)
    except EkartaError as exc:
        assert str(exc) and "\n" not in str(exc)
    assert hostile.frames <= FRAME_BOUND


@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("session", SESSIONS, ids=lambda s: s[2] + str(s[0]) if s else "plain")
def test_a_hostile_card_gets_only_ekarta_errors_after_bounded_frames(budget, session):
    @budgeted(budget, fast=6, slow=200)
    @given(hostile_calls())
    @example(("get_version", [], {}, "empty", [], b"", []))  # 91 AF with no data, for ever
    @example(("read_data", [0], {"comm": "plain"}, "endless", [], b"\x00", []))
    def check(call):
        _call_against_a_hostile_card(session, call)

    check()


# --- what the properties found --------------------------------------------------------------------


@pytest.mark.parametrize("name", ["get_version", "read_data", "get_df_names", "read_records"])
def test_a_card_chaining_for_ever_ends_every_reading_call(name):
    args = {"read_data": (0,), "read_records": (5,)}.get(name, ())
    for mode in ("empty", "endless"):
        _call_against_a_hostile_card(None, (name, list(args), {"comm": "plain"} if args else {},
                                            mode, [], b"\x00", [lambda r: r]))

