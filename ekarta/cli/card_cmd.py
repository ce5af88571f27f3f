"""``ekarta card``: look at a card (``info``), erase it (``format``), issue it as a transit card
(``issue``) and show the transit card with its verdict (``show``); the card's life cycle
(``activate``, ``block``, ``unblock``, ``update``) and a technician's card key (``key``)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from datetime import date, datetime
from enum import IntEnum
from typing import Any, TextIO, TypeVar

from ekarta.cli.common import (
    DEFAULT_READER,
    EXAMPLES_FORMATTER,
    KEY_HELP,
    CLIError,
    add_force_option,
    add_hotlist_option,
    add_key_options,
    add_keystore_option,
    add_operation_options,
    add_reader_options,
    aid_text,
    argument,
    enum_argument,
    event_json,
    file_row,
    hex_bytes,
    load_hotlist,
    load_keys,
    load_keystore,
    now,
    open_card,
    output_file,
    print_fields,
    print_json,
    print_table,
    printable,
    reader_url,
    verdict_json,
    wrap,
    write_output,
)
from ekarta.desfire.client import DESFire
from ekarta.desfire.commands import PICC_AID, FileType
from ekarta.desfire.explore import (
    ApplicationReport,
    CardReport,
    FileReport,
    Refusal,
    explore,
)
from ekarta.desfire.structs import KeySettingsInfo, VersionPart, right_name
from ekarta.errors import AuthenticationError, ProtocolError
from ekarta.transit.cardio.issuance import issue_card
from ekarta.transit.cardio.lifecycle import (
    RecordResult,
    activate_card,
    block_card,
    change_card_record,
    unblock_card,
)
from ekarta.transit.cardio.reading import read_card
from ekarta.transit.cardio.refusals import CardOperationRefused
from ekarta.transit.codec.coupon_file import CouponDocument
from ekarta.transit.codec.layout import AID, KeyRole
from ekarta.transit.errors import InvalidField
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.lifecycle import RecordChange, check_card_record
from ekarta.transit.model.messages import (
    LANGUAGES,
    coupon_type_name,
    format_date,
    format_money,
    label,
    profile_name,
    status_name,
)
from ekarta.transit.model.notation import enum_name, enum_names, parse_date, parse_when, parse_zone
from ekarta.transit.model.purse import PURSE_KINDS
from ekarta.transit.model.report import SlotReport, TransitReport, transit_report
from ekarta.transit.model.timecodec import local_date, to_local
from ekarta.transit.model.values import (
    CardKind,
    CardRecord,
    CardStatus,
    Profile,
    add_years,
    check_uid,
)
from ekarta.transit.security.keystore import KeyProvider, key_fingerprint

log = logging.getLogger(__name__)

T = TypeVar("T")


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "card",
        help="show a card's contents, erase it, issue, show and manage transit cards",
        description=("Look at a DESFire card (info), erase it (format), turn a factory-fresh "
                     "card into a transit card (issue) and show a transit card with its "
                     "verdict (show); activate, block, unblock a transit card and change its "
                     "record (activate, block, unblock, update); derive one card's key for a "
                     "technician (key)."),
        epilog=(
            "examples:\n"
            "  ekarta card info --reader emulator:card.json\n"
            "  ekarta card format --reader emulator:card.json --key 0:des:0000000000000000\n"
            "  ekarta card issue --reader emulator:card.json --keys keys.json \\\n"
            "      --number 1234567894 --first-name Jana --surname Nováková\n"
            "  ekarta card show --reader emulator:card.json --keys keys.json --zone 2\n"
            "  ekarta card activate --reader emulator:card.json --keys keys.json\n"
            "  ekarta card key --reader emulator:card.json --keys keys.json --role picc "
            "--out picc.key"
        ),
        formatter_class=EXAMPLES_FORMATTER,
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", dest="card_command",
                                required=True)

    info = sub.add_parser(
        "info",
        parents=[common],
        help="show the card: version, UID, memory, applications, files",
        description=wrap(
            "Show what a card tells: product, hardware and software versions, UID, batch and "
            "production date, free memory, the PICC key settings and every application with "
            "its keys and files.  Where listing needs a key that was not given, the output "
            "says so ('locked') and goes on.  With a PICC key the real UID (GetCardUID) is "
            "shown too."
        ),
        epilog=(
            "examples:\n"
            "  ekarta card info\n"
            "  ekarta card info --reader emulator:card.json --json\n"
            "  ekarta card info --key 0:des:0000000000000000 \\\n"
            "                   --key A1B2C3:0:aes:00112233445566778899AABBCCDDEEFF\n"
            "  ekarta card info --key-file keys.txt\n\n" + KEY_HELP
        ),
        formatter_class=EXAMPLES_FORMATTER,
    )
    info.add_argument("--json", action="store_true", help="print one JSON document instead")
    add_reader_options(info)
    add_key_options(info)
    info.set_defaults(func=run_info)

    fmt = sub.add_parser(
        "format",
        parents=[common],
        help="erase every application (needs the PICC master key)",
        description=wrap(
            "Erase the card with FormatPICC: every application and its files go, the PICC "
            "master key and settings stay.  Authenticates with the PICC master key given with "
            "--key (or --key-file) and asks for confirmation; without a terminal, --yes is "
            "required."
        ),
        epilog=(
            "examples:\n"
            "  ekarta card format --reader emulator:card.json --key 0:des:0000000000000000\n"
            "  ekarta card format --reader pcsc: --key-file picc.key --yes\n\n" + KEY_HELP
        ),
        formatter_class=EXAMPLES_FORMATTER,
    )
    fmt.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    add_reader_options(fmt, changes_card=True)
    add_key_options(fmt)
    fmt.set_defaults(func=run_format)

    _register_issue(sub, common)
    _register_show(sub, common)
    _register_lifecycle(sub, common)
    _register_key(sub, common)


# --- card info ------------------------------------------------------------------------------------


def run_info(args: argparse.Namespace) -> int:
    keys = load_keys(args)
    url = reader_url(args)
    with open_card(args) as reader:
        report = explore(DESFire(reader), keys)
    if args.json:
        print_json(info_document(report, url))
    else:
        render_info(report, url)
    for warning in _warnings(report):
        print(f"ekarta: warning: {warning}", file=sys.stderr)
    return 0


def _warnings(report: CardReport) -> list[str]:
    warnings = []
    if report.picc.auth_error:
        warnings.append(f"PICC: {report.picc.auth_error}")
    for app in report.applications or ():
        if app.auth_error:
            warnings.append(f"application {aid_text(app.aid)}: {app.auth_error}")
    return warnings


def _note(refusal: Refusal | None) -> str | None:
    return None if refusal is None else str(refusal)


def info_document(report: CardReport, url: str) -> dict[str, Any]:
    """:func:`~ekarta.desfire.explore.explore`'s report as the JSON document of ``card info
    --json`` (bytes as upper-case hex)."""
    version = report.version
    picc = report.picc
    return {
        "reader": url,
        "product": version.product,
        "vendor": version.vendor,
        "hardware": _part_document(version.hardware),
        "software": _part_document(version.software),
        "storage_bytes": version.storage_bytes,
        "storage_exact": version.storage_exact,
        "uid": hex_bytes(version.uid),
        "real_uid": hex_bytes(report.real_uid),
        "batch": hex_bytes(version.batch),
        "production_week": version.production_week,
        "production_year": version.production_year_full,
        "free_memory": report.free_memory,
        "picc": {
            "key_settings": _key_settings_document(picc.key_settings),
            "key_settings_locked": _note(picc.key_settings_locked),
            "key_versions": _list(picc.key_versions),
            "auth_error": picc.auth_error,
        },
        "applications": (None if report.applications is None
                         else [_application_document(app) for app in report.applications]),
        "applications_locked": _note(report.applications_locked),
        "notes": list(report.notes),
    }


def _list(items: tuple[T, ...] | None) -> list[T] | None:
    return None if items is None else list(items)


def _part_document(part: VersionPart) -> dict[str, Any]:
    return {
        "vendor_id": part.vendor_id,
        "type": part.type,
        "subtype": part.subtype,
        "version": part.version,
        "storage_size": part.storage_size,
        "protocol": part.protocol,
    }


def _key_settings_document(info: KeySettingsInfo | None) -> dict[str, Any] | None:
    if info is None:
        return None
    s = info.settings
    return {
        "byte": f"{s.to_byte():02X}",
        "change_key": s.change_key_name,
        "config_changeable": s.config_changeable,
        "free_create_delete": s.free_create_delete,
        "free_listing": s.free_directory,
        "master_key_changeable": s.master_key_changeable,
        "key_count": info.key_count,
        "key_type": info.crypto.family,
        "iso_file_ids": info.iso_file_ids,
    }


def _application_document(app: ApplicationReport) -> dict[str, Any]:
    return {
        "aid": aid_text(app.aid),
        "iso_fid": None if app.iso_fid is None else f"{app.iso_fid:04X}",
        "df_name": hex_bytes(app.df_name),
        "key_settings": _key_settings_document(app.key_settings),
        "key_settings_locked": _note(app.key_settings_locked),
        "key_versions": _list(app.key_versions),
        "iso_file_ids": (None if app.iso_file_ids is None
                         else [f"{fid:04X}" for fid in app.iso_file_ids]),
        "files": None if app.files is None else [_file_document(f) for f in app.files],
        "locked": _note(app.files_locked),
        "auth_error": app.auth_error,
        "errors": list(app.errors),
    }


def _file_document(report: FileReport) -> dict[str, Any]:
    fs = report.settings
    if fs is None:
        return {"file_no": report.file_no, "error": report.error}
    document: dict[str, Any] = {
        "file_no": report.file_no,
        "type": fs.file_type.label.replace(" ", "_"),
        "comm": fs.comm.value,
        "access": {
            "read": right_name(fs.access.read),
            "write": right_name(fs.access.write),
            "read_write": right_name(fs.access.read_write),
            "change": right_name(fs.access.change),
        },
    }
    if fs.file_type in (FileType.STD_DATA, FileType.BACKUP_DATA):
        document["size"] = fs.size
    elif fs.file_type is FileType.VALUE:
        document.update(
            lower_limit=fs.lower_limit,
            upper_limit=fs.upper_limit,
            limited_credit_value=fs.limited_credit_value,
            limited_credit_enabled=fs.limited_credit_enabled,
            free_get_value=fs.free_get_value,
        )
    else:
        document.update(
            record_size=fs.record_size,
            max_records=fs.max_records,
            current_records=fs.current_records,
        )
    return document


def render_info(report: CardReport, url: str, out: TextIO | None = None) -> None:
    """Print :func:`~ekarta.desfire.explore.explore`'s report for people."""
    out = out or sys.stdout

    def p(text: str = "") -> None:
        print(text, file=out)

    version = report.version
    storage = f"{version.storage_bytes} bytes"
    if not version.storage_exact:
        storage = f"more than {storage}"
    p(f"{version.product} ({version.vendor})   reader {url}")
    uid = hex_bytes(version.uid) or ""
    rows = [
        ("hardware", _part_text(version.hardware)),
        ("software", _part_text(version.software)),
        ("storage", storage),
        ("UID", uid + ("" if report.real_uid else "  (from GetVersion)")),
    ]
    if report.real_uid:
        rows.append(("real UID", f"{hex_bytes(report.real_uid)}  (GetCardUID)"))
    rows += [
        ("batch", hex_bytes(version.batch) or ""),
        ("production", f"week {version.production_week:02d} of {version.production_year_full}"),
        ("free memory", "?" if report.free_memory is None else f"{report.free_memory} bytes"),
    ]
    print_fields(rows, out=out)

    picc = report.picc
    p("PICC")
    rows = []
    if picc.auth_error:
        rows.append(("auth", picc.auth_error))
    ks = picc.key_settings
    if ks is not None:
        rows.append(("key settings", ks.settings.describe(picc=True)))
        master = ks.crypto.family
        if picc.key_versions and picc.key_versions[0] is not None:
            master += f", version {picc.key_versions[0]}"
        rows.append(("master key", master))
    else:
        rows.append(("key settings", str(picc.key_settings_locked)))
    print_fields(rows, out=out)

    apps = report.applications
    if apps is None:
        p(f"Applications: {report.applications_locked}")
    elif not apps:
        p("Applications: none")
    else:
        p(f"Applications: {len(apps)}")
        for app in apps:
            _render_application(app, p, out)
    for note in report.notes:
        p(f"note: {note}")


def _part_text(part: VersionPart) -> str:
    return (f"vendor 0x{part.vendor_id:02X}  type 0x{part.type:02X}/"
            f"0x{part.subtype:02X}  version {part.version}  "
            f"storage 0x{part.storage_size:02X}  protocol 0x{part.protocol:02X}")


def _versions_text(versions: tuple[int | None, ...] | None) -> str:
    if not versions:
        return ""
    return "versions " + " ".join("?" if v is None else str(v) for v in versions)


def _render_application(app: ApplicationReport, p: Callable[[str], None], out: TextIO) -> None:
    head = f"  {aid_text(app.aid)}"
    if app.iso_fid is not None:
        head += f"  ISO FID {app.iso_fid:04X}"
    if app.df_name is not None:
        text = printable(app.df_name)
        head += f"  DF name {hex_bytes(app.df_name)}" + (f' "{text}"' if text else "")
    p(head)
    rows = []
    if app.auth_error:
        rows.append(("auth", app.auth_error))
    ks = app.key_settings
    if ks is not None:
        rows.append(("key settings", ks.settings.describe()))
        noun = "key" if ks.key_count == 1 else "keys"
        keys = f"{ks.key_count} {ks.crypto.family} {noun}"
        versions = _versions_text(app.key_versions)
        rows.append(("keys", f"{keys}, {versions}" if versions else keys))
    else:
        rows.append(("key settings", _note(app.key_settings_locked) or "?"))
    for error in app.errors:
        rows.append(("error", error))
    if app.iso_file_ids:
        rows.append(("ISO file IDs", " ".join(f"{fid:04X}" for fid in app.iso_file_ids)))
    if app.files is None:
        rows.append(("files", _note(app.files_locked) or "?"))
    else:
        rows.append(("files", str(len(app.files)) if app.files else "none"))
    print_fields(rows, indent=4, out=out)
    if app.files:
        table = []
        for f in app.files:
            if f.settings is None:
                table.append([f"{f.file_no:02d}", f"error: {f.error}"])
            else:
                table.append(file_row(f.file_no, f.settings))
        print_table(table, indent=6, out=out)


# --- card format ----------------------------------------------------------------------------------


def _confirm(prompt: str) -> bool:
    print(prompt, end="", file=sys.stderr, flush=True)
    try:
        answer = sys.stdin.readline()
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def run_format(args: argparse.Namespace) -> int:
    keys = load_keys(args)
    spec = keys.get(PICC_AID, 0)
    if spec is None:
        raise CLIError(
            "card format needs the PICC master key: --key 0:TYPE:HEX (or --key-file FILE)"
        )
    interactive = sys.stdin.isatty()
    if not args.yes and not interactive:
        raise CLIError("card format erases the card; no terminal to ask for confirmation, "
                       "so pass --yes to go ahead")
    with open_card(args) as reader:
        df = DESFire(reader)
        uid = hex_bytes(df.get_version().uid)
        df.select_application(PICC_AID)
        log.info("authenticating with %s", spec.label())
        try:
            df.authenticate(spec.key_no, spec.key, spec.method(args.ev2))
        except (AuthenticationError, ProtocolError) as exc:
            raise CLIError(
                f"authentication with the PICC master key failed ({exc}); "
                "is it the right key and key type?"
            ) from None
        before = df.free_memory()
        print(f"card {uid}: free memory {before} bytes")
        if not args.yes and not _confirm(
            f"this erases every application on card UID {uid}; go on? [y/N] "
        ):
            print("cancelled; the card is unchanged", file=sys.stderr)
            return 1
        df.format_picc()
        after = df.free_memory()
        print(f"formatted card {uid}: free memory {after} bytes (was {before})")
    return 0


# --- card issue -----------------------------------------------------------------------------------

STATUS_NAMES = {"produced": "PRODUCED", "active": "ACTIVE"}
EXIT_NOT_VALID = 3
"""``card show``'s exit status when the card decodes but the verdict is a refusal."""


def _register_issue(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    issue = sub.add_parser(
        "issue",
        parents=[common],
        help="turn a factory-fresh card into a transit card",
        description=wrap(
            "Issue a transit card: change the PICC master key from the factory default to the "
            "card's diversified AES key, create the transit application with its files and "
            "diversified keys, and write the card record.  A card pulled away half-way reads "
            "as not issued; running the same command again finds what is done and completes "
            "it.  On a card issued already with the same data it changes nothing."
        ),
        epilog=(
            "examples:\n"
            "  ekarta card issue --reader emulator:card.json --keys keys.json \\\n"
            "      --number 1234567894 --first-name Jana --surname Nováková \\\n"
            "      --profile student --birth-date 2008-04-01 --profile-end 2027-08-31\n"
            "  ekarta card issue --reader pcsc: --keys keys.json --number 1234567894 --anonymous"
        ),
        formatter_class=EXAMPLES_FORMATTER,
    )
    add_keystore_option(issue)
    record = issue.add_argument_group("the card record")
    record.add_argument("--number", type=argument(CardNumber.parse), required=True, metavar="IDK",
                        help="the card number printed on the card (10 digits)")
    record.add_argument("--anonymous", action="store_true",
                        help="an anonymous card (no personal data, adult transferable)")
    record.add_argument("--first-name", default="", metavar="NAME")
    record.add_argument("--surname", default="", metavar="NAME")
    record.add_argument("--birth-date", type=argument(parse_date), metavar="DATE",
                        help="needed for the children and student profiles")
    record.add_argument("--profile", type=enum_argument(Profile, "profile"), metavar="PROFILE",
                        help="the tariff profile (default adult-non-transferable, anonymous "
                             "cards adult-transferable)")
    record.add_argument("--profile-end", type=argument(parse_date), metavar="DATE",
                        help="last day of a discounted profile")
    record.add_argument("--expiry", type=argument(parse_date), metavar="DATE",
                        help="last day of the card (default: 5 years from today)")
    record.add_argument("--status", choices=tuple(STATUS_NAMES), default="active",
                        help="active (collected at a contact point, the default) or produced "
                             "(sent by post: the holder activates it)")
    issue.add_argument("--at", type=argument(parse_when), metavar="DATETIME",
                       help="the time of issuing (ISO, Europe/Prague; default now): the card "
                            "record must make sense on its day")
    issue.add_argument("--lang", choices=LANGUAGES, default="en",
                       help="language of a refusal's message")
    issue.add_argument("--json", action="store_true", help="print one JSON document instead")
    add_reader_options(issue, changes_card=True)
    issue.set_defaults(func=run_issue)


def _issue_record(args: argparse.Namespace) -> CardRecord:
    kind = CardKind.ANONYMOUS if args.anonymous else CardKind.PERSONAL
    profile = args.profile or (Profile.ADULT_TRANSFERABLE if args.anonymous
                               else Profile.ADULT_NON_TRANSFERABLE)
    expiry = args.expiry or add_years(local_date(args.at or now()), 5)
    try:
        return CardRecord(card_number=args.number, kind=kind,
                          status=CardStatus[STATUS_NAMES[args.status]], expiry=expiry,
                          profile=profile, profile_end=args.profile_end,
                          birth_date=args.birth_date, first_name=args.first_name,
                          surname=args.surname)
    except InvalidField as exc:
        raise CLIError(f"card record: {exc}") from None


def run_issue(args: argparse.Namespace) -> int:
    keystore = load_keystore(args)
    record = _issue_record(args)
    today = local_date(args.at or now())
    refusals = check_card_record(record, today)
    if refusals:  # before a reader is opened: nothing to wait for
        raise CLIError(CardOperationRefused("issuing", refusals).message(args.lang))
    with open_card(args) as reader:
        result = issue_card(DESFire(reader), keystore, record, today=today)
    number = result.card_number.formatted
    if args.json:
        print_json({"card_number": str(result.card_number), "uid": hex_bytes(result.uid),
                    "already_issued": result.already_issued, "steps": list(result.steps)})
    elif result.already_issued:
        print(f"card {number} (UID {hex_bytes(result.uid)}) is already issued: nothing changed")
    else:
        print(f"issued card {number} (UID {hex_bytes(result.uid)})")
        print("  done: " + ", ".join(result.steps))
    return 0


# --- card show ------------------------------------------------------------------------------------


def _register_show(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    show = sub.add_parser(
        "show",
        parents=[common],
        help="decode a transit card and show the verdict",
        description=wrap(
            "Read the transit card with its read key (the e-purse with the validation key) "
            "and show it: number, kind, status, "
            "profile, expiry, the holder's name on a personal card, every coupon slot, the "
            "event log (newest first) and the e-purse; then the verdict for a journey at "
            "--at (default now) in --zone (default: any zone), as a validator would judge it. "
            "When the card holds a dog coupon, the dog's verdict is shown too.\n\n"
            f"Exit status: 0 the card is valid, {EXIT_NOT_VALID} it is not (the verdict says "
            "why), 1 an error (not a transit card, not issued, unreadable)."
        ),
        epilog=(
            "examples:\n"
            "  ekarta card show --reader emulator:card.json --keys keys.json\n"
            "  ekarta card show --keys keys.json --at 2026-12-01T08:30 --zone 2 --lang cs\n"
            "  ekarta card show --keys keys.json --hotlist blocked.txt --json"
        ),
        formatter_class=EXAMPLES_FORMATTER,
    )
    add_keystore_option(show)
    show.add_argument("--at", type=argument(parse_when), metavar="DATETIME",
                      help="the time to judge (ISO, Europe/Prague; default now)")
    show.add_argument("--zone", type=argument(parse_zone), metavar="N",
                      help="the tariff zone of the journey (default: any zone)")
    show.add_argument("--dog", action="store_true",
                      help="the exit status follows the dog's verdict, not the holder's")
    add_hotlist_option(show)
    show.add_argument("--lang", choices=LANGUAGES, default="en",
                      help="language of the output (names, dates, messages)")
    show.add_argument("--json", action="store_true", help="print one JSON document instead")
    add_reader_options(show)
    show.set_defaults(func=run_show)


def _when_text(at: datetime) -> str:
    return to_local(at).strftime("%Y-%m-%d %H:%M")


def _slot_json(slot: SlotReport) -> dict[str, Any]:
    if slot.coupon is not None:
        assert slot.period is not None
        return {"slot": slot.index, "state": "coupon", "signature_valid": slot.genuine,
                "period": slot.period.value,
                "coupon": CouponDocument(slot.coupon.coupon).to_json()}
    if slot.error is not None:
        return {"slot": slot.index, "state": "unreadable", "error": slot.error.message,
                "kind": slot.error.kind.value}
    return {"slot": slot.index, "state": "empty"}


def report_json(report: TransitReport, lang: str = "en") -> dict[str, Any]:
    """``card show --json``: the report as one JSON object (messages in ``lang``)."""
    record = report.record
    end = report.profile_end
    return {
        "card_number": str(record.card_number),
        "uid": hex_bytes(report.uid),
        "kind": enum_name(record.kind),
        "status": enum_name(record.status),
        "blocked_by_hotlist": report.blocked_by_hotlist,
        "profile": enum_name(record.profile),
        "profile_end": end.isoformat() if end is not None else None,
        "effective_profile": enum_name(report.effective_profile),
        "expiry": record.expiry.isoformat(),
        "holder": ({"first_name": record.first_name, "surname": record.surname}
                   if record.personal else None),
        "birth_date_recorded": record.birth_date is not None,
        "purse": report.purse,
        "slots": [_slot_json(slot) for slot in report.slots],
        "events": [event_json(event) for event in report.events]
        + [{"unreadable": error.message, "index": error.index}
           for error in report.unreadable_events],
        "at": to_local(report.at).isoformat(timespec="minutes"),
        "zone": report.zone,
        "verdict": verdict_json(report.verdict, lang),
        "dog_verdict": (verdict_json(report.dog_verdict, lang)
                        if report.dog_verdict is not None else None),
    }


def render_show(report: TransitReport, lang: str = "en", out: TextIO | None = None) -> None:
    """``card show``: the report for people (every word, name and date in ``lang``)."""
    out = out or sys.stdout

    def p(text: str = "") -> None:
        print(text, file=out)

    def day(value: date) -> str:
        return format_date(value, lang)

    def when(at: datetime) -> str:
        local = to_local(at)
        return f"{day(local.date())} {local:%H:%M}" if lang != "en" else _when_text(at)

    def name(member: IntEnum) -> str:
        return label(enum_name(member), lang)

    def t(english: str) -> str:
        return label(english, lang)

    record = report.record
    p(f"{t('transit card')} {record.card_number.formatted}   UID {hex_bytes(report.uid)}")
    status = name(record.status)
    if report.blocked_by_hotlist:
        status += f" ({t('on the hotlist: blocked')})"
    rows = [(t("kind"), name(record.kind))]
    if record.personal:
        rows.append((t("holder"), f"{record.first_name} {record.surname}"))
    rows.append((t("status"), status))
    text = profile_name(record.profile, lang)
    if report.profile_end is not None:
        text += f", {t('until')} {day(report.profile_end)}"
    if report.effective_profile is not record.profile:
        text += f" ({t('now')} {profile_name(report.effective_profile, lang)})"
    rows.append((t("profile"), text))
    if record.birth_date is not None:
        rows.append((t("birth date"), t("recorded")))
    rows += [(t("expiry"), day(record.expiry)),
             (t("e-purse"), format_money(report.purse, lang, decimal=True)
              if report.purse is not None else t("not read"))]
    print_fields(rows, out=out)

    p(f"{t('coupons')} ({len(report.slots)} {t('slots')})")
    table = []
    for slot in report.slots:
        cells = [f"{t('slot')} {slot.index}"]
        if slot.coupon is not None:
            c = slot.coupon.coupon
            zones = t("network") if c.zones.network else \
                f"{t('zones')} " + ", ".join(map(str, c.zones.numbers))
            assert slot.period is not None
            state = t(slot.period.value) if slot.genuine else t("SIGNATURE INVALID")
            cells += [f"#{c.serial}", coupon_type_name(c.coupon_type, lang),
                      profile_name(c.profile, lang), zones,
                      f"{day(c.valid_from)} – {day(c.valid_to)}", state,
                      format_money(c.price, lang), name(c.channel)]
        elif slot.error is not None:
            cells.append(f"{t('unreadable')}: {slot.error.message}")
        else:
            cells.append(t("empty"))
        table.append(cells)
    print_table(table, out=out)

    p(f"{t('events')} ({t('newest first')})" if report.events or report.unreadable_events
      else f"{t('events')}: {t('none')}")
    table = []
    for event in report.events:
        where = [f"{t(what)} {value}" for what, value in
                 (("line", event.line), ("vehicle", event.vehicle), ("zone", event.zone))
                 if value is not None]
        if event.coupon_serial is not None:
            # a purse event's serial is the back office's operation number, not a coupon's
            what = t("operation") if event.kind in PURSE_KINDS else t("coupon")
            where.append(f"{what} {event.coupon_serial}")
        table.append([f"#{event.sequence}", when(event.at), name(event.kind),
                      f"{t('device')} {event.device}", " ".join(where), enum_name(event.result)])
    for error in report.unreadable_events:
        table.append([f"{t('record')} {error.index}", f"{t('unreadable')}: {error.message}"])
    print_table(table, out=out)

    zone = t("in any zone") if report.zone is None else f"{t('in zone')} {report.zone}"
    p(f"{t('at')} {when(report.at)} (Europe/Prague) {zone}")
    for what, verdict in (("verdict", report.verdict), ("dog", report.dog_verdict)):
        if verdict is not None:
            p(f"{t(what)}: {enum_name(verdict.reason)} — {verdict.message(lang)}")


def run_show(args: argparse.Namespace) -> int:
    keystore = load_keystore(args)
    at = args.at or now()
    hotlist = load_hotlist(args)
    with open_card(args) as reader:
        image = read_card(DESFire(reader), keystore)
    report = transit_report(image, at=at, zone=args.zone, verifier=keystore.verifier(),
                         hotlist=hotlist, dog=args.dog)
    if args.json:
        print_json(report_json(report, args.lang))
    else:
        render_show(report, args.lang)
    verdict = report.dog_verdict if args.dog else report.verdict
    assert verdict is not None  # asking about the dog always judges it
    return 0 if verdict.ok else EXIT_NOT_VALID


# --- card activate | block | unblock | update -----------------------------------------------------


_OPERATIONS_EPILOG = ("examples:\n"
                      "  ekarta card {name} --reader emulator:card.json --keys keys.json\n"
                      "  ekarta card {name} --keys keys.json --device 12 --json")


def _register_lifecycle(sub: argparse._SubParsersAction,
                        common: argparse.ArgumentParser) -> None:
    activate = sub.add_parser(
        "activate", parents=[common],
        help="activate a card issued as produced",
        description=wrap(
            "Make a card issued as produced (sent by post) active, so that coupons can be "
            "loaded onto it.  The card record and an 'activation' record in the card's event "
            "log are written in one transaction, with the load key.  An active card is left as "
            "it is ('already active', exit 0); a blocked, ordered or expired card is refused "
            "with the reason (exit 1)."),
        epilog=_OPERATIONS_EPILOG.format(name="activate"),
        formatter_class=EXAMPLES_FORMATTER)
    add_operation_options(activate)
    activate.set_defaults(func=run_activate)

    block = sub.add_parser(
        "block", parents=[common],
        help="block a card (loss, theft, the holder's request)",
        description=wrap(
            "Write the blocked status into the card record, with a 'blocking' record in the "
            "card's event log, in one transaction: every terminal then refuses the card, "
            "hotlist or not.  A blocked card is left as it is ('already blocked', exit 0).\n\n"
            "By default the card is read with the read key and written with the validation key, "
            "the keys a validator holds (it blocks the cards it finds on the hotlist); "
            "--role load blocks with the ticket office's load key alone."),
        epilog=_OPERATIONS_EPILOG.format(name="block") + "\n"
        "  ekarta card block --keys keys.json --role load",
        formatter_class=EXAMPLES_FORMATTER)
    block.add_argument("--role", choices=("validation", "load"), default="validation",
                       help="the key that writes the blocked status (default validation)")
    add_operation_options(block)
    block.set_defaults(func=run_block)

    unblock = sub.add_parser(
        "unblock", parents=[common],
        help="make a blocked card active again",
        description=wrap(
            "Make a blocked card active again, with an 'unblocking' record in the card's event "
            "log, in one transaction, with the load key.  A card that is not blocked is refused "
            "(exit 1).  Remember to take the card number off the hotlist too.\n\n"
            "Unblocking is done at the specialised workplace for a handling fee (the operator's "
            "price list); the fee is the back office's matter: this command neither charges nor "
            "records it."),
        epilog=_OPERATIONS_EPILOG.format(name="unblock"),
        formatter_class=EXAMPLES_FORMATTER)
    add_operation_options(unblock)
    unblock.set_defaults(func=run_unblock)

    update = sub.add_parser(
        "update", parents=[common],
        help="change the card record: names, profile, profile end, expiry",
        description=wrap(
            "Change the card record: correct the holder's name or birth date, renew or change "
            "the profile (with its end date), end a discounted profile (the card falls back to "
            "adult non-transferable), move the expiry.  What is set must make sense on the day "
            "of --at (no past profile end or expiry, an age that fits the profile...); the "
            "rest of the record is kept as it is.  The record and a 'record-change' record in "
            "the card's event log are written in one transaction, with the load key.  A blocked "
            "card is refused; a change the card already has changes nothing (exit 0).  The card "
            "number, the kind and the status are not changed here."),
        epilog=(
            "examples:\n"
            "  ekarta card update --reader emulator:card.json --keys keys.json --surname Novák\n"
            "  ekarta card update --keys keys.json --profile student --profile-end 2028-08-31\n"
            "  ekarta card update --keys keys.json --end-profile\n"
            "  ekarta card update --keys keys.json --expiry 2032-12-31 --json\n\n"
            "profiles: " + ", ".join(enum_names(Profile))),
        formatter_class=EXAMPLES_FORMATTER)
    change = update.add_argument_group("the change (at least one)")
    change.add_argument("--first-name", metavar="NAME")
    change.add_argument("--surname", metavar="NAME")
    change.add_argument("--birth-date", type=argument(parse_date), metavar="DATE")
    change.add_argument("--profile", type=enum_argument(Profile, "profile"), metavar="PROFILE",
                        help="the new profile (a full-fare one drops the profile end)")
    change.add_argument("--profile-end", type=argument(parse_date), metavar="DATE",
                        help="last day of the discounted profile (renews it)")
    change.add_argument("--end-profile", action="store_true",
                        help="end the discounted profile now: adult non-transferable")
    change.add_argument("--expiry", type=argument(parse_date), metavar="DATE",
                        help="the card's new last day")
    add_operation_options(update)
    update.set_defaults(func=run_update)


def _record_json(record: CardRecord) -> dict[str, Any]:
    return {
        "card_number": str(record.card_number),
        "kind": enum_name(record.kind),
        "status": enum_name(record.status),
        "profile": enum_name(record.profile),
        "profile_end": None if record.profile_end is None else record.profile_end.isoformat(),
        "expiry": record.expiry.isoformat(),
        "holder": ({"first_name": record.first_name, "surname": record.surname}
                   if record.personal else None),
        "birth_date_recorded": record.birth_date is not None,
    }


def _changes(before: CardRecord, after: CardRecord, lang: str) -> list[tuple[str, str]]:
    """What differs between two records, as (field, 'old -> new') for people; a birth date is
    personal data and shows only as changed."""

    def day(value: date | None) -> str:
        return label("none", lang) if value is None else format_date(value, lang)

    rows = []
    if before.status is not after.status:
        rows.append(("status", f"{status_name(before.status, lang)} → "
                               f"{status_name(after.status, lang)}"))
    for field, name in (("first name", "first_name"), ("surname", "surname")):
        if getattr(before, name) != getattr(after, name):
            rows.append((field, f"{getattr(before, name)} → {getattr(after, name)}"))
    if before.birth_date != after.birth_date:
        rows.append(("birth date", label("changed", lang)))
    if before.profile is not after.profile:
        rows.append(("profile", f"{profile_name(before.profile, lang)} → "
                                f"{profile_name(after.profile, lang)}"))
    if before.profile_end != after.profile_end:
        rows.append(("profile end", f"{day(before.profile_end)} → {day(after.profile_end)}"))
    if before.expiry != after.expiry:
        rows.append(("expiry", f"{day(before.expiry)} → {day(after.expiry)}"))
    return [(label(field, lang), text) for field, text in rows]


def _run_operation(args: argparse.Namespace, operation: str,
                   run: Callable[[DESFire, KeyProvider, datetime], RecordResult],
                   done: str, unchanged: str) -> int:
    keystore = load_keystore(args)
    at = args.at or now()
    with open_card(args) as reader:
        try:
            result = run(DESFire(reader), keystore, at)
        except CardOperationRefused as exc:
            raise CLIError(exc.message(args.lang)) from None
    number = result.card_number.formatted
    if args.json:
        event = result.event
        print_json({"card_number": str(result.card_number), "uid": hex_bytes(result.uid),
                    "changed": result.changed, "before": _record_json(result.before),
                    "record": _record_json(result.record),
                    "event": None if event is None else event_json(event)})
    elif result.changed:
        print(f"{done} card {number} (UID {hex_bytes(result.uid)})")
        print_fields(_changes(result.before, result.record, args.lang))
    else:
        print(f"card {number} (UID {hex_bytes(result.uid)}) {unchanged}: nothing changed")
    return 0


def run_activate(args: argparse.Namespace) -> int:
    return _run_operation(
        args, "activation",
        lambda df, keys, at: activate_card(df, keys, at=at, device=args.device),
        "activated", "is already active")


def run_block(args: argparse.Namespace) -> int:
    role = KeyRole.LOAD if args.role == "load" else KeyRole.VALIDATION
    return _run_operation(
        args, "blocking",
        lambda df, keys, at: block_card(df, keys, at=at, device=args.device, role=role),
        "blocked", "is already blocked")


def run_unblock(args: argparse.Namespace) -> int:
    return _run_operation(
        args, "unblocking",
        lambda df, keys, at: unblock_card(df, keys, at=at, device=args.device),
        "unblocked", "is not changed")


def run_update(args: argparse.Namespace) -> int:
    try:
        change = RecordChange(first_name=args.first_name, surname=args.surname,
                              birth_date=args.birth_date, profile=args.profile,
                              profile_end=args.profile_end, expiry=args.expiry,
                              end_profile=args.end_profile)
    except InvalidField as exc:
        raise CLIError(str(exc)) from None
    if change.empty:
        raise CLIError("nothing to change: give --first-name, --surname, --birth-date, "
                       "--profile, --profile-end, --end-profile or --expiry")
    return _run_operation(
        args, "record change",
        lambda df, keys, at: change_card_record(df, keys, change, at=at, device=args.device),
        "changed the card record of", "already has this record")


# --- card key -------------------------------------------------------------------------------------

KEY_ROLES = {"picc": None, **{role.label: role for role in KeyRole}}
"""``card key --role`` names: the PICC master key, or one of the application's key roles."""


def parse_uid(text: str) -> bytes:
    """A card UID in hex (4, 7 or 10 bytes; spaces and colons allowed)."""
    digits = "".join(text.replace(":", " ").split())
    try:
        uid = bytes.fromhex(digits)
    except ValueError:
        raise InvalidField(f"a UID is hex digits, not {text!r}") from None
    return check_uid(uid)


def _register_key(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    key = sub.add_parser(
        "key", parents=[common],
        help="derive one issued card's key for a technician",
        description=wrap(
            "Derive one issued card's diversified key from the keystore: the PICC master key "
            "(--role picc) or one key of the transit application (master, load, validation, "
            "read), for the card whose UID is read from the card in the field (--reader) or "
            "given with --uid.  The key is written as a key spec ([AID:]KEYNO:TYPE:HEX) to "
            "--out FILE, created readable by the owner only (an existing FILE is replaced only "
            "with --force), for `card info --key-file`, `card format --key-file` and `apdu "
            "--key-file` on that card.  The key is never logged.\n\n"
            "--print-key prints it on standard output instead.  That is unsafe: the key stays "
            "in the terminal's scrollback, in a pipe's other end or a shell's capture, and "
            "with it anyone can rewrite the card.  Delete the key file after use."),
        epilog=(
            "examples:\n"
            "  ekarta card key --keys keys.json --reader emulator:card.json --role picc "
            "--out picc.key\n"
            "  ekarta card format --reader emulator:card.json --key-file picc.key\n"
            "  ekarta card key --keys keys.json --uid 04A1B2C3D4E5F6 --role load --out load.key\n"
            "  ekarta card info --reader emulator:card.json --key-file load.key\n"
            "  ekarta card key --keys keys.json --uid 04A1B2C3D4E5F6 --role read --print-key\n\n"
            "roles: " + ", ".join(KEY_ROLES)),
        formatter_class=EXAMPLES_FORMATTER)
    add_keystore_option(key)
    key.add_argument("--role", required=True, choices=tuple(KEY_ROLES),
                     help="which key: picc (the PICC master key) or an application key")
    key.add_argument("--uid", type=argument(parse_uid), metavar="HEX",
                     help="the card's UID (instead of reading it from the card in the field)")
    out = key.add_mutually_exclusive_group(required=True)
    out.add_argument("--out", metavar="FILE", type=output_file,
                     help="write the key spec to FILE (mode 0600)")
    out.add_argument("--print-key", action="store_true",
                     help="UNSAFE: print the key spec on standard output")
    add_force_option(key, "the --out FILE")
    key.add_argument("--json", action="store_true", help="print one JSON document instead")
    add_reader_options(key)
    key.set_defaults(func=run_key)


def _card_uid(args: argparse.Namespace) -> bytes:
    if args.uid is not None:
        if args.reader is not None:
            raise CLIError("give either --uid HEX or --reader URL, not both")
        return bytes(args.uid)
    if reader_url(args) == DEFAULT_READER:
        raise CLIError("card key needs the card's UID: --uid HEX, or --reader URL with the card "
                       "in the field (the default reader is a fresh emulated card, not yours)")
    with open_card(args) as reader:
        df = DESFire(reader)
        # Selecting the PICC level first ends whatever session an earlier client left open.
        df.select_application(PICC_AID)
        return df.get_version().uid


def run_key(args: argparse.Namespace) -> int:
    if args.force and not args.out:
        raise CLIError("--force goes with --out FILE")
    keystore = load_keystore(args)
    uid = _card_uid(args)
    role = KEY_ROLES[args.role]
    if role is None:
        card_key = keystore.picc_key(uid)
        aid, key_no, what = PICC_AID, 0, "the PICC master key"
    else:
        card_key = keystore.card_key(role, uid)
        aid, key_no = AID, int(role)
        what = f"the {role.label} key (key {key_no} of application {aid_text(aid)})"
    place = f"{key_no}" if aid == PICC_AID else f"{aid_text(aid)}:{key_no}"
    spec = f"{place}:{card_key.type.value}:{card_key.data.hex().upper()}"
    described = {"uid": hex_bytes(uid), "role": args.role, "aid": aid_text(aid),
                 "key_no": key_no, "type": card_key.type.value, "version": card_key.version,
                 "key_id": key_fingerprint(card_key)}
    if args.out:
        text = (f"# card UID {hex_bytes(uid)}: {what}, version {card_key.version}\n"
                "# secret: delete this file after use\n"
                f"{spec}\n")
        write_output(args.out, text.encode("ascii"), force=args.force, mode=0o600)
        log.info("wrote card %s's %s key to %s", hex_bytes(uid), args.role, args.out)
        if args.json:
            print_json({**described, "out": args.out})
        else:
            print(f"wrote {what} of card {hex_bytes(uid)} to {args.out} "
                  f"(key id {described['key_id']}); delete it after use")
        return 0
    if args.json:
        print_json({**described, "key_spec": spec})
    else:
        print(spec)
    return 0
