"""``ekarta office``: the back office's database (``init``), the devices that talk to its API
(``device add|list|revoke``), and the office's own operations: cards
(:mod:`ekarta.cli.office_cards`), coupons, purses, the purge and the journal
(:mod:`ekarta.cli.office_sales`).  Every command takes ``--db`` (an SQLite file, by default
``ekarta-office.db`` in the working directory, or ``postgresql://...``) and ``--json``."""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ekarta.cli.common import EXAMPLES_FORMATTER, print_json, print_table, wrap
from ekarta.cli.office_cards import register_cards
from ekarta.cli.office_sales import register_sales
from ekarta.cli.office_support import add_database_options, database, engine_of
from ekarta.sync.roles import DeviceRole

if TYPE_CHECKING:
    from ekarta.backoffice.store import DeviceInfo

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "office",
        help="the back office: cards, coupons, blocks, its database and its devices",
        description=wrap(
            "The back office is the system of record: cards, holders, coupons, blocks and the "
            "terminals' journals, in an SQLite file (the default) or in PostgreSQL.  Terminals "
            "reach it through its HTTP API, each device with a token of its own."),
        epilog=("examples:\n"
                "  ekarta office init\n"
                "  ekarta office init --db postgresql://ekarta@db.example/office\n"
                "  ekarta office device add 'bus 1017' --role validator\n"
                "  ekarta office device list --json\n"
                "  ekarta office device revoke 'bus 1017'\n"
                "  ekarta office card apply --anonymous\n"
                "  ekarta office coupon sell 0000000013 --type 30-day --zones 1,2 "
                "--keys keys.json"),
        formatter_class=EXAMPLES_FORMATTER,
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", dest="office_command",
                                required=True)
    init = sub.add_parser(
        "init", parents=[common], help="create the office's database or bring it up to date",
        description=wrap(
            "Create the office's tables in --db, or update an older office database to this "
            "version's schema.  Running it again changes nothing."),
        formatter_class=EXAMPLES_FORMATTER)
    add_database_options(init)
    init.set_defaults(func=run_init)

    device = sub.add_parser(
        "device", help="the devices that may use the API",
        description=wrap(
            "Each terminal or office workplace has a token of its own, which the API checks on "
            "every request against the device's role: a validator, an inspector or a kiosk "
            "reaches only its own lists and actions; only an office device reaches holder data, "
            "sells and blocks."),
        formatter_class=EXAMPLES_FORMATTER)
    devices = device.add_subparsers(title="commands", metavar="COMMAND", dest="device_command",
                                    required=True)
    add = devices.add_parser(
        "add", parents=[common], help="register a device and print its token once",
        description=wrap(
            "Register the device NAME with ROLE and print its token.  The token is shown this "
            "once: the office keeps only its hash.  Give it to the device's terminal "
            "(`ekarta terminal init ... --token TOKEN`); a lost token is revoked and the "
            "device added again under another name."),
        formatter_class=EXAMPLES_FORMATTER)
    add.add_argument("name", metavar="NAME", help="the device's name, unique (1..64 characters)")
    add.add_argument("--role", required=True, choices=[r.value for r in DeviceRole],
                     help="what the device does, and so what its token reaches")
    add_database_options(add)
    add.set_defaults(func=run_device_add)

    listing = devices.add_parser("list", parents=[common], help="list the devices (no tokens)",
                                 formatter_class=EXAMPLES_FORMATTER)
    add_database_options(listing)
    listing.set_defaults(func=run_device_list)

    revoke = devices.add_parser(
        "revoke", parents=[common], help="revoke a device's token",
        description=wrap("From now on every request with the device's token is refused.  The "
                         "device stays listed, as revoked."),
        formatter_class=EXAMPLES_FORMATTER)
    revoke.add_argument("name", metavar="NAME", help="the device to revoke")
    add_database_options(revoke)
    revoke.set_defaults(func=run_device_revoke)

    register_cards(sub, common)
    register_sales(sub, common)


def _now() -> datetime:
    return datetime.now(UTC)


def run_init(args: argparse.Namespace) -> int:
    from ekarta.backoffice.database import redacted
    from ekarta.backoffice.store import migrate, schema_version

    with engine_of(args, create=True) as engine:
        before = schema_version(engine)
        version = migrate(engine)
    name = redacted(database(args))
    if args.json:
        print_json({"database": name, "version": version, "previous_version": before,
                    "changed": before != version})
    elif before == version:
        print(f"office database {name} is up to date (schema {version})")
    else:
        print(f"office database {name} ready (schema {version})")
    return 0


def _device_json(device: DeviceInfo) -> dict[str, Any]:
    return {"name": device.name, "role": device.role.value,
            "created_at": device.created_at.isoformat(timespec="seconds"),
            "revoked_at": None if device.revoked_at is None
            else device.revoked_at.isoformat(timespec="seconds")}


def run_device_add(args: argparse.Namespace) -> int:
    from ekarta.backoffice.store import add_device

    with engine_of(args) as engine:
        token = add_device(engine, args.name, DeviceRole(args.role), now=_now())
    if args.json:
        print_json({"name": args.name, "role": args.role, "token": token})
    else:
        print(f"added device {args.name} ({args.role}); its token, shown this once:")
        print(token)
    return 0


def run_device_list(args: argparse.Namespace) -> int:
    from ekarta.backoffice.store import list_devices

    with engine_of(args) as engine:
        devices = list_devices(engine)
    if args.json:
        print_json([_device_json(d) for d in devices])
        return 0
    if not devices:
        print("no devices")
        return 0
    print_table([["NAME", "ROLE", "ADDED", "STATE"]] + [
        [d.name, d.role.value, d.created_at.strftime("%Y-%m-%d %H:%M"),
         "active" if d.active else f"revoked {d.revoked_at:%Y-%m-%d %H:%M}"] for d in devices],
        indent=0)
    return 0


def run_device_revoke(args: argparse.Namespace) -> int:
    from ekarta.backoffice.store import revoke_device

    with engine_of(args) as engine:
        device = revoke_device(engine, args.name, now=_now())
    if args.json:
        print_json(_device_json(device))
    else:
        print(f"device {device.name} is revoked")
    return 0
