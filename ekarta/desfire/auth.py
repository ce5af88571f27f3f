"""The DESFire authentication handshakes, reader side and card side, without I/O.

Each handshake is three messages: the reader names a key, the card answers with its encrypted
random RndB, the reader proves knowledge of the key with E(RndA | RndB<<<1), and the card proves
its own with E(RndA<<<1).  The methods differ in cipher chaining and in how the session is built:

========== ======= ============================================ ===========================
method     command  chaining                                    session
========== ======= ============================================ ===========================
legacy     0x0A    reader "send mode" (deciphers), IV 0 per msg :class:`LegacySession`
iso        0x1A    CBC, IV carried from message to message      :class:`EV1Session`
aes        0xAA    CBC, IV carried from message to message      :class:`EV1Session`
ev2first   0x71    CBC, IV 0 for every message; card sends TI   :class:`EV2Session`
ev2nonfirst 0x77   as ev2first; TI and command counter are kept :class:`EV2Session`
========== ======= ============================================ ===========================
"""

from __future__ import annotations

import os

from ekarta.desfire.commands import U8_MAX
from ekarta.desfire.crypto import BlockCipher, Key, KeyType, Rng, constant_time_equal
from ekarta.desfire.session import EV1Session, EV2Session, LegacySession, Session
from ekarta.errors import InvalidArgument, LengthMismatch, NotAuthenticated, ProofMismatch

METHODS: dict[str, int] = {
    "legacy": 0x0A,
    "iso": 0x1A,
    "aes": 0xAA,
    "ev2first": 0x71,
    "ev2nonfirst": 0x77,
}
METHOD_BY_COMMAND = {code: name for name, code in METHODS.items()}


def rotate_left(data: bytes) -> bytes:
    return data[1:] + data[:1]


#: The key types each method takes.
_KEY_TYPES: dict[str, frozenset[KeyType]] = {
    "legacy": frozenset({KeyType.DES, KeyType.TDES2}),
    "iso": frozenset({KeyType.DES, KeyType.TDES2, KeyType.TDES3}),
    "aes": frozenset({KeyType.AES}),
    "ev2first": frozenset({KeyType.AES}),
    "ev2nonfirst": frozenset({KeyType.AES}),
}


def check_method(method: str, key: Key) -> str:
    """Validate that ``key`` can be used with ``method``; returns the normalised method name."""
    name = method if method in _KEY_TYPES else \
        method.strip().lower().replace("_", "").replace("-", "")
    allowed = _KEY_TYPES.get(name)
    if allowed is None:
        raise InvalidArgument(
            f"unknown authentication method {method!r}; use one of {', '.join(METHODS)}")
    if key.type not in allowed:
        raise InvalidArgument(f"a {key.type.value} key cannot be used with {name} authentication")
    return name


def random_size(method: str, key: Key) -> int:
    if method == "legacy":
        return 8
    if method == "iso":
        return 16 if key.type is KeyType.TDES3 else 8
    return 16


def ev1_session_key(key: Key, rnd_a: bytes, rnd_b: bytes) -> tuple[KeyType, bytes]:
    """The EV1 (and legacy) session key: interleaved halves of the two random numbers."""
    if key.type is KeyType.AES:
        return KeyType.AES, rnd_a[0:4] + rnd_b[0:4] + rnd_a[12:16] + rnd_b[12:16]
    if key.type is KeyType.TDES3:
        return KeyType.TDES3, (rnd_a[0:4] + rnd_b[0:4] + rnd_a[6:10] + rnd_b[6:10]
                               + rnd_a[12:16] + rnd_b[12:16])
    if key.is_single_des:
        return KeyType.DES, rnd_a[0:4] + rnd_b[0:4]
    return KeyType.TDES2, rnd_a[0:4] + rnd_b[0:4] + rnd_a[4:8] + rnd_b[4:8]


def ev2_session_keys(key: Key, rnd_a: bytes, rnd_b: bytes) -> tuple[bytes, bytes]:
    """SesAuthENCKey and SesAuthMACKey (AN12196): CMACs over labelled mixes of RndA and RndB."""
    ctx = rnd_a[0:2] + bytes(x ^ y for x, y in zip(rnd_a[2:8], rnd_b[0:6], strict=True)) \
        + rnd_b[6:16] + rnd_a[8:16]
    cipher = key.cipher
    return (cipher.cmac(b"\xA5\x5A\x00\x01\x00\x80" + ctx),
            cipher.cmac(b"\x5A\xA5\x00\x01\x00\x80" + ctx))


def _zero_iv(cipher: BlockCipher) -> bytes:
    return bytes(cipher.block_size)


def _session(method: str, key_no: int, key: Key, rnd_a: bytes, rnd_b: bytes, ti: bytes,
             previous: Session | None) -> Session:
    """The session both ends derive from a completed handshake (``ti`` only for ev2first)."""
    if method in ("legacy", "iso", "aes"):
        key_type, session_key = ev1_session_key(key, rnd_a, rnd_b)
        cls = LegacySession if method == "legacy" else EV1Session
        return cls(key_type, session_key, key_no=key_no)
    enc, mac = ev2_session_keys(key, rnd_a, rnd_b)
    if method == "ev2first":
        return EV2Session(enc, mac, ti, 0, key_no=key_no)
    if not isinstance(previous, EV2Session):
        raise NotAuthenticated("AuthenticateEV2NonFirst without an EV2 session")
    return EV2Session(enc, mac, previous.ti, previous.cmd_counter, key_no=key_no)


class ReaderAuth:
    """The reader's half of one authentication.

    Use: send ``command`` with ``first_data()``; pass the card's answer to ``respond()`` and
    send what it returns in an additional frame; pass the card's final answer to ``finish()``,
    which returns the new session or raises :class:`ProofMismatch`.
    """

    def __init__(self, method: str, key_no: int, key: Key, rng: Rng | None = None,
                 previous: Session | None = None):
        self.method = check_method(method, key)
        if not 0 <= key_no <= U8_MAX:
            raise InvalidArgument(f"key number must be 0..{U8_MAX}")
        if self.method == "ev2nonfirst" and not isinstance(previous, EV2Session):
            raise InvalidArgument("AuthenticateEV2NonFirst needs an EV2 session to continue")
        self.command = METHODS[self.method]
        self.key_no = key_no
        self.key = key
        self._rng = rng or os.urandom
        self._previous = previous
        self._cipher = key.cipher
        self._size = random_size(self.method, key)
        self._rnd_a = b""
        self._rnd_b = b""
        self._last = b""

    def first_data(self) -> bytes:
        if self.method == "ev2first":
            return bytes([self.key_no, 0x00])  # no PCD capabilities (LenCap = 0)
        return bytes([self.key_no])

    def respond(self, challenge: bytes) -> bytes:
        if len(challenge) != self._size:
            raise LengthMismatch(
                f"authentication challenge has {len(challenge)} bytes, expected {self._size}")
        cipher = self._cipher
        rnd_a = bytes(self._rng(self._size))
        if len(rnd_a) != self._size:
            raise InvalidArgument("the random source returned the wrong number of bytes")
        self._rnd_a = rnd_a
        self._rnd_b = cipher.decrypt_cbc(challenge, _zero_iv(cipher))
        if self.method == "legacy":
            return cipher.legacy_send(rnd_a + rotate_left(self._rnd_b))
        if self.method in ("iso", "aes"):
            answer = cipher.encrypt_cbc(rnd_a + rotate_left(self._rnd_b),
                                        challenge[-cipher.block_size:])
            self._last = answer[-cipher.block_size:]
            return answer
        return cipher.encrypt_cbc(rnd_a + rotate_left(self._rnd_b), _zero_iv(cipher))

    def finish(self, proof: bytes) -> Session:
        cipher = self._cipher
        expected_len = {"ev2first": 32}.get(self.method, self._size)
        if len(proof) != expected_len:
            raise LengthMismatch(
                f"card's authentication proof has {len(proof)} bytes, expected {expected_len}")
        if self.method == "legacy":
            plain = cipher.decrypt_cbc(proof, _zero_iv(cipher))
        elif self.method in ("iso", "aes"):
            plain = cipher.decrypt_cbc(proof, self._last)
        else:
            plain = cipher.decrypt_cbc(proof, _zero_iv(cipher))
        rnd_a_rot = plain[4:20] if self.method == "ev2first" else plain
        if not constant_time_equal(rnd_a_rot, rotate_left(self._rnd_a)):
            raise ProofMismatch("the card did not prove knowledge of the key")
        return _session(self.method, self.key_no, self.key, self._rnd_a, self._rnd_b, plain[0:4],
                        self._previous)


class CardAuth:
    """The card's half of one authentication (used by the emulator).

    ``challenge()`` gives the first answer; ``verify(message)`` checks the reader's proof and
    returns ``(answer, session)``, or raises :class:`ProofMismatch`.
    """

    def __init__(self, method: str, key_no: int, key: Key, rng: Rng | None = None,
                 previous: Session | None = None):
        self.method = check_method(method, key)
        self.key_no = key_no
        self.key = key
        self._rng = rng or os.urandom
        self._previous = previous
        self._cipher = key.cipher
        self._size = random_size(self.method, key)
        self._rnd_b = b""
        self._challenge = b""

    def challenge(self) -> bytes:
        self._rnd_b = bytes(self._rng(self._size))
        self._challenge = self._cipher.encrypt_cbc(self._rnd_b, _zero_iv(self._cipher))
        return self._challenge

    @property
    def expected_length(self) -> int:
        return 2 * self._size

    def verify(self, message: bytes) -> tuple[bytes, Session]:
        cipher = self._cipher
        bs = cipher.block_size
        if len(message) != 2 * self._size:
            raise LengthMismatch("reader's authentication message has the wrong length")
        if self.method == "legacy":
            plain = cipher.legacy_receive(message)
        elif self.method in ("iso", "aes"):
            plain = cipher.decrypt_cbc(message, self._challenge[-bs:])
        else:
            plain = cipher.decrypt_cbc(message, _zero_iv(cipher))
        rnd_a, rnd_b_rot = plain[:self._size], plain[self._size:]
        if not constant_time_equal(rnd_b_rot, rotate_left(self._rnd_b)):
            raise ProofMismatch("the reader did not prove knowledge of the key")
        ti = b""
        if self.method == "legacy":
            answer = cipher.encrypt_cbc(rotate_left(rnd_a), _zero_iv(cipher))
        elif self.method in ("iso", "aes"):
            answer = cipher.encrypt_cbc(rotate_left(rnd_a), message[-bs:])
        elif self.method == "ev2first":
            ti = bytes(self._rng(4))
            answer = cipher.encrypt_cbc(ti + rotate_left(rnd_a) + bytes(12), _zero_iv(cipher))
        else:
            answer = cipher.encrypt_cbc(rotate_left(rnd_a), _zero_iv(cipher))
        return answer, _session(self.method, self.key_no, self.key, rnd_a, self._rnd_b, ti,
                                self._previous)
