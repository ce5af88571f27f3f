"""Alembic's environment and the versions of the office's schema; see
:func:`ekarta.backoffice.store.migrate`."""
