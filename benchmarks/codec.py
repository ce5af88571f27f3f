"""Decode a full card and judge it, as a validator does at every tap.

The card: a personal student card record, all coupon slots filled with signed coupons (a current
30-day coupon, its follow-on, a dog coupon, a 90-day coupon that ended and one that has not
started) and a full event log.  One run = decode every file (card record, all slots, all log
records) + judge the holder in a zone (which checks the signature of the coupon that decides).
Prints median and p95 wall-clock milliseconds over the runs, for the whole and for each part, and
also the cost when every slot's signature is checked (what a kiosk listing all coupons pays).

    python benchmarks/codec.py [--runs N] [--algorithm ed25519|ecdsa-p256]

No caching: every run decodes the bytes and verifies the signature afresh.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from ekarta.transit import (
    EVENT_LOG_RECORDS,
    SLOT_COUNT,
    CardFiles,
    CardKind,
    CardRecord,
    CardStatus,
    Coupon,
    CouponSigner,
    CouponType,
    EventKind,
    EventRecord,
    Profile,
    Reason,
    SaleChannel,
    Zones,
    decode_card,
    encode_card_record,
    encode_event,
    encode_slot,
    judge_card,
)

UID = bytes.fromhex("04A1B2C3D4E5F6")
TODAY = date(2025, 10, 20)
AT = datetime(2025, 10, 20, 7, 42, tzinfo=UTC)


def build_card(signer: CouponSigner) -> CardFiles:
    record = CardRecord(
        card_number=1234567894, kind=CardKind.PERSONAL, status=CardStatus.ACTIVE,
        expiry=date(2029, 8, 31), profile=Profile.STUDENT, profile_end=date(2026, 8, 31),
        birth_date=date(2004, 2, 29), first_name="Žofie", surname="Šťastná-Ďáblová")
    zones = Zones((1, 2, 3, 77, 78))

    def coupon(serial: int, kind: CouponType, start: date) -> Coupon:
        return Coupon(serial, kind, Profile.STUDENT, zones, start, kind.end_date(start),
                      start - timedelta(days=3), SaleChannel.ESHOP_CARD, 0, 330)

    coupons = [
        coupon(1001, CouponType.DAYS_30, date(2025, 10, 5)),
        coupon(1002, CouponType.DAYS_30, date(2025, 11, 4)),
        coupon(1003, CouponType.DOG_30, date(2025, 10, 5)),
        coupon(1004, CouponType.DAYS_90, date(2025, 6, 1)),
        coupon(1005, CouponType.DAYS_90, date(2025, 12, 4)),
    ][:SLOT_COUNT]
    slots = tuple(encode_slot(signer.sign(c, uid=UID, card_number=record.card_number))
                  for c in coupons)
    events = tuple(
        encode_event(EventRecord(
            sequence=100 + i, at=AT - timedelta(hours=11 * (EVENT_LOG_RECORDS - i)),
            kind=EventKind.VALIDATION, result=Reason.VALID, device=4321, line=4,
            vehicle=1200 + i, zone=77, coupon_serial=1001))
        for i in range(EVENT_LOG_RECORDS))
    return CardFiles(UID, encode_card_record(record), slots, events, purse=15_000)


def measure(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    for _ in range(min(100, runs)):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--algorithm", default="ed25519", choices=("ed25519", "ecdsa-p256"))
    args = parser.parse_args()

    signer = CouponSigner.generate(args.algorithm)
    verifier = signer.verifier
    files = build_card(signer)
    image = decode_card(files)
    verdict = judge_card(image, at=AT, zone=77, verifier=verifier)
    assert verdict.ok and verdict.coupon is not None and verdict.coupon.serial == 1001, verdict

    def tap() -> None:
        judge_card(decode_card(files), at=AT, zone=77, verifier=verifier)

    def verify_all() -> None:
        for signed in decode_card(files).coupons:
            verifier.verify(signed, uid=UID, card_number=image.record.card_number)

    parts = [
        ("decode + judge (one tap)", tap),
        ("  decode only", lambda: decode_card(files)),
        ("  judge only (1 signature)", lambda: judge_card(image, at=AT, zone=77,
                                                          verifier=verifier)),
        (f"decode + verify all {len(files.slots)} signatures", verify_all),
    ]
    print(f"card: 1 record, {len(files.slots)} slots, {len(files.events)} log records; "
          f"{args.algorithm}; {args.runs} runs")
    for name, fn in parts:
        median, p95 = measure(fn, args.runs)
        print(f"{name:<36} median {median:6.3f} ms   p95 {p95:6.3f} ms")


if __name__ == "__main__":
    main()
