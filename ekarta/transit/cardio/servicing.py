"""A check that also does what the office left for the card: :func:`service_card`.

An inspector's handheld (and a kiosk) holds the load key, which reads every file of the card
(the record, the slots, the whole log, the purse) and writes every file.  One card session:

1. Select the application, authenticate with the load key, read the card
   (:func:`~ekarta.transit.cardio.reading.read_card`).
2. Ask the terminal what its lists say of this card number and UID (the validator's
   :class:`~ekarta.transit.cardio.validation.CardLists`: the hotlist, the office's coupons, the
   repeat window, whether the office has the card active) and which actions the office left for
   it (:data:`CardAction`).
3. Plan, purely (:func:`plan_servicing`), with the planners every single operation uses: the
   blocked status of a hotlisted card (or one the office asks blocked,
   :func:`~ekarta.transit.model.lifecycle.plan_blocking`), the activation
   (:func:`~ekarta.transit.model.lifecycle.plan_activation`), a profile change
   (:func:`~ekarta.transit.model.lifecycle.plan_change`), each purse credit
   (:func:`~ekarta.transit.model.purse.plan_purse`) and each coupon
   (:func:`~ekarta.transit.model.rules.plan_load`), each on the card as the actions before it
   leave it.  An action the card shows done already is :attr:`Fate.FOUND` (the coupon in a slot,
   the credit's serial in the log, the record as asked); one the card refuses now is
   :attr:`Fate.WAITING` with the refusal (a blocked card takes no coupon, a full card none
   either).  The terminal then vets what the plan would write (``confirm``: the office's
   lease on each action); what it withholds waits, and the check is planned again without it.
   The card is judged as the check leaves it
   (:func:`~ekarta.transit.cardio.validation.judge_tap`).
4. Write.  Every change but the purse credits goes into ONE transaction with ONE log record:
   DESFire fills one new record per cyclic record file per transaction (all WriteRecord commands
   of a transaction to one file fill the same record), so a check cannot log each load on its
   own.  The record is the check's (``record_kind``: INSPECTION, KIOSK_VIEW), or BLOCKING when
   the check writes the blocked status.  A coupon needs no record of its own to be found again:
   its serial in a slot with the operator's signature says it is loaded.

   A purse credit does: nothing in the purse tells that a credit was made, only the PURSE_CREDIT
   record with the operation serial in the log (:mod:`ekarta.transit.model.purse`).  Each credit
   is therefore committed in a transaction of its own, before the rest, with its own record: a
   credit merged into the check's transaction would leave no trace by which a retry after a lost
   answer could find it, and would be made twice.

An inspector's check records itself even when it changes nothing; a kiosk's only when it writes
something.  A check with nothing to write whose record the card holds already (this device's,
of ``record_kind``, with the same result at the same place since ``CardLists.repeat_since``) writes
nothing (:attr:`Servicing.written` false): a second check within the terminal's window, or one
whose answer was lost.

**Torn checks.**  A card pulled away while it is read raises the reader's
:class:`~ekarta.errors.CardRemovedError`; once the writing has begun, :class:`ServicingTorn` (one
too) with what the card holds if the commit under way took effect (``staged``) and the credits
whose commits were answered (``committed``).  The card takes each transaction whole or not at
all: every coupon is on it once or absent, and the next check finds what was committed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum

from ekarta.desfire.client import DESFire
from ekarta.errors import CardRemovedError, ProtocolError, ReaderTimeout
from ekarta.transit.cardio.events import write_event
from ekarta.transit.cardio.reading import read_card
from ekarta.transit.cardio.validation import CardLists, Lookup, Place, judge_tap, logged_tap
from ekarta.transit.codec.layout import (
    CARD_RECORD_FILE,
    PURSE_FILE,
    PURSE_UPPER_LIMIT,
    SLOTS_FILE,
    KeyRole,
)
from ekarta.transit.codec.records import (
    EVENT_LOG_RECORDS,
    SLOT_SIZE,
    encode_card_record,
    encode_slot,
)
from ekarta.transit.errors import InvalidField
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.image import CardImage
from ekarta.transit.model.lifecycle import (
    RecordChange,
    plan_activation,
    plan_blocking,
    plan_change,
)
from ekarta.transit.model.purse import plan_purse
from ekarta.transit.model.rules import (
    Refusal,
    SignatureCheck,
    Verdict,
    logged_serial,
    plan_load,
)
from ekarta.transit.model.timecodec import local_date, require_aware
from ekarta.transit.model.values import (
    CardRecord,
    CardStatus,
    EventKind,
    EventRecord,
    Money,
    Profile,
    Reason,
    SignedCoupon,
)
from ekarta.transit.security.keystore import KeyProvider

__all__ = [
    "ActionPlan",
    "ActivateAction",
    "BlockAction",
    "CardAction",
    "Confirm",
    "CreditAction",
    "Fate",
    "LoadAction",
    "ProfileAction",
    "ProgressCallback",
    "Servicing",
    "ServicingTorn",
    "log_complete",
    "plan_servicing",
    "service_card",
]

log = logging.getLogger(__name__)


# --- what the office asks -------------------------------------------------------------------------


def log_complete(image: CardImage) -> bool:
    """Whether the card's log still holds every event the card logged: it has never been full,
    so no record has been dropped to make room.  Only then does an operation serial missing
    from the log prove that the operation was never made."""
    return len(image.events) < EVENT_LOG_RECORDS


@dataclass(frozen=True)
class LoadAction:
    """Write the paid coupon ``coupon`` (signed for this card) into a slot."""

    action_id: int
    coupon: SignedCoupon


@dataclass(frozen=True)
class CreditAction:
    """Credit the purse with ``amount`` haléř under the office's operation ``serial``."""

    action_id: int
    serial: int
    amount: int


@dataclass(frozen=True)
class BlockAction:
    """Write the card's blocked status."""

    action_id: int


@dataclass(frozen=True)
class ProfileAction:
    """Give the card the profile ``profile`` until ``profile_end``."""

    action_id: int
    profile: Profile
    profile_end: date | None = None


@dataclass(frozen=True)
class ActivateAction:
    """Write a produced card active (its holder activated it at the office)."""

    action_id: int


CardAction = LoadAction | CreditAction | BlockAction | ProfileAction | ActivateAction
ActionSource = Callable[[CardNumber, bytes], Sequence[CardAction]]
"""The office's actions for the card read (its number and UID), in the office's order."""
Confirm = Callable[["Servicing"], Mapping[int, Refusal]]
"""Asked once a check is planned, before the card is written: the actions the plan would write
that must not be written after all (the office gave one to another terminal, say), by id, each
with its refusal.  Asked again on the plan made without them, until it withholds nothing more."""
ProgressCallback = Callable[[int, int, str], None]
"""Called with (steps done, steps in all, the step about to be done) before each card command
that writes and each commit, and once more with every step done."""


class Fate(StrEnum):
    """What a check makes of one action."""

    DONE = "done"
    """Written in this check (committed once :func:`service_card` returns)."""
    FOUND = "found"
    """The card shows it done already: nothing written."""
    WAITING = "waiting"
    """The card refuses it now (``refusal``): left for a later check."""


@dataclass(frozen=True)
class ActionPlan:
    """One action and what the check makes of it: ``slot`` a load's slot, ``event`` a credit's
    own log record (DONE) or the record that shows it (FOUND)."""

    action: CardAction
    fate: Fate
    refusal: Refusal | None = None
    slot: int | None = None
    event: EventRecord | None = None

    @property
    def action_id(self) -> int:
        return self.action.action_id


# --- the plan -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Servicing:
    """A check planned on the card read as ``before`` (:func:`plan_servicing`) and, once
    :func:`service_card` returns it, done.

    ``after`` is the card as the check leaves it (record, slots, purse, log).  ``verdict`` is
    judged on it; ``from_office`` says the coupon that made it valid is one the office holds and
    the card does not (a load the card refused).  ``event`` is the check's log record: written in
    this check (``written``) or found on the card standing for it (a check repeated within the
    window, one whose answer was lost); None for a kiosk's check that changes nothing.
    ``record`` is the card record written (None: unchanged), ``loads`` the (slot, coupon) pairs
    written, ``credits`` the credits made, each in a transaction of its own before the rest."""

    before: CardImage
    after: CardImage
    verdict: Verdict
    actions: tuple[ActionPlan, ...] = ()
    from_office: bool = False
    event: EventRecord | None = None
    written: bool = False
    record: CardRecord | None = None
    loads: tuple[tuple[int, SignedCoupon], ...] = ()
    credits: tuple[ActionPlan, ...] = ()
    blocking: bool = False
    """The check writes the card's blocked status (its record is then a BLOCKING)."""

    @property
    def uid(self) -> bytes:
        return self.before.uid

    @property
    def card_number(self) -> CardNumber:
        return self.before.record.card_number

    @property
    def last_validation(self) -> EventRecord | None:
        """The newest VALIDATION record the card's log held when it was read."""
        return max((e for e in self.before.events
                    if isinstance(e, EventRecord) and e.kind is EventKind.VALIDATION),
                   key=lambda e: e.sequence, default=None)

    @property
    def steps(self) -> tuple[str, ...]:
        """The card commands that write, and the commits, in their order (for progress)."""
        steps: list[str] = []
        for credit in self.credits:
            assert isinstance(credit.action, CreditAction)
            steps += [f"credit-purse {credit.action.serial}", _step(EventKind.PURSE_CREDIT),
                      "commit"]
        if self.written:
            assert self.event is not None
            if self.record is not None:
                steps.append("card-record")
            steps += [f"load-coupon {coupon.serial}" for _, coupon in self.loads]
            steps += [_step(self.event.kind), "commit"]
        return tuple(steps)


def _step(kind: EventKind) -> str:
    return kind.name.lower().replace("_", "-")


def _planned(action: CardAction, refusal: Refusal | None, changed: bool, *,
             slot: int | None = None, event: EventRecord | None = None) -> ActionPlan:
    if refusal is not None:
        return ActionPlan(action, Fate.WAITING, refusal)
    return ActionPlan(action, Fate.DONE if changed else Fate.FOUND, slot=slot, event=event)


def _first(refusals: Sequence[Refusal]) -> Refusal | None:
    return refusals[0] if refusals else None


def plan_servicing(image: CardImage, lists: CardLists, actions: Sequence[CardAction], *,
                   at: datetime, place: Place, verifier: SignatureCheck,
                   record_kind: EventKind = EventKind.INSPECTION, record_always: bool = True,
                   withheld: Mapping[int, Refusal] | None = None) -> Servicing:
    """What a check at ``place`` and ``at`` does to the card read as ``image`` (with its purse
    and whole log), given the terminal's ``lists`` and the office's ``actions`` (see the module
    docstring): each action planned on the card as the ones before it leave it.  The actions
    in ``withheld`` (by id) are not planned: they wait, with the refusal given."""
    at = require_aware(at, "check time")
    if image.purse is None:
        raise InvalidField("a check is planned on a card read with its purse")
    today = local_date(at)
    record = image.record
    planned: dict[int, ActionPlan] = {}
    ordered, withheld = actions, withheld or {}
    for a in ordered:
        if a.action_id in withheld:
            planned[a.action_id] = _planned(a, withheld[a.action_id], False)
    actions = [a for a in ordered if a.action_id not in withheld]

    blocks = [a for a in actions if isinstance(a, BlockAction)]
    blocking = False
    if lists.hotlisted or blocks:
        block = plan_blocking(record)
        blocking, record = block.changed, block.record
    for b in blocks:
        planned[b.action_id] = _planned(b, None, blocking)

    activations = [a for a in actions if isinstance(a, ActivateAction)]
    if activations or (record.status is CardStatus.PRODUCED and not lists.hotlisted
                       and lists.office_active()):
        activation = plan_activation(record, today)
        record = activation.record
        for c in activations:
            planned[c.action_id] = _planned(c, _first(activation.refusals), activation.changed)

    for a in actions:
        if isinstance(a, ProfileAction):
            try:
                change = plan_change(record, RecordChange(profile=a.profile,
                                                          profile_end=a.profile_end), today)
            except InvalidField:  # a profile the card's kind cannot have
                planned[a.action_id] = _planned(a, Refusal.of(
                    Reason.TRANSFERABLE_ONLY_ANONYMOUS if record.personal
                    else Reason.ANONYMOUS_ONLY_TRANSFERABLE), False)
                continue
            record = change.record
            planned[a.action_id] = _planned(a, _first(change.refusals), change.changed)

    # each credit on the purse and the log as the credits before it leave them
    balance, events, sequence = image.purse, list(image.events), image.next_sequence
    credits: list[ActionPlan] = []
    for a in actions:
        if not isinstance(a, CreditAction):
            continue
        if a.amount > PURSE_UPPER_LIMIT:  # more than the purse ever holds
            planned[a.action_id] = _planned(a, Refusal.of(
                Reason.PURSE_LIMIT_EXCEEDED, limit=Money(PURSE_UPPER_LIMIT),
                balance=Money(balance), amount=Money(a.amount)), False)
            continue
        credit = plan_purse(replace(image, record=record, purse=balance, events=tuple(events)),
                            EventKind.PURSE_CREDIT, serial=a.serial, amount=a.amount,
                            today=today, upper_limit=PURSE_UPPER_LIMIT)
        if credit.refusal is not None or credit.already_done:
            found = logged_serial(events, a.serial, (EventKind.PURSE_CREDIT,))
            planned[a.action_id] = _planned(a, credit.refusal, False, event=found)
            continue
        logged = EventRecord(sequence=sequence, at=at, kind=EventKind.PURSE_CREDIT,
                             result=Reason.VALID, device=place.device, coupon_serial=a.serial)
        sequence += 1
        balance += credit.amount
        events.append(logged)
        planned[a.action_id] = done = ActionPlan(a, Fate.DONE, event=logged)
        credits.append(done)

    # each coupon on the slots as the loads before it leave them
    slots = list(image.slots)
    loads: list[tuple[int, SignedCoupon]] = []
    for a in actions:
        if not isinstance(a, LoadAction):
            continue
        load = plan_load(replace(image, record=record, slots=tuple(slots)), a.coupon,
                         today=today, verifier=verifier)
        if load.refusal is None and not load.already_loaded:
            assert load.slot is not None
            slots[load.slot] = a.coupon
            loads.append((load.slot, a.coupon))
        planned[a.action_id] = _planned(a, load.refusal, not load.already_loaded,
                                        slot=load.slot)

    after = replace(image, record=record, slots=tuple(slots), purse=balance,
                    events=tuple(events))
    verdict, from_office = judge_tap(after, lists, at=at, zone=place.zone, verifier=verifier)
    changed = record != image.record or bool(loads)
    found = None
    if not changed and not credits:
        found = logged_tap(image, place, verdict, lists.repeat_since, at=at, kind=record_kind)
    event: EventRecord | None = found
    if found is None and (changed or record_always):
        kind = EventKind.BLOCKING if blocking else record_kind
        serial = verdict.coupon.serial if verdict.ok and verdict.coupon is not None else None
        event = EventRecord(sequence=sequence, at=at, kind=kind,
                            result=Reason.VALID if blocking else verdict.reason,
                            device=place.device, line=place.line, vehicle=place.vehicle,
                            zone=place.zone, coupon_serial=serial)
        after = replace(after, events=(*after.events, event))
    return Servicing(image, after, verdict, tuple(planned[a.action_id] for a in ordered),
                     from_office=from_office, event=event,
                     written=event is not None and found is None,
                     record=record if record != image.record else None, loads=tuple(loads),
                     credits=tuple(credits), blocking=blocking)


# --- the card session -----------------------------------------------------------------------------


class ServicingTorn(CardRemovedError):
    """The card left (or stopped answering) once the check had begun to write: ``staged`` is
    what the card holds if the commit under way took effect, which only the card can tell at
    its next check; ``committed`` the credits whose commits the card answered (on it for
    sure)."""

    def __init__(self, message: str, staged: Servicing,
                 committed: tuple[ActionPlan, ...] = ()) -> None:
        super().__init__(message)
        self.staged = staged
        self.committed = committed


def _no_actions(_number: CardNumber, _uid: bytes) -> Sequence[CardAction]:
    return ()


def service_card(desfire: DESFire, keys: KeyProvider, verifier: SignatureCheck, *,
                 at: datetime, place: Place, lookup: Lookup,
                 actions: ActionSource = _no_actions,
                 record_kind: EventKind = EventKind.INSPECTION, record_always: bool = True,
                 progress: ProgressCallback | None = None, confirm: Confirm | None = None,
                 uid: bytes | None = None) -> Servicing:
    """One check of the card in the field with the load key (see the module docstring).

    ``confirm`` vets the plan before anything is written (:data:`Confirm`).  ``uid`` is the
    card's UID when the reader reported it (it saves GetVersion).  Raises what
    reading raises (:class:`~ekarta.transit.cardio.reading.CardAccessError`, the reader's
    errors, RecordError for an unreadable card record) and :class:`ServicingTorn` when the card
    is lost while the check is being written.
    """
    at = require_aware(at, "check time")
    image = read_card(desfire, keys, role=KeyRole.LOAD, uid=uid)
    number = image.record.card_number
    lists = lookup(number, image.uid)
    asked = tuple(actions(number, image.uid))
    withheld: dict[int, Refusal] = {}
    while True:
        plan = plan_servicing(image, lists, asked, at=at, place=place, verifier=verifier,
                              record_kind=record_kind, record_always=record_always,
                              withheld=withheld)
        vetted = {} if confirm is None else confirm(plan)
        if vetted.keys() <= withheld.keys():
            break
        # an action withheld may let another be written (its slot, the purse's room): the
        # new plan is vetted in turn; each round withholds one more action at least
        withheld |= vetted
    steps = plan.steps
    done = 0

    def step() -> None:
        nonlocal done
        if progress is not None:
            progress(done, len(steps), steps[done])
        done += 1

    committed: list[ActionPlan] = []
    try:
        for credit in plan.credits:
            assert isinstance(credit.action, CreditAction) and credit.event is not None
            step()
            desfire.credit(PURSE_FILE.file_no, credit.action.amount, comm=PURSE_FILE.comm)
            step()
            write_event(desfire, credit.event)
            step()
            desfire.commit_transaction()
            committed.append(credit)
        if plan.written:
            assert plan.event is not None
            # Every write below is staged by the card and takes effect at the one commit.
            if plan.record is not None:
                step()
                desfire.write_data(CARD_RECORD_FILE.file_no, encode_card_record(plan.record),
                                   comm=CARD_RECORD_FILE.comm)
            for slot, coupon in plan.loads:
                step()
                desfire.write_data(SLOTS_FILE.file_no, encode_slot(coupon), slot * SLOT_SIZE,
                                   comm=SLOTS_FILE.comm)
            step()
            write_event(desfire, plan.event)
            step()
            desfire.commit_transaction()
    except (CardRemovedError, ReaderTimeout, ProtocolError) as exc:
        raise ServicingTorn(f"the card was lost while the check was being written: {exc}",
                            plan, tuple(committed)) from exc
    if progress is not None and steps:
        progress(len(steps), len(steps), "done")
    log.info("card checked: %d coupons loaded, %d credits, %s", len(plan.loads),
             len(plan.credits), "record written" if plan.written else "nothing logged")
    return plan
