"""A software MIFARE DESFire EV2 card, to develop and test against without hardware.

:class:`VirtualCard` takes command APDUs and answers response APDUs with real card semantics:
applications, files, keys, the five authentications with their secure messaging, transactions,
response and command chaining, ISO 7816-4 SELECT / READ BINARY / UPDATE BINARY.  Its persistent
memory is a :class:`CardState` that saves to and loads from a JSON file (:func:`save_state`,
:func:`load_state`); :class:`Faults` injects tearing, a mute card and latency.  Use it through a
reader with ``open_reader("emulator:")`` or ``open_reader("emulator:PATH")``
(:mod:`ekarta.emulator.reader`), or directly::

    from ekarta.emulator import VirtualCard

    card = VirtualCard.new()
    card.process(bytes.fromhex("906E000000"))   # FreeMemory -> 00 1F 00 91 00 (7936 bytes)
"""

from ekarta.emulator.card import ATQA, SAK, VirtualCard
from ekarta.emulator.faults import CardMute, CardTorn, Faults
from ekarta.emulator.host import CardHost, deliver
from ekarta.emulator.state import (
    FORMAT_VERSION,
    Application,
    CardState,
    DataFile,
    RecordFile,
    ValueFile,
    load_state,
    save_state,
)

__all__ = [
    "ATQA",
    "FORMAT_VERSION",
    "SAK",
    "Application",
    "CardHost",
    "CardMute",
    "CardState",
    "CardTorn",
    "DataFile",
    "Faults",
    "RecordFile",
    "ValueFile",
    "VirtualCard",
    "deliver",
    "load_state",
    "save_state",
]
