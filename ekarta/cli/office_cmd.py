"""``ekarta office``: the back office's database (``init``), the devices that talk to its API
(``device add|list|revoke``), and the office's own operations: cards
(:mod:`ekarta.cli.office_cards`), coupons, purses, the purge and the journal
(:mod:`ekarta.cli.office_sales`).  Every command takes ``--db`` (an SQLite file, by default
``ekarta-office.db`` in the working directory, or ``postgresql://...``) and ``--json``."""

from __future__ import annotations

import argparse
import logging
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ekarta.cli.common import EXAMPLES_FORMATTER, CLIError, print_json, print_table, wrap
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
                "--keys keys.json\n"
                "  ekarta office serve --keys keys.json"),
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
    _register_serve(sub, common)

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


# --- serve ---------------------------------------------------------------------------------------

DEFAULT_LISTEN = "127.0.0.1:8000"
KEYS_ENV = "EKARTA_KEYS"


def _register_serve(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    serve = sub.add_parser(
        "serve", parents=[common], help="serve the API terminals sync with",
        description=wrap(
            "Serve the office's HTTP API (its OpenAPI schema at /openapi.json, its pages at "
            "/docs) until Ctrl-C or SIGTERM, and run the daily jobs (the purge, pruning the "
            "feeds) once at start and every day.  Sync responses are signed with the keystore's "
            "Ed25519 coupon-signing key.  It listens on loopback unless told otherwise: put a "
            "TLS-terminating proxy in front of it to reach terminals.  With --workers N, N "
            "processes serve the same database: use PostgreSQL for that."),
        epilog=("examples:\n"
                "  ekarta office serve --keys keys.json\n"
                "  ekarta office serve --keys keys.json --listen 0.0.0.0:8443\n"
                "  ekarta office serve --keys keys.json --workers 4 \\\n"
                "      --db postgresql://ekarta@db.example/office"),
        formatter_class=EXAMPLES_FORMATTER)
    serve.add_argument("--listen", metavar="HOST:PORT", default=DEFAULT_LISTEN,
                       help=f"the address to listen on (default {DEFAULT_LISTEN})")
    serve.add_argument("--workers", metavar="N", type=int, default=1,
                       help="how many processes serve (default 1)")
    serve.add_argument("--keys", metavar="KEYSTORE", default=None,
                       help=f"the office's keystore (default ${KEYS_ENV})")
    add_database_options(serve)
    serve.set_defaults(func=run_serve)


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise CLIError(f"--listen takes HOST:PORT, such as {DEFAULT_LISTEN}: not {text!r}")
    return host, int(port)


def run_serve(args: argparse.Namespace) -> int:
    from ekarta.backoffice.service import serve

    host, port = _listen(args.listen)
    if not 1 <= args.workers <= 64:
        raise CLIError("--workers takes 1..64")
    keys = args.keys or os.environ.get(KEYS_ENV)
    if not keys:
        raise CLIError(f"give the office's keystore with --keys (or ${KEYS_ENV})")
    serve(database(args), keys, host=host, port=port, workers=args.workers)
    return 0
