"""``ekarta office coupon|purse|purge|journal``: selling coupons and looking after them, topping
up purses, the purge of holders' data and the terminals' journal (registered by
:mod:`ekarta.cli.office_cmd`)."""

from __future__ import annotations

import argparse
from typing import Any

from ekarta.cli.common import (
    EXAMPLES_FORMATTER,
    add_keystore_option,
    argument,
    enum_argument,
    load_keystore,
    print_json,
    print_table,
    wrap,
)
from ekarta.cli.office_support import (
    add_database_options,
    clock,
    coupon_json,
    engine_of,
    money,
)
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.notation import (
    COUPON_TYPES,
    enum_name,
    parse_amount,
    parse_date,
    parse_serial,
    parse_when,
    parse_zones,
)
from ekarta.transit.model.values import Profile, SaleChannel

NUMBER = argument(CardNumber.parse)
SERIAL = argument(parse_serial)
COUPON_STATES = ("pending", "written", "cancelled", "refunded")
JOURNAL_KINDS = ("validation", "inspection", "load", "purse-credit", "profile-update",
                 "blocking", "kiosk-view", "refusal")


def _parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser, name: str,
            help_: str, description: str, func: Any, examples: str, *, clock_: bool = True,
            lang: bool = True) -> argparse.ArgumentParser:
    parser = sub.add_parser(name, parents=[common], help=help_, description=wrap(description),
                            epilog="examples:\n" + examples, formatter_class=EXAMPLES_FORMATTER)
    add_database_options(parser, clock=clock_, lang=lang)
    parser.set_defaults(func=func)
    return parser


def register_sales(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    coupon = sub.add_parser(
        "coupon", help="sell coupons and look after them",
        description=wrap(
            "Coupons sold by the office are checked by the tariff rules against every coupon "
            "the office knows for the card, signed for the card, and loaded onto it by the "
            "next inspector or kiosk that meets it."),
        formatter_class=EXAMPLES_FORMATTER)
    coupons = coupon.add_subparsers(title="commands", metavar="COMMAND", dest="coupon_command",
                                    required=True)
    sell = _parser(
        coupons, common, "sell", "sell a coupon for a card",
        "Sell a coupon: refused with the rules' reason codes as at a terminal (at most four "
        "valid coupons, counting those not yet on the card; a bank transfer starts 5 days "
        "after the sale at the earliest...).  Paid at once, and queued for loading, unless "
        "--channel eshop-bank-transfer: then it waits for 'coupon pay' and is cancelled after "
        "3 days unpaid.",
        run_sell, "  ekarta office coupon sell 0000000013 --type 30-day --zones 1,2 --keys "
        "keys.json\n  ekarta office coupon sell 0000000013 --type yearly --zones network \\\n"
        "      --channel eshop-bank-transfer --keys keys.json --json")
    sell.add_argument("number", metavar="CARD", type=NUMBER, help="the card number")
    sell.add_argument("--type", dest="coupon_type", required=True, choices=tuple(COUPON_TYPES))
    sell.add_argument("--zones", required=True, type=argument(parse_zones), metavar="ZONES",
                      help="zones (1,2,5-7) or network")
    sell.add_argument("--channel", type=enum_argument(SaleChannel, "channel"),
                      default=SaleChannel.ESHOP_CARD, metavar="CHANNEL",
                      help="how it is sold and paid (default eshop-card; eshop-bank-transfer, "
                           "ticket-office...)")
    sell.add_argument("--start", type=argument(parse_date), metavar="DATE",
                      help="first day (default: the earliest the payment allows)")
    sell.add_argument("--follows", type=SERIAL, metavar="SERIAL",
                      help="the valid coupon this one continues")
    sell.add_argument("--profile", type=enum_argument(Profile, "profile"), metavar="PROFILE")
    sell.add_argument("--price", type=argument(parse_amount), metavar="CZK", default=0,
                      help="the price in whole CZK")
    add_keystore_option(sell)

    for name, help_, description, func in (
            ("pay", "record a bank transfer's payment",
             "The payment of a bank-transfer order arrived: the coupon is paid and queued for "
             "loading.", run_pay),
            ("cancel", "cancel a coupon not yet on the card",
             "Cancel a pending coupon (an order withdrawn): its load is withdrawn.", run_cancel),
            ("refund", "refund a paid coupon",
             "Refund a paid coupon that has not ended: it leaves the entitlements and a pending "
             "load is withdrawn.  A coupon already written is taken off the card at the counter "
             "(ekarta coupon cancel).", run_refund)):
        parser = _parser(coupons, common, name, help_, description, func,
                         f"  ekarta office coupon {name} 17")
        parser.add_argument("serial", metavar="SERIAL", type=SERIAL)

    listing = _parser(coupons, common, "list", "list the coupons", "List the office's "
                      "coupons by serial, of one card or in one state.", run_coupon_list,
                      "  ekarta office coupon list --card 0000000013 --json", clock_=False,
                      lang=False)
    listing.add_argument("--card", type=NUMBER, metavar="CARD")
    listing.add_argument("--state", choices=COUPON_STATES)

    purse = sub.add_parser("purse", help="the cards' e-purses",
                           formatter_class=EXAMPLES_FORMATTER)
    purses = purse.add_subparsers(title="commands", metavar="COMMAND", dest="purse_command",
                                  required=True)
    top_up = _parser(purses, common, "top-up", "credit a card's purse",
                     "Queue a credit of AMOUNT CZK for the next terminal that meets the card; "
                     "the office records the balance.", run_top_up,
                     "  ekarta office purse top-up 0000000013 200")
    top_up.add_argument("number", metavar="CARD", type=NUMBER)
    top_up.add_argument("amount", metavar="AMOUNT", type=argument(parse_amount),
                        help="CZK, up to 2 decimals")

    _parser(sub, common, "purge", "delete holders' data 90 days after the application",
            "Delete the personal data of every holder whose application is more than 90 days "
            "old (the cards keep their number, profile and validity) and record how many.  "
            "'office serve' runs it daily with the rest of the office's daily work.", run_purge,
            "  ekarta office purge\n  ekarta office purge --at 2027-03-02 --json", lang=False)

    journal = _parser(sub, common, "journal", "list what the terminals reported",
                      "List the journal's events (validations, inspections, loads, kiosk "
                      "views, refusals), oldest first.", run_journal,
                      "  ekarta office journal --card 0000000013\n"
                      "  ekarta office journal --kind refusal --since 2026-12-01 --json",
                      clock_=False, lang=False)
    journal.add_argument("--card", type=NUMBER, metavar="CARD")
    journal.add_argument("--kind", choices=JOURNAL_KINDS)
    journal.add_argument("--device", metavar="NAME")
    journal.add_argument("--since", type=argument(parse_when), metavar="DATETIME")
    journal.add_argument("--until", type=argument(parse_when), metavar="DATETIME")
    journal.add_argument("--limit", type=int, default=1000, metavar="N")


def _coupon_line(c: Any) -> str:
    return (f"coupon {c.serial} ({enum_name(c.coupon.coupon_type)}, zones {c.coupon.zones}, "
            f"{c.coupon.valid_from}..{c.coupon.valid_to}) for card {c.card_number.formatted}: "
            f"{c.state}{'' if c.paid else ', awaiting payment'}")


def run_sell(args: argparse.Namespace) -> int:
    from ekarta.backoffice.coupons import sell
    from ekarta.transit.model.rules import PurchaseRequest

    keystore = load_keystore(args)
    request = PurchaseRequest(COUPON_TYPES[args.coupon_type], args.zones, args.channel,
                              start=args.start, follows=args.follows, profile=args.profile)
    with engine_of(args) as engine:
        sale = sell(engine, args.number, request, keystore.signer(), now=clock(args),
                    price=args.price // 100)
    notes = sale.notes_cs if args.lang == "cs" else sale.notes_en
    if args.json:
        print_json({**coupon_json(sale.coupon), "notes": list(notes)})
    else:
        print(_coupon_line(sale.coupon))
        for note in notes:
            print(f"  note: {note}")
    return 0


def _closing(args: argparse.Namespace, operation: Any) -> int:
    with engine_of(args) as engine:
        info = operation(engine, args.serial, now=clock(args))
    if args.json:
        print_json(coupon_json(info))
    else:
        print(_coupon_line(info))
    return 0


def run_pay(args: argparse.Namespace) -> int:
    from ekarta.backoffice.coupons import pay

    return _closing(args, pay)


def run_cancel(args: argparse.Namespace) -> int:
    from ekarta.backoffice.coupons import cancel

    return _closing(args, cancel)


def run_refund(args: argparse.Namespace) -> int:
    from ekarta.backoffice.coupons import refund

    return _closing(args, refund)


def run_coupon_list(args: argparse.Namespace) -> int:
    from ekarta.backoffice.coupons import list_coupons

    with engine_of(args) as engine:
        found = list_coupons(engine, number=args.card, state=args.state)
    if args.json:
        print_json([coupon_json(c) for c in found])
    elif not found:
        print("no coupons")
    else:
        print_table([["SERIAL", "CARD", "TYPE", "ZONES", "FROM", "TO", "STATE"]] + [
            [str(c.serial), c.card_number.digits, enum_name(c.coupon.coupon_type),
             str(c.coupon.zones), str(c.coupon.valid_from), str(c.coupon.valid_to),
             c.state + ("" if c.paid else " (unpaid)")] for c in found], indent=0)
    return 0


def run_top_up(args: argparse.Namespace) -> int:
    from ekarta.backoffice.purse import top_up

    with engine_of(args) as engine:
        result = top_up(engine, args.number, args.amount, now=clock(args))
    if args.json:
        print_json({"card_number": result.card_number.digits, "serial": result.serial,
                    "amount": result.amount, "balance": result.balance,
                    "action": result.action_id})
    else:
        print(f"{money(result.amount)} queued for card {result.card_number.formatted} "
              f"(operation {result.serial}); balance {money(result.balance)}")
    return 0


def run_purge(args: argparse.Namespace) -> int:
    from ekarta.backoffice.purge import purge

    with engine_of(args) as engine:
        result = purge(engine, now=clock(args))
    if args.json:
        print_json({"at": result.at.isoformat(timespec="seconds"), "holders": result.holders})
    else:
        print(f"purged the data of {result.holders} holders")
    return 0


def run_journal(args: argparse.Namespace) -> int:
    from ekarta.backoffice.journal_listing import JournalFilter, list_journal

    where = JournalFilter(args.card, args.kind, args.device, args.since, args.until,
                          max(1, args.limit))
    with engine_of(args) as engine:
        lines = list_journal(engine, where)
    if args.json:
        print_json([{"event_id": e.event_id, "device": e.device, "kind": e.kind,
                     "at": e.at.isoformat(timespec="seconds"),
                     "received_at": e.received_at.isoformat(timespec="seconds"),
                     "card_number": None if e.card_number is None else e.card_number.digits,
                     "result": e.result, "line": e.line, "vehicle": e.vehicle, "zone": e.zone,
                     "coupon_serial": e.coupon_serial, "action_id": e.action_id,
                     "amount": e.amount, "note": e.note} for e in lines])
    elif not lines:
        print("no journal events")
    else:
        print_table([["AT", "DEVICE", "KIND", "CARD", "RESULT", "SERIAL"]] + [
            [f"{e.at:%Y-%m-%d %H:%M}", e.device, e.kind,
             "-" if e.card_number is None else e.card_number.digits, str(e.result),
             "-" if e.coupon_serial is None else str(e.coupon_serial)] for e in lines],
            indent=0)
    return 0
