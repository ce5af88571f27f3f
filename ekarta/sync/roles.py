"""Who talks to the office: :class:`DeviceRole`, which decides what a device's token reaches."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["DeviceRole"]


class DeviceRole(StrEnum):
    """What a device's token may reach: a terminal's own lists and actions, or everything."""

    VALIDATOR = "validator"
    INSPECTOR = "inspector"
    KIOSK = "kiosk"
    OFFICE = "office"
