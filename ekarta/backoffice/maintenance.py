"""The office's daily maintenance.

PLACEHOLDER: the purge of holder data, the expiries and the unreturned replacements come with
the card operations; until then :func:`run_daily` does nothing, so that ``ekarta office serve``
already calls it every day.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Engine

__all__ = ["run_daily"]


def run_daily(engine: Engine, now: datetime) -> None:
    """Everything the office does once a day at ``now`` (placeholder: nothing yet)."""
