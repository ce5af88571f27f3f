"""Fault injection for the emulated card: power loss (tearing), a mute card, slow answers.

Arm a :class:`Faults` on a card with ``card.arm(Faults(...))``; from that moment the card counts
the command APDUs it receives (0, 1, 2...), and:

* ``tear_after=N`` — power is lost when command number N arrives (the (N+1)-th command): nothing
  of it executes and it gets no answer.
* ``tear_during=N`` — command number N is cut half-way, after ``tear_progress`` (0..1) of it:

  - a WriteData (or ISO UPDATE BINARY) to a *standard* data file has written that fraction of its
    bytes (standard files are not transactional on real cards either);
  - CommitTransaction is atomic: with ``tear_progress < 0.5`` nothing is committed, with
    ``tear_progress >= 0.5`` everything is;
  - any other command has no effect at all.

* ``mute=True`` — the card never answers (and executes nothing).
* ``latency=S`` — every command takes S more seconds.  The card itself never waits: whatever
  passes it the APDUs does (:func:`ekarta.emulator.host.deliver`, which the served card's host
  and the ``emulator:`` reader go through).

A tear is a power loss: the card's volatile state is gone (selection, authentication, pending
transaction, chains), :attr:`VirtualCard.present` becomes False and ``process`` raises
:class:`CardTorn`, as it does for every command until ``card.insert()`` brings the card back.
A mute card raises :class:`CardMute`.  Each tear happens once: the counter moves on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ekarta.errors import EmulatorError, InvalidArgument

__all__ = ["CardMute", "CardTorn", "Faults"]


class CardTorn(EmulatorError):
    """The card lost power (torn away, or removed): the command got no answer."""


class CardMute(EmulatorError):
    """The card did not answer (a mute card)."""


def _check_count(name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgument(f"{name} must be None or a command count >= 0, got {value!r}")


@dataclass(frozen=True)
class Faults:
    """What goes wrong with the card from the moment it is armed (see the module docstring)."""

    tear_after: int | None = None
    tear_during: int | None = None
    tear_progress: float = 0.5
    mute: bool = False
    latency: float = 0.0

    def __post_init__(self) -> None:
        _check_count("tear_after", self.tear_after)
        _check_count("tear_during", self.tear_during)
        for name in ("tear_progress", "latency"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not math.isfinite(value) or value < 0:
                raise InvalidArgument(f"{name} must be a finite number >= 0, got {value!r}")
        if self.tear_progress > 1:
            raise InvalidArgument(f"tear_progress must be in 0..1, got {self.tear_progress!r}")
        if not isinstance(self.mute, bool):
            raise InvalidArgument(f"mute must be a bool, got {self.mute!r}")

    @property
    def active(self) -> bool:
        """Whether any fault is configured."""
        return (self.tear_after is not None or self.tear_during is not None or self.mute
                or self.latency > 0)
