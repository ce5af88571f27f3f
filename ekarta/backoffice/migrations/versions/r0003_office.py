"""The counter of the card numbers the office allocates.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

COUNTERS = sa.table("counters", sa.column("name", sa.String()), sa.column("value", sa.BigInteger()))


def upgrade() -> None:
    op.bulk_insert(COUNTERS, [{"name": "card", "value": 0}])


def downgrade() -> None:
    op.execute(COUNTERS.delete().where(COUNTERS.c.name == "card"))
