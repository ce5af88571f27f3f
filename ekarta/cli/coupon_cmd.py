"""``ekarta coupon load``: write a signed coupon onto a transit card.

Also the coupon vocabulary the card commands share: names of coupon types, profiles and sale
channels on the command line, ISO dates and times read in Europe/Prague, the coupon JSON file,
the hotlist file.
"""

from __future__ import annotations

import argparse
import json
import logging
import secrets
from collections.abc import Iterable
from datetime import date, datetime
from enum import IntEnum
from typing import Any, TypeVar

from ekarta.cli.common import (
    EXAMPLES_FORMATTER,
    CLIError,
    add_reader_options,
    open_card,
    print_json,
    wrap,
)
from ekarta.cli.keys_cmd import add_keystore_option, load_keystore
from ekarta.transit.cardio.loading import (
    LoadRefused,
    Purchase,
    PurchaseRefused,
    load_coupon,
    reason_code,
)
from ekarta.transit.codec.records import SIGNATURE_SIZE
from ekarta.transit.errors import InvalidCardNumber, InvalidField
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.messages import COUPON_TYPE_NAMES, PROFILE_NAMES, format_date
from ekarta.transit.model.rules import PurchaseRequest
from ekarta.transit.model.timecodec import PRAGUE, local_date
from ekarta.transit.model.values import (
    NETWORK,
    SERIAL_MAX,
    Coupon,
    CouponType,
    Profile,
    SaleChannel,
    SignedCoupon,
    Zones,
)

log = logging.getLogger(__name__)

E = TypeVar("E", bound=IntEnum)

LANGS = ("en", "cs")
MAX_COUPON_FILE = 64 * 1024
MAX_HOTLIST_FILE = 64 * 1024 * 1024

COUPON_TYPES: dict[str, CouponType] = {
    "30-day": CouponType.DAYS_30,
    "90-day": CouponType.DAYS_90,
    "yearly": CouponType.YEARLY,
    "dog": CouponType.DOG_30,
    "transferable-30-day": CouponType.TRANSFERABLE_30,
    "transferable-90-day": CouponType.TRANSFERABLE_90,
    "transferable-yearly": CouponType.TRANSFERABLE_YEARLY,
}


def enum_name(value: IntEnum) -> str:
    """The command-line name of an enum member: ``ADULT_NON_TRANSFERABLE`` ->
    ``adult-non-transferable`` (coupon types have their own names, see :data:`COUPON_TYPES`)."""
    if isinstance(value, CouponType):
        return next(name for name, member in COUPON_TYPES.items() if member is value)
    return value.name.lower().replace("_", "-")


def _names(enum: type[E]) -> dict[str, E]:
    if enum is CouponType:
        return dict(COUPON_TYPES)  # type: ignore[arg-type]
    return {enum_name(member): member for member in enum}


def parse_enum(enum: type[E], text: str, what: str) -> E:
    names = _names(enum)
    member = names.get(text.strip().lower()) if isinstance(text, str) else None
    if member is None:
        raise CLIError(f"{what} must be one of {', '.join(names)}, not {text!r}")
    return member


def enum_type(enum: type[E], what: str):
    def convert(text: str) -> E:
        try:
            return parse_enum(enum, text, what)
        except CLIError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = what
    return convert


def type_name(value: CouponType, lang: str) -> str:
    return COUPON_TYPE_NAMES[value][LANGS.index(lang)]


def profile_name(value: Profile, lang: str) -> str:
    return PROFILE_NAMES[value][LANGS.index(lang)]


# --- dates and times ------------------------------------------------------------------------------


def parse_date(text: str) -> date:
    """An ISO date, ``2026-12-01``."""
    try:
        return date.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {text!r}") from None


def parse_when(text: str) -> datetime:
    """An ISO date or date-time (``2026-12-01``, ``2026-12-01T08:30``), in Europe/Prague unless
    it carries its own UTC offset; a date alone is its midnight."""
    try:
        value = datetime.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise argparse.ArgumentTypeError(
            f"not an ISO date or date-time (2026-12-01, 2026-12-01T08:30): {text!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=PRAGUE)
    return value


def now() -> datetime:
    return datetime.now(PRAGUE)


def when_text(at: datetime) -> str:
    return at.astimezone(PRAGUE).strftime("%Y-%m-%d %H:%M")


def parse_zones(text: str) -> Zones | tuple[int, ...]:
    """``1,2,3``, ranges ``1-11``, or ``network``."""
    text = text.strip().lower()
    if text == "network":
        return NETWORK
    numbers: set[int] = set()
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            low, _, high = part.partition("-")
            first, last = int(low), int(high or low)
            if last < first or last - first > 1023:
                raise ValueError
            numbers.update(range(first, last + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"zones must be numbers and ranges (1,2,5-7) or 'network', not {text!r}") from None
    if not numbers:
        raise argparse.ArgumentTypeError("no zone given")
    return tuple(sorted(numbers))


def zones_text(zones: Zones) -> str:
    return "network" if zones.network else "zones " + ", ".join(map(str, zones.numbers))


def validity_text(coupon: Coupon, lang: str) -> str:
    return f"{format_date(coupon.valid_from, lang)} – {format_date(coupon.valid_to, lang)}"


# --- the coupon file ------------------------------------------------------------------------------

_COUPON_FIELDS = {"serial", "type", "profile", "zones", "valid_from", "valid_to", "sale_date",
                  "channel", "device", "price", "signature", "card_number", "uid"}


def coupon_document(signed: SignedCoupon | Coupon, *, card_number: CardNumber | None = None,
                    uid: bytes | None = None) -> dict[str, Any]:
    """A coupon as the JSON that ``coupon load --coupon FILE`` reads."""
    coupon = signed.coupon if isinstance(signed, SignedCoupon) else signed
    doc: dict[str, Any] = {
        "serial": coupon.serial,
        "type": enum_name(coupon.coupon_type),
        "profile": enum_name(coupon.profile),
        "zones": "network" if coupon.zones.network else list(coupon.zones.numbers),
        "valid_from": coupon.valid_from.isoformat(),
        "valid_to": coupon.valid_to.isoformat(),
        "sale_date": coupon.sale_date.isoformat(),
        "channel": enum_name(coupon.channel),
        "device": coupon.device,
        "price": coupon.price,
    }
    if isinstance(signed, SignedCoupon):
        doc["signature"] = signed.signature.hex()
    if card_number is not None:
        doc["card_number"] = str(card_number)
    if uid is not None:
        doc["uid"] = uid.hex().upper()
    return doc


def _field(doc: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = doc.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise CLIError(f"coupon file: {name} is missing or of the wrong type")
    return value


def coupon_from_document(doc: object) -> tuple[Coupon, bytes | None]:
    """The coupon (and its signature, if the file has one) of a parsed coupon file."""
    if not isinstance(doc, dict):
        raise CLIError("coupon file: expected a JSON object")
    unknown = set(doc) - _COUPON_FIELDS
    if unknown:
        raise CLIError(f"coupon file: unknown fields {', '.join(sorted(map(str, unknown)))}")
    zones_value = doc.get("zones")
    try:
        if zones_value == "network":
            zones = NETWORK
        elif isinstance(zones_value, list) and all(
                isinstance(z, int) and not isinstance(z, bool) for z in zones_value):
            zones = Zones(tuple(zones_value))
        else:
            raise CLIError("coupon file: zones must be a list of zone numbers or \"network\"")

        def day(name: str) -> date:
            try:
                return date.fromisoformat(_field(doc, name, str))
            except ValueError:
                raise CLIError(f"coupon file: {name} is not an ISO date") from None

        coupon = Coupon(
            serial=_field(doc, "serial", int),
            coupon_type=parse_enum(CouponType, _field(doc, "type", str), "type"),
            profile=parse_enum(Profile, _field(doc, "profile", str), "profile"),
            zones=zones, valid_from=day("valid_from"), valid_to=day("valid_to"),
            sale_date=day("sale_date"),
            channel=parse_enum(SaleChannel, _field(doc, "channel", str), "channel"),
            device=doc.get("device", 0), price=doc.get("price", 0))
    except InvalidField as exc:
        raise CLIError(f"coupon file: {exc}") from None
    signature = doc.get("signature")
    if signature is None:
        return coupon, None
    try:
        raw = bytes.fromhex(signature) if isinstance(signature, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != SIGNATURE_SIZE:
        raise CLIError(f"coupon file: signature must be {SIGNATURE_SIZE} bytes in hex")
    return coupon, raw


def read_coupon_file(path: str) -> tuple[Coupon, bytes | None]:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_COUPON_FILE + 1)
    except OSError as exc:
        raise CLIError(f"cannot read coupon file {path}: {exc.strerror}") from None
    if len(data) > MAX_COUPON_FILE:
        raise CLIError(f"{path} is too large to be a coupon file")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CLIError(f"{path} is not a JSON coupon file: {exc}") from None
    return coupon_from_document(doc)


# --- the hotlist ----------------------------------------------------------------------------------


def add_hotlist_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hotlist", metavar="FILE",
                        help="blocked card numbers, one a line ('#' starts a comment)")


def read_hotlist(path: str | None) -> frozenset[CardNumber]:
    """The card numbers in the hotlist file ``path`` (none when None)."""
    if path is None:
        return frozenset()
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_HOTLIST_FILE + 1)
    except OSError as exc:
        raise CLIError(f"cannot read hotlist {path}: {exc.strerror}") from None
    if len(data) > MAX_HOTLIST_FILE:
        raise CLIError(f"hotlist {path} is too large")
    numbers = set()
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            numbers.add(CardNumber.parse(text))
        except InvalidCardNumber as exc:
            raise CLIError(f"{path}:{number}: {exc}") from None
    return frozenset(numbers)


# --- coupon load ----------------------------------------------------------------------------------


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
            "channels: " + ", ".join(_names(SaleChannel)) + "\n"
            "profiles: " + ", ".join(_names(Profile))),
        formatter_class=EXAMPLES_FORMATTER,
    )
    add_keystore_option(load)
    source = load.add_argument_group("the coupon")
    source.add_argument("--coupon", metavar="FILE", help="a JSON coupon file")
    source.add_argument("--type", dest="coupon_type", type=enum_type(CouponType, "coupon type"),
                        metavar="TYPE", help="the coupon type to sell (see below)")
    source.add_argument("--zones", type=parse_zones, metavar="ZONES",
                        help="tariff zones: 1,2,3 or 1-5 or network (more than 10: network)")
    source.add_argument("--from", dest="start", type=parse_date, metavar="DATE",
                        help="first day of validity (default: the earliest possible, or the day "
                             "after the coupon it follows)")
    source.add_argument("--follows", type=int, metavar="SERIAL",
                        help="the valid coupon this one continues")
    source.add_argument("--channel", type=enum_type(SaleChannel, "channel"), metavar="CHANNEL",
                        default=SaleChannel.TICKET_OFFICE,
                        help="where it is sold and paid (default ticket-office)")
    source.add_argument("--profile", type=enum_type(Profile, "profile"), metavar="PROFILE",
                        help="the profile it is sold for (default: the card's on the first day)")
    source.add_argument("--serial", type=int, metavar="N",
                        help="the back office's serial number (default: a random one)")
    source.add_argument("--price", type=int, default=0, metavar="CZK", help="price in CZK")
    load.add_argument("--device", type=int, default=0, metavar="N",
                      help="this terminal's device number (written to the card's log)")
    load.add_argument("--at", type=parse_when, metavar="DATETIME",
                      help="the time of the sale and the load (default now), Europe/Prague")
    add_hotlist_option(load)
    load.add_argument("--out", metavar="FILE",
                      help="also write the signed coupon to FILE as JSON")
    load.add_argument("--lang", choices=LANGS, default="en", help="language of the messages")
    load.add_argument("--json", action="store_true", help="print one JSON document instead")
    add_reader_options(load)
    load.set_defaults(func=run_load)


def _refused(exc: LoadRefused | PurchaseRefused, lang: str) -> CLIError:
    refusals = [exc.refusal] if isinstance(exc, LoadRefused) else list(exc.refusals)
    reasons = "; ".join(f"{reason_code(r.reason)}: {r.message(lang)}" for r in refusals)
    what = f"coupon {exc.serial}" if isinstance(exc, LoadRefused) else "purchase"
    return CLIError(f"{what} refused ({reasons})")


def _source(args: argparse.Namespace, keystore: Any, at: datetime,
            hotlist: Iterable[CardNumber]) -> Any:
    """The coupon source for :func:`load_coupon`: a signed coupon, or a callable."""
    if args.coupon:
        if args.coupon_type or args.zones or args.start or args.follows:
            raise CLIError("give either --coupon FILE or --type/--zones, not both")
        coupon, signature = read_coupon_file(args.coupon)
        if signature is not None:
            return SignedCoupon(coupon, signature)
        return lambda image: keystore.signer().sign(
            coupon, uid=image.uid, card_number=image.record.card_number)
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


def run_load(args: argparse.Namespace) -> int:
    from ekarta.desfire.client import DESFire

    keystore = load_keystore(args)
    at = args.at or now()
    hotlist = read_hotlist(args.hotlist)
    source = _source(args, keystore, at, hotlist)
    with open_card(args) as reader:
        try:
            result = load_coupon(DESFire(reader), keystore, source, at=at, device=args.device)
        except (LoadRefused, PurchaseRefused) as exc:
            raise _refused(exc, args.lang) from None
    coupon = result.signed.coupon
    if args.out:
        try:
            with open(args.out, "w", encoding="utf-8") as f:
                json.dump(coupon_document(result.signed, card_number=result.card_number,
                                          uid=result.uid), f, indent=2)
                f.write("\n")
        except OSError as exc:
            raise CLIError(f"cannot write {args.out}: {exc.strerror}") from None
    decision = source.decision if isinstance(source, Purchase) else None
    notes = list(decision.note_messages(args.lang)) if decision is not None else []
    if args.json:
        print_json({"card_number": str(result.card_number), "slot": result.slot,
                    "already_loaded": result.already_loaded,
                    "coupon": coupon_document(result.signed), "notes": notes})
        return 0
    number = result.card_number.formatted
    if result.already_loaded:
        print(f"coupon {result.serial} is already loaded on card {number} (slot {result.slot}): "
              "nothing changed")
    else:
        print(f"loaded coupon {result.serial} into slot {result.slot} of card {number}")
    print(f"  {type_name(coupon.coupon_type, args.lang)}, "
          f"{profile_name(coupon.profile, args.lang)}, {zones_text(coupon.zones)}")
    print(f"  {validity_text(coupon, args.lang)}")
    for note in notes:
        print(f"note: {note}")
    return 0
