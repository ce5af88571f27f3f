"""What a card tells about itself: :func:`explore` walks it and returns a :class:`CardReport`.

The walk reads and never writes: GetVersion, GetCardUID (with a PICC key), FreeMemory, the key
settings and key versions of the PICC and of every application, the applications' DF names and
ISO file identifiers, and the settings of every file.  At each level it authenticates with the key
the :class:`~ekarta.desfire.keyring.KeyRing` holds for it, if any.  A part it cannot read is not
an error of the walk: the report keeps a :class:`Refusal` in its place ("locked: listing needs key
0") and the walk goes on.  After an error status the card forgets the authentication
(docs/desfire-protocol.md), so the walk authenticates again before the next step.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

from ekarta.desfire.client import DESFire
from ekarta.desfire.commands import PICC_AID
from ekarta.desfire.keyring import KeyRing, KeySpec
from ekarta.desfire.structs import DFNameEntry, FileSettings, KeySettingsInfo, VersionInfo
from ekarta.errors import (
    AccessError,
    AuthenticationError,
    DESFireStatusError,
    IllegalCommand,
    NotAuthenticated,
    ProtocolError,
)

__all__ = [
    "ApplicationReport",
    "CardReport",
    "FileReport",
    "PiccReport",
    "Refusal",
    "RefusalKind",
    "explore",
]

log = logging.getLogger(__name__)

T = TypeVar("T")

# Failures of one step that leave the rest of the walk worth trying.
_STEP_ERRORS = (DESFireStatusError, ProtocolError, NotAuthenticated)


class RefusalKind(enum.Enum):
    """Why a part was not read."""

    #: it needs a key the walk is not authenticated with
    LOCKED = "locked"
    #: no key may read it
    DENIED = "denied"
    #: anything else the card or the link answered
    ERROR = "error"


@dataclass(frozen=True)
class Refusal:
    """A part of the card the walk could not read, and why.

    ``action`` ("listing", "reading") needs ``needs`` ("key 0", "the PICC master key");
    ``key_no`` is the key the walk had for that level (None: no key was given) and
    ``authenticated`` whether authenticating with it succeeded; ``detail`` is the answer.
    ``str()`` gives the note ``card info`` prints, e.g. ``locked: listing needs key 0``.
    """

    kind: RefusalKind
    action: str
    needs: str
    detail: str
    key_no: int | None = None
    authenticated: bool = False

    def __str__(self) -> str:
        if self.kind is RefusalKind.DENIED:
            return f"denied: {self.detail}"
        if self.kind is RefusalKind.ERROR:
            return f"error: {self.detail}"
        note = f"locked: {self.action} needs {self.needs}"
        if self.key_no is None:
            return note
        if not self.authenticated:
            return f"{note} (authentication failed)"
        return f"{note} (authenticated with key {self.key_no})"


@dataclass(frozen=True)
class FileReport:
    """One file: its settings, or why GetFileSettings failed."""

    file_no: int
    settings: FileSettings | None = None
    error: str | None = None


@dataclass(frozen=True)
class PiccReport:
    """The PICC level: its key settings and key versions, or why they are not known.

    ``auth_error`` says why authenticating with the key given for the PICC failed."""

    key_settings: KeySettingsInfo | None = None
    key_settings_locked: Refusal | None = None
    key_versions: tuple[int | None, ...] | None = None
    auth_error: str | None = None


@dataclass(frozen=True)
class ApplicationReport:
    """One application: DF name, keys and files, each part or the :class:`Refusal` in its place.

    ``files`` is None when the file list is locked (``files_locked`` says why); a version of
    ``key_versions`` is None when GetKeyVersion failed; ``errors`` lists failures that ended the
    walk of this application early (a failed SelectApplication)."""

    aid: int
    iso_fid: int | None = None
    df_name: bytes | None = None
    key_settings: KeySettingsInfo | None = None
    key_settings_locked: Refusal | None = None
    key_versions: tuple[int | None, ...] | None = None
    iso_file_ids: tuple[int, ...] | None = None
    files: tuple[FileReport, ...] | None = None
    files_locked: Refusal | None = None
    auth_error: str | None = None
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class CardReport:
    """Everything :func:`explore` learned: the GetVersion answer, the real UID (None without a
    PICC key), the free memory (None if the card does not say), the PICC level and the
    applications (None when the list is locked: ``applications_locked`` says why), and notes
    on what else went wrong."""

    version: VersionInfo
    picc: PiccReport
    real_uid: bytes | None = None
    free_memory: int | None = None
    applications: tuple[ApplicationReport, ...] | None = None
    applications_locked: Refusal | None = None
    notes: tuple[str, ...] = ()


class _Walk:
    """Keeps track of the authentication so that a failed step does not lose it."""

    def __init__(self, card: DESFire, keys: KeyRing) -> None:
        self.card = card
        self.keys = keys
        self.key: KeySpec | None = None  # the key of the current level, if one was given
        self.authenticated = False

    def select(self, aid: int) -> None:
        self.card.select_application(aid)
        self.key = self.keys.master(aid)
        self.authenticated = False

    def login(self) -> str | None:
        """Authenticate with the current level's key; return why it failed, or None."""
        if self.key is None:
            return None
        spec = self.key
        log.info("authenticating with %s", spec.label())
        try:
            self.card.authenticate(spec.key_no, spec.key, spec.method(self.keys.ev2))
        except _STEP_ERRORS as exc:
            self.authenticated = False
            return f"authentication with key {spec.key_no} failed: {exc}"
        self.authenticated = True
        return None

    def attempt(self, what: str, step: Callable[[], T]) -> tuple[T | None, Exception | None]:
        try:
            return step(), None
        except _STEP_ERRORS as exc:
            log.info("%s: %s", what, exc)
            if self.authenticated:
                self.authenticated = False
                self.login()
            return None, exc

    def refusal(self, exc: Exception | None, needs: str, action: str = "listing") -> Refusal:
        if isinstance(exc, AuthenticationError):
            kind = RefusalKind.LOCKED
        elif isinstance(exc, AccessError):
            kind = RefusalKind.DENIED
        else:
            kind = RefusalKind.ERROR
        return Refusal(kind, action, needs, str(exc),
                       None if self.key is None else self.key.key_no, self.authenticated)

    def key_versions(self, count: int) -> tuple[int | None, ...]:
        return tuple(self.attempt(f"GetKeyVersion {key_no}",
                                  partial(self.card.get_key_version, key_no))[0]
                     for key_no in range(count))


def explore(card: DESFire, keys: KeyRing | None = None) -> CardReport:
    """Walk the card with the keys of ``keys`` (none: what the card shows without a key)."""
    walk = _Walk(card, keys if keys is not None else KeyRing())
    version = card.get_version()
    notes: list[str] = []

    walk.select(PICC_AID)
    picc_auth_error = walk.login()
    real_uid: bytes | None = None
    if walk.authenticated:
        real_uid, exc = walk.attempt("GetCardUID", card.get_card_uid)
        if real_uid is None:
            notes.append(f"GetCardUID failed: {exc}")

    free, exc = walk.attempt("FreeMemory", card.free_memory)
    if exc is not None and not isinstance(exc, IllegalCommand):
        notes.append(f"FreeMemory failed: {exc}")

    settings, exc = walk.attempt("GetKeySettings", card.get_key_settings)
    if settings is not None:
        picc = PiccReport(key_settings=settings, key_versions=walk.key_versions(settings.key_count),
                          auth_error=picc_auth_error)
    else:
        picc = PiccReport(key_settings_locked=walk.refusal(exc, "the PICC master key", "reading"),
                          auth_error=picc_auth_error)

    aids, exc = walk.attempt("GetApplicationIDs", card.get_application_ids)
    if aids is None:
        return CardReport(version, picc, real_uid, free,
                          applications_locked=walk.refusal(exc, "the PICC master key"),
                          notes=tuple(notes))

    df_names: dict[int, DFNameEntry] = {}
    if aids:
        entries, _ = walk.attempt("GetDFNames", card.get_df_names)
        for entry in entries or ():
            df_names[entry.aid] = entry
    applications = tuple(_application(walk, aid, df_names.get(aid)) for aid in sorted(aids))

    for aid in sorted(walk.keys.applications() - set(aids) - {PICC_AID}):
        notes.append(f"a key was given for application {aid:06X}, which the card lacks")
    return CardReport(version, picc, real_uid, free, applications, notes=tuple(notes))


def _application(walk: _Walk, aid: int, df_name: DFNameEntry | None) -> ApplicationReport:
    iso_fid = df_name.iso_fid if df_name is not None else None
    name = df_name.df_name if df_name is not None else None
    try:
        walk.select(aid)
    except _STEP_ERRORS as err:
        return ApplicationReport(aid, iso_fid, name, errors=(f"SelectApplication failed: {err}",))
    auth_error = walk.login()
    card = walk.card

    settings, exc = walk.attempt("GetKeySettings", card.get_key_settings)
    key_versions = None
    settings_locked = None
    if settings is not None:
        key_versions = walk.key_versions(settings.key_count)
    else:
        settings_locked = walk.refusal(exc, "key 0", "reading")

    file_ids, exc = walk.attempt("GetFileIDs", card.get_file_ids)
    if file_ids is None:
        return ApplicationReport(aid, iso_fid, name, settings, settings_locked, key_versions,
                                 files_locked=walk.refusal(exc, "key 0"), auth_error=auth_error)

    iso_file_ids = None
    if settings is not None and settings.iso_file_ids:
        iso_ids, _ = walk.attempt("GetISOFileIDs", card.get_iso_file_ids)
        if iso_ids is not None:
            iso_file_ids = tuple(iso_ids)

    files = []
    for file_no in sorted(file_ids):
        fs, exc = walk.attempt(f"GetFileSettings {file_no}",
                               partial(card.get_file_settings, file_no))
        files.append(FileReport(file_no, error=str(exc)) if fs is None
                     else FileReport(file_no, settings=fs))
    return ApplicationReport(aid, iso_fid, name, settings, settings_locked, key_versions,
                             iso_file_ids, tuple(files), auth_error=auth_error)
