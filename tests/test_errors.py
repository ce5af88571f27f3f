"""Exceptions by meaning: one base per category catches the card's status and ekarta's own finding.

The card's answers come from the real emulated card; ekarta's findings from the client checking a
real answer that a wire in between damaged.  The session tests run the one session code from both
ends, as the client and the emulated card do.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ekarta.desfire.auth import CardAuth, ReaderAuth
from ekarta.desfire.client import DESFire
from ekarta.desfire.commands import Cmd, Comm
from ekarta.desfire.crypto import Key
from ekarta.desfire.session import EV1Session, EV2Session, LegacySession, Session
from ekarta.desfire.structs import AccessRights, KeySettings
from ekarta.emulator.reader import EmulatorReader
from ekarta.errors import (
    AccessError,
    AuthenticationError,
    AuthenticationRejected,
    BoundaryError,
    BoundsError,
    ChecksumMismatch,
    ChecksumRejected,
    IntegrityError,
    LengthError,
    LengthMismatch,
    NotAuthenticated,
    PermissionDenied,
    ProofMismatch,
)

AID = 0x0E1201
#: key 1 reads and writes, key 0 changes; "never" for the ReadWrite right
ACCESS = AccessRights(read=1, write=1, read_write=0xF, change=0)
METHODS = [("legacy", "des"), ("iso", "des"), ("aes", "aes"), ("ev2first", "aes")]


class Wire:
    """Passes APDUs to the card; ``command`` / ``answer`` damage the next command or the next
    successful answer that carries data."""

    def __init__(self, inner: EmulatorReader) -> None:
        self.inner = inner
        self.command: Callable[[bytes], bytes] | None = None
        self.answer: Callable[[bytes], bytes] | None = None

    def transceive(self, apdu: bytes) -> bytes:
        if self.command is not None and len(apdu) > 6:
            apdu, self.command = self.command(apdu), None
        response = self.inner.transceive(apdu)
        if self.answer is not None and len(response) > 2 and response[-2:] == b"\x91\x00":
            response, self.answer = self.answer(response), None
        return response


def flip_last_data_byte(apdu: bytes) -> bytes:
    return apdu[:-2] + bytes([apdu[-2] ^ 0x01]) + apdu[-1:]


def flip_before_status(response: bytes) -> bytes:
    return response[:-3] + bytes([response[-3] ^ 0x01]) + response[-2:]


def keep_three_bytes(response: bytes) -> bytes:
    return response[:3] + response[-2:]  # shorter than any MAC


@pytest.fixture
def wire():
    with EmulatorReader() as reader:
        reader.wait_for_card(timeout=1.0)
        yield Wire(reader)


def _app(wire: Wire, key_type: str, comm: str) -> DESFire:
    """An application with two keys of ``key_type`` and data file 1 in mode ``comm``."""
    card = DESFire(wire)
    card.create_application(AID, KeySettings(), 2, key_type)
    card.select_application(AID)
    card.create_std_data_file(1, 16, comm=comm, access=ACCESS)
    return card


# --- integrity ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "key_type"), METHODS, ids=[m for m, _ in METHODS])
def test_a_bad_mac_is_an_integrity_error_whichever_end_finds_it(wire, method, key_type):
    card = _app(wire, key_type, "mac")
    key = Key.default(key_type)
    card.authenticate(1, key, method)
    card.write_data(1, bytes(range(16)))

    wire.command = flip_last_data_byte  # the card checks the command's MAC
    with pytest.raises(IntegrityError) as by_card:
        card.write_data(1, bytes(16))
    card.authenticate(1, key, method)
    wire.answer = flip_before_status  # the client checks the answer's MAC
    with pytest.raises(IntegrityError) as by_client:
        card.read_data(1, 0, 16)

    assert type(by_card.value) is ChecksumRejected and by_card.value.status == 0x1E
    assert type(by_client.value) is ChecksumMismatch
    card.authenticate(1, key, method)
    assert card.read_data(1, 0, 16) == bytes(range(16)), "the card wrote a damaged command"


# --- authentication -------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "key_type"), METHODS, ids=[m for m, _ in METHODS])
def test_a_failed_authentication_is_an_authentication_error_whichever_end_finds_it(
        wire, method, key_type):
    card = _app(wire, key_type, "plain")
    key = Key.default(key_type)
    wrong = Key.from_hex(key_type, "5A" * key.type.key_size)

    with pytest.raises(AuthenticationError) as by_card:  # the card checks the reader's proof
        card.authenticate(1, wrong, method)
    wire.answer = flip_before_status  # the client checks the card's proof
    with pytest.raises(AuthenticationError) as by_client:
        card.authenticate(1, key, method)
    with pytest.raises(AuthenticationError) as no_session:  # the client refuses to send a key
        card.change_key(1, key)

    assert type(by_card.value) is AuthenticationRejected and by_card.value.status == 0xAE
    assert type(by_client.value) is ProofMismatch
    assert type(no_session.value) is NotAuthenticated
    assert card.session is None


@pytest.mark.parametrize(("method", "key_type"), METHODS, ids=[m for m, _ in METHODS])
def test_a_wrong_proof_is_a_proof_mismatch_at_both_ends(method, key_type):
    key = Key.default(key_type)
    wrong = Key.from_hex(key_type, "5A" * key.type.key_size)
    reader, card = ReaderAuth(method, 0, key), CardAuth(method, 0, wrong)
    answer = reader.respond(card.challenge())
    with pytest.raises(ProofMismatch):
        card.verify(answer)

    reader, card = ReaderAuth(method, 0, key), CardAuth(method, 0, key)
    proof, _ = card.verify(reader.respond(card.challenge()))
    with pytest.raises(ProofMismatch):
        reader.finish(proof[:-1] + bytes([proof[-1] ^ 0x01]))
    with pytest.raises(LengthMismatch):
        reader.finish(proof[:-1])


# --- lengths and bounds ---------------------------------------------------------------------------


def test_a_length_or_a_boundary_is_a_bounds_error_whichever_end_finds_it(wire):
    card = _app(wire, "aes", "plain")
    key = Key.default("aes")
    card.authenticate(1, key, "aes")
    with pytest.raises(BoundsError) as length_by_card:  # a MAC where the header says data ends
        card.write_data(1, bytes(range(16)), comm="mac")
    card.authenticate(1, key, "aes")
    with pytest.raises(BoundsError) as bound_by_card:
        card.read_data(1, 8, 9)
    card.authenticate(1, key, "aes")
    wire.answer = keep_three_bytes
    with pytest.raises(BoundsError) as by_client:
        card.read_data(1, 0, 16)

    assert type(length_by_card.value) is LengthError and length_by_card.value.status == 0x7E
    assert type(bound_by_card.value) is BoundaryError and bound_by_card.value.status == 0xBE
    assert type(by_client.value) is LengthMismatch


# --- access ---------------------------------------------------------------------------------------


def test_a_right_of_never_is_an_access_error(wire):
    """Only the card decides what no key may do: the client has no such check of its own."""
    card = _app(wire, "aes", "plain")
    card.authenticate(1, Key.default("aes"), "aes")
    card.create_value_file(2, upper_limit=10, access=ACCESS)
    with pytest.raises(AccessError) as info:
        card.credit(2, 1, comm="plain")  # Credit needs the ReadWrite right: never
    assert type(info.value) is PermissionDenied and info.value.status == 0x9D


# --- the session code, from both ends -------------------------------------------------------------

KEY16 = bytes.fromhex("F44B26F5C05DDD7110772281C4D066E8")
SESSIONS: dict[str, Callable[[], Session]] = {
    "legacy": lambda: LegacySession("des", KEY16[:8]),
    "ev1": lambda: EV1Session("aes", KEY16),
    "ev2": lambda: EV2Session(KEY16, KEY16[::-1], b"\x01\x02\x03\x04"),
}


def _flip_mac(message: bytes) -> bytes:
    return message[:-1] + bytes([message[-1] ^ 0x01])


@pytest.mark.parametrize("kind", SESSIONS)
def test_the_same_fault_raises_the_same_class_in_both_directions(kind):
    make = SESSIONS[kind]
    data = bytes(range(12))
    header = b"\x01" + bytes(6)
    mac_len = 4 if kind == "legacy" else 8

    def command(damage: Callable[[bytes], bytes]) -> None:
        reader, card = make(), make()
        body = reader.wrap_command(Cmd.WRITE_DATA, header, data, Comm.MAC)[len(header):]
        card.unwrap_command(Cmd.WRITE_DATA, header, damage(body), Comm.MAC)

    def response(damage: Callable[[bytes], bytes]) -> None:
        reader, card = make(), make()
        body = reader.wrap_command(Cmd.READ_DATA, header, b"", Comm.MAC)[len(header):]
        card.unwrap_command(Cmd.READ_DATA, header, body, Comm.MAC)
        payload = card.wrap_response(Cmd.READ_DATA, 0, data, Comm.MAC)
        reader.unwrap_response(Cmd.READ_DATA, 0, damage(payload), Comm.MAC)

    for direction in (command, response):
        with pytest.raises(ChecksumMismatch):
            direction(_flip_mac)
        with pytest.raises(LengthMismatch):
            direction(lambda message: message[:mac_len - 1])
