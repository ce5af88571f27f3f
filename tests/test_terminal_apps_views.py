"""What the terminal apps' screens say, without a UI toolkit: the block letters, the validator's
panel for every outcome in both languages, its status line, and the service key sequence."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from ekarta.terminal.apps import bigtext
from ekarta.terminal.apps.checking_view import (
    TerminalStatus,
    device_note,
    reading_panel,
    status_parts,
    welcome_panel,
)
from ekarta.terminal.apps.keys import SERVICE_EXIT, KeySequence
from ekarta.terminal.apps.validator_view import outcome_panel
from ekarta.terminal.apps.view import Line, Panel, Tone, other_language
from ekarta.terminal.outcome import Outcome, Source
from ekarta.transit.model.messages import LANGUAGES
from ekarta.transit.model.values import Reason
from tests.support.outcomes import AT, SYNCED, VERDICT_REASONS, no_verdict, outcome


def texts(panel) -> list[str]:
    return [line.text for line in panel.lines]


# --- block letters --------------------------------------------------------------------------------


def test_block_letters_have_one_height_and_a_row_for_accents() -> None:
    rows = bigtext.render("VALID 0123456789 ?!-./:")
    assert len(rows) == bigtext.GLYPH_HEIGHT
    assert len({len(row) for row in rows}) == 1 == len({bigtext.width("VALID 0123456789 ?!-./:")})
    accented = bigtext.render("Platná")
    assert len(accented) == bigtext.GLYPH_HEIGHT + 1 == bigtext.height("PLATNÁ")
    assert accented[0].strip() and set(accented[1]) <= {"█", " "}
    assert bigtext.render("platná") == bigtext.render("PLATNÁ")


def test_every_czech_capital_has_its_accent_over_its_letter() -> None:
    for char in "ÁČĎÉĚÍŇÓŘŠŤÚŮÝŽ":
        base = bigtext.render(char)
        assert base[1:] == bigtext.render(
            {"Ů": "U"}.get(char, char.translate(str.maketrans("ÁČĎÉĚÍŇÓŘŠŤÚÝŽ",
                                                                 "ACDEEINORSTUYZ"))))
        assert base[0].strip(), char


def test_a_character_the_font_lacks_is_a_question_mark() -> None:
    assert bigtext.render("§") == bigtext.render("?")


def test_fit_breaks_between_words_and_gives_up_when_even_that_is_too_wide() -> None:
    one_line = bigtext.fit("PŘILOŽTE KARTU", 90, 20)
    assert one_line is not None and len(one_line) == 6
    two_lines = bigtext.fit("PŘILOŽTE KARTU", 60, 20)
    assert two_lines is not None and len(two_lines) == 6 + 1 + 5
    assert bigtext.fit("PŘILOŽTE KARTU", 60, 11) is None  # too low for two lines
    assert bigtext.fit("NEPLATNÁ", 30, 20) is None  # one word wider than the space
    assert bigtext.fit("", 10, 10) == []


# --- the validator's panel ------------------------------------------------------------------------


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("reason", VERDICT_REASONS)
def test_every_verdict_has_its_headline_reason_profile_and_zone(reason: Reason,
                                                                 lang: str) -> None:
    tap = outcome(reason)
    panel = outcome_panel(tap, lang)
    assert tap.verdict is not None
    expected = {Reason.VALID: ("VALID", "PLATNÁ"), Reason.CARD_BLOCKED: ("BLOCKED", "BLOKOVÁNA")
                }.get(reason, ("INVALID", "NEPLATNÁ"))
    assert panel.headline == expected[LANGUAGES.index(lang)]
    assert panel.tone is (Tone.GOOD if reason is Reason.VALID else Tone.BAD)
    lines = texts(panel)
    assert lines[0] == tap.verdict.message(lang)
    assert lines[1].startswith(("Profile: ", "Profil: "))
    if tap.verdict.coupon is not None:
        assert lines[2].startswith(("Coupon: ", "Kupon: "))
    assert any(line.startswith(("Zone ", "Zóna ")) and f" {tap.zone}, " in line
               for line in lines)
    assert ("Card 123 456 789 4" if lang == "en" else "E-karta 123 456 789 4") in lines
    assert not any("{" in line or "None" in line for line in lines)


def test_a_valid_card_shows_the_coupon_with_its_zones_and_last_day() -> None:
    panel = outcome_panel(outcome(Reason.VALID), "cs")
    assert texts(panel)[:4] == ["Platí do 19. 12. 2026.", "Profil: žáci a studenti od 15 do 26 let",
                                "Kupon: 30denní kupon, zóny 1, 2, do 19. 12. 2026",
                                "Zóna 1, linka 12"]
    assert texts(outcome_panel(outcome(Reason.VALID), "en"))[2] == (
        "Coupon: 30-day coupon, zones 1, 2, until 19 December 2026")


def test_the_notes_say_where_the_verdict_came_from_and_how_far_to_trust_it() -> None:
    tap = outcome(Reason.VALID, from_office=True, repeated=True)
    assert texts(outcome_panel(tap, "en"))[-2:] == [
        "The coupon is paid and held by the office; it is not on the card yet.",
        "Tapped again: shown again, validated once."]
    blocked = outcome(Reason.CARD_BLOCKED, blocked_written=True)
    assert outcome_panel(blocked, "cs").lines[-1].text == "Blokace je nyní zapsána na e-kartu."
    barcode = outcome(Reason.VALID, source=Source.BARCODE, recorded=False)
    assert texts(outcome_panel(barcode, "cs"))[-1] == (
        "Podle čárového kódu, data aktuální k 1. 12. 2026 07:55.")
    never = replace(barcode, data_as_of=None, lists_age=None, stale=True)
    assert [(line.text, line.tone) for line in outcome_panel(never, "en").lines[-2:]] == [
        ("From the barcode, with lists that were never synced.", Tone.WARN),
        ("The lists were never synced: no blocked card is known.", Tone.WARN)]
    stale = outcome(Reason.VALID, stale=True, lists_age=timedelta(days=4, hours=1))
    assert outcome_panel(stale, "cs").lines[-1] == Line(
        "Seznamy jsou staré 4 d 1 h: e-karta zablokovaná od té doby se může jevit jako platná.",
        Tone.WARN)


@pytest.mark.parametrize("kind, headline", [
    (Outcome.TAP_AGAIN, ("AGAIN", "ZNOVU")),
    (Outcome.NOT_A_TRANSIT_CARD, ("UNKNOWN", "NEZNÁMÁ")),
    (Outcome.UNREADABLE, ("UNREADABLE", "NEČITELNÁ")),
    (Outcome.REFUSED_NUMBER, ("BAD NUMBER", "CHYBNÉ ČÍSLO")),
])
@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_verdict_is_amber_and_says_what_to_do(kind: Outcome, headline: tuple[str, str],
                                                 lang: str) -> None:
    panel = outcome_panel(no_verdict(kind), lang, typed="1234567891")
    assert panel.headline == headline[LANGUAGES.index(lang)]
    assert panel.tone is Tone.WARN
    assert len(panel.lines) == 1 and panel.lines[0].tone is Tone.WARN
    assert "card left the field" not in panel.lines[0].text  # the detail is for the log


def test_a_refused_number_is_repeated_as_typed_but_never_raw() -> None:
    panel = outcome_panel(no_verdict(Outcome.REFUSED_NUMBER), "en", typed="12\x1b[2J" + "9" * 40)
    line = panel.lines[0].text
    assert "\x1b" not in line and "12?[2J" in line and "…" in line


def test_while_a_card_is_read_or_a_number_checked() -> None:
    assert reading_panel("cs") == Panel("...", Tone.PLAIN, (Line("Čtu kartu…"),))
    assert texts(reading_panel("en", "0000000427")) == ["Checking 0000000427…"]


def test_the_welcome_says_present_your_card_in_both_languages() -> None:
    assert welcome_panel("cs").headline == "Přiložte kartu"
    assert texts(welcome_panel("cs")) == ["Present your card"]
    assert welcome_panel("en").headline == "Present your card"
    assert other_language("cs") == "en" and other_language("en") == "cs"


# --- the status line ------------------------------------------------------------------------------


def test_the_status_line_shows_zone_line_lists_office_and_backlog() -> None:
    status = TerminalStatus(zone=3, line=12, now=AT, lists_age=AT - SYNCED, backlog=4,
                             online=True)
    assert [p.text for p in status_parts(status, "cs")] == [
        "10:00", "Zóna 3", "Linka 12", "Seznamy 2 h", "Spojeno", "Neodesláno 4"]
    assert [p.text for p in status_parts(replace(status, line=None, online=False,
                                                 lists_age=timedelta(days=4), stale=True),
                                         "en")] == [
        "10:00", "Zone 3", "Line –", "Lists 4 d", "Offline", "Unsent 4"]
    tones = {p.text: p.tone for p in status_parts(replace(status, stale=True, online=False),
                                                  "en")}
    assert tones["Lists 2 h"] is Tone.WARN and tones["Offline"] is Tone.WARN
    never = status_parts(TerminalStatus(zone=1, lists_age=None, online=None), "cs")
    assert [p.text for p in never] == ["Zóna 1", "Linka –", "Seznamy: nikdy", "Spojení ?",
                                       "Neodesláno 0"]


def test_a_lost_reader_or_scanner_is_told_plainly() -> None:
    assert device_note(TerminalStatus(zone=1), "cs") is None
    assert device_note(TerminalStatus(zone=1, reader_ok=False, scanner_ok=False), "cs") == (
        "ČTEČKA NEPŘIPOJENA · SKENER NEPŘIPOJEN")


# --- the service key sequence ---------------------------------------------------------------------


def test_the_service_sequence_needs_its_keys_in_order_and_in_time() -> None:
    now = [0.0]
    keys = KeySequence(SERVICE_EXIT, within=2.0, clock=lambda: now[0])
    assert not keys.feed("ctrl+c") and not keys.feed("ctrl+x")
    assert keys.feed("ctrl+c")
    assert not keys.feed("ctrl+x")
    now[0] = 2.5
    assert not keys.feed("ctrl+c")  # too late
    assert not keys.feed("ctrl+x") and not keys.feed("a") and not keys.feed("ctrl+c")
    assert not keys.feed("ctrl+x") and keys.feed("ctrl+c")
    assert keys.feed("ctrl+x") is False and keys.feed("ctrl+x") is False and keys.feed("ctrl+c")
