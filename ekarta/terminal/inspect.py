"""The inspector's handheld (and the kiosk) without its screen: :class:`Inspector` turns a card in
the field, or a card number a scanner or the inspector gives, into a
:class:`~ekarta.terminal.outcome.TapOutcome`, and does on the card what the office left for it.

A check is one card session with the load key
(:func:`~ekarta.transit.cardio.servicing.service_card`): read every file of the card, look it
up on the hotlist (by number and UID) and among the office's entitlements, take the actions the
office left for it (:meth:`~ekarta.terminal.store.TerminalStore.pending_actions`: load a paid
coupon, credit the purse, write the blocked status, update the profile, activate), judge it at the
inspector's :class:`~ekarta.terminal.engine.Position` as the check leaves it, and write every
action in one transaction with the check's record (a purse credit first, in a transaction of its
own: its record in the log is how it is found again).

The journal (no names) gets, per check, one INSPECTION event (a kiosk's: KIOSK_VIEW) with the
verdict's reason, the zone and line and the coupons the card holds after the check, and one event
per action done or found on the card (LOAD, PURSE_CREDIT, PROFILE_UPDATE, BLOCKING, ACTIVATION,
with the office's action id): the office marks an action done, and a coupon written, only when
the journal says the commit happened.  Every id is made from the card and what it names (the
check's log record, the action's id), so a check whose answer was lost and is found on the card
again is never journalled twice.

- **Actions the card cannot take now** (no free slot, a blocked card, a coupon signed for
  another chip, an item of the office's that does not decode) are ``WAITING`` with a reason and
  stay for a later check; a card pulled away during the writing gives ``TAP_AGAIN`` with the
  actions ``TORN`` (the credits committed before are ``DONE`` and journalled), and the next check
  finds what the card took.
- **Leases.**  Before it writes an action (not one the card shows done, nor one it refuses),
  the check asks the office for the action's lease (:attr:`Inspector.leaser`), so that two
  terminals meeting the same card do not both do it: an action the office gave to another
  device, or closed (done, or cancelled since the last sync), waits (``ACTION_ELSEWHERE``).  An
  office that does not answer is not asked again for :data:`OFFICE_RETRY`, and meanwhile the
  card's own state decides: a coupon's serial in a slot, a record as asked.  A purse credit has
  no such state but its record in the log, which keeps the last few events only: without the
  lease, or with a contested one (a lease on it ran out on another device, which may have made
  it out of the office's reach), it is made only on a card whose log has never dropped a record
  (``CREDIT_UNPROVEN`` otherwise).
- **Repeat window.**  A second check within ``repeat_window`` that has nothing to write finds
  its own record on the card and writes nothing (``repeated``).
- **The kiosk** (a terminal of the kiosk role) writes its KIOSK_VIEW record only with something
  else to write: a look at the card changes nothing on it.
- **Barcode fallback.**  :meth:`Inspector.check_number` judges a card number from the synced
  hotlist and entitlements (``Source.BARCODE``; its image is the office's entry with placeholder
  names and the office's coupons as its slots); it is journalled (without coupons: nothing was
  read from a chip) so that its outcome can be recorded.
- **The outcome** the inspector records (:meth:`Inspector.record_outcome`: valid, invalid with a
  reason, a note such as a fine's number) is an INSPECTION event of its own, under an id made from
  the check's, and :meth:`Inspector.shift` counts the day's checks from the local journal.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from pydantic import ValidationError

from ekarta.desfire.client import DESFire, Transceiver
from ekarta.errors import EkartaError
from ekarta.sync.messages import (
    ActionItem,
    ActionKind,
    JournalEvent,
    JournalKind,
    Lease,
    slot_bytes,
    slot_text,
)
from ekarta.sync.roles import DeviceRole
from ekarta.terminal.config import TerminalConfig
from ekarta.terminal.engine import (
    EVENT_NAMESPACE,
    REPEAT_WINDOW,
    STALE_AFTER,
    Position,
    TerminalEngine,
    journal_event,
    utc_now,
)
from ekarta.terminal.errors import LeaseRefused, OfficeError
from ekarta.terminal.outcome import (
    ActionResult,
    ActionState,
    Outcome,
    Progress,
    Source,
    TapOutcome,
)
from ekarta.terminal.store import TerminalStore
from ekarta.terminal.sync import OfficeLeases
from ekarta.transit.cardio.servicing import (
    ActionPlan,
    ActivateAction,
    BlockAction,
    CardAction,
    CreditAction,
    Fate,
    LoadAction,
    ProfileAction,
    Servicing,
    ServicingTorn,
    log_complete,
    service_card,
)
from ekarta.transit.cardio.validation import CardLists
from ekarta.transit.codec.records import decode_slot, encode_slot
from ekarta.transit.errors import CouponError, InvalidField, RecordError
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.notation import parse_enum
from ekarta.transit.model.rules import Refusal, SignatureCheck
from ekarta.transit.model.timecodec import PRAGUE, local_date, to_local
from ekarta.transit.model.values import (
    CardKind,
    EventKind,
    Profile,
    Reason,
    SignedCoupon,
)
from ekarta.transit.security.keystore import KeyProvider

__all__ = ["OFFICE_RETRY", "Inspector", "Leaser", "ShiftSummary", "may_be_someone_elses"]

log = logging.getLogger(__name__)

ROLES = (DeviceRole.INSPECTOR, DeviceRole.KIOSK, DeviceRole.OFFICE)
"""The roles whose keys (the load key) a check needs."""

OFFICE_RETRY = timedelta(minutes=1)
"""After the office failed to answer for a lease, how long checks go on without asking it: each
ask waits with the card in the field."""

Leaser = Callable[[int], Lease]
"""Takes the office's lease on an action for this terminal
(:class:`~ekarta.terminal.sync.OfficeLeases` on its directory): returns once the office gave
it, raises :class:`~ekarta.terminal.errors.LeaseRefused` when the office gave the action to
another device or closed it, and another :class:`~ekarta.terminal.errors.OfficeError` when it
cannot be asked."""

PERFORMED = {
    ActionKind.LOAD_COUPON: JournalKind.LOAD,
    ActionKind.CREDIT_PURSE: JournalKind.PURSE_CREDIT,
    ActionKind.UPDATE_PROFILE: JournalKind.PROFILE_UPDATE,
    ActionKind.WRITE_BLOCKED: JournalKind.BLOCKING,
    ActionKind.ACTIVATE: JournalKind.ACTIVATION,
}
"""The journal's kind of each action done (the office closes the action on it)."""

_STATES = {Fate.DONE: ActionState.DONE, Fate.FOUND: ActionState.FOUND,
           Fate.WAITING: ActionState.WAITING}

CHECK_KINDS = (JournalKind.INSPECTION, JournalKind.KIOSK_VIEW)


@dataclass(frozen=True)
class ShiftSummary:
    """The checks of one day (Prague) from the terminal's journal.

    ``valid`` and ``invalid`` count the verdicts (``invalid`` by reason, the most frequent
    first); ``recorded`` the checks whose outcome the inspector recorded, ``recorded_invalid``
    of them those recorded as invalid (a fine, a warning); ``by_line`` the checks per line (None:
    no line set), ``per_hour`` per hour of the day, 0..23."""

    day: date
    checks: int = 0
    valid: int = 0
    invalid: tuple[tuple[Reason, int], ...] = ()
    barcode: int = 0
    """Checks of a card number (a scanned barcode, a typed number) rather than a chip."""
    recorded: int = 0
    recorded_invalid: int = 0
    by_line: tuple[tuple[int | None, int], ...] = ()
    per_hour: tuple[int, ...] = (0,) * 24

    @property
    def unrecorded(self) -> int:
        return self.checks - self.recorded


def _outcome_id(check_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(check_id, "outcome")


def may_be_someone_elses(check: TapOutcome) -> bool:
    """Whether the inspector may find that ``check``'s card is someone else's
    (:data:`~ekarta.transit.model.values.Reason.NOT_THE_HOLDER`): a personal card, or one whose
    kind the check does not know (a barcode the lists hold nothing for).  An anonymous card
    is anyone's to carry."""
    return check.image is None or check.image.record.kind is CardKind.PERSONAL


class _Refused(Exception):
    """An action of the office's that cannot go to this card (its refusal)."""

    def __init__(self, reason: Reason) -> None:
        self.refusal = Refusal.of(reason)


def _card_action(item: ActionItem, uid: bytes) -> CardAction:
    """The card's action for the office's ``item``; raises :class:`_Refused`."""
    if item.uid is not None and item.uid != uid.hex():
        raise _Refused(Reason.SIGNATURE_INVALID)  # the office meant another chip
    kind = item.kind
    if kind is ActionKind.LOAD_COUPON:
        try:
            signed = decode_slot(slot_bytes(item.slot or ""))
        except (RecordError, ValueError):
            signed = None
        if signed is None:
            raise _Refused(Reason.COUPON_UNREADABLE)
        return LoadAction(item.id, signed)
    if kind is ActionKind.CREDIT_PURSE:
        if item.serial is None or item.amount is None:
            raise _Refused(Reason.COUPON_UNREADABLE)
        return CreditAction(item.id, item.serial, item.amount)
    if kind is ActionKind.UPDATE_PROFILE:
        try:
            profile = parse_enum(Profile, item.profile or "", "profile")
        except CouponError:
            # a profile this terminal does not know (a newer office's): an item it cannot read
            raise _Refused(Reason.COUPON_UNREADABLE) from None
        return ProfileAction(item.id, profile, item.profile_end)
    if kind is ActionKind.WRITE_BLOCKED:
        return BlockAction(item.id)
    return ActivateAction(item.id)


def _serial(action: CardAction) -> int | None:
    if isinstance(action, LoadAction):
        return action.coupon.serial
    if isinstance(action, CreditAction):
        return action.serial
    return None


class Inspector(TerminalEngine):
    """The inspector's (or the kiosk's) engine over a terminal's store and keys (see the module
    docstring).  ``role`` is the terminal's: a kiosk logs only a check that writes."""

    WORKS_WITH = frozenset(ROLES)
    NEEDS = ("a check needs an inspector's or a kiosk's (made with 'ekarta terminal init "
             "--role inspector')")

    def __init__(self, store: TerminalStore, keys: KeyProvider, verifier: SignatureCheck, *,
                 device: int, position: Position | None = None,
                 role: DeviceRole = DeviceRole.INSPECTOR,
                 repeat_window: timedelta = REPEAT_WINDOW, stale_after: timedelta = STALE_AFTER,
                 clock: Callable[[], datetime] = utc_now, leaser: Leaser | None = None) -> None:
        if repeat_window < timedelta(0):
            raise InvalidField("the repeat window cannot be negative")
        if role not in ROLES:
            raise InvalidField(f"a check needs an inspector's or a kiosk's keys, not a {role}'s")
        super().__init__(store, keys, verifier, device=device, position=position,
                         stale_after=stale_after, clock=clock)
        self.role = DeviceRole(role)
        self.repeat_window = repeat_window
        self.leaser = leaser
        """Asks the office for each action's lease before the check writes it (None: there is
        no office to ask, as when it does not answer: the card's own state decides)."""
        self._office_away_until: datetime | None = None
        self._office: OfficeLeases | None = None

    @classmethod
    def from_config(cls, config: TerminalConfig, *, device: int | None = None,
                    **options: Any) -> Inspector:
        """The engine of a terminal directory (see :meth:`TerminalEngine.from_config`), with
        the terminal's role, asking its office for the lease on each action it writes."""
        options.setdefault("role", config.role)
        engine = super().from_config(config, device=device, **options)
        if engine.leaser is None:
            engine.leaser = engine._office = OfficeLeases(config, engine.store)
        return engine

    def close(self) -> None:
        """Close the connection to the office it opened (see :meth:`from_config`) and the
        store."""
        try:
            if self._office is not None:
                self._office.close()
        finally:
            super().close()

    @property
    def check_kind(self) -> JournalKind:
        return JournalKind.KIOSK_VIEW if self.role is DeviceRole.KIOSK else JournalKind.INSPECTION

    # --- a check of a chip ------------------------------------------------------------------------

    def check(self, transceiver: Transceiver, *, uid: bytes | None = None,
              progress: Callable[[Progress], None] | None = None) -> TapOutcome:
        """One check of the card in the field of ``transceiver`` (a reader's ``transceive``).

        ``uid`` is the card's UID if the reader reported it (a
        :class:`~ekarta.readers.Reader`'s own report is taken otherwise).  ``progress`` is
        called before each card command that writes and each commit, and once all are done."""
        now = self._clock()
        position = self._position
        base = self.base_outcome(Source.CHIP, now, position)
        items: dict[int, ActionItem] = {}
        refused: dict[int, Refusal] = {}

        def lookup(number: CardNumber, card_uid: bytes) -> CardLists:
            return self.card_lists(number, card_uid, repeat_since=now - self.repeat_window)

        def actions(number: CardNumber, card_uid: bytes) -> Sequence[CardAction]:
            asked = []
            for item in self.store.pending_actions(number):
                items[item.id] = item
                try:
                    asked.append(_card_action(item, card_uid))
                except _Refused as exc:
                    refused[item.id] = exc.refusal
            return asked

        decided: dict[int, Refusal | None] = {}

        def confirm(plan: Servicing) -> dict[int, Refusal]:
            """The office's lease on each action the plan would write (asked once per action
            in a check); what cannot be written without it (see :meth:`_withheld`)."""
            for p in plan.actions:
                if p.fate is Fate.DONE and p.action_id not in decided:
                    decided[p.action_id] = self._withheld(p, plan, now)
            return {i: r for i, r in decided.items() if r is not None}

        def step(done: int, total: int, name: str) -> None:
            if progress is not None:
                progress(Progress(done, total, name))

        kiosk = self.role is DeviceRole.KIOSK
        try:
            servicing = service_card(
                DESFire(transceiver), self._keys, self._verifier, at=now,
                place=self.place(position), lookup=lookup, actions=actions,
                record_kind=EventKind.KIOSK_VIEW if kiosk else EventKind.INSPECTION,
                record_always=not kiosk, progress=step, confirm=confirm,
                uid=self.reader_uid(transceiver, uid))
        except ServicingTorn as exc:
            return self._torn(exc, items, refused, base, now)
        except EkartaError as exc:  # the card, its protocol, the reader
            return self.card_error(base, exc)
        return self._settle(servicing, items, refused, base, now)

    def _withheld(self, plan: ActionPlan, servicing: Servicing, now: datetime) -> Refusal | None:
        """Why the check must not write ``plan``'s action after all: the office gave it to
        another device or closed it; or, with no lease to be had or a contested one, it is a
        purse credit on a card whose log has dropped records (its absence from the log proves
        nothing)."""
        try:
            lease = self._leased(plan.action_id, now)
        except _Refused as exc:
            return exc.refusal
        if lease is not None and not lease.contested:
            return None
        if isinstance(plan.action, CreditAction) and not log_complete(servicing.before):
            return Refusal.of(Reason.CREDIT_UNPROVEN)
        return None

    def _leased(self, action_id: int, now: datetime) -> Lease | None:
        """The office's lease on the action for this terminal (None: there is no office to
        ask, or it failed to answer less than :data:`OFFICE_RETRY` ago); raises
        :class:`_Refused` when it gave the action to another device or closed it."""
        away = self._office_away_until
        if self.leaser is None or (away is not None and now < away):
            return None
        try:
            lease = self.leaser(action_id)
        except LeaseRefused as exc:
            log.info("action %d left alone: %s", action_id, exc)
            raise _Refused(Reason.ACTION_ELSEWHERE) from None
        except OfficeError as exc:
            log.warning("no lease from the office (%s): the card's own state decides", exc)
            self._office_away_until = now + OFFICE_RETRY
            return None
        self._office_away_until = None
        if lease.contested:
            log.info("action %d: its lease ran out on another device before", action_id)
        return lease

    def _results(self, planned: Sequence[ActionPlan], items: dict[int, ActionItem],
                 refused: dict[int, Refusal], torn: frozenset[int] = frozenset(),
                 ) -> tuple[ActionResult, ...]:
        """Every action of the office's for the card, in its order, as the check left it."""
        plans = {p.action_id: p for p in planned}
        results = []
        for action_id, item in items.items():
            plan = plans.get(action_id)
            if plan is None:
                refusal = refused.get(action_id)
                results.append(ActionResult(action_id, item.kind, ActionState.WAITING,
                                            serial=item.serial, amount=item.amount,
                                            refusal=None if refusal is None else refusal.reason,
                                            refused=refusal))
                continue
            state = ActionState.TORN if action_id in torn else _STATES[plan.fate]
            action = plan.action
            results.append(ActionResult(
                action_id, item.kind, state, serial=_serial(action),
                amount=action.amount if isinstance(action, CreditAction) else None,
                coupon=action.coupon if isinstance(action, LoadAction) else None,
                refusal=None if plan.refusal is None else plan.refusal.reason,
                refused=plan.refusal))
        return tuple(results)

    def _action_event(self, result: ActionResult, number: CardNumber, uid: bytes,
                      at: datetime) -> JournalEvent:
        name = f"{number.digits}/{uid.hex()}/action/{result.action_id}"
        return JournalEvent(event_id=uuid.uuid5(EVENT_NAMESPACE, name),
                            kind=PERFORMED[result.kind], at=at, card_number=number.digits,
                            coupon_serial=result.serial, action_id=result.action_id,
                            amount=result.amount)

    def _journal_actions(self, results: Sequence[ActionResult], number: CardNumber, uid: bytes,
                         now: datetime) -> None:
        """Journal each action done or found, and take it off the terminal's pending ones."""
        for result in results:
            if result.state in (ActionState.DONE, ActionState.FOUND):
                self.store.append_journal(self._action_event(result, number, uid, now), now=now)
                self.store.mark_done(result.action_id, now=now)

    def _torn(self, exc: ServicingTorn, items: dict[int, ActionItem],
              refused: dict[int, Refusal], base: TapOutcome, now: datetime) -> TapOutcome:
        staged = exc.staged
        committed = {p.action_id for p in exc.committed}
        torn = frozenset(p.action_id for p in staged.actions
                         if p.fate is Fate.DONE and p.action_id not in committed)
        results = self._results(staged.actions, items, refused, torn)
        self._journal_actions(results, staged.card_number, staged.uid, now)
        log.info("card %s lost while the check was written: tap again", staged.card_number)
        return replace(base, outcome=Outcome.TAP_AGAIN, card_number=staged.card_number,
                       actions=results,
                       detail="the card left before its check was written: tap again")

    def _check_event(self, servicing: Servicing, base: TapOutcome,
                     now: datetime) -> JournalEvent:
        """The journal event of the check (no names): its id made from the check's record on
        the card (a kiosk's check that wrote none: from the card and the time)."""
        number, uid = servicing.card_number, servicing.uid
        verdict = servicing.verdict
        coupons = tuple(slot_text(encode_slot(c)) for c in servicing.after.slots
                        if isinstance(c, SignedCoupon))
        record = servicing.event
        if record is not None and record.kind is not EventKind.BLOCKING:
            at = now if servicing.written else record.at
            return journal_event(record, number, uid, at=at, coupons=coupons)
        if record is not None:  # the blocked status written: the record is the BLOCKING's
            key = journal_event(record, number, uid).event_id.hex + "/check"
        else:
            key = f"{number.digits}/{uid.hex()}/{now.isoformat()}"
        serial = verdict.coupon.serial if verdict.ok and verdict.coupon is not None else None
        return JournalEvent(event_id=uuid.uuid5(EVENT_NAMESPACE, key), kind=self.check_kind,
                            at=now, card_number=number.digits, result=int(verdict.reason),
                            line=base.line, zone=base.zone, coupon_serial=serial,
                            coupons=coupons)

    def _settle(self, servicing: Servicing, items: dict[int, ActionItem],
                refused: dict[int, Refusal], base: TapOutcome, now: datetime) -> TapOutcome:
        number, uid = servicing.card_number, servicing.uid
        results = self._results(servicing.actions, items, refused)
        check = self._check_event(servicing, base, now)
        self.store.append_journal(check, now=now)
        record = servicing.event
        blocks = any(r.kind is ActionKind.WRITE_BLOCKED and r.state is ActionState.DONE
                     for r in results)
        if servicing.blocking and record is not None and not blocks:
            # the hotlist's doing, no action of the office's: journalled as a validator does
            self.store.append_journal(journal_event(record, number, uid, at=now), now=now)
        self._journal_actions(results, number, uid, now)
        found_block = (not servicing.written and record is not None
                       and record.kind is EventKind.BLOCKING)
        return replace(base, card_number=number, verdict=servicing.verdict,
                       from_office=servicing.from_office,
                       repeated=not servicing.written and record is not None,
                       blocked_written=servicing.blocking or found_block,
                       recorded=record is not None, image=servicing.after,
                       last_validation=servicing.last_validation, actions=results,
                       event_id=check.event_id)

    # --- the barcode fallback ---------------------------------------------------------------------

    def check_number(self, text: str) -> TapOutcome:
        """Judge the card number in ``text`` (from a scanner or typed) by the synced lists; a
        verdict is journalled (so that its outcome can be recorded), nothing is written."""
        checked = self.judge_number(text)
        outcome = checked.outcome
        if outcome.card_number is None or outcome.verdict is None:
            return outcome
        verdict = outcome.verdict
        name = f"{outcome.card_number.digits}/number/{outcome.at.isoformat()}"
        event = JournalEvent(event_id=uuid.uuid5(EVENT_NAMESPACE, name), kind=self.check_kind,
                             at=outcome.at, card_number=outcome.card_number.digits,
                             result=int(verdict.reason), line=outcome.line, zone=outcome.zone,
                             coupon_serial=verdict.coupon.serial if verdict.ok
                             and verdict.coupon is not None else None)
        self.store.append_journal(event, now=outcome.at)
        return replace(outcome, image=checked.image, event_id=event.event_id)

    # --- the inspector's outcome and the shift ----------------------------------------------------

    def record_outcome(self, check: TapOutcome, *, valid: bool, reason: Reason | None = None,
                       note: str | None = None) -> bool:
        """Journal what the inspector decided of ``check`` (a check with a verdict): valid, or
        invalid for ``reason`` (the verdict's by default; ``NOT_THE_HOLDER`` when the identity
        check failed, not for an anonymous card: :func:`may_be_someone_elses`), with a ``note``
        (a fine's number; never the holder's name).  One outcome per check: False if one is
        recorded already."""
        if check.event_id is None or check.card_number is None:
            raise InvalidField("an outcome is recorded for a check with a verdict")
        if valid and reason is not None and reason is not Reason.VALID:
            raise InvalidField("a valid outcome has no reason")
        if not valid:
            if reason is None:
                reason = (check.verdict.reason if check.verdict is not None
                          and not check.verdict.ok else None)
            if reason is None or reason is Reason.VALID:
                raise InvalidField("an invalid outcome needs its reason")
            if reason is Reason.NOT_THE_HOLDER and not may_be_someone_elses(check):
                raise InvalidField("an anonymous card is anyone's to carry: it cannot be "
                                   "someone else's card")
        text = None if note is None else " ".join(note.split()) or None
        now = self._clock()
        try:
            event = JournalEvent(event_id=_outcome_id(check.event_id),
                                 kind=self.check_kind, at=now,
                                 card_number=check.card_number.digits,
                                 result=0 if valid or reason is None else int(reason),
                                 line=check.line, zone=check.zone, note=text)
        except ValidationError as exc:
            raise InvalidField(f"the outcome cannot be journalled: {exc.errors()[0]['msg']}"
                               ) from None
        return self.store.append_journal(event, now=now)

    def shift(self, now: datetime | None = None) -> ShiftSummary:
        """The checks of the day of ``now`` (Prague; the engine's clock by default) from the
        terminal's journal."""
        now = now or self._clock()
        day = local_date(now)
        start = datetime.combine(day, time(0), PRAGUE)
        events = [e for e in self.store.journal_since(start - timedelta(hours=1))
                  if e.kind in CHECK_KINDS and local_date(e.at) == day]
        outcomes = {e.event_id: e for e in events}
        checks = [e for e in events if e.event_id not in
                  {_outcome_id(c.event_id) for c in events}]
        recorded = [outcomes[_outcome_id(c.event_id)] for c in checks
                    if _outcome_id(c.event_id) in outcomes]
        invalid = Counter(Reason(c.result) for c in checks if c.result != 0)
        hours = [0] * 24
        for c in checks:
            hours[to_local(c.at).hour] += 1
        lines = Counter(c.line for c in checks)
        return ShiftSummary(
            day=day, checks=len(checks), valid=sum(1 for c in checks if c.result == 0),
            invalid=tuple(invalid.most_common()),
            barcode=sum(1 for c in checks if c.coupons is None),
            recorded=len(recorded), recorded_invalid=sum(1 for r in recorded if r.result != 0),
            by_line=tuple(sorted(lines.items(), key=lambda kv: (-kv[1], kv[0] or 0))),
            per_hour=tuple(hours))

