"""The operator's signature on coupons, so that a stolen terminal cannot mint them.

The back office holds the private key and signs each coupon for one card; terminals hold only
public keys and refuse a coupon whose signature does not verify.  The signed message is::

    b"ekarta/coupon-signature/v1\\0"  (domain separation: this key signs nothing else)
    slot format version               1 byte
    UID length, UID                   1 byte + 4, 7 or 10 bytes (the chip's ISO 14443-A UID)
    card number                       5 bytes, big-endian
    coupon body                       29 bytes, exactly as stored in the slot

so a coupon copied onto another card (another UID or card number) no longer verifies.  The
signature is 64 bytes: Ed25519 (the default), or ECDSA P-256 with SHA-256 stored as r || s (32
bytes each, big-endian) so that it fits the same slot.  A verifier may hold several public keys
(key rotation: the old and the new key during the changeover) and accepts a signature that
verifies with any of them.

Key material is never logged and never shown by ``repr``; keys are identified by
:attr:`CouponSigner.key_id`, a short fingerprint of the public key.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Literal

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from nacl.bindings import crypto_sign_open
from nacl.exceptions import BadSignatureError

from ekarta.transit.codec.records import SIGNATURE_SIZE, SLOT_VERSION, encode_coupon_body
from ekarta.transit.errors import InvalidField, KeyFormatError, SignatureInvalid
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.values import Coupon, SignedCoupon, check_uid

__all__ = [
    "SIGNATURE_TAG",
    "Algorithm",
    "CouponSigner",
    "CouponVerifier",
    "signed_message",
]

log = logging.getLogger(__name__)

SIGNATURE_TAG = b"ekarta/coupon-signature/v1\0"
Algorithm = Literal["ed25519", "ecdsa-p256"]

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey

_P256_HALF = 32


def signed_message(body: bytes, *, uid: bytes, card_number: CardNumber | int) -> bytes:
    """The exact bytes the operator signs for a coupon ``body`` on the card (uid, card_number);
    InvalidField for an impossible UID or card number."""
    uid = check_uid(uid)
    number = int(CardNumber.of(card_number))
    return b"".join((SIGNATURE_TAG, bytes((SLOT_VERSION, len(uid))), uid,
                     number.to_bytes(5, "big"), body))


def _algorithm(key: PrivateKey | PublicKey) -> Algorithm:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return "ed25519"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) and isinstance(
            key.curve, ec.SECP256R1):
        return "ecdsa-p256"
    raise KeyFormatError(f"unsupported key type {type(key).__name__}: use Ed25519 or ECDSA P-256")


def _fingerprint(key: PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.DER,
                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(raw).hexdigest()[:16]


class CouponSigner:
    """Signs coupons with the operator's private key (back office only)."""

    def __init__(self, private_key: PrivateKey):
        self.algorithm = _algorithm(private_key)
        if not isinstance(private_key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
            raise KeyFormatError("CouponSigner needs a private key")
        self._key = private_key
        self.verifier = CouponVerifier(private_key.public_key())
        self.key_id = self.verifier.key_ids[0]

    @classmethod
    def generate(cls, algorithm: Algorithm = "ed25519") -> CouponSigner:
        """A signer with a fresh key."""
        if algorithm == "ed25519":
            return cls(ed25519.Ed25519PrivateKey.generate())
        if algorithm == "ecdsa-p256":
            return cls(ec.generate_private_key(ec.SECP256R1()))
        raise InvalidField(f"unknown algorithm {algorithm!r}: use 'ed25519' or 'ecdsa-p256'")

    @classmethod
    def from_pem(cls, data: bytes, password: bytes | None = None) -> CouponSigner:
        """The signer of a PEM private key (PKCS#8, optionally encrypted with ``password``)."""
        try:
            key = serialization.load_pem_private_key(data, password=password)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            # cryptography's message names the problem (bad password, not PEM, a key algorithm
            # it does not know), never the key.
            raise KeyFormatError(f"cannot load the private key: {exc}") from None
        if not isinstance(key, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey):
            raise KeyFormatError(f"unsupported key type {type(key).__name__}")
        return cls(key)

    def to_pem(self, password: bytes | None = None) -> bytes:
        """The private key as PKCS#8 PEM, encrypted when ``password`` is given."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(password) if password
            else serialization.NoEncryption())
        return self._key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8, encryption)

    def sign(self, coupon: Coupon, *, uid: bytes, card_number: CardNumber | int) -> SignedCoupon:
        """``coupon`` signed for the card with chip UID ``uid`` and number ``card_number``."""
        body = encode_coupon_body(coupon)
        message = signed_message(body, uid=uid, card_number=card_number)
        if isinstance(self._key, ed25519.Ed25519PrivateKey):
            signature = self._key.sign(message)
        else:
            r, s = decode_dss_signature(self._key.sign(message, ec.ECDSA(hashes.SHA256())))
            signature = r.to_bytes(_P256_HALF, "big") + s.to_bytes(_P256_HALF, "big")
        log.debug("signed coupon %d with key %s", coupon.serial, self.key_id)
        return SignedCoupon(coupon, signature)

    def __repr__(self) -> str:
        return f"CouponSigner({self.algorithm}, key_id={self.key_id})"


class CouponVerifier:
    """Checks coupon signatures with the operator's public key(s) (every terminal)."""

    def __init__(self, *public_keys: PublicKey):
        if not public_keys:
            raise KeyFormatError("a verifier needs at least one public key")
        for key in public_keys:
            if not isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey):
                raise KeyFormatError(f"not a public key: {type(key).__name__}")
            _algorithm(key)
        self._keys = tuple(public_keys)
        self.key_ids = tuple(_fingerprint(key) for key in self._keys)
        # Every tap verifies a coupon: libsodium checks an Ed25519 signature in about half the
        # time OpenSSL takes through cryptography, so Ed25519 keys are also kept as raw bytes.
        self._checks = tuple(
            key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            if isinstance(key, ed25519.Ed25519PublicKey) else key for key in self._keys)

    @classmethod
    def from_pem(cls, *pems: bytes) -> CouponVerifier:
        """A verifier of one or more PEM public keys (SubjectPublicKeyInfo)."""
        keys = []
        for pem in pems:
            try:
                key = serialization.load_pem_public_key(pem)
            except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
                raise KeyFormatError(f"cannot load the public key: {exc}") from None
            if not isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey):
                raise KeyFormatError(f"unsupported key type {type(key).__name__}")
            keys.append(key)
        return cls(*keys)

    def to_pem(self) -> tuple[bytes, ...]:
        """Each public key as PEM, in the order given."""
        return tuple(key.public_bytes(serialization.Encoding.PEM,
                                      serialization.PublicFormat.SubjectPublicKeyInfo)
                     for key in self._keys)

    def verify(self, signed: SignedCoupon, *, uid: bytes, card_number: CardNumber | int) -> bool:
        """Whether ``signed`` carries a valid operator signature for this card."""
        if not isinstance(signed, SignedCoupon):
            raise InvalidField(f"expected a SignedCoupon, not {type(signed).__name__}")
        body = signed.body if signed.body is not None else encode_coupon_body(signed.coupon)
        message = signed_message(body, uid=uid, card_number=card_number)
        signature = signed.signature
        if len(signature) != SIGNATURE_SIZE:
            return False
        for key in self._checks:
            try:
                if isinstance(key, bytes):
                    crypto_sign_open(signature + message, key)
                else:
                    der = encode_dss_signature(int.from_bytes(signature[:_P256_HALF], "big"),
                                               int.from_bytes(signature[_P256_HALF:], "big"))
                    key.verify(der, message, ec.ECDSA(hashes.SHA256()))
            except (InvalidSignature, BadSignatureError):
                continue
            return True
        # A forged or copied coupon is worth a trace; the card number stays out of the log.
        log.warning("coupon %d: the operator's signature does not verify", signed.serial)
        return False

    def check(self, signed: SignedCoupon, *, uid: bytes, card_number: CardNumber | int) -> None:
        """Return if ``signed`` verifies; raise :class:`SignatureInvalid` otherwise."""
        if not self.verify(signed, uid=uid, card_number=card_number):
            raise SignatureInvalid(f"coupon {signed.serial}: the operator's signature does not "
                                   f"verify for card {card_number}")

    def __repr__(self) -> str:
        return f"CouponVerifier(key_ids={list(self.key_ids)})"
