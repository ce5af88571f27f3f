"""Keys, block ciphers, CMAC, CRCs and paddings as DESFire uses them.

Everything here is pure: no I/O, no global state.  Ciphers come from ``cryptography``; what is
written here is only what DESFire does differently from the textbook (a CMAC that starts from a
running IV, the legacy "send mode", CRC_A, key versions hidden in DES parity bits).
"""

from __future__ import annotations

import enum
import hmac
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeAlias

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes

from ekarta.errors import InvalidArgument

Rng: TypeAlias = Callable[[int], bytes]
"""A source of random bytes, ``rng(n) -> n bytes``: :func:`os.urandom` unless a caller injects
another (to replay published transcripts, or for repeatable tests)."""


class KeyType(enum.Enum):
    """The four key types of DESFire, with their sizes."""

    DES = "des"
    TDES2 = "2k3des"
    TDES3 = "3k3des"
    AES = "aes"

    @property
    def key_size(self) -> int:
        return {"des": 8, "2k3des": 16, "3k3des": 24, "aes": 16}[self.value]

    @property
    def block_size(self) -> int:
        return 16 if self is KeyType.AES else 8

    @property
    def app_crypto_bits(self) -> int:
        """Bits 7..6 of the key-settings byte 2 and of a PICC-level ChangeKey key number."""
        return {"des": 0x00, "2k3des": 0x00, "3k3des": 0x40, "aes": 0x80}[self.value]

    @classmethod
    def parse(cls, value: str | KeyType) -> KeyType:
        if isinstance(value, KeyType):
            return value
        aliases = {"des": "des", "2k3des": "2k3des", "3des": "2k3des", "tdes2": "2k3des",
                   "2tdea": "2k3des", "3k3des": "3k3des", "tdes3": "3k3des", "3tdea": "3k3des",
                   "aes": "aes", "aes128": "aes"}
        try:
            return cls(aliases[value.strip().lower()])
        except KeyError:
            raise InvalidArgument(
                f"unknown key type {value!r}; use one of des, 2k3des, 3k3des, aes") from None


def _version_from_parity(data: bytes) -> int:
    """DES-family keys keep their version in the lowest bit of the first eight bytes."""
    version = 0
    for byte in data[:8]:
        version = (version << 1) | (byte & 1)
    return version


def _with_parity_version(data: bytes, version: int) -> bytes:
    head = bytes((b & 0xFE) | ((version >> (7 - i)) & 1) for i, b in enumerate(data[:8]))
    return head + data[8:]


@dataclass(frozen=True, repr=False)
class Key:
    """A DESFire key: its type, raw bytes and version.

    For DES, 2K3DES and 3K3DES the version lives in the parity bits of the first eight bytes (as
    on the card); for AES it is carried separately.  ``repr`` never shows key material.
    """

    type: KeyType
    data: bytes
    aes_version: int = field(default=0)

    def __post_init__(self) -> None:
        if not isinstance(self.data, bytes | bytearray):
            raise InvalidArgument("key material must be bytes")
        if len(self.data) != self.type.key_size:
            raise InvalidArgument(
                f"a {self.type.value} key has {self.type.key_size} bytes, not {len(self.data)}")
        if not 0 <= self.aes_version <= 0xFF:
            raise InvalidArgument("key version must be 0..255")
        object.__setattr__(self, "data", bytes(self.data))

    @classmethod
    def des(cls, data: bytes) -> Key:
        return cls(KeyType.DES, bytes(data))

    @classmethod
    def tdes2(cls, data: bytes) -> Key:
        return cls(KeyType.TDES2, bytes(data))

    @classmethod
    def tdes3(cls, data: bytes) -> Key:
        return cls(KeyType.TDES3, bytes(data))

    @classmethod
    def aes(cls, data: bytes, version: int = 0) -> Key:
        return cls(KeyType.AES, bytes(data), version)

    @classmethod
    def default(cls, key_type: KeyType | str = KeyType.DES) -> Key:
        """The all-zero key a factory-fresh card or a new application starts with."""
        kt = KeyType.parse(key_type)
        return cls(kt, bytes(kt.key_size))

    @classmethod
    def from_hex(cls, key_type: KeyType | str, hex_text: str, version: int | None = None) -> Key:
        kt = KeyType.parse(key_type)
        try:
            raw = bytes.fromhex(hex_text.replace(":", "").replace(" ", ""))
        except ValueError:
            raise InvalidArgument("key must be given as hex digits") from None
        key = cls(kt, raw)
        return key if version is None else key.with_version(version)

    @property
    def version(self) -> int:
        if self.type is KeyType.AES:
            return self.aes_version
        return _version_from_parity(self.data)

    def with_version(self, version: int) -> Key:
        if not 0 <= version <= 0xFF:
            raise InvalidArgument("key version must be 0..255")
        if self.type is KeyType.AES:
            return Key(self.type, self.data, version)
        return Key(self.type, _with_parity_version(self.data, version))

    @property
    def is_single_des(self) -> bool:
        """True for DES keys and for 2K3DES keys whose halves are equal (the card treats both
        as single DES, which decides the session-key layout)."""
        if self.type is KeyType.DES:
            return True
        return self.type is KeyType.TDES2 and _strip(self.data[:8]) == _strip(self.data[8:])

    def card_bytes(self) -> bytes:
        """The key as a ChangeKey cryptogram carries it: DES keys travel as 16 bytes."""
        if self.type is KeyType.DES:
            return self.data + self.data
        return self.data

    @cached_property
    def cipher(self) -> BlockCipher:
        return BlockCipher(self.type, self.data)

    def __bytes__(self) -> bytes:
        return self.data

    def __repr__(self) -> str:
        return f"Key({self.type.value}, version={self.version})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Key):
            return NotImplemented
        return (self.type is other.type and self.version == other.version
                and hmac.compare_digest(self.data, other.data))

    def __hash__(self) -> int:
        return hash((self.type, self.data, self.version))


def _strip(half: bytes) -> bytes:
    return bytes(b & 0xFE for b in half)


def xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def _double(value: int, block_size: int) -> int:
    """A block as a number times x in GF(2^64) or GF(2^128): CMAC's subkey step."""
    n = block_size * 8
    value <<= 1
    if value >> n:
        value ^= (1 << n) | (0x87 if n == 128 else 0x1B)
    return value


def _shift_left_1(block: bytes) -> bytes:
    return _double(int.from_bytes(block, "big"), len(block)).to_bytes(len(block), "big")


def _algorithm(key_type: KeyType, key: bytes) -> algorithms.AES | TripleDES:
    if key_type is KeyType.AES:
        return algorithms.AES(key)
    if key_type is KeyType.DES:
        return TripleDES(key * 3)
    if key_type is KeyType.TDES2:
        return TripleDES(key + key[:8])
    return TripleDES(key)


_SHORT_CBC_BLOCKS = 3
"""Up to this many blocks, stateless CBC encryption chains the key's ECB context in Python."""


class BlockCipher:
    """AES or (3)DES under one key, with the modes DESFire needs.

    DES and 2K3DES run as TripleDES with the key expanded to 24 bytes: ``cryptography`` deprecates
    shorter TripleDES keys, and K|K|K is single DES.  Every method is stateless, so one object
    serves any number of threads (a key's :attr:`Key.cipher`); a session's messages go through
    :meth:`chain` instead.  The cipher contexts, which cost more to set up than a message costs to
    encipher, are made on first use and kept.
    """

    def __init__(self, key_type: KeyType, key: bytes):
        self.key_type = key_type
        self.block_size = 16 if key_type is KeyType.AES else 8
        self._algorithm = _algorithm(key_type, key)
        self._ecb: Cipher[modes.ECB] | None = None
        # ECB contexts are stateless between update() calls, so one pair serves every block.
        self._ecb_enc: CipherContext | None = None
        self._ecb_dec: CipherContext | None = None
        self._subkeys: tuple[bytes, bytes] | None = None

    def _ecb_cipher(self) -> Cipher[modes.ECB]:
        if self._ecb is None:
            self._ecb = Cipher(self._algorithm, _ECB)
        return self._ecb

    def _encryptor(self) -> CipherContext:
        if self._ecb_enc is None:
            self._ecb_enc = self._ecb_cipher().encryptor()
        return self._ecb_enc

    def _decryptor(self) -> CipherContext:
        if self._ecb_dec is None:
            self._ecb_dec = self._ecb_cipher().decryptor()
        return self._ecb_dec

    def chain(self) -> CbcChain:
        """A CBC context of its own under this key, for the messages of one session."""
        return CbcChain(self._algorithm, self.block_size)

    def _check(self, data: bytes) -> None:
        if len(data) % self.block_size:
            raise InvalidArgument(
                f"cipher input must be a multiple of {self.block_size} bytes, got {len(data)}")

    def encrypt_block(self, block: bytes) -> bytes:
        return (self._ecb_enc or self._encryptor()).update(block)

    def decrypt_block(self, block: bytes) -> bytes:
        return (self._ecb_dec or self._decryptor()).update(block)

    def encrypt_ecb(self, data: bytes) -> bytes:
        self._check(data)
        return self.encrypt_block(data)

    def encrypt_cbc(self, data: bytes, iv: bytes) -> bytes:
        bs = self.block_size
        if len(data) % bs:
            self._check(data)
        if not data:
            return b""
        if len(data) <= _SHORT_CBC_BLOCKS * bs:
            # most messages are a block or two: chained on the ECB context kept for the key, as
            # setting up a CBC context costs more than the blocks themselves
            ecb = self._ecb_enc or self._encryptor()
            out = []
            for i in range(0, len(data), bs):
                iv = ecb.update(xor(data[i:i + bs], iv))
                out.append(iv)
            return b"".join(out)
        ctx = Cipher(self._algorithm, modes.CBC(iv)).encryptor()
        return ctx.update(data) + ctx.finalize()

    def decrypt_cbc(self, data: bytes, iv: bytes) -> bytes:
        bs = self.block_size
        if len(data) % bs:
            self._check(data)
        if not data:
            return b""
        # p_i = D(c_i) ^ c_(i-1): every block deciphered at once on the ECB context, then one
        # XOR with the ciphertext shifted by a block
        plain = (self._ecb_dec or self._decryptor()).update(data)
        return (int.from_bytes(plain, "big")
                ^ int.from_bytes(iv + data[:-bs], "big")).to_bytes(len(data), "big")

    def legacy_send(self, data: bytes) -> bytes:
        """Legacy DESFire "send mode": the reader deciphers to encrypt, c_i = D(p_i ^ c_{i-1}).

        The original DESFire only ever enciphers, so the reader must use the inverse operation
        in a chaining no library offers; the IV starts at zero for every message.
        """
        self._check(data)
        out = bytearray()
        prev = bytes(self.block_size)
        for i in range(0, len(data), self.block_size):
            prev = self.decrypt_block(xor(data[i:i + self.block_size], prev))
            out += prev
        return bytes(out)

    def legacy_receive(self, data: bytes) -> bytes:
        """The card side of :meth:`legacy_send`: p_i = E(c_i) ^ c_{i-1}."""
        self._check(data)
        out = bytearray()
        prev = bytes(self.block_size)
        for i in range(0, len(data), self.block_size):
            block = data[i:i + self.block_size]
            out += xor(self.encrypt_block(block), prev)
            prev = block
        return bytes(out)

    @property
    def subkeys(self) -> tuple[bytes, bytes]:
        if self._subkeys is None:
            self._subkeys = _subkeys(self.encrypt_block(bytes(self.block_size)))
        return self._subkeys

    def cmac(self, data: bytes, iv: bytes | None = None) -> bytes:
        """The full-block CMAC of ``data`` (NIST SP 800-38B), chained from ``iv``.

        EV1 secure messaging runs the CMAC from the session's running IV, which a standard CMAC
        (always from zero) cannot express; with ``iv=None`` this is the textbook CMAC.
        """
        bs = self.block_size
        k1, k2 = self.subkeys
        if data and len(data) % bs == 0:
            last = xor(data[-bs:], k1)
            body = data[:-bs]
        else:
            cut = len(data) - len(data) % bs
            last = xor(pad_iso9797_m2(data[cut:], bs), k2)
            body = data[:cut]
        return self.encrypt_cbc(body + last, iv or bytes(bs))[-bs:]

    def cbc_mac_with_subkey(self, padded: bytes, subkey: bytes) -> bytes:
        """CBC-MAC over ``padded`` with its last block XORed with ``subkey`` (AN10922)."""
        bs = self.block_size
        return self.encrypt_cbc(padded[:-bs] + xor(padded[-bs:], subkey), bytes(bs))[-bs:]


def _subkeys(l_block: bytes) -> tuple[bytes, bytes]:
    """CMAC's K1 and K2 from L = E(0)."""
    k1 = _shift_left_1(l_block)
    return k1, _shift_left_1(k1)


#: The modes every key's contexts share (a mode object only holds its IV).
_ECB = modes.ECB()
_CBC_FROM_ZERO = {8: modes.CBC(bytes(8)), 16: modes.CBC(bytes(16))}


class CbcChain:
    """CBC encryption, decryption and CMAC for the messages of one session, on long-lived CBC
    contexts.

    A CBC context carries its last block into its next ``update()``: a message that must start
    from another IV gets its first block XORed with the difference, and one ``update()`` does the
    whole message.  In an EV1 session the running IV is most often the encrypting context's last
    block (the last CMAC or ciphertext), so nothing is XORed at all.  The results are those of
    :meth:`BlockCipher.encrypt_cbc`, :meth:`BlockCipher.decrypt_cbc` and :meth:`BlockCipher.cmac`;
    not thread-safe (one session, one chain).  The decrypting context is made on first use: many
    sessions never decrypt.
    """

    def __init__(self, algorithm: algorithms.AES | TripleDES, block_size: int) -> None:
        self.block_size = block_size
        self._cipher = Cipher(algorithm, _CBC_FROM_ZERO[block_size])
        self._ctx = self._cipher.encryptor()
        #: the encrypting context's chaining value: the last block it gave out
        self._last = bytes(block_size)
        self._dec: CipherContext | None = None
        #: the decrypting context's chaining value: the last ciphertext block it took
        self._dec_last = self._last
        self._subkeys: tuple[int, int] | None = None
        self._paddings = _PADDINGS[block_size]

    @classmethod
    def for_key(cls, key_type: KeyType, key: bytes) -> CbcChain:
        """The chain of a session key (DES-family keys as :class:`BlockCipher` takes them)."""
        return cls(_algorithm(key_type, key), 16 if key_type is KeyType.AES else 8)

    def decrypt(self, data: bytes, iv: bytes) -> bytes:
        """CBC decryption of ``data`` (whole blocks) from ``iv``."""
        bs = self.block_size
        if len(data) % bs or not data:
            return _check_blocks(data, bs)
        if self._dec is None:
            self._dec = self._cipher.decryptor()
        out = self._dec.update(data)
        last = self._dec_last
        self._dec_last = data[-bs:]
        return _from_iv(out, iv, last, bs)

    def encrypt(self, data: bytes, iv: bytes) -> bytes:
        """CBC encryption of ``data`` (whole blocks) from ``iv``."""
        bs = self.block_size
        if len(data) % bs or not data:
            return _check_blocks(data, bs)
        out = self._ctx.update(_from_iv(data, iv, self._last, bs))
        self._last = out[-bs:]
        return out

    def _load_subkeys(self) -> tuple[int, int]:
        # L = E(0): the context enciphers its input XOR its last block, so it is given that block
        self._last = l_block = self._ctx.update(self._last)
        k1 = _double(int.from_bytes(l_block, "big"), self.block_size)
        self._subkeys = k1, k2 = k1, _double(k1, self.block_size)
        return k1, k2

    def cmac(self, data: bytes, iv: bytes) -> bytes:
        """The full-block CMAC of ``data`` chained from ``iv``, as :meth:`BlockCipher.cmac`."""
        k1, k2 = self._subkeys or self._load_subkeys()
        bs = self.block_size
        n = len(data)
        last = self._last
        correction = 0 if iv is last or iv == last else \
            int.from_bytes(iv, "big") ^ int.from_bytes(last, "big")
        if n < bs:
            # nearly every message of a session (a command's parameters, a status byte): one
            # padded block, its correction and subkey XORed in at once
            value = int.from_bytes(data + self._paddings[n], "big") ^ k2 ^ correction
            out = self._last = self._ctx.update(value.to_bytes(bs, "big"))
            return out
        if n % bs:
            cut = n - n % bs
            tail = int.from_bytes(data[cut:] + self._paddings[n % bs], "big") ^ k2
        else:
            cut = n - bs
            tail = int.from_bytes(data[cut:], "big") ^ k1
        if not cut:  # one whole block: the correction goes with the subkey
            out = self._ctx.update((tail ^ correction).to_bytes(bs, "big"))
        else:
            if correction:
                first = int.from_bytes(data[:bs], "big") ^ correction
                body = first.to_bytes(bs, "big") + data[bs:cut]
            else:
                body = data[:cut]
            out = self._ctx.update(body + tail.to_bytes(bs, "big"))[-bs:]
        self._last = out
        return out


def _check_blocks(data: bytes, block_size: int) -> bytes:
    """Refuse ``data`` that is no whole number of blocks; nothing to do for none."""
    if len(data) % block_size:
        raise InvalidArgument(
            f"cipher input must be a multiple of {block_size} bytes, got {len(data)}")
    return b""


def _from_iv(blocks: bytes, iv: bytes, last: bytes, block_size: int) -> bytes:
    """``blocks`` with the first XORed with ``iv ^ last``: what a CBC context chained on
    ``last`` takes to encipher from ``iv``, or gives back of a decipherment meant from ``iv``."""
    if iv is last or iv == last:
        return blocks
    first = int.from_bytes(blocks[:block_size], "big") ^ int.from_bytes(iv, "big") \
        ^ int.from_bytes(last, "big")
    return first.to_bytes(block_size, "big") + blocks[block_size:]


#: ISO/IEC 9797-1 method 2 padding by block size and by the bytes of the last block.
_PADDINGS: dict[int, tuple[bytes, ...]] = {
    bs: tuple(b"\x80" + bytes(bs - 1 - n) for n in range(bs)) for bs in (8, 16)}


# --- checksums and paddings


def crc32(data: bytes) -> bytes:
    """DESFire CRC32: the IEEE CRC without its final XOR, little-endian."""
    return ((zlib.crc32(data) ^ 0xFFFFFFFF) & 0xFFFFFFFF).to_bytes(4, "little")


def _crc_a_table() -> list[int]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_A_TABLE = _crc_a_table()


def crc16(data: bytes) -> bytes:
    """ISO/IEC 14443-3 CRC_A (init 0x6363), little-endian, as legacy DESFire uses it."""
    crc = 0x6363
    for byte in data:
        crc = (crc >> 8) ^ _CRC_A_TABLE[(crc ^ byte) & 0xFF]
    return crc.to_bytes(2, "little")


def pad_zero(data: bytes, block_size: int) -> bytes:
    """EV1 padding: zeros up to the block size; empty input becomes one zero block."""
    if not data:
        return bytes(block_size)
    return data + bytes(-len(data) % block_size)


def pad_iso9797_m2(data: bytes, block_size: int) -> bytes:
    """ISO/IEC 9797-1 method 2: 0x80 then zeros; always adds at least one byte."""
    data = data + b"\x80"
    return data + bytes(-len(data) % block_size)


def unpad_iso9797_m2(data: bytes) -> bytes | None:
    """Strip method-2 padding; None when the padding is not well formed."""
    stripped = data.rstrip(b"\x00")
    if not stripped or stripped[-1] != 0x80:
        return None
    return stripped[:-1]


def constant_time_equal(a: bytes, b: bytes) -> bool:
    return hmac.compare_digest(a, b)
