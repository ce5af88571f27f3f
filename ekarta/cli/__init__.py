"""The ``ekarta`` command line.

Each command group lives in its own module of this package with a function
``register(subparsers, common)``: it adds its parser to ``subparsers`` (passing ``common`` in
``parents=`` so that ``-v`` and ``--log-file`` work after the command too) and sets ``func`` to
a function ``func(args) -> int`` that runs the command.  Adding a group is one module and one
line in :data:`COMMAND_MODULES`.

:func:`main` configures logging (only here: the library never does), runs the command and turns
every :class:`~ekarta.errors.EkartaError` into one ``ekarta: error: ...`` line and exit status 1.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import logging
import os
import re
import stat
import sys
import unicodedata
from collections.abc import Sequence
from typing import TextIO

from ekarta import __version__
from ekarta.cli.common import check_outputs, run_files
from ekarta.desfire.redact import reveal_secrets
from ekarta.errors import EkartaError
from ekarta.files import open_private_append
from ekarta.log import TRACE

__all__ = ["COMMAND_MODULES", "build_parser", "main"]

COMMAND_MODULES = (
    "ekarta.cli.emulator_cmd",
    "ekarta.cli.card_cmd",
    "ekarta.cli.apdu_cmd",
    "ekarta.cli.barcode_cmd",
    "ekarta.cli.keys_cmd",
    "ekarta.cli.coupon_cmd",
    "ekarta.cli.card_number_cmd",
    "ekarta.cli.purse_cmd",
    "ekarta.cli.office_cmd",
    "ekarta.cli.terminal_cmd",
    "ekarta.cli.validator_cmd",
    "ekarta.cli.inspector_cmd",
)
"""The modules that each register one command group, in the order ``--help`` lists them."""

PROG = "ekarta"

DESCRIPTION = """\
ekarta: a toolkit for contactless transit e-cards on MIFARE DESFire.

Every command that talks to a card takes --reader URL; without it, $EKARTA_READER or
'emulator:' (a fresh emulated card) is used."""

EPILOG = """\
examples:
  ekarta emulator new card.json               create an emulated card in card.json
  ekarta card info --reader emulator:card.json
  ekarta card info --key 0:des:0000000000000000
  ekarta apdu 9060000000                      send GetVersion to the card
  ekarta -vvv card info                       show every frame on the wire (the data of
                                              authentications and key changes hidden)

run 'ekarta COMMAND --help' for the options of a command."""

_TRACE_SECRETS_HELP = (
    "UNSAFE: do not hide the data of authentication and key-changing frames in traces; such "
    "a -vvv log gives away the card's keys (for test cards only)")

VERBOSITY_LEVELS = (logging.WARNING, logging.INFO, logging.DEBUG, TRACE)

log = logging.getLogger("ekarta.cli")

LOG_FILE_HELP = (
    "also append a DEBUG log (TRACE with -vvv) to FILE: a new FILE is created readable by its "
    "owner only (0600); an existing one must be empty or an ekarta log, and never a file the "
    "command reads (card file, keystore, key file...)")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# how a line of LOG_FORMAT starts: an existing file that does not start so is no ekarta log
_LOG_START = re.compile(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ ")


def _common_options() -> argparse.ArgumentParser:
    """``-v`` and ``--log-file`` for use after a subcommand (summed with the global ones)."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("logging")
    group.add_argument(
        "-v",
        "--verbose",
        dest="sub_verbose",
        action="count",
        default=0,
        help="log more: -v INFO, -vv DEBUG (with tracebacks), -vvv also every frame",
    )
    group.add_argument(
        "--log-file",
        dest="sub_log_file",
        metavar="FILE",
        help=LOG_FILE_HELP,
    )
    group.add_argument(
        "--trace-secrets",
        dest="sub_trace_secrets",
        action="store_true",
        help=_TRACE_SECRETS_HELP,
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    """The whole argument parser, with every group of :data:`COMMAND_MODULES` registered."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log more: -v INFO, -vv DEBUG (with tracebacks), -vvv also every frame",
    )
    parser.add_argument(
        "--log-file",
        metavar="FILE",
        help=LOG_FILE_HELP,
    )
    parser.add_argument(
        "--trace-secrets",
        action="store_true",
        help=_TRACE_SECRETS_HELP,
    )
    subparsers = parser.add_subparsers(
        title="commands", metavar="COMMAND", dest="command", required=True
    )
    common = _common_options()
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers, common)
    return parser


class _OneTracePerFrame(logging.Filter):
    """Both the DESFire client and the reader driver trace every APDU; the command line keeps the
    driver's line (what went on the wire, with the reader's name) and drops the client's copy."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno == TRACE and record.name == "ekarta.desfire.client")


class _ConsoleFormatter(logging.Formatter):
    """The console's lines: warnings and errors as the commands print their own
    (``ekarta: warning: ...``); the diagnostics of ``-v`` with their level and the logger's name
    (``ekarta: DEBUG: ekarta.readers.pcsc: ...``), to tell where a line comes from."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        if record.levelno >= logging.WARNING:
            return f"{PROG}: {record.levelname.lower()}: {text}"
        return f"{PROG}: {record.levelname}: {record.name}: {text}"


def _configure_logging(verbosity: int, log_file: str | None) -> list[logging.Handler]:
    """Send ekarta's log to stderr (and ``log_file``); returns the handlers to remove later."""
    level = VERBOSITY_LEVELS[min(verbosity, len(VERBOSITY_LEVELS) - 1)]
    handlers: list[logging.Handler] = []
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(level)
    console.setFormatter(_ConsoleFormatter())
    handlers.append(console)
    file_level = min(level, logging.DEBUG)
    if log_file:
        handler: logging.Handler = _LogFile(_open_log(log_file))
        handler.setLevel(file_level)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
        handlers.append(handler)
    logger = logging.getLogger("ekarta")
    logger.setLevel(file_level if log_file else level)
    for handler in handlers:
        handler.addFilter(_OneTracePerFrame())
        logger.addHandler(handler)
    return handlers


class _LogFile(logging.StreamHandler[TextIO]):
    """A log handler on a stream it owns and closes."""

    def close(self) -> None:
        try:
            self.flush()
            self.stream.close()
        finally:
            super().close()


def _open_log(name: str) -> TextIO:
    """The log file ``name`` opened for appending (see LOG_FILE_HELP); run_files has made sure
    the command does not read it."""
    try:
        mode = os.stat(name).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise EkartaError(f"cannot open log file {name}: {exc.strerror}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise EkartaError(f"cannot open log file {name}: it is a directory")
    if mode is not None and stat.S_ISREG(mode):
        try:
            with open(name, "rb") as f:
                start = f.read(64)
        except OSError as exc:
            raise EkartaError(f"cannot open log file {name}: {exc.strerror}") from None
        if start and not _LOG_START.match(start):
            raise EkartaError(f"{name} exists and is not an ekarta log: not appending to it "
                              "(give a new --log-file)")
    try:
        fd = open_private_append(name)
    except OSError as exc:
        raise EkartaError(f"cannot open log file {name}: {exc.strerror}") from None
    return os.fdopen(fd, "a", encoding="utf-8")


_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})


def _one_line(text: str) -> str:
    """``text`` with its control and format characters (a newline, a bidi override taken from an
    argument or a file name) escaped, so that an error stays one line that reads as it is."""
    return "".join(c.encode("unicode_escape").decode("ascii")
                   if unicodedata.category(c) in _ESCAPED_CATEGORIES else c for c in text)


def _error(message: str) -> None:
    print(f"{PROG}: error: {_one_line(message)}", file=sys.stderr)


@functools.cache
def _parser() -> argparse.ArgumentParser:
    """The parser :func:`main` uses: built once a process, since building it costs more than
    most commands do (parsing leaves it as it was)."""
    return build_parser()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    for number, arg in enumerate(argv, 1):
        if "\0" in arg:  # no command line can hold one; a caller of main() can
            _error(f"argument {number} holds a NUL character")
            return 2
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors (2)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)

    logger = logging.getLogger("ekarta")
    saved = (logger.level, logger.propagate)
    handlers: list[logging.Handler] = []
    try:
        log_file = args.sub_log_file or args.log_file
        # before anything is changed: a command that cannot write its outputs does nothing
        check_outputs(run_files(args, log_file), force=getattr(args, "force", False))
        reveal_secrets(args.trace_secrets or args.sub_trace_secrets)
        handlers = _configure_logging(args.verbose + args.sub_verbose, log_file)
        logger.propagate = False
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader of our output went away (| head): stop quietly, without a second error
        # when Python flushes stdout at exit.
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):
            pass
        return 1
    except EkartaError as exc:
        log.debug("%s failed", args.command, exc_info=True)
        _error(str(exc))
        return 1
    except OSError as exc:
        log.debug("%s failed", args.command, exc_info=True)
        where = f": {exc.filename}" if exc.filename else ""
        _error(f"{exc.strerror or exc}{where}")
        return 1
    finally:
        reveal_secrets(False)
        for handler in handlers:
            logger.removeHandler(handler)
            handler.close()
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
