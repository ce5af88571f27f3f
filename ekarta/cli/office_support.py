"""What the ``ekarta office`` commands share (:mod:`ekarta.cli.office_cmd` and the modules it
registers from): the database options and engine, the injected clock, the office's errors as
one line, and the JSON of cards and coupons."""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from ekarta.backoffice import DEFAULT_DATABASE
from ekarta.cli.common import CLIError, argument, hex_bytes, now
from ekarta.transit.model.messages import LANGUAGES
from ekarta.transit.model.notation import enum_name, parse_when

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from ekarta.backoffice.cards import CardInfo
    from ekarta.backoffice.coupons import CouponInfo

DATABASE_ENV = "EKARTA_OFFICE_DB"


def add_database_options(parser: argparse.ArgumentParser, *, clock: bool = False,
                         lang: bool = False) -> None:
    """``--db`` and ``--json``; ``--at`` for a command that changes records, ``--lang`` for one
    the rules may refuse."""
    parser.add_argument(
        "--db", metavar="URL", default=None,
        help=f"the office's database: an SQLite file or postgresql://USER@HOST/DB (default "
             f"${DATABASE_ENV}, or {DEFAULT_DATABASE} in the working directory)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead")
    if clock:
        parser.add_argument("--at", type=argument(parse_when), metavar="DATETIME",
                            help="the time of the operation (ISO, Europe/Prague; default now)")
    if lang:
        parser.add_argument("--lang", choices=LANGUAGES, default="en",
                            help="language of a refusal's message")


def database(args: argparse.Namespace) -> str:
    return args.db or os.environ.get(DATABASE_ENV) or DEFAULT_DATABASE


def clock(args: argparse.Namespace) -> datetime:
    """The instant of the operation: ``--at``, else now."""
    return getattr(args, "at", None) or now()


@contextmanager
def engine_of(args: argparse.Namespace, *, create: bool = False) -> Iterator[Engine]:
    """The engine of --db, disposed of after; an office database at this version unless
    ``create``.  The office's refusals become one line in ``--lang``."""
    # SQLAlchemy and Alembic are loaded by the office's commands only: every other command
    # would pay a quarter of a second for them
    from sqlalchemy.exc import DBAPIError

    from ekarta.backoffice.database import open_engine, redacted
    from ekarta.backoffice.errors import OperationRefused
    from ekarta.backoffice.store import driver_message, newest_version, schema_version

    name = database(args)
    engine = open_engine(name)
    try:
        if not create:
            version = schema_version(engine)
            if version is None:
                raise CLIError(f"{redacted(name)} is not an office database yet: run "
                               f"'ekarta office init --db ...' first")
            if version != newest_version():
                raise CLIError(f"{redacted(name)} has an older schema ({version}): run "
                               "'ekarta office init' to update it")
        yield engine
    except OperationRefused as exc:
        raise CLIError(exc.message(getattr(args, "lang", "en"))) from exc
    except DBAPIError as exc:  # a damaged file, a full disk, a server gone mid-command
        raise CLIError(f"{redacted(name)}: the database failed: {driver_message(exc)}") from exc
    finally:
        engine.dispose()


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _instant(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds")


def card_json(card: CardInfo) -> dict[str, Any]:
    holder = card.holder
    return {
        "card_number": card.card_number.digits, "kind": enum_name(card.kind),
        "status": enum_name(card.status), "profile": enum_name(card.profile),
        "profile_end": _day(card.profile_end), "expiry": _day(card.expiry),
        "uid": hex_bytes(card.uid), "applied_at": _instant(card.applied_at),
        "produced_at": _instant(card.produced_at), "activated_at": _instant(card.activated_at),
        "purse_balance": card.purse_balance,
        "replaces": None if card.replaces is None else card.replaces.digits,
        "loan_until": _day(card.loan_until), "return_by": _day(card.return_by),
        "returned_at": _instant(card.returned_at),
        "holder": None if holder is None else {
            "first_name": holder.first_name, "surname": holder.surname,
            "birth_date": _day(holder.birth_date), "photo_ref": holder.photo_ref,
            "contact": holder.contact, "purge_after": _day(holder.purge_after)},
        "blocks": [{"reason": b.reason, "blocked_at": _instant(b.blocked_at),
                    "written_at": _instant(b.written_at),
                    "unblocked_at": _instant(b.unblocked_at)} for b in card.blocks],
        "actions": [{"id": a.id, "kind": a.kind.value, "created_at": _instant(a.created_at),
                     "serial": a.serial, "amount": a.amount, "leased_to": a.leased_to,
                     "lease_until": _instant(a.lease_until), "contested": a.contested}
                    for a in card.actions],
    }


def coupon_json(coupon: CouponInfo) -> dict[str, Any]:
    c = coupon.coupon
    return {
        "serial": coupon.serial, "card_number": coupon.card_number.digits,
        "state": coupon.state, "paid": coupon.paid, "type": enum_name(c.coupon_type),
        "profile": enum_name(c.profile), "zones": str(c.zones),
        "valid_from": _day(c.valid_from), "valid_to": _day(c.valid_to),
        "channel": enum_name(c.channel), "price": c.price,
        "sold_at": _instant(coupon.sold_at), "paid_at": _instant(coupon.paid_at),
        "written_at": _instant(coupon.written_at), "closed_at": _instant(coupon.closed_at),
        "moved_from": coupon.moved_from,
    }


def money(haler: int) -> str:
    return f"{haler // 100}.{haler % 100:02d} CZK" if haler >= 0 else "-" + money(-haler)
