"""Properties of the loaders of ekarta's files: the emulated card's state and the keystore.

Both files come from outside: a mutated one (a JSON value replaced, removed or duplicated, or its
bytes damaged) either loads or fails with an :class:`~ekarta.errors.EkartaError` of one line,
never another exception.  A card file that loads is a card that works: it answers every command
a reader begins with by a status word and saves back to what it loaded.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import tempfile
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ekarta.desfire.client import DESFire
from ekarta.emulator import VirtualCard
from ekarta.emulator.state import CardState, load_state
from ekarta.errors import EkartaError
from ekarta.transit.codec.layout import KeyRole
from ekarta.transit.security.keystore import FileKeyStore, create_keystore
from tests.support.apdu import counting_rng
from tests.support.properties import BUDGETS, Card, budgeted, card_with_files

CARD = card_with_files()
UID = bytes.fromhex("04A1B2C3D4E5F6")


def _keystore_document() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "keys.json")
        create_keystore(path, rng=counting_rng(11))
        with open(path, encoding="utf-8") as f:
            return json.load(f)


KEYSTORE = _keystore_document()

# --- mutations ------------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(-2**64, 2**64),
    st.sampled_from([0, -1, 1, 255, 256, 0xFFFF, 0x10000, 0xFFFFFF, 0x1000000, 2**31 - 1, 2**31,
                     2**32, -2**31 - 1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
    st.sampled_from(["", "00", "0", "ZZ", "FFFF", "000000", "04A1B2C3D4E5F6", "E", "EEEE",
                     "std", "value", "cyclic", "aes", "des", "3k3des", "plain", "full"]),
    st.binary(max_size=40).map(lambda b: b.hex().upper()),
)
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=6)


def _paths(node: Any, path: tuple = ()) -> list[tuple]:
    """Every place in a JSON document, the root included."""
    found = [path]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*path, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += _paths(value, (*path, i))
    return found


@st.composite
def mutated_documents(draw, document: dict[str, Any]) -> Any:
    """``document`` with one to three of its values replaced, removed or duplicated."""
    doc: Any = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, 3))):
        places = _paths(doc)
        path = draw(st.sampled_from(places))
        action = draw(st.sampled_from(["replace", "replace", "remove", "duplicate", "nudge"]))
        if not path:
            if action == "replace":
                doc = draw(json_values)
            continue
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        if action == "remove":
            del parent[last]
        elif action == "duplicate" and isinstance(parent, list):
            parent.insert(last, copy.deepcopy(parent[last]))
        elif action == "nudge" and isinstance(parent[last], int) \
                and not isinstance(parent[last], bool):
            parent[last] += draw(st.sampled_from([-1, 1, 2**31, -2**31, 2**32, 0x1000000]))
        else:
            parent[last] = draw(json_values)
    return doc


@st.composite
def damaged_texts(draw, document: dict[str, Any]) -> bytes:
    """The saved text of ``document`` with a few bytes flipped, cut or inserted."""
    text = bytearray((json.dumps(document, indent=1) + "\n").encode())
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(text) - 1))
        action = draw(st.sampled_from(["flip", "cut", "insert", "truncate"]))
        if action == "flip":
            text[where] ^= 1 << draw(st.integers(0, 7))
        elif action == "cut":
            del text[where:where + draw(st.integers(1, 8))]
        elif action == "insert":
            text[where:where] = draw(st.binary(min_size=1, max_size=8))
        else:
            del text[where:]
        if not text:
            break
    return bytes(text)


def mutated_files(document: dict[str, Any]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        mutated_documents(document).map(lambda d: json.dumps(d).encode()),
        damaged_texts(document))


def _one_line(exc: EkartaError) -> None:
    assert str(exc) and "\n" not in str(exc), repr(str(exc))


# --- the card file --------------------------------------------------------------------------------


def _use(state: CardState) -> None:
    """What a reader does first with a card, and every file's settings: status words only."""
    card = VirtualCard(state, rng=counting_rng(2))
    link = Card(card)
    df = DESFire(link, rng=counting_rng(4))
    for call in (df.get_version, df.free_memory, df.get_application_ids, df.get_df_names):
        with contextlib.suppress(EkartaError):
            call()
    for aid in list(state.applications):
        with contextlib.suppress(EkartaError):
            df.select_application(aid)
            for file_no in df.get_file_ids():
                df.get_file_settings(file_no)
    saved = card.state.to_dict()
    assert CardState.from_dict(json.loads(json.dumps(saved))).to_dict() == saved


def _load_card(path: str, text: bytes) -> None:
    with open(path, "wb") as f:
        f.write(text)
    try:
        state = load_state(path)
    except EkartaError as exc:
        _one_line(exc)
        return
    _use(state)


# --- the keystore ---------------------------------------------------------------------------------


def _load_keystore(path: str, text: bytes) -> None:
    with open(path, "wb") as f:
        f.write(text)
    os.chmod(path, 0o600)
    try:
        store = FileKeyStore.load(path)
        store.picc_key(UID)
        for role in KeyRole:
            store.card_key(role, UID)
        store.verifier()
        store.key_ids()
    except EkartaError as exc:
        _one_line(exc)


#: what is mutated, and what loads it (and uses what it loaded)
LOADERS = {"card": (CARD, _load_card), "keystore": (KEYSTORE, _load_keystore)}


@pytest.mark.parametrize("budget", BUDGETS)
@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_a_mutated_file_loads_into_something_that_works_or_fails_in_one_line(budget, kind,
                                                                           tmp_path):
    document, load = LOADERS[kind]
    path = os.fspath(tmp_path / f"{kind}.json")

    @budgeted(budget, fast=40)
    @given(mutated_files(document))
    def check(text):
        load(path, text)

    check()
