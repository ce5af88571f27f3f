"""The office's store on both databases: migrations that match the declared schema, and the
devices' tokens (shown once, kept only as a hash, revocable)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from ekarta.backoffice.database import open_engine
from ekarta.backoffice.errors import OfficeError
from ekarta.backoffice.schema import Base
from ekarta.backoffice.store import (
    DeviceExists,
    DeviceNotFound,
    add_device,
    device_for_token,
    list_devices,
    migrate,
    newest_version,
    revoke_device,
    schema_version,
)
from ekarta.sync.roles import DeviceRole

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LATER = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def engine(database):
    engine = open_engine(database)
    yield engine
    engine.dispose()


def test_migrating_builds_the_declared_schema_once(engine):
    assert schema_version(engine) is None
    assert migrate(engine) == newest_version() != ""
    assert migrate(engine) == newest_version()  # a second run has nothing to do
    assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
    with engine.connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_a_device_token_is_shown_once_and_kept_as_a_hash(engine):
    migrate(engine)
    token = add_device(engine, "bus 1017", DeviceRole.VALIDATOR, now=NOW)
    assert len(token) >= 40
    # a command line takes it after --token whatever its random part (never a leading dash)
    assert token.startswith("ekarta_")
    found = device_for_token(engine, token)
    assert found is not None and (found.name, found.role, found.active) == \
        ("bus 1017", DeviceRole.VALIDATOR, True)
    assert device_for_token(engine, token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT token_hash FROM devices")).scalar_one()
    assert token.encode() not in bytes(stored) and len(stored) == 32


def test_device_names_are_unique_and_revoking_ends_a_token(engine):
    migrate(engine)
    token = add_device(engine, "inspector 7", DeviceRole.INSPECTOR, now=NOW)
    other = add_device(engine, "kiosk Opava", DeviceRole.KIOSK, now=NOW)
    with pytest.raises(DeviceExists, match="inspector 7"):
        add_device(engine, "inspector 7", DeviceRole.OFFICE, now=NOW)
    revoked = revoke_device(engine, "inspector 7", now=LATER)
    assert not revoked.active and revoked.revoked_at == LATER
    assert revoke_device(engine, "inspector 7", now=NOW).revoked_at == LATER  # kept as it was
    assert device_for_token(engine, token) is None
    assert device_for_token(engine, other) is not None
    assert [(d.name, d.active) for d in list_devices(engine)] == [("inspector 7", False),
                                                                 ("kiosk Opava", True)]
    with pytest.raises(DeviceNotFound):
        revoke_device(engine, "nobody", now=NOW)


@pytest.mark.parametrize("name", ["", " padded", "x" * 65, "line\nbreak"])
def test_a_device_name_must_be_printable_and_short(tmp_path, name):
    engine = open_engine(str(tmp_path / "office.db"))
    migrate(engine)
    with pytest.raises(OfficeError, match="device name"):
        add_device(engine, name, DeviceRole.KIOSK, now=NOW)
    engine.dispose()


def test_an_instant_needs_its_time_zone_and_comes_back_in_utc(engine):
    from datetime import timedelta, timezone

    migrate(engine)
    with pytest.raises(OfficeError, match="time zone"):
        add_device(engine, "naive", DeviceRole.KIOSK, now=datetime(2026, 12, 1, 9, 0))
    prague = timezone(timedelta(hours=1))
    add_device(engine, "kiosk", DeviceRole.KIOSK, now=datetime(2026, 12, 1, 10, 0, tzinfo=prague))
    (device,) = list_devices(engine)
    assert device.created_at == NOW and device.created_at.tzinfo is not None
