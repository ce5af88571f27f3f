"""``ekarta card-number``: check card numbers (``check``) and compute a check digit
(``complete``)."""

from __future__ import annotations

import argparse
from typing import Any

from ekarta.cli.common import EXAMPLES_FORMATTER, print_json, wrap
from ekarta.transit.errors import InvalidCardNumber, shown
from ekarta.transit.model.card_number import SERIAL_DIGITS, CardNumber


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "card-number",
        help="check card numbers (IDK) and compute their check digit",
        description=wrap(
            "The card number (IDK) printed on a card is 9 serial digits and a Damm check digit, "
            "which catches every single wrong digit and every swap of two neighbouring digits "
            "(docs/card-number.md)."),
        epilog=(
            "examples:\n"
            "  ekarta card-number check 1234567894 '123 456 789 4'\n"
            "  ekarta card-number complete 123456789\n"
            "  ekarta card-number check --json 1234567895"),
        formatter_class=EXAMPLES_FORMATTER,
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", dest="number_command",
                                required=True)
    check = sub.add_parser(
        "check", parents=[common],
        help="check card numbers",
        description=wrap(
            "Check each NUMBER: 10 digits whose check digit is right; spaces and dashes "
            "between the digits are allowed.  Prints each number and what is wrong with it; "
            "exit status 1 when any number is bad."),
        epilog=(
            "examples:\n"
            "  ekarta card-number check 1234567894\n"
            "  ekarta card-number check 123-456-789-4 1234567895 --json"),
        formatter_class=EXAMPLES_FORMATTER,
    )
    check.add_argument("numbers", metavar="NUMBER", nargs="+", help="a card number")
    check.add_argument("--json", action="store_true", help="print one JSON document instead")
    check.set_defaults(func=run_check)

    complete = sub.add_parser(
        "complete", parents=[common],
        help="add the check digit to 9 serial digits",
        description=wrap(
            f"Compute the check digit of a card number's {SERIAL_DIGITS} serial digits and "
            "print the whole number (spaces and dashes between the digits are allowed)."),
        epilog=(
            "examples:\n"
            "  ekarta card-number complete 123456789\n"
            "  ekarta card-number complete '000 000 001' --json"),
        formatter_class=EXAMPLES_FORMATTER,
    )
    complete.add_argument("digits", metavar="DIGITS", help=f"the {SERIAL_DIGITS} serial digits")
    complete.add_argument("--json", action="store_true", help="print one JSON document instead")
    complete.set_defaults(func=run_complete)


def _check(text: str) -> dict[str, Any]:
    try:
        number = CardNumber.parse(text)
    except InvalidCardNumber as exc:
        return {"input": text, "valid": False, "error": str(exc)}
    return {"input": text, "valid": True, "card_number": number.digits,
            "formatted": number.formatted}


def run_check(args: argparse.Namespace) -> int:
    results = [_check(text) for text in args.numbers]
    if args.json:
        print_json({"valid": all(r["valid"] for r in results), "numbers": results})
    else:
        for result in results:
            if result["valid"]:
                print(f"{result['formatted']}  valid")
            else:
                print(f"{shown(result['input'])}  BAD: {result['error']}")
    return 0 if all(r["valid"] for r in results) else 1


def _serial(text: str) -> int:
    """The serial of ``text``: 9 digits, spaces and dashes allowed between them."""
    stripped = text.strip()
    wrong = next((ch for ch in stripped if ch not in "0123456789 -"), None)
    if wrong is not None:
        raise InvalidCardNumber(f"serial digits contain {shown(wrong)}: {shown(text)}")
    if not stripped or not (stripped[0].isdigit() and stripped[-1].isdigit()):
        raise InvalidCardNumber(f"serial digits must start and end with a digit: {shown(text)}")
    digits = stripped.replace(" ", "").replace("-", "")
    if len(digits) != SERIAL_DIGITS:
        raise InvalidCardNumber(f"a card number has {SERIAL_DIGITS} serial digits before its "
                                f"check digit, got {len(digits)} in {shown(text)}")
    return int(digits)


def run_complete(args: argparse.Namespace) -> int:
    number = CardNumber.from_serial(_serial(args.digits))
    if args.json:
        print_json({"serial": number.digits[:SERIAL_DIGITS], "card_number": number.digits,
                    "check_digit": number.check_digit, "formatted": number.formatted})
    else:
        print(number.formatted)
    return 0
