"""``ekarta validator``: the driver's validator of a terminal directory.  Without ``--once`` or
``--number`` it starts the full-screen app; ``--once`` runs one tap and ``--number`` one check of
a card number with the same engine (:class:`~ekarta.terminal.tap.Validator`), and print the
outcome, for scripts and test benches."""

from __future__ import annotations

import argparse
import logging
import os
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from ekarta.cli.common import (
    EXAMPLES_FORMATTER,
    EXIT_NO_VERDICT,
    EXIT_NOT_VALID,
    READER_ENV,
    CLIError,
    add_reader_options,
    argument,
    bounded,
    hex_bytes,
    open_card,
    outcome_exit,
    outcome_json,
    print_json,
    print_outcome,
    reader_url,
    span,
    wrap,
)
from ekarta.transit.model.messages import LANGUAGES
from ekarta.transit.model.notation import parse_device, parse_when, parse_zone
from ekarta.transit.model.values import LINE_MAX, VEHICLE_MAX

if TYPE_CHECKING:
    from ekarta.terminal.tap import Position

log = logging.getLogger(__name__)

def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "validator", parents=[common], help="the driver's validator: tap to verdict, offline",
        description=wrap(
            "The driver's validator of the terminal directory DIR (made with 'ekarta terminal "
            "init --role validator'): a card held to the reader is read, looked up on the "
            "hotlist and among the office's entitlements, judged for the zone and the time, and "
            "its tap recorded on the card and in the journal (a hotlisted card gets its blocked "
            "status written instead).  A second tap within the repeat window shows the verdict "
            "again and writes nothing.  A card number from a scanner or typed is judged from the "
            "synced lists.  It works offline: every verdict says how old the lists are and "
            "warns when they are older than --stale-after.\n\n"
            "Without --once or --number it starts the full-screen app.  --once waits for a card "
            "(up to --wait seconds), runs one tap and prints the outcome; --number checks one "
            "card number.\n\n"
            f"Exit status with --once or --number: 0 valid, {EXIT_NOT_VALID} a verdict of not "
            f"valid (blocked, no coupon...), {EXIT_NO_VERDICT} no verdict (tap again, not a "
            "transit card, unreadable, a number whose check digit fails), 1 an error (no card "
            "within --wait, a bad terminal directory), 2 a usage error."),
        epilog=("examples:\n"
                "  ekarta validator bus1017 --reader pcsc: --zone 1 --line 14\n"
                "  ekarta validator bus1017 --reader emulator:card.json --zone 1 --once --json\n"
                "  ekarta validator bus1017 --zone 2 --number '123 456 789 4'\n"
                "  ekarta validator bus1017 --reader pn532:/dev/ttyUSB0 --scanner "
                "/dev/ttyACM0 --zone 1"),
        formatter_class=EXAMPLES_FORMATTER)
    parser.add_argument("directory", metavar="DIR", help="the validator's terminal directory")
    where = parser.add_argument_group("where the vehicle is")
    where.add_argument("--zone", type=argument(parse_zone), metavar="N",
                       help="the tariff zone to judge for (default: any zone)")
    where.add_argument("--line", type=bounded("line", LINE_MAX), metavar="L",
                       help=f"the line, 1..{LINE_MAX}")
    where.add_argument("--vehicle", type=bounded("vehicle", VEHICLE_MAX), metavar="V",
                       help=f"the vehicle, 1..{VEHICLE_MAX}")
    where.add_argument("--device", type=argument(parse_device), metavar="N",
                       help="the device number written into card logs (default: the number "
                            "the terminal's device name ends with, e.g. 'bus 1017' -> 1017)")
    run = parser.add_argument_group("what to do")
    run.add_argument("--once", action="store_true",
                     help="wait for one card, tap it, print the outcome and exit")
    run.add_argument("--number", metavar="IDK",
                     help="check this card number (10 digits; spaces and dashes allowed) by the "
                          "synced lists, print the outcome and exit")
    run.add_argument("--scanner", metavar="URL",
                     help="the app's barcode scanner (a pyserial URL: /dev/ttyACM0, "
                          "socket://HOST:PORT...)")
    run.add_argument("--repeat-window", type=span("seconds", 86_400, zero=True),
                     default=timedelta(seconds=60), metavar="SECONDS",
                     help="a second tap within this many seconds writes nothing (default 60)")
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
    add_reader_options(parser)
    parser.set_defaults(func=run_validator)


def _position(args: argparse.Namespace) -> Position:
    from ekarta.terminal.tap import Position

    return Position(zone=args.zone, line=args.line, vehicle=args.vehicle)


def run_validator(args: argparse.Namespace) -> int:
    if args.once and args.number is not None:
        raise CLIError("--once taps a card and --number checks a number: give one of them")
    if args.scanner is not None and (args.once or args.number is not None):
        raise CLIError("--scanner is the app's; check one number with --number")
    if args.json and not (args.once or args.number is not None):
        raise CLIError("--json prints the outcome of --once or --number; the app has a screen")
    from ekarta.terminal.config import load_config

    config = load_config(args.directory)
    if args.number is None and not args.reader and not os.environ.get(READER_ENV):
        # a validator writes to the card: never to the fresh emulated card of the default
        raise CLIError(f"name the validator's reader with --reader URL (or ${READER_ENV}), e.g. "
                       "--reader pcsc: or --reader emulator:card.json")
    if not (args.once or args.number is not None):
        return start_app(args, config.directory)
    from ekarta.terminal.tap import Validator

    at: datetime | None = args.at
    options: dict[str, Any] = {"device": args.device, "position": _position(args),
                               "repeat_window": args.repeat_window,
                               "stale_after": args.stale_after}
    if at is not None:
        options["clock"] = lambda: at
    with Validator.from_config(config, **options) as validator:
        if args.number is not None:
            outcome = validator.check_number(args.number)
        else:
            with open_card(args) as reader:
                info = reader.card_info
                log.info("tapping card %s", hex_bytes(info.uid) if info and info.uid else "?")
                outcome = validator.tap(reader)
    if args.json:
        print_json(outcome_json(outcome, args.lang))
    else:
        print_outcome(outcome, args.lang)
    return outcome_exit(outcome)


def start_app(args: argparse.Namespace, directory: str) -> int:
    """Run the validator's full-screen app until the service key ends it."""
    # Textual and the app load only when the screen is wanted, not for --once or --number
    from ekarta.terminal.apps.validator import run

    return run(directory=directory, reader=reader_url(args), scanner=args.scanner,
               device=args.device, position=_position(args), lang=args.lang,
               repeat_window=args.repeat_window, stale_after=args.stale_after)


