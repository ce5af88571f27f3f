"""One module a schema version, oldest first by ``down_revision``."""
