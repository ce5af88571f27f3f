"""``ekarta validator``: the driver's validator of a terminal directory.  Without ``--once`` or
``--number`` it starts the full-screen app; ``--once`` runs one tap and ``--number`` one check of
a card number with the same engine (:class:`~ekarta.terminal.tap.Validator`), and print the
outcome, for scripts and test benches."""

from __future__ import annotations

import argparse
import logging

from ekarta.cli.common import (
    EXAMPLES_FORMATTER,
    EXIT_NO_VERDICT,
    EXIT_NOT_VALID,
    add_place_options,
    add_terminal_options,
    check_terminal_args,
    engine_options,
    one_outcome,
    print_result,
    start_terminal_app,
    wrap,
)

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
    add_place_options(parser, "where the vehicle is", device="bus 1017", vehicle=True)
    add_terminal_options(parser, once="tap it", repeat="a second tap")
    parser.set_defaults(func=run_validator)


def run_validator(args: argparse.Namespace) -> int:
    check_terminal_args(args, what="validator", once="taps a card")
    from ekarta.terminal.config import load_config

    config = load_config(args.directory)
    if not (args.once or args.number is not None):
        return start_terminal_app(args, config.directory, "validator")
    from ekarta.terminal.tap import Validator

    with Validator.from_config(config, **engine_options(args)) as validator:
        outcome = one_outcome(args, validator.check_number, validator.tap)
    return print_result(args, outcome)
