"""DESFire protocol layer: a sans-IO core for MIFARE DESFire EV1/EV2 cards.

Nothing in this package opens a device.  The reader-side client, :class:`DESFire`, talks to a
card through one seam, a :class:`Transceiver` (any object with ``transceive(apdu: bytes) ->
bytes``: a reader driver from :mod:`ekarta.readers`, the emulator, or a scripted fake in tests),
and builds every APDU itself::

    from ekarta.desfire import DESFire, Key

    card = DESFire(reader)
    card.select_application(0x123456)
    card.authenticate(0, Key.aes(bytes(16)))
    data = card.read_data(1)

The layers below it are shared with the emulated card:

* :mod:`~ekarta.desfire.crypto` — keys (:class:`Key`, :class:`KeyType`), ciphers, CMAC, CRCs;
* :mod:`~ekarta.desfire.auth` — the five authentication handshakes, both ends;
* :mod:`~ekarta.desfire.session` — secure messaging (:class:`LegacySession`,
  :class:`EV1Session`, :class:`EV2Session`) in the modes of :class:`Comm`;
* :mod:`~ekarta.desfire.structs` and :mod:`~ekarta.desfire.commands` — command codes
  (:class:`Cmd`), the ranges of their values and the table of granting rights, and wire
  structures as frozen dataclasses;
* :func:`diversify` — NXP AN10922 key diversification.

Above the client: :mod:`~ekarta.desfire.keyring` holds the keys a caller has for a card, and
:func:`ekarta.desfire.explore.explore` walks a card with them into a
:class:`~ekarta.desfire.explore.CardReport` (what ``ekarta card info`` shows).

``docs/desfire-protocol.md`` states which communication mode each command uses.
"""

from ekarta.desfire.client import DESFire, Transceiver
from ekarta.desfire.commands import AppCrypto, Cmd, FileType
from ekarta.desfire.crypto import Key, KeyType
from ekarta.desfire.diversify import diversify
from ekarta.desfire.session import Comm, EV1Session, EV2Session, LegacySession, Session
from ekarta.desfire.structs import (
    AccessRights,
    DFNameEntry,
    FileSettings,
    KeySettings,
    KeySettingsInfo,
    VersionInfo,
)

__all__ = [
    "AccessRights",
    "AppCrypto",
    "Cmd",
    "Comm",
    "DESFire",
    "DFNameEntry",
    "EV1Session",
    "EV2Session",
    "FileSettings",
    "FileType",
    "Key",
    "KeySettings",
    "KeySettingsInfo",
    "KeyType",
    "LegacySession",
    "Session",
    "Transceiver",
    "VersionInfo",
    "diversify",
]
