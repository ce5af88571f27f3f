"""``ekarta card``: look at a card (``info``) and erase it (``format``)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from ekarta.cli.common import (
    EXAMPLES_FORMATTER,
    KEY_HELP,
    PICC_AID,
    CLIError,
    KeyRing,
    KeySpec,
    add_key_options,
    add_reader_options,
    aid_text,
    describe_file,
    describe_key_settings,
    file_settings_dict,
    hex_bytes,
    key_settings_dict,
    load_keys,
    open_card,
    print_fields,
    print_json,
    print_table,
    printable,
    reader_url,
    wrap,
)
from ekarta.errors import (
    AuthenticationError,
    DESFireStatusError,
    IllegalCommand,
    NotAuthenticated,
    PermissionDenied,
    ProtocolError,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

# Failures of one step of ``card info`` that leave the rest worth trying.
STEP_ERRORS = (DESFireStatusError, ProtocolError, NotAuthenticated)


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "card",
        help="show a card's contents or erase it",
        description="Look at a DESFire card (info) or erase it (format).",
        epilog=(
            "examples:\n"
            "  ekarta card info --reader emulator:card.json\n"
            "  ekarta card format --reader emulator:card.json --key 0:des:0000000000000000"
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
            "  ekarta card format --key-file picc.key --yes\n\n" + KEY_HELP
        ),
        formatter_class=EXAMPLES_FORMATTER,
    )
    fmt.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    add_reader_options(fmt)
    add_key_options(fmt)
    fmt.set_defaults(func=run_format)


# --- card info ------------------------------------------------------------------------------------


def _locked_note(exc: Exception | None, key: KeySpec | None, authenticated: bool, needed: str,
                 action: str = "listing") -> str:
    """What to print when ``action`` failed with ``exc``: "locked: listing needs key 0"..."""
    if isinstance(exc, AuthenticationError):
        note = f"locked: {action} needs {needed}"
        if key is None:
            return note
        if not authenticated:
            return f"{note} (authentication failed)"
        return f"{note} (authenticated with key {key.key_no})"
    if isinstance(exc, PermissionDenied):
        return f"denied: {exc}"
    return f"error: {exc}"


class _Explorer:
    """Walks the card, keeping track of the authentication so that errors do not lose it.

    After an error status the card forgets the authentication (see docs/desfire-protocol.md),
    so :meth:`attempt` authenticates again with the same key before the next step.
    """

    def __init__(self, df: Any, keys: KeyRing) -> None:
        self.df = df
        self.keys = keys
        self.key: KeySpec | None = None  # the key of the current selection, if any was given
        self.authenticated = False

    def select(self, aid: int) -> None:
        self.df.select_application(aid)
        self.key = self.keys.master(aid)
        self.authenticated = False

    def login(self) -> str | None:
        """Authenticate with the current selection's key; return an error note or None."""
        if self.key is None:
            return None
        spec = self.key
        log.info("authenticating with %s", spec.label())
        try:
            self.df.authenticate(spec.key_no, spec.key, spec.method(self.keys.ev2))
        except STEP_ERRORS as exc:
            self.authenticated = False
            return f"authentication with key {spec.key_no} failed: {exc}"
        self.authenticated = True
        return None

    def attempt(self, what: str, step: Callable[[], T]) -> tuple[T | None, Exception | None]:
        try:
            return step(), None
        except STEP_ERRORS as exc:
            log.info("%s: %s", what, exc)
            if self.authenticated:
                self.authenticated = False
                self.login()
            return None, exc


def collect_info(df: Any, keys: KeyRing, url: str) -> dict[str, Any]:
    """Everything ``card info`` shows, as JSON-able data (bytes as upper-case hex)."""
    ex = _Explorer(df, keys)
    version = df.get_version()
    report: dict[str, Any] = {
        "reader": url,
        "product": version.product,
        "vendor": version.vendor,
        "hardware": _version_part(version, "hw"),
        "software": _version_part(version, "sw"),
        "storage_bytes": version.storage_bytes,
        "storage_exact": version.storage_exact,
        "uid": hex_bytes(version.uid),
        "real_uid": None,
        "batch": hex_bytes(version.batch),
        "production_week": version.production_week,
        "production_year": version.production_year_full,
        "free_memory": None,
        "picc": {},
        "applications": [],
        "applications_locked": None,
        "notes": [],
    }
    notes: list[str] = report["notes"]

    ex.select(PICC_AID)
    picc: dict[str, Any] = {"key_settings": None, "key_settings_locked": None,
                            "key_versions": None, "auth_error": ex.login()}
    report["picc"] = picc
    if ex.authenticated:
        uid, exc = ex.attempt("GetCardUID", df.get_card_uid)
        if uid is not None:
            report["real_uid"] = hex_bytes(uid)
        else:
            notes.append(f"GetCardUID failed: {exc}")

    free, exc = ex.attempt("FreeMemory", df.free_memory)
    report["free_memory"] = free
    if exc is not None and not isinstance(exc, IllegalCommand):
        notes.append(f"FreeMemory failed: {exc}")

    settings, exc = ex.attempt("GetKeySettings", df.get_key_settings)
    if settings is not None:
        picc["key_settings"] = key_settings_dict(settings)
        picc["key_versions"] = _key_versions(ex, settings.key_count)
    else:
        picc["key_settings_locked"] = _locked_note(exc, ex.key, ex.authenticated,
                                                   "the PICC master key", "reading")

    aids, exc = ex.attempt("GetApplicationIDs", df.get_application_ids)
    if aids is None:
        report["applications"] = None
        report["applications_locked"] = _locked_note(
            exc, ex.key, ex.authenticated, "the PICC master key"
        )
        return report

    df_names: dict[int, Any] = {}
    if aids:
        entries, _ = ex.attempt("GetDFNames", df.get_df_names)
        for entry in entries or ():
            df_names[entry.aid] = entry

    for aid in sorted(aids):
        report["applications"].append(_collect_application(ex, aid, df_names.get(aid)))

    for aid in sorted(keys.applications() - set(aids) - {PICC_AID}):
        notes.append(f"a key was given for application {aid_text(aid)}, which the card lacks")
    return report


def _version_part(version: Any, part: str) -> dict[str, Any]:
    get = lambda name: getattr(version, f"{part}_{name}")  # noqa: E731
    return {
        "vendor_id": get("vendor_id"),
        "type": get("type"),
        "subtype": get("subtype"),
        "version": f"{get('major')}.{get('minor')}",
        "storage_size": get("storage_size"),
        "protocol": get("protocol"),
    }


def _key_versions(ex: _Explorer, count: int) -> list[int | None]:
    versions: list[int | None] = []
    for key_no in range(count):
        version, _ = ex.attempt(f"GetKeyVersion {key_no}",
                                lambda k=key_no: ex.df.get_key_version(k))
        versions.append(version)
    return versions


def _collect_application(ex: _Explorer, aid: int, df_name: Any) -> dict[str, Any]:
    app: dict[str, Any] = {
        "aid": aid_text(aid),
        "iso_fid": f"{df_name.iso_fid:04X}" if df_name is not None else None,
        "df_name": hex_bytes(df_name.df_name) if df_name is not None else None,
        "key_settings": None,
        "key_settings_locked": None,
        "key_versions": None,
        "iso_file_ids": None,
        "files": None,
        "locked": None,
        "auth_error": None,
        "errors": [],
    }
    try:
        ex.select(aid)
    except STEP_ERRORS as exc:
        app["errors"].append(f"SelectApplication failed: {exc}")
        return app
    app["auth_error"] = ex.login()

    settings, exc = ex.attempt("GetKeySettings", ex.df.get_key_settings)
    if settings is not None:
        app["key_settings"] = key_settings_dict(settings)
        app["key_versions"] = _key_versions(ex, settings.key_count)
    else:
        app["key_settings_locked"] = _locked_note(exc, ex.key, ex.authenticated, "key 0",
                                                  "reading")

    file_ids, exc = ex.attempt("GetFileIDs", ex.df.get_file_ids)
    if file_ids is None:
        app["locked"] = _locked_note(exc, ex.key, ex.authenticated, "key 0")
        return app

    if settings is not None and settings.iso_file_ids:
        iso_ids, _ = ex.attempt("GetISOFileIDs", ex.df.get_iso_file_ids)
        if iso_ids is not None:
            app["iso_file_ids"] = [f"{fid:04X}" for fid in iso_ids]

    files = []
    for file_no in sorted(file_ids):
        fs, exc = ex.attempt(f"GetFileSettings {file_no}",
                             lambda n=file_no: ex.df.get_file_settings(n))
        if fs is None:
            files.append({"file_no": file_no, "error": str(exc)})
        else:
            files.append(file_settings_dict(file_no, fs))
    app["files"] = files
    return app


def _versions_text(versions: list[int | None] | None) -> str:
    if not versions:
        return ""
    return "versions " + " ".join("?" if v is None else str(v) for v in versions)


def render_info(report: dict[str, Any], out: Any = None) -> None:
    """Print :func:`collect_info`'s report for people."""
    out = out or sys.stdout

    def p(text: str = "") -> None:
        print(text, file=out)

    hw, sw = report["hardware"], report["software"]
    storage = f"{report['storage_bytes']} bytes"
    if not report["storage_exact"]:
        storage = f"more than {storage}"
    p(f"{report['product']} ({report['vendor']})   reader {report['reader']}")
    rows = [
        ("hardware", _part_text(hw)),
        ("software", _part_text(sw)),
        ("storage", storage),
        ("UID", report["uid"] + ("" if report["real_uid"] else "  (from GetVersion)")),
    ]
    if report["real_uid"]:
        rows.append(("real UID", report["real_uid"] + "  (GetCardUID)"))
    rows += [
        ("batch", report["batch"]),
        ("production", f"week {report['production_week']:02d} of {report['production_year']}"),
        ("free memory", "?" if report["free_memory"] is None
         else f"{report['free_memory']} bytes"),
    ]
    print_fields(rows, out=out)

    picc = report["picc"]
    p("PICC")
    rows = []
    if picc["auth_error"]:
        rows.append(("auth", picc["auth_error"]))
    ks = picc["key_settings"]
    if ks is not None:
        rows.append(("key settings", describe_key_settings(ks, picc=True)))
        master = f"{ks['key_type']}"
        if picc["key_versions"] and picc["key_versions"][0] is not None:
            master += f", version {picc['key_versions'][0]}"
        rows.append(("master key", master))
    else:
        rows.append(("key settings", picc["key_settings_locked"]))
    print_fields(rows, out=out)

    apps = report["applications"]
    if apps is None:
        p(f"Applications: {report['applications_locked']}")
    elif not apps:
        p("Applications: none")
    else:
        p(f"Applications: {len(apps)}")
        for app in apps:
            _render_application(app, p, out)
    for note in report["notes"]:
        p(f"note: {note}")


def _part_text(part: dict[str, Any]) -> str:
    return (f"vendor 0x{part['vendor_id']:02X}  type 0x{part['type']:02X}/"
            f"0x{part['subtype']:02X}  version {part['version']}  "
            f"storage 0x{part['storage_size']:02X}  protocol 0x{part['protocol']:02X}")


def _render_application(app: dict[str, Any], p: Callable[[str], None], out: Any) -> None:
    head = f"  {app['aid']}"
    if app["iso_fid"] is not None:
        head += f"  ISO FID {app['iso_fid']}"
    if app["df_name"] is not None:
        name = bytes.fromhex(app["df_name"])
        text = printable(name)
        head += f"  DF name {app['df_name']}" + (f' "{text}"' if text else "")
    p(head)
    rows = []
    if app["auth_error"]:
        rows.append(("auth", app["auth_error"]))
    ks = app["key_settings"]
    if ks is not None:
        rows.append(("key settings", describe_key_settings(ks)))
        noun = "key" if ks["key_count"] == 1 else "keys"
        keys = f"{ks['key_count']} {ks['key_type']} {noun}"
        versions = _versions_text(app["key_versions"])
        rows.append(("keys", f"{keys}, {versions}" if versions else keys))
    else:
        rows.append(("key settings", app["key_settings_locked"] or "?"))
    for error in app["errors"]:
        rows.append(("error", error))
    if app["iso_file_ids"]:
        rows.append(("ISO file IDs", " ".join(app["iso_file_ids"])))
    if app["files"] is None:
        rows.append(("files", app["locked"] or "?"))
    else:
        rows.append(("files", str(len(app["files"])) if app["files"] else "none"))
    print_fields(rows, indent=4, out=out)
    if app["files"]:
        table = []
        for f in app["files"]:
            if "error" in f:
                table.append([f"{f['file_no']:02d}", f"error: {f['error']}"])
            else:
                table.append(describe_file(f))
        print_table(table, indent=6, out=out)


def run_info(args: argparse.Namespace) -> int:
    from ekarta.desfire.client import DESFire

    keys = load_keys(args)
    with open_card(args) as reader:
        report = collect_info(DESFire(reader), keys, reader_url(args))
    if args.json:
        print_json(report)
    else:
        render_info(report)
    for warning in _warnings(report):
        print(f"ekarta: warning: {warning}", file=sys.stderr)
    return 0


def _warnings(report: dict[str, Any]) -> list[str]:
    warnings = []
    if report["picc"].get("auth_error"):
        warnings.append(f"PICC: {report['picc']['auth_error']}")
    for app in report["applications"] or ():
        if app["auth_error"]:
            warnings.append(f"application {app['aid']}: {app['auth_error']}")
    return warnings


# --- card format ----------------------------------------------------------------------------------


def _confirm(prompt: str) -> bool:
    print(prompt, end="", file=sys.stderr, flush=True)
    try:
        answer = sys.stdin.readline()
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def run_format(args: argparse.Namespace) -> int:
    from ekarta.desfire.client import DESFire

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
