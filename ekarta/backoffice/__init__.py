"""The back office: the system of record for cards, holders and coupons, and the HTTP API that
terminals sync with.

- :mod:`~ekarta.backoffice.database`: the engine for a database URL (SQLite or PostgreSQL);
- :mod:`~ekarta.backoffice.schema`: the tables, under the Alembic migrations of
  :mod:`~ekarta.backoffice.migrations`;
- :mod:`~ekarta.backoffice.store`: the records (so far: the schema version and the devices);
- :mod:`~ekarta.backoffice.feeds`: the feeds terminals pull, kept current and read page by page;
- :mod:`~ekarta.backoffice.journal`: the terminals' journal batches, stored once per event;
- :mod:`~ekarta.backoffice.leases`: a terminal's lease on an action before it performs it;
- :mod:`~ekarta.backoffice.api`: the HTTP API for terminals and the office's workplaces (the
  latter's models in :mod:`~ekarta.backoffice.api_models`), and
  :mod:`~ekarta.backoffice.service`: serving it, with the daily jobs.

The package itself stays light (the command line reads :data:`DEFAULT_DATABASE` without loading
SQLAlchemy).
"""

DEFAULT_DATABASE = "ekarta-office.db"
"""The SQLite file used when no database is named (in the working directory)."""
