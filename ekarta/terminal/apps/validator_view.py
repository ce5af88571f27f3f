"""What the driver's validator shows for a tap's outcome, in the language asked for, computed
from plain values (no UI toolkit).

The passenger reads the headline (green VALID, red INVALID or BLOCKED, amber when there is no
verdict) and the reason; the driver reads the rest: the profile, the coupon with its last day,
the zone, where the verdict's data came from and how old the lists are.  The pieces every
checking terminal shares are in :mod:`~ekarta.terminal.apps.checking_view`.
"""

from __future__ import annotations

from ekarta.terminal.apps.checking_view import (
    CHECKING_TEXTS,
    headline,
    no_verdict_panel,
    outcome_notes,
    where,
    zones_text,
)
from ekarta.terminal.apps.view import Line, Panel, Tone, say
from ekarta.terminal.outcome import Outcome, TapOutcome
from ekarta.transit.model.messages import coupon_type_name, format_date, profile_name
from ekarta.transit.model.values import SignedCoupon

__all__ = ["VALIDATOR_TEXTS", "outcome_panel", "tr"]

VALIDATOR_TEXTS: dict[str, tuple[str, str]] = CHECKING_TEXTS | {
    "coupon": ("Coupon: {coupon}, {zones}, until {date}", "Kupon: {coupon}, {zones}, do {date}"),
    "keys": ("F2 zone · F3 line · digits + Enter: card number",
             "F2 zóna · F3 linka · číslice + Enter: číslo karty"),
}
"""The validator's texts, by key: (English, Czech)."""


def tr(key: str, lang: str, /, **details: object) -> str:
    """The validator's text ``key`` in ``lang``."""
    return say(VALIDATOR_TEXTS, key, lang, **details)


def _coupon_line(signed: SignedCoupon, lang: str) -> str:
    coupon = signed.coupon
    return tr("coupon", lang, coupon=coupon_type_name(coupon.coupon_type, lang),
              zones=zones_text(coupon.zones, lang), date=format_date(coupon.valid_to, lang))


def outcome_panel(outcome: TapOutcome, lang: str, *, typed: str | None = None) -> Panel:
    """The panel for ``outcome`` in ``lang``; ``typed`` is the text a barcode check was given
    (repeated when it is refused)."""
    if outcome.outcome is not Outcome.VERDICT or outcome.verdict is None:
        return no_verdict_panel(outcome, lang, typed)
    verdict = outcome.verdict
    title, tone = headline(verdict, lang)
    lines = [Line(verdict.message(lang), Tone.PLAIN if verdict.ok else Tone.BAD)]
    lines.append(Line(tr("profile", lang, profile=profile_name(verdict.profile, lang))))
    if verdict.coupon is not None:
        lines.append(Line(_coupon_line(verdict.coupon, lang)))
    place = where(outcome, lang)
    if place is not None:
        lines.append(Line(place))
    if outcome.card_number is not None:
        lines.append(Line(tr("card number", lang, number=outcome.card_number.formatted)))
    lines.extend(outcome_notes(outcome, lang))
    return Panel(title, tone, tuple(lines))
