"""An eavesdropper's attack on a trace of DESFire frames: which card keys can it recover?

The attacker holds the frames a trace shows (a ``-vvv`` log, a ``spy:`` trace file) and knows the
factory keys.  It replays the reader's commands into a factory-fresh emulated card of its own,
which keeps the session state (running IVs, command counters) for it.  At each authentication it
tries the factory keys and every key recovered so far: a key is right when decrypting the card's
challenge with it and the reader's answer gives back RndB rotated (:class:`CardAuth` checks that
proof).  Its card then authenticates with that key and the card's own random numbers (RndB, and
the TI of EV2) taken from the trace, so that the reader's later commands, ChangeKey
cryptograms included, are accepted and decrypted by it: each new key lands in its card's state.

A frame the trace hides is unknown to the attacker: it is skipped (and whatever needed it fails).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ekarta.desfire.auth import METHOD_BY_COMMAND, CardAuth, check_method
from ekarta.desfire.crypto import Key, KeyType
from ekarta.emulator import VirtualCard
from ekarta.errors import EkartaError
from ekarta.readers.trace import read_trace

FACTORY_KEYS = tuple(Key.default(t) for t in KeyType)

#: ``... >> 90 0A 00 00 01 00 00`` / ``... << 91 AF`` in a log line of a reader driver
_LOG_FRAME = re.compile(r" (>>|<<) ((?:[0-9A-F]{2}|<redacted [0-9]+ bytes>)"
                        r"(?: (?:[0-9A-F]{2}|<redacted [0-9]+ bytes>))*)$")


def _frame(text: str) -> bytes | None:
    try:
        return bytes.fromhex(text)
    except ValueError:  # a redaction marker: the attacker does not know these bytes
        return None


@dataclass(frozen=True)
class Seen:
    """One exchange as the attacker sees it: None for what the trace hides."""

    command: bytes | None
    response: bytes | None


def exchanges_in_log(path: Path) -> list[Seen]:
    """The exchanges traced in a log file, in order (each ``>>`` line paired with the next
    ``<<``)."""
    seen: list[Seen] = []
    command: bytes | None = None
    pending = False
    for line in path.read_text(encoding="utf-8").splitlines():
        match = _LOG_FRAME.search(line)
        if match is None or " TRACE " not in line:
            continue
        frame = _frame(match.group(2))
        if match.group(1) == ">>":
            if pending:
                seen.append(Seen(command, None))
            command, pending = frame, True
        elif pending:
            seen.append(Seen(command, frame))
            pending = False
    if pending:
        seen.append(Seen(command, None))
    return seen


def exchanges_in_trace_file(path: Path) -> list[Seen]:
    """The exchanges of every session of a ``spy:`` trace file."""
    return [Seen(None if e.command_hidden else e.command,
                 None if e.response_hidden or e.response is None else e.response)
            for session in read_trace(path) for e in session.exchanges]


def _data(apdu: bytes) -> bytes:
    """The data field of a wrapped command (``90 CMD 00 00 Lc DATA 00``)."""
    return apdu[5:5 + apdu[4]] if len(apdu) > 5 else b""


def _canonical(key: Key) -> tuple[KeyType, bytes]:
    return key.type, key.with_version(0).data


@dataclass
class Attack:
    """The attacker's card and what it learnt."""

    uid: bytes = bytes.fromhex("04DEADBEEF0001")
    found: list[Key] = field(default_factory=list)
    """Keys proven right at an authentication, in order."""

    def __post_init__(self) -> None:
        self._randoms: list[bytes] = []
        self.card = VirtualCard.new(uid=self.uid, rng=self._rng)

    def _rng(self, n: int) -> bytes:
        if self._randoms and len(self._randoms[0]) == n:
            return self._randoms.pop(0)
        return bytes(n)

    def _card_keys(self) -> list[Key]:
        keys = [self.card.state.picc_key]
        for app in self.card.applications.values():
            keys += app.keys
        return keys

    @property
    def known(self) -> list[Key]:
        """Every key the attacker can try: the factory keys, and all it found or its card got."""
        keys: dict[tuple[KeyType, bytes], Key] = {}
        for key in (*FACTORY_KEYS, *self.found, *self._card_keys()):
            keys.setdefault(_canonical(key), key)
        return list(keys.values())

    def recovered(self) -> set[tuple[KeyType, bytes]]:
        """The keys learnt that are not factory keys (type and bytes, version aside)."""
        factory = {_canonical(k) for k in FACTORY_KEYS}
        return {_canonical(k) for k in self.known} - factory

    def run(self, exchanges: Sequence[Seen]) -> Attack:
        steps: Iterator[int] = iter(range(len(exchanges)))
        for i in steps:
            command = exchanges[i].command
            if command is None or len(command) < 5:
                continue
            method = METHOD_BY_COMMAND.get(command[1])
            if method is None:
                self._send(command)
            elif self._authenticate(method, exchanges[i:i + 2]):
                next(steps, None)  # its second frame was sent too
        return self

    def _send(self, apdu: bytes) -> None:
        self.card.process(apdu)  # an error is a status word: the attacker reads on

    def _authenticate(self, method: str, pair: Sequence[Seen]) -> bool:
        """Break one authentication if a known key opens it; True when it did."""
        if len(pair) < 2 or None in (pair[0].command, pair[0].response, pair[1].command,
                                     pair[1].response):
            self._send(pair[0].command or b"")
            return False
        first, challenge_r = pair[0].command, pair[0].response
        second, proof_r = pair[1].command, pair[1].response
        assert first and challenge_r and second and proof_r
        if not _data(first):
            self._send(first)
            return False
        key_no, challenge, message = _data(first)[0], challenge_r[:-2], _data(second)
        for key in self.known:
            try:
                check_method(method, key)
                zero = bytes(key.cipher.block_size)
                rnd_b = key.cipher.decrypt_cbc(challenge, zero)
                randoms = [rnd_b]
                if method == "ev2first":
                    randoms.append(key.cipher.decrypt_cbc(proof_r[:-2], zero)[:4])
                auth = CardAuth(method, key_no, key, rng=_queue(randoms),
                                previous=self.card.session)
                auth.challenge()
                auth.verify(message)
            except (EkartaError, ValueError):
                continue
            self.found.append(key)
            self._install(key_no, key)
            self._randoms = randoms
            self._send(first)
            self._send(second)
            return True
        self._send(first)
        return False

    def _install(self, key_no: int, key: Key) -> None:
        """Give the attacker's card the key just found, where the real card has it."""
        aid = self.card.selected_aid
        if aid == 0:
            if key_no == 0:
                self.card.state.picc_key = key
            return
        app = self.card.applications.get(aid)
        if app is not None and key_no < len(app.keys):
            app.keys[key_no] = key


def _queue(values: Iterable[bytes]):
    pending = list(values)
    return lambda n: pending.pop(0)


def real_keys(keystore, uid: bytes) -> set[tuple[KeyType, bytes]]:
    """The keys a card with ``uid`` is issued with: its PICC key and its application keys."""
    from ekarta.transit.codec.layout import KeyRole

    keys = [keystore.picc_key(uid)] + [keystore.card_key(role, uid) for role in KeyRole]
    return {_canonical(k) for k in keys}
