"""Negative paths for every authentication method: wrong key, missing rights, wrong comm mode,
out of memory, tampered traffic."""

from __future__ import annotations

import pytest

from ekarta.desfire.client import DESFire
from ekarta.desfire.commands import Cmd
from ekarta.desfire.crypto import Key
from ekarta.desfire.structs import AccessRights
from ekarta.errors import (
    AuthenticationRejected,
    ChecksumMismatch,
    ChecksumRejected,
    LengthError,
    LengthMismatch,
    NoSuchKey,
    OutOfMemory,
    PermissionDenied,
)

from ._support import (
    DATA_ACCESS,
    RECORD_ACCESS,
    VALUE_ACCESS,
    App,
    AuthCase,
    TamperingTransceiver,
    pattern,
    personalise,
)


def family(case: AuthCase) -> str:
    """The secure messaging of the case's session: how its messages are framed."""
    return {"ev2first": "ev2", "ev2nonfirst": "ev2"}.get(case.method, case.method)


#: What the card answers a 16-byte WriteData sent in the wrong communication mode, by session
#: family and (the file's mode, the mode sent).  The card reads the message in the file's mode and
#: answers with the first check that fails: its length (LENGTH_ERROR, 0x7E) when the bytes cannot
#: be that mode's message (data + CRC padded to whole blocks, or data + MAC), else its integrity
#: (INTEGRITY_ERROR, 0x1E: the MAC or the CRC does not verify).
WRITE_REFUSALS: dict[tuple[str, str], type[Exception]] = {
    ("plain", "mac"): LengthError, ("plain", "full"): LengthError,
    ("mac", "plain"): ChecksumRejected, ("full", "plain"): ChecksumRejected,
}
WRITE_REFUSALS_BY_FAMILY: dict[str, dict[tuple[str, str], type[Exception]]] = {
    # 4-byte MACs and 8-byte blocks: 16 + 4 bytes are no whole number of blocks
    "legacy": {("mac", "full"): ChecksumRejected, ("full", "mac"): LengthError},
    # 8-byte CMACs and 8-byte blocks: 16 + 8 bytes decipher, and the CRC fails
    "iso": {("mac", "full"): ChecksumRejected, ("full", "mac"): ChecksumRejected},
    # 8-byte CMACs and 16-byte blocks
    "aes": {("mac", "full"): ChecksumRejected, ("full", "mac"): LengthError},
    # EV2 MACs the ciphertext: a MACed message verifies, then its length gives it away (checked
    # before the padding, which the deciphered plain data fake now and then)
    "ev2": {("mac", "full"): LengthError, ("full", "mac"): LengthError},
}
#: What the client finds in the card's answer when it reads a file in the wrong mode, by session
#: family and file mode: a MAC or CRC that does not verify, or an answer of the wrong length.
READ_REFUSALS: dict[str, dict[str, type[Exception]]] = {
    "legacy": {"full": ChecksumMismatch, "mac": LengthMismatch},
    "iso": {"full": ChecksumMismatch, "mac": ChecksumMismatch},
    "aes": {"full": ChecksumMismatch, "mac": LengthMismatch},
    "ev2": {"full": LengthMismatch, "mac": LengthMismatch},
}


# --- wrong key ------------------------------------------------------------------------------------


@pytest.mark.parametrize("key_no", [0, 1, 2])
def test_wrong_key(app: App, auth_case: AuthCase, key_no: int) -> None:
    card = app.card
    card.create_std_data_file(1, 16, comm="full", access=DATA_ACCESS)
    with pytest.raises(AuthenticationRejected):
        app.auth(key_no, auth_case.wrong_key)
    assert card.session is None
    with pytest.raises(AuthenticationRejected):
        card.read_data(1, 0, 16, comm="full")
    app.auth(key_no)  # the right key still works afterwards
    assert card.session is not None


def test_wrong_method_for_key_family(app: App, auth_case: AuthCase) -> None:
    """AES authentication to a DES-family key (and ISO to an AES key) is refused by the card."""
    other = Key.default("aes") if auth_case.key_type != "aes" else Key.default("des")
    method = "aes" if other.type.value == "aes" else "iso"
    with pytest.raises(AuthenticationRejected):
        app.card.authenticate(1, other, method)
    assert app.card.session is None


@pytest.mark.conformance(auth="iso-DES")
def test_no_such_key(app: App, auth_case: AuthCase) -> None:
    with pytest.raises(NoSuchKey):
        app.auth(5, auth_case.keys[1])
    assert app.card.session is None


# --- missing rights -------------------------------------------------------------------------------


@pytest.mark.conformance(auth="aes-AES", comm="mac")
def test_missing_rights(app: App, comm: str) -> None:
    """Key 2 may write the data file, debit the value file and write records — nothing more."""
    card = app.card
    card.create_std_data_file(1, 16, comm=comm, access=DATA_ACCESS)
    card.create_value_file(2, upper_limit=1000, value=100, comm=comm, access=VALUE_ACCESS)
    card.create_linear_record_file(3, 8, 4, comm=comm, access=RECORD_ACCESS)
    app.auth(1)
    card.write_record(3, pattern(8, 1))
    card.commit_transaction()

    app.auth(2)
    with pytest.raises(AuthenticationRejected):
        card.read_data(1)
    assert card.session is None
    app.auth(2)
    card.write_data(1, pattern(16, 2))  # Write right: allowed
    with pytest.raises(AuthenticationRejected):
        card.credit(2, 1)
    app.auth(2)
    with pytest.raises(AuthenticationRejected):
        card.read_records(3)
    app.auth(2)
    with pytest.raises(AuthenticationRejected):
        card.clear_record_file(3)
    app.auth(2)
    card.write_record(3, pattern(8, 3))
    card.commit_transaction()

    app.select()  # no session at all: the card refuses
    with pytest.raises(AuthenticationRejected):
        card.write_data(1, bytes(16))

    app.auth(1)
    assert card.read_data(1) == pattern(16, 2)
    assert card.get_value(2) == 100
    assert card.read_records(3) == [pattern(8, 1), pattern(8, 3)]


def test_never_rights(app: App) -> None:
    """A right of 0xF is PermissionDenied, whatever the session."""
    card = app.card
    card.create_std_data_file(1, 16, comm="full",
                              access=AccessRights(read=0xF, write=1, read_write=0xF, change=0xF))
    app.auth(1)
    card.write_data(1, pattern(16, 4))
    with pytest.raises(PermissionDenied):
        card.read_data(1, 0, 16, comm="full")
    assert card.session is None
    app.select()
    with pytest.raises(PermissionDenied):
        card.read_data(1)


# --- wrong communication mode ---------------------------------------------------------------------

_WRITE_MISMATCHES = [
    ("full", "mac"), ("full", "plain"), ("mac", "plain"), ("mac", "full"),
    ("plain", "mac"), ("plain", "full"),
]


@pytest.mark.parametrize(("file_comm", "forced"), _WRITE_MISMATCHES,
                         ids=[f"file-{f}-sent-{s}" for f, s in _WRITE_MISMATCHES])
def test_write_in_wrong_comm_mode(app: App, auth_case: AuthCase, file_comm: str,
                                  forced: str) -> None:
    card = app.card
    refusal = (WRITE_REFUSALS.get((file_comm, forced))
               or WRITE_REFUSALS_BY_FAMILY[family(auth_case)][file_comm, forced])
    card.create_std_data_file(1, 16, comm=file_comm, access=DATA_ACCESS)
    app.auth(1)
    original = pattern(16, 5)
    card.write_data(1, original)

    with pytest.raises(refusal) as refused:
        card.write_data(1, pattern(16, 6), comm=forced)
    assert type(refused.value) is refusal
    assert card.session is None
    app.auth(1)
    assert card.read_data(1) == original, "the card wrote a message in the wrong comm mode"


_READ_MISMATCHES = [("full", "mac"), ("mac", "full")]


@pytest.mark.parametrize(("file_comm", "forced"), _READ_MISMATCHES,
                         ids=[f"file-{f}-read-{s}" for f, s in _READ_MISMATCHES])
def test_read_in_wrong_comm_mode(app: App, auth_case: AuthCase, file_comm: str,
                                 forced: str) -> None:
    card = app.card
    refusal = READ_REFUSALS[family(auth_case)][file_comm]
    card.create_std_data_file(1, 16, comm=file_comm, access=DATA_ACCESS)
    app.auth(1)
    original = pattern(16, 7)
    card.write_data(1, original)

    with pytest.raises(refusal) as refused:
        card.read_data(1, 0, 16, comm=forced)
    assert type(refused.value) is refusal
    # A failed check drops the session.  In an EV2 session a MACed reading of a full file does
    # verify (the MAC covers the ciphertext) and only the length gives it away: the session may
    # then go on, and must still be in step.
    if card.session is None:
        app.auth(1)
    assert card.read_data(1, 0, 16, comm=file_comm) == original


# --- out of memory --------------------------------------------------------------------------------


def test_out_of_memory(app: App) -> None:
    card = app.card
    free = card.free_memory()
    with pytest.raises(OutOfMemory):
        card.create_std_data_file(1, free + 1, access=DATA_ACCESS)
    app.auth(0)
    assert card.free_memory() == free
    big = (free // 2 // 32 + 1) * 32  # fits as a standard file, not as a backup file
    with pytest.raises(OutOfMemory):
        card.create_backup_data_file(1, big, access=DATA_ACCESS)
    app.auth(0)
    assert card.free_memory() == free

    created = []
    file_no = 1
    while True:
        try:
            card.create_std_data_file(file_no, 1024, access=DATA_ACCESS)
        except OutOfMemory:
            break
        created.append(file_no)
        file_no += 1
        remaining = card.free_memory()
        assert remaining >= 0
        assert file_no < 10, "8 KB card accepted more than 8 KB of files"
    assert created
    app.auth(0)
    remaining = card.free_memory()
    assert 0 <= remaining < 1024
    assert remaining % 32 == 0
    if remaining:
        card.create_std_data_file(20, remaining, access=DATA_ACCESS)  # exactly what is left
    assert card.free_memory() == 0
    for create in (
        lambda: card.create_std_data_file(21, 1, access=DATA_ACCESS),
        lambda: card.create_value_file(22, upper_limit=10, access=VALUE_ACCESS),
        lambda: card.create_cyclic_record_file(23, 4, 2, access=RECORD_ACCESS),
    ):
        with pytest.raises(OutOfMemory):
            create()
        app.auth(0)
        assert card.free_memory() == 0
    assert 21 not in card.get_file_ids()


def test_out_of_memory_for_applications(card: DESFire) -> None:
    """With the memory full, a new application is refused too, and nothing is half-created."""
    card.create_application(0x0E0001, key_count=1, key_type="des")
    card.select_application(0x0E0001)
    card.create_std_data_file(1, card.free_memory(), access=DATA_ACCESS)
    assert card.free_memory() == 0
    card.select_application(0)
    with pytest.raises(OutOfMemory):
        card.create_application(0x0E0002, key_count=1, key_type="aes")
    assert card.get_application_ids() == [0x0E0001]
    assert card.free_memory() == 0


# --- tampered traffic -----------------------------------------------------------------------------


@pytest.fixture
def tampered(reader, auth_case: AuthCase) -> tuple[TamperingTransceiver, App]:
    wire = TamperingTransceiver(reader)
    return wire, personalise(DESFire(wire), auth_case)


@pytest.mark.parametrize("file_comm", ["mac", "full"])
def test_tampered_response(tampered, file_comm: str) -> None:
    """A flipped bit in the card's answer: ChecksumMismatch, and the session is gone."""
    wire, app = tampered
    card = app.card
    card.create_std_data_file(1, 16, comm=file_comm, access=DATA_ACCESS)
    app.auth(1)
    data = pattern(16, 8)
    card.write_data(1, data)

    wire.arm_response()
    with pytest.raises(ChecksumMismatch):
        card.read_data(1, 0, 16, comm=file_comm)
    assert wire.tampered == 1
    assert card.session is None
    app.auth(1)
    assert card.read_data(1, 0, 16, comm=file_comm) == data


def test_tampered_card_uid(tampered) -> None:
    """GetCardUID answers fully protected in every session kind: a flipped bit is detected."""
    wire, app = tampered
    card = app.card
    uid = card.get_version().uid
    app.auth(1)
    wire.arm_response()
    with pytest.raises(ChecksumMismatch):
        card.get_card_uid()
    assert wire.tampered == 1
    assert card.session is None
    app.auth(1)
    assert card.get_card_uid() == uid


@pytest.mark.parametrize("file_comm", ["mac", "full"])
def test_tampered_command(tampered, file_comm: str) -> None:
    """A flipped bit in the reader's message: the card refuses it (0x1E) and writes nothing."""
    wire, app = tampered
    card = app.card
    card.create_std_data_file(1, 16, comm=file_comm, access=DATA_ACCESS)
    app.auth(1)
    data = pattern(16, 9)
    card.write_data(1, data)

    wire.arm_command(Cmd.WRITE_DATA)
    with pytest.raises(ChecksumRejected):
        card.write_data(1, pattern(16, 10), comm=file_comm)
    assert wire.tampered == 1
    assert card.session is None
    app.auth(1)
    assert card.read_data(1, 0, 16) == data
