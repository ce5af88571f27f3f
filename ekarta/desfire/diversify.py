"""NXP AN10922 key diversification (AES-128, 2TDEA, 3TDEA).

Each output block is a CMAC-like computation over a constant byte followed by the
diversification input M (typically UID + AID + system identifier), padded to two cipher blocks.
The padding length differs from a plain CMAC (always two blocks, even for a short M), so the
CMAC subkeys are applied here explicitly.
"""

from __future__ import annotations

from ekarta.desfire.crypto import Key, KeyType, pad_iso9797_m2
from ekarta.errors import InvalidArgument

_CONSTANTS = {
    KeyType.AES: (0x01,),
    KeyType.TDES2: (0x21, 0x22),
    KeyType.TDES3: (0x31, 0x32, 0x33),
}


def _block(master: Key, constant: int, data: bytes) -> bytes:
    cipher = master.cipher
    span = 2 * cipher.block_size
    d = bytes([constant]) + data
    k1, k2 = cipher.subkeys
    if len(d) == span:
        return cipher.cbc_mac_with_subkey(d, k1)
    padded = pad_iso9797_m2(d, span)
    return cipher.cbc_mac_with_subkey(padded, k2)


def diversify(master: Key, data: bytes) -> Key:
    """The card-unique key derived from ``master`` and the diversification input ``data``.

    AES-128 takes 1..31 bytes of input, 2TDEA and 3TDEA 1..15.  DES-family results keep the
    master key's version in their parity bits, as AN10922 recommends; an AES result keeps the
    master's version number.
    """
    if master.type not in _CONSTANTS:
        raise InvalidArgument(
            "AN10922 diversification is defined for AES-128, 2TDEA and 3TDEA keys, not single DES")
    limit = 2 * master.type.block_size - 1
    if not 1 <= len(data) <= limit:
        raise InvalidArgument(
            f"diversification input for a {master.type.value} key must be 1..{limit} bytes, "
            f"got {len(data)}")
    out = b"".join(_block(master, c, bytes(data)) for c in _CONSTANTS[master.type])
    if master.type is KeyType.AES:
        return Key.aes(out, master.version)
    return Key(master.type, out).with_version(master.version)
