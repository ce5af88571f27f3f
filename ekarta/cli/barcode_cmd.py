"""``ekarta barcode``: print a card number's barcode or card face (``render``), read card
numbers from pictures (``decode``) and from a barcode scanner (``listen``)."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import TextIO

from ekarta.barcode.errors import BarcodeError
from ekarta.barcode.scan import DEFAULT_DEBOUNCE
from ekarta.cli.common import (
    EXAMPLES_FORMATTER,
    CLIError,
    add_force_option,
    input_file,
    output_file,
    wrap,
)
from ekarta.transit.errors import InvalidCardNumber
from ekarta.transit.model.card_number import CardNumber

log = logging.getLogger(__name__)

TERMINATORS = {"CR": b"\r", "LF": b"\n", "CRLF": b"\r\n", "TAB": b"\t"}


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "barcode",
        help="print, decode and scan the card number's barcode",
        description=wrap(
            "The card number (IDK) is printed on the card with a Code 128 barcode of it, for "
            "when the chip cannot be read.  Render that barcode or a preview of the card face, "
            "read card numbers from pictures, or listen to a barcode scanner."
        ),
        epilog=(
            "examples:\n"
            "  ekarta barcode render '123 456 789 4' -o card.svg\n"
            "  ekarta barcode decode photo.jpg\n"
            "  ekarta barcode listen --scanner serial:/dev/ttyACM0?baud=9600"
        ),
        formatter_class=EXAMPLES_FORMATTER,
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", dest="barcode_command",
                                required=True)

    render = sub.add_parser(
        "render",
        parents=[common],
        help="write a card number's barcode (SVG or PNG) or card face (PNG)",
        description=wrap(
            "Write the Code 128 barcode of NUMBER, with the number in readable form under it, "
            "to FILE: SVG or PNG (at --dpi, 300 by default) after FILE's suffix.  With "
            "--card-face (or any of --name, --profile, --photo) write instead a PNG preview of "
            "the card face at ID-1 size: the holder's name, the profile, a photo area and the "
            "barcode.  NUMBER may be written with spaces or dashes."
        ),
        epilog=(
            "examples:\n"
            "  ekarta barcode render 1234567894 -o card.svg\n"
            "  ekarta barcode render '123 456 789 4' -o card.png --dpi 600\n"
            "  ekarta barcode render 1234567894 -o face.png --name 'Jiří Novák' \\\n"
            "      --profile 'Žáci a studenti' --photo jiri.jpg"
        ),
        formatter_class=EXAMPLES_FORMATTER,
    )
    render.add_argument("number", metavar="NUMBER", help="the card number, 10 digits")
    render.add_argument("-o", "--output", metavar="FILE", required=True, type=output_file,
                        help="the file to write: .svg or .png")
    add_force_option(render, "FILE")
    render.add_argument("--dpi", type=_dpi, default=300, help="PNG resolution (default 300)")
    face = render.add_argument_group("card face")
    face.add_argument("--card-face", action="store_true",
                      help="write a preview of the whole card face (PNG)")
    face.add_argument("--name", metavar="NAME", help="the holder's name (a personal card)")
    face.add_argument("--profile", metavar="LABEL", help="the tariff profile's label")
    face.add_argument("--photo", metavar="IMAGE", type=input_file, help="the holder's photo")
    render.set_defaults(func=run_render)

    decode = sub.add_parser(
        "decode",
        parents=[common],
        help="read card numbers from pictures of their barcode",
        description=wrap(
            "Read the card number from the barcode in each IMAGE (PNG, JPEG and whatever else "
            "Pillow opens) and print 'IMAGE: NUMBER', or 'IMAGE: not readable (REASON)' when "
            "it holds no readable card barcode.  The exit status is 1 if any image was not "
            "readable."
        ),
        epilog="examples:\n  ekarta barcode decode card.png photo-*.jpg",
        formatter_class=EXAMPLES_FORMATTER,
    )
    decode.add_argument("images", metavar="IMAGE", nargs="+", type=input_file,
                        help="an image file")
    decode.set_defaults(func=run_decode)

    listen = sub.add_parser(
        "listen",
        parents=[common],
        help="print the card numbers a barcode scanner reads",
        description=wrap(
            "Print each card number the scanner at URL reads, one a line, until interrupted "
            "(Ctrl-C), --count numbers were read or --timeout seconds passed.  Scans that are "
            "not a valid card number are reported on standard error.  URL is "
            "serial:PATH[?baud=N] (9600 baud by default) or any pyserial URL, such as "
            "socket://HOST:PORT.  The exit status is 1 when --timeout ends the wait before "
            "--count numbers were read."
        ),
        epilog=(
            "examples:\n"
            "  ekarta barcode listen --scanner serial:/dev/ttyACM0?baud=9600\n"
            "  ekarta barcode listen --scanner socket://10.0.0.5:4001 --terminator CRLF \\\n"
            "      --prefix ']C0' --count 1 --timeout 30"
        ),
        formatter_class=EXAMPLES_FORMATTER,
    )
    listen.add_argument("--scanner", metavar="URL", required=True, help="the scanner to read")
    listen.add_argument("--terminator", type=_terminator, default=b"\r", metavar="END",
                        help="what ends each scan: CR (default), LF, CRLF, TAB or escaped "
                             "text such as '\\x03'")
    listen.add_argument("--prefix", type=_escaped, default=b"", metavar="TEXT",
                        help="text the scanner puts before each barcode (escapes allowed)")
    listen.add_argument("--suffix", type=_escaped, default=b"", metavar="TEXT",
                        help="text the scanner puts after each barcode (escapes allowed)")
    listen.add_argument("--debounce", type=_seconds, default=DEFAULT_DEBOUNCE, metavar="SECONDS",
                        help="drop a repeat of the same number within this time "
                             f"(default {DEFAULT_DEBOUNCE:g}; 0 keeps every read)")
    listen.add_argument("--count", type=_count, metavar="N",
                        help="stop after N card numbers")
    listen.add_argument("--timeout", type=_seconds, metavar="SECONDS",
                        help="stop after this many seconds")
    listen.set_defaults(func=run_listen)


# --- argument types -----------------------------------------------------------------------------


def _dpi(text: str) -> int:
    if not text.isascii() or not text.isdigit() or not 72 <= int(text) <= 2400:
        raise argparse.ArgumentTypeError(f"must be an integer from 72 to 2400, got {text!r}")
    return int(text)


def _count(text: str) -> int:
    if not text.isascii() or not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return int(text)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text!r}")
    return value


def _escaped(text: str) -> bytes:
    """Command-line text with backslash escapes (``\\x02``, ``\\r``) as bytes."""
    if not text.isascii():
        raise argparse.ArgumentTypeError(f"must be ASCII, got {text!r}")
    try:
        return text.encode("ascii").decode("unicode_escape").encode("latin-1")
    except (UnicodeDecodeError, UnicodeEncodeError):
        raise argparse.ArgumentTypeError(f"bad escape in {text!r}") from None


def _terminator(text: str) -> bytes:
    value = TERMINATORS.get(text.upper()) or _escaped(text)
    if not value:
        raise argparse.ArgumentTypeError("must not be empty")
    return value


# --- commands -----------------------------------------------------------------------------------


def run_render(args: argparse.Namespace) -> int:
    from ekarta.barcode.card_face import save_card_face
    from ekarta.barcode.render import save_barcode

    number = CardNumber.parse(args.number)
    if args.card_face or args.name or args.profile or args.photo:
        save_card_face(number, args.output, holder_name=args.name, profile=args.profile,
                       photo=args.photo, dpi=args.dpi, overwrite=args.force)
    else:
        save_barcode(number, args.output, dpi=args.dpi, overwrite=args.force)
    return 0


def run_decode(args: argparse.Namespace, out: TextIO | None = None) -> int:
    from ekarta.barcode.decode import decode_image

    out = out or sys.stdout
    failed = 0
    for name in args.images:
        try:
            number = decode_image(name)
        except (BarcodeError, InvalidCardNumber) as exc:
            log.debug("%s", name, exc_info=True)
            failed += 1
            print(f"{name}: not readable ({exc})", file=out, flush=True)
        else:
            print(f"{name}: {number}", file=out, flush=True)
    return 1 if failed else 0


def run_listen(args: argparse.Namespace) -> int:
    from ekarta.barcode.scanner import open_scanner

    with open_scanner(args.scanner, terminator=args.terminator, prefix=args.prefix,
                      suffix=args.suffix, debounce=args.debounce) as scanner:
        return listen(scanner, count=args.count, timeout=args.timeout)


def listen(scanner, *, count: int | None = None, timeout: float | None = None,
           out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Print the numbers ``scanner`` reads to ``out`` and refused scans to ``err`` until
    ``count`` numbers were read or ``timeout`` seconds passed; see ``ekarta barcode listen``."""
    out = out or sys.stdout
    err = err or sys.stderr
    deadline = None if timeout is None else time.monotonic() + timeout
    read = 0
    while count is None or read < count:
        wait = None
        if deadline is not None:
            wait = deadline - time.monotonic()
            if wait <= 0:
                break
        scan = scanner.read(wait)
        if scan is None:
            continue
        if scan.number is not None:
            print(scan.number, file=out, flush=True)
            read += 1
        else:
            print(f"ekarta: refused scan: {scan.error}", file=err, flush=True)
    if count is not None and read < count:
        raise CLIError(f"timed out after {timeout:g} s with {read} of {count} card numbers read")
    return 0
