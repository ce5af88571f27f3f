"""Alembic's environment: migrations run on the connection :func:`~ekarta.backoffice.store.migrate`
hands over (the office never reads alembic.ini)."""

from __future__ import annotations

from alembic import context

from ekarta.backoffice.schema import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
