"""The office's database: which URLs name a store, and the same engine code on SQLite and on a
private PostgreSQL server."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text

from ekarta.backoffice.database import database_url, open_engine, redacted
from ekarta.backoffice.errors import DatabaseError


@pytest.mark.parametrize(("given", "driver", "database"), [
    ("office.db", "sqlite", "office.db"),
    ("/var/lib/ekarta/office.db", "sqlite", "/var/lib/ekarta/office.db"),
    ("sqlite:///office.db", "sqlite", "office.db"),
    ("postgresql://ekarta@db.example:5432/office", "postgresql+psycopg", "office"),
    ("postgresql+psycopg://ekarta@db.example/office", "postgresql+psycopg", "office"),
])
def test_a_database_is_a_file_or_a_postgresql_url(given, driver, database):
    url = database_url(given)
    assert (url.drivername, url.database) == (driver, database)


@pytest.mark.parametrize(("given", "message"), [
    ("", "no database named"),
    ("   ", "no database named"),
    ("sqlite://", "in a file"),
    ("sqlite:///:memory:", "in a file"),
    ("mysql://root@localhost/office", "unsupported database 'mysql'"),
    ("://office", "not a database URL"),
    ("postgresql://u:pw@db.example:port/office", "not a database URL"),
])
def test_anything_else_is_refused_in_one_line(given, message):
    with pytest.raises(DatabaseError, match=message) as refused:
        database_url(given)
    assert "\n" not in str(refused.value) and "pw" not in str(refused.value)


def test_a_password_never_shows():
    assert "s3cret" not in redacted("postgresql://ekarta:s3cret@db.example/office")
    assert "s3cret" not in redacted("postgresql://ekarta:s3cret@db.example:port/office")


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    engine = open_engine(str(tmp_path / "office.db"))
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    engine.dispose()


def test_the_same_code_stores_and_reads_on_both_databases(database):
    metadata = MetaData()
    cards = Table("cards", metadata, Column("number", Integer, primary_key=True),
                  Column("holder", String(64)))
    engine = open_engine(database)
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(insert(cards), [{"number": 1234567894, "holder": "Nováková"}])
    with engine.connect() as connection:
        assert connection.execute(select(cards.c.holder)).scalar_one() == "Nováková"
    engine.dispose()
