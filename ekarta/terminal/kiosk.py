"""The kiosk without its screen: :class:`Kiosk` shows a card to its holder after doing what the
office left for it.

A kiosk's view is the inspector's check (:class:`~ekarta.terminal.inspect.Inspector`) with the
kiosk's keys and none of an inspector's place: one card session with the load key that reads
every file, takes the office's pending actions (a paid coupon, a purse credit, the blocked status,
a profile, an activation) and judges the card as the view leaves it, for any zone.  What the
kiosk does differently:

- it writes its KIOSK_VIEW record only with something else to write: a look changes nothing on
  the card, and a second look at once writes nothing at all;
- the journal gets one KIOSK_VIEW event per view (no names: the card number, the verdict's
  reason, the coupons' slots) and one per action done;
- a card whose issuing did not finish is ``NOT_ISSUED`` (its holder is sent to a contact point),
  not merely not ours;
- it needs a kiosk's terminal directory (``ekarta terminal init --role kiosk``).

The outcome's ``image`` is the card as the view leaves it, the holder's name included, for the
screen only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, cast

from ekarta.desfire.client import Transceiver
from ekarta.errors import EkartaError
from ekarta.sync.roles import DeviceRole
from ekarta.terminal.config import TerminalConfig
from ekarta.terminal.engine import REPEAT_WINDOW, STALE_AFTER, Position, one_line, utc_now
from ekarta.terminal.inspect import Inspector
from ekarta.terminal.outcome import Outcome, Progress, TapOutcome
from ekarta.terminal.store import TerminalStore
from ekarta.transit.cardio.reading import CardNotIssued
from ekarta.transit.errors import InvalidField
from ekarta.transit.model.rules import SignatureCheck
from ekarta.transit.security.keystore import KeyProvider

__all__ = ["Kiosk"]


class Kiosk(Inspector):
    """The kiosk's engine over a terminal's store and keys (see the module docstring)."""

    WORKS_WITH = frozenset({DeviceRole.KIOSK})
    NEEDS = "a kiosk needs a kiosk's (made with 'ekarta terminal init --role kiosk')"

    def __init__(self, store: TerminalStore, keys: KeyProvider, verifier: SignatureCheck, *,
                 device: int, role: DeviceRole = DeviceRole.KIOSK,
                 repeat_window: timedelta = REPEAT_WINDOW, stale_after: timedelta = STALE_AFTER,
                 clock: Callable[[], datetime] = utc_now) -> None:
        if role is not DeviceRole.KIOSK:
            raise InvalidField(f"a kiosk's engine runs with a kiosk's role, not a {role}'s")
        super().__init__(store, keys, verifier, device=device, position=Position(),
                         role=role, repeat_window=repeat_window, stale_after=stale_after,
                         clock=clock)

    @classmethod
    def from_config(cls, config: TerminalConfig, *, device: int | None = None,
                    **options: Any) -> Kiosk:
        """The kiosk of a terminal directory (see :meth:`Inspector.from_config`)."""
        return cast(Kiosk, super().from_config(config, device=device, **options))

    def view(self, transceiver: Transceiver, *, uid: bytes | None = None,
             progress: Callable[[Progress], None] | None = None) -> TapOutcome:
        """One view of the card in the field of ``transceiver``: what the office left for it
        written first (``progress`` told of each step), then the card as it is."""
        return self.check(transceiver, uid=uid, progress=progress)

    @staticmethod
    def card_error(base: TapOutcome, exc: EkartaError) -> TapOutcome:
        if isinstance(exc, CardNotIssued):
            return replace(base, outcome=Outcome.NOT_ISSUED, detail=one_line(exc))
        return Inspector.card_error(base, exc)
