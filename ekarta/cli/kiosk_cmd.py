"""``ekarta kiosk``: the information terminal of a contact point, of a terminal directory.
Without ``--once`` it starts the full-screen app; ``--once`` runs one view of a card with the same
engine (:class:`~ekarta.terminal.kiosk.Kiosk`) and prints the outcome (never the holder's name),
for scripts and test benches."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
from datetime import timedelta

from ekarta.cli.common import (
    EXAMPLES_FORMATTER,
    EXIT_NO_VERDICT,
    EXIT_NOT_VALID,
    READER_ENV,
    CLIError,
    add_device_option,
    add_reader_options,
    argument,
    clock_option,
    open_card,
    print_result,
    reader_url,
    span,
    wrap,
)
from ekarta.transit.model.messages import LANGUAGES
from ekarta.transit.model.notation import parse_when

log = logging.getLogger(__name__)

HIDE_AFTER = 20.0
HIDE_MAX = 120.0


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "kiosk", parents=[common],
        help="the information terminal: show a card to its holder, load what the office holds",
        description=wrap(
            "The information terminal (kiosk) of a contact point, of the terminal directory DIR "
            "(made with 'ekarta terminal init --role kiosk'): a card placed on the reader is "
            "read with the load key, every action the office left for it (a paid coupon, a purse "
            "credit, its blocked status, a profile, an activation) is written onto it, and the "
            "card is shown: its number, kind, holder and expiry, the profile, every coupon "
            "valid now or later with a timeline, what waits at the office and why, the e-purse "
            "and the last events.  A card that is not active (blocked, expired, not activated, "
            "not issued, not a transit card, unreadable) gets what to do and where, and nothing "
            "of the holder's.  The data hide with the Hide button, by themselves after "
            "--hide-after seconds (a touch starts that time again, up to --hide-max seconds) "
            "and when the next card comes.  A view is journalled without names; it writes the "
            "card's log only when it loads something.\n\n"
            "Without --once it starts the full-screen app.  --once waits for a card (up to "
            "--wait seconds), runs one view and prints the outcome without the holder's name.\n\n"
            f"Exit status with --once: 0 an active card with a valid coupon, {EXIT_NOT_VALID} a "
            f"card judged not valid (blocked, expired, no coupon...), {EXIT_NO_VERDICT} no verdict "
            "(tap again, not a transit card, not issued, unreadable), 1 an error (no card within "
            "--wait, a bad terminal directory), 2 a usage error."),
        epilog=("examples:\n"
                "  ekarta kiosk vojanova1 --reader pcsc:\n"
                "  ekarta kiosk vojanova1 --reader pn532:/dev/ttyUSB0 --hide-after 30 --lang en\n"
                "  ekarta kiosk vojanova1 --reader emulator:card.json --once --json"),
        formatter_class=EXAMPLES_FORMATTER)
    parser.add_argument("directory", metavar="DIR", help="the kiosk's terminal directory")
    add_device_option(parser, "kiosk 3")
    screen = parser.add_argument_group("the screen")
    screen.add_argument("--hide-after", type=span("seconds", 3600, zero=False),
                        default=timedelta(seconds=HIDE_AFTER), metavar="SECONDS",
                        help=f"hide a card's data this many seconds after the last touch "
                             f"(default {HIDE_AFTER:g})")
    screen.add_argument("--hide-max", type=span("seconds", 3600, zero=False),
                        default=timedelta(seconds=HIDE_MAX), metavar="SECONDS",
                        help=f"hide them this many seconds after the card was shown however "
                             f"often it is touched (default {HIDE_MAX:g})")
    screen.add_argument("--lang", choices=LANGUAGES, default="cs",
                        help="the screen's language, switched with its button; with --once the "
                             "messages' (default cs)")
    run = parser.add_argument_group("what to do")
    run.add_argument("--once", action="store_true",
                     help="wait for one card, view it, print the outcome and exit")
    run.add_argument("--json", action="store_true",
                     help="with --once: print one JSON document instead")
    run.add_argument("--stale-after", type=span("days", 3650, zero=False),
                     default=timedelta(days=3), metavar="DAYS",
                     help="lists older than this are stale (default 3)")
    run.add_argument("--at", type=argument(parse_when), metavar="DATETIME",
                     help="with --once: the time to take as now (ISO, Europe/Prague unless it "
                          "carries an offset; default the clock's)")
    add_reader_options(parser)
    parser.set_defaults(func=run_kiosk)


def _check_args(args: argparse.Namespace) -> None:
    if args.json and not args.once:
        raise CLIError("--json prints the outcome of --once; the app has a screen")
    if args.at is not None and not args.once:
        raise CLIError("--at sets the clock of --once; the app keeps the real time")
    if args.hide_after > args.hide_max:
        raise CLIError(f"--hide-after ({args.hide_after.total_seconds():g} s) is longer than "
                       f"--hide-max ({args.hide_max.total_seconds():g} s)")
    if not args.reader and not os.environ.get(READER_ENV):
        # a kiosk writes to the card: never to the fresh emulated card of the default
        raise CLIError(f"name the kiosk's reader with --reader URL (or ${READER_ENV}), e.g. "
                       "--reader pcsc: or --reader emulator:card.json")


def run_kiosk(args: argparse.Namespace) -> int:
    _check_args(args)
    from ekarta.terminal.config import load_config
    from ekarta.terminal.kiosk import Kiosk

    config = load_config(args.directory)
    Kiosk.check_config(config)
    if not args.once:
        return start_app(args, config.directory)
    with Kiosk.from_config(config, device=args.device, stale_after=args.stale_after,
                           **clock_option(args)) as kiosk, open_card(args) as reader:
        outcome = kiosk.view(reader)
    return print_result(args, outcome, check=True)


def start_app(args: argparse.Namespace, directory: str) -> int:
    """Run the kiosk's full-screen app until the service key ends it."""
    # Textual and the app load only when the screen is wanted, not for --once
    app = importlib.import_module("ekarta.terminal.apps.kiosk")
    result: int = app.run(directory=directory, reader=reader_url(args), device=args.device,
                          lang=args.lang, hide_after=args.hide_after.total_seconds(),
                          hide_max=args.hide_max.total_seconds(), stale_after=args.stale_after)
    return result
