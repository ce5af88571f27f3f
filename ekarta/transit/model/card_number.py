"""The card number (IDK) printed on the card and stored in its card record: 9 serial digits and a
Damm check digit.

The scheme is described in ``docs/card-number.md``.  :class:`CardNumber` always holds a valid
number; :meth:`CardNumber.parse` reads one typed by a person (spaces and dashes allowed),
``parse(text, strict=True)`` one that a machine produced (a barcode, a scanner: the bare digits),
:meth:`CardNumber.from_int` the integer the card record stores.  Every error is
:class:`~ekarta.transit.errors.InvalidCardNumber`, an
:class:`~ekarta.transit.errors.InvalidField`.
"""

from __future__ import annotations

import random as _random
from dataclasses import dataclass

from stdnum import damm

from ekarta.transit.errors import InvalidCardNumber, shown

__all__ = [
    "CARD_NUMBER_MAX",
    "DIGITS",
    "MAX_SERIAL",
    "SERIAL_DIGITS",
    "CardNumber",
    "check_digit_holds",
    "validate",
]

SERIAL_DIGITS = 9
DIGITS = SERIAL_DIGITS + 1
MAX_SERIAL = 10**SERIAL_DIGITS - 1
CARD_NUMBER_MAX = 10**DIGITS - 1
"""The largest integer form of a card number; the card record stores it in 34 bits."""
MAX_TEXT = 3 * DIGITS
"""Longest text :meth:`CardNumber.parse` looks into (digits and separators)."""

_ASCII_DIGITS = frozenset("0123456789")
_SEPARATORS = frozenset(" -")
# Display groups: three threes and the check digit on its own, so that a person reading the
# number aloud or comparing it with a screen keeps their place.
_GROUPS = (3, 3, 3, 1)


def _check_digit(serial_digits: str) -> str:
    return damm.calc_check_digit(serial_digits)


# Damm's quasigroup of order 10 (the table of his thesis, as python-stdnum uses it), looked up
# here directly: a terminal's full sync checks hundreds of thousands of numbers
_DAMM = tuple(tuple(int(c) for c in row) for row in (
    "0317598642", "7092154863", "4206871359", "1750983426", "6123045978",
    "3674209581", "5869720134", "8945362017", "9438617205", "2581436790"))
_DIGIT = {c: int(c) for c in "0123456789"}


def _damm_checksum(digits: str) -> int:
    interim = 0
    for char in digits:
        interim = _DAMM[interim][_DIGIT[char]]
    return interim


def check_digit_holds(digits: str) -> bool:
    """Whether ``digits``, already known to be ASCII digits (a message's pattern made sure),
    end in their check digit: the fast path of a terminal's full sync."""
    return _damm_checksum(digits) == 0


def _checked(digits: str, original: str) -> str:
    """``digits`` (only ASCII digits) if it is a whole valid number; else InvalidCardNumber."""
    if len(digits) != DIGITS:
        raise InvalidCardNumber(
            f"card number must have {DIGITS} digits, got {len(digits)} in {shown(original)}"
        )
    if _damm_checksum(digits) != 0:
        # The message deliberately does not tell the expected check digit: that would invite
        # "fixing" a mistyped number into a valid but wrong one.
        raise InvalidCardNumber(
            f"card number {shown(original)} fails its check digit "
            "(a digit is wrong or two neighbouring digits are swapped)"
        )
    return digits


@dataclass(frozen=True, order=True)
class CardNumber:
    """A valid card number; ``digits`` is the canonical form, 10 ASCII digits."""

    digits: str

    def __post_init__(self) -> None:
        if not isinstance(self.digits, str):
            raise InvalidCardNumber(
                f"card number must be text, not {type(self.digits).__name__}"
            )
        if self.digits.isascii() and self.digits.isdigit():  # the usual case, at once
            _checked(self.digits, self.digits)
            return
        for position, char in enumerate(self.digits, 1):
            if char not in _ASCII_DIGITS:
                raise InvalidCardNumber(
                    f"card number has a non-digit character {shown(char)} at position "
                    f"{position}: {shown(self.digits)}"
                )
        _checked(self.digits, self.digits)

    @classmethod
    def parse(cls, text: str, *, strict: bool = False) -> CardNumber:
        """Read a card number from ``text``.

        By default surrounding whitespace and spaces or dashes between the digits are allowed
        (``123 456 789 0``, ``123-456-789-0``); a leading dash is a sign, and a card number has
        none (``-1234567894`` is refused).  With ``strict=True`` the text must be exactly
        the 10 digits, as a barcode or a scanner delivers them.  Raises
        :class:`InvalidCardNumber` naming what is wrong; positions count from 1 in ``text``.
        """
        if not isinstance(text, str):
            raise InvalidCardNumber(f"card number must be text, not {type(text).__name__}")
        if not strict:
            stripped = text.strip()
            offset = len(text) - len(text.lstrip())
        else:
            stripped, offset = text, 0
        if not stripped:
            raise InvalidCardNumber("card number is empty")
        if len(stripped) > MAX_TEXT:
            raise InvalidCardNumber(
                f"card number is too long: {len(stripped)} characters, {shown(text)}"
            )
        # A separator may stand only between digits: "-1234567894" is a negative number, not
        # a card number with its sign to be dropped.
        for position in (0, len(stripped) - 1):
            if stripped[position] in _SEPARATORS:
                raise InvalidCardNumber(
                    f"card number must start and end with a digit, not "
                    f"{shown(stripped[position])} at position {offset + position + 1}: "
                    f"{shown(text)}"
                )
        digits = []
        for position, char in enumerate(stripped, offset + 1):
            if char in _ASCII_DIGITS:
                digits.append(char)
            elif strict or char not in _SEPARATORS:
                raise InvalidCardNumber(
                    f"card number has a non-digit character {shown(char)} at position "
                    f"{position}: {shown(text)}"
                )
        return cls(_checked("".join(digits), text))

    @classmethod
    def from_serial(cls, serial: int) -> CardNumber:
        """The card number of serial ``serial`` (0 to 999 999 999), its check digit added."""
        if isinstance(serial, bool) or not isinstance(serial, int):
            raise InvalidCardNumber(f"serial must be an integer, not {type(serial).__name__}")
        if not 0 <= serial <= MAX_SERIAL:
            raise InvalidCardNumber(f"serial must be 0 to {MAX_SERIAL}, got {serial}")
        serial_digits = f"{serial:0{SERIAL_DIGITS}d}"
        return cls(serial_digits + _check_digit(serial_digits))

    @classmethod
    def from_int(cls, value: int) -> CardNumber:
        """The card number whose 10 digits, check digit included, are ``value`` (as the card
        record stores it: ``1234567894``; leading zeros are restored)."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidCardNumber(f"card number must be an integer, not {type(value).__name__}")
        if not 0 <= value <= CARD_NUMBER_MAX:
            raise InvalidCardNumber(f"card number must be 0 to {CARD_NUMBER_MAX}, got {value}")
        return cls(f"{value:0{DIGITS}d}")

    @classmethod
    def of(cls, value: CardNumber | int) -> CardNumber:
        """``value`` itself if it is a card number, else :meth:`from_int` of it (the integer
        form a card record or an older caller gives)."""
        return value if isinstance(value, CardNumber) else cls.from_int(value)

    @classmethod
    def random(cls, rng: _random.Random | None = None) -> CardNumber:
        """A random valid card number (for tests and demos); pass a seeded ``rng`` to repeat."""
        return cls.from_serial((rng or _random).randrange(MAX_SERIAL + 1))

    @property
    def serial(self) -> int:
        return int(self.digits[:SERIAL_DIGITS])

    @property
    def check_digit(self) -> int:
        return int(self.digits[SERIAL_DIGITS])

    @property
    def formatted(self) -> str:
        """The number for people to read: ``123 456 789 0``."""
        parts, start = [], 0
        for size in _GROUPS:
            parts.append(self.digits[start : start + size])
            start += size
        return " ".join(parts)

    def __str__(self) -> str:
        return self.digits

    def __int__(self) -> int:
        return int(self.digits)


def validate(text: str, *, strict: bool = False) -> bool:
    """Whether ``text`` is a valid card number (see :meth:`CardNumber.parse`)."""
    try:
        CardNumber.parse(text, strict=strict)
    except InvalidCardNumber:
        return False
    return True
