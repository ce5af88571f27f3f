"""Small builders the tests share: bytes from hex, native DESFire APDUs, a counting rng."""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["counting_rng", "h", "native"]


def h(text: str | bytes) -> bytes:
    """Bytes from hex text that may hold spaces and line breaks (bytes pass through)."""
    if isinstance(text, bytes | bytearray):
        return bytes(text)
    return bytes.fromhex(text.replace(" ", "").replace("\n", ""))


def native(code: int, data: bytes = b"") -> bytes:
    """The ISO 7816 APDU that wraps native DESFire command ``code``: ``90 code 00 00 [Lc data] 00``
    (no Lc and no data when there is none)."""
    if data:
        return bytes([0x90, code, 0, 0, len(data)]) + data + b"\x00"
    return bytes([0x90, code, 0, 0, 0])


def counting_rng(start: int = 0) -> Callable[[int], bytes]:
    """Deterministic 'random' bytes that count up from ``start`` across calls: a client or card
    given two of these with the same start draws the same numbers, so its exchanges repeat."""
    state = start

    def rng(n: int) -> bytes:
        nonlocal state
        out = bytes((state + i) & 0xFF for i in range(n))
        state += n
        return out

    return rng
