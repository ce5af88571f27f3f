"""Coupon signatures: genuine ones verify; tampered, re-signed or copied ones do not."""

from __future__ import annotations

import logging
from datetime import date

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from ekarta.transit import (
    Coupon,
    CouponSigner,
    CouponType,
    CouponVerifier,
    InvalidField,
    KeyFormatError,
    Profile,
    SaleChannel,
    SignatureInvalid,
    SignedCoupon,
    Zones,
    decode_slot,
    encode_slot,
)
from ekarta.transit.security.signing import SIGNATURE_TAG, signed_message

UID = bytes.fromhex("04A1B2C3D4E5F6")
CARD = 1234567894
OTHER_CARD = 1234567901  # the next serial, with its check digit
ALGORITHMS = ["ed25519", "ecdsa-p256"]

# RFC 8032, test 1: a fixed Ed25519 key, so that a signature can be pinned byte for byte.
RFC8032_SECRET = bytes.fromhex(
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")


def coupon(**changes: object) -> Coupon:
    fields: dict[str, object] = {
        "serial": 4242, "coupon_type": CouponType.DAYS_30, "profile": Profile.STUDENT,
        "zones": Zones((1, 5, 77)), "valid_from": date(2025, 5, 1), "valid_to": date(2025, 5, 30),
        "sale_date": date(2025, 4, 28), "channel": SaleChannel.ESHOP_CARD, "device": 513,
        "price": 330}
    fields.update(changes)
    return Coupon(**fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module", params=ALGORITHMS)
def signer(request: pytest.FixtureRequest) -> CouponSigner:
    return CouponSigner.generate(request.param)


def test_genuine_coupon_verifies(signer: CouponSigner) -> None:
    signed = signer.sign(coupon(), uid=UID, card_number=CARD)
    assert len(signed.signature) == 64
    assert signer.verifier.verify(signed, uid=UID, card_number=CARD)
    signer.verifier.check(signed, uid=UID, card_number=CARD)
    # And after the trip through a card slot.
    from_card = decode_slot(encode_slot(signed))
    assert from_card is not None
    assert signer.verifier.verify(from_card, uid=UID, card_number=CARD)


def test_a_coupon_from_a_slot_is_checked_over_the_bytes_the_slot_held(
        signer: CouponSigner) -> None:
    from dataclasses import replace

    from ekarta.transit.codec.records import encode_coupon_body

    signed = signer.sign(coupon(), uid=UID, card_number=CARD)
    from_card = decode_slot(encode_slot(signed))
    assert from_card is not None and from_card.body == encode_coupon_body(signed.coupon)
    assert from_card == signed  # the bytes read are not part of what the coupon is
    # the body read is what the signature is checked over, not the coupon encoded again
    other = encode_coupon_body(coupon(price=1))
    assert not signer.verifier.verify(replace(from_card, body=other), uid=UID, card_number=CARD)
    with pytest.raises(InvalidField, match="body must be bytes"):
        replace(from_card, body="not bytes")


@pytest.mark.parametrize("change", [
    {"price": 1}, {"valid_to": date(2026, 5, 30)}, {"zones": Zones(network=True)},
    {"profile": Profile.CHILD}, {"serial": 4243}, {"coupon_type": CouponType.YEARLY},
])
def test_a_tampered_field_does_not_verify(signer: CouponSigner, change: dict) -> None:
    signed = signer.sign(coupon(), uid=UID, card_number=CARD)
    forged = SignedCoupon(coupon(**change), signed.signature)
    assert not signer.verifier.verify(forged, uid=UID, card_number=CARD)
    with pytest.raises(SignatureInvalid, match="does not verify"):
        signer.verifier.check(forged, uid=UID, card_number=CARD)


def test_a_tampered_slot_with_a_fixed_checksum_does_not_verify(signer: CouponSigner) -> None:
    import binascii

    slot = bytearray(encode_slot(signer.sign(coupon(), uid=UID, card_number=CARD)))
    slot[29] ^= 0x02  # price 330 -> 328: a plausible edit by someone who knows the layout
    slot[94:96] = binascii.crc_hqx(bytes(slot[:94]), 0xFFFF).to_bytes(2, "big")
    forged = decode_slot(bytes(slot))
    assert forged is not None and forged.coupon.price == 328
    assert not signer.verifier.verify(forged, uid=UID, card_number=CARD)


def test_a_coupon_signed_by_another_key_does_not_verify(signer: CouponSigner) -> None:
    thief = CouponSigner.generate(signer.algorithm)
    minted = thief.sign(coupon(), uid=UID, card_number=CARD)
    assert not signer.verifier.verify(minted, uid=UID, card_number=CARD)


@pytest.mark.parametrize(("uid", "number"), [
    (bytes.fromhex("04A1B2C3D4E5F7"), CARD),
    (bytes.fromhex("04A1B2C3"), CARD),
    (UID, OTHER_CARD),
    (UID, 0),
])
def test_a_coupon_copied_to_another_card_does_not_verify(
        signer: CouponSigner, uid: bytes, number: int) -> None:
    signed = signer.sign(coupon(), uid=UID, card_number=CARD)
    assert not signer.verifier.verify(signed, uid=uid, card_number=number)


_SIGNERS = {name: CouponSigner.generate(name) for name in ALGORITHMS}


@settings(max_examples=50)
@given(st.binary(min_size=64, max_size=64))
def test_random_signatures_never_verify_and_never_crash(signature: bytes) -> None:
    for algorithm in ALGORITHMS:
        verifier = _SIGNERS[algorithm].verifier
        forged = SignedCoupon(coupon(), signature)
        assert not verifier.verify(forged, uid=UID, card_number=CARD)


@pytest.mark.parametrize("signature", [bytes(64), b"\xff" * 64, bytes(32) + b"\x01" * 32])
def test_degenerate_ecdsa_signatures_are_rejected(signature: bytes) -> None:
    verifier = _SIGNERS["ecdsa-p256"].verifier
    assert not verifier.verify(SignedCoupon(coupon(), signature), uid=UID, card_number=CARD)


def test_key_rotation_accepts_old_and_new_keys() -> None:
    old, new = CouponSigner.generate(), CouponSigner.generate("ecdsa-p256")
    both = CouponVerifier.from_pem(*old.verifier.to_pem(), *new.verifier.to_pem())
    for signer in (old, new):
        assert both.verify(signer.sign(coupon(), uid=UID, card_number=CARD), uid=UID,
                           card_number=CARD)
    assert both.key_ids == (old.key_id, new.key_id)


def test_signed_message_layout() -> None:
    from ekarta.transit.codec.records import encode_coupon_body

    body = encode_coupon_body(coupon())
    message = signed_message(body, uid=UID, card_number=CARD)
    assert message == (b"ekarta/coupon-signature/v1\0" + b"\x01" + b"\x07" + UID
                       + CARD.to_bytes(5, "big") + body)
    assert message.startswith(SIGNATURE_TAG)


def test_ed25519_signature_is_pinned() -> None:
    # Ed25519 is deterministic: any change to the signed message changes this signature.
    signer = CouponSigner(ed25519.Ed25519PrivateKey.from_private_bytes(RFC8032_SECRET))
    signed = signer.sign(coupon(), uid=UID, card_number=CARD)
    assert signed.signature.hex() == PINNED_SIGNATURE


PINNED_SIGNATURE = (
    "3f766d67bd3eb4d683d7e8e18ce7496e87925821b2d398c1089f98466033965b"
    "6b06f832b21e03593a5534e193d7b73464aeda81ff0c16b137184c4e5dd05209")


def test_signature_is_over_the_documented_message() -> None:
    from ekarta.transit.codec.records import encode_coupon_body

    key = ed25519.Ed25519PrivateKey.from_private_bytes(RFC8032_SECRET)
    message = (b"ekarta/coupon-signature/v1\0\x01\x07" + UID + CARD.to_bytes(5, "big")
               + encode_coupon_body(coupon()))
    signed = CouponSigner(key).sign(coupon(), uid=UID, card_number=CARD)
    assert signed.signature == key.sign(message)


@pytest.mark.parametrize(("uid", "number"), [(b"\x01\x02", CARD), (UID, -1), (UID, 10**10),
                                             (UID, CARD + 1)])
def test_impossible_cards_are_refused(uid: bytes, number: int) -> None:
    with pytest.raises(InvalidField):
        signed_message(b"x" * 29, uid=uid, card_number=number)


# --- keys ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("password", [None, b"correct horse"])
def test_private_key_pem_round_trip(signer: CouponSigner, password: bytes | None) -> None:
    pem = signer.to_pem(password)
    assert pem.startswith(b"-----BEGIN " + (b"ENCRYPTED " if password else b"") + b"PRIVATE KEY")
    again = CouponSigner.from_pem(pem, password)
    assert again.key_id == signer.key_id
    signed = again.sign(coupon(), uid=UID, card_number=CARD)
    assert signer.verifier.verify(signed, uid=UID, card_number=CARD)


def test_public_key_pem_round_trip(signer: CouponSigner) -> None:
    (pem,) = signer.verifier.to_pem()
    verifier = CouponVerifier.from_pem(pem)
    assert verifier.key_ids == signer.verifier.key_ids
    assert verifier.verify(signer.sign(coupon(), uid=UID, card_number=CARD), uid=UID,
                           card_number=CARD)


def test_wrong_password_and_garbage_are_key_format_errors() -> None:
    pem = CouponSigner.generate().to_pem(b"secret")
    with pytest.raises(KeyFormatError):
        CouponSigner.from_pem(pem, b"wrong")
    with pytest.raises(KeyFormatError):
        CouponSigner.from_pem(b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    with pytest.raises(KeyFormatError):
        CouponVerifier.from_pem(b"not a key")


def test_unsupported_key_types_are_refused() -> None:
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    rsa_pem = rsa_key.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    with pytest.raises(KeyFormatError, match="unsupported"):
        CouponSigner.from_pem(rsa_pem)
    with pytest.raises(KeyFormatError, match="P-256"):
        CouponSigner(ec.generate_private_key(ec.SECP384R1()))
    with pytest.raises(KeyFormatError):
        CouponVerifier()
    with pytest.raises(InvalidField):
        CouponSigner.generate("rsa")  # type: ignore[arg-type]


def test_key_material_never_reaches_repr_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    signer = CouponSigner(ed25519.Ed25519PrivateKey.from_private_bytes(RFC8032_SECRET))
    caplog.set_level(logging.DEBUG, logger="ekarta")
    signed = signer.sign(coupon(), uid=UID, card_number=CARD)
    signer.verifier.verify(SignedCoupon(coupon(price=1), signed.signature), uid=UID,
                           card_number=CARD)
    shown = repr(signer) + repr(signer.verifier) + caplog.text
    assert RFC8032_SECRET.hex() not in shown.lower()
    assert "PRIVATE" not in shown
    assert signer.key_id in repr(signer)
    assert str(CARD) not in caplog.text
    assert "does not verify" in caplog.text
