"""Signed sync envelopes: a terminal takes only the office's, unchanged, in time and newer than
what it holds."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from ekarta.sync.envelope import (
    CLOCK_SKEW,
    DOMAIN,
    HEAD_MAX,
    EnvelopeRejected,
    EnvelopeReplayed,
    EnvelopeStale,
    EnvelopeTampered,
    open_envelope,
    seal,
)
from ekarta.sync.messages import (
    ActionPage,
    EntitledCoupon,
    EntitlementPage,
    HotlistPage,
)
from ekarta.transit.model.card_number import CardNumber
from tests.support.properties import BUDGETS, budgeted

OFFICE = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
STRANGER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
ISSUED = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
PAYLOAD = b'{"hotlist":[1234567894]}'


def sealed(**changes) -> bytes:
    options = {"kind": "hotlist", "key": OFFICE, "issued_at": ISSUED, "valid_for": 3 * DAY,
               "cursor": 42} | changes
    return seal(PAYLOAD, **options)


def opened(data: bytes, **changes):
    options = {"key": OFFICE.public_key(), "kind": "hotlist", "now": ISSUED + DAY} | changes
    return open_envelope(data, **options)


def test_an_envelope_opens_to_what_the_office_sealed():
    envelope = opened(sealed())
    assert (envelope.kind, envelope.payload, envelope.cursor) == ("hotlist", PAYLOAD, 42)
    assert (envelope.issued_at, envelope.valid_until) == (ISSUED, ISSUED + 3 * DAY)


def _cut(data: bytes) -> tuple[bytes, bytes, list, bytes]:
    """An envelope's signature, domain line, head and payload, as it travels."""
    start = 64 + len(DOMAIN)
    size = int.from_bytes(data[start:start + 4], "big")
    return data[:64], data[64:start], json.loads(data[start + 4:start + 4 + size]), \
        data[start + 4 + size:]


def _joined(signature: bytes, domain: bytes, head: list, payload: bytes) -> bytes:
    text = json.dumps(head, separators=(",", ":")).encode()
    return signature + domain + len(text).to_bytes(4, "big") + text + payload


def test_an_envelope_is_the_signature_then_what_it_signs():
    data = sealed()
    signature, domain, head, payload = _cut(data)
    assert domain == DOMAIN and payload == PAYLOAD
    assert head == ["hotlist", ISSUED.isoformat(), (ISSUED + 3 * DAY).isoformat(), 42]
    OFFICE.public_key().verify(signature, data[64:])  # raises if not


@pytest.mark.parametrize("field", ["kind", "issued_at", "valid_until", "cursor", "payload"])
def test_changing_any_signed_field_is_tampering(field):
    signature, domain, head, payload = _cut(sealed())
    _, _, other, _ = _cut(sealed(kind="entitlements", issued_at=ISSUED + DAY,
                                 valid_for=4 * DAY, cursor=43))
    if field == "payload":
        payload = b'{"hotlist":[]}'
    else:
        index = ["kind", "issued_at", "valid_until", "cursor"].index(field)
        head[index] = other[index]
    with pytest.raises(EnvelopeTampered, match="signature"):
        opened(_joined(signature, domain, head, payload))


def test_an_envelope_of_another_form_is_refused():
    signature, _, head, payload = _cut(sealed())
    for domain in (b"ekarta-sync-envelope/1\n", b"ekarta-sync-envelope/3\n"):
        with pytest.raises(EnvelopeTampered, match="not a well-formed envelope"):
            opened(_joined(signature, domain, head, payload))
    data = sealed()
    start = 64 + len(DOMAIN)
    for size in (HEAD_MAX + 1, len(data)):  # a head too long, or longer than the envelope
        with pytest.raises(EnvelopeTampered, match="not a well-formed envelope"):
            opened(data[:start] + size.to_bytes(4, "big") + data[start + 4:])


def test_another_key_or_another_kind_is_tampering():
    with pytest.raises(EnvelopeTampered, match="signature"):
        opened(sealed(key=STRANGER))
    with pytest.raises(EnvelopeTampered, match="expected a 'entitlements' envelope"):
        opened(sealed(), kind="entitlements")


def test_an_envelope_is_used_only_in_its_time():
    assert opened(sealed(), now=ISSUED + 3 * DAY).cursor == 42
    with pytest.raises(EnvelopeStale, match="expired"):
        opened(sealed(), now=ISSUED + 3 * DAY + timedelta(seconds=1))
    assert opened(sealed(), now=ISSUED - CLOCK_SKEW).cursor == 42
    with pytest.raises(EnvelopeStale, match="in the future"):
        opened(sealed(), now=ISSUED - CLOCK_SKEW - timedelta(seconds=1))


def test_an_envelope_not_newer_than_the_last_one_is_a_replay():
    with pytest.raises(EnvelopeReplayed):
        opened(sealed(), last_issued_at=ISSUED)
    later = sealed(issued_at=ISSUED + timedelta(minutes=1))
    assert opened(later, last_issued_at=ISSUED).cursor == 42


@pytest.mark.parametrize("data", [b"", b"null", b"[]", b"{}", b"\xff\xfe", b"{" * 100_000,
                                  b'{"kind":1}'])
def test_what_is_no_envelope_is_refused_in_one_line(data):
    with pytest.raises(EnvelopeTampered) as refused:
        opened(data)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize("budget", BUDGETS)
def test_a_damaged_envelope_is_refused_never_taken(budget):
    original = sealed()

    @budgeted(budget, fast=60)
    @given(st.lists(st.tuples(st.integers(0, len(original) - 1), st.integers(1, 255)),
                    min_size=1, max_size=4))
    def check(flips):
        data = bytearray(original)
        for at, mask in flips:
            data[at] ^= mask
        try:
            envelope = opened(bytes(data))
        except EnvelopeRejected:
            return
        # the signature covers every byte after it: only the same envelope opens
        assert (envelope.payload, envelope.cursor, envelope.issued_at) == (PAYLOAD, 42, ISSUED)

    check()


def test_any_of_several_operator_keys_opens_an_envelope():
    keys = [STRANGER.public_key(), OFFICE.public_key()]
    assert opened(sealed(), key=keys).cursor == 42
    with pytest.raises(EnvelopeTampered, match="signature"):
        opened(sealed(), key=[STRANGER.public_key()])
    with pytest.raises(EnvelopeTampered, match="signature"):
        opened(sealed(), key=[])


@pytest.mark.parametrize("slot", ["abc", "ab=c", "abcd=", "ab==cd==", "abcd\n", "a b c d",
                                  "éééé", "abc*"])
def test_a_coupon_slot_that_is_not_base64_is_refused(slot):
    with pytest.raises(ValidationError):
        EntitledCoupon(serial=1, state="pending", valid_from=date(2026, 1, 1),
                       valid_to=date(2026, 1, 30), slot=slot)


@pytest.mark.parametrize("where", ["hotlist item", "hotlist removal", "entitlement",
                                   "entitlement removal", "action"])
def test_a_page_checks_every_card_number_by_its_check_digit_with_the_usual_reason(where):
    good = CardNumber.from_serial(5).digits
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)

    def page(number: str) -> object:
        hot = {"card_number": number, "expiry": "2030-01-01"}
        entitled = {"card_number": number, "status": "active", "kind": "anonymous",
                    "profile": "adult-transferable", "expiry": "2030-01-01"}
        action = {"id": 1, "card_number": number, "kind": "activate"}
        model, items, removed = {
            "hotlist item": (HotlistPage, [hot], []),
            "hotlist removal": (HotlistPage, [], [number]),
            "entitlement": (EntitlementPage, [entitled], []),
            "entitlement removal": (EntitlementPage, [], [number]),
            "action": (ActionPage, [action], []),
        }[where]
        body = {"reset": False, "more": False, "items": items, "removed": removed}
        return model.model_validate_json(json.dumps(body))

    assert page(good) is not None
    with pytest.raises(ValidationError, match="fails its check digit"):
        page(bad)
    with pytest.raises(ValidationError):
        page(good[:-1] + "x")
