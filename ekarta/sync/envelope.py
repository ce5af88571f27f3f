"""Signed envelopes: how a terminal knows that a list came from the office, unchanged, recently,
and not for the second time.

The office seals every sync response (:func:`seal`): its payload, what kind of message it is,
when it was issued, until when it may be used and the cursor it brings the terminal to, signed
together with the operator's Ed25519 key.  On the wire (``application/octet-stream``) an envelope
is the signature (64 bytes) followed by exactly what it signs::

    signature (64) | "ekarta-sync-envelope/2\n" | head length (4, big-endian) | head | payload

where the head is the JSON list ``[kind, issued_at, valid_until, cursor]`` and the payload the
page's JSON as it is: a page of several megabytes is neither escaped into a string nor run
through base64 on either side, and the signed bytes are one slice of the response.  The terminal
opens it (:func:`open_envelope`) with the operator's public key and refuses it as

- :class:`EnvelopeTampered`: not an envelope, another kind of message, or a signature that does
  not verify (every byte is covered);
- :class:`EnvelopeStale`: past its ``valid_until``, or issued further in the future than the
  clocks may disagree;
- :class:`EnvelopeReplayed`: not newer than the last envelope the terminal accepted.

Pure functions: the clock and the last accepted issue time are the caller's.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ekarta.errors import EkartaError
from ekarta.transit.security.signing import CouponSigner, CouponVerifier

__all__ = [
    "CLOCK_SKEW",
    "ENVELOPE_MAX",
    "MEDIA_TYPE",
    "Envelope",
    "EnvelopeKeyError",
    "EnvelopeRejected",
    "EnvelopeReplayed",
    "EnvelopeStale",
    "EnvelopeTampered",
    "envelope_key",
    "open_envelope",
    "seal",
    "verify_keys",
]

DOMAIN = b"ekarta-sync-envelope/2\n"
"""Signed before everything else, so that no other ekarta signature can pass for an envelope
(and the first thing after the signature: what tells an envelope of this form)."""

MEDIA_TYPE = "application/octet-stream"
"""How an envelope travels: bytes, signature first."""

SIGNATURE_SIZE = 64
HEAD_MAX = 1024
"""The longest head an envelope may have (a kind, two times and a cursor need a tenth)."""

ENVELOPE_MAX = 256 * 1024 * 1024
"""The largest envelope a terminal reads (a full snapshot of a large network's lists)."""

CLOCK_SKEW = timedelta(minutes=5)
"""How far ahead of the terminal's clock the office's may be."""



class EnvelopeRejected(EkartaError):
    """A terminal refuses a sync response."""


class EnvelopeKeyError(EkartaError):
    """The keystore holds no key fit for sync envelopes."""


class EnvelopeTampered(EnvelopeRejected):
    """Not an envelope of the expected kind signed by the operator's key."""


class EnvelopeStale(EnvelopeRejected):
    """Outside the time the office gave it."""


class EnvelopeReplayed(EnvelopeRejected):
    """Not newer than the last envelope accepted."""


@dataclass(frozen=True)
class Envelope:
    """An opened envelope: what the office signed."""

    kind: str
    issued_at: datetime
    valid_until: datetime
    cursor: int
    payload: bytes


def _utc(at: datetime, what: str) -> datetime:
    if at.tzinfo is None:
        raise ValueError(f"{what} must carry its time zone")
    return at.astimezone(UTC)


def _head(kind: str, issued_at: datetime, valid_until: datetime, cursor: int) -> bytes:
    return json.dumps([kind, issued_at.isoformat(), valid_until.isoformat(), cursor],
                      separators=(",", ":")).encode()


def seal(payload: bytes, *, kind: str, key: Ed25519PrivateKey, issued_at: datetime,
         valid_for: timedelta, cursor: int) -> bytes:
    """The envelope of ``payload`` as the office sends it (see the module docstring)."""
    issued_at = _utc(issued_at, "issued_at")
    if valid_for <= timedelta(0) or cursor < 0 or not kind:
        raise ValueError("an envelope needs a kind, a cursor >= 0 and a positive validity")
    head = _head(kind, issued_at, issued_at + valid_for, cursor)
    signed = b"".join((DOMAIN, len(head).to_bytes(4, "big"), head, payload))
    return key.sign(signed) + signed


_HEAD_AT = SIGNATURE_SIZE + len(DOMAIN) + 4


def _parse(data: bytes) -> tuple[str, datetime, datetime, int, bytes, bytes, bytes]:
    """(kind, issued_at, valid_until, cursor, payload, signature, the signed bytes)."""
    if len(data) > ENVELOPE_MAX:
        raise EnvelopeTampered(f"the envelope is larger than {ENVELOPE_MAX} bytes")
    data = bytes(data)
    if len(data) < _HEAD_AT or data[SIGNATURE_SIZE:_HEAD_AT - 4] != DOMAIN:
        raise EnvelopeTampered("the sync response is not a well-formed envelope")
    size = int.from_bytes(data[_HEAD_AT - 4:_HEAD_AT], "big")
    if size > HEAD_MAX or len(data) < _HEAD_AT + size:
        raise EnvelopeTampered("the sync response is not a well-formed envelope")
    try:
        head = json.loads(data[_HEAD_AT:_HEAD_AT + size])
        if not isinstance(head, list) or len(head) != 4:
            raise ValueError("head")
        kind, issued, until, cursor = head
        if not isinstance(kind, str) or type(cursor) is not int or cursor < 0:
            raise ValueError("kind or cursor")
        issued_at = datetime.fromisoformat(issued)
        valid_until = datetime.fromisoformat(until)
        if issued_at.tzinfo is None or valid_until.tzinfo is None:
            raise ValueError("naive time")
    except (ValueError, TypeError, RecursionError):
        raise EnvelopeTampered("the sync response is not a well-formed envelope") from None
    return kind, issued_at.astimezone(UTC), valid_until.astimezone(UTC), cursor, \
        data[_HEAD_AT + size:], data[:SIGNATURE_SIZE], data[SIGNATURE_SIZE:]


def envelope_key(signer: CouponSigner) -> Ed25519PrivateKey:
    """The office's envelope key: the operator's coupon-signing key when it is Ed25519 (the
    envelope's domain tag keeps the two uses apart)."""
    key = serialization.load_pem_private_key(signer.to_pem(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise EnvelopeKeyError("sync responses are signed with Ed25519: the keystore's signing "
                               f"key is {signer.algorithm}")
    return key


def verify_keys(verifier: CouponVerifier) -> tuple[Ed25519PublicKey, ...]:
    """The Ed25519 keys among the operator's public keys: those an envelope may be signed
    with (a terminal keeps older ones while the office rolls its key over)."""
    keys = tuple(key for pem in verifier.to_pem()
                 if isinstance(key := serialization.load_pem_public_key(pem), Ed25519PublicKey))
    if not keys:
        raise EnvelopeKeyError("the keystore holds no Ed25519 public key to check sync "
                               "responses with")
    return keys


def _verified(keys: Sequence[Ed25519PublicKey], signature: bytes, signed: bytes) -> bool:
    for key in keys:
        try:
            key.verify(signature, signed)
        except InvalidSignature:
            continue
        return True
    return False


def open_envelope(data: bytes, *, key: Ed25519PublicKey | Sequence[Ed25519PublicKey], kind: str,
                  now: datetime, last_issued_at: datetime | None = None) -> Envelope:
    """The envelope in ``data`` if the office's ``key`` (or one of the keys) signed it as
    ``kind``, it is valid at ``now`` and newer than ``last_issued_at`` (the last one accepted);
    else the refusal."""
    now = _utc(now, "now")
    found, issued_at, valid_until, cursor, payload, signature, signed = _parse(data)
    keys = (key,) if isinstance(key, Ed25519PublicKey) else tuple(key)
    if not _verified(keys, signature, signed):
        raise EnvelopeTampered("the sync response's signature does not verify")
    if found != kind:
        raise EnvelopeTampered(f"expected a {kind!r} envelope, got {found!r}")
    if now > valid_until:
        raise EnvelopeStale(f"the {kind} list expired at {valid_until.isoformat()}")
    if issued_at > now + CLOCK_SKEW:
        raise EnvelopeStale(f"the {kind} list is dated {issued_at.isoformat()}, in the future")
    if last_issued_at is not None and issued_at <= _utc(last_issued_at, "last_issued_at"):
        raise EnvelopeReplayed(f"the {kind} list of {issued_at.isoformat()} is not newer than "
                               "the one already held")
    return Envelope(found, issued_at, valid_until, cursor, payload)
