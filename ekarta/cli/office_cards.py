"""``ekarta office card``: applications, producing cards onto chips, activating, changing the
profile, blocking, unblocking, replacing, returning and looking at cards (registered by
:mod:`ekarta.cli.office_cmd`)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from ekarta.cli.common import (
    EXAMPLES_FORMATTER,
    CLIError,
    add_keystore_option,
    add_reader_options,
    argument,
    bounded,
    enum_argument,
    load_keystore,
    open_card,
    print_fields,
    print_json,
    print_table,
    wrap,
)
from ekarta.cli.office_support import add_database_options, card_json, clock, engine_of, money
from ekarta.desfire.client import DESFire
from ekarta.sync.messages import ROW_ID_MAX, ActionKind
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.notation import enum_name, parse_amount, parse_date
from ekarta.transit.model.timecodec import to_local
from ekarta.transit.model.values import CardStatus, Profile

if TYPE_CHECKING:
    from datetime import datetime

    from ekarta.backoffice.actions import ActionInfo
    from ekarta.backoffice.cards import Application, CardInfo

NUMBER = argument(CardNumber.parse)


def register_cards(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    card = sub.add_parser(
        "card", help="card applications and cards",
        description=wrap(
            "A card is applied for (ordered, numbered by the office), produced onto a chip "
            "through a reader (produced, or active when handed over at a contact point), "
            "activated by its holder, its profile changed, blocked and unblocked, replaced by "
            "a card on loan."),
        epilog=("examples:\n"
                "  ekarta office card apply --first-name Jana --surname Nováková \\\n"
                "      --profile student --birth-date 2008-04-01 --profile-end 2027-08-31\n"
                "  ekarta office card produce 0000000013 --keys keys.json "
                "--reader emulator:card.json\n"
                "  ekarta office card profile 0000000013 --profile student "
                "--profile-end 2027-08-31\n"
                "  ekarta office card block 0000000013 --reason lost\n"
                "  ekarta office card show 0000000013 --json"),
        formatter_class=EXAMPLES_FORMATTER)
    cards = card.add_subparsers(title="commands", metavar="COMMAND", dest="card_command",
                                required=True)

    def command(name: str, help_: str, description: str, func, *, number: bool = True,
                lang: bool = True) -> argparse.ArgumentParser:
        parser = cards.add_parser(name, parents=[common], help=help_,
                                  description=wrap(description),
                                  epilog=f"example:\n  ekarta office card {name}"
                                  + (" 0000000013" if number else ""),
                                  formatter_class=EXAMPLES_FORMATTER)
        if number:
            parser.add_argument("number", metavar="CARD", type=NUMBER,
                                help="the card number (10 digits)")
        add_database_options(parser, clock=True, lang=lang)
        parser.set_defaults(func=func)
        return parser

    apply = command(
        "apply", "record an application for a card",
        "Record an application: a personal card with --first-name and --surname (kept 90 "
        "days, then purged), or an anonymous one with --anonymous.  The office gives the card "
        "its number; the card is ordered until it is produced.", run_apply, number=False)
    apply.add_argument("--anonymous", action="store_true",
                       help="an anonymous card (no personal data, adult transferable)")
    _holder_options(apply)
    apply.add_argument("--profile", type=enum_argument(Profile, "profile"), metavar="PROFILE",
                       help="the tariff profile (default adult-non-transferable)")
    apply.add_argument("--profile-end", type=argument(parse_date), metavar="DATE",
                       help="last day of a discounted profile")
    apply.add_argument("--expiry", type=argument(parse_date), metavar="DATE",
                       help="last day of the card (default: 5 years from today)")
    apply.add_argument("--photo", metavar="REF", help="a reference to the holder's photo")
    apply.add_argument("--contact", metavar="TEXT", help="the holder's e-mail or address")
    apply.epilog = ("examples:\n  ekarta office card apply --anonymous --json\n"
                    "  ekarta office card apply --first-name Jan --surname Novák")

    produce = command(
        "produce", "issue an ordered card onto a chip",
        "Issue the ordered card onto the card in the reader's field with the office's data "
        "(ekarta card issue's steps) and record its UID once the chip is issued.  It is "
        "written as produced (sent by post: the holder activates it) or, with --active, as "
        "active (handed over at a contact point).  A replacement card is always active, and "
        "the coupons and purse balance of the card it replaces move onto it.", run_produce)
    produce.add_argument("--active", action="store_true",
                         help="handed over at a contact point: active at once")
    add_keystore_option(produce)
    add_reader_options(produce, changes_card=True)
    produce.epilog = ("example:\n  ekarta office card produce 0000000013 --keys keys.json "
                      "--reader emulator:card.json --active")

    command("activate", "activate a produced card (its holder received it)",
            "Make a produced card active in the office: coupons can be bought for it.  The "
            "chip's status follows at the next terminal that meets the card.", run_activate)
    profile = command(
        "profile", "change a card's profile (a discount gained, renewed or lost)",
        "Change the card's tariff profile at a ticket office, once the holder has shown the "
        "documents for it: the office and the terminals' lists take it at once, and the next "
        "inspector or kiosk that sees the card writes it onto the chip (or write it now with "
        "ekarta card update).  A discounted profile ends on --profile-end or, without it, "
        "where the holder's age ends the right to it; --end-profile ends it now (adult "
        "non-transferable).  A blocked card is refused.",
        run_profile)
    profile.add_argument("--profile", type=enum_argument(Profile, "profile"), metavar="PROFILE",
                         help="the new profile (" + ", ".join(enum_name(p) for p in Profile)
                         + ")")
    profile.add_argument("--profile-end", type=argument(parse_date), metavar="DATE",
                         help="last day of the discounted profile (renewing: this alone)")
    profile.add_argument("--end-profile", action="store_true",
                         help="the holder lost the right to the discount")
    profile.epilog = ("examples:\n"
                      "  ekarta office card profile 0000000013 --profile student "
                      "--profile-end 2027-08-31\n"
                      "  ekarta office card profile 0000000013 --profile-end 2028-08-31\n"
                      "  ekarta office card profile 0000000013 --end-profile --json")
    block = command(
        "block", "block a card (lost, stolen, the holder's request)",
        "Block the card: it goes on every terminal's hotlist and inspectors and kiosks write "
        "the blocked status onto it.  A blocked card stays as it is.", run_block)
    block.add_argument("--reason", required=True, choices=("lost", "stolen", "request"))
    block.epilog = "example:\n  ekarta office card block 0000000013 --reason stolen"
    unblock = command(
        "unblock", "unblock a card (specialised workplace, for a fee)",
        "Unblock a card at the specialised workplace with the card at hand: it is active again "
        "and leaves the hotlist; the fee is recorded.  Unblock the chip there too "
        "(ekarta card unblock).", run_unblock)
    unblock.add_argument("--fee", type=argument(parse_amount), metavar="CZK",
                         help="the fee charged (default 100 CZK)")
    replace = command(
        "replace", "block a card and apply for its replacement on loan",
        "Block the card (unless blocked already) and apply for a replacement card, on loan "
        "for 30 days and blocked unless returned within 60; the loan fee is recorded.  Produce "
        "the replacement next (card produce): its coupons and purse balance then move onto "
        "it.  Once the holder's data was purged, give the names again.", run_replace)
    replace.add_argument("--fee", type=argument(parse_amount), metavar="CZK",
                         help="the loan fee (default 100 CZK)")
    _holder_options(replace)
    returning = command(
        "return", "take a replacement card back",
        "The replacement card comes back: what it holds moves to the card --to (produced), "
        "re-signed for it; the replacement is blocked and its loan fee paid back.",
        run_return)
    returning.add_argument("--to", required=True, type=NUMBER, metavar="CARD",
                           help="the card that takes over the coupons and the purse")
    returning.epilog = ("example:\n  ekarta office card return 0000000021 --to 0000000039 "
                        "--keys keys.json")
    add_keystore_option(returning)
    command("show", "show a card with its holder's data",
            "Everything the office knows of a card: status, profile, validity, UID, purse, "
            "replacement links, blocks, the holder's data (office only) and what waits for its "
            "chip (coupons to load, purse credits, a blocked status, a profile), with the "
            "terminal that leased each. A contested action's lease ran out on a terminal that "
            "has not reported it: that terminal may have done it, and a purse credit waits for "
            "its report unless the card shows the credit was never made.", run_show,
            lang=False)
    release = command(
        "release", "end the lease on an action that waits for the card",
        "End the lease that ran out on one of the card's waiting actions (its number is in "
        "'card show'), and its contest: the terminal that leased it is taken not to have "
        "done it, and the next terminal to meet the card does it.  Release a contested purse "
        "credit only once you know it was not made (the terminal that held it is lost with "
        "its journal, and the card's own balance says so): the office cannot tell.  A lease "
        "still running is refused.", run_release, lang=False)
    release.add_argument("action", metavar="ACTION", type=bounded("the action", ROW_ID_MAX),
                         help="the action's number, as 'card show' lists it")
    release.epilog = "example:\n  ekarta office card release 0000000013 42"
    listing = command("list", "list the cards (no holder data)", "List the cards by number.",
                      run_list, number=False, lang=False)
    listing.add_argument("--status", choices=[enum_name(s) for s in CardStatus])


def _holder_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--first-name", default="", metavar="NAME")
    parser.add_argument("--surname", default="", metavar="NAME")
    parser.add_argument("--birth-date", type=argument(parse_date), metavar="DATE",
                        help="needed for the children and student profiles")


def _application(args: argparse.Namespace) -> Application:
    from ekarta.backoffice.cards import Application

    return Application(args.first_name, args.surname, args.birth_date,
                       getattr(args, "profile", None), getattr(args, "profile_end", None),
                       getattr(args, "expiry", None), getattr(args, "photo", None),
                       getattr(args, "contact", None))


def _print(args: argparse.Namespace, card: CardInfo, headline: str) -> None:
    if args.json:
        print_json(card_json(card))
        return
    print(headline)
    rows = [("status", enum_name(card.status)), ("kind", enum_name(card.kind)),
            ("profile", enum_name(card.profile) + (f" until {card.profile_end}"
                                                   if card.profile_end else "")),
            ("expiry", str(card.expiry)), ("UID", card.uid.hex().upper() if card.uid else "-"),
            ("purse", money(card.purse_balance))]
    if card.replaces is not None:
        rows.append(("replaces", f"{card.replaces.formatted}, on loan until {card.loan_until}, "
                                 f"return by {card.return_by}"
                                 + (" (returned)" if card.returned_at else "")))
    if card.holder is not None:
        h = card.holder
        rows.append(("holder", f"{h.first_name} {h.surname}"
                               + (f", born {h.birth_date}" if h.birth_date else "")))
        rows.append(("purge after", str(h.purge_after)))
    for b in card.blocks:
        rows.append(("block", f"{b.reason} {to_local(b.blocked_at):%Y-%m-%d %H:%M}"
                              + (f", unblocked {to_local(b.unblocked_at):%Y-%m-%d}"
                                 if b.unblocked_at
                                 else "")))
    rows.extend(("waiting", _waiting(a, clock(args))) for a in card.actions)
    print_fields(rows)


def _waiting(action: ActionInfo, at: datetime) -> str:
    """One action still waiting for the chip, for the operator's eyes."""
    what = action.kind.value
    if action.kind is ActionKind.CREDIT_PURSE and action.amount is not None:
        what += f" {money(action.amount)} (operation {action.serial})"
    elif action.serial is not None:
        what += f" {action.serial}"
    what += f" since {to_local(action.created_at):%Y-%m-%d %H:%M} (action {action.id})"
    if action.leased_to is not None and action.lease_until is not None:
        ran_out = " (ran out)" if action.lease_until <= at else ""
        what += (f", leased to {action.leased_to} until "
                 f"{to_local(action.lease_until):%Y-%m-%d %H:%M:%S}{ran_out}")
    if action.contested:
        what += (", contested: a lease ran out on a terminal that has not reported it, which "
                 "may have done it")
    return what


def run_apply(args: argparse.Namespace) -> int:
    from ekarta.backoffice.cards import apply

    application = _application(args)
    if args.anonymous and not application.anonymous:
        raise CLIError("an anonymous card carries no names: drop --first-name and --surname")
    if not args.anonymous and not (args.first_name and args.surname):
        raise CLIError("a personal card needs --first-name and --surname (or give --anonymous)")
    with engine_of(args) as engine:
        card = apply(engine, application, now=clock(args))
    _print(args, card, f"card {card.card_number.formatted} applied for (ordered)")
    return 0


def run_produce(args: argparse.Namespace) -> int:
    from ekarta.backoffice.production import produce

    keystore = load_keystore(args)
    with engine_of(args) as engine, open_card(args) as reader:
        result = produce(engine, args.number, DESFire(reader), keystore, now=clock(args),
                         active=args.active)
    # the chip's status: produced, or active when handed over at a contact point (--active)
    _print(args, result.card, f"card {result.card.card_number.formatted} issued onto the chip "
                              f"as {enum_name(result.card.status)}")
    return 0


def run_activate(args: argparse.Namespace) -> int:
    from ekarta.backoffice.cards import activate

    with engine_of(args) as engine:
        card = activate(engine, args.number, now=clock(args))
    _print(args, card, f"card {card.card_number.formatted} is active")
    return 0


def run_profile(args: argparse.Namespace) -> int:
    from ekarta.backoffice.cards import change_profile
    from ekarta.transit.model.lifecycle import RecordChange

    if args.end_profile and (args.profile is not None or args.profile_end is not None):
        raise CLIError("--end-profile sets the profile itself: drop --profile and "
                       "--profile-end")
    if not (args.end_profile or args.profile is not None or args.profile_end is not None):
        raise CLIError("say what changes: --profile, --profile-end or --end-profile")
    change = RecordChange(profile=args.profile, profile_end=args.profile_end,
                          end_profile=args.end_profile)
    with engine_of(args) as engine:
        card = change_profile(engine, args.number, change, now=clock(args))
    _print(args, card, f"card {card.card_number.formatted}: profile "
                       f"{enum_name(card.profile)}"
                       + (f" until {card.profile_end}" if card.profile_end else ""))
    return 0


def run_block(args: argparse.Namespace) -> int:
    from ekarta.backoffice.blocking import block

    with engine_of(args) as engine:
        result = block(engine, args.number, args.reason, now=clock(args))
    _print(args, result.card, f"card {result.card.card_number.formatted} "
                              f"{'blocked' if result.changed else 'was blocked already'}")
    return 0


def run_unblock(args: argparse.Namespace) -> int:
    from ekarta.backoffice.blocking import UNBLOCK_FEE, unblock

    with engine_of(args) as engine:
        card = unblock(engine, args.number, now=clock(args), fee=args.fee or UNBLOCK_FEE)
    _print(args, card, f"card {card.card_number.formatted} unblocked")
    return 0


def run_replace(args: argparse.Namespace) -> int:
    from ekarta.backoffice.replacement import LOAN_FEE, replace

    given = _application(args)
    with engine_of(args) as engine:
        card = replace(engine, args.number, now=clock(args), fee=args.fee or LOAN_FEE,
                       holder=None if given.anonymous else given)
    _print(args, card, f"replacement card {card.card_number.formatted} applied for: produce "
                       "it next")
    return 0


def run_return(args: argparse.Namespace) -> int:
    from ekarta.backoffice.replacement import return_card

    keystore = load_keystore(args)
    with engine_of(args) as engine:
        card, moved = return_card(engine, args.number, args.to, keystore.signer(),
                                  now=clock(args))
    if args.json:
        print_json({"card": card_json(card), "to": args.to.digits,
                    "coupons": list(moved.serials), "purse": moved.purse})
    else:
        print(f"card {card.card_number.formatted} returned: {len(moved.serials)} coupons and "
              f"{money(moved.purse)} move to card {args.to.formatted}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from ekarta.backoffice.cards import show

    with engine_of(args) as engine:
        card = show(engine, args.number)
    _print(args, card, f"card {card.card_number.formatted}")
    return 0


def run_release(args: argparse.Namespace) -> int:
    from ekarta.backoffice.cards import show
    from ekarta.backoffice.leases import release_lease

    with engine_of(args) as engine:
        holder = release_lease(engine, args.number, args.action, now=clock(args))
        card = show(engine, args.number)
    _print(args, card, f"action {args.action} of card {card.card_number.formatted} released"
           + (f" (its lease was {holder}'s)" if holder else " (it had no lease)"))
    return 0


def run_list(args: argparse.Namespace) -> int:
    from ekarta.backoffice.cards import list_cards

    status = None if args.status is None else CardStatus[args.status.upper()]
    with engine_of(args) as engine:
        found = list_cards(engine, status=status)
    if args.json:
        print_json([card_json(c) for c in found])
    elif not found:
        print("no cards")
    else:
        print_table([["CARD", "KIND", "STATUS", "PROFILE", "EXPIRY", "UID"]] + [
            [c.card_number.digits, enum_name(c.kind), enum_name(c.status),
             enum_name(c.profile), str(c.expiry), c.uid.hex().upper() if c.uid else "-"]
            for c in found], indent=0)
    return 0
