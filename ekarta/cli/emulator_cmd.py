"""``ekarta emulator``: create and inspect emulated cards stored in files."""

from __future__ import annotations

import argparse
import contextlib
import os
from typing import Any

from ekarta.cli.common import (
    EXAMPLES_FORMATTER,
    CLIError,
    aid_text,
    describe_file,
    describe_key_settings,
    file_settings_dict,
    hex_bytes,
    key_settings_dict,
    print_fields,
    print_table,
    printable,
    wrap,
)
from ekarta.desfire.commands import AppCrypto
from ekarta.desfire.structs import KeySettingsInfo

UID_LENGTH = 7
NXP = 0x04


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "emulator",
        help="create and inspect emulated cards stored in files",
        description=wrap(
            "Create and inspect software DESFire cards stored in files.  A stored card is used "
            "with --reader emulator:PATH; every change a command makes is saved back to PATH."
        ),
        epilog=(
            "examples:\n"
            "  ekarta emulator new card.json\n"
            "  ekarta card info --reader emulator:card.json"
        ),
        formatter_class=EXAMPLES_FORMATTER,
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", dest="emulator_command",
                                required=True)

    new = sub.add_parser(
        "new",
        parents=[common],
        help="create a factory-fresh emulated card in a file",
        description=wrap(
            "Write the state of a factory-fresh DESFire card to PATH: no applications, the PICC "
            "master key is the all-zero DES key, all of its memory is free.  The file is "
            "readable by its owner only, as it holds the card's keys."
        ),
        epilog=(
            "examples:\n"
            "  ekarta emulator new card.json\n"
            "  ekarta emulator new card.json --uid 04A1B2C3D4E5F6 --force"
        ),
        formatter_class=EXAMPLES_FORMATTER,
    )
    new.add_argument("path", metavar="PATH", help="the file to write")
    new.add_argument(
        "--uid",
        type=parse_uid,
        metavar="HEX",
        help="the card's 7-byte UID as 14 hex digits starting with 04 (default: random)",
    )
    new.add_argument("-f", "--force", action="store_true", help="overwrite PATH if it exists")
    new.set_defaults(func=run_new)

    show = sub.add_parser(
        "show",
        parents=[common],
        help="summarize an emulated card stored in a file",
        description=wrap(
            "Summarize a stored card straight from its file, without a reader and without keys: "
            "UID, free memory, applications with their key settings and files.  Key material "
            "is not shown."
        ),
        epilog="example:\n  ekarta emulator show card.json",
        formatter_class=EXAMPLES_FORMATTER,
    )
    show.add_argument("path", metavar="PATH", help="the card file")
    show.set_defaults(func=run_show)


def parse_uid(text: str) -> bytes:
    """A 7-byte NXP UID from hex (spaces and colons allowed), for ``--uid``."""
    digits = text.replace(":", "").replace(" ", "")
    try:
        uid = bytes.fromhex(digits)
    except ValueError:
        uid = b""
    if len(uid) != UID_LENGTH or len(digits) != 2 * UID_LENGTH or uid[0] != NXP:
        raise argparse.ArgumentTypeError(
            f"a UID is 7 bytes, 14 hex digits starting with 04 (NXP), got {text!r}"
        )
    return uid


def run_new(args: argparse.Namespace) -> int:
    from ekarta.emulator import VirtualCard

    path = args.path
    if os.path.isdir(path):
        raise CLIError(f"{path} is a directory")
    card = VirtualCard.new(uid=args.uid)
    # Claim the name first (O_EXCL: no race with another writer), readable by the owner only.
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if args.force else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise CLIError(f"{path} exists; use --force to overwrite it") from None
    os.close(fd)
    created = not args.force
    try:
        card.save(path)
        os.chmod(path, 0o600)
    except BaseException:
        if created:
            _remove_quietly(path)
        raise
    print(f"created emulated card {path}")
    print(f"  UID  {hex_bytes(card.uid)}")
    return 0


def _remove_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def run_show(args: argparse.Namespace) -> int:
    from ekarta.emulator import VirtualCard

    card = VirtualCard.load(args.path)
    apps = [app for aid, app in sorted(card.applications.items()) if aid]
    print(f"emulated card {args.path}")
    print_fields([
        ("UID", hex_bytes(card.uid) or "?"),
        ("free memory", f"{card.free_memory} bytes"),
        ("PICC", describe_key_settings(
            key_settings_dict(_picc_settings(card)), picc=True)),
        ("applications", str(len(apps)) if apps else "none"),
    ])
    for app in apps:
        head = f"  {aid_text(app.aid)}"
        if app.iso_fid is not None:
            head += f"  ISO FID {app.iso_fid:04X}"
        if app.df_name:
            text = printable(app.df_name)
            head += f"  DF name {hex_bytes(app.df_name)}" + (f' "{text}"' if text else "")
        print(head)
        ks = key_settings_dict(app.key_settings_info())
        noun = "key" if ks["key_count"] == 1 else "keys"
        print_fields([
            ("key settings", describe_key_settings(ks)),
            ("keys", f"{ks['key_count']} {ks['key_type']} {noun}"),
            ("files", str(len(app.files)) if app.files else "none"),
        ], indent=4)
        print_table([describe_file(file_settings_dict(no, f.settings()))
                     for no, f in sorted(app.files.items())], indent=6)
    return 0


def _picc_settings(card: Any) -> KeySettingsInfo:
    key_type = card.state.picc_key.type
    return KeySettingsInfo(settings=card.state.picc_settings, key_count=1,
                           crypto=AppCrypto(key_type.app_crypto_bits))
