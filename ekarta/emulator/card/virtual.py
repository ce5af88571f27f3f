"""The card as a whole: :class:`VirtualCard`, its power and its injected faults.

The card's memory is a :class:`~ekarta.emulator.card.context.Context`: the persistent
:class:`~ekarta.emulator.state.CardState` and the :class:`~ekarta.emulator.card.context.Volatile`
state that every power-up (``reset``, ``remove``/``insert``, a tear) replaces in one step.  The
card never waits: the latency :class:`~ekarta.emulator.faults.Faults` may add is the business of
whoever passes the APDUs in (:func:`ekarta.emulator.host.deliver`).
"""

from __future__ import annotations

import os
from typing import NoReturn

from ekarta.desfire.crypto import Rng
from ekarta.desfire.session import Session
from ekarta.emulator.card.context import Context, PowerCut, Volatile
from ekarta.emulator.card.framing import dispatch
from ekarta.emulator.faults import CardMute, CardTorn, Faults
from ekarta.emulator.state import Application, CardState, load_state
from ekarta.errors import InvalidArgument

__all__ = ["ATQA", "SAK", "VirtualCard"]

#: ATQA 0x0344 (7-byte UID, DESFire), as sent on the air: least significant byte first.
ATQA = b"\x44\x03"
#: SAK of a DESFire: ISO 14443-4 compliant.
SAK = 0x20


class VirtualCard:
    """An emulated DESFire EV2 card (see :mod:`ekarta.emulator.card` for its behaviour).

    ``state`` is the persistent memory (a factory-fresh card when None, with ``uid`` or a random
    one); ``rng(n) -> bytes`` replaces :func:`os.urandom` for the card's random numbers;
    ``faults`` arms fault injection (:class:`~ekarta.emulator.faults.Faults`).
    """

    def __init__(self, state: CardState | None = None, *, rng: Rng | None = None,
                 uid: bytes | None = None, faults: Faults | None = None) -> None:
        if state is not None and uid is not None:
            raise InvalidArgument("give either a state or a UID for a fresh card, not both")
        rng = rng or os.urandom
        self._ctx = Context(state if state is not None else CardState.new(uid, rng), rng)
        #: every command APDU the card received while in the field
        self.commands_processed = 0
        self._present = True
        self._faults = Faults()
        self._fault_counter = 0
        if faults is not None:
            self.arm(faults)

    @classmethod
    def new(cls, uid: bytes | None = None, rng: Rng | None = None) -> VirtualCard:
        """A factory-fresh card: PICC master key DES 00*8, key settings 0x0F, no applications."""
        return cls(rng=rng, uid=uid)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, rng: Rng | None = None) -> VirtualCard:
        """The card stored in ``path`` (see :func:`ekarta.emulator.state.load_state`)."""
        return cls(load_state(path), rng=rng)

    def save(self, path: str | os.PathLike[str], *, overwrite: bool = True) -> None:
        """Store the card's persistent state in ``path`` (atomically, mode 0600; an existing
        file is replaced unless ``overwrite`` is false: then FileExistsError)."""
        self._ctx.state.save(path, overwrite=overwrite)

    # --- what the outside sees --------------------------------------------------------------------

    @property
    def state(self) -> CardState:
        """The persistent memory."""
        return self._ctx.state

    @state.setter
    def state(self, state: CardState) -> None:
        self._ctx.state = state

    @property
    def volatile(self) -> Volatile:
        """What the card forgets without power (selection, session, transaction, chains)."""
        return self._ctx.volatile

    @property
    def revision(self) -> int:
        """Incremented whenever the persistent state changes (a reader saves then)."""
        return self._ctx.revision

    @property
    def uid(self) -> bytes:
        """The real 7-byte UID."""
        return self._ctx.state.uid

    @property
    def anticollision_uid(self) -> bytes:
        """The UID the card shows in anticollision: the random ID when random UIDs are on."""
        state = self._ctx.state
        return self._ctx.volatile.random_id if state.random_uid else state.uid

    @property
    def atqa(self) -> bytes:
        """The ATQA as sent on the air: 0x0344 for the 7-byte UID, 0x0304 while the card shows a
        4-byte random ID (the UID-size bits follow the ID it is about to give)."""
        return ATQA if len(self.anticollision_uid) == 7 else b"\x04\x03"

    @property
    def ats(self) -> bytes:
        return self._ctx.state.ats

    @property
    def free_memory(self) -> int:
        return self._ctx.state.free_memory

    @property
    def applications(self) -> dict[int, Application]:
        return self._ctx.state.applications

    @property
    def present(self) -> bool:
        """Whether the card is in the field (False after ``remove()`` or a tear)."""
        return self._present

    @property
    def selected_aid(self) -> int:
        """The selected application, 0 for the PICC level."""
        return self._ctx.volatile.aid

    @property
    def session(self) -> Session | None:
        """The card's end of the authenticated session, or None."""
        return self._ctx.volatile.session

    @property
    def in_transaction(self) -> bool:
        """Whether writes are staged, waiting for CommitTransaction."""
        return bool(self._ctx.volatile.tx)

    @property
    def faults(self) -> Faults:
        return self._faults

    # --- power and faults -------------------------------------------------------------------------

    def arm(self, faults: Faults | None = None) -> None:
        """Inject ``faults`` from now on (None or ``Faults()``: none); commands count from 0."""
        if faults is not None and not isinstance(faults, Faults):
            raise InvalidArgument(f"faults must be a Faults, got {type(faults).__name__}")
        self._faults = faults or Faults()
        self._fault_counter = 0

    def reset(self) -> None:
        """A power cycle: forget the selection, the session, chains and the pending transaction."""
        self._ctx.power_up()

    def remove(self) -> None:
        """Take the card out of the field (it loses power)."""
        self._present = False
        self._ctx.power_up()

    def insert(self) -> None:
        """Put the card (back) into the field: it powers up fresh.  No effect if present."""
        if not self._present:
            self._present = True
            self._ctx.power_up()

    # --- the APDU entry point ---------------------------------------------------------------------

    def process(self, apdu: bytes) -> bytes:
        """Process one command APDU and return the response APDU (data + status word).

        Raises :class:`CardTorn` when the card is not in the field or loses power now, and
        :class:`CardMute` when it is mute (see :mod:`ekarta.emulator.faults`).
        """
        apdu = bytes(apdu)
        if not self._present:
            raise CardTorn("no card in the field (removed, or it lost power)")
        index = self._fault_counter
        self._fault_counter += 1
        faults = self._faults
        if faults.mute:
            raise CardMute("the card did not answer (mute)")
        if faults.tear_after is not None and index == faults.tear_after:
            self.remove()
            raise CardTorn(f"the card lost power as command {index} arrived (tear)")
        self.commands_processed += 1
        if faults.tear_during is not None and index == faults.tear_during:
            self._torn(apdu, faults.tear_progress)
        return dispatch(self._ctx, apdu)

    def _torn(self, apdu: bytes, progress: float) -> NoReturn:
        ctx = self._ctx
        snapshot, revision = ctx.state.to_dict(), ctx.revision
        ctx.tearing = progress
        try:
            dispatch(ctx, apdu)
        except PowerCut:
            pass  # a std write or a commit: its partial effect stays
        else:
            if ctx.revision != revision:  # anything else has no effect
                ctx.state = CardState.from_dict(snapshot)
                ctx.revision = revision
        finally:
            ctx.tearing = None
        self.remove()
        raise CardTorn(f"the card lost power during a command ({progress:.0%} done)")
