"""What the kiosk shows, without a screen: the days a coupon still runs in both languages, the
timeline with its gaps and overlaps, which cards are shown and which get only what to do, and
that those say nothing of the holder's."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from ekarta.terminal.apps.kiosk_view import (
    Refused,
    card_view,
    days_left,
    loading_panel,
    progress_bar,
    refusal_panel,
    refused,
    timeline,
    welcome_panel,
)
from ekarta.terminal.outcome import Outcome, Progress
from ekarta.transit.model.values import CouponType, Reason
from tests.support.kiosk import (
    HOLDER_DATA,
    STUDENT,
    anonymous_card,
    full_card,
    kiosk_coupon,
    no_card,
    not_active,
    personal_card,
)

TODAY = date(2026, 12, 1)


def test_days_left_and_days_to_the_start_in_both_languages():
    running = kiosk_coupon(1, date(2026, 11, 20)).coupon  # to 19 December
    assert days_left(running, TODAY, "cs") == "zbývá 19 dní"
    assert days_left(running, TODAY, "en") == "19 days left"
    assert days_left(running, date(2026, 12, 16), "cs") == "zbývají 4 dny"
    assert days_left(running, date(2026, 12, 18), "cs") == "zbývají 2 dny"
    assert days_left(running, date(2026, 12, 19), "cs") == "platí dnes naposledy"
    assert days_left(running, TODAY, "cs", usable_to=date(2026, 12, 1)) == \
        "platí dnes naposledy"
    later = kiosk_coupon(2, date(2026, 12, 2)).coupon
    assert days_left(later, TODAY, "cs") == "začíná zítra"
    assert days_left(later, date(2026, 11, 27), "cs") == "začíná za 5 dní"
    assert days_left(later, date(2026, 11, 29), "en") == "starts in 3 days"


def test_the_timeline_draws_each_coupon_and_names_the_gaps_and_overlaps():
    first = kiosk_coupon(1, date(2026, 11, 20)).coupon  # to 19 Dec
    second = kiosk_coupon(2, date(2026, 12, 27)).coupon  # 27 Dec to 25 Jan
    third = kiosk_coupon(3, date(2027, 1, 20)).coupon  # 20 Jan to 18 Feb
    rows, notes = timeline((first, second, third), TODAY, "cs", width=46)
    header, *bars = rows
    assert header.split()[:2] == ["pro", "2026"] and "led 2027" in header and "úno" in header
    assert [bar[:4] for bar in bars] == [" 1. ", " 2. ", " 3. "]
    assert all(len(bar) == 4 + 46 for bar in bars)
    assert bars[0][4] == "█" and bars[1][4] == "·"  # today: the first runs, the second not yet
    assert [n.text for n in notes] == [
        "Bez kuponu od 20. 12. 2026 do 26. 12. 2026",
        "Kupony 2 a 3 se překrývají od 20. 1. 2027 do 25. 1. 2027"]


def test_the_timeline_spans_a_year_at_most_and_a_dog_s_coupon_fills_no_gap():
    yearly = kiosk_coupon(1, TODAY, kind=CouponType.YEARLY).coupon
    dog = kiosk_coupon(2, date(2027, 6, 1), kind=CouponType.DOG_30).coupon
    late = kiosk_coupon(3, date(2028, 2, 1)).coupon
    rows, notes = timeline((yearly, dog, late), TODAY, "en", width=40)
    assert rows[1][4:].startswith("█" * 36) and rows[1].endswith("·")  # 10 days a column
    # past the timeline's year: an arrow at its end says it comes later
    assert rows[3].endswith("·▶") and "█" not in rows[3]
    assert [n.text for n in notes] == ["No coupon from 1 December 2027 to 31 January 2028"]
    assert timeline((), TODAY, "cs") == ((), ())


def test_the_cards_shown_and_the_cards_that_get_what_to_do():
    assert refused(personal_card()) is None and refused(anonymous_card()) is None
    assert refused(full_card()) is None
    assert refused(not_active(Reason.CARD_BLOCKED)) is Refused.BLOCKED
    assert refused(not_active(Reason.CARD_EXPIRED)) is Refused.EXPIRED
    assert refused(not_active(Reason.CARD_NOT_ACTIVE)) is Refused.NOT_ACTIVE
    for kind, why in ((Outcome.NOT_A_TRANSIT_CARD, Refused.NOT_A_TRANSIT_CARD),
                      (Outcome.NOT_ISSUED, Refused.NOT_ISSUED),
                      (Outcome.UNREADABLE, Refused.UNREADABLE),
                      (Outcome.TAP_AGAIN, Refused.TAP_AGAIN)):
        assert refused(no_card(kind)) is why
    # a verdict without the card read (never from a kiosk's engine) shows nothing either
    assert refused(replace(personal_card(), image=None)) is Refused.UNREADABLE


@pytest.mark.parametrize("lang", ["cs", "en"])
@pytest.mark.parametrize("reason", [Reason.CARD_BLOCKED, Reason.CARD_EXPIRED,
                                    Reason.CARD_NOT_ACTIVE])
def test_a_card_not_active_says_what_to_do_and_nothing_of_the_holder(reason, lang):
    outcome = not_active(reason)
    panel = refusal_panel(refused(outcome), outcome, lang)
    shown = panel.headline + "\n" + "\n".join(line.text for line in panel.lines)
    assert not [secret for secret in HOLDER_DATA if secret in shown]
    assert ("Vojanova" in shown) and ("Husovo" in shown)


def test_an_active_card_shows_its_holder_profile_coupons_purse_events_and_actions():
    view = card_view(personal_card(), "cs")
    assert view.holder == "Žofie Quastová"
    facts = [line.text for line in view.facts]
    assert facts == ["E-karta 987 654 321 5 · osobní", "Platnost e-karty do 31. 8. 2031",
                     "Profil: žáci a studenti od 15 do 26 let, do 31. 8. 2027",
                     "E-peněženka: 150,50 Kč"]
    assert [(c.number, c.first, c.left, c.valid_now) for c in view.coupons] == [
        (1, "20. 11. 2026", "zbývá 19 dní", True), (2, "27. 12. 2026", "začíná za 26 dní", False)]
    assert [line.text for line in view.actions] == [
        "Nahráno nyní: 90denní kupon, zóny 1, 2, 27. 12. 2026 – 26. 3. 2027"]
    assert view.events[0].text == "30. 11. 2026 10:00  kontrola, zóna 2, linka 3"
    assert view.events[1].text.endswith("zamítnuto")
    anonymous = card_view(anonymous_card(), "en")
    assert anonymous.holder == "Anonymous card"
    assert anonymous.facts[0].text == "Card 555 000 111 3 · anonymous"


def test_a_full_card_shows_the_coupon_waiting_with_its_reason_and_the_credit():
    lines = [line.text for line in card_view(full_card(), "cs").actions]
    assert lines == ["Připsáno na e-peněženku: 200,00 Kč",
                     "Čeká v systému: roční kupon, všechny zóny, 1. 4. 2027 – 31. 3. 2028. "
                     "Na e-kartě není volné místo pro další kupon."]


def test_a_profile_that_ended_shows_the_fallback():
    outcome = personal_card()
    ended = replace(STUDENT, profile_end=date(2026, 11, 15))
    outcome = replace(outcome, image=replace(outcome.image, record=ended))
    assert card_view(outcome, "en").facts[2].text == (
        "Profile: adult non-transferable (the discounted profile ended on 15 November 2026)")


def test_the_welcome_and_the_loading():
    welcome = welcome_panel("cs", hide_after=20)
    assert welcome.headline == "Přiložte kartu" and welcome.lines[0].text == "Present your card"
    assert "po 20 s" in welcome.lines[-1].text
    loading = loading_panel(Progress(1, 3, "credit-purse 17"), "en")
    assert loading.headline == "LOADING"
    assert loading.lines[0].text == "Loading onto the card: e-purse credit (2 of 3)"
    assert progress_bar(1, 4, width=8) == "██░░░░░░" and progress_bar(0, 0, width=4) == "░░░░"
