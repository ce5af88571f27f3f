"""``ekarta terminal``: a terminal directory (``init``), one sync with the office (``sync``),
where it stands (``status``) and what its store says about a card (``lookup``)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ekarta.cli.common import (
    EXAMPLES_FORMATTER,
    CLIError,
    add_keystore_option,
    argument,
    load_keystore,
    print_fields,
    print_json,
    print_table,
    wrap,
)
from ekarta.sync.roles import DeviceRole
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.notation import parse_when

if TYPE_CHECKING:
    from ekarta.sync.messages import Feed
    from ekarta.terminal.store import FeedState, PageApplied

log = logging.getLogger(__name__)

TOKEN_ENV = "EKARTA_TOKEN"


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "terminal",
        help="a terminal's directory, its sync with the office and its local store",
        description=wrap(
            "A terminal (validator, inspector, kiosk) keeps what it needs offline in its "
            "directory: its configuration and token, the keys of its role and a local store of "
            "the hotlist, the entitlements, the pending actions and the journal of what it did. "
            "'sync' brings the lists up to date and reports the journal to the office."),
        epilog=("examples:\n"
                "  ekarta keys export keys.json --role validator -o validator-keys.json\n"
                "  ekarta terminal init bus1017 --office https://office.example --role validator"
                " \\\n      --keys validator-keys.json --token -   < token.txt\n"
                "  ekarta terminal sync bus1017\n"
                "  ekarta terminal status bus1017 --json\n"
                "  ekarta terminal lookup bus1017 1234567894"),
        formatter_class=EXAMPLES_FORMATTER,
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", dest="terminal_command",
                                required=True)

    init = sub.add_parser(
        "init", parents=[common], help="make a terminal directory for a device of the office",
        description=wrap(
            "Make DIR a terminal directory: ask the office who the token belongs to (its role "
            "must be --role), copy the keystore in (mode 0600) and create the local store.  The "
            "keystore must hold the keys the role needs and, for a validator, an inspector or a "
            "kiosk, nothing more: give it the output of 'ekarta keys export'.  The token "
            "comes from --token, '--token -' (a line of standard input) or $EKARTA_TOKEN; it "
            "is written to DIR/terminal.json (mode 0600) and never printed.  An existing "
            "non-empty DIR is refused without --force; with it, the store keeps its journal "
            "outbox and pulls every list again."),
        epilog=("examples:\n"
                "  ekarta terminal init bus1017 --office http://127.0.0.1:8080 \\\n"
                "      --role validator --keys validator-keys.json --token -\n"
                "  EKARTA_TOKEN=... ekarta terminal init kiosk1 --office https://office.example"
                " \\\n      --role kiosk --keys kiosk-keys.json --force"),
        formatter_class=EXAMPLES_FORMATTER)
    init.add_argument("directory", metavar="DIR", help="the terminal directory to make")
    init.add_argument("--office", required=True, metavar="URL",
                      help="the office's base URL (http:// or https://)")
    init.add_argument("--token", metavar="TOKEN", default=None,
                      help=f"the device's token ('-': read it from standard input; default "
                           f"${TOKEN_ENV})")
    init.add_argument("--role", required=True,
                      choices=[r.value for r in DeviceRole if r is not DeviceRole.OFFICE],
                      help="what the terminal does")
    add_keystore_option(init)
    init.add_argument("--force", action="store_true",
                      help="make an existing non-empty DIR a terminal directory again")
    init.add_argument("--json", action="store_true", help="print one JSON document instead")
    init.set_defaults(func=run_init)

    sync = sub.add_parser(
        "sync", parents=[common], help="sync once: pull the lists, push the journal",
        description=wrap(
            "Pull the hotlist, the entitlements and (inspector, kiosk) the pending actions "
            "from the terminal's cursor, each page checked against the operator's key, and "
            "push the journal outbox.  A refused page changes nothing and is reported; the "
            "exit status is 1 when anything failed.  Progress goes to standard error."),
        epilog="examples:\n  ekarta terminal sync bus1017\n  ekarta terminal sync bus1017 --json",
        formatter_class=EXAMPLES_FORMATTER)
    _add_directory_options(sync)
    sync.set_defaults(func=run_sync)

    status = sub.add_parser(
        "status", parents=[common],
        help="list sizes, cursors, list ages and the outbox backlog",
        description=wrap(
            "Show the terminal's device and office (never its token), the size of every list, "
            "every feed's cursor, the age and validity of the last page applied (a list past "
            "its validity is stale and said so), and how many journal events wait for the "
            "office."),
        epilog="examples:\n  ekarta terminal status bus1017\n"
               "  ekarta terminal status bus1017 --json",
        formatter_class=EXAMPLES_FORMATTER)
    _add_directory_options(status)
    status.set_defaults(func=run_status)

    lookup = sub.add_parser(
        "lookup", parents=[common], help="what the terminal's store says about a card",
        description=wrap("Show whether CARDNUMBER is on the hotlist, what the office holds for "
                         "it and the actions pending for it, as the local store has them."),
        epilog="examples:\n  ekarta terminal lookup bus1017 1234567894\n"
               "  ekarta terminal lookup kiosk1 '123 456 789 4' --json",
        formatter_class=EXAMPLES_FORMATTER)
    lookup.add_argument("directory", metavar="DIR", help="the terminal directory")
    lookup.add_argument("card_number", metavar="CARDNUMBER", type=argument(CardNumber.parse),
                        help="the card number (10 digits; spaces and dashes allowed)")
    lookup.add_argument("--json", action="store_true", help="print one JSON document instead")
    lookup.set_defaults(func=run_lookup)


def _add_directory_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("directory", metavar="DIR", help="the terminal directory")
    parser.add_argument("--at", type=argument(parse_when), metavar="DATETIME",
                        help="the time to take as now (ISO, Europe/Prague unless it carries an "
                             "offset; default the clock's)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead")


def _now(args: argparse.Namespace) -> datetime:
    at = getattr(args, "at", None)
    return at if at is not None else datetime.now(UTC)


def _when(at: datetime | None) -> str | None:
    return None if at is None else at.astimezone(UTC).isoformat(timespec="seconds")


def _token(args: argparse.Namespace) -> str:
    if args.token == "-":
        line = sys.stdin.readline()
        if not line.strip():
            raise CLIError("--token -: standard input holds no token")
        return line.strip()
    token = args.token or os.environ.get(TOKEN_ENV)
    if not token:
        raise CLIError(f"give the device's token: --token TOKEN, --token - (standard input) or "
                       f"${TOKEN_ENV}")
    return str(token)


def run_init(args: argparse.Namespace) -> int:
    from ekarta.terminal.config import (
        TerminalConfig,
        check_keystore,
        check_office_url,
        check_token,
        init_terminal,
    )
    from ekarta.terminal.sync import OfficeClient

    role = DeviceRole(args.role)
    office = check_office_url(args.office)
    token = check_token(_token(args))
    keystore = load_keystore(args)
    check_keystore(keystore, role)  # before asking the office anything
    probe = TerminalConfig(directory=args.directory, office=office, role=role, device="",
                           token=token)
    with OfficeClient(probe) as client:
        device = client.device()
    config = init_terminal(args.directory, office=office, token=token, role=role,
                           keystore=keystore, device=device, force=args.force)
    if args.json:
        print_json({"directory": config.directory, "office": config.office,
                    "role": config.role.value, "device": config.device,
                    "keystore": config.keystore_path, "store": config.store_path})
    else:
        print(f"terminal directory {config.directory} ready: {config.role} "
              f"{config.device!r} of {config.office}")
    return 0


def _progress(feed: Feed, applied: PageApplied) -> None:
    print(f"ekarta: {feed}: {applied.items} items, {applied.removed} removed, cursor "
          f"{applied.cursor}", file=sys.stderr, flush=True)


def run_sync(args: argparse.Namespace) -> int:
    from ekarta.terminal.config import load_config
    from ekarta.terminal.sync import sync_once

    config = load_config(args.directory)
    with config.open_store() as store:
        report = sync_once(config, store, _now(args),
                           progress=_progress if sys.stderr.isatty() else None)
    if args.json:
        print_json({"ok": report.ok, "feeds": [
            {"feed": f.feed.value, "pages": f.pages, "items": f.items, "removed": f.removed,
             "cursor": f.cursor, "bytes": f.bytes, "snapshot_done": f.snapshot_done,
             "error": f.error} for f in report.feeds],
            "journal": {"pushed": report.pushed, "acknowledged": report.acknowledged,
                        "outbox": report.outbox},
            "errors": list(report.errors)})
    else:
        rows = [["FEED", "PAGES", "ITEMS", "REMOVED", "CURSOR", "BYTES"]] + [
            [f.feed.value, str(f.pages), str(f.items), str(f.removed), str(f.cursor),
             str(f.bytes)] for f in report.feeds]
        print_table(rows, indent=0)
        print(f"journal: {report.pushed} sent, {report.acknowledged} acknowledged, "
              f"{report.outbox} waiting")
    for error in report.errors:
        print(f"ekarta: error: {error}", file=sys.stderr)
    return 0 if report.ok else 1


def _feed_json(state: FeedState, now: datetime) -> dict[str, Any]:
    age = state.age(now)
    return {"feed": state.feed.value, "cursor": state.cursor,
            "issued_at": _when(state.issued_at), "valid_until": _when(state.valid_until),
            "age_seconds": None if age is None else int(age.total_seconds()),
            "stale": state.stale(now), "snapshot_in_progress": state.snapshot is not None}


def _age_text(state: FeedState, now: datetime) -> str:
    age = state.age(now)
    if age is None:
        return "never synced"
    seconds = int(age.total_seconds())
    text = (f"{seconds} s" if seconds < 120 else f"{seconds // 60} min" if seconds < 7200
            else f"{seconds // 3600} h")
    return text + (" STALE" if state.stale(now) else "")


def run_status(args: argparse.Namespace) -> int:
    from ekarta.terminal.config import load_config

    config = load_config(args.directory)
    now = _now(args)
    with config.open_store() as store:
        status = store.status()
    sizes = {"hotlist": status.hotlist, "entitlements": status.entitlements,
             "actions": status.actions}
    if args.json:
        print_json({"directory": config.directory, "office": config.office,
                    "role": config.role.value, "device": config.device, "lists": sizes,
                    "outbox": status.outbox, "journal": status.journal,
                    "feeds": [_feed_json(s, now) for s in status.feeds]})
        return 0
    print(f"terminal {config.directory}: {config.role} {config.device!r} of {config.office}")
    print_table([["FEED", "ENTRIES", "CURSOR", "AGE", "VALID UNTIL"]] + [
        [s.feed.value, str(sizes[s.feed.value]), str(s.cursor), _age_text(s, now),
         _when(s.valid_until) or "-"] for s in status.feeds], indent=2)
    print(f"  journal: {status.outbox} events waiting for the office ({status.journal} kept)")
    return 0


def run_lookup(args: argparse.Namespace) -> int:
    from ekarta.terminal.config import load_config

    config = load_config(args.directory)
    number: CardNumber = args.card_number
    with config.open_store() as store:
        hot = store.hotlisted(number)
        entitled = store.entitlement(number)
        actions = store.pending_actions(number)
    if args.json:
        print_json({"card_number": number.digits,
                    "hotlist": None if hot is None else {
                        "uid": hot.uid, "expiry": hot.expiry.isoformat()},
                    "entitlement": None if entitled is None else entitled.model_dump(
                        mode="json"),
                    "actions": [a.model_dump(mode="json", exclude_none=True) for a in actions]})
        return 0
    print(f"card {number.formatted}")
    rows = [("hotlist", "BLOCKED" if hot is not None else "not listed")]
    if entitled is None:
        rows.append(("entitlement", "none"))
    else:
        profile_end = f" until {entitled.profile_end}" if entitled.profile_end else ""
        rows += [("status", entitled.status), ("kind", entitled.kind),
                 ("profile", entitled.profile + profile_end),
                 ("expiry", entitled.expiry.isoformat())]
        rows += [(f"coupon {c.serial}", f"{c.state}, {c.valid_from} .. {c.valid_to}")
                 for c in entitled.coupons]
    rows += [(f"action {a.id}", a.kind.value) for a in actions] or [("actions", "none")]
    print_fields(rows)
    return 0
