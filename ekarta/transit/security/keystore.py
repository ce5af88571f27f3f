"""The scheme's secrets: master keys for the card keys and the coupon-signing key.

Terminals and tools ask a :class:`KeyProvider` for what they need — a card's diversified key of
one :class:`~ekarta.transit.codec.layout.KeyRole`, the card's PICC master key, the coupon signer or
verifier — and never see a master key.  :class:`FileKeyStore` keeps everything in one JSON file
(mode 0600) for development, tests and small deployments; a real deployment keeps the master keys
in a SAM or an HSM and plugs in a provider that asks it to diversify.

The file (``format`` ``ekarta-keystore/1``)::

    {
      "format": "ekarta-keystore/1",
      "system_id": "EKARTA-ODIS",                  # ASCII, diversified into every card key
      "picc_master": {"aes": "<32 hex>", "version": 1},
      "application": {"master": {...}, "load": {...}, "validation": {...}, "read": {...}},
      "signing_key": "-----BEGIN PRIVATE KEY-----...",  # PKCS#8 PEM, Ed25519 or ECDSA P-256
      "verify_keys": ["-----BEGIN PUBLIC KEY-----..."]  # optional: older keys still accepted
    }

Key versions must be 1..255: a card key's version (readable without authentication) tells an
issued key from a factory-default one (version 0), which is how an interrupted issue resumes.
Key material never reaches a log, a ``repr`` or an error message; :meth:`FileKeyStore.key_ids`
gives fingerprints to tell keystores apart.
"""

from __future__ import annotations

import abc
import hashlib
import json
import logging
import os
import stat
from collections.abc import Mapping
from typing import Any

from ekarta.desfire.crypto import Key, KeyType, Rng
from ekarta.desfire.diversify import diversify
from ekarta.errors import EkartaError
from ekarta.files import atomic_write
from ekarta.transit.codec.layout import (
    AID,
    DEFAULT_SYSTEM_ID,
    PICC_AID,
    KeyRole,
    check_system_id,
    diversification_input,
)
from ekarta.transit.errors import CouponError, KeyFormatError
from ekarta.transit.security.signing import CouponSigner, CouponVerifier

__all__ = [
    "FORMAT",
    "TERMINAL_KEYS",
    "FileKeyStore",
    "KeyProvider",
    "KeyStoreError",
    "create_keystore",
    "key_fingerprint",
]

log = logging.getLogger(__name__)

FORMAT = "ekarta-keystore/1"
MAX_FILE_SIZE = 256 * 1024
"""A keystore is a few kilobytes; anything much larger is not one (and is not read whole)."""
KEY_VERSION = 1


TERMINAL_KEYS: dict[str, frozenset[KeyRole]] = {
    "validator": frozenset({KeyRole.VALIDATION, KeyRole.READ}),
    "inspector": frozenset({KeyRole.LOAD, KeyRole.READ}),
    "kiosk": frozenset({KeyRole.LOAD, KeyRole.READ}),
    "office": frozenset(KeyRole),
}
"""The application keys each kind of terminal is given (see :meth:`FileKeyStore.export`): a
validator reads and logs, an inspector and a kiosk load what the office holds for a card."""


class KeyStoreError(CouponError):
    """A keystore cannot be created, read or used."""


def key_fingerprint(key: Key) -> str:
    """16 hex digits identifying ``key`` without revealing it (a hash of the material)."""
    digest = hashlib.sha256(b"ekarta/key-id\0" + key.type.value.encode() + b"\0" + key.data)
    return digest.hexdigest()[:16]


class KeyProvider(abc.ABC):
    """Where terminals get card keys and the operator's coupon keys from.

    ``card_key`` and ``picc_key`` return keys already diversified for the card with ``uid``;
    implementations backed by a SAM or an HSM diversify inside it and never export the masters.
    """

    @property
    @abc.abstractmethod
    def system_id(self) -> bytes:
        """The system identifier diversified into every card key."""

    @abc.abstractmethod
    def card_key(self, role: KeyRole, uid: bytes) -> Key:
        """The transit application's key ``role`` of the card with ``uid``."""

    @abc.abstractmethod
    def picc_key(self, uid: bytes) -> Key:
        """The PICC master key of the card with ``uid``."""

    @abc.abstractmethod
    def signer(self) -> CouponSigner:
        """The coupon signer (back office only); KeyStoreError where it is not held."""

    @abc.abstractmethod
    def verifier(self) -> CouponVerifier:
        """The verifier of the operator's coupon signatures (every terminal)."""


def _check_master(key: object, what: str) -> Key:
    if not isinstance(key, Key) or key.type is not KeyType.AES:
        raise KeyStoreError(f"{what} must be an AES key")
    if not 1 <= key.version <= 0xFF:
        # Version 0 is the factory default's: an issued key must be told apart from it.
        raise KeyStoreError(f"{what} must have a key version of 1..255")
    return key


class FileKeyStore(KeyProvider):
    """Master keys, system identifier and coupon keys held in memory, loaded from a JSON file."""

    def __init__(self, *, picc_master: Key | None, application: Mapping[KeyRole, Key],
                 system_id: bytes, signing_pem: bytes | None = None,
                 verify_pems: tuple[bytes, ...] = (), path: str | None = None) -> None:
        # A terminal's keystore (see export) holds only the masters its role uses.
        self._picc = None if picc_master is None else _check_master(picc_master,
                                                                    "the PICC master key")
        self._masters = {role: _check_master(application[role], f"the {role.label} master key")
                         for role in KeyRole if role in application}
        if self._picc is None and not self._masters:
            raise KeyStoreError("the keystore holds no master key")
        try:
            self._system_id = check_system_id(system_id)
        except EkartaError as exc:
            raise KeyStoreError(str(exc)) from None
        self._signer = CouponSigner.from_pem(signing_pem) if signing_pem is not None else None
        extra = CouponVerifier.from_pem(*verify_pems) if verify_pems else None
        keys = []
        if self._signer is not None:
            keys.append(self._signer.verifier)
        if extra is not None:
            keys.append(extra)
        if not keys:
            raise KeyStoreError("the keystore holds neither a signing key nor a public key")
        self._verify_pems = tuple(pem for v in keys for pem in v.to_pem())
        self._verifier = CouponVerifier.from_pem(*self._verify_pems)
        self.path = path

    # --- KeyProvider -----------------------------------------------------------------------------

    @property
    def system_id(self) -> bytes:
        return self._system_id

    def _where(self) -> str:
        return f"keystore {self.path}" if self.path else "this keystore"

    def card_key(self, role: KeyRole, uid: bytes) -> Key:
        role = KeyRole(role)
        master = self._masters.get(role)
        if master is None:
            raise KeyStoreError(f"{self._where()} holds no {role.label} key")
        return diversify(master, diversification_input(uid, AID, self._system_id))

    def picc_key(self, uid: bytes) -> Key:
        if self._picc is None:
            raise KeyStoreError(f"{self._where()} holds no PICC master key")
        return diversify(self._picc, diversification_input(uid, PICC_AID, self._system_id))

    @property
    def roles(self) -> frozenset[KeyRole]:
        """The application keys this keystore can give."""
        return frozenset(self._masters)

    def export(self, roles: frozenset[KeyRole], *, picc: bool = False,
               signing: bool = False) -> FileKeyStore:
        """A keystore with only ``roles``' master keys (and the PICC master key, the signing key
        when asked): what one kind of terminal needs.  The coupon-verifying keys always go."""
        missing = sorted(role.label for role in roles - self.roles)
        if missing or (picc and self._picc is None) or (signing and self._signer is None):
            raise KeyStoreError(f"{self._where()} cannot give what the export asks: "
                                f"{', '.join(missing) or 'the PICC or signing key'}")
        signer = self._signer if signing else None
        return FileKeyStore(
            picc_master=self._picc if picc else None,
            application={role: self._masters[role] for role in roles},
            system_id=self._system_id,
            signing_pem=None if signer is None else signer.to_pem(),
            verify_pems=tuple(pem for pem in self._verify_pems
                              if signer is None or pem not in signer.verifier.to_pem()),
            path=None)

    def signer(self) -> CouponSigner:
        if self._signer is None:
            where = f"keystore {self.path}" if self.path else "this keystore"
            raise KeyStoreError(f"{where} holds no coupon-signing key")
        return self._signer

    def verifier(self) -> CouponVerifier:
        return self._verifier

    # --- the file --------------------------------------------------------------------------------

    def key_ids(self) -> dict[str, Any]:
        """Fingerprints and versions of every key, and the public keys: safe to print."""
        return {
            "system_id": self._system_id.decode("ascii"),
            "picc_master": None if self._picc is None else {
                "id": key_fingerprint(self._picc), "version": self._picc.version},
            "application": {role.label: {"key_no": int(role), "id": key_fingerprint(key),
                                         "version": key.version}
                            for role, key in self._masters.items()},
            "signing_key": None if self._signer is None else {
                "id": self._signer.key_id, "algorithm": self._signer.algorithm},
            "verify_keys": [{"id": key_id, "pem": pem.decode("ascii")} for key_id, pem in
                            zip(self._verifier.key_ids, self._verify_pems, strict=True)],
        }

    def to_document(self) -> dict[str, Any]:
        """The JSON document of the keystore (holds the secrets: write it only to a 0600 file)."""
        def key(k: Key) -> dict[str, Any]:
            return {"aes": k.data.hex(), "version": k.version}

        document: dict[str, Any] = {
            "format": FORMAT,
            "system_id": self._system_id.decode("ascii"),
            "application": {role.label: key(k) for role, k in self._masters.items()},
        }
        if self._picc is not None:
            document["picc_master"] = key(self._picc)
        if self._signer is not None:
            document["signing_key"] = self._signer.to_pem().decode("ascii")
            extra = self._verify_pems[1:]
        else:
            extra = self._verify_pems
        if extra:
            document["verify_keys"] = [pem.decode("ascii") for pem in extra]
        return document

    @classmethod
    def from_document(cls, document: object, *, path: str | None = None) -> FileKeyStore:
        """A keystore from its parsed JSON (hostile input: every field is checked); an error
        names the keystore's ``path`` when it is given."""
        try:
            return cls._from_document(document, path=path)
        except KeyStoreError as exc:
            where = f"keystore {path}" if path else "keystore"
            raise KeyStoreError(f"{where}: {exc}") from None

    @classmethod
    def _from_document(cls, document: object, *, path: str | None) -> FileKeyStore:
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise KeyStoreError(f"not an ekarta keystore (format {FORMAT!r} expected)")
        system_id = document.get("system_id")
        if not isinstance(system_id, str) or not system_id.isascii() \
                or not system_id.isprintable():
            raise KeyStoreError("system_id must be printable ASCII text")
        application = document.get("application")
        if not isinstance(application, dict):
            raise KeyStoreError("application must map key roles to keys")
        unknown = set(application) - {role.label for role in KeyRole}
        if unknown:
            raise KeyStoreError(f"application: unknown key role {sorted(unknown)[0]!r}")
        masters = {role: _parse_key(application[role.label], f"application.{role.label}")
                   for role in KeyRole if role.label in application}
        picc = document.get("picc_master")
        signing = document.get("signing_key")
        if signing is not None and not isinstance(signing, str):
            raise KeyStoreError("signing_key must be a PEM text")
        verify = document.get("verify_keys", [])
        if not isinstance(verify, list) or not all(isinstance(p, str) for p in verify):
            raise KeyStoreError("verify_keys must be a list of PEM texts")
        try:
            return cls(picc_master=None if picc is None else _parse_key(picc, "picc_master"),
                       application=masters, system_id=system_id.encode("ascii"),
                       signing_pem=None if signing is None else signing.encode("ascii"),
                       verify_pems=tuple(p.encode("ascii") for p in verify), path=path)
        except (KeyFormatError, UnicodeEncodeError) as exc:
            raise KeyStoreError(str(exc)) from None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FileKeyStore:
        """The keystore in ``path``; warns (log) when other users may read it."""
        name = os.fspath(path)
        try:
            with open(name, "rb") as f:
                mode = os.fstat(f.fileno()).st_mode
                data = f.read(MAX_FILE_SIZE + 1)
        except OSError as exc:
            raise KeyStoreError(f"cannot read keystore {name}: {exc.strerror}") from None
        if stat.S_ISREG(mode) and mode & 0o077:
            log.warning("keystore %s is accessible to other users (mode %03o): chmod 600 %s",
                        name, stat.S_IMODE(mode), name)
        if len(data) > MAX_FILE_SIZE:
            raise KeyStoreError(f"{name} is too large to be a keystore")
        try:
            document = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            # The parser's message may quote the file: it holds secrets, so it is not repeated.
            raise KeyStoreError(f"{name} is not a JSON keystore") from None
        keystore = cls.from_document(document, path=name)
        log.info("loaded keystore %s (system %s)", name, keystore.system_id.decode("ascii"))
        return keystore

    def __repr__(self) -> str:
        signer = self._signer.key_id if self._signer is not None else None
        return f"FileKeyStore(system_id={self._system_id!r}, signer={signer}, path={self.path!r})"


def _parse_key(value: object, what: str) -> Key:
    if not isinstance(value, dict) or not isinstance(value.get("aes"), str):
        raise KeyStoreError(f"{what} must be {{\"aes\": HEX, \"version\": N}}")
    version = value.get("version", KEY_VERSION)
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= 0xFF:
        raise KeyStoreError(f"{what}: version must be 1..255")
    try:
        material = bytes.fromhex(value["aes"])
    except ValueError:
        raise KeyStoreError(f"{what}: the key must be hex digits") from None
    if len(material) != KeyType.AES.key_size:
        raise KeyStoreError(f"{what}: an AES key has 16 bytes")
    return Key.aes(material, version)


def create_keystore(path: str | os.PathLike[str], *, system_id: bytes = DEFAULT_SYSTEM_ID,
                    force: bool = False,
                    rng: Rng = os.urandom) -> FileKeyStore:
    """Create a keystore with fresh master keys and an Ed25519 signing key, file mode 0600.

    Refuses to overwrite an existing file unless ``force``: losing master keys makes every card
    issued with them unusable.
    """
    name = os.fspath(path)

    def new_key() -> Key:
        return Key.aes(rng(16), KEY_VERSION)

    keystore = FileKeyStore(
        picc_master=new_key(), application={role: new_key() for role in KeyRole},
        system_id=system_id, signing_pem=CouponSigner.generate().to_pem(), path=name)
    data = (json.dumps(keystore.to_document(), indent=2) + "\n").encode("ascii")
    try:
        atomic_write(name, data, mode=0o600, overwrite=force)
    except FileExistsError:
        raise KeyStoreError(f"{name} exists; a keystore is never overwritten without --force "
                            "(cards issued with its keys would become unusable)") from None
    except OSError as exc:
        raise KeyStoreError(f"cannot create keystore {name}: {exc.strerror or exc}") from None
    log.info("created keystore %s (system %s)", name, keystore.system_id.decode("ascii"))
    return keystore
