"""What the command groups of the ``ekarta`` command line share.

* :func:`add_reader_options` — ``--reader URL`` (and ``--wait``) for every command that talks to
  a card, :func:`open_card` to open that reader and wait for the card;
* :func:`add_key_options` / :func:`load_keys` — ``--key [AID:]KEYNO:TYPE:HEX``, ``--key-file``
  and ``--ev2``, parsed into a :class:`~ekarta.desfire.keyring.KeyRing` that never shows key
  material;
* :class:`CLIError` for failures of the command line itself, and :data:`EXAMPLES_FORMATTER`
  for help texts with examples;
* small output helpers: :func:`hex_bytes`, :func:`aid_text`, :func:`print_fields`,
  :func:`print_table`, :func:`file_row`, :func:`print_json`;
* the files of a run: :func:`input_file` and :func:`output_file` (argument types that mark what
  a command reads and writes), :func:`run_files` (every file of a run, the reader's and the
  keystore of ``$EKARTA_KEYS`` included), :func:`check_outputs` (before anything is changed:
  no output is an input, none exists without ``--force``) and :func:`write_output` (atomic,
  after success); :func:`add_force_option`;
* for the transit commands: :func:`add_keystore_option` / :func:`load_keystore` (``--keys``),
  :func:`add_hotlist_option` / :func:`load_hotlist` (``--hotlist``), :func:`argument` and
  :func:`enum_argument` to use the transit text parsers as argument types, and :func:`now`, the
  command line's clock;
* for the terminals' commands: :func:`add_place_options` and :func:`add_device_option` (where
  the terminal is), :func:`add_terminal_options` and their checks, :func:`engine_options`,
  :func:`start_terminal_app` (the full-screen app), :func:`outcome_json`, :func:`print_outcome`,
  :func:`outcome_exit` and :func:`print_result` (a tap's or check's outcome as JSON, for a
  person, as an exit status), :func:`bounded` and :func:`span` (argument types).

A command group is a module with ``register(subparsers, common)`` that adds its parser(s) and
sets ``func`` (``func(args) -> int``) on them; see :mod:`ekarta.cli`.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import re
import stat
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from ekarta.desfire.commands import MAX_KEYS, PICC_AID
from ekarta.desfire.crypto import Key, KeyType
from ekarta.desfire.keyring import KeyRing, KeySpec
from ekarta.desfire.structs import FileSettings
from ekarta.errors import EkartaError, FileRefused, ReaderTimeout
from ekarta.files import atomic_write, check_writable, find_same, lock_path
from ekarta.readers import Reader, available_schemes, open_reader
from ekarta.readers.spy import parse_spy_url
from ekarta.transit.codec.coupon_file import CouponDocument
from ekarta.transit.codec.hotlist import read_hotlist
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.messages import LANGUAGES
from ekarta.transit.model.notation import (
    enum_name,
    parse_device,
    parse_enum,
    parse_when,
    parse_zone,
)
from ekarta.transit.model.purse import PURSE_KINDS
from ekarta.transit.model.timecodec import PRAGUE, to_local
from ekarta.transit.model.values import DEVICE_MAX, LINE_MAX, VEHICLE_MAX
from ekarta.transit.security.keystore import FileKeyStore

if TYPE_CHECKING:
    from ekarta.terminal.engine import Position
    from ekarta.terminal.outcome import ActionResult, TapOutcome
    from ekarta.transit.model.image import CardImage
    from ekarta.transit.model.rules import Verdict
    from ekarta.transit.model.values import EventRecord, SignedCoupon

log = logging.getLogger(__name__)

READER_ENV = "EKARTA_READER"
DEFAULT_READER = "emulator:"
DEFAULT_WAIT = 10.0

EXAMPLES_FORMATTER = argparse.RawDescriptionHelpFormatter
"""Keeps the line breaks of descriptions (wrap them with :func:`wrap`) and of examples."""

HELP_WIDTH = 79


def wrap(text: str) -> str:
    """Fill each blank-line separated paragraph of ``text`` for a help screen."""
    paragraphs = [" ".join(p.split()) for p in text.split("\n\n")]
    return "\n\n".join(textwrap.fill(p, HELP_WIDTH) for p in paragraphs if p)


class CLIError(EkartaError):
    """A command-line failure that is not the library's: bad key file, refused action..."""


# --- reader ---------------------------------------------------------------------------------------


def default_reader() -> str:
    return os.environ.get(READER_ENV) or DEFAULT_READER


def add_reader_options(parser: argparse.ArgumentParser, *, changes_card: bool = False) -> None:
    """Add ``--reader URL`` and ``--wait SECONDS`` to a command that talks to a card.

    ``changes_card=True`` declares a command that writes to the card: :func:`open_card` then
    refuses the implicit default reader (a fresh emulated card thrown away at exit would make the
    command report a success that is nowhere), so the user names the reader with ``--reader`` or
    ``$EKARTA_READER``."""
    schemes = ", ".join(f"{s}:" for s in available_schemes())
    group = parser.add_argument_group("reader")
    default_text = (
        f"required: this command changes the card (or set ${READER_ENV})" if changes_card else
        f"default ${READER_ENV}, or {DEFAULT_READER} (a fresh emulated card)"
    )
    group.add_argument(
        "-r",
        "--reader",
        metavar="URL",
        type=_reader_url,
        default=None,
        help=(
            f"reader to use, as SCHEME:REST (schemes: {schemes}); {default_text}; "
            "emulator:PATH uses the card stored in PATH"
        ),
    )
    group.add_argument(
        "--wait",
        metavar="SECONDS",
        type=_positive_float,
        default=DEFAULT_WAIT,
        help=f"how long to wait for a card in the field, or for another process to let go "
             f"of the card file of emulator:PATH (default {DEFAULT_WAIT:g})",
    )
    parser.set_defaults(changes_card=changes_card)


def _reader_url(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError(
            f"an empty reader URL names no reader; give SCHEME:REST, e.g. {DEFAULT_READER}PATH")
    if "\0" in text:
        raise argparse.ArgumentTypeError("a reader URL cannot hold a NUL character")
    return text


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text!r}")
    return value


def reader_url(args: argparse.Namespace) -> str:
    """The reader the command uses: ``--reader``, else ``$EKARTA_READER``, else the default; a
    command that changes the card (:func:`add_reader_options`) refuses the default."""
    if args.reader:
        return str(args.reader)
    named = os.environ.get(READER_ENV)
    if named:
        return named
    if getattr(args, "changes_card", False):
        raise CLIError(
            f"this command changes the card: name the reader with --reader URL (or "
            f"${READER_ENV}), e.g. --reader emulator:card.json; without one it would write to a "
            f"fresh emulated card that is gone when the command ends")
    return DEFAULT_READER


@contextmanager
def open_card(args: argparse.Namespace) -> Iterator[Reader]:
    """Open the reader of ``--reader``, wait for a card and yield the reader; close it after."""
    url = reader_url(args)
    log.info("opening reader %s", url)
    with open_reader(url) as reader:
        try:
            info = reader.wait_for_card(timeout=args.wait)
        except ReaderTimeout as exc:
            raise ReaderTimeout(f"no card in the field of {url} within {args.wait:g} s") from exc
        if info is not None and info.uid is not None:
            log.info("card %s in the field", hex_bytes(info.uid))
        yield reader


# --- keys -----------------------------------------------------------------------------------------

KEY_HELP = f"""\
key specs:
  --key [AID:]KEYNO:TYPE:HEX
      AID    application ID, 6 hex digits; omitted or 000000: the PICC level
      KEYNO  key number, 0..{MAX_KEYS - 1}
      TYPE   des, 2k3des, 3k3des or aes
      HEX    the key (colons and spaces allowed)
    AES keys authenticate with AuthenticateAES (AuthenticateEV2First with --ev2),
    the others with AuthenticateISO.
  --key-file FILE
    reads the same specs from FILE, one a line, '#' starting a comment ('-' reads
    standard input), so that keys show neither in the process list nor in the shell
    history.  Keys are never printed or logged."""


def _is_hex(text: str) -> bool:
    return bool(text) and all(c in "0123456789abcdefABCDEF" for c in text)


def parse_key_spec(text: str) -> KeySpec:
    """Parse ``[AID:]KEYNO:TYPE:HEX``.  Error messages never repeat the key material."""
    parts = text.strip().split(":")
    type_at = None
    for i in (1, 2):
        if len(parts) > i + 1:
            try:
                KeyType.parse(parts[i])
            except EkartaError:
                continue
            type_at = i
            break
    if type_at is None:
        raise CLIError("a key must be given as [AID:]KEYNO:TYPE:HEX with TYPE one of "
                       "des, 2k3des, 3k3des, aes")
    if type_at == 2:
        aid_text_ = parts[0]
        if len(aid_text_) != 6 or not _is_hex(aid_text_):
            raise CLIError(f"key spec: application ID must be 6 hex digits, got {aid_text_!r}")
        aid = int(aid_text_, 16)
    else:
        aid = PICC_AID
    key_no_text = parts[type_at - 1]
    if not key_no_text.isdigit() or not 0 <= int(key_no_text) < MAX_KEYS:
        raise CLIError(f"key spec: key number must be 0..{MAX_KEYS - 1}, got {key_no_text!r}")
    key_hex = ":".join(parts[type_at + 1 :])
    try:
        key = Key.from_hex(parts[type_at], key_hex)
    except EkartaError as exc:  # InvalidArgument: wrong length or not hex (no material shown)
        raise CLIError(f"key spec for key {int(key_no_text)}: {exc}") from None
    return KeySpec(aid=aid, key_no=int(key_no_text), key=key)


def add_key_options(parser: argparse.ArgumentParser, *, required_hint: str | None = None) -> None:
    """Add ``--key``, ``--key-file`` and ``--ev2``; :func:`load_keys` reads them."""
    group = parser.add_argument_group("keys", required_hint)
    group.add_argument(
        "-k",
        "--key",
        metavar="SPEC",
        dest="keys",
        action="append",
        type=argument(parse_key_spec),
        default=[],
        help="a key as [AID:]KEYNO:TYPE:HEX (see below); may be repeated",
    )
    group.add_argument(
        "--key-file",
        metavar="FILE",
        dest="key_files",
        action="append",
        type=input_file,
        default=[],
        help="read key specs from FILE, one a line, '#' comments; may be repeated",
    )
    group.add_argument(
        "--ev2",
        action="store_true",
        help="authenticate AES keys with AuthenticateEV2First instead of AuthenticateAES",
    )


def read_key_file(name: str, stream: TextIO | None = None) -> list[KeySpec]:
    """The key specs in the file ``name`` (``-``: standard input)."""
    if stream is None:
        if name == "-":
            return read_key_file("<stdin>", sys.stdin)
        try:
            mode = os.stat(name).st_mode
        except OSError as exc:
            raise CLIError(f"cannot read key file {name}: {exc.strerror}") from None
        if mode & (stat.S_IRGRP | stat.S_IROTH) and stat.S_ISREG(mode):
            log.warning("key file %s is readable by other users (chmod 600 %s)", name, name)
        try:
            with open(name, encoding="utf-8") as f:
                return read_key_file(name, f)
        except OSError as exc:
            raise CLIError(f"cannot read key file {name}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise CLIError(f"key file {name} is not UTF-8 text") from None
    specs = []
    for number, line in enumerate(stream, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            specs.append(parse_key_spec(text))
        except CLIError as exc:
            raise CLIError(f"{name}:{number}: {exc}") from None
    return specs


def load_keys(args: argparse.Namespace) -> KeyRing:
    """The keys of ``--key-file`` (first) and ``--key`` (after, so they win)."""
    specs: list[KeySpec] = []
    for name in args.key_files:
        specs.extend(read_key_file(name))
    specs.extend(args.keys)
    return KeyRing(specs, ev2=args.ev2)


# --- output ---------------------------------------------------------------------------------------


def hex_bytes(data: bytes | None) -> str | None:
    """Upper-case hex without separators (``None`` stays ``None``)."""
    return None if data is None else bytes(data).hex().upper()


def aid_text(aid: int) -> str:
    return f"{aid:06X}"


def printable(data: bytes) -> str | None:
    """``data`` as ASCII when all of it is printable, else None."""
    if data and all(0x20 <= b < 0x7F for b in data):
        return data.decode("ascii")
    return None


def print_fields(rows: Sequence[tuple[str, str]], *, indent: int = 2,
                 out: TextIO | None = None) -> None:
    """Print ``label  value`` rows with the values aligned."""
    out = out or sys.stdout
    if not rows:
        return
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{' ' * indent}{label:<{width}}  {value}".rstrip(), file=out)


def print_table(rows: Sequence[Sequence[str]], *, indent: int = 4,
                out: TextIO | None = None) -> None:
    """Print rows of cells in left-aligned columns (the last column is not padded)."""
    out = out or sys.stdout
    if not rows:
        return
    columns = max(len(r) for r in rows)
    widths = [max((len(r[i]) for r in rows if len(r) > i), default=0) for i in range(columns)]
    for row in rows:
        cells = [c.ljust(widths[i]) for i, c in enumerate(row[:-1])] + [row[-1]]
        print((" " * indent + "  ".join(cells)).rstrip(), file=out)


def print_json(document: Any, out: TextIO | None = None) -> None:
    json.dump(document, out or sys.stdout, indent=2)
    print(file=out or sys.stdout)


def file_row(file_no: int, fs: FileSettings) -> list[str]:
    """Table cells for one file: number, type, comm mode, access rights, extent."""
    return [f"{file_no:02d}", fs.file_type.label, fs.comm.value, fs.access.describe(),
            fs.describe_extent()]


KEYSTORE_ENV = "EKARTA_KEYS"

T = TypeVar("T")
E = TypeVar("E", bound=IntEnum)


def add_keystore_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--keys KEYSTORE`` (default ``$EKARTA_KEYS``); :func:`load_keystore` reads it."""
    parser.add_argument(
        "--keys", metavar="KEYSTORE", dest="keystore", default=None, type=input_file,
        help=f"the keystore (see 'ekarta keys new'); default ${KEYSTORE_ENV}")


def load_keystore(args: argparse.Namespace) -> FileKeyStore:
    """The keystore of ``--keys`` (or ``$EKARTA_KEYS``)."""
    path = keystore_path(args)
    if not path:
        raise CLIError(f"this command needs a keystore: --keys KEYSTORE (or ${KEYSTORE_ENV})")
    return FileKeyStore.load(path)


def keystore_path(args: argparse.Namespace) -> str | None:
    """The keystore of ``--keys`` (or ``$EKARTA_KEYS``), None when neither names one."""
    return args.keystore or os.environ.get(KEYSTORE_ENV) or None


def add_hotlist_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--hotlist FILE``; :func:`load_hotlist` reads it."""
    parser.add_argument("--hotlist", metavar="FILE", type=input_file,
                        help="blocked card numbers, one a line ('#' starts a comment)")


def load_hotlist(args: argparse.Namespace) -> frozenset[CardNumber]:
    """The card numbers of ``--hotlist`` (none without it)."""
    return read_hotlist(args.hotlist) if args.hotlist else frozenset()


def argument(parse: Callable[[str], T]) -> Callable[[str], T]:
    """``parse`` as an argument ``type``: its error becomes argparse's usage error, with the
    parser's own message."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except EkartaError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = getattr(parse, "__name__", "value")
    return convert


def enum_argument(enum: type[E], what: str) -> Callable[[str], E]:
    """An argument ``type`` taking the text names of ``enum``'s members (``adult-transferable``)."""
    return argument(lambda text: parse_enum(enum, text, what))


def add_operation_options(parser: argparse.ArgumentParser) -> None:
    """Add what a ticket office's card operation takes: ``--keys``, ``--device``, ``--at``,
    ``--lang``, ``--json`` and the reader of a command that changes the card."""
    add_keystore_option(parser)
    parser.add_argument("--device", type=argument(parse_device), default=0, metavar="N",
                        help=f"this terminal's device number, 0..{DEVICE_MAX} (written to the "
                             "card's log; default 0)")
    parser.add_argument("--at", type=argument(parse_when), metavar="DATETIME",
                        help="the time of the operation (ISO, Europe/Prague; default now), "
                             "written to the card's log")
    parser.add_argument("--lang", choices=LANGUAGES, default="en",
                        help="language of the messages and of a refusal")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead")
    add_reader_options(parser, changes_card=True)


def verdict_json(verdict: Verdict, lang: str) -> dict[str, Any]:
    """A verdict as the JSON of ``card show --json`` and ``validator --once --json``."""
    return {
        "ok": verdict.ok,
        "reason": enum_name(verdict.reason),
        "code": int(verdict.reason),
        "message": verdict.message(lang),
        "profile": enum_name(verdict.profile),
        "coupon_serial": verdict.coupon.serial if verdict.coupon is not None else None,
        "date": verdict.date.isoformat() if verdict.date is not None else None,
    }


def event_json(event: EventRecord) -> dict[str, Any]:
    """A record of the card's log as ``card show --json`` and the inspector's JSON show it."""
    return {
        "sequence": event.sequence,
        "at": event.local_time.isoformat(timespec="minutes"),
        "kind": enum_name(event.kind), "result": enum_name(event.result),
        "device": event.device,
        "line": event.line, "vehicle": event.vehicle, "zone": event.zone,
        # the same field holds a purse operation's number, which is no coupon's serial
        "coupon_serial": None if event.kind in PURSE_KINDS else event.coupon_serial,
        "operation_serial": event.coupon_serial if event.kind in PURSE_KINDS else None}


def now() -> datetime:
    """The command line's clock: the time on a Prague wall clock."""
    return datetime.now(PRAGUE)


# --- the files of a run ---------------------------------------------------------------------------


class InputPath(str):
    """A file name the command reads (made by :func:`input_file`)."""


class OutputPath(str):
    """A file name the command writes, replacing it only with ``--force`` (:func:`output_file`)."""


def input_file(text: str) -> InputPath:
    """Argument type of a file the command reads: :func:`run_files` finds it."""
    return InputPath(text)


def output_file(text: str) -> OutputPath:
    """Argument type of a file the command writes: :func:`check_outputs` checks it first."""
    if not text:
        raise argparse.ArgumentTypeError("must not be empty")
    return OutputPath(text)


def add_force_option(parser: argparse.ArgumentParser, what: str) -> None:
    """``-f/--force``: replace the existing output file ``what`` (e.g. 'FILE')."""
    parser.add_argument("-f", "--force", action="store_true",
                        help=f"replace {what} if it exists (never a file the command reads)")


@dataclass(frozen=True)
class RunFiles:
    """The files of one run of a command: what it reads (``inputs``), what it writes anew
    (``outputs``) and what it appends to (``appended``: the log file, a spy's trace file)."""

    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    appended: tuple[str, ...] = ()


_REPLAY_SESSION = re.compile(r"(.*)#session=\d+\Z", re.DOTALL)


def _reader_files(url: str) -> RunFiles:
    """The files that the reader of ``url`` reads and appends to."""
    scheme, _, rest = url.partition(":")
    scheme = scheme.lower()
    if scheme == "emulator" and rest:
        path = os.path.expanduser(rest)
        return RunFiles(inputs=(path, lock_path(path)))
    if scheme == "replay" and rest:
        match = _REPLAY_SESSION.match(rest)
        return RunFiles(inputs=(os.path.expanduser(match.group(1) if match else rest),))
    if scheme == "spy":
        try:
            inner, trace = parse_spy_url(rest)
        except EkartaError:
            return RunFiles()  # the reader itself says what is wrong with its URL
        files = _reader_files(inner)
        return RunFiles(inputs=files.inputs,
                        appended=files.appended + (() if trace is None else (trace,)))
    return RunFiles()


def _marked(args: argparse.Namespace, kind: type[str]) -> list[str]:
    found: list[str] = []
    for value in vars(args).values():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, kind) and item != "-":
                found.append(str(item))
    return found


def run_files(args: argparse.Namespace, log_file: str | None = None) -> RunFiles:
    """Every file this run of the command reads and writes: its arguments of
    :func:`input_file` and :func:`output_file`, the files of its reader, the keystore of
    ``$EKARTA_KEYS``, and ``log_file``."""
    inputs = _marked(args, InputPath)
    appended: list[str] = []
    if "keystore" in vars(args) and args.keystore is None:
        inputs.extend(filter(None, [keystore_path(args)]))
    if "reader" in vars(args):
        files = _reader_files(reader_url(args))
        inputs.extend(files.inputs)
        appended.extend(files.appended)
    if log_file:
        appended.append(log_file)
    return RunFiles(tuple(inputs), tuple(_marked(args, OutputPath)), tuple(appended))


def check_outputs(files: RunFiles, *, force: bool) -> None:
    """Refuse the run before it changes anything if an output is also an input (whatever its
    spelling: compared as files), two outputs are one file, an output exists without
    ``force``, or it could not be written."""
    written = [*files.outputs, *files.appended]
    for index, name in enumerate(written):
        same = find_same(name, files.inputs)
        if same is not None:
            raise CLIError(f"{name} is also read by this command"
                           f"{'' if same == name else f' (as {same})'}: not writing to it")
        other = find_same(name, written[:index])
        if other is not None:
            raise CLIError(f"{name} and {other} are the same file: give two different files")
    for name in files.outputs:
        if os.path.lexists(name) and not force:
            raise CLIError(f"{name} exists; use --force to replace it")
        try:
            check_writable(name)
        except FileRefused as exc:
            raise CLIError(str(exc)) from None


def write_output(path: str, data: bytes, *, force: bool, mode: int = 0o644) -> None:
    """Write an output file all at once (a temporary file renamed over it), replacing an
    existing one only with ``force``."""
    try:
        atomic_write(path, data, mode=mode, overwrite=force)
    except FileExistsError:
        raise CLIError(f"{path} exists; use --force to replace it") from None
    except OSError as exc:
        raise CLIError(f"cannot write {path}: {exc.strerror or exc}") from None


# --- a terminal's outcome (validator, inspector) ------------------------------------------------

EXIT_NOT_VALID = 3
"""A verdict was given, and it is not valid."""
EXIT_NO_VERDICT = 4
"""No verdict: tap again, not a transit card, unreadable, or a number that is no card number."""

HEADLINES = {"verdict": "", "tap-again": "TAP AGAIN", "not-a-transit-card": "NOT A TRANSIT CARD",
             "unreadable": "UNREADABLE", "refused-number": "REFUSED NUMBER",
             "not-issued": "NOT ISSUED"}


def bounded(what: str, high: int) -> Callable[[str], int]:
    """An argument type: a whole number 1..``high`` (a line, a vehicle, a row's number)."""
    def parse(text: str) -> int:
        value = text.strip()
        if not (value.isascii() and value.isdigit() and len(value) <= len(str(high))
                and 1 <= int(value) <= high):
            raise argparse.ArgumentTypeError(f"{what} is a number 1..{high}, not {text!r}")
        return int(value)

    parse.__name__ = what
    return parse


def span(unit: str, high: float, *, zero: bool) -> Callable[[str], timedelta]:
    """An argument type: a number of ``unit`` (``seconds``, ``days``) up to ``high`` (0 allowed
    when ``zero``) as a timedelta."""
    def parse(text: str) -> timedelta:
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        low_ok = value >= 0 if zero else value > 0
        if not low_ok or not value <= high:
            raise argparse.ArgumentTypeError(
                f"a number of {unit} {'0' if zero else 'above 0'} to {high:g}, not {text!r}")
        return timedelta(**{unit: value})

    parse.__name__ = unit
    return parse


def _when(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat(timespec="seconds")


def outcome_json(outcome: TapOutcome, lang: str) -> dict[str, Any]:
    """The outcome of a tap or a check as one JSON document (no names: there are none)."""
    verdict = None
    if outcome.verdict is not None:
        verdict = verdict_json(outcome.verdict, lang) | {"zone": outcome.verdict.zone}
    age = outcome.lists_age
    return {
        "outcome": outcome.outcome.value,
        "ok": outcome.ok,
        "source": outcome.source.value,
        "at": _when(outcome.at),
        "card_number": None if outcome.card_number is None else outcome.card_number.digits,
        "zone": outcome.zone,
        "line": outcome.line,
        "verdict": verdict,
        "from_office": outcome.from_office,
        "repeated": outcome.repeated,
        "blocked_written": outcome.blocked_written,
        "recorded": outcome.recorded,
        "data_as_of": _when(outcome.data_as_of),
        "lists_age_seconds": None if age is None else int(age.total_seconds()),
        "stale": outcome.stale,
        "detail": outcome.detail,
    }


def _age(age: timedelta) -> str:
    minutes = int(age.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} days"


def print_outcome(outcome: TapOutcome, lang: str) -> None:
    """The outcome for a person: a headline, then what matters of it."""
    verdict = outcome.verdict
    if verdict is not None:
        headline = "VALID" if verdict.ok else "INVALID"
        print(f"{headline}: {verdict.message(lang)}")
    else:
        print(HEADLINES[outcome.outcome.value] + (f": {outcome.detail}" if outcome.detail
                                                  else ""))
    rows: list[tuple[str, str]] = []
    if outcome.card_number is not None:
        rows.append(("card", outcome.card_number.formatted))
    if verdict is not None:
        rows.append(("reason", enum_name(verdict.reason)))
        rows.append(("profile", enum_name(verdict.profile)))
        if verdict.coupon is not None:
            coupon = verdict.coupon.coupon
            rows.append(("coupon", f"{coupon.serial} ({coupon.zones}; "
                                   f"{coupon.valid_from.isoformat()}..{coupon.valid_to.isoformat()})"))
    if outcome.zone is not None or outcome.line is not None:
        rows.append(("zone, line", f"{outcome.zone or '-'}, {outcome.line or '-'}"))
    notes = []
    if outcome.from_office:
        notes.append("the coupon is the office's, not yet on the card")
    if outcome.repeated:
        notes.append("a repeated tap: nothing written")
    if outcome.blocked_written:
        notes.append("the card's blocked status is written onto it")
    if outcome.source.value == "barcode":
        as_of = outcome.data_as_of
        notes.append("from the barcode, data as of "
                     + (to_local(as_of).strftime("%Y-%m-%d %H:%M") if as_of else "never synced"))
    if outcome.stale:
        notes.append("WARNING: the lists are "
                     + (f"{_age(outcome.lists_age)} old" if outcome.lists_age is not None
                        else "never synced"))
    if verdict is not None and outcome.detail:
        notes.append(outcome.detail)
    rows += [("note", note) for note in notes]
    print_fields(rows)


def add_device_option(parser: argparse._ActionsContainer, example: str) -> None:
    """--device: the device number a terminal writes into card logs (``example``: a device name
    that ends with its number, for the help)."""
    parser.add_argument("--device", type=argument(parse_device), metavar="N",
                        help="the device number written into card logs (default: the number "
                             "the terminal's device name ends with, e.g. "
                             f"'{example}' -> {example.split()[-1]})")


def add_place_options(parser: argparse.ArgumentParser, title: str, *, device: str,
                      vehicle: bool = False) -> None:
    """Where a checking terminal is, in the group ``title``: --zone, --line, --vehicle (with
    ``vehicle``) and --device (``device``: an example of a device name); read back with
    :func:`terminal_position`."""
    where = parser.add_argument_group(title)
    where.add_argument("--zone", type=argument(parse_zone), metavar="N",
                       help="the tariff zone to judge for (default: any zone)")
    where.add_argument("--line", type=bounded("line", LINE_MAX), metavar="L",
                       help=f"the line, 1..{LINE_MAX}")
    if vehicle:
        where.add_argument("--vehicle", type=bounded("vehicle", VEHICLE_MAX), metavar="V",
                           help=f"the vehicle, 1..{VEHICLE_MAX}")
    add_device_option(where, device)


def terminal_position(args: argparse.Namespace) -> Position:
    """The terminal's place from :func:`add_place_options`'s options."""
    from ekarta.terminal.engine import Position

    return Position(zone=args.zone, line=args.line, vehicle=getattr(args, "vehicle", None))


def add_terminal_options(parser: argparse.ArgumentParser, *, once: str,
                         repeat: str) -> argparse._ArgumentGroup:
    """The options of a terminal's command (validator, inspector): --once (``once`` says what it
    does to the card: "tap it"), --number, --scanner, --repeat-window (``repeat``: what the
    window spares), --stale-after, --at, --lang, --json, and the reader's; returns the group
    "what to do" for the command's own."""
    run = parser.add_argument_group("what to do")
    run.add_argument("--once", action="store_true",
                     help=f"wait for one card, {once}, print the outcome and exit")
    run.add_argument("--number", metavar="IDK",
                     help="check this card number (10 digits; spaces and dashes allowed) by the "
                          "synced lists, print the outcome and exit")
    run.add_argument("--scanner", metavar="URL",
                     help="the app's barcode scanner (a pyserial URL: /dev/ttyACM0, "
                          "socket://HOST:PORT...)")
    run.add_argument("--repeat-window", type=span("seconds", 86_400, zero=True),
                     default=timedelta(seconds=60), metavar="SECONDS",
                     help=f"{repeat} within this many seconds writes nothing (default 60)")
    run.add_argument("--stale-after", type=span("days", 3650, zero=False),
                     default=timedelta(days=3), metavar="DAYS",
                     help="lists older than this make every verdict carry a warning "
                          "(default 3)")
    run.add_argument("--at", type=argument(parse_when), metavar="DATETIME",
                     help="the time to take as now (ISO, Europe/Prague unless it carries an "
                          "offset; default the clock's)")
    run.add_argument("--lang", choices=LANGUAGES, default="cs",
                     help="language of the verdict's message (default cs)")
    run.add_argument("--json", action="store_true",
                     help="with --once or --number: print one JSON document instead")
    run.add_argument("--clear-after", type=span("seconds", 3600, zero=False), metavar="SECONDS",
                     help="the app clears a verdict from the screen after this many seconds "
                          "(default: the app's own)")
    add_reader_options(parser)
    return run


def clear_after_option(args: argparse.Namespace) -> dict[str, float]:
    """The app's ``clear_after`` from --clear-after, if given; refused with --once and --number,
    which print instead of showing."""
    if args.clear_after is None:
        return {}
    if args.once or args.number is not None:
        raise CLIError("--clear-after is the app's screen's; --once and --number print")
    return {"clear_after": args.clear_after.total_seconds()}


def check_terminal_args(args: argparse.Namespace, *, what: str, once: str) -> None:
    """Refuse the options of a terminal's command that do not go together (--clear-after's
    first: :func:`clear_after_option`); ``what`` names the terminal ("validator"), ``once`` what
    --once does ("taps a card")."""
    clear_after_option(args)
    if args.once and args.number is not None:
        raise CLIError(f"--once {once} and --number checks a number: give one of them")
    if args.scanner is not None and (args.once or args.number is not None):
        raise CLIError("--scanner is the app's; check one number with --number")
    if args.json and not (args.once or args.number is not None):
        raise CLIError("--json prints the outcome of --once or --number; the app has a screen")
    if args.number is None and not args.reader and not os.environ.get(READER_ENV):
        # a terminal writes to the card: never to the fresh emulated card of the default
        raise CLIError(f"name the {what}'s reader with --reader URL (or ${READER_ENV}), e.g. "
                       "--reader pcsc: or --reader emulator:card.json")


def clock_option(args: argparse.Namespace) -> dict[str, Any]:
    """With --at, the engine's ``clock``: one that stands at that time."""
    at: datetime | None = args.at
    return {} if at is None else {"clock": lambda: at}


def engine_options(args: argparse.Namespace) -> dict[str, Any]:
    """What a checking terminal's engine is opened with from the command's options: the
    position, the device number, the repeat window, the lists' limit and the clock of --at."""
    return {"position": terminal_position(args), "device": args.device,
            "repeat_window": args.repeat_window, "stale_after": args.stale_after,
            **clock_option(args)}


def start_terminal_app(args: argparse.Namespace, directory: str, app: str) -> int:
    """Run the full-screen app ``app`` (validator, inspector) of the terminal ``directory``
    until the service key ends it."""
    # Textual and the app load only when the screen is wanted, not for --once or --number
    module = importlib.import_module(f"ekarta.terminal.apps.{app}")
    result: int = module.run(directory=directory, reader=reader_url(args), scanner=args.scanner,
                             device=args.device, position=terminal_position(args),
                             lang=args.lang, repeat_window=args.repeat_window,
                             stale_after=args.stale_after, **clear_after_option(args))
    return result


def one_outcome(args: argparse.Namespace, check_number: Callable[[str], TapOutcome],
                tap: Callable[[Reader], TapOutcome]) -> TapOutcome:
    """The outcome of --number (``check_number``) or of --once (``tap`` of the card that
    comes to the reader)."""
    if args.number is not None:
        return check_number(args.number)
    with open_card(args) as reader:
        info = reader.card_info
        log.info("card %s at the reader", hex_bytes(info.uid) if info and info.uid else "?")
        return tap(reader)


def print_result(args: argparse.Namespace, outcome: TapOutcome, *, check: bool = False) -> int:
    """Print ``outcome`` (with --json as one document; ``check``: a check's, with the card and
    the office's actions) and give its exit status (:func:`outcome_exit`)."""
    if args.json:
        print_json((check_json if check else outcome_json)(outcome, args.lang))
    else:
        (print_check if check else print_outcome)(outcome, args.lang)
    return outcome_exit(outcome)


def outcome_exit(outcome: TapOutcome) -> int:
    """The exit status of a terminal's one tap or check: 0 valid, :data:`EXIT_NOT_VALID`,
    :data:`EXIT_NO_VERDICT`."""
    if outcome.verdict is None:
        return EXIT_NO_VERDICT
    return 0 if outcome.ok else EXIT_NOT_VALID


# --- a check's outcome (inspector, kiosk) ---------------------------------------------------------


def _coupon_json(coupon: SignedCoupon) -> dict[str, Any]:
    return CouponDocument(coupon.coupon).to_json()


def card_json(image: CardImage) -> dict[str, Any]:
    """The card as a check leaves it, without the holder's name or birth date."""
    record = image.record
    return {
        "kind": enum_name(record.kind),
        "status": enum_name(record.status),
        "profile": enum_name(record.profile),
        "profile_end": None if record.profile_end is None else record.profile_end.isoformat(),
        "expiry": record.expiry.isoformat(),
        "purse": image.purse,
        "coupons": [_coupon_json(c) for c in image.coupons],
    }


def action_json(action: ActionResult, lang: str) -> dict[str, Any]:
    refusal = action.refusal
    return {
        "action_id": action.action_id,
        "kind": action.kind.value,
        "state": action.state.value,
        "serial": action.serial,
        "amount": action.amount,
        "refusal": None if refusal is None else enum_name(refusal),
        "message": None if action.refused is None else action.refused.message(lang),
    }


def check_json(outcome: TapOutcome, lang: str) -> dict[str, Any]:
    """The outcome of a check as one JSON document: the tap's fields, the card (no names),
    the last validation, every action of the office's and the check's journal id."""
    last = outcome.last_validation
    return outcome_json(outcome, lang) | {
        "card": None if outcome.image is None else card_json(outcome.image),
        "last_validation": None if last is None else event_json(last),
        "actions": [action_json(a, lang) for a in outcome.actions],
        "event_id": None if outcome.event_id is None else str(outcome.event_id),
    }


def print_check(outcome: TapOutcome, lang: str) -> None:
    """The outcome for a person: the tap's headline and fields, then the office's actions."""
    print_outcome(outcome, lang)
    rows = []
    last = outcome.last_validation
    if last is not None:
        rows.append(("last validation", f"{last.local_time:%Y-%m-%d %H:%M}, line "
                                        f"{last.line or '-'}, zone {last.zone or '-'}"))
    for action in outcome.actions:
        what = f"{action.kind.value} {action.serial or ''}".strip()
        state = action.state.value
        if action.refused is not None:
            state += f": {action.refused.message(lang)}"
        rows.append(("action", f"{what}: {state}"))
    if rows:
        print_fields(rows)
