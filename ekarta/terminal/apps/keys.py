"""The service key sequence that ends a terminal app (no UI toolkit here).

A terminal in a driver's cab or a public hall must not be quit by a key pressed by chance:
the apps ignore Ctrl+Q and Ctrl+C and end only on :data:`SERVICE_EXIT`, two keys pressed one
after the other within :data:`SERVICE_WITHIN` seconds (Ctrl+X, then Ctrl+C, as in Emacs).
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["SERVICE_EXIT", "SERVICE_WITHIN", "KeySequence"]

SERVICE_EXIT = ("ctrl+x", "ctrl+c")
"""The keys that end a terminal app, pressed one after the other."""
SERVICE_WITHIN = 2.0
"""Seconds within which the keys of :data:`SERVICE_EXIT` must follow each other."""


class KeySequence:
    """Recognises keys pressed one after the other, each within ``within`` seconds of the last
    (any other key starts again)."""

    def __init__(self, keys: tuple[str, ...], *, within: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.keys = keys
        self.within = within
        self.clock = clock
        self._matched = 0
        self._last = 0.0

    def feed(self, key: str) -> bool:
        """Take one key; True when it completes the sequence."""
        now = self.clock()
        if self._matched and now - self._last > self.within:
            self._matched = 0
        if key == self.keys[self._matched]:
            self._matched += 1
        else:
            self._matched = 1 if key == self.keys[0] else 0
        self._last = now
        if self._matched == len(self.keys):
            self._matched = 0
            return True
        return False
