"""The coupon file: a coupon as the back office hands it to a terminal, one JSON object.

::

    {
      "serial": 1001,
      "type": "30-day",                   # the names of ekarta.transit.model.notation
      "profile": "student",
      "zones": [1, 2, 5] or "network",
      "valid_from": "2026-12-01", "valid_to": "2026-12-30", "sale_date": "2026-11-20",
      "channel": "ticket-office",
      "device": 0, "price": 550,          # optional, 0 when absent
      "signature": "<128 hex digits>",    # optional: a coupon the terminal must sign is unsigned
      "card_number": "1234567894",        # optional: the card it was signed for
      "uid": "04A1B2C3D4E5F6"             # optional
    }

A file is hostile input: :meth:`CouponDocument.from_json` checks every field and refuses
anything else with :class:`~ekarta.transit.errors.CouponFileError`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import date
from enum import IntEnum
from typing import Any, BinaryIO, TypeVar

from ekarta.transit.codec.records import SIGNATURE_SIZE
from ekarta.transit.errors import CouponFileError, InvalidField, InvalidText
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.notation import enum_name, parse_enum
from ekarta.transit.model.values import (
    NETWORK,
    Coupon,
    CouponType,
    Profile,
    SaleChannel,
    SignedCoupon,
    Zones,
    check_uid,
)

__all__ = ["MAX_COUPON_FILE", "CouponDocument", "read_coupon_file"]

E = TypeVar("E", bound=IntEnum)

MAX_COUPON_FILE = 64 * 1024
"""A coupon file is a few hundred bytes; anything much larger is not one (and is not read)."""

_FIELDS = {"serial", "type", "profile", "zones", "valid_from", "valid_to", "sale_date",
           "channel", "device", "price", "signature", "card_number", "uid"}


@dataclass(frozen=True)
class CouponDocument:
    """A coupon with, when known, its signature and the card (number and UID) it was signed for."""

    coupon: Coupon
    signature: bytes | None = field(default=None, repr=False)
    card_number: CardNumber | None = None
    uid: bytes | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.coupon, Coupon):
            raise InvalidField(f"coupon must be a Coupon, not {type(self.coupon).__name__}")
        if self.signature is not None:
            if not isinstance(self.signature, bytes | bytearray) \
                    or len(self.signature) != SIGNATURE_SIZE:
                raise InvalidField(f"signature must be {SIGNATURE_SIZE} bytes")
            object.__setattr__(self, "signature", bytes(self.signature))
        if self.card_number is not None:
            object.__setattr__(self, "card_number", CardNumber.of(self.card_number))
        if self.uid is not None:
            object.__setattr__(self, "uid", check_uid(self.uid))

    @classmethod
    def of(cls, coupon: SignedCoupon | Coupon, *, card_number: CardNumber | None = None,
           uid: bytes | None = None) -> CouponDocument:
        """The document of a coupon, signed or not, for the card ``card_number``/``uid``."""
        if isinstance(coupon, SignedCoupon):
            return cls(coupon.coupon, coupon.signature, card_number, uid)
        return cls(coupon, None, card_number, uid)

    @property
    def signed(self) -> SignedCoupon | None:
        """The signed coupon, None when the document carries no signature."""
        return None if self.signature is None else SignedCoupon(self.coupon, self.signature)

    def to_json(self) -> dict[str, Any]:
        """The JSON object of the document (fields in the order above, absent ones left out)."""
        coupon = self.coupon
        doc: dict[str, Any] = {
            "serial": coupon.serial,
            "type": enum_name(coupon.coupon_type),
            "profile": enum_name(coupon.profile),
            "zones": "network" if coupon.zones.network else list(coupon.zones.numbers),
            "valid_from": coupon.valid_from.isoformat(),
            "valid_to": coupon.valid_to.isoformat(),
            "sale_date": coupon.sale_date.isoformat(),
            "channel": enum_name(coupon.channel),
            "device": coupon.device,
            "price": coupon.price,
        }
        if self.signature is not None:
            doc["signature"] = self.signature.hex()
        if self.card_number is not None:
            doc["card_number"] = str(self.card_number)
        if self.uid is not None:
            doc["uid"] = self.uid.hex().upper()
        return doc

    @classmethod
    def from_json(cls, doc: object) -> CouponDocument:
        """The document of a parsed coupon file; CouponFileError naming what is wrong."""
        if not isinstance(doc, dict):
            raise CouponFileError("coupon file: expected a JSON object")
        unknown = set(doc) - _FIELDS
        if unknown:
            raise CouponFileError(
                f"coupon file: unknown fields {', '.join(sorted(map(str, unknown)))}")
        zones_value = doc.get("zones")
        try:
            if zones_value == "network":
                zones = NETWORK
            elif isinstance(zones_value, list) and all(
                    isinstance(z, int) and not isinstance(z, bool) for z in zones_value):
                zones = Zones(tuple(zones_value))
            else:
                raise CouponFileError(
                    "coupon file: zones must be a list of zone numbers or \"network\"")
            coupon = Coupon(
                serial=_field(doc, "serial", int),
                coupon_type=_enum(doc, "type", CouponType),
                profile=_enum(doc, "profile", Profile),
                zones=zones, valid_from=_day(doc, "valid_from"), valid_to=_day(doc, "valid_to"),
                sale_date=_day(doc, "sale_date"),
                channel=_enum(doc, "channel", SaleChannel),
                device=doc.get("device", 0), price=doc.get("price", 0))
        except InvalidField as exc:
            raise CouponFileError(f"coupon file: {exc}") from None
        return cls(coupon, _signature(doc), _card_number(doc), _uid(doc))


def _field(doc: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = doc.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise CouponFileError(f"coupon file: {name} is missing or of the wrong type")
    return value


def _enum(doc: dict[str, Any], name: str, enum: type[E]) -> E:
    try:
        return parse_enum(enum, _field(doc, name, str), name)
    except InvalidText as exc:
        # The message names the field and every name it takes: it needs no prefix.
        raise CouponFileError(str(exc)) from None


def _day(doc: dict[str, Any], name: str) -> date:
    try:
        return date.fromisoformat(_field(doc, name, str))
    except ValueError:
        raise CouponFileError(f"coupon file: {name} is not an ISO date") from None


def _signature(doc: dict[str, Any]) -> bytes | None:
    signature = doc.get("signature")
    if signature is None:
        return None
    try:
        raw = bytes.fromhex(signature) if isinstance(signature, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != SIGNATURE_SIZE:
        raise CouponFileError(f"coupon file: signature must be {SIGNATURE_SIZE} bytes in hex")
    return raw


def _card_number(doc: dict[str, Any]) -> CardNumber | None:
    value = doc.get("card_number")
    if value is None:
        return None
    try:
        return CardNumber.parse(_field(doc, "card_number", str), strict=True)
    except InvalidField as exc:
        raise CouponFileError(f"coupon file: {exc}") from None


def _uid(doc: dict[str, Any]) -> bytes | None:
    value = doc.get("uid")
    if value is None:
        return None
    try:
        return check_uid(bytes.fromhex(_field(doc, "uid", str)))
    except (ValueError, InvalidField):
        raise CouponFileError("coupon file: uid must be 4, 7 or 10 bytes in hex") from None


def read_coupon_file(path: str | os.PathLike[str],
                     stream: BinaryIO | None = None) -> CouponDocument:
    """The coupon document in the file ``path`` (or read from ``stream``, ``path`` naming it in
    errors); CouponFileError if it cannot be read."""
    name = os.fspath(path)
    try:
        if stream is not None:
            data = stream.read(MAX_COUPON_FILE + 1)
        else:
            with open(name, "rb") as f:
                data = f.read(MAX_COUPON_FILE + 1)
    except OSError as exc:
        raise CouponFileError(f"cannot read coupon file {name}: {exc.strerror}") from None
    if len(data) > MAX_COUPON_FILE:
        raise CouponFileError(f"{name} is too large to be a coupon file")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CouponFileError(f"{name} is not a JSON coupon file: {exc}") from None
    return CouponDocument.from_json(doc)
