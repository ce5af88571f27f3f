"""The keys a caller holds for a card: :class:`KeySpec` (where a key applies, and the key) and
:class:`KeyRing` (those keys by application and key number)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ekarta.desfire.commands import PICC_AID
from ekarta.desfire.crypto import Key, KeyType

__all__ = ["KeyRing", "KeySpec"]


@dataclass(frozen=True)
class KeySpec:
    """One key: the application it belongs to (:data:`PICC_AID` for the PICC level), its number
    there, and the key (whose repr hides the material)."""

    aid: int
    key_no: int
    key: Key

    def method(self, ev2: bool = False) -> str:
        """How the key authenticates: AES keys with AuthenticateAES (AuthenticateEV2First when
        ``ev2``), the DES family with AuthenticateISO."""
        if self.key.type is KeyType.AES:
            return "ev2first" if ev2 else "aes"
        return "iso"

    def label(self) -> str:
        """E.g. ``key 0 (aes) of application A1B2C3`` or ``PICC key 0 (des)``."""
        kind = self.key.type.value
        if self.aid == PICC_AID:
            return f"PICC key {self.key_no} ({kind})"
        return f"key {self.key_no} ({kind}) of application {self.aid:06X}"


class KeyRing:
    """Keys by (AID, key number); of two keys for the same place the later wins.  ``ev2`` makes
    AES keys authenticate with AuthenticateEV2First."""

    def __init__(self, specs: Iterable[KeySpec] = (), *, ev2: bool = False) -> None:
        self.ev2 = ev2
        self._keys: dict[tuple[int, int], KeySpec] = {}
        for spec in specs:
            self._keys[spec.aid, spec.key_no] = spec

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return f"<KeyRing {sorted(self._keys)!r}>"

    def get(self, aid: int, key_no: int) -> KeySpec | None:
        return self._keys.get((aid, key_no))

    def for_application(self, aid: int) -> list[KeySpec]:
        """The keys of ``aid``, by key number."""
        return sorted((s for s in self._keys.values() if s.aid == aid), key=lambda s: s.key_no)

    def master(self, aid: int) -> KeySpec | None:
        """Key 0 of ``aid`` if given, else its lowest-numbered key, else None."""
        keys = self.for_application(aid)
        return keys[0] if keys else None

    def applications(self) -> set[int]:
        return {aid for aid, _ in self._keys}
