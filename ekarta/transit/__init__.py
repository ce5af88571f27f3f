"""The transit application on the card: its layout of applications, files and keys, the codec of
the coupon storage (the fare products and their validity kept on the card) and the tariff rules
that decide what a coupon allows and what a validation writes back.

It is built in four layers, each importing only the ones below it:

- :mod:`ekarta.transit.model` — values and rules: the card record, coupons, log events and zones
  (:mod:`~ekarta.transit.model.values`), the card number with its check digit
  (:mod:`~ekarta.transit.model.card_number`), a whole card decoded with its unreadable slots
  (:mod:`~ekarta.transit.model.image`), day-count dates and Prague local times
  (:mod:`~ekarta.transit.model.timecodec`), the passenger's texts in English and Czech
  (:mod:`~ekarta.transit.model.messages`), the values written as text and read back
  (:mod:`~ekarta.transit.model.notation`), the tariff rules: verdicts, purchases, loading
  (:mod:`~ekarta.transit.model.rules`), the card record's life cycle
  (:mod:`~ekarta.transit.model.lifecycle`), the e-purse's rules
  (:mod:`~ekarta.transit.model.purse`) and what a terminal shows of a card judged
  (:mod:`~ekarta.transit.model.report`).
- :mod:`ekarta.transit.codec` — the card's files: the bit-packed byte layouts
  (:mod:`~ekarta.transit.codec.records`, read and packed fast by
  :mod:`~ekarta.transit.codec.bitparse`), a whole card's files decoded at once
  (:mod:`~ekarta.transit.codec.files`) and the DESFire application, files, keys and access
  rights that hold them (:mod:`~ekarta.transit.codec.layout`, ``docs/card-layout.md``); the coupon
  file (:mod:`~ekarta.transit.codec.coupon_file`) and the hotlist
  (:mod:`~ekarta.transit.codec.hotlist`) that come from the back office.
- :mod:`ekarta.transit.security` — the operator's coupon signatures
  (:mod:`~ekarta.transit.security.signing`) and the key provider with its file keystore
  (:mod:`~ekarta.transit.security.keystore`).
- :mod:`ekarta.transit.cardio` — the card through the DESFire client: reading
  (:mod:`~ekarta.transit.cardio.reading`), issuing (:mod:`~ekarta.transit.cardio.issuance`),
  loading a coupon (:mod:`~ekarta.transit.cardio.loading`), the card's life cycle
  (:mod:`~ekarta.transit.cardio.lifecycle`), the e-purse (:mod:`~ekarta.transit.cardio.purse`)
  and cancelling or replacing a coupon (:mod:`~ekarta.transit.cardio.coupons`), each safe
  against the card being pulled away at any
  moment.

The names below are the values, codec and rules most callers need; the other modules are
imported by their own paths.
"""

from ekarta.transit.codec.files import CardFiles, decode_card, split_slots
from ekarta.transit.codec.records import (
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
from ekarta.transit.errors import (
    BlankRecord,
    CorruptRecord,
    CouponError,
    InvalidCardNumber,
    InvalidField,
    KeyFormatError,
    RecordError,
    SignatureInvalid,
    UnknownFormatVersion,
)
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.image import CardImage, SlotError, SlotErrorKind
from ekarta.transit.model.rules import (
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
from ekarta.transit.model.values import (
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
from ekarta.transit.security.signing import CouponSigner, CouponVerifier

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
    "CardNumber",
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
    "InvalidCardNumber",
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
