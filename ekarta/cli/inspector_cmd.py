"""``ekarta inspector``: the inspector's handheld of a terminal directory.  Without ``--once`` or
``--number`` it starts the full-screen app; ``--once`` runs one check of a card and ``--number``
one check of a card number with the same engine (:class:`~ekarta.terminal.inspect.Inspector`),
and print the outcome (never the holder's name), for scripts and test benches."""

from __future__ import annotations

import argparse
import logging

from ekarta.cli.common import (
    EXAMPLES_FORMATTER,
    EXIT_NO_VERDICT,
    EXIT_NOT_VALID,
    CLIError,
    add_place_options,
    add_terminal_options,
    check_terminal_args,
    engine_options,
    one_outcome,
    print_result,
    start_terminal_app,
    wrap,
)
from ekarta.sync.roles import DeviceRole

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "inspector", parents=[common],
        help="the inspector's handheld: check a card, load what the office holds for it",
        description=wrap(
            "The inspector's handheld of the terminal directory DIR (made with 'ekarta terminal "
            "init --role inspector'): a card held to the reader is read with the load key, "
            "looked up on the hotlist and among the office's entitlements, and judged for the "
            "zone and the time; every action the office left for it (a paid coupon to load, a "
            "purse credit, its blocked status, a profile, an activation) is written onto it in "
            "the same tap, and the check and each action go into the journal (no names).  A card "
            "number from a scanner or typed is judged from the synced lists (the barcode of a "
            "card whose chip does not answer).\n\n"
            "Without --once or --number it starts the full-screen app.  --once waits for a card "
            "(up to --wait seconds), runs one check and prints the outcome; --number checks one "
            "card number.  The output never holds the holder's name.\n\n"
            f"Exit status with --once or --number: 0 valid, {EXIT_NOT_VALID} a verdict of not "
            f"valid (blocked, no coupon...), {EXIT_NO_VERDICT} no verdict (tap again, not a "
            "transit card, unreadable, a number whose check digit fails), 1 an error (no card "
            "within --wait, a bad terminal directory), 2 a usage error."),
        epilog=("examples:\n"
                "  ekarta inspector handheld7 --reader pcsc: --zone 1 --line 14\n"
                "  ekarta inspector handheld7 --reader emulator:card.json --once --json\n"
                "  ekarta inspector handheld7 --zone 2 --number '123 456 789 4'\n"
                "  ekarta inspector handheld7 --reader pn532:/dev/ttyUSB0 --scanner "
                "/dev/ttyACM0 --lang en"),
        formatter_class=EXAMPLES_FORMATTER)
    parser.add_argument("directory", metavar="DIR", help="the inspector's terminal directory")
    add_place_options(parser, "where the inspection is", device="handheld 7")
    add_terminal_options(parser, once="check it", repeat="a second check with nothing to write")
    parser.set_defaults(func=run_inspector)


def run_inspector(args: argparse.Namespace) -> int:
    check_terminal_args(args, what="inspector", once="checks a card")
    from ekarta.terminal.config import load_config
    from ekarta.terminal.inspect import Inspector

    config = load_config(args.directory)
    Inspector.check_config(config)
    if config.role is not DeviceRole.INSPECTOR:  # the engine, a kiosk's check as well
        raise CLIError(f"{config.directory} is a {config.role}'s terminal: the inspector needs "
                       "an inspector's (made with 'ekarta terminal init --role inspector')")
    if not (args.once or args.number is not None):
        return start_terminal_app(args, config.directory, "inspector")
    with Inspector.from_config(config, **engine_options(args)) as inspector:
        outcome = one_outcome(args, inspector.check_number, inspector.check)
    return print_result(args, outcome, check=True)
