"""``ekarta coupon load``: write a signed coupon onto a transit card."""

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
    add_hotlist_option,
    add_keystore_option,
    add_reader_options,
    argument,
    enum_argument,
    load_hotlist,
    load_keystore,
    now,
    open_card,
    print_json,
    wrap,
)
from ekarta.desfire.client import DESFire
from ekarta.transit.cardio.loading import (
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
    enum_name,
    enum_names,
    parse_date,
    parse_when,
    parse_zones,
)
from ekarta.transit.model.rules import PurchaseRequest
from ekarta.transit.model.timecodec import local_date
from ekarta.transit.model.values import SERIAL_MAX, Coupon, CouponType, Profile, SaleChannel, Zones
from ekarta.transit.security.keystore import KeyProvider

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "coupon",
        help="load coupons onto transit cards",
        description="Load electronic zone coupons onto transit cards.",
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
            "log, in one transaction: the card takes both or neither.  Loading a serial the "
            "card already holds changes nothing.\n\n"
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
            "  ekarta coupon load ... --type dog --zones network --channel eshop-card\n\n"
            "coupon types: " + ", ".join(COUPON_TYPES) + "\n"
            "channels: " + ", ".join(enum_names(SaleChannel)) + "\n"
            "profiles: " + ", ".join(enum_names(Profile))),
        formatter_class=EXAMPLES_FORMATTER,
    )
    add_keystore_option(load)
    source = load.add_argument_group("the coupon")
    source.add_argument("--coupon", metavar="FILE",
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
                        help="the back office's serial number (default: a random one)")
    source.add_argument("--price", type=int, default=0, metavar="CZK", help="price in CZK")
    load.add_argument("--device", type=int, default=0, metavar="N",
                      help="this terminal's device number (written to the card's log)")
    load.add_argument("--at", type=argument(parse_when), metavar="DATETIME",
                      help="the time of the sale and the load (default now), Europe/Prague")
    add_hotlist_option(load)
    load.add_argument("--out", metavar="FILE",
                      help="also write the signed coupon to FILE as JSON")
    load.add_argument("--lang", choices=LANGUAGES, default="en", help="language of the messages")
    load.add_argument("--json", action="store_true", help="print one JSON document instead")
    add_reader_options(load, changes_card=True)
    load.set_defaults(func=run_load)


def _refused(exc: LoadRefused | PurchaseRefused, lang: str) -> CLIError:
    refusals = [exc.refusal] if isinstance(exc, LoadRefused) else list(exc.refusals)
    reasons = "; ".join(f"{enum_name(r.reason)}: {r.message(lang)}" for r in refusals)
    what = f"coupon {exc.serial}" if isinstance(exc, LoadRefused) else "purchase"
    return CLIError(f"{what} refused ({reasons})")


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
            raise _refused(exc, args.lang) from None
    coupon = result.signed.coupon
    if args.out:
        document = CouponDocument.of(result.signed, card_number=result.card_number,
                                     uid=result.uid)
        try:
            with open(args.out, "w", encoding="utf-8") as f:
                json.dump(document.to_json(), f, indent=2)
                f.write("\n")
        except OSError as exc:
            raise CLIError(f"cannot write {args.out}: {exc.strerror}") from None
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
