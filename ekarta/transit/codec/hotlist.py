"""The hotlist file: the numbers of blocked cards, one a line.

Blank lines are skipped and ``#`` starts a comment; a number may be written as a person writes it
(``123 456 789 4``).  A terminal refuses a card whose number is on the list
(:func:`ekarta.transit.model.rules.judge`).  The file is hostile input: a line that is not a valid
card number is an error naming the line, never silently skipped (a skipped line would let a
blocked card through).
"""

from __future__ import annotations

import os

from ekarta.transit.errors import HotlistError, InvalidCardNumber
from ekarta.transit.model.card_number import CardNumber

__all__ = ["MAX_HOTLIST_FILE", "parse_hotlist", "read_hotlist"]

MAX_HOTLIST_FILE = 64 * 1024 * 1024
"""Some six million numbers: more than any hotlist, less than what would exhaust a terminal."""


def parse_hotlist(data: bytes, name: str = "hotlist") -> frozenset[CardNumber]:
    """The card numbers in the bytes of a hotlist file (``name`` names it in errors)."""
    numbers = set()
    for number, line in enumerate(data.decode("utf-8", errors="replace").splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        try:
            numbers.add(CardNumber.parse(text))
        except InvalidCardNumber as exc:
            raise HotlistError(f"{name}:{number}: {exc}") from None
    return frozenset(numbers)


def read_hotlist(path: str | os.PathLike[str]) -> frozenset[CardNumber]:
    """The card numbers in the hotlist file ``path``; HotlistError if it cannot be read."""
    name = os.fspath(path)
    try:
        with open(name, "rb") as f:
            data = f.read(MAX_HOTLIST_FILE + 1)
    except OSError as exc:
        raise HotlistError(f"cannot read hotlist {name}: {exc.strerror}") from None
    if len(data) > MAX_HOTLIST_FILE:
        raise HotlistError(f"hotlist {name} is too large")
    return parse_hotlist(data, name)
