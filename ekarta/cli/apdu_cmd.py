"""``ekarta apdu``: send raw APDUs and print a readable trace."""

from __future__ import annotations

import argparse
import re
import sys
import time

from ekarta.cli.common import (
    EXAMPLES_FORMATTER,
    KEY_HELP,
    CLIError,
    add_key_options,
    add_reader_options,
    load_keys,
    open_card,
    wrap,
)
from ekarta.desfire.client import DESFire
from ekarta.errors import status_class
from ekarta.log import hexdump

ISO_STATUS = {
    0x9000: "OK",
    0x6281: "part of returned data may be corrupted",
    0x6282: "end of file reached before reading Le bytes",
    0x6700: "wrong length",
    0x6881: "logical channel not supported",
    0x6882: "secure messaging not supported",
    0x6981: "command incompatible with file structure",
    0x6982: "security status not satisfied",
    0x6983: "authentication method blocked",
    0x6985: "conditions of use not satisfied",
    0x6986: "command not allowed (no current EF)",
    0x6A80: "incorrect parameters in the data field",
    0x6A81: "function not supported",
    0x6A82: "file not found",
    0x6A83: "record not found",
    0x6A84: "not enough memory space in the file",
    0x6A86: "incorrect parameters P1-P2",
    0x6A88: "referenced data not found",
    0x6B00: "wrong parameters P1-P2",
    0x6D00: "INS not supported",
    0x6E00: "CLA not supported",
    0x6F00: "no precise diagnosis",
}

_SEPARATORS = re.compile(r"[\s:]+")


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "apdu",
        parents=[common],
        help="send raw APDUs and print the responses",
        description=wrap(
            "Send each APDU, in order, to the card on one reader connection and print a trace "
            "of commands (>>) and responses (<<) with the status word decoded and the time the "
            "card took.  Each APDU is hex; spaces and colons are allowed (quote an APDU "
            "written with spaces).  The exit status is 0 even when the card answers with an "
            "error status; it is 1 when the reader fails.\n\n"
            "With one key (--key or --key-file) the card is first authenticated with it, at "
            "its application (selected first) or the PICC level: the APDUs then run in that "
            "session, as they are (ekarta adds no MAC and deciphers nothing)."
        ),
        epilog=(
            "examples:\n"
            "  ekarta apdu 9060000000 90AF000000 90AF000000     GetVersion, all three frames\n"
            "  ekarta apdu --reader emulator:card.json '90 6A 00 00 00'   GetApplicationIDs\n"
            "  ekarta apdu --reader emulator:card.json --key-file picc.key 9051000000\n"
            "                                          GetCardUID, authenticated\n\n" + KEY_HELP
        ),
        formatter_class=EXAMPLES_FORMATTER,
    )
    parser.add_argument("apdus", metavar="HEX", nargs="+", type=parse_apdu,
                        help="an APDU in hex, e.g. 9060000000 or '90 60 00 00 00'")
    add_reader_options(parser)
    add_key_options(parser)
    parser.set_defaults(func=run)


def parse_apdu(text: str) -> bytes:
    """An APDU from hex digits with optional spaces and colons (for argparse)."""
    digits = _SEPARATORS.sub("", text)
    if not digits:
        raise argparse.ArgumentTypeError(f"empty APDU {text!r}")
    bad = next((c for c in digits if c not in "0123456789abcdefABCDEF"), None)
    if bad is not None:
        raise argparse.ArgumentTypeError(f"{text!r} is not hex (bad character {bad!r})")
    if len(digits) % 2:
        raise argparse.ArgumentTypeError(f"{text!r} has an odd number of hex digits")
    return bytes.fromhex(digits)


def describe_status(sw: int) -> str:
    """A readable name for a status word: DESFire 91xx or a common ISO 7816 one."""
    sw1, sw2 = sw >> 8, sw & 0xFF
    if sw1 == 0x91:
        if sw2 == 0x00:
            return "OK"
        cls = status_class(sw2)
        if cls.code is None:
            return "unknown DESFire status"
        return cls.description
    if sw in ISO_STATUS:
        return ISO_STATUS[sw]
    if sw1 == 0x61:
        return f"{sw2} more bytes available"
    if sw1 == 0x6C:
        return f"wrong Le, the card has {sw2} bytes"
    if sw1 == 0x63 and sw2 & 0xF0 == 0xC0:
        return f"verification failed, {sw2 & 0x0F} tries left"
    return ""


def format_response(response: bytes, seconds: float) -> str:
    """``<< DATA SW1 SW2   status XXXX: name  (0.2 ms)``."""
    ms = seconds * 1000
    took = f"({ms:.2f} ms)" if ms < 10 else f"({ms:.0f} ms)"
    if len(response) < 2:
        shown = hexdump(response) or "(nothing)"
        return f"<< {shown}   no status word  {took}"
    sw = int.from_bytes(response[-2:], "big")
    name = describe_status(sw)
    status = f"status {sw:04X}" + (f": {name}" if name else "")
    return f"<< {hexdump(response)}   {status}  {took}"


def run(args: argparse.Namespace) -> int:
    keys = load_keys(args)
    specs = [spec for aid in sorted(keys.applications()) for spec in keys.for_application(aid)]
    if len(specs) > 1:
        raise CLIError("apdu authenticates with one key; give one --key (or a key file with "
                       f"one key), not {len(specs)}")
    with open_card(args) as reader:
        if specs:
            spec = specs[0]
            df = DESFire(reader)
            df.select_application(spec.aid)
            df.authenticate(spec.key_no, spec.key, spec.method(args.ev2))
            print(f"-- authenticated with {spec.label()}", flush=True)
        for apdu in args.apdus:
            print(f">> {hexdump(apdu)}", flush=True)
            start = time.perf_counter()
            response = reader.transceive(apdu)
            elapsed = time.perf_counter() - start
            print(format_response(response, elapsed), flush=True)
    sys.stdout.flush()
    return 0
