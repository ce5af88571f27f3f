"""Logging helpers shared by ekarta's modules.

Library code never prints: each module logs through ``logging.getLogger(__name__)``.  Frames on the
wire (APDUs to and from a card) are logged at :data:`TRACE`, a level below ``DEBUG``, so that an
application can turn on debug logging without drowning in hex.
"""

from __future__ import annotations

import logging

TRACE = 5
"""Log level for frame traces, below ``logging.DEBUG`` (10)."""

logging.addLevelName(TRACE, "TRACE")

__all__ = ["TRACE", "hexdump", "trace"]


def trace(logger: logging.Logger, msg: str, *args: object) -> None:
    """Log ``msg % args`` at :data:`TRACE` on ``logger``, if that level is enabled."""
    if logger.isEnabledFor(TRACE):
        logger.log(TRACE, msg, *args)


def hexdump(b: bytes | bytearray | memoryview) -> str:
    """Space-separated upper-case hex of ``b``: ``b"\\x90\\x00"`` -> ``"90 00"``."""
    return bytes(b).hex(" ").upper()
