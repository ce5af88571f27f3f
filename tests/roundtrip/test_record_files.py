"""Linear and cyclic record files, client <-> card, over every auth method and comm mode."""

from __future__ import annotations

import pytest

from ekarta.desfire.commands import FileType
from ekarta.errors import BoundaryError

from ._support import RECORD_ACCESS, App, pattern

FILE = 5
KINDS = ["linear", "cyclic"]


def _create(app: App, kind: str, record_size: int, max_records: int, comm: str) -> None:
    create = (app.card.create_linear_record_file if kind == "linear"
              else app.card.create_cyclic_record_file)
    create(FILE, record_size, max_records, comm=comm, access=RECORD_ACCESS)


@pytest.mark.parametrize("kind", KINDS)
def test_write_and_read_records(app: App, comm: str, kind: str) -> None:
    """Records written in pieces, read back with every offset/count combination."""
    card = app.card
    _create(app, kind, 16, 5, comm)
    app.auth(1)
    records = []
    for i in range(3):
        record = pattern(16, 20 + i)
        # two WriteRecord commands of one transaction fill the same new record
        card.write_record(FILE, record[:6], 0)
        card.write_record(FILE, record[6:], 6)
        if records:
            assert card.read_records(FILE) == records, "record visible before commit"
        card.commit_transaction()
        records.append(record)

    assert card.read_records(FILE) == records  # oldest first
    assert card.read_records(FILE, 0, 0) == records
    assert card.read_records(FILE, 0, 1) == [records[2]]  # offset 0 = newest
    assert card.read_records(FILE, 1, 1) == [records[1]]
    assert card.read_records(FILE, 2, 1) == [records[0]]
    assert card.read_records(FILE, 0, 2) == records[1:]
    assert card.read_records(FILE, 1, 0) == records[:2]
    assert card.read_records(FILE, 0, 3, record_size=16) == records

    settings = card.get_file_settings(FILE)
    expected_type = FileType.LINEAR_RECORD if kind == "linear" else FileType.CYCLIC_RECORD
    assert settings.file_type is expected_type
    assert (settings.record_size, settings.max_records, settings.current_records) == (16, 5, 3)
    assert card.session is not None


@pytest.mark.conformance(auth="aes-AES", comm="mac")
def test_cyclic_wraps_around(app: App, comm: str) -> None:
    """A cyclic file of N records keeps the newest N-1."""
    card = app.card
    _create(app, "cyclic", 8, 4, comm)
    app.auth(1)
    written = []
    for i in range(7):
        record = pattern(8, 40 + i)
        card.write_record(FILE, record)
        card.commit_transaction()
        written.append(record)
        kept = written[-3:]
        assert card.read_records(FILE) == kept
    assert card.read_records(FILE, 0, 1) == [written[-1]]
    assert card.read_records(FILE, 2, 1) == [written[-3]]
    assert card.get_file_settings(FILE).current_records == 3
    with pytest.raises(BoundaryError):
        card.read_records(FILE, 3, 1)


@pytest.mark.conformance(auth="ev2nonfirst-AES", comm="full")
def test_linear_full_then_clear(app: App, comm: str) -> None:
    """A full linear file refuses another record; ClearRecordFile (committed) empties it."""
    card = app.card
    _create(app, "linear", 8, 3, comm)
    app.auth(1)
    records = [pattern(8, 60 + i) for i in range(3)]
    for record in records:
        card.write_record(FILE, record)
        card.commit_transaction()

    with pytest.raises(BoundaryError):
        card.write_record(FILE, pattern(8, 70))
    assert card.session is None
    app.auth(1)
    card.commit_transaction()
    assert card.read_records(FILE) == records

    card.clear_record_file(FILE)
    assert card.read_records(FILE) == records, "clear visible before commit"
    card.abort_transaction()
    assert card.read_records(FILE) == records

    card.clear_record_file(FILE)
    card.commit_transaction()
    assert card.get_file_settings(FILE).current_records == 0
    fresh = pattern(8, 71)
    card.write_record(FILE, fresh)
    card.commit_transaction()
    assert card.read_records(FILE) == [fresh]


def test_record_abort(app: App, comm: str) -> None:
    card = app.card
    _create(app, "linear", 8, 3, comm)
    app.auth(1)
    first = pattern(8, 80)
    card.write_record(FILE, first)
    card.commit_transaction()
    card.write_record(FILE, pattern(8, 81))
    card.abort_transaction()
    card.commit_transaction()
    assert card.read_records(FILE) == [first]
    assert card.get_file_settings(FILE).current_records == 1


@pytest.mark.parametrize("kind", KINDS)
def test_record_out_of_bounds(app: App, kind: str) -> None:
    card = app.card
    _create(app, kind, 8, 4, "full")
    app.auth(1)
    record = pattern(8, 90)
    card.write_record(FILE, record)
    card.commit_transaction()

    with pytest.raises(BoundaryError):
        card.write_record(FILE, b"\x01\x02\x03", 6)  # 6 + 3 > record size 8
    app.auth(1)
    with pytest.raises(BoundaryError):
        card.write_record(FILE, bytes(9))
    app.auth(1)
    card.commit_transaction()
    assert card.read_records(FILE) == [record]

    with pytest.raises(BoundaryError):
        card.read_records(FILE, 1, 1)  # only one record: offset 1 does not exist
    app.auth(1)
    with pytest.raises(BoundaryError):
        card.read_records(FILE, 0, 2)  # one record, two asked
    app.auth(1)
    assert card.read_records(FILE, 0, 1) == [record]
