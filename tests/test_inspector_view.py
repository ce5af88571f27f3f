"""What the inspector's handheld says, without a UI toolkit: a check's panel (the verdict, the
holder, the coupons and the office's actions, the last validation), the writing's progress, the
recorded outcome, the note and the shift's summary with its chart, in both languages."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from ekarta.sync.messages import ActionKind
from ekarta.terminal.apps.inspector_view import (
    INSPECTOR_TEXTS,
    REASON_CHOICES,
    Recorded,
    check_panel,
    clean_note,
    form_title,
    hour_chart,
    reason_label,
    recorded_text,
    shift_lines,
    writing_panel,
)
from ekarta.terminal.apps.view import Line, Tone
from ekarta.terminal.inspect import ShiftSummary
from ekarta.terminal.outcome import ActionResult, ActionState, Outcome, Progress, Source
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.image import SlotError, SlotErrorKind
from ekarta.transit.model.messages import LANGUAGES
from ekarta.transit.model.rules import Refusal
from ekarta.transit.model.values import (
    CardKind,
    CardRecord,
    CardStatus,
    Money,
    Profile,
    Reason,
)
from tests.support.outcomes import (
    COUPON,
    ENDED,
    HOLDER,
    OFFICE,
    SHIFT,
    VERDICT_REASONS,
    checked,
    load,
    no_verdict,
)


def texts(panel) -> list[str]:
    return [line.text for line in panel.lines]


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("reason", VERDICT_REASONS)
def test_every_verdict_comes_first_then_the_holder_the_profile_and_the_coupons(
        reason: Reason, lang: str) -> None:
    check = checked(reason)
    panel = check_panel(check, lang)
    assert check.verdict is not None
    expected = {Reason.VALID: ("VALID", "PLATNÁ"), Reason.CARD_BLOCKED: ("BLOCKED", "BLOKOVÁNA")
                }.get(reason, ("INVALID", "NEPLATNÁ"))
    assert panel.headline == expected[LANGUAGES.index(lang)]
    lines = texts(panel)
    assert lines[0] == check.verdict.message(lang)
    assert lines[1].startswith("Xaverína Quendlová")
    assert lines[2].startswith(("Profile: ", "Profil: "))
    assert lines[-1].startswith(("Last validation: ", "Poslední odbavení: "))
    assert not any("{" in line or "None" in line for line in lines)


def test_the_holder_the_profile_the_coupons_and_the_last_validation_in_czech() -> None:
    panel = check_panel(checked(), "cs")
    assert texts(panel) == [
        "Platí do 19. 12. 2026.",
        "Xaverína Quendlová, nar. 17. 3. 2007 · E-karta 123 456 789 4",
        "Profil: žáci a studenti od 15 do 26 let, do 31. 8. 2027",
        "30denní kupon, zóny 1, 2, 21. 10. 2026 – 19. 11. 2026 · skončil",
        "30denní kupon, zóny 1, 2, 20. 11. 2026 – 19. 12. 2026 · platí",
        "Poslední odbavení: 1. 12. 2026 08:42, linka 14, zóna 1",
    ]
    # the coupon that decided the verdict is in the verdict's colour
    assert [line.tone for line in panel.lines[3:5]] == [Tone.PLAIN, Tone.GOOD]
    assert texts(check_panel(checked(), "en"))[4] == (
        "30-day coupon, zones 1, 2, 20 November 2026 – 19 December 2026 · valid")


def test_an_anonymous_card_a_profile_without_end_and_no_validation_yet() -> None:
    anonymous = CardRecord(HOLDER.card_number, CardKind.ANONYMOUS, CardStatus.ACTIVE,
                           date(2030, 12, 31), Profile.ADULT_TRANSFERABLE)
    lines = texts(check_panel(checked(Reason.NO_COUPON, slots=(), record=anonymous,
                                      last_validation=None), "en"))
    assert lines[1:] == ["Anonymous card · Card 123 456 789 4", "Profile: adult transferable",
                         "No coupon on the card", "Last validation: none on the card"]


def test_the_coupons_loaded_now_and_the_office_s_that_wait_say_so() -> None:
    check = checked(slots=(COUPON, OFFICE, SlotError(2, SlotErrorKind.CORRUPT, "checksum")),
                    actions=(load(OFFICE, ActionState.DONE),
                             load(ENDED, ActionState.WAITING, action_id=32,
                                  refusal=Reason.NO_FREE_SLOT),
                             ActionResult(33, ActionKind.CREDIT_PURSE, ActionState.FOUND,
                                          serial=17, amount=15050),
                             ActionResult(34, ActionKind.UPDATE_PROFILE, ActionState.WAITING,
                                          refusal=Reason.CARD_BLOCKED,
                                          refused=Refusal.of(Reason.CARD_BLOCKED)),
                             ActionResult(35, ActionKind.ACTIVATE, ActionState.DONE)))
    panel = check_panel(check, "cs")
    lines = {line.text: line.tone for line in panel.lines}
    assert "90denní kupon, zóny 1, 2, 3, 20. 12. 2026 – 19. 3. 2027 · budoucí · nahráno nyní" \
        in lines
    assert lines["Místo 3: nelze přečíst"] is Tone.WARN
    assert lines["30denní kupon, zóny 1, 2, 21. 10. 2026 – 19. 11. 2026 · čeká v systému: Na "
                 "e-kartě není volné místo pro další kupon"] is Tone.WARN
    assert "Dobití e-peněženky 150,50 Kč · již provedeno" in lines
    assert "Změna profilu · čeká v systému: E-karta je zablokována" in lines
    assert "Aktivace · provedeno nyní" in lines
    en = texts(check_panel(check, "en"))
    assert "E-purse credit 150.50 CZK · already done" in en


def test_a_waiting_action_says_why_in_the_refusal_s_words() -> None:
    refused = Refusal.of(Reason.PURSE_LIMIT_EXCEEDED, limit=Money(300000),
                         balance=Money(290000), amount=Money(20000))
    check = checked(actions=(
        ActionResult(36, ActionKind.CREDIT_PURSE, ActionState.WAITING, serial=17, amount=20000,
                     refusal=refused.reason, refused=refused),
        # only the reason at hand: its message if it needs no more, else its name
        ActionResult(37, ActionKind.LOAD_COUPON, ActionState.WAITING, serial=4401,
                     refusal=Reason.OPERATION_SERIAL_USED),
        ActionResult(38, ActionKind.LOAD_COUPON, ActionState.WAITING, serial=4400,
                     refusal=Reason.TOO_MANY_COUPONS),
        ActionResult(39, ActionKind.LOAD_COUPON, ActionState.WAITING, serial=4402)))
    lines = texts(check_panel(check, "en"))
    assert "E-purse credit 200.00 CZK · waiting at the office: The e-purse can hold at most " \
        "3000.00 CZK: it holds 2900.00 CZK, so 200.00 CZK cannot be added" in lines
    assert "Loading coupon 4401 · waiting at the office: Operation serial 4401 was already " \
        "used on this card for another operation" in lines
    assert "Loading coupon 4400 · waiting at the office: too-many-coupons" in lines
    assert "Loading coupon 4402 · waiting at the office: ?" in lines


def test_a_barcode_check_is_marked_and_names_no_holder() -> None:
    placeholder = replace(HOLDER, first_name="-", surname="-", birth_date=None)
    check = checked(source=Source.BARCODE, last_validation=None, recorded=False,
                    image=replace(checked().image, record=placeholder))
    lines = texts(check_panel(check, "cs"))
    assert lines[1:3] == ["Podle čárového kódu, data aktuální k 1. 12. 2026 07:55.",
                          "Osobní e-karta: jméno ověřte na kartě · E-karta 123 456 789 4"]
    assert not any(line.startswith("Poslední odbavení") for line in lines)
    unknown = checked(Reason.NO_COUPON, source=Source.BARCODE, image=None, last_validation=None)
    assert texts(check_panel(unknown, "en"))[2:4] == [
        "Card 123 456 789 4", "Profile: pupils and students 15 to 26"]


def test_without_a_verdict_the_torn_actions_are_told_too() -> None:
    torn = no_verdict(Outcome.TAP_AGAIN, actions=(load(OFFICE, ActionState.TORN),))
    panel = check_panel(torn, "en")
    assert panel.headline == "AGAIN" and panel.tone is Tone.WARN
    assert panel.lines[-1].text.endswith("· writing interrupted: tap the card again")
    refused = check_panel(no_verdict(Outcome.REFUSED_NUMBER), "cs", typed="12\x1b[2J")
    assert texts(refused) == ["Není číslo e-karty: 12?[2J (nesouhlasí kontrolní číslice)."]


def test_the_recorded_outcome_comes_under_the_verdict() -> None:
    panel = check_panel(checked(Reason.NO_COUPON), "cs",
                        recorded=Recorded(valid=False, reason=Reason.NO_COUPON, note="P-1"))
    # right under the verdict: the card's details may run longer than the screen
    assert panel.lines[1] == Line("Zaznamenáno: neplatná, bez kuponu; poznámka: P-1", Tone.GOOD)
    assert recorded_text(Recorded(valid=True), "en") == "Recorded: valid"


def test_the_writing_shows_how_far_it_has_come() -> None:
    panel = writing_panel(Progress(1, 3, "load-coupon 4300"), "cs")
    assert panel.headline == "ZÁPIS" and panel.tone is Tone.WARN
    assert texts(panel) == ["Nechte e-kartu přiloženou",
                            "█" * 10 + "░" * 20 + " 1 z 3", "Nahrávám kupon 4300"]
    assert texts(writing_panel(Progress(3, 3, "commit"), "en"))[1:] == [
        "█" * 30 + " 3 of 3", "Committing"]
    assert texts(writing_panel(Progress(0, 0, "something new"), "en"))[2] == "something new"


def test_the_form_s_title_reasons_and_note() -> None:
    assert form_title(checked(Reason.NO_COUPON), "cs") == (
        "Výsledek kontroly: NEPLATNÁ · 123 456 789 4")
    assert len(REASON_CHOICES) == 11 and Reason.VALID not in REASON_CHOICES
    assert set(REASON_CHOICES) == set(VERDICT_REASONS) - {Reason.VALID} | {Reason.NOT_THE_HOLDER}
    for lang in LANGUAGES:
        labels = [reason_label(reason, lang) for reason in REASON_CHOICES]
        # three buttons a row on an 80-column screen, each with its key
        assert len(set(labels)) == 11 and all(len(label) <= 20 for label in labels)
    assert clean_note("  P-12\t 34\x1b[2J ") == "P-12 34 [2J"
    assert clean_note(" \n ") is None
    assert len(clean_note("x" * 100) or "") == 40


def test_the_shift_s_summary() -> None:
    lines = shift_lines(SHIFT, "cs")
    assert lines[:5] == [
        "Směna 1. 12. 2026: kontrol 23",
        "Platných 18 · neplatných 5 · z toho čárovým kódem 2",
        "Neplatné: bez kuponu 3, mimo zóny kuponu 2",
        "Výsledek zaznamenán 20 (neplatných 4) · nezaznamenán 3",
        "Podle linek: 14: 12 · 3: 8 · bez linky: 3",
    ]
    assert lines[5:7] == ["", "Kontroly po hodinách:"]
    assert lines[7:] == hour_chart(SHIFT.per_hour)
    assert shift_lines(ShiftSummary(day=date(2026, 12, 1)), "en") == [
        "Shift of 1 December 2026: 0 checks", "No check yet today."]


def test_the_chart_has_a_bar_per_hour_from_the_first_check_to_the_last() -> None:
    chart = hour_chart((0,) * 6 + (3, 12, 5, 0, 1) + (0,) * 13, height=4)
    assert chart == [
        " 3 12  5     1",
        "   ██",
        "   ██",
        "   ██ ▅▅",
        "██ ██ ██    ▃▃",
        "06 07 08 09 10",
    ]
    assert hour_chart((0,) * 24) == []
    whole_day = hour_chart((1,) * 24)
    assert max(len(row) for row in whole_day) <= 72 and whole_day[-1].startswith("00 01")


def test_every_text_has_both_languages_and_no_stray_field() -> None:
    for key, pair in INSPECTOR_TEXTS.items():
        assert len(pair) == 2 and all(pair), key
        fields = [set(_fields(text)) for text in pair]
        assert fields[0] == fields[1], key


def _fields(template: str) -> list[str]:
    import string
    return [name for _, name, _, _ in string.Formatter().parse(template) if name]


def test_a_card_number_reads_the_same_on_the_panel_and_in_the_form() -> None:
    number = CardNumber.from_serial(7)
    check = checked(card_number=number, image=None)
    assert f"E-karta {number.formatted}" in texts(check_panel(check, "cs"))
    assert form_title(check, "en").endswith(number.formatted)


def test_many_ended_coupons_take_one_line_but_the_verdict_s_is_listed() -> None:
    ended = tuple(replace(ENDED, coupon=replace(ENDED.coupon, serial=4000 + i)) for i in range(5))
    lines = texts(check_panel(checked(slots=(*ended, COUPON, OFFICE)), "cs"))
    assert lines[3:6] == [
        "30denní kupon, zóny 1, 2, 20. 11. 2026 – 19. 12. 2026 · platí",
        "90denní kupon, zóny 1, 2, 3, 20. 12. 2026 – 19. 3. 2027 · budoucí",
        "Skončené kupony: 5, poslední do 19. 11. 2026"]
    refused = checked(Reason.EXPIRED, slots=(*ended,))
    assert refused.verdict is not None and refused.verdict.coupon is not None
    decisive = replace(ended[0], coupon=refused.verdict.coupon.coupon)
    lines = texts(check_panel(replace(refused, image=replace(
        refused.image, slots=(decisive, *ended[1:]) + (None,) * 3)), "en"))
    assert sum("· ended" in line for line in lines) == 1  # the verdict's, on its own line
    assert "Ended coupons: 4, the last until 19 November 2026" in lines
    few = texts(check_panel(checked(slots=(*ended[:2], COUPON)), "en"))
    assert sum("· ended" in line for line in few) == 2
