"""The transit application on the card: its layout of applications, files and keys, the codec of
the coupon storage (the fare products and their validity kept on the card) and the tariff rules
that decide what a coupon allows and what a validation writes back.

- :mod:`~ekarta.transit.model` — the values: card record, coupons, log events, zones, enums.
- :mod:`~ekarta.transit.timecodec` — day-count dates and Prague local times (daylight saving).
- :mod:`~ekarta.transit.records` — the bit-packed byte layouts of the card's files.
- :mod:`~ekarta.transit.signing` — the operator's coupon signatures (Ed25519 or ECDSA P-256).
- :mod:`~ekarta.transit.image` — a whole card decoded at once, bad slots kept in place.
- :mod:`~ekarta.transit.rules` — the tariff rules: verdicts, purchases, loading.
- :mod:`~ekarta.transit.messages` — the passenger's texts in English and Czech.
- :mod:`~ekarta.transit.layout` — the DESFire application, files, keys and access rights
  (``docs/card-layout.md``).
- :mod:`~ekarta.transit.keystore` — the key provider interface and the file keystore.
- :mod:`~ekarta.transit.cardio` — reading a transit card through the DESFire client.
- :mod:`~ekarta.transit.issuance` and :mod:`~ekarta.transit.loading` — issuing a card and
  loading a coupon, each safe against the card being pulled away at any moment.

The names below are the codec's public API; the tool modules are imported by their own paths.
"""

from ekarta.transit.errors import (
    BlankRecord,
    CorruptRecord,
    CouponError,
    InvalidField,
    KeyFormatError,
    RecordError,
    SignatureInvalid,
    UnknownFormatVersion,
)
from ekarta.transit.image import (
    CardFiles,
    CardImage,
    SlotError,
    SlotErrorKind,
    decode_card,
    split_slots,
)
from ekarta.transit.model import (
    FALLBACK_PROFILE,
    NETWORK,
    CardKind,
    CardRecord,
    CardStatus,
    Coupon,
    CouponType,
    EventKind,
    EventRecord,
    Note,
    Profile,
    Reason,
    SaleChannel,
    SignedCoupon,
    Zones,
)
from ekarta.transit.records import (
    CARD_RECORD_SIZE,
    EMPTY_SLOT,
    EVENT_LOG_RECORDS,
    EVENT_RECORD_SIZE,
    SIGNATURE_SIZE,
    SLOT_COUNT,
    SLOT_SIZE,
    decode_card_record,
    decode_event,
    decode_slot,
    encode_card_record,
    encode_event,
    encode_slot,
)
from ekarta.transit.rules import (
    LoadPlan,
    PurchaseDecision,
    PurchaseRequest,
    Refusal,
    Verdict,
    check_purchase,
    effective_profile,
    judge,
    judge_card,
    plan_load,
    suggest_start,
    valid_or_future,
)
from ekarta.transit.signing import CouponSigner, CouponVerifier

__all__ = [
    "CARD_RECORD_SIZE",
    "EMPTY_SLOT",
    "EVENT_LOG_RECORDS",
    "EVENT_RECORD_SIZE",
    "FALLBACK_PROFILE",
    "NETWORK",
    "SIGNATURE_SIZE",
    "SLOT_COUNT",
    "SLOT_SIZE",
    "BlankRecord",
    "CardFiles",
    "CardImage",
    "CardKind",
    "CardRecord",
    "CardStatus",
    "CorruptRecord",
    "Coupon",
    "CouponError",
    "CouponSigner",
    "CouponType",
    "CouponVerifier",
    "EventKind",
    "EventRecord",
    "InvalidField",
    "KeyFormatError",
    "LoadPlan",
    "Note",
    "Profile",
    "PurchaseDecision",
    "PurchaseRequest",
    "Reason",
    "RecordError",
    "Refusal",
    "SaleChannel",
    "SignatureInvalid",
    "SignedCoupon",
    "SlotError",
    "SlotErrorKind",
    "UnknownFormatVersion",
    "Verdict",
    "Zones",
    "check_purchase",
    "decode_card",
    "decode_card_record",
    "decode_event",
    "decode_slot",
    "effective_profile",
    "encode_card_record",
    "encode_event",
    "encode_slot",
    "judge",
    "judge_card",
    "plan_load",
    "split_slots",
    "suggest_start",
    "valid_or_future",
]
