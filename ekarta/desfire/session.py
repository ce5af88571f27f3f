"""Secure messaging: what an authenticated session does to each command and response.

Three families, each usable from both ends of the link (the reader, "PCD", and the card, "PICC";
the emulator runs the card side of the very same object):

* :class:`LegacySession` — after the original DESFire authentication (0x0A): 4-byte CBC MACs over
  the data only, CRC16, legacy "send mode" encryption with the IV reset for every message.
* :class:`EV1Session` — after ISO (0x1A) or AES (0xAA) authentication: a running IV that every
  command and every response moves on (a CMAC for plain and MACed messages, the last cipher block
  for encrypted ones), 8-byte CMACs, CRC32 over command code + header + data.
* :class:`EV2Session` — after AuthenticateEV2First/NonFirst: transaction identifier and command
  counter, separate encryption and MAC session keys, truncated MACs (MACt), ISO 9797-1 method 2
  padding.

A message is split into a *header* (sent as is: file number, offset, length...) and *data* (what
the communication mode protects).  When the data part is empty, "full" protects like "mac".
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ekarta.desfire.commands import Comm
from ekarta.desfire.crypto import (
    BlockCipher,
    CbcChain,
    Key,
    KeyType,
    constant_time_equal,
    crc16,
    crc32,
    pad_iso9797_m2,
    pad_zero,
    unpad_iso9797_m2,
    xor,
)
from ekarta.errors import ChecksumMismatch, InvalidArgument, LengthMismatch, NotAuthenticated

__all__ = ["Comm", "EV1Session", "EV2Session", "LegacySession", "Session"]

_ZERO_8 = bytes(8)
_ZERO_16 = bytes(16)
#: ``bytes([n])`` for every byte value: a command code or status in front of a MACed message
_BYTE = tuple(bytes([n]) for n in range(256))


def _strip_zero_padded_crc(plain: bytes, crc_len: int, check, length: int | None) -> bytes:
    """Find the data in ``data | crc | zero padding`` and verify the CRC.

    ``check(data)`` returns the CRC the data must carry.  When the caller knows the data length it
    is used; otherwise every split that leaves only padding behind the CRC (zeros, or 0x80 and
    zeros) is tried, the longest first (a CRC that happens to match a shorter split is then never
    chosen over the real one).
    """
    if length is not None:
        end = length + crc_len
        if end > len(plain) or any(plain[end:]):
            raise ChecksumMismatch("encrypted message has the wrong length or padding")
        if not constant_time_equal(plain[length:end], check(plain[:length])):
            raise ChecksumMismatch("CRC of the encrypted message does not match")
        return plain[:length]
    stripped = plain.rstrip(b"\x00")
    trailing = len(plain) - len(stripped)
    pads = list(range(min(trailing, len(plain) - crc_len), -1, -1))
    if stripped.endswith(b"\x80"):
        # SetConfiguration's variable-length ATS comes padded with ISO 9797-1 method 2
        pads.insert(0, trailing + 1)
    for pad in pads:
        n = len(plain) - pad - crc_len
        if n < 0:
            continue
        if constant_time_equal(plain[n:n + crc_len], check(plain[:n])):
            return plain[:n]
    raise ChecksumMismatch("CRC of the encrypted message does not match")


class Session:
    """Common interface of the three session kinds."""

    kind: str = ""
    key_no: int = 0
    #: communication mode of commands that are not file-data commands
    command_comm: Comm = Comm.PLAIN

    # -- reader side ----------------------------------------------------------------------------
    def wrap_command(self, cmd: int, header: bytes, data: bytes, comm: Comm) -> bytes:
        """Protect an outgoing command; returns everything after the command byte."""
        raise NotImplementedError

    def unwrap_response(self, cmd: int, status: int, payload: bytes, comm: Comm,
                        length: int | None = None) -> bytes:
        """Check and open a successful response; returns the plain data."""
        raise NotImplementedError

    # -- card side --------------------------------------------------------------------------------
    def unwrap_command(self, cmd: int, header: bytes, body: bytes, comm: Comm,
                       length: int | None = None) -> bytes:
        """Check and open a received command's data part (``body`` follows the header)."""
        raise NotImplementedError

    def wrap_response(self, cmd: int, status: int, data: bytes, comm: Comm) -> bytes:
        """Protect a successful response's data."""
        raise NotImplementedError

    # -- ChangeKey --------------------------------------------------------------------------------
    def change_key_cryptogram(self, cmd: int, key_no_byte: int, new_key: Key,
                              old_key: Key | None) -> bytes:
        """The protected key data of a ChangeKey command (after the key number byte).

        ``old_key`` is None when the key being changed is the one this session authenticated
        with; otherwise the cryptogram carries new XOR old and a CRC of the new key.
        """
        raise NotImplementedError

    def open_change_key(self, cmd: int, key_no_byte: int, body: bytes, new_type: KeyType,
                        old_key: Key | None) -> Key:
        """Card side of :meth:`change_key_cryptogram`: recover and check the new key."""
        raise NotImplementedError


def _key_plain(new_key: Key, old_key: Key | None, with_version: bool) -> bytes:
    material = new_key.card_bytes()
    if old_key is not None:
        old = old_key.card_bytes()
        if len(old) != len(material):
            raise InvalidArgument("the old and new key must be of the same size")
        material = xor(material, old)
    if with_version:
        material += bytes([new_key.version])
    return material


def _key_from_plain(new_type: KeyType, material: bytes, old_key: Key | None,
                    version: int | None) -> Key:
    if old_key is not None:
        material = xor(material, old_key.card_bytes())
    if new_type is KeyType.DES:
        if material[:8] != material[8:16]:
            # a 16-byte DES-family key with different halves is 2K3DES
            new_type = KeyType.TDES2
        else:
            material = material[:8]
    if new_type is KeyType.AES:
        return Key(KeyType.AES, material, version or 0)
    return Key(new_type, material)


def _key_material_size(new_type: KeyType) -> int:
    return 24 if new_type is KeyType.TDES3 else 16


def _open_key_plain(plain: bytes, new_type: KeyType, old_key: Key | None, crc, material_crc,
                    *, block_size: int) -> Key:
    """Check and take apart a deciphered legacy/EV1 ChangeKey cryptogram:
    ``key material [version] | CRC(material) [| CRC(new key)] | zero padding``."""
    crc_len = len(crc(b""))
    size = _key_material_size(new_type) + (1 if new_type is KeyType.AES else 0)
    crc_end = size + crc_len + (crc_len if old_key is not None else 0)
    if len(plain) < crc_end or any(plain[crc_end:]) or \
            len(plain) != len(pad_zero(plain[:crc_end], block_size)):
        raise LengthMismatch("ChangeKey cryptogram has the wrong length")
    material = plain[:size]
    if not constant_time_equal(plain[size:size + crc_len], material_crc(material)):
        raise ChecksumMismatch("ChangeKey CRC does not match")
    version = material[-1] if new_type is KeyType.AES else None
    key = _key_from_plain(new_type, material[:_key_material_size(new_type)], old_key, version)
    if old_key is not None and not constant_time_equal(
            plain[size + crc_len:crc_end], crc(key.card_bytes())):
        raise ChecksumMismatch("CRC of the new key does not match")
    return key


# --- legacy


@dataclass
class LegacySession(Session):
    """Session after the original DESFire (D40) authentication, command 0x0A."""

    key_type: KeyType
    session_key: bytes = field(repr=False)
    key_no: int = 0
    kind: str = field(default="legacy", init=False)

    def __post_init__(self) -> None:
        self.key_type = KeyType.parse(self.key_type)
        if self.key_type is KeyType.TDES2 and len(self.session_key) == 8:
            self.key_type = KeyType.DES
        self._cipher = BlockCipher(self.key_type, bytes(self.session_key))
        self._chain = self._cipher.chain()

    @property
    def enc_key(self) -> bytes:
        return bytes(self.session_key)

    @property
    def mac_key(self) -> bytes:
        return bytes(self.session_key)

    def _mac(self, data: bytes) -> bytes:
        return self._chain.encrypt(pad_zero(data, 8), _ZERO_8)[-8:][:4]

    def wrap_command(self, cmd, header, data, comm):
        if not data or comm is Comm.PLAIN:
            return header + data
        if comm is Comm.MAC:
            return header + data + self._mac(data)
        return header + self._cipher.legacy_send(pad_zero(data + crc16(data), 8))

    def unwrap_response(self, cmd, status, payload, comm, length=None):
        return self._open(payload, comm, length, card_side=False)

    def unwrap_command(self, cmd, header, body, comm, length=None):
        return self._open(body, comm, length, card_side=True)

    def _open(self, payload: bytes, comm: Comm, length: int | None, *, card_side: bool) -> bytes:
        if not payload or comm is Comm.PLAIN:
            return payload
        if comm is Comm.MAC:
            if len(payload) < 4:
                raise LengthMismatch("MACed message is shorter than its MAC")
            data, mac = payload[:-4], payload[-4:]
            if not constant_time_equal(mac, self._mac(data)):
                raise ChecksumMismatch("MAC does not match")
            return data
        if len(payload) % 8:
            raise LengthMismatch("encrypted message is not a whole number of blocks")
        if card_side:
            plain = self._cipher.legacy_receive(payload)
        else:
            plain = self._cipher.decrypt_cbc(payload, bytes(8))
        return _strip_zero_padded_crc(plain, 2, crc16, length)

    def wrap_response(self, cmd, status, data, comm):
        if not data or comm is Comm.PLAIN:
            return data
        if comm is Comm.MAC:
            return data + self._mac(data)
        return self._chain.encrypt(pad_zero(data + crc16(data), 8), _ZERO_8)

    def change_key_cryptogram(self, cmd, key_no_byte, new_key, old_key):
        material = _key_plain(new_key, old_key, new_key.type is KeyType.AES)
        plain = material + crc16(material)
        if old_key is not None:
            plain += crc16(new_key.card_bytes())
        return self._cipher.legacy_send(pad_zero(plain, 8))

    def open_change_key(self, cmd, key_no_byte, body, new_type, old_key):
        if not body or len(body) % 8:
            raise LengthMismatch("ChangeKey cryptogram is not a whole number of blocks")
        plain = self._cipher.legacy_receive(body)
        return _open_key_plain(plain, new_type, old_key, crc16, lambda material: crc16(material),
                               block_size=8)


# --- EV1


@dataclass
class EV1Session(Session):
    """Session after ISO (0x1A) or AES (0xAA) authentication.

    ``iv`` is the running IV: every command and response moves it on, so both ends must see
    every exchange of the session.
    """

    key_type: KeyType
    session_key: bytes = field(repr=False)
    iv: bytes | None = field(default=None, repr=False)
    key_no: int = 0
    kind: str = field(default="ev1", init=False)

    def __post_init__(self) -> None:
        self.key_type = KeyType.parse(self.key_type)
        if self.key_type is KeyType.TDES2 and len(self.session_key) == 8:
            self.key_type = KeyType.DES
        self.session_key = bytes(self.session_key)
        # the running IV is, but after a decryption, the chain's own last block
        self._chain = CbcChain.for_key(self.key_type, self.session_key)
        self._bs = bs = self._chain.block_size
        self.iv = bytes(bs) if self.iv is None else bytes(self.iv)
        if len(self.iv) != bs:
            raise InvalidArgument(f"the IV of a {self.key_type.value} session has {bs} bytes")

    @property
    def enc_key(self) -> bytes:
        return self.session_key

    @property
    def mac_key(self) -> bytes:
        return self.session_key

    @property
    def block_size(self) -> int:
        return self._bs

    def _running_iv(self) -> bytes:
        assert self.iv is not None  # __post_init__ sets it: None only means "start from zero"
        return self.iv

    def _cmac(self, message: bytes) -> bytes:
        iv = self.iv
        assert iv is not None  # __post_init__ sets it: None only means "start from zero"
        self.iv = iv = self._chain.cmac(message, iv)
        return iv[:8]

    def _encrypt(self, plain: bytes) -> bytes:
        enc = self._chain.encrypt(pad_zero(plain, self._bs), self._running_iv())
        self.iv = enc[-self._bs:]
        return enc

    def _decrypt(self, enc: bytes) -> bytes:
        if not enc or len(enc) % self._bs:
            raise LengthMismatch("encrypted message is not a whole number of blocks")
        plain = self._chain.decrypt(enc, self._running_iv())
        self.iv = enc[-self._bs:]
        return plain

    def wrap_command(self, cmd, header, data, comm):
        message = _BYTE[cmd] + header + data
        if comm is Comm.FULL and data:
            return header + self._encrypt(data + crc32(message))
        mac = self._cmac(message)
        if comm is Comm.MAC and data:
            return header + data + mac
        return header + data

    def unwrap_command(self, cmd, header, body, comm, length=None):
        if comm is Comm.FULL and body:
            plain = self._decrypt(body)
            prefix = _BYTE[cmd] + header
            return _strip_zero_padded_crc(plain, 4, lambda d: crc32(prefix + d), length)
        if comm is Comm.MAC and body:
            if len(body) < 8:
                raise LengthMismatch("MACed command is shorter than its MAC")
            data, mac = body[:-8], body[-8:]
            if not constant_time_equal(mac, self._cmac(_BYTE[cmd] + header + data)):
                raise ChecksumMismatch("command CMAC does not match")
            return data
        self._cmac(_BYTE[cmd] + header + body)
        return body

    def wrap_response(self, cmd, status, data, comm):
        if comm is Comm.FULL and data:
            return self._encrypt(data + crc32(data + _BYTE[status]))
        return data + self._cmac(data + _BYTE[status])

    def unwrap_response(self, cmd, status, payload, comm, length=None):
        if comm is Comm.FULL and payload and length != 0:
            plain = self._decrypt(payload)
            suffix = _BYTE[status]
            return _strip_zero_padded_crc(plain, 4, lambda d: crc32(d + suffix), length)
        if len(payload) < 8:
            raise LengthMismatch("response is shorter than its CMAC")
        data, mac = payload[:-8], payload[-8:]
        if not constant_time_equal(mac, self._cmac(data + _BYTE[status])):
            raise ChecksumMismatch("response CMAC does not match")
        return data

    def change_key_cryptogram(self, cmd, key_no_byte, new_key, old_key):
        material = _key_plain(new_key, old_key, new_key.type is KeyType.AES)
        plain = material + crc32(bytes([cmd, key_no_byte]) + material)
        if old_key is not None:
            plain += crc32(new_key.card_bytes())
        return self._encrypt(plain)

    def open_change_key(self, cmd, key_no_byte, body, new_type, old_key):
        plain = self._decrypt(body)
        prefix = bytes([cmd, key_no_byte])
        return _open_key_plain(plain, new_type, old_key, crc32,
                               lambda material: crc32(prefix + material),
                               block_size=self.block_size)


# --- EV2


@dataclass
class EV2Session(Session):
    """Session after AuthenticateEV2First / NonFirst (AES only)."""

    enc_key: bytes = field(repr=False)
    mac_key: bytes = field(repr=False)
    ti: bytes
    cmd_counter: int = 0
    key_no: int = 0
    kind: str = field(default="ev2", init=False)
    command_comm: Comm = field(default=Comm.MAC, init=False)

    def __post_init__(self) -> None:
        self.enc_key = bytes(self.enc_key)
        self.mac_key = bytes(self.mac_key)
        self.ti = bytes(self.ti)
        if len(self.enc_key) != 16 or len(self.mac_key) != 16 or len(self.ti) != 4:
            raise InvalidArgument("EV2 session keys have 16 bytes and the TI 4 bytes")
        if not 0 <= self.cmd_counter <= 0xFFFF:
            raise InvalidArgument("EV2 command counter is 0..65535")
        self._enc_chain = CbcChain.for_key(KeyType.AES, self.enc_key)
        self._mac_chain = CbcChain.for_key(KeyType.AES, self.mac_key)

    def _ctr(self, offset: int = 0) -> bytes:
        return ((self.cmd_counter + offset) & 0xFFFF).to_bytes(2, "little")

    def _iv(self, label: bytes, offset: int) -> bytes:
        return self._enc_chain.encrypt(label + self.ti + self._ctr(offset) + bytes(8), _ZERO_16)

    def mac_t(self, message: bytes) -> bytes:
        """The truncated MAC: the odd-numbered bytes of the full CMAC."""
        return self._mac_chain.cmac(message, _ZERO_16)[1::2]

    @property
    def exhausted(self) -> bool:
        """The command counter is at its end: no further command can be answered in this
        session (the answer's MAC would need counter 65536)."""
        return self.cmd_counter >= 0xFFFF

    def _advance(self) -> None:
        if self.exhausted:
            raise NotAuthenticated("EV2 command counter exhausted; authenticate again")
        self.cmd_counter += 1

    def wrap_command(self, cmd, header, data, comm):
        if comm is Comm.PLAIN:
            return header + data
        if comm is Comm.FULL and data:
            data = self._enc_chain.encrypt(pad_iso9797_m2(data, 16), self._iv(b"\xA5\x5A", 0))
        mac = self.mac_t(bytes([cmd]) + self._ctr() + self.ti + header + data)
        return header + data + mac

    def unwrap_command(self, cmd, header, body, comm, length=None):
        if comm is Comm.PLAIN:
            return body
        if len(body) < 8:
            raise LengthMismatch("command MAC is missing")
        data, mac = body[:-8], body[-8:]
        expected = self.mac_t(bytes([cmd]) + self._ctr() + self.ti + header + data)
        if not constant_time_equal(mac, expected):
            raise ChecksumMismatch("command MAC does not match")
        if comm is Comm.FULL and data:
            if len(data) % 16:
                raise LengthMismatch("encrypted command data is not a whole number of blocks")
            # as for a response: data of a known length pads to the next whole block, so any
            # other size is refused before the padding (which random bytes sometimes fake)
            if length is not None and len(data) != (length // 16 + 1) * 16:
                raise LengthMismatch("encrypted command data has the wrong length")
            plain = unpad_iso9797_m2(self._enc_chain.decrypt(data, self._iv(b"\xA5\x5A", 0)))
            if plain is None:
                raise ChecksumMismatch("command padding is invalid")
            if length is not None and len(plain) != length:
                raise LengthMismatch("decrypted command data has the wrong length")
            return plain
        return data

    def wrap_response(self, cmd, status, data, comm):
        if comm is Comm.PLAIN:
            self._advance()
            return data
        if comm is Comm.FULL and data:
            data = self._enc_chain.encrypt(pad_iso9797_m2(data, 16), self._iv(b"\x5A\xA5", 1))
        mac = self.mac_t(bytes([status]) + self._ctr(1) + self.ti + data)
        self._advance()
        return data + mac

    def unwrap_response(self, cmd, status, payload, comm, length=None):
        if comm is Comm.PLAIN:
            self._advance()
            return payload
        if len(payload) < 8:
            raise LengthMismatch("response MAC is missing")
        data, mac = payload[:-8], payload[-8:]
        expected = self.mac_t(bytes([status]) + self._ctr(1) + self.ti + data)
        if not constant_time_equal(mac, expected):
            raise ChecksumMismatch("response MAC does not match")
        if comm is Comm.FULL and data:
            if len(data) % 16:
                raise LengthMismatch("encrypted response data is not a whole number of blocks")
            # Known data always pads to the next whole block: a ciphertext of any other size is
            # refused as such, before its padding (which random bytes sometimes fake) is looked at.
            if length is not None and len(data) != (length // 16 + 1) * 16:
                raise LengthMismatch("encrypted response data has the wrong length")
            plain = unpad_iso9797_m2(self._enc_chain.decrypt(data, self._iv(b"\x5A\xA5", 1)))
            if plain is None:
                raise ChecksumMismatch("response padding is invalid")
            if length is not None and len(plain) != length:
                raise LengthMismatch("decrypted response data has the wrong length")
            data = plain
        self._advance()
        return data

    def change_key_cryptogram(self, cmd, key_no_byte, new_key, old_key):
        plain = _key_plain(new_key, old_key, True)
        if old_key is not None:
            plain += crc32(new_key.card_bytes())
        return self.wrap_command(cmd, bytes([key_no_byte]), plain, Comm.FULL)[1:]

    def open_change_key(self, cmd, key_no_byte, body, new_type, old_key):
        plain = self.unwrap_command(cmd, bytes([key_no_byte]), body, Comm.FULL)
        size = _key_material_size(new_type) + 1
        expected = size + (4 if old_key is not None else 0)
        if len(plain) != expected:
            raise LengthMismatch("ChangeKey cryptogram has the wrong length")
        material = plain[:size - 1]
        key = _key_from_plain(new_type, material, old_key, plain[size - 1])
        if key.type is not KeyType.AES:
            key = key.with_version(plain[size - 1])
        if old_key is not None and not constant_time_equal(
                plain[size:size + 4], crc32(key.card_bytes())):
            raise ChecksumMismatch("CRC of the new key does not match")
        return key
