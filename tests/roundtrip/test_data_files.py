"""Standard and backup data files, client <-> card, over every auth method and comm mode."""

from __future__ import annotations

import pytest

from ekarta.desfire.client import DESFire
from ekarta.desfire.structs import AccessRights
from ekarta.errors import BoundaryError

from ._support import DATA_ACCESS, App, RecordingTransceiver, pattern, personalise

FILE = 1
KINDS = ["std", "backup"]


def _create(app: App, kind: str, size: int, comm: str, access: AccessRights = DATA_ACCESS) -> None:
    create = (app.card.create_std_data_file if kind == "std"
              else app.card.create_backup_data_file)
    create(FILE, size, comm=comm, access=access)


def _commit_if_backup(app: App, kind: str) -> None:
    if kind == "backup":
        app.card.commit_transaction()


@pytest.mark.conformance(auth="iso-3K3DES", comm="full")
@pytest.mark.parametrize("kind", KINDS)
def test_write_then_read_back(app: App, comm: str, kind: str) -> None:
    """300 bytes each way (both the command and the response chain), then partial updates."""
    card = app.card
    _create(app, kind, 300, comm)
    app.auth(1)
    data = pattern(300, seed=1)
    card.write_data(FILE, data)
    if kind == "backup":
        assert card.read_data(FILE, 0, 300) != data, "backup write visible before commit"
        card.commit_transaction()
    assert card.read_data(FILE) == data  # length 0: up to the end of the file
    assert card.read_data(FILE, 0, 300) == data

    card.write_data(FILE, b"\xAA" * 10, 100)
    _commit_if_backup(app, kind)
    expected = data[:100] + b"\xAA" * 10 + data[110:]
    assert card.read_data(FILE, 95, 20) == expected[95:115]
    assert card.read_data(FILE, 290, 0) == expected[290:]
    assert card.read_data(FILE, 50, 200) == expected[50:250]
    assert card.read_data(FILE, 299, 1) == expected[299:]
    assert card.session is not None


@pytest.mark.conformance(auth="legacy-DES", comm="mac")
def test_backup_commit_and_abort(app: App, comm: str) -> None:
    """Backup data: only a commit makes a write visible; abort and reselection discard it."""
    card = app.card
    _create(app, "backup", 64, comm)
    app.auth(1)
    first, second, third = pattern(64, 2), pattern(64, 3), pattern(20, 4)

    card.write_data(FILE, first)
    card.commit_transaction()
    assert card.read_data(FILE) == first

    card.write_data(FILE, second)
    assert card.read_data(FILE) == first
    card.abort_transaction()
    assert card.read_data(FILE) == first
    card.commit_transaction()  # nothing left to commit
    assert card.read_data(FILE) == first

    card.write_data(FILE, third, 10)
    app.select()  # a new selection discards the pending transaction
    app.auth(1)
    card.commit_transaction()
    assert card.read_data(FILE) == first

    card.write_data(FILE, third, 10)
    card.commit_transaction()
    assert card.read_data(FILE) == first[:10] + third + first[30:]


def test_std_write_is_immediate(app: App, comm: str) -> None:
    """A standard data file needs no commit; abort does not undo it."""
    card = app.card
    _create(app, "std", 32, comm)
    app.auth(1)
    data = pattern(32, 5)
    card.write_data(FILE, data)
    card.abort_transaction()
    assert card.read_data(FILE) == data


@pytest.mark.parametrize("kind", KINDS)
def test_out_of_bounds(app: App, comm: str, kind: str) -> None:
    """Reading or writing past the end is a BoundaryError and writes nothing."""
    card = app.card
    _create(app, kind, 32, comm)
    app.auth(1)
    data = pattern(32, 6)
    card.write_data(FILE, data)
    _commit_if_backup(app, kind)

    with pytest.raises(BoundaryError):
        card.write_data(FILE, b"\x11" * 8, 30)
    assert card.session is None, "an error status must end the session"
    app.auth(1)
    _commit_if_backup(app, kind)
    assert card.read_data(FILE) == data

    with pytest.raises(BoundaryError):
        card.read_data(FILE, 30, 8)
    app.auth(1)
    with pytest.raises(BoundaryError):
        card.read_data(FILE, 40, 1)
    app.auth(1)
    with pytest.raises(BoundaryError):
        card.write_data(FILE, b"\x22", 32)
    app.auth(1)
    assert card.read_data(FILE, 24, 0) == data[24:]


def test_free_file_inside_session(app: App) -> None:
    """A file with free rights travels plain even in a session, and the session stays in step."""
    card = app.card
    card.create_std_data_file(2, 40, comm="full", access=AccessRights.free())
    card.create_std_data_file(FILE, 48, comm="full", access=DATA_ACCESS)
    app.auth(1)
    protected = pattern(48, 7)
    card.write_data(FILE, protected)
    free = pattern(40, 8)
    card.write_data(2, free)  # effective mode plain: the client must work that out
    assert card.read_data(2) == free
    assert card.read_data(2, 0, 40, comm="plain") == free
    # the session's IV / counter must still be in step for a protected exchange
    assert card.read_data(FILE) == protected
    assert card.session is not None


def test_free_file_without_session(card: DESFire) -> None:
    card.create_application(0x0F0F0F, key_count=1, key_type="des")
    card.select_application(0x0F0F0F)
    card.create_std_data_file(FILE, 100, comm="full", access=AccessRights.free())
    data = pattern(100, 9)
    card.write_data(FILE, data)
    assert card.read_data(FILE) == data
    assert card.session is None


@pytest.mark.conformance(auth="aes-AES")
def test_small_frame_size(reader, auth_case) -> None:
    """frame_size splits long commands into smaller frames; the card reassembles them."""
    recorder = RecordingTransceiver(reader)
    card = DESFire(recorder, frame_size=40)
    app = personalise(card, auth_case)
    card.create_std_data_file(FILE, 200, comm="full", access=DATA_ACCESS)
    app.auth(1)
    data = pattern(200, 10)
    recorder.clear()
    card.write_data(FILE, data, comm="full")
    sent = recorder.commands
    assert len(sent) >= 5, "200 bytes in frames of 40 need at least five frames"
    for apdu in sent:
        lc = apdu[4] if len(apdu) > 5 else 0
        assert lc <= 40, f"frame of {lc} bytes exceeds frame_size: {apdu.hex()}"
    assert all(apdu[1] == 0xAF for apdu in sent[1:])
    assert card.read_data(FILE) == data
