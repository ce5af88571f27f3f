"""The office's records through one engine: bringing the schema up to date (:func:`migrate`) and
the devices that talk to the API (:func:`add_device`, :func:`list_devices`,
:func:`revoke_device`, :func:`device_for_token`).  Clocks are passed in."""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from ekarta.backoffice.errors import DatabaseError, OfficeError
from ekarta.backoffice.schema import Device
from ekarta.sync.roles import DeviceRole

__all__ = [
    "DeviceExists",
    "DeviceInfo",
    "DeviceNotFound",
    "add_device",
    "device_for_token",
    "driver_message",
    "list_devices",
    "migrate",
    "newest_version",
    "revoke_device",
    "schema_version",
]

log = logging.getLogger(__name__)

TOKEN_BYTES = 32
TOKEN_PREFIX = "ekarta_"
"""Every token starts so: it is recognised in a leaked file or log, and never begins with the
dash that would make a command line read it as an option (``--token -x...``)."""
DEVICE_NAME_MAX = 64


class DeviceExists(OfficeError):
    """A device of that name is registered already."""


class DeviceNotFound(OfficeError):
    """No device of that name."""


@dataclass(frozen=True)
class DeviceInfo:
    """A device as the office shows it: never its token."""

    name: str
    role: DeviceRole
    created_at: datetime
    revoked_at: datetime | None
    id: int = field(default=0, compare=False)
    """The device's row (what the office's records refer to it by)."""

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _alembic() -> Config:
    """Alembic's configuration, without an alembic.ini: the scripts ship in the package."""
    config = Config()
    config.set_main_option("script_location",
                           str(resources.files("ekarta.backoffice") / "migrations"))
    return config


def migrate(engine: Engine) -> str:
    """Bring the database's schema to the newest version; returns that version."""
    config = _alembic()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except DBAPIError as exc:
        raise DatabaseError(f"cannot update the database: {driver_message(exc)}") from exc
    version = schema_version(engine)
    log.info("database schema at version %s", version)
    return version or ""


def schema_version(engine: Engine) -> str | None:
    """The database's schema version (None: not an office database yet)."""
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except DBAPIError as exc:  # not reachable, or not a database at all
        raise DatabaseError(f"cannot read the database: {driver_message(exc)}") from exc


def driver_message(exc: DBAPIError) -> str:
    """The database driver's own words of ``exc``, on one line (psycopg's span several)."""
    return " ".join(str(exc.orig).split())


def newest_version() -> str:
    """The schema version this code writes."""
    return ScriptDirectory.from_config(_alembic()).get_current_head() or ""


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise OfficeError("an instant must carry its time zone")
    return now


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def _info(device: Device) -> DeviceInfo:
    return DeviceInfo(device.name, DeviceRole(device.role), device.created_at, device.revoked_at,
                      id=device.id)


def _check_name(name: str) -> str:
    if not name or len(name) > DEVICE_NAME_MAX or not name.isprintable() or name != name.strip():
        raise OfficeError(f"a device name is 1..{DEVICE_NAME_MAX} printable characters without "
                          "leading or trailing spaces")
    return name


def add_device(engine: Engine, name: str, role: DeviceRole, *, now: datetime) -> str:
    """Register a device and return its token: the only time it is ever seen (the office keeps
    only its hash)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
    with Session(engine) as session:
        session.add(Device(name=_check_name(name), role=DeviceRole(role).value,
                           token_hash=_token_hash(token), created_at=_aware(now)))
        try:
            session.commit()
        except IntegrityError:
            raise DeviceExists(f"a device named {name!r} exists already") from None
    log.info("added device %s (%s)", name, role)
    return token


def list_devices(engine: Engine) -> list[DeviceInfo]:
    with Session(engine) as session:
        return [_info(d) for d in session.scalars(select(Device).order_by(Device.name))]


def revoke_device(engine: Engine, name: str, *, now: datetime) -> DeviceInfo:
    """Revoke a device's token (from now on every request with it is refused)."""
    with Session(engine) as session:
        device = session.scalar(select(Device).where(Device.name == name))
        if device is None:
            raise DeviceNotFound(f"no device named {name!r}")
        if device.revoked_at is None:
            device.revoked_at = _aware(now)
            session.commit()
            log.info("revoked device %s", name)
        return _info(device)


def device_for_token(engine: Engine, token: str) -> DeviceInfo | None:
    """The active device whose token this is, else None."""
    with Session(engine) as session:
        device = session.scalar(select(Device).where(Device.token_hash == _token_hash(token)))
        if device is None or device.revoked_at is not None:
            return None
        return _info(device)
