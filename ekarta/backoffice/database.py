"""The office's database: one SQLAlchemy engine for one URL, the same code on both stores.

- An SQLite file is the embedded default: a path, or ``sqlite:///PATH``.  It runs in WAL mode
  (readers never wait for the writer), with foreign keys enforced and a busy timeout, so that
  the API's workers and an ``ekarta office`` command can share it.
- PostgreSQL at scale: ``postgresql://USER@HOST:PORT/DB`` goes through psycopg 3.

Nothing else is accepted: a URL naming another driver is refused here rather than at the first
query.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from ekarta.backoffice import DEFAULT_DATABASE
from ekarta.backoffice.errors import DatabaseError

__all__ = ["DEFAULT_DATABASE", "SQLITE_BUSY_TIMEOUT", "database_url", "open_engine", "redacted"]

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT = 10.0
"""Seconds a connection waits for another process's write lock before it fails."""


def database_url(text: str) -> URL:
    """The SQLAlchemy URL of ``text``: a file path (SQLite), ``sqlite:///PATH`` or
    ``postgresql://...`` (driven by psycopg 3)."""
    if not text or not text.strip():
        raise DatabaseError("no database named: give a file path or postgresql://...")
    if "://" not in text:
        return URL.create("sqlite", database=text)
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise DatabaseError(f"not a database URL: {redacted(text)}") from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        if not url.database or url.database == ":memory:":
            raise DatabaseError("the office keeps its records in a file: give sqlite:///PATH")
        return url.set(drivername="sqlite")
    if backend == "postgresql":
        return url.set(drivername="postgresql+psycopg")
    raise DatabaseError(f"unsupported database {backend!r}: use an SQLite file or "
                        "postgresql://...")


def redacted(text: str) -> str:
    """A database URL fit for a message or a log: its password replaced."""
    if "://" not in text:
        return text  # a file path holds no password
    try:
        return make_url(text).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "<unparsable URL>"


def open_engine(text: str, **options: Any) -> Engine:
    """An engine for the database named by ``text`` (see :func:`database_url`)."""
    url = database_url(text)
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT}, **options)
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, pool_pre_ping=True, **options)
    log.info("database %s", url.render_as_string(hide_password=True))
    return engine


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()
