"""The terminal directory: who the terminal is, where its office is, and its keys and store.

``DIR/terminal.json`` (mode 0600: it holds the device's token)::

    {"format": "ekarta-terminal/1", "office": "https://office.example",
     "role": "validator", "device": "bus 1017", "token": "...", "keystore": "keys.json",
     "store": "store.sqlite"}

``DIR/keys.json`` is a copy (mode 0600) of the keystore the terminal was given (``ekarta keys
export KEYSTORE --role ROLE``): the card keys its role uses and the operator's public keys, with
which it checks coupons and the office's sync envelopes.  A field terminal (validator, inspector,
kiosk) refuses a keystore with the signing key, the application master key or the PICC master
key, and one with another role's card keys: a stolen terminal gives away no more than its role's.

``DIR/store.sqlite`` is the local store (:mod:`~ekarta.terminal.store`).  The token is never
logged, printed or shown by ``repr``.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ekarta.files import atomic_write
from ekarta.sync.messages import DeviceView
from ekarta.sync.roles import DeviceRole
from ekarta.terminal.errors import TerminalConfigError
from ekarta.terminal.store import TerminalStore
from ekarta.transit.codec.layout import KeyRole
from ekarta.transit.security.keystore import TERMINAL_KEYS, FileKeyStore

__all__ = [
    "CONFIG_FILE",
    "FORMAT",
    "KEYS_FILE",
    "STORE_FILE",
    "TerminalConfig",
    "check_keystore",
    "check_office_url",
    "check_token",
    "envelope_keys",
    "init_terminal",
    "load_config",
]

log = logging.getLogger(__name__)

FORMAT = "ekarta-terminal/1"
CONFIG_FILE = "terminal.json"
KEYS_FILE = "keys.json"
STORE_FILE = "store.sqlite"
CONFIG_MAX = 64 * 1024
TOKEN_MAX = 512


@dataclass(frozen=True)
class TerminalConfig:
    """A terminal directory's configuration."""

    directory: str
    office: str
    """The office's base URL (the API is under ``/v1``)."""
    role: DeviceRole
    device: str
    """The device's name at the office."""
    token: str = field(repr=False)
    keystore: str = KEYS_FILE
    store: str = STORE_FILE

    @property
    def keystore_path(self) -> str:
        return os.path.join(self.directory, self.keystore)

    @property
    def store_path(self) -> str:
        return os.path.join(self.directory, self.store)

    def open_store(self) -> TerminalStore:
        return TerminalStore.open(self.store_path)

    def load_keystore(self) -> FileKeyStore:
        return FileKeyStore.load(self.keystore_path)

    def to_document(self) -> dict[str, str]:
        return {"format": FORMAT, "office": self.office, "role": self.role.value,
                "device": self.device, "token": self.token, "keystore": self.keystore,
                "store": self.store}


def check_office_url(url: str) -> str:
    """``url`` if it is an http(s) URL with a host (without a trailing slash)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TerminalConfigError(f"the office's address must be an http:// or https:// URL, "
                                  f"not {url!r}")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise TerminalConfigError("the office's address holds no credentials, query or fragment "
                                  "(the token is given with --token)")
    return url.strip().rstrip("/")


def check_token(token: str) -> str:
    """``token`` if it can be one (printable ASCII without spaces); the error never shows it."""
    token = token.strip()
    if not token or len(token) > TOKEN_MAX or not token.isascii() or not token.isprintable() \
            or any(c.isspace() for c in token):
        raise TerminalConfigError("the token must be 1..512 printable ASCII characters without "
                                  "spaces, as 'ekarta office device add' printed it")
    return token


def envelope_keys(keystore: FileKeyStore) -> tuple[Ed25519PublicKey, ...]:
    """The operator's Ed25519 public keys in ``keystore``: the keys sync envelopes are
    signed with."""
    keys = []
    for pem in keystore.verifier().to_pem():
        key = serialization.load_pem_public_key(pem)
        if isinstance(key, Ed25519PublicKey):
            keys.append(key)
    return tuple(keys)


def check_keystore(keystore: FileKeyStore, role: DeviceRole) -> None:
    """Refuse a keystore that lacks a key ``role`` needs or, for a field terminal, holds one
    it must not (see the module docstring)."""
    where = f"keystore {keystore.path}" if keystore.path else "the keystore"
    needed = TERMINAL_KEYS[role.value]
    missing = sorted(r.label for r in needed - keystore.roles)
    if missing:
        raise TerminalConfigError(f"{where} lacks the {', '.join(missing)} key "
                                  f"{'an' if role.value[0] in 'aeiou' else 'a'} {role} needs")
    if not envelope_keys(keystore):
        raise TerminalConfigError(f"{where} holds no Ed25519 public key of the operator to check "
                                  "the office's lists with")
    if role is DeviceRole.OFFICE:
        return
    ids = keystore.key_ids()
    extra = sorted(r.label for r in keystore.roles - needed)
    refused = [what for what, held in (
        ("the coupon-signing key", ids["signing_key"] is not None),
        ("the PICC master key", ids["picc_master"] is not None),
        (f"the {', '.join(extra)} key" + ("s" if len(extra) > 1 else ""), bool(extra)),
    ) if held]
    if refused:
        hint = " (the application master is never one)" if KeyRole.MASTER.label in extra else ""
        raise TerminalConfigError(
            f"{where} holds {' and '.join(refused)}, which a {role} must not hold{hint}: give it "
            f"the output of 'ekarta keys export KEYSTORE --role {role} -o FILE'")


def _check_directory(directory: str, force: bool) -> None:
    if os.path.lexists(directory) and not os.path.isdir(directory):
        raise TerminalConfigError(f"{directory} exists and is not a directory")
    if os.path.isdir(directory) and os.listdir(directory) and not force:
        raise TerminalConfigError(f"{directory} exists and is not empty; use --force to make it "
                                  "a terminal directory again (its journal outbox is kept)")


def init_terminal(directory: str, *, office: str, token: str, role: DeviceRole,
                  keystore: FileKeyStore, device: DeviceView, force: bool = False
                  ) -> TerminalConfig:
    """Make ``directory`` a terminal directory of the device ``device`` (as the office
    describes the token's device: its role must be ``role``) with a copy of ``keystore``.

    An existing non-empty directory is refused unless ``force``; then its store keeps its
    journal outbox and starts every feed again from a full snapshot."""
    office = check_office_url(office)
    token = check_token(token)
    if device.role is not role:
        raise TerminalConfigError(f"the office knows this token as {device.name!r}, a "
                                  f"{device.role}, not a {role}")
    check_keystore(keystore, role)
    _check_directory(directory, force)
    if keystore.path is None:
        raise TerminalConfigError("the keystore must be a file to copy")
    config = TerminalConfig(directory=directory, office=office, role=role, device=device.name,
                            token=token)
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        if not os.path.exists(config.keystore_path) or \
                not os.path.samefile(keystore.path, config.keystore_path):
            with open(keystore.path, "rb") as source:
                atomic_write(config.keystore_path, source.read(), mode=0o600)
        existed = os.path.exists(config.store_path)
        with TerminalStore.open(config.store_path, create=True) as store:
            if existed:
                store.reset_feeds()
        os.chmod(config.store_path, 0o600)
        # written last: a directory with terminal.json is a complete terminal
        atomic_write(os.path.join(directory, CONFIG_FILE),
                     (json.dumps(config.to_document(), indent=2) + "\n").encode("utf-8"),
                     mode=0o600)
    except OSError as exc:
        raise TerminalConfigError(f"cannot make the terminal directory {directory}: "
                                  f"{exc.strerror or exc}") from None
    log.info("terminal directory %s: %s %s of %s", directory, role, device.name, office)
    return config


def load_config(directory: str) -> TerminalConfig:
    """The configuration of the terminal directory ``directory``."""
    path = os.path.join(directory, CONFIG_FILE)
    try:
        with open(path, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            data = f.read(CONFIG_MAX + 1)
    except FileNotFoundError:
        raise TerminalConfigError(f"{directory} is not a terminal directory (no {CONFIG_FILE}): "
                                  "make one with 'ekarta terminal init'") from None
    except OSError as exc:
        raise TerminalConfigError(f"cannot read {path}: {exc.strerror}") from None
    if stat.S_IMODE(mode) & 0o077:
        log.warning("%s holds the device's token and is accessible to other users (mode %03o): "
                    "chmod 600 %s", path, stat.S_IMODE(mode), path)
    try:
        document = json.loads(data)
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise ValueError("format")
        config = TerminalConfig(
            directory=directory, office=check_office_url(document["office"]),
            role=DeviceRole(document["role"]), device=str(document["device"]),
            token=check_token(document["token"]),
            keystore=_inside(document.get("keystore", KEYS_FILE)),
            store=_inside(document.get("store", STORE_FILE)))
    except (ValueError, KeyError, TypeError, AttributeError, TerminalConfigError):
        # the message of a parser may quote the file, and the file holds the token
        raise TerminalConfigError(f"{path} is not a terminal configuration "
                                  f"(format {FORMAT!r})") from None
    return config


def _inside(name: object) -> str:
    """A file name of the terminal directory (no path leading out of it)."""
    if not isinstance(name, str) or not name or os.path.basename(name) != name \
            or name in (".", ".."):
        raise ValueError("file name")
    return name
