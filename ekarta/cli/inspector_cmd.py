"""``ekarta inspector``: the inspector's handheld of a terminal directory.  Without ``--once`` or
``--number`` it starts the full-screen app; ``--once`` runs one check of a card and ``--number``
one check of a card number with the same engine (:class:`~ekarta.terminal.inspect.Inspector`),
and print the outcome (never the holder's name), for scripts and test benches."""

from __future__ import annotations

import argparse
import importlib
import logging
from typing import TYPE_CHECKING, Any

from ekarta.cli.common import (
    EXAMPLES_FORMATTER,
    EXIT_NO_VERDICT,
    EXIT_NOT_VALID,
    CLIError,
    add_terminal_options,
    argument,
    bounded,
    check_terminal_args,
    engine_options,
    event_json,
    one_outcome,
    outcome_exit,
    outcome_json,
    print_fields,
    print_json,
    print_outcome,
    reader_url,
    span,
    wrap,
)
from ekarta.transit.codec.coupon_file import CouponDocument
from ekarta.transit.model.notation import enum_name, parse_device, parse_zone
from ekarta.transit.model.values import LINE_MAX, SignedCoupon

if TYPE_CHECKING:
    from ekarta.terminal.engine import Position
    from ekarta.terminal.outcome import ActionResult, TapOutcome
    from ekarta.transit.model.image import CardImage

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
    where = parser.add_argument_group("where the inspection is")
    where.add_argument("--zone", type=argument(parse_zone), metavar="N",
                       help="the tariff zone to judge for (default: any zone)")
    where.add_argument("--line", type=bounded("line", LINE_MAX), metavar="L",
                       help=f"the line, 1..{LINE_MAX}")
    where.add_argument("--device", type=argument(parse_device), metavar="N",
                       help="the device number written into card logs (default: the number "
                            "the terminal's device name ends with, e.g. 'handheld 7' -> 7)")
    run = add_terminal_options(parser, once="check it",
                               repeat="a second check with nothing to write")
    run.add_argument("--clear-after", type=span("seconds", 3600, zero=False), metavar="SECONDS",
                     help="the app clears a check from the screen after this many seconds")
    parser.set_defaults(func=run_inspector)


def _position(args: argparse.Namespace) -> Position:
    from ekarta.terminal.engine import Position

    return Position(zone=args.zone, line=args.line)


def run_inspector(args: argparse.Namespace) -> int:
    if args.clear_after is not None and (args.once or args.number is not None):
        raise CLIError("--clear-after is the app's screen's; --once and --number print")
    check_terminal_args(args, what="inspector", once="checks a card")
    from ekarta.terminal.config import load_config
    from ekarta.terminal.inspect import Inspector

    config = load_config(args.directory)
    Inspector.check_config(config)
    if not (args.once or args.number is not None):
        return start_app(args, config.directory)
    with Inspector.from_config(config, position=_position(args),
                               **engine_options(args)) as inspector:
        outcome = one_outcome(args, inspector.check_number, inspector.check)
    if args.json:
        print_json(check_json(outcome, args.lang))
    else:
        print_check(outcome, args.lang)
    return outcome_exit(outcome)


def start_app(args: argparse.Namespace, directory: str) -> int:
    """Run the inspector's full-screen app until the service key ends it."""
    # Textual and the app load only when the screen is wanted, not for --once or --number
    app = importlib.import_module("ekarta.terminal.apps.inspector")
    options: dict[str, Any] = {}
    if args.clear_after is not None:
        options["clear_after"] = args.clear_after.total_seconds()
    result: int = app.run(directory=directory, reader=reader_url(args), scanner=args.scanner,
                          zone=args.zone, line=args.line, lang=args.lang, device=args.device,
                          repeat_window=args.repeat_window, stale_after=args.stale_after,
                          **options)
    return result


# --- the outcome ----------------------------------------------------------------------------------


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
