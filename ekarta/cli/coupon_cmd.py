"""``ekarta coupon load|cancel|replace``: write a signed coupon onto a transit card, take one off,
put another in its place."""

from __future__ import annotations

import argparse
import json
import logging
import secrets
import sys
from collections.abc import Iterable
from datetime import datetime

from ekarta.cli.common import (
    EXAMPLES_FORMATTER,
    CLIError,
    add_force_option,
    add_hotlist_option,
    add_keystore_option,
    add_operation_options,
    add_reader_options,
    argument,
    enum_argument,
    input_file,
    load_hotlist,
    load_keystore,
    now,
    open_card,
    output_file,
    print_json,
    wrap,
    write_output,
)
from ekarta.desfire.client import DESFire
from ekarta.transit.cardio.coupons import CouponChange, cancel_coupon, replace_coupon
from ekarta.transit.cardio.loading import (
    CouponRefused,
    CouponSource,
    LoadRefused,
    Purchase,
    PurchaseRefused,
    load_coupon,
    signing_for_card,
)
from ekarta.transit.codec.coupon_file import CouponDocument, read_coupon_file
from ekarta.transit.errors import InvalidField
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.messages import LANGUAGES, coupon_type_name, format_date, profile_name
from ekarta.transit.model.notation import (
    COUPON_TYPES,
    enum_names,
    parse_date,
    parse_serial,
    parse_when,
    parse_zones,
)
from ekarta.transit.model.rules import PurchaseRequest
from ekarta.transit.model.timecodec import local_date
from ekarta.transit.model.values import (
    SERIAL_MAX,
    Coupon,
    CouponType,
    Profile,
    SaleChannel,
    SignedCoupon,
    Zones,
)
from ekarta.transit.security.keystore import KeyProvider

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "coupon",
        help="load, cancel and replace coupons on transit cards",
        description="Load electronic zone coupons onto transit cards, cancel and replace them.",
        formatter_class=EXAMPLES_FORMATTER,
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", dest="coupon_command",
                                required=True)
    load = sub.add_parser(
        "load", parents=[common],
        help="write a signed coupon into a free slot of the card",
        description=wrap(
            "Write a coupon into a free slot of the card (an empty slot, else the slot of the "
            "coupon that ended longest ago), together with a 'load' record in the card's event "
            "log, in one transaction: the card takes both or neither.  Loading a coupon the "
            "card already holds changes nothing (a sale retried with its --serial finds it); a "
            "different coupon under a serial the card holds is refused "
            "(serial-held-by-other-coupon): 'ekarta coupon replace' replaces one.\n\n"
            "With --coupon FILE the coupon comes from a JSON file (the back office's sale); a "
            "file without a signature is signed with the keystore's signing key.  Otherwise "
            "the tool acts as the back office: it checks the purchase rules against the card "
            "(--type, --zones, --from...) and signs.  A refusal names the rule (reason code "
            "and message, --lang cs for Czech) and exits with status 1."),
        epilog=(
            "examples:\n"
            "  ekarta coupon load --reader emulator:card.json --keys keys.json \\\n"
            "      --type 30-day --zones 1,2,3 --from 2026-12-01 --serial 1001 --price 550\n"
            "  ekarta coupon load --reader emulator:card.json --keys keys.json "
            "--coupon sale.json\n"
            "  ekarta coupon load ... --type dog --zones network --channel eshop-card\n"
            "  ekarta coupon load ... --coupon sale.json --out receipt.json --force\n\n"
            "coupon types: " + ", ".join(COUPON_TYPES) + "\n"
            "channels: " + ", ".join(enum_names(SaleChannel)) + "\n"
            "profiles: " + ", ".join(enum_names(Profile))),
        formatter_class=EXAMPLES_FORMATTER,
    )
    add_keystore_option(load)
    source = load.add_argument_group("the coupon")
    source.add_argument("--coupon", metavar="FILE", type=input_file,
                        help="a JSON coupon file ('-' reads standard input)")
    source.add_argument("--type", dest="coupon_type", type=enum_argument(CouponType, "coupon type"),
                        metavar="TYPE", help="the coupon type to sell (see below)")
    source.add_argument("--zones", type=argument(parse_zones), metavar="ZONES",
                        help="tariff zones: 1,2,3 or 1-5 or network (more than 10: network)")
    source.add_argument("--from", dest="start", type=argument(parse_date), metavar="DATE",
                        help="first day of validity (default: the earliest possible, or the day "
                             "after the coupon it follows)")
    source.add_argument("--follows", type=int, metavar="SERIAL",
                        help="the valid coupon this one continues")
    source.add_argument("--channel", type=enum_argument(SaleChannel, "channel"), metavar="CHANNEL",
                        default=SaleChannel.TICKET_OFFICE,
                        help="where it is sold and paid (default ticket-office)")
    source.add_argument("--profile", type=enum_argument(Profile, "profile"), metavar="PROFILE",
                        help="the profile it is sold for (default: the card's on the first day)")
    source.add_argument("--serial", type=int, metavar="N",
                        help="the back office's serial number (default: a random one; give "
                             "it, so that retrying a sale finds the coupon already loaded)")
    source.add_argument("--price", type=int, default=0, metavar="CZK", help="price in CZK")
    load.add_argument("--device", type=int, default=0, metavar="N",
                      help="this terminal's device number (written to the card's log)")
    load.add_argument("--at", type=argument(parse_when), metavar="DATETIME",
                      help="the time of the sale and the load (default now), Europe/Prague")
    add_hotlist_option(load)
    load.add_argument("--out", metavar="FILE", type=output_file,
                      help="also write the signed coupon to FILE as JSON, once it is on the "
                           "card (a failed load writes nothing)")
    add_force_option(load, "the file of --out")
    load.add_argument("--lang", choices=LANGUAGES, default="en", help="language of the messages")
    load.add_argument("--json", action="store_true", help="print one JSON document instead")
    add_reader_options(load, changes_card=True)
    load.set_defaults(func=run_load)
    _register_cancel_replace(sub, common)


def _source(args: argparse.Namespace, keystore: KeyProvider, at: datetime,
            hotlist: Iterable[CardNumber]) -> CouponSource:
    """The coupon source for :func:`load_coupon`: a signed coupon, or a callable."""
    if args.coupon:
        if args.coupon_type or args.zones or args.start or args.follows:
            raise CLIError("give either --coupon FILE or --type/--zones, not both")
        document = (read_coupon_file("<stdin>", sys.stdin.buffer) if args.coupon == "-"
                    else read_coupon_file(args.coupon))
        signed = document.signed
        return signed if signed is not None else signing_for_card(keystore, document.coupon)
    if args.coupon_type is None or args.zones is None:
        raise CLIError("give --coupon FILE, or --type and --zones of the coupon to sell")
    serial = args.serial if args.serial is not None else 1 + secrets.randbelow(SERIAL_MAX)
    try:
        request = PurchaseRequest(args.coupon_type, args.zones, args.channel, start=args.start,
                                  follows=args.follows, profile=args.profile)
    except InvalidField as exc:
        raise CLIError(str(exc)) from None
    return Purchase(keystore, request, today=local_date(at), serial=serial, device=args.device,
                    price=args.price, hotlist=hotlist)


def _zones_text(zones: Zones) -> str:
    return "network" if zones.network else "zones " + ", ".join(map(str, zones.numbers))


def _validity_text(coupon: Coupon, lang: str) -> str:
    return f"{format_date(coupon.valid_from, lang)} – {format_date(coupon.valid_to, lang)}"


def run_load(args: argparse.Namespace) -> int:
    keystore = load_keystore(args)
    at = args.at or now()
    hotlist = load_hotlist(args)
    source = _source(args, keystore, at, hotlist)
    with open_card(args) as reader:
        try:
            result = load_coupon(DESFire(reader), keystore, source, at=at, device=args.device)
        except (LoadRefused, PurchaseRefused) as exc:
            raise CLIError(exc.message(args.lang)) from None
    coupon = result.signed.coupon
    if args.out:
        document = CouponDocument.of(result.signed, card_number=result.card_number,
                                     uid=result.uid)
        text = json.dumps(document.to_json(), indent=2) + "\n"
        write_output(args.out, text.encode("utf-8"), force=args.force)
    decision = source.decision if isinstance(source, Purchase) else None
    notes = list(decision.note_messages(args.lang)) if decision is not None else []
    if args.json:
        print_json({"card_number": str(result.card_number), "slot": result.slot,
                    "already_loaded": result.already_loaded,
                    "coupon": CouponDocument.of(result.signed).to_json(), "notes": notes})
        return 0
    number = result.card_number.formatted
    if result.already_loaded:
        print(f"coupon {result.serial} is already loaded on card {number} (slot {result.slot}): "
              "nothing changed")
    else:
        print(f"loaded coupon {result.serial} into slot {result.slot} of card {number}")
    print(f"  {coupon_type_name(coupon.coupon_type, args.lang)}, "
          f"{profile_name(coupon.profile, args.lang)}, {_zones_text(coupon.zones)}")
    print(f"  {_validity_text(coupon, args.lang)}")
    for note in notes:
        print(f"note: {note}")
    return 0


# --- cancel and replace ---------------------------------------------------------------------------

_CHANGE_EXAMPLES = """\
examples:
  ekarta coupon cancel 1001 --reader emulator:card.json --keys keys.json
  ekarta coupon replace 1001 --coupon resigned.json --reader emulator:card.json --keys keys.json
  ekarta coupon replace 1001 --coupon exchange-1002.json --reader emulator:card.json \\
      --keys keys.json --json"""


def _register_cancel_replace(sub: argparse._SubParsersAction,
                             common: argparse.ArgumentParser) -> None:
    cancel = sub.add_parser(
        "cancel", parents=[common],
        help="take a coupon off the card (with a record in its log)",
        description=wrap(
            "Take the coupon SERIAL off the card: its slot is emptied and a 'coupon-cancel' "
            "record with the serial is written to the card's event log, in one transaction.  "
            "Any card status (a blocked card's coupons are settled at a contact point).  Run "
            "again after a card pulled away too soon, it finds the cancel in the log and "
            "changes nothing; a serial the card neither holds nor logged as cancelled is "
            "refused (coupon-not-on-card)."),
        epilog=_CHANGE_EXAMPLES, formatter_class=EXAMPLES_FORMATTER)
    cancel.add_argument("serial", type=argument(parse_serial), metavar="SERIAL",
                        help="the serial of the coupon to cancel")
    add_operation_options(cancel)
    cancel.set_defaults(func=run_cancel)
    replace = sub.add_parser(
        "replace", parents=[common],
        help="put a coupon in place of the one with a given serial",
        description=wrap(
            "Put the coupon of --coupon FILE in place of the coupon SERIAL on the card, with a "
            "'coupon-replace' record (serial SERIAL: the replaced one) in the card's log, in one "
            "transaction.  The new coupon is SERIAL re-signed for this card (a new signing key, "
            "a correction) or a coupon under a new serial that takes the old one's place (an "
            "exchange); it must be valid for the card as for a load, and a new serial must not "
            "be on the card already.  A file without a signature is signed with the "
            "keystore's signing key.  Loading never replaces a coupon: this is the only way.  "
            "To move coupons onto a replacement card, load them there."),
        epilog=_CHANGE_EXAMPLES, formatter_class=EXAMPLES_FORMATTER)
    replace.add_argument("serial", type=argument(parse_serial), metavar="SERIAL",
                         help="the serial of the coupon on the card to replace")
    replace.add_argument("--coupon", metavar="FILE", required=True, type=input_file,
                         help="the new coupon, a JSON coupon file")
    add_operation_options(replace)
    replace.set_defaults(func=run_replace)


def _change_json(change: CouponChange) -> dict[str, object]:
    def document(signed: SignedCoupon | None) -> object:
        return CouponDocument.of(signed).to_json() if signed is not None else None

    return {"card_number": str(change.card_number), "serial": change.serial,
            "slot": change.slot, "already_done": change.already_done,
            "removed": document(change.removed), "coupon": document(change.signed)}


def run_cancel(args: argparse.Namespace) -> int:
    keystore = load_keystore(args)
    at = args.at or now()
    with open_card(args) as reader:
        try:
            change = cancel_coupon(DESFire(reader), keystore, args.serial, at=at,
                                   device=args.device)
        except CouponRefused as exc:
            raise CLIError(exc.message(args.lang)) from None
    if args.json:
        print_json(_change_json(change))
        return 0
    number = change.card_number.formatted
    if change.already_done:
        print(f"coupon {change.serial} is cancelled on card {number} already: nothing changed")
        return 0
    print(f"cancelled coupon {change.serial}: slot {change.slot} of card {number} is empty")
    if change.removed is not None:
        _print_coupon(change.removed.coupon, args.lang)
    return 0


def run_replace(args: argparse.Namespace) -> int:
    keystore = load_keystore(args)
    at = args.at or now()
    document = read_coupon_file(args.coupon)
    signed = document.signed
    source = signed if signed is not None else signing_for_card(keystore, document.coupon)
    with open_card(args) as reader:
        try:
            change = replace_coupon(DESFire(reader), keystore, args.serial, source, at=at,
                                    device=args.device)
        except CouponRefused as exc:
            raise CLIError(exc.message(args.lang)) from None
    if args.json:
        print_json(_change_json(change))
        return 0
    number = change.card_number.formatted
    assert change.signed is not None  # a replace always names the coupon put in
    new = change.signed.serial
    if change.already_done:
        print(f"coupon {new} is in place of {change.serial} on card {number} already "
              f"(slot {change.slot}): nothing changed")
    else:
        print(f"replaced coupon {change.serial} by {new} in slot {change.slot} of card {number}")
    _print_coupon(change.signed.coupon, args.lang)
    return 0


def _print_coupon(coupon: Coupon, lang: str) -> None:
    print(f"  {coupon_type_name(coupon.coupon_type, lang)}, "
          f"{profile_name(coupon.profile, lang)}, {_zones_text(coupon.zones)}")
    print(f"  {_validity_text(coupon, lang)}")
