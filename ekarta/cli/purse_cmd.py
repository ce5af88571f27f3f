"""``ekarta purse show|credit|debit|refund``: the e-purse of a transit card at a ticket office."""

from __future__ import annotations

import argparse
import logging
from typing import Any

from ekarta.cli.common import (
    EXAMPLES_FORMATTER,
    CLIError,
    add_keystore_option,
    add_operation_options,
    add_reader_options,
    argument,
    load_keystore,
    now,
    open_card,
    print_json,
    wrap,
)
from ekarta.desfire.client import DESFire
from ekarta.transit.cardio.purse import (
    PurseRefused,
    PurseResult,
    credit_purse,
    debit_purse,
    refund_purse,
)
from ekarta.transit.cardio.reading import read_card
from ekarta.transit.codec.layout import PURSE_UPPER_LIMIT
from ekarta.transit.errors import InvalidText
from ekarta.transit.model.messages import LANGUAGES, format_amount
from ekarta.transit.model.notation import (
    parse_amount,
    parse_serial,
)
from ekarta.transit.model.purse import PURSE_KINDS
from ekarta.transit.model.values import EventKind, EventRecord

log = logging.getLogger(__name__)

_TEXTS: dict[str, tuple[str, str]] = {
    "credit": ("credited {amount} to the e-purse of card {card} (operation {serial})",
               "připsáno {amount} do elektronické peněženky e-karty {card} (operace {serial})"),
    "debit": ("debited {amount} from the e-purse of card {card} (operation {serial})",
              "odečteno {amount} z elektronické peněženky e-karty {card} (operace {serial})"),
    "refund": ("paid back {amount}: the e-purse of card {card} is empty (operation {serial})",
               "vráceno {amount}: elektronická peněženka e-karty {card} je prázdná "
               "(operace {serial})"),
    "done": ("operation {serial} ({what}) is already on card {card}: nothing changed",
             "operace {serial} ({what}) již na e-kartě {card} je: nic se nezměnilo"),
    "balance": ("  balance {before} -> {after}", "  zůstatek {before} -> {after}"),
    "balance_now": ("  balance {after}", "  zůstatek {after}"),
    "pay": ("  pay the holder {amount}", "  vyplaťte držiteli {amount}"),
    "show": ("e-purse of card {card}: {balance}", "elektronická peněženka e-karty {card}: "
             "{balance}"),
    "events": ("  purse operations in the card's log (newest first):",
               "  operace s peněženkou v záznamu e-karty (od nejnovější):"),
    "no_events": ("  no purse operation in the card's log",
                  "  v záznamu e-karty není žádná operace s peněženkou"),
}

_OPERATIONS = {"credit": EventKind.PURSE_CREDIT, "debit": EventKind.PURSE_DEBIT,
               "refund": EventKind.PURSE_REFUND}
_NAMES = {kind: name for name, kind in _OPERATIONS.items()}


_OPERATION_NAMES = {"credit": ("credit", "dobití"), "debit": ("debit", "odečet"),
                    "refund": ("refund", "vrácení zůstatku")}


def _text(key: str, lang: str, **values: object) -> str:
    return _TEXTS[key][LANGUAGES.index(lang)].format(**values)


def _amount(text: str) -> int:
    try:
        amount = parse_amount(text)
    except InvalidText as exc:
        raise CLIError(str(exc)) from None
    if amount > PURSE_UPPER_LIMIT:
        raise CLIError(f"an amount is at most {format_amount(PURSE_UPPER_LIMIT)} (the e-purse's "
                       f"limit), not {text!r}")
    return amount


def _given(amount: int | None) -> int:
    assert amount is not None  # credit and debit take AMOUNT
    return amount


_EXAMPLES = """\
examples:
  ekarta purse show --reader emulator:card.json --keys keys.json
  ekarta purse credit 150.50 --serial 2001 --reader emulator:card.json --keys keys.json
  ekarta purse debit 24 --serial 2002 --reader emulator:card.json --keys keys.json
  ekarta purse refund --serial 2003 --reader emulator:card.json --keys keys.json --json"""

_SERIAL_HELP = (
    "the back office's number of this operation (the receipt's), 1..4294967295: it is written "
    "to the card's log, and the same operation retried with it (after a card pulled away too "
    "soon) is found done and not repeated")


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "purse",
        help="show, credit, debit or pay back a card's e-purse",
        description=wrap(
            "The e-purse of a transit card: up to "
            f"{format_amount(PURSE_UPPER_LIMIT)}, amounts in CZK with up to 2 decimals.  Each "
            "change is one transaction with a record in the card's event log: the card takes "
            "both or neither.  A refusal names the rule (reason code and message, --lang cs "
            "for Czech) and exits with status 1."),
        epilog=_EXAMPLES,
        formatter_class=EXAMPLES_FORMATTER,
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", dest="purse_command",
                                required=True)
    show = sub.add_parser(
        "show", parents=[common], help="the balance and the purse operations in the card's log",
        description=wrap("Show the e-purse's balance and the purse operations the card's event "
                         "log still holds."),
        epilog=_EXAMPLES, formatter_class=EXAMPLES_FORMATTER)
    add_keystore_option(show)
    show.add_argument("--lang", choices=LANGUAGES, default="en", help="language of the output")
    show.add_argument("--json", action="store_true", help="print one JSON document instead")
    add_reader_options(show)
    show.set_defaults(func=run_show)
    helps = {
        "credit": ("add money to the e-purse (a top-up)",
                   "Add AMOUNT CZK to the e-purse (with the card's load key).  Refused on a "
                   "blocked, inactive or expired card and above the purse's limit."),
        "debit": ("take money from the e-purse",
                  "Take AMOUNT CZK from the e-purse (with the card's validation key, as a "
                  "validator would).  Refused on a blocked, inactive or expired card and "
                  "beyond the balance."),
        "refund": ("pay back the whole balance and leave the e-purse at 0",
                   "Pay back the whole balance: the e-purse is left at 0 and the amount to pay "
                   "the holder is shown.  Any card status (the balance of a blocked or expired "
                   "card is what a refund settles)."),
    }
    for name, (short, text) in helps.items():
        command = sub.add_parser(name, parents=[common], help=short,
                                 description=wrap(text + "\n\nThe log record keeps the "
                                                  "operation's --serial; run again with the "
                                                  "same serial, the operation is found done."),
                                 epilog=_EXAMPLES, formatter_class=EXAMPLES_FORMATTER)
        if name != "refund":
            command.add_argument("amount", metavar="AMOUNT",
                                 help="CZK, with up to 2 decimals: 150 or 150.50")
        command.add_argument("--serial", type=argument(parse_serial), required=True,
                             metavar="N", help=_SERIAL_HELP)
        add_operation_options(command)
        command.set_defaults(func=run_operation, operation=name)


def _result_json(result: PurseResult) -> dict[str, Any]:
    return {"card_number": str(result.card_number), "operation": _NAMES[result.kind],
            "serial": result.serial, "already_done": result.already_done,
            "amount_haler": result.amount, "balance_before_haler": result.balance_before,
            "balance_haler": result.balance}


def run_operation(args: argparse.Namespace) -> int:
    amount = _amount(args.amount) if args.operation != "refund" else None
    keystore = load_keystore(args)
    at = args.at or now()
    with open_card(args) as reader:
        desfire = DESFire(reader)
        options = {"serial": args.serial, "at": at, "device": args.device}
        try:
            if args.operation == "credit":
                result = credit_purse(desfire, keystore, _given(amount), **options)
            elif args.operation == "debit":
                result = debit_purse(desfire, keystore, _given(amount), **options)
            else:
                result = refund_purse(desfire, keystore, **options)
        except PurseRefused as exc:
            raise CLIError(exc.message(args.lang)) from None
    if args.json:
        print_json(_result_json(result))
        return 0
    lang = args.lang
    card = result.card_number.formatted
    after = format_amount(result.balance, lang)
    if result.already_done:
        what = _OPERATION_NAMES[args.operation][LANGUAGES.index(lang)]
        print(_text("done", lang, serial=result.serial, what=what, card=card))
        print(_text("balance_now", lang, after=after))
        return 0
    moved = format_amount(result.amount, lang)
    print(_text(args.operation, lang, amount=moved, card=card, serial=result.serial))
    print(_text("balance", lang, before=format_amount(result.balance_before, lang), after=after))
    if result.kind is EventKind.PURSE_REFUND:
        print(_text("pay", lang, amount=moved))
    return 0


def _event_json(event: EventRecord) -> dict[str, Any]:
    return {"sequence": event.sequence, "at": event.local_time.isoformat(timespec="minutes"),
            "operation": _NAMES[event.kind], "serial": event.coupon_serial,
            "device": event.device}


def run_show(args: argparse.Namespace) -> int:
    keystore = load_keystore(args)
    with open_card(args) as reader:
        image = read_card(DESFire(reader), keystore)
    assert image.purse is not None  # read_card reads the purse unless told not to
    events = sorted((e for e in image.events
                     if isinstance(e, EventRecord) and e.kind in PURSE_KINDS),
                    key=lambda e: e.sequence, reverse=True)
    if args.json:
        print_json({"card_number": str(image.record.card_number), "balance_haler": image.purse,
                    "events": [_event_json(e) for e in events]})
        return 0
    lang = args.lang
    print(_text("show", lang, card=image.record.card_number.formatted,
                balance=format_amount(image.purse, lang)))
    print(_text("events" if events else "no_events", lang))
    for event in events:
        print(f"    {event.local_time.strftime('%Y-%m-%d %H:%M')}  "
              f"{_NAMES[event.kind]:<6}  {event.coupon_serial}  device {event.device}")
    return 0
