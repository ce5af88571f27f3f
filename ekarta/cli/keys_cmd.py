"""``ekarta keys``: create a keystore (``new``) and show what it holds without the secrets
(``show``).  The commands that need one take ``--keys KEYSTORE``
(:func:`ekarta.cli.common.add_keystore_option`)."""

from __future__ import annotations

import argparse
import json
import logging
import sys

from ekarta.cli.common import (
    EXAMPLES_FORMATTER,
    KEYSTORE_ENV,
    add_force_option,
    input_file,
    output_file,
    print_json,
    wrap,
    write_output,
)
from ekarta.transit.codec.layout import DEFAULT_SYSTEM_ID, SYSTEM_ID_MAX
from ekarta.transit.security.keystore import TERMINAL_KEYS, FileKeyStore, create_keystore

log = logging.getLogger(__name__)

SAM_WARNING = (
    "{path} holds the scheme's master keys and its coupon-signing key in a plain file (mode "
    "0600): fine for development and tests, but a real deployment keeps master keys in a SAM or "
    "an HSM that diversifies card keys inside (plug one in as an "
    "ekarta.transit.security.keystore.KeyProvider)")


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "keys",
        help="create or inspect a keystore (master keys and the coupon-signing key)",
        description=wrap(
            "A keystore holds the master keys that every card's keys are diversified from "
            "(AN10922 over UID, AID and the system identifier) and the operator's "
            "coupon-signing key.  Card commands take it with --keys KEYSTORE (default "
            f"${KEYSTORE_ENV})."),
        epilog=("examples:\n"
                "  ekarta keys new keys.json\n"
                "  ekarta keys new keys.json --system-id ODIS-TEST --force\n"
                "  ekarta keys show keys.json"),
        formatter_class=EXAMPLES_FORMATTER,
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", dest="keys_command",
                                required=True)

    new = sub.add_parser(
        "new", parents=[common],
        help="create a keystore with fresh master keys and a signing key pair",
        description=wrap(
            "Create KEYSTORE (file mode 0600) with fresh random AES master keys (PICC master, "
            "application master, load, validation, read), the system identifier and an "
            "Ed25519 coupon-signing key pair.  An existing file is never overwritten without "
            "--force: cards issued with its keys would become unusable."),
        formatter_class=EXAMPLES_FORMATTER,
    )
    new.add_argument("keystore", metavar="KEYSTORE", type=output_file, help="the file to create")
    new.add_argument("--system-id", metavar="TEXT", type=_system_id,
                     default=DEFAULT_SYSTEM_ID,
                     help=f"system identifier diversified into every card key, printable ASCII, "
                          f"1..{SYSTEM_ID_MAX} characters (default "
                          f"{DEFAULT_SYSTEM_ID.decode()})")
    new.add_argument("--force", action="store_true", help="replace an existing KEYSTORE")
    new.add_argument("--json", action="store_true",
                     help="print one JSON document instead (the file, its system id and the "
                          "signing key's id: no key material)")
    new.set_defaults(func=run_new)

    show = sub.add_parser(
        "show", parents=[common],
        help="show key fingerprints and the public key (never key material)",
        description=wrap(
            "Show the system identifier, a fingerprint and the version of every master key, "
            "and the coupon-verification public keys as PEM.  Secret key material is never "
            "shown."),
        formatter_class=EXAMPLES_FORMATTER,
    )
    show.add_argument("keystore", metavar="KEYSTORE", type=input_file,
                      help="the keystore file")
    show.add_argument("--json", action="store_true", help="print one JSON document instead")
    show.set_defaults(func=run_show)

    export = sub.add_parser(
        "export", parents=[common],
        help="a keystore with only the keys one kind of terminal needs",
        description=wrap(
            "Write to FILE (mode 0600) a keystore holding only what a terminal of ROLE needs: "
            "a validator the validation and read keys' masters, an inspector and a kiosk the "
            "load and read keys' masters, each with the coupon-verifying keys.  Never the "
            "signing key, the application master key or the PICC master key: only --role "
            "office exports everything.  A stolen terminal then gives away no more than its "
            "role's keys."),
        epilog=("examples:\n"
                "  ekarta keys export keys.json --role validator -o validator-keys.json\n"
                "  ekarta keys export keys.json --role kiosk -o kiosk-keys.json --force"),
        formatter_class=EXAMPLES_FORMATTER,
    )
    export.add_argument("keystore", metavar="KEYSTORE", type=input_file,
                        help="the full keystore")
    export.add_argument("--role", required=True, choices=sorted(TERMINAL_KEYS),
                        help="the kind of terminal the keys are for")
    export.add_argument("-o", "--out", required=True, metavar="FILE", type=output_file,
                        help="the keystore file to write")
    add_force_option(export, "FILE")
    export.add_argument("--json", action="store_true", help="print one JSON document instead")
    export.set_defaults(func=run_export)


def _system_id(text: str) -> bytes:
    if not text.isascii() or not text.isprintable() or not 1 <= len(text) <= SYSTEM_ID_MAX:
        raise argparse.ArgumentTypeError(
            f"must be 1..{SYSTEM_ID_MAX} printable ASCII characters, got {text!r}")
    return text.encode("ascii")


# --- commands -------------------------------------------------------------------------------------


def run_new(args: argparse.Namespace) -> int:
    keystore = create_keystore(args.keystore, system_id=args.system_id, force=args.force)
    ids = keystore.key_ids()
    print(f"ekarta: warning: {SAM_WARNING.format(path=args.keystore)}", file=sys.stderr)
    if args.json:
        print_json({"keystore": str(args.keystore), "system_id": ids["system_id"],
                    "signing_key": ids["signing_key"]})
        return 0
    print(f"created keystore {args.keystore} (mode 0600)")
    print(f"  system id    {ids['system_id']}")
    print(f"  signing key  {ids['signing_key']['algorithm']}, id {ids['signing_key']['id']}")
    return 0


def run_show(args: argparse.Namespace) -> int:
    ids = FileKeyStore.load(args.keystore).key_ids()
    if args.json:
        print_json(ids)
        return 0
    print(f"keystore {args.keystore}")
    print(f"  system id           {ids['system_id']}")
    picc = ids["picc_master"]
    print("  PICC master key     " + ("none" if picc is None else
                                     f"id {picc['id']}  version {picc['version']}"))
    for label, key in ids["application"].items():
        name = f"key {key['key_no']} ({label})"
        print(f"  {name:<18}  id {key['id']}  version {key['version']}")
    signing = ids["signing_key"]
    if signing is None:
        print("  signing key         none (this keystore only verifies)")
    else:
        print(f"  signing key         {signing['algorithm']}, id {signing['id']}")
    for key in ids["verify_keys"]:
        print(f"verification key {key['id']}:")
        print(key["pem"].rstrip())
    return 0


def run_export(args: argparse.Namespace) -> int:
    full = FileKeyStore.load(args.keystore)
    roles = TERMINAL_KEYS[args.role]
    office = args.role == "office"
    part = full.export(roles, picc=office, signing=office)
    data = (json.dumps(part.to_document(), indent=2) + "\n").encode("utf-8")
    write_output(args.out, data, force=args.force, mode=0o600)
    labels = sorted(role.label for role in roles)
    if args.json:
        print_json({"out": args.out, "role": args.role, "keys": labels,
                    "signing_key": office, "picc_master": office})
    else:
        print(f"wrote the {args.role} keys ({', '.join(labels)}) to {args.out} (mode 0600)")
    return 0
