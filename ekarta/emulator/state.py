"""The emulated card's persistent memory, and its JSON file format.

Everything a DESFire card keeps across power cycles, as plain dataclasses:

* :class:`CardState` — UID, PICC master key and key settings, configuration flags, the default
  key of new applications, ATS, production data, memory size, and the applications;
* :class:`Application` — AID, key settings, key family, keys (with their versions), optional ISO
  FID and DF name, and its files;
* :class:`DataFile` (standard and backup), :class:`ValueFile` and :class:`RecordFile` (linear and
  cyclic) — settings and *committed* contents.  Staged (uncommitted) changes are volatile and
  live in the card's :class:`~ekarta.emulator.card.context.Volatile` state.

Memory accounting (what FreeMemory reports): the card has ``total_memory`` bytes (8192), of which
``reserved_memory`` (256) are the card's own, so a fresh card has 7936 bytes free.  Memory is
allocated in 32-byte blocks: an application takes :data:`APPLICATION_COST` (64 bytes, two blocks:
its directory entry and key set, whatever its key count), a standard data file its size rounded
up to blocks, a backup data file twice that, a value file :data:`VALUE_FILE_COST` (one block), a
record file ``record_size * max_records`` rounded up to blocks.

File format (``save``/``load``): one JSON object with ``"format": 1``; keys are stored in hex
(the file *is* the card's memory, so it is written with mode 0600).  Binary values are hex
strings, AIDs six hex digits, ISO FIDs four, access rights four hex nibbles
(read, write, read&write, change: ``"EEEE"`` is free access).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import re
import stat
import time
from dataclasses import dataclass, field
from typing import Any

from ekarta.desfire.commands import (
    I32_MAX,
    I32_MIN,
    MAX_APPLICATIONS,
    MAX_CARD_MEMORY,
    MAX_DF_NAME,
    MAX_FILES,
    MAX_KEYS,
    U8_MAX,
    U24_MAX,
    AppCrypto,
    FileType,
)
from ekarta.desfire.crypto import Key, KeyType, Rng
from ekarta.desfire.session import Comm
from ekarta.desfire.structs import (
    AccessRights,
    FileSettings,
    KeySettings,
    KeySettingsInfo,
)
from ekarta.errors import EmulatorError, InvalidArgument
from ekarta.files import atomic_write, holds_lock

__all__ = [
    "APPLICATION_COST",
    "BLOCK_SIZE",
    "DEFAULT_ATS",
    "FORMAT_VERSION",
    "RESERVED_MEMORY",
    "TOTAL_MEMORY",
    "VALUE_FILE_COST",
    "Application",
    "CardState",
    "DataFile",
    "File",
    "RecordFile",
    "ValueFile",
    "blocks",
    "default_key_for",
    "key_type_of",
    "load_state",
    "save_state",
]

FORMAT_VERSION = 1
TOTAL_MEMORY = 8192
RESERVED_MEMORY = 256
BLOCK_SIZE = 32
APPLICATION_COST = 2 * BLOCK_SIZE
VALUE_FILE_COST = BLOCK_SIZE

#: ATS of a DESFire EV2: TL, T0 (FSCI 5, TA/TB/TC follow), TA, TB, TC, historical byte 0x80.
DEFAULT_ATS = bytes.fromhex("0675778102" "80")
NXP = 0x04


def blocks(size: int) -> int:
    """``size`` bytes rounded up to whole 32-byte blocks."""
    return -(-size // BLOCK_SIZE) * BLOCK_SIZE


def key_type_of(crypto: AppCrypto) -> KeyType:
    """The key type ChangeKey announces for an application family (DES stands for DES/2K3DES)."""
    return {AppCrypto.DES_3DES: KeyType.DES, AppCrypto.TDES3: KeyType.TDES3,
            AppCrypto.AES: KeyType.AES}[AppCrypto(crypto)]


def crypto_of(key_type: KeyType) -> AppCrypto:
    return AppCrypto(key_type.app_crypto_bits)


def default_key_for(crypto: AppCrypto, material: bytes, version: int) -> Key:
    """A new application's key: the card's default key (24 bytes) cut to the family's size.

    DES-family applications take 16 bytes: single DES when both halves are equal, else 2K3DES.
    """
    crypto = AppCrypto(crypto)
    if crypto is AppCrypto.AES:
        return Key.aes(material[:16], version)
    if crypto is AppCrypto.TDES3:
        return Key.tdes3(material[:24]).with_version(version)
    if material[:8] == material[8:16]:
        return Key.des(material[:8]).with_version(version)
    return Key.tdes2(material[:16]).with_version(version)


# --- files ----------------------------------------------------------------------------------------


@dataclass
class DataFile:
    """A standard or backup data file and its committed bytes."""

    file_no: int
    comm: Comm
    access: AccessRights
    size: int
    backup: bool = False
    iso_fid: int | None = None
    data: bytearray = field(default_factory=bytearray)

    def __post_init__(self) -> None:
        if not self.data:
            self.data = bytearray(self.size)
        self.data = bytearray(self.data)

    @property
    def file_type(self) -> FileType:
        return FileType.BACKUP_DATA if self.backup else FileType.STD_DATA

    @property
    def memory(self) -> int:
        return self.cost(self.size, self.backup)

    @staticmethod
    def cost(size: int, backup: bool) -> int:
        """The memory a data file of ``size`` bytes takes (a backup file keeps two copies)."""
        return blocks(size) * (2 if backup else 1)

    def settings(self) -> FileSettings:
        return FileSettings(file_type=self.file_type, comm=self.comm, access=self.access,
                            size=self.size)


@dataclass
class ValueFile:
    """A value file: limits, committed value and the LimitedCredit state."""

    file_no: int
    comm: Comm
    access: AccessRights
    lower_limit: int
    upper_limit: int
    value: int
    limited_credit_enabled: bool = False
    free_get_value: bool = False
    limited_credit_value: int = 0
    iso_fid: int | None = field(default=None, init=False)

    @property
    def file_type(self) -> FileType:
        return FileType.VALUE

    @property
    def memory(self) -> int:
        return VALUE_FILE_COST

    def settings(self) -> FileSettings:
        return FileSettings(file_type=FileType.VALUE, comm=self.comm, access=self.access,
                            lower_limit=self.lower_limit, upper_limit=self.upper_limit,
                            limited_credit_value=self.limited_credit_value,
                            limited_credit_enabled=self.limited_credit_enabled,
                            free_get_value=self.free_get_value)


@dataclass
class RecordFile:
    """A linear or cyclic record file and its committed records, oldest first."""

    file_no: int
    comm: Comm
    access: AccessRights
    record_size: int
    max_records: int
    cyclic: bool = False
    iso_fid: int | None = None
    records: list[bytes] = field(default_factory=list)

    @property
    def file_type(self) -> FileType:
        return FileType.CYCLIC_RECORD if self.cyclic else FileType.LINEAR_RECORD

    @property
    def memory(self) -> int:
        return self.cost(self.record_size, self.max_records)

    @staticmethod
    def cost(record_size: int, max_records: int) -> int:
        """The memory a record file takes."""
        return blocks(record_size * max_records)

    @property
    def capacity(self) -> int:
        """How many records the file keeps: a cyclic file keeps one fewer than its size."""
        return self.max_records - 1 if self.cyclic else self.max_records

    def settings(self) -> FileSettings:
        return FileSettings(file_type=self.file_type, comm=self.comm, access=self.access,
                            record_size=self.record_size, max_records=self.max_records,
                            current_records=len(self.records))


File = DataFile | ValueFile | RecordFile


# --- applications and the card --------------------------------------------------------------------


@dataclass
class Application:
    """One application: its keys and its files (by file number)."""

    aid: int
    settings: KeySettings
    crypto: AppCrypto
    keys: list[Key]
    iso_fid: int | None = None
    df_name: bytes | None = None
    files: dict[int, File] = field(default_factory=dict)

    @property
    def iso_file_ids(self) -> bool:
        """Created with ISO support (an ISO FID, optionally a DF name; files may have FIDs)."""
        return self.iso_fid is not None

    @property
    def memory(self) -> int:
        return APPLICATION_COST + sum(f.memory for f in self.files.values())

    def key_settings_info(self) -> KeySettingsInfo:
        return KeySettingsInfo(settings=self.settings, key_count=len(self.keys),
                               crypto=self.crypto, iso_file_ids=self.iso_file_ids)


@dataclass
class CardState:
    """Everything the card keeps without power.  ``applications`` is keyed by AID."""

    uid: bytes
    picc_key: Key = field(default_factory=lambda: Key.default(KeyType.DES))
    picc_settings: KeySettings = field(default_factory=lambda: KeySettings.from_byte(0x0F))
    #: SetConfiguration option 0x00: bit 0 FormatPICC disabled, bit 1 random UID
    configuration: int = 0
    default_key: bytes = bytes(24)
    default_key_version: int = 0
    ats: bytes = DEFAULT_ATS
    batch: bytes = bytes(5)
    production_week: int = 1
    production_year: int = 24
    total_memory: int = TOTAL_MEMORY
    reserved_memory: int = RESERVED_MEMORY
    applications: dict[int, Application] = field(default_factory=dict)

    FORMAT_DISABLED = 0x01
    RANDOM_UID = 0x02

    @classmethod
    def new(cls, uid: bytes | None = None, rng: Rng | None = None) -> CardState:
        """A factory-fresh card: DES PICC master key 00*8, key settings 0x0F, no applications."""
        rng = rng or os.urandom
        if uid is None:
            uid = bytes([NXP]) + bytes(rng(6))
        uid = bytes(uid)
        if len(uid) != 7 or uid[0] != NXP:
            raise InvalidArgument(
                f"the UID of an emulated card is 7 bytes starting with 04 (NXP), got {uid.hex()}")
        year, week, _ = datetime.date.today().isocalendar()
        return cls(uid=uid, batch=bytes(rng(5)), production_week=week,
                   production_year=year % 100)

    # --- derived values ---------------------------------------------------------------------------

    @property
    def format_disabled(self) -> bool:
        return bool(self.configuration & self.FORMAT_DISABLED)

    @property
    def random_uid(self) -> bool:
        return bool(self.configuration & self.RANDOM_UID)

    @property
    def used_memory(self) -> int:
        return sum(app.memory for app in self.applications.values())

    @property
    def free_memory(self) -> int:
        return max(0, self.total_memory - self.reserved_memory - self.used_memory)

    # --- JSON -------------------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT_VERSION,
            "kind": "ekarta emulated DESFire card",
            "uid": self.uid.hex().upper(),
            "batch": self.batch.hex().upper(),
            "production": {"week": self.production_week, "year": self.production_year},
            "memory": {"total": self.total_memory, "reserved": self.reserved_memory},
            "picc": {
                "key": _key_to_json(self.picc_key),
                "key_settings": self.picc_settings.to_byte(),
                "configuration": self.configuration,
                "default_key": self.default_key.hex().upper(),
                "default_key_version": self.default_key_version,
                "ats": self.ats.hex().upper(),
            },
            "applications": [_app_to_json(app) for app in self.applications.values()],
        }

    @classmethod
    def from_dict(cls, data: object, source: str = "card state") -> CardState:
        """Rebuild a state from :meth:`to_dict`'s output; anything wrong → EmulatorError."""
        if not isinstance(data, dict):
            raise EmulatorError(f"{source}: not an ekarta card file (expected a JSON object)")
        version = data.get("format")
        if isinstance(version, bool) or version != FORMAT_VERSION:
            raise EmulatorError(
                f"{source}: unknown card file format {version!r}; this ekarta reads format "
                f"{FORMAT_VERSION}")
        try:
            return _state_from_json(_Obj(data, ""))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise EmulatorError(f"{source}: not a valid ekarta card file: {exc}") from None

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = True) -> None:
        """Write the state to ``path`` atomically (temporary file + rename), mode 0600."""
        save_state(self, path, overwrite=overwrite)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CardState:
        """Read a state written by :meth:`save`."""
        return load_state(path)


def save_state(state: CardState, path: str | os.PathLike[str], *,
               overwrite: bool = True) -> None:
    """Write ``state`` to ``path`` atomically (:func:`ekarta.files.atomic_write`), mode 0600.

    With ``overwrite`` false an existing ``path`` is left alone: :class:`FileExistsError`.

    A save by a process that holds the card file's lock (:class:`ekarta.files.FileLock`) also
    removes the temporary files an interrupted save left beside it, which hold the card's keys.
    """
    path = os.fspath(path)
    data = (json.dumps(state.to_dict(), indent=1) + "\n").encode("utf-8")
    if holds_lock(path):
        _remove_legacy_temporaries(path)
    try:
        atomic_write(path, data, mode=0o600, overwrite=overwrite)
    except FileExistsError:
        raise
    except OSError as exc:
        raise EmulatorError(f"cannot save the emulated card to {path}: "
                            f"{exc.strerror or exc}") from exc


# Earlier versions saved through ``tempfile.mkstemp(prefix=".ekarta-card-", suffix=".tmp")``, a
# name that does not say which card it belongs to: one old enough cannot be a save in progress.
_LEGACY_TEMPORARY = re.compile(r"\.ekarta-card-[a-z0-9_]{8}\.tmp\Z")
_LEGACY_AGE = 60.0


def _remove_legacy_temporaries(path: str) -> None:
    directory = os.path.dirname(os.path.realpath(path))
    with contextlib.suppress(OSError):
        for entry in os.listdir(directory):
            if not _LEGACY_TEMPORARY.match(entry):
                continue
            stale = os.path.join(directory, entry)
            with contextlib.suppress(OSError):
                st = os.lstat(stale)
                if stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid() \
                        and time.time() - st.st_mtime > _LEGACY_AGE:
                    os.unlink(stale)


def load_state(path: str | os.PathLike[str]) -> CardState:
    """Read a card file; a missing, unreadable, malformed or unknown-version one: EmulatorError."""
    path = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as src:
            text = src.read()
    except OSError as exc:
        raise EmulatorError(f"cannot read the emulated card {path}: {exc.strerror or exc}") \
            from None
    except UnicodeDecodeError:
        raise EmulatorError(f"{path}: not an ekarta card file (not UTF-8 text)") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise EmulatorError(f"{path}: not an ekarta card file (invalid JSON: {exc})") from None
    return CardState.from_dict(data, path)


# --- JSON helpers ---------------------------------------------------------------------------------


def _key_to_json(key: Key) -> dict[str, Any]:
    return {"type": key.type.value, "key": key.data.hex().upper(), "version": key.version}


def _access_to_json(access: AccessRights) -> str:
    return f"{access.read:X}{access.write:X}{access.read_write:X}{access.change:X}"


def _fid_to_json(fid: int | None) -> str | None:
    return None if fid is None else f"{fid:04X}"


def _file_to_json(f: File) -> dict[str, Any]:
    out: dict[str, Any] = {"file_no": f.file_no}
    if isinstance(f, DataFile):
        out["type"] = "backup" if f.backup else "std"
    elif isinstance(f, ValueFile):
        out["type"] = "value"
    else:
        out["type"] = "cyclic" if f.cyclic else "linear"
    out.update(comm=f.comm.value, access=_access_to_json(f.access), iso_fid=_fid_to_json(f.iso_fid))
    if isinstance(f, DataFile):
        out.update(size=f.size, data=bytes(f.data).hex().upper())
    elif isinstance(f, ValueFile):
        out.update(lower_limit=f.lower_limit, upper_limit=f.upper_limit, value=f.value,
                   limited_credit_enabled=f.limited_credit_enabled,
                   free_get_value=f.free_get_value, limited_credit_value=f.limited_credit_value)
    else:
        out.update(record_size=f.record_size, max_records=f.max_records,
                   records=[r.hex().upper() for r in f.records])
    return out


def _app_to_json(app: Application) -> dict[str, Any]:
    return {
        "aid": f"{app.aid:06X}",
        "key_settings": app.settings.to_byte(),
        "crypto": {AppCrypto.DES_3DES: "des", AppCrypto.TDES3: "3k3des",
                   AppCrypto.AES: "aes"}[app.crypto],
        "keys": [_key_to_json(k) for k in app.keys],
        "iso_fid": _fid_to_json(app.iso_fid),
        "df_name": None if app.df_name is None else app.df_name.hex().upper(),
        "files": [_file_to_json(f) for f in app.files.values()],
    }


class _Obj:
    """A JSON object read with typed accessors; errors name the field's location."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise ValueError(f"{where or 'the top level'} must be a JSON object")
        self.data = data
        self.where = where

    def _loc(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def get(self, name: str) -> Any:
        if name not in self.data:
            raise ValueError(f"{self._loc(name)} is missing")
        return self.data[name]

    def obj(self, name: str) -> _Obj:
        return _Obj(self.get(name), self._loc(name))

    def items(self, name: str) -> list[Any]:
        value = self.get(name)
        if not isinstance(value, list):
            raise ValueError(f"{self._loc(name)} must be a list")
        return value

    def integer(self, name: str, low: int, high: int) -> int:
        value = self.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"{self._loc(name)} must be an integer in {low}..{high}, "
                             f"got {value!r}")
        return value

    def flag(self, name: str) -> bool:
        value = self.get(name)
        if not isinstance(value, bool):
            raise ValueError(f"{self._loc(name)} must be true or false, got {value!r}")
        return value

    def text(self, name: str, choices: tuple[str, ...] | None = None) -> str:
        value = self.get(name)
        if not isinstance(value, str) or (choices is not None and value not in choices):
            expected = f"one of {', '.join(choices)}" if choices else "a string"
            raise ValueError(f"{self._loc(name)} must be {expected}, got {value!r}")
        return value

    def hex(self, name: str, low: int = 0, high: int = U24_MAX, *,
            optional: bool = False) -> bytes | None:
        value = self.get(name)
        if value is None and optional:
            return None
        try:
            if not isinstance(value, str):
                raise ValueError
            raw = bytes.fromhex(value)
        except ValueError:
            raise ValueError(f"{self._loc(name)} must be a hex string, got {value!r}") from None
        if not low <= len(raw) <= high:
            raise ValueError(f"{self._loc(name)} must be {low}..{high} bytes, got {len(raw)}")
        return raw

    def hex_int(self, name: str, digits: int, *, optional: bool = False) -> int | None:
        raw = self.hex(name, digits // 2, digits // 2, optional=optional)
        return None if raw is None else int.from_bytes(raw, "big")

    def key(self, name: str) -> Key:
        o = self.obj(name)
        kt = KeyType.parse(o.text("type", tuple(t.value for t in KeyType)))
        raw = o.hex("key", kt.key_size, kt.key_size)
        assert raw is not None
        return Key(kt, raw).with_version(o.integer("version", 0, U8_MAX))


def _file_from_json(o: _Obj) -> File:
    kind = o.text("type", ("std", "backup", "value", "linear", "cyclic"))
    file_no = o.integer("file_no", 0, MAX_FILES - 1)
    comm = Comm.parse(o.text("comm", ("plain", "mac", "full")))
    access_raw = o.hex_int("access", 4)
    assert access_raw is not None
    access = AccessRights.from_int(access_raw)
    iso_fid = o.hex_int("iso_fid", 4, optional=True)
    f: File
    if kind in ("std", "backup"):
        size = o.integer("size", 1, MAX_CARD_MEMORY)
        data = o.hex("data", size, size)
        assert data is not None
        f = DataFile(file_no, comm, access, size, kind == "backup", iso_fid, bytearray(data))
    elif kind == "value":
        lower = o.integer("lower_limit", I32_MIN, I32_MAX)
        upper = o.integer("upper_limit", lower, I32_MAX)
        f = ValueFile(file_no, comm, access, lower, upper, o.integer("value", lower, upper),
                      o.flag("limited_credit_enabled"), o.flag("free_get_value"),
                      o.integer("limited_credit_value", 0, I32_MAX))
        if iso_fid is not None:
            raise ValueError(f"{o.where}: value files have no ISO file identifier")
    else:
        cyclic = kind == "cyclic"
        record_size = o.integer("record_size", 1, U24_MAX)
        max_records = o.integer("max_records", 2 if cyclic else 1, U24_MAX)
        if RecordFile.cost(record_size, max_records) > MAX_CARD_MEMORY:
            raise ValueError(f"{o.where}: {max_records} records of {record_size} bytes take more "
                             f"memory than a card has")
        f = RecordFile(file_no, comm, access, record_size, max_records, cyclic, iso_fid)
        records = o.items("records")
        if len(records) > f.capacity:
            raise ValueError(f"{o.where}.records: {len(records)} records, the file keeps at "
                             f"most {f.capacity}")
        holder = _Obj({"r": None}, o.where)
        for i, text in enumerate(records):
            holder.data["r"] = text
            holder.where = f"{o.where}.records[{i}]"
            raw = holder.hex("r", record_size, record_size)
            assert raw is not None
            f.records.append(raw)
    return f


def _app_from_json(o: _Obj) -> Application:
    aid = o.hex_int("aid", 6)
    assert aid is not None
    if aid == 0:
        raise ValueError(f"{o.where}.aid: 000000 is the PICC level, not an application")
    crypto = {"des": AppCrypto.DES_3DES, "3k3des": AppCrypto.TDES3,
              "aes": AppCrypto.AES}[o.text("crypto", ("des", "3k3des", "aes"))]
    keys_json = o.items("keys")
    if not 1 <= len(keys_json) <= MAX_KEYS:
        raise ValueError(f"{o.where}.keys: an application has 1..{MAX_KEYS} keys")
    keys = []
    for i, item in enumerate(keys_json):
        key = _Obj({"k": item}, f"{o.where}.keys[{i}]").key("k")
        if crypto_of(key.type) is not crypto:
            raise ValueError(f"{o.where}.keys[{i}]: a {key.type.value} key in a "
                             f"{crypto.name} application")
        keys.append(key)
    iso_fid = o.hex_int("iso_fid", 4, optional=True)
    df_name = o.hex("df_name", 1, MAX_DF_NAME, optional=True)
    if df_name is not None and iso_fid is None:
        raise ValueError(f"{o.where}: a DF name needs an ISO file identifier")
    settings = KeySettings.from_byte(o.integer("key_settings", 0, U8_MAX))
    app = Application(aid, settings, crypto, keys, iso_fid, df_name)
    for i, item in enumerate(o.items("files")):
        f = _file_from_json(_Obj(item, f"{o.where}.files[{i}]"))
        if f.file_no in app.files:
            raise ValueError(f"{o.where}.files[{i}]: file {f.file_no} appears twice")
        app.files[f.file_no] = f
    return app


def _ats(picc: _Obj) -> bytes:
    """The ATS as SetConfiguration accepts it: 2..20 bytes, starting with its own length."""
    ats = picc.hex("ats", 2, 20)
    assert ats is not None
    if ats[0] != len(ats):
        raise ValueError(f"{picc.where}.ats must start with its own length, {len(ats):02X}")
    return ats


def _state_from_json(o: _Obj) -> CardState:
    uid = o.hex("uid", 7, 7)
    assert uid is not None
    production = o.obj("production")
    memory = o.obj("memory")
    picc = o.obj("picc")
    state = CardState(
        uid=uid,
        picc_key=picc.key("key"),
        picc_settings=KeySettings.from_byte(picc.integer("key_settings", 0, U8_MAX)),
        configuration=picc.integer("configuration", 0, 0x03),
        default_key=picc.hex("default_key", 24, 24) or bytes(24),
        default_key_version=picc.integer("default_key_version", 0, U8_MAX),
        ats=_ats(picc),
        batch=o.hex("batch", 5, 5) or bytes(5),
        production_week=production.integer("week", 0, 99),
        production_year=production.integer("year", 0, 99),
        total_memory=memory.integer("total", 0, MAX_CARD_MEMORY),
        reserved_memory=memory.integer("reserved", 0, MAX_CARD_MEMORY),
    )
    if state.reserved_memory > state.total_memory:
        raise ValueError("memory.reserved is more than memory.total")
    apps = o.items("applications")
    if len(apps) > MAX_APPLICATIONS:
        raise ValueError(f"applications: at most {MAX_APPLICATIONS}, got {len(apps)}")
    for i, item in enumerate(apps):
        app = _app_from_json(_Obj(item, f"applications[{i}]"))
        if app.aid in state.applications:
            raise ValueError(f"applications[{i}]: AID {app.aid:06X} appears twice")
        state.applications[app.aid] = app
    if state.used_memory > state.total_memory - state.reserved_memory:
        raise ValueError("the applications take more memory than the card has")
    return state
