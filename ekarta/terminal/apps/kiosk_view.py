"""What the kiosk shows, computed from a check's outcome as plain values (no UI toolkit).

An active card gets a :class:`CardView`: the card (number, personal or anonymous, the holder's
name on a personal card, valid until), the profile and its end, every coupon valid now or later
with its details (:class:`CouponRow`), what the check loaded and what still waits at the office
(with the reason), the e-purse, the last events and a timeline of the coupons' periods over the
coming months (:func:`timeline`: gaps and overlaps at a glance).  Any other card (blocked,
expired, not active, not a transit card, not issued, unreadable) gets a :class:`Panel` that says
what to do next and where, and holds nothing of the holder's (:func:`refusal_panel`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from ekarta.sync.messages import ActionKind
from ekarta.terminal.apps.view import FRAME_TEXTS, Line, Panel, Tone, other_language, say
from ekarta.terminal.outcome import ActionResult, ActionState, Outcome, Progress, TapOutcome
from ekarta.transit.model.image import CardImage, SlotError
from ekarta.transit.model.messages import (
    Notice,
    coupon_type_name,
    format_amount,
    format_date,
    label,
    profile_name,
    text,
)
from ekarta.transit.model.notation import enum_name
from ekarta.transit.model.rules import effective_profile, profile_end, valid_or_future
from ekarta.transit.model.timecodec import local_date, to_local
from ekarta.transit.model.values import Coupon, EventRecord, Reason, Zones

__all__ = [
    "KIOSK_TEXTS",
    "CardView",
    "CouponRow",
    "Refused",
    "card_view",
    "days_left",
    "kiosk_tr",
    "loading_panel",
    "out_of_order_panel",
    "reading_panel",
    "refusal_panel",
    "refused",
    "timeline",
    "welcome_panel",
]

EVENTS_SHOWN = 5
"""How many of the card's newest events the kiosk lists."""
TIMELINE_WIDTH = 60
"""Columns of the timeline's bars."""
TIMELINE_DAYS = (92, 366)
"""The shortest and the longest stretch the timeline covers, from today."""

_CONTACT_POINTS = (
    "Contact points: Vojanova St., Husovo náměstí, Hrabůvka (Venuše shopping centre), Poruba "
    "(tram depot)",
    "Kontaktní místa: Vojanova ul., Husovo náměstí, Hrabůvka (nákupní centrum Venuše), Poruba "
    "(vozovna)")

KIOSK_TEXTS: dict[str, tuple[str, str]] = FRAME_TEXTS | {
    # the welcome, reading, loading, out of order
    "welcome hint": (
        "Shows the card's validity, its profile and its coupons, and loads the coupons paid "
        "at the office.",
        "Zobrazí platnost e-karty, profil a kupony a nahraje kupony zaplacené v systému."),
    "welcome hide": ("Hide the data with the Hide button; they also hide after {seconds} s.",
                     "Údaje skryjete tlačítkem Skrýt; samy se skryjí po {seconds} s."),
    "reading": ("Reading the card: leave it on the reader…",
                "Čtu e-kartu: nechte ji přiloženou…"),
    "loading": ("LOADING", "NAHRÁVÁM"),
    "loading what": ("Loading onto the card: {step} ({done} of {total})",
                     "Nahrávám na e-kartu: {step} ({done} z {total})"),
    "leave it": ("Leave the card on the reader.", "Nechte e-kartu přiloženou."),
    "step load-coupon": ("coupon {serial}", "kupon {serial}"),
    "step credit-purse": ("e-purse credit", "dobití e-peněženky"),
    "step commit": ("saving", "ukládám"),
    "step other": ("{step}", "{step}"),
    "out of order": ("OUT OF ORDER", "MIMO PROVOZ"),
    "out of order line": ("This terminal is out of order for now.",
                          "Terminál je dočasně mimo provoz."),
    "fault": ("Fault: {detail}", "Porucha: {detail}"),
    "keys": ("Esc hide", "Esc skrýt"),
    "hide": ("HIDE", "SKRÝT"),
    "hides by itself": ("The data hide by themselves after {seconds} s.",
                        "Údaje se samy skryjí po {seconds} s."),
    "col coupon": ("Coupon", "Kupon"),
    "col zones": ("Zones", "Zóny"),
    "col period": ("Valid", "Platnost"),
    "col left": ("", ""),
    "col profile": ("Profile", "Profil"),
    # the card
    "anonymous card": ("Anonymous card", "Anonymní e-karta"),
    "card personal": ("Card {number} · personal", "E-karta {number} · osobní"),
    "card anonymous": ("Card {number} · anonymous", "E-karta {number} · anonymní"),
    "valid until": ("The card is valid until {date}", "Platnost e-karty do {date}"),
    "profile": ("Profile: {profile}", "Profil: {profile}"),
    "profile until": ("Profile: {profile}, until {date}", "Profil: {profile}, do {date}"),
    "profile ended": ("Profile: {profile} (the discounted profile ended on {date})",
                      "Profil: {profile} (zlevněný profil skončil {date})"),
    "purse": ("E-purse: {amount}", "E-peněženka: {amount}"),
    "coupons": ("Coupons valid now and later", "Kupony platné nyní a budoucí"),
    "no coupons": ("No coupon on the card is valid now or later.",
                   "Na e-kartě není žádný kupon platný nyní ani v budoucnu."),
    "zones": ("zones {zones}", "zóny {zones}"),
    "network": ("all zones", "všechny zóny"),
    "until card expiry": ("with this card until {date}", "s touto e-kartou do {date}"),
    "loaded": ("Loaded now: {what}", "Nahráno nyní: {what}"),
    "credited": ("Credited to the e-purse now: {amount}", "Připsáno na e-peněženku: {amount}"),
    "waiting": ("Waiting at the office: {what}. {why}", "Čeká v systému: {what}. {why}"),
    "waiting credit": ("e-purse credit {amount}", "dobití e-peněženky {amount}"),
    "cannot now": ("It cannot be loaded now.", "Nyní jej nelze nahrát."),
    "torn": ("The card was taken away while loading: place it again.",
             "E-karta byla oddálena během nahrávání: přiložte ji znovu."),
    "timeline": ("Coupons over the coming months", "Kupony v příštích měsících"),
    "gap": ("No coupon from {first} to {last}", "Bez kuponu od {first} do {last}"),
    "overlap": ("Coupons {which} overlap from {first} to {last}",
                "Kupony {which} se překrývají od {first} do {last}"),
    "events": ("Last events", "Poslední události"),
    "no events": ("No events on the card.", "Na e-kartě nejsou žádné události."),
    "event unreadable": ("a record that cannot be read", "nečitelný záznam"),
    "event zone": ("zone {zone}", "zóna {zone}"),
    "event line": ("line {line}", "linka {line}"),
    "event refused": ("refused", "zamítnuto"),
    "last day": ("last day today", "platí dnes naposledy"),
    "starts tomorrow": ("starts tomorrow", "začíná zítra"),
    # the cards the kiosk shows nothing of
    "blocked": ("BLOCKED", "BLOKOVÁNA"),
    "expired": ("EXPIRED", "PROŠLÁ"),
    "not active": ("NOT ACTIVE", "NEAKTIVNÍ"),
    "unknown card": ("UNKNOWN", "NEZNÁMÁ"),
    "not issued": ("NOT ISSUED", "NEVYDANÁ"),
    "unreadable": ("UNREADABLE", "NEČITELNÁ"),
    "again": ("AGAIN", "ZNOVU"),
    "blocked what": (
        "Only the specialised workplace at Vojanova St. unblocks a card (for a fee); a lost "
        "card is replaced at a contact point.",
        "Odblokování provádí jen specializované pracoviště na Vojanově ul. (za poplatek); "
        "náhradní e-kartu vyřídíte na kontaktním místě."),
    "expired what": (
        "Apply for a new card in the e-shop or at a contact point; its coupons are moved to the "
        "new card.",
        "Požádejte o novou e-kartu na e-shopu nebo na kontaktním místě; kupony se na ni "
        "převedou."),
    "not active what": (
        "A card sent by post is activated by its holder in the e-shop: then place it here "
        "again. A card collected at a contact point is activated at the counter.",
        "E-kartu zaslanou poštou aktivujete po přihlášení na e-shopu a pak ji přiložte znovu. "
        "E-kartu převzatou na kontaktním místě aktivuje pracovník na přepážce."),
    "unknown what": ("Place a transit e-card of this operator on the reader.",
                     "Přiložte e-kartu tohoto dopravce."),
    "not issued why": ("Issuing this card was not finished.",
                       "Vydání této e-karty nebylo dokončeno."),
    "not issued what": ("The card must be issued at a contact point.",
                        "E-kartu je nutné vydat na kontaktním místě."),
    "unreadable why": ("The card's chip cannot be read.", "Čip e-karty nelze přečíst."),
    "unreadable what": (
        "Place it again and leave it still. If it keeps failing, a contact point takes the "
        "complaint.",
        "Přiložte ji znovu a nechte ji v klidu. Pokud se to opakuje, reklamaci vyřídí "
        "kontaktní místo."),
    "again what": ("Leave it on the reader until its data appear.",
                   "Nechte ji přiloženou, dokud se neobjeví údaje."),
    "bring card": (
        "Bring the card, the card's issue confirmation (Potvrzení o vydání e-karty) and an "
        "identity document.",
        "S sebou: e-kartu, Potvrzení o vydání e-karty a osobní doklad."),
    "bring id": ("Bring an identity document and the card's issue confirmation.",
                 "S sebou: osobní doklad a Potvrzení o vydání e-karty."),
    "contact points": (_CONTACT_POINTS[0] + ".", _CONTACT_POINTS[1] + "."),
}
"""The kiosk's texts, by key: (English, Czech)."""

_MONTHS = (("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
           ("led", "úno", "bře", "dub", "kvě", "čvn", "čvc", "srp", "zář", "říj", "lis", "pro"))


def kiosk_tr(key: str, lang: str, /, **details: object) -> str:
    """The kiosk's text ``key`` in ``lang``."""
    return say(KIOSK_TEXTS, key, lang, **details)


# --- the screens without a card -------------------------------------------------------------------


def welcome_panel(lang: str, *, hide_after: float) -> Panel:
    """The screen between cards: "present your card" in ``lang`` big, in the other below, and
    what the kiosk does."""
    return Panel(kiosk_tr("present card", lang), Tone.PLAIN, (
        Line(kiosk_tr("present card", other_language(lang))),
        Line(""),
        Line(kiosk_tr("welcome hint", lang)),
        Line(kiosk_tr("welcome hide", lang, seconds=f"{hide_after:g}"))))


def reading_panel(lang: str) -> Panel:
    return Panel("...", Tone.PLAIN, (Line(kiosk_tr("reading", lang)),))


def _step(step: str, lang: str) -> str:
    kind, _, rest = step.partition(" ")
    key = f"step {kind}"
    if key not in KIOSK_TEXTS:
        return kiosk_tr("step other", lang, step=step)
    return kiosk_tr(key, lang, serial=rest)


def progress_bar(done: int, total: int, width: int = 30) -> str:
    """``done`` of ``total`` as a bar of ``width`` cells."""
    filled = 0 if total <= 0 else round(width * min(max(done, 0), total) / total)
    return "█" * filled + "░" * (width - filled)


def loading_panel(progress: Progress, lang: str) -> Panel:
    """While the check writes what the office left for the card."""
    return Panel(kiosk_tr("loading", lang), Tone.WARN, (
        Line(kiosk_tr("loading what", lang, step=_step(progress.step, lang),
                      done=min(progress.done + 1, progress.total), total=progress.total)),
        Line(progress_bar(progress.done, progress.total)),
        Line(kiosk_tr("leave it", lang), Tone.WARN)))


def out_of_order_panel(lang: str, detail: str | None = None) -> Panel:
    lines = [Line(kiosk_tr("out of order line", lang)),
             Line(kiosk_tr("out of order line", other_language(lang)))]
    if detail:
        lines.append(Line(kiosk_tr("fault", lang, detail=detail), Tone.WARN))
    return Panel(kiosk_tr("out of order", lang), Tone.BAD, tuple(lines))


# --- the cards the kiosk shows nothing of ---------------------------------------------------------


class Refused(StrEnum):
    """Why the kiosk shows no card data."""

    BLOCKED = "blocked"
    EXPIRED = "expired"
    NOT_ACTIVE = "not-active"
    NOT_A_TRANSIT_CARD = "not-a-transit-card"
    NOT_ISSUED = "not-issued"
    UNREADABLE = "unreadable"
    TAP_AGAIN = "tap-again"


_REFUSED_BY_REASON = {Reason.CARD_BLOCKED: Refused.BLOCKED, Reason.CARD_EXPIRED: Refused.EXPIRED,
                      Reason.CARD_NOT_ACTIVE: Refused.NOT_ACTIVE}
_REFUSED_BY_OUTCOME = {Outcome.NOT_A_TRANSIT_CARD: Refused.NOT_A_TRANSIT_CARD,
                       Outcome.NOT_ISSUED: Refused.NOT_ISSUED,
                       Outcome.UNREADABLE: Refused.UNREADABLE,
                       Outcome.REFUSED_NUMBER: Refused.UNREADABLE,
                       Outcome.TAP_AGAIN: Refused.TAP_AGAIN}


def refused(outcome: TapOutcome) -> Refused | None:
    """Why ``outcome`` shows no card data; None for an active card the kiosk shows."""
    if outcome.outcome is not Outcome.VERDICT:
        return _REFUSED_BY_OUTCOME.get(outcome.outcome, Refused.UNREADABLE)
    if outcome.verdict is None or outcome.image is None:
        return Refused.UNREADABLE
    return _REFUSED_BY_REASON.get(outcome.verdict.reason)


def refusal_panel(why: Refused, outcome: TapOutcome, lang: str) -> Panel:
    """What a card the kiosk shows nothing of gets: what is wrong, what to do and where, with
    nothing of the holder's (the expiry date at most)."""
    verdict = outcome.verdict
    if why is Refused.BLOCKED:
        head, lines = "blocked", [text(Reason.CARD_BLOCKED, lang), kiosk_tr("blocked what", lang),
                                  kiosk_tr("bring card", lang)]
    elif why is Refused.EXPIRED:
        when = verdict.date if verdict is not None and verdict.date is not None else None
        first = text(Reason.CARD_EXPIRED, lang, date=when) if when is not None else ""
        head, lines = "expired", [first, kiosk_tr("expired what", lang),
                                  kiosk_tr("bring id", lang)]
    elif why is Refused.NOT_ACTIVE:
        head, lines = "not active", [text(Reason.CARD_NOT_ACTIVE, lang),
                                     kiosk_tr("not active what", lang),
                                     kiosk_tr("bring id", lang)]
    elif why is Refused.NOT_A_TRANSIT_CARD:
        head, lines = "unknown card", [text(Notice.NOT_A_TRANSIT_CARD, lang),
                                       kiosk_tr("unknown what", lang)]
    elif why is Refused.NOT_ISSUED:
        head, lines = "not issued", [kiosk_tr("not issued why", lang),
                                     kiosk_tr("not issued what", lang),
                                     kiosk_tr("bring card", lang)]
    elif why is Refused.TAP_AGAIN:
        return Panel(kiosk_tr("again", lang), Tone.WARN, (
            Line(text(Notice.TAP_AGAIN, lang), Tone.WARN), Line(kiosk_tr("again what", lang))))
    else:
        head, lines = "unreadable", [kiosk_tr("unreadable why", lang),
                                     kiosk_tr("unreadable what", lang),
                                     kiosk_tr("bring card", lang)]
    tone = Tone.BAD if why in (Refused.BLOCKED, Refused.EXPIRED) else Tone.WARN
    shown = [Line(lines[0], tone)] if lines[0] else []
    shown += [Line(line) for line in lines[1:]]
    shown.append(Line(kiosk_tr("contact points", lang)))
    return Panel(kiosk_tr(head, lang), tone, tuple(shown))


# --- an active card -------------------------------------------------------------------------------


@dataclass(frozen=True)
class CouponRow:
    """One coupon valid now or later, as the kiosk lists it."""

    number: int
    """Its place in the list (the timeline's rows are numbered alike)."""
    kind: str
    profile: str
    zones: str
    first: str
    last: str
    left: str
    """How many days it still runs, or when it starts."""
    valid_now: bool
    note: str = ""
    """When the card's expiry cuts it short."""


@dataclass(frozen=True)
class CardView:
    """Everything the kiosk shows of an active card."""

    holder: str
    """The holder's name on a personal card; "Anonymous card" on another."""
    facts: tuple[Line, ...]
    """The card's number and kind, its expiry, the profile, the e-purse."""
    coupons: tuple[CouponRow, ...]
    coupons_title: str
    no_coupons: str
    """Said in place of the coupons when there are none."""
    actions: tuple[Line, ...]
    """What the check loaded, and what waits at the office and why."""
    timeline_title: str
    timeline: tuple[str, ...]
    timeline_notes: tuple[Line, ...]
    events_title: str
    events: tuple[Line, ...]


def _plural_days(count: int, lang: str) -> str:
    if lang == "en":
        return f"{count} day" if count == 1 else f"{count} days"
    if count == 1:
        return "1 den"
    return f"{count} dny" if 2 <= count <= 4 else f"{count} dní"


def days_left(coupon: Coupon, today: date, lang: str, *, usable_to: date | None = None) -> str:
    """How long a coupon still runs from ``today`` (days included), or when it starts."""
    last = min(coupon.valid_to, usable_to) if usable_to is not None else coupon.valid_to
    if coupon.valid_from > today:
        wait = (coupon.valid_from - today).days
        if wait == 1:
            return kiosk_tr("starts tomorrow", lang)
        return f"starts in {_plural_days(wait, lang)}" if lang == "en" else \
            f"začíná za {_plural_days(wait, lang)}"
    left = (last - today).days + 1
    if left <= 1:
        return kiosk_tr("last day", lang)
    if lang == "en":
        return f"{_plural_days(left, lang)} left"
    verb = "zbývají" if 2 <= left <= 4 else "zbývá"
    return f"{verb} {_plural_days(left, lang)}"


def zones_text(zones: Zones, lang: str) -> str:
    if zones.network:
        return kiosk_tr("network", lang)
    return kiosk_tr("zones", lang, zones=", ".join(str(z) for z in zones.numbers))


def _coupon_rows(coupons: tuple[Coupon, ...], image: CardImage, today: date,
                 lang: str) -> tuple[CouponRow, ...]:
    expiry = image.record.expiry
    rows = []
    for number, coupon in enumerate(coupons, start=1):
        note = kiosk_tr("until card expiry", lang, date=format_date(expiry, lang)) \
            if coupon.valid_to > expiry else ""
        rows.append(CouponRow(
            number, coupon_type_name(coupon.coupon_type, lang),
            profile_name(coupon.profile, lang), zones_text(coupon.zones, lang),
            format_date(coupon.valid_from, lang), format_date(coupon.valid_to, lang),
            days_left(coupon, today, lang, usable_to=expiry), coupon.valid_from <= today, note))
    return tuple(rows)


def _facts(image: CardImage, today: date, lang: str) -> tuple[Line, ...]:
    record = image.record
    number = record.card_number.formatted
    facts = [Line(kiosk_tr("card personal" if record.personal else "card anonymous", lang,
                           number=number)),
             Line(kiosk_tr("valid until", lang, date=format_date(record.expiry, lang)))]
    end = profile_end(record)
    profile = effective_profile(record, today)
    if end is not None and profile is not record.profile:
        facts.append(Line(kiosk_tr("profile ended", lang, profile=profile_name(profile, lang),
                                   date=format_date(end, lang)), Tone.WARN))
    elif end is not None:
        facts.append(Line(kiosk_tr("profile until", lang, profile=profile_name(profile, lang),
                                   date=format_date(end, lang))))
    else:
        facts.append(Line(kiosk_tr("profile", lang, profile=profile_name(profile, lang))))
    if image.purse is not None:
        facts.append(Line(kiosk_tr("purse", lang, amount=format_amount(image.purse, lang))))
    return tuple(facts)


def _coupon_words(coupon: Coupon, lang: str) -> str:
    return (f"{coupon_type_name(coupon.coupon_type, lang)}, {zones_text(coupon.zones, lang)}, "
            f"{format_date(coupon.valid_from, lang)} – {format_date(coupon.valid_to, lang)}")


def _refusal_words(reason: Reason | None, lang: str) -> str:
    if reason is None:
        return kiosk_tr("cannot now", lang)
    try:
        return text(reason, lang)
    except (KeyError, IndexError):  # a message that needs details the action does not carry
        return kiosk_tr("cannot now", lang)


def _action_lines(actions: tuple[ActionResult, ...], lang: str) -> tuple[Line, ...]:
    lines = []
    for action in actions:
        if action.kind is ActionKind.LOAD_COUPON:
            what = _coupon_words(action.coupon.coupon, lang) if action.coupon is not None \
                else kiosk_tr("step load-coupon", lang, serial=action.serial or "")
        elif action.kind is ActionKind.CREDIT_PURSE:
            what = kiosk_tr("waiting credit", lang, amount=format_amount(action.amount or 0, lang))
        else:
            continue  # the card's own changes (profile, activation) show in its facts
        if action.state in (ActionState.DONE, ActionState.FOUND):
            if action.kind is ActionKind.CREDIT_PURSE:
                lines.append(Line(kiosk_tr("credited", lang,
                                           amount=format_amount(action.amount or 0, lang)),
                                  Tone.GOOD))
            else:
                lines.append(Line(kiosk_tr("loaded", lang, what=what), Tone.GOOD))
        elif action.state is ActionState.WAITING:
            why = action.refused.message(lang) if action.refused is not None \
                else _refusal_words(action.refusal, lang)
            lines.append(Line(kiosk_tr("waiting", lang, what=what, why=why), Tone.WARN))
    if any(a.state is ActionState.TORN for a in actions):
        lines.append(Line(kiosk_tr("torn", lang), Tone.WARN))
    return tuple(lines)


def _event_line(event: EventRecord | SlotError, lang: str) -> Line:
    if isinstance(event, SlotError):
        return Line(kiosk_tr("event unreadable", lang), Tone.WARN)
    local = to_local(event.at)
    parts = [label(enum_name(event.kind), lang)]
    if event.zone is not None:
        parts.append(kiosk_tr("event zone", lang, zone=event.zone))
    if event.line is not None:
        parts.append(kiosk_tr("event line", lang, line=event.line))
    refused_event = event.result is not Reason.VALID
    if refused_event:
        parts.append(kiosk_tr("event refused", lang))
    when = f"{format_date(local.date(), lang)} {local:%H:%M}"
    return Line(f"{when}  {', '.join(parts)}", Tone.WARN if refused_event else Tone.PLAIN)


def _events(image: CardImage, lang: str) -> tuple[Line, ...]:
    def order(event: EventRecord | SlotError) -> int:
        return event.sequence if isinstance(event, EventRecord) else -1

    newest = sorted(image.events, key=order, reverse=True)[:EVENTS_SHOWN]
    return tuple(_event_line(event, lang) for event in newest)


def card_view(outcome: TapOutcome, lang: str) -> CardView:
    """What the kiosk shows of an active card (``outcome.image`` must be there: see
    :func:`refused`)."""
    image = outcome.image
    if image is None:
        raise ValueError("the outcome holds no card to show")
    today = local_date(outcome.at)
    record = image.record
    holder = f"{record.first_name} {record.surname}" if record.personal else \
        kiosk_tr("anonymous card", lang)
    coupons = tuple(sorted(valid_or_future(image.slots, today),
                           key=lambda c: (c.valid_from, c.valid_to, c.serial)))
    lines, notes = timeline(coupons, today, lang)
    return CardView(
        holder=holder, facts=_facts(image, today, lang),
        coupons=_coupon_rows(coupons, image, today, lang),
        coupons_title=kiosk_tr("coupons", lang), no_coupons=kiosk_tr("no coupons", lang),
        actions=_action_lines(outcome.actions, lang),
        timeline_title=kiosk_tr("timeline", lang), timeline=lines, timeline_notes=notes,
        events_title=kiosk_tr("events", lang), events=_events(image, lang))


# --- the timeline ---------------------------------------------------------------------------------


def _span(coupons: tuple[Coupon, ...], today: date, width: int) -> int:
    """Days one column of the timeline stands for."""
    last = max((c.valid_to for c in coupons), default=today)
    days = min(max((last - today).days + 1, TIMELINE_DAYS[0]), TIMELINE_DAYS[1])
    return max(1, math.ceil(days / width))


def _month_header(today: date, step: int, width: int, lang: str) -> str:
    names = _MONTHS[0 if lang == "en" else 1]
    cells = [" "] * width
    taken = -1
    for column in range(width):
        first = today + timedelta(days=column * step)
        last = first + timedelta(days=step - 1)
        if column == 0:
            day = first
        elif first.day == 1 or first.month != last.month:
            day = date(last.year, last.month, 1)
        else:
            continue
        name = names[day.month - 1]
        if day.month == 1 or column == 0:
            name += f" {day.year}"
        if column <= taken or column + len(name) > width:
            continue
        cells[column:column + len(name)] = name
        taken = column + len(name)
    return "".join(cells)


def _periods(days: list[date]) -> list[tuple[date, date]]:
    """The runs of consecutive days in ``days`` (in order), as (first, last)."""
    runs: list[tuple[date, date]] = []
    for day in days:
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def timeline(coupons: tuple[Coupon, ...], today: date, lang: str, *,
             width: int = TIMELINE_WIDTH) -> tuple[tuple[str, ...], tuple[Line, ...]]:
    """The coupons' periods from ``today`` over the coming months: a header of months and one
    bar per coupon (numbered as the coupons are listed; ``█`` the days it runs), and notes of
    the gaps and overlaps between the holder's coupons (dog coupons aside) up to the last
    day any runs.  Nothing when there are no coupons."""
    if not coupons:
        return (), ()
    step = _span(coupons, today, width)
    horizon = today + timedelta(days=width * step - 1)
    rows = [f"    {_month_header(today, step, width, lang)}"]
    for number, coupon in enumerate(coupons, start=1):
        cells = []
        for column in range(width):
            first = today + timedelta(days=column * step)
            last = first + timedelta(days=step - 1)
            cells.append("█" if coupon.valid_from <= last and coupon.valid_to >= first
                         else "·")
        if coupon.valid_to > horizon:
            cells[-1] = "▶"
        rows.append(f"{number:>2}. {''.join(cells)}")
    return tuple(rows), _gaps_and_overlaps(coupons, today, lang)


def _gaps_and_overlaps(coupons: tuple[Coupon, ...], today: date,
                       lang: str) -> tuple[Line, ...]:
    numbered = [(n, c) for n, c in enumerate(coupons, start=1) if not c.coupon_type.dog]
    if not numbered:
        return ()
    end = max(c.valid_to for _, c in numbered)
    gaps: list[date] = []
    overlaps: dict[tuple[int, ...], list[date]] = {}
    day = today
    while day <= end:
        running = tuple(n for n, c in numbered if c.valid_from <= day <= c.valid_to)
        if not running:
            gaps.append(day)
        elif len(running) > 1:
            overlaps.setdefault(running, []).append(day)
        day += timedelta(days=1)
    notes = [Line(kiosk_tr("gap", lang, first=format_date(first, lang),
                           last=format_date(last, lang)), Tone.WARN)
             for first, last in _periods(gaps)]
    for which, days in overlaps.items():
        joined = ", ".join(str(n) for n in which[:-1]) + (" and " if lang == "en" else " a ") \
            + str(which[-1])
        notes.extend(Line(kiosk_tr("overlap", lang, which=joined, first=format_date(first, lang),
                                   last=format_date(last, lang)))
                     for first, last in _periods(days))
    return tuple(notes)
