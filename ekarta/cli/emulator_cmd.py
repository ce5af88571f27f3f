"""``ekarta emulator``: create, inspect and serve emulated cards stored in files."""

from __future__ import annotations

import argparse

from ekarta.cli.common import (
    EXAMPLES_FORMATTER,
    CLIError,
    add_force_option,
    aid_text,
    file_row,
    hex_bytes,
    input_file,
    output_file,
    print_fields,
    print_json,
    print_table,
    printable,
    wrap,
)

UID_LENGTH = 7
NXP = 0x04


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "emulator",
        help="create, inspect and serve emulated cards stored in files",
        description=wrap(
            "Create and inspect software DESFire cards stored in files.  A stored card is used "
            "with --reader emulator:PATH, or served to other software (pcscd, libnfc, nfcpy) "
            "with 'ekarta emulator serve'; every change a command makes is saved back to PATH.  "
            "One process holds a stored card at a time (a lock on the sidecar PATH.lock): "
            "another waits up to its --wait, then fails saying the card file is in use."
        ),
        epilog=(
            "examples:\n"
            "  ekarta emulator new card.json\n"
            "  ekarta card info --reader emulator:card.json\n"
            "  ekarta emulator serve card.json --vpcd --control unix:/tmp/card.sock"
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
            "readable by its owner only, as it holds the card's keys.  An existing PATH is "
            "replaced only with --force, and never while another process holds the card "
            "(a reader on emulator:PATH, 'ekarta emulator serve')."
        ),
        epilog=(
            "examples:\n"
            "  ekarta emulator new card.json\n"
            "  ekarta emulator new card.json --uid 04A1B2C3D4E5F6 --force\n"
            "  ekarta emulator new card.json --json"
        ),
        formatter_class=EXAMPLES_FORMATTER,
    )
    new.add_argument("path", metavar="PATH", type=output_file, help="the file to write")
    new.add_argument(
        "--uid",
        type=parse_uid,
        metavar="HEX",
        help="the card's 7-byte UID as 14 hex digits starting with 04 (default: random)",
    )
    add_force_option(new, "PATH")
    new.add_argument("--json", action="store_true",
                     help="print one JSON document instead (path and UID)")
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
    show.add_argument("path", metavar="PATH", type=input_file, help="the card file")
    show.set_defaults(func=run_show)

    _register_serve(sub, common)
    _register_control(sub, common)


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
    from ekarta.files import FileLock

    path = args.path
    card = VirtualCard.new(uid=args.uid)
    # a card that some process holds is not replaced under it, even with --force
    with FileLock(path, what="card file").acquire():
        try:
            card.save(path, overwrite=args.force)
        except FileExistsError:
            raise CLIError(f"{path} exists; use --force to replace it") from None
    if args.json:
        print_json({"path": str(path), "uid": card.uid.hex().upper()})
        return 0
    print(f"created emulated card {path}")
    print(f"  UID  {hex_bytes(card.uid)}")
    return 0


def _in_use(path: str) -> bool:
    """Whether another process holds the card file (a quick look, no waiting)."""
    from ekarta.errors import FileInUse
    from ekarta.files import FileLock

    try:
        with FileLock(path, what="card file").acquire():
            return False
    except FileInUse:
        return True


def run_show(args: argparse.Namespace) -> int:
    from ekarta.emulator import VirtualCard

    card = VirtualCard.load(args.path)
    busy = _in_use(args.path)
    apps = [app for aid, app in sorted(card.applications.items()) if aid]
    print(f"emulated card {args.path}")
    print_fields([
        ("UID", hex_bytes(card.uid) or "?"),
        ("free memory", f"{card.free_memory} bytes"),
        ("PICC", card.state.picc_settings.describe(picc=True)),
        ("applications", str(len(apps)) if apps else "none"),
    ])
    if busy:
        print("  (in use by another process: this is the state it last saved)")
    for app in apps:
        head = f"  {aid_text(app.aid)}"
        if app.iso_fid is not None:
            head += f"  ISO FID {app.iso_fid:04X}"
        if app.df_name:
            text = printable(app.df_name)
            head += f"  DF name {hex_bytes(app.df_name)}" + (f' "{text}"' if text else "")
        print(head)
        ks = app.key_settings_info()
        noun = "key" if ks.key_count == 1 else "keys"
        print_fields([
            ("key settings", ks.settings.describe()),
            ("keys", f"{ks.key_count} {ks.crypto.family} {noun}"),
            ("files", str(len(app.files)) if app.files else "none"),
        ], indent=4)
        print_table([file_row(no, f.settings()) for no, f in sorted(app.files.items())],
                    indent=6)
    return 0


# --- serve and control ----------------------------------------------------------------------------

SERVE_EPILOG = """\
front-ends (at least one, or --control):
  --vpcd [HOST:PORT]  connect to pcscd's virtual reader driver (vsmartcard-vpcd);
                      PC/SC applications then see the card in "Virtual PCD 00 00"
  --pn532 LINK        answer as a PN532 on a UART, on a pseudo-terminal linked at LINK
                      (libnfc: LIBNFC_DEVICE=pn532_uart:LINK; nfcpy: tty:NAME:pn532 with
                      LINK = /dev/NAME; ekarta: --reader pn532:LINK)
  --udp [HOST:PORT]   answer nfcpy's udp driver (ekarta: --reader nfcpy:udp:HOST:PORT)
  --control ADDRESS   take commands (remove, insert, tear, mute, ...) on unix:PATH or
                      tcp:127.0.0.1:PORT; send them with 'ekarta emulator control'
Put PATH first: an option with an optional value takes the word after it.

examples:
  ekarta emulator serve card.json --vpcd
  ekarta emulator serve card.json --pn532 /tmp/pn532 --control unix:/tmp/card.sock
  LIBNFC_DEVICE=pn532_uart:/tmp/pn532 nfc-list
  ekarta emulator serve card.json --udp 127.0.0.1:54321 --control tcp:127.0.0.1:7000"""

CONTROL_EPILOG = """\
commands:
  status                       present, UID, selected application, transaction, memory
  remove | insert              take the card out of the field, put it back
  tear                         the card loses power now
  tear after N                 ... as command N arrives (0 = the next command)
  tear during N [progress P]   command N is cut after fraction P (default 0.5) of it
  mute on|off                  the card stops (starts) answering
  latency SECONDS              every command takes that much longer
  clear                        no faults any more
  quit                         stop the server
  help                         list the commands
The answer is printed; the exit status is 1 when it is an error.

examples:
  ekarta emulator control unix:/tmp/card.sock status
  ekarta emulator control unix:/tmp/card.sock tear during 3 progress 0.5
  ekarta emulator control tcp:127.0.0.1:7000 quit"""


def _register_serve(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    serve = sub.add_parser(
        "serve",
        parents=[common],
        help="serve a stored card to PC/SC, libnfc and nfcpy until Ctrl-C",
        description=wrap(
            "Serve the card stored in PATH through one or more front-ends at once, so that "
            "software nobody here wrote (pcscd and every PC/SC application, libnfc and "
            "libfreefare, nfcpy) sees a DESFire card.  Every change is saved back to PATH.  "
            "Runs until Ctrl-C, SIGTERM or 'quit' on the control interface."
        ),
        epilog=SERVE_EPILOG,
        formatter_class=EXAMPLES_FORMATTER,
    )
    serve.add_argument("path", metavar="PATH", type=input_file,
                       help="the card file (see 'ekarta emulator new')")
    serve.add_argument("--vpcd", nargs="?", const="127.0.0.1:35963", metavar="HOST:PORT",
                       help="serve to vsmartcard-vpcd (default 127.0.0.1:35963)")
    serve.add_argument("--pn532", metavar="LINK",
                       help="serve as a PN532 on a pseudo-terminal linked at LINK")
    serve.add_argument("--udp", nargs="?", const="127.0.0.1:54321", metavar="HOST:PORT",
                       help="serve to nfcpy's udp driver (default 127.0.0.1:54321)")
    serve.add_argument("--control", metavar="ADDRESS",
                       help="control interface: unix:PATH or tcp:127.0.0.1:PORT")
    serve.set_defaults(func=run_serve)


def _register_control(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    control = sub.add_parser(
        "control",
        parents=[common],
        help="send a command to a served card's control interface",
        description=wrap(
            "Send one command to the control interface of 'ekarta emulator serve --control "
            "ADDRESS' and print the answer: take the card out of the field, put it back, tear "
            "it during a command, make it mute or slow."
        ),
        epilog=CONTROL_EPILOG,
        formatter_class=EXAMPLES_FORMATTER,
    )
    control.add_argument("address", metavar="ADDRESS",
                         help="where the server listens: unix:PATH or tcp:127.0.0.1:PORT")
    control.add_argument("words", metavar="COMMAND", nargs="+",
                         help="the command and its arguments, e.g. 'tear after 3'")
    control.add_argument("--timeout", type=_timeout, default=5.0, metavar="SECONDS",
                         help="how long to wait for the answer (default 5)")
    control.set_defaults(func=run_control)


MAX_CONTROL_TIMEOUT = 3600.0


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 < value <= MAX_CONTROL_TIMEOUT:
        raise argparse.ArgumentTypeError(
            f"must be more than 0 and at most {MAX_CONTROL_TIMEOUT:g} s, got {text!r}")
    return value


def run_serve(args: argparse.Namespace) -> int:
    from ekarta.emulator.serve import serve

    if not (args.vpcd or args.pn532 or args.udp or args.control):
        raise CLIError("nothing to serve the card with: give --vpcd, --pn532, --udp or --control")

    def banner(lines: list[str]) -> None:
        print(f"emulated card {args.path}")
        for line in lines:
            print(f"  {line}")
        print("serving; Ctrl-C to stop", flush=True)

    serve(args.path, vpcd=args.vpcd, pn532=args.pn532, udp=args.udp, control=args.control,
          on_ready=banner)
    print("stopped; card saved", flush=True)
    return 0


def run_control(args: argparse.Namespace) -> int:
    from ekarta.emulator.control import send_control

    answer = send_control(args.address, " ".join(args.words), timeout=args.timeout)
    print(answer)
    return 1 if not answer.startswith("ok") else 0
