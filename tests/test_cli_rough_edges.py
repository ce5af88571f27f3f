"""Small things a new user trips over: times that do not exist, readers with a bad port, a coupon
from standard input, one warning format."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest

from ekarta.cli import main
from ekarta.errors import NoReaderError
from ekarta.readers import open_reader
from ekarta.transit.errors import InvalidText
from ekarta.transit.model.notation import parse_when
from ekarta.transit.security.keystore import create_keystore
from tests.support.cli import run


@pytest.fixture(autouse=True)
def _no_reader_env(monkeypatch):
    monkeypatch.delenv("EKARTA_READER", raising=False)


@pytest.fixture
def issued(tmp_path, capsys) -> tuple[Path, Path]:
    keys, card = tmp_path / "keys.json", tmp_path / "card.json"
    create_keystore(keys)
    assert main(["emulator", "new", str(card)]) == 0
    assert main(["card", "issue", "-r", f"emulator:{card}", "--keys", str(keys), "--number",
                 "1234567894", "--anonymous"]) == 0
    capsys.readouterr()
    return card, keys


# --- a time in the daylight-saving gap ------------------------------------------------------------


@pytest.mark.parametrize("text", ["2027-03-28T02:00", "2027-03-28T02:30", "2027-03-28T02:59:59",
                                  "2026-03-29T02:15"])
def test_a_time_the_clocks_skip_is_refused(text):
    with pytest.raises(InvalidText, match="does not exist in Europe/Prague"):
        parse_when(text)


def test_the_hours_around_the_gap_are_taken():
    assert parse_when("2027-03-28T01:59").utcoffset() == timedelta(hours=1)
    assert parse_when("2027-03-28T03:00").utcoffset() == timedelta(hours=2)


def test_the_repeated_hour_is_its_first_time_unless_an_offset_says_otherwise():
    assert parse_when("2027-10-31T02:30").utcoffset() == timedelta(hours=2)
    assert parse_when("2027-10-31T02:30+01:00").utcoffset() == timedelta(hours=1)


def test_the_command_line_refuses_a_time_in_the_gap(issued, capsys):
    card, keys = issued
    code, _, err = run(capsys, "card", "show", "-r", f"emulator:{card}", "--keys", str(keys),
                       "--at", "2027-03-28T02:30")
    assert code == 2
    assert "does not exist in Europe/Prague" in err


# --- nfcpy:udp with a port that is no number ------------------------------------------------------


@pytest.mark.parametrize("url", ["nfcpy:udp:localhost:xx", "nfcpy:udp:localhost:0",
                                 "nfcpy:udp:localhost:70000", "nfcpy:udp:localhost:1:2"])
def test_a_bad_udp_port_is_named(url):
    with pytest.raises(NoReaderError, match=r"the udp port must be a number 1\.\.65535") as info:
        open_reader(url)
    assert "invalid literal" not in str(info.value)


# --- --coupon - -----------------------------------------------------------------------------------


def test_a_coupon_file_from_standard_input(issued, tmp_path, capsys, monkeypatch):
    card, keys = issued
    sale = tmp_path / "sale.json"
    code, _, err = run(capsys, "coupon", "load", "-r", f"emulator:{card}", "--keys", str(keys),
                       "--type", "transferable-30-day", "--zones", "1,2", "--serial", "77",
                       "--out", str(sale))
    assert code == 0, err
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(sale.read_bytes())))
    code, out, err = run(capsys, "coupon", "load", "-r", f"emulator:{card}", "--keys", str(keys),
                         "--coupon", "-")
    assert code == 0, err
    assert "coupon 77 is already loaded" in out


def test_an_unreadable_coupon_from_standard_input_is_named(issued, capsys, monkeypatch):
    card, keys = issued
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"not json")))
    code, _, err = run(capsys, "coupon", "load", "-r", f"emulator:{card}", "--keys", str(keys),
                       "--coupon", "-")
    assert code == 1
    assert err.startswith("ekarta: error: <stdin> is not a JSON coupon file")


# --- one warning format ---------------------------------------------------------------------------


def test_logged_warnings_look_like_the_commands_own(issued, capsys):
    card, keys = issued
    keys.chmod(0o644)
    _, _, err = run(capsys, "card", "show", "-r", f"emulator:{card}", "--keys", str(keys))
    warnings = [line for line in err.splitlines() if "warning" in line.lower()]
    assert any("accessible to other users" in line for line in warnings), err
    for line in warnings:
        assert line.startswith("ekarta: warning: "), line
    assert "WARNING" not in err


# --- card show in Czech, with price and channel ---------------------------------------------------

ENGLISH_WORDS = ("transit card", "kind", "status", "profile", "expiry", "e-purse", "coupons",
                 "slot", "empty", "events", "device", "zone", "verdict", "CZK", "December",
                 "network", "ticket-office", "eshop", "load", "newest", "anonymous", "active")


def test_card_show_in_czech_has_no_english_left(issued, capsys):
    card, keys = issued
    code, _, err = run(capsys, "coupon", "load", "-r", f"emulator:{card}", "--keys", str(keys),
                       "--type", "transferable-30-day", "--zones", "1,2", "--serial", "5",
                       "--price", "550", "--at", "2026-12-01T10:00")
    assert code == 0, err
    code, out, err = run(capsys, "card", "show", "-r", f"emulator:{card}", "--keys", str(keys),
                         "--lang", "cs", "--at", "2026-12-10T08:00", "--zone", "1")
    assert code == 0, err
    for word in ENGLISH_WORDS:
        assert word not in out, (word, out)
    for czech in ("e-karta", "druh", "anonymní", "aktivní", "platnost do", "e-peněženka",
                  "0,00 Kč", "kupony (5 míst)", "místo 0", "přenosný 30denní kupon", "zóny 1, 2",
                  "1. 12. 2026 – 30. 12. 2026", "platný", "550 Kč", "pokladna", "prázdné",
                  "události", "nahrání kuponu", "1. 12. 2026 10:00", "v zóně 1", "výsledek:"):
        assert czech in out, (czech, out)


def test_card_show_shows_price_and_sale_channel(issued, capsys):
    card, keys = issued
    assert run(capsys, "coupon", "load", "-r", f"emulator:{card}", "--keys", str(keys),
               "--type", "transferable-30-day", "--zones", "1", "--serial", "6", "--price", "550",
               "--channel", "kiosk")[0] == 0
    _, out, _ = run(capsys, "card", "show", "-r", f"emulator:{card}", "--keys", str(keys))
    slot = next(line for line in out.splitlines() if "#6" in line)
    assert "550 CZK" in slot and "kiosk" in slot


def test_every_enum_name_card_show_prints_has_czech():
    from ekarta.transit.model.messages import LABELS_CS
    from ekarta.transit.model.notation import enum_name
    from ekarta.transit.model.report import Period
    from ekarta.transit.model.values import CardKind, CardStatus, EventKind, SaleChannel

    for enum in (CardKind, CardStatus, EventKind, SaleChannel):
        for member in enum:
            assert enum_name(member) in LABELS_CS, member
    for period in Period:
        assert period.value in LABELS_CS, period


# --- why a bank transfer starts later -------------------------------------------------------------


def test_the_bank_transfer_shift_comes_with_a_note():
    from datetime import date

    from ekarta.transit.model.card_number import CardNumber
    from ekarta.transit.model.rules import PurchaseRequest, check_purchase
    from ekarta.transit.model.values import (
        CardKind,
        CardRecord,
        CardStatus,
        CouponType,
        Note,
        Profile,
        SaleChannel,
    )

    card = CardRecord(card_number=CardNumber.parse("1234567894"), kind=CardKind.PERSONAL,
                      status=CardStatus.ACTIVE, expiry=date(2030, 1, 1),
                      profile=Profile.ADULT_NON_TRANSFERABLE, first_name="Jana",
                      surname="Nováková")
    today = date(2026, 12, 1)

    def buy(channel, **request):
        return check_purchase(card, (), PurchaseRequest(CouponType.DAYS_30, (1,), channel,
                                                        **request), today=today)

    shifted = buy(SaleChannel.ESHOP_BANK_TRANSFER)
    assert shifted.valid_from == date(2026, 12, 6)
    assert shifted.notes == (Note.BANK_TRANSFER_START,)
    assert "6. 12. 2026" in shifted.note_messages("cs")[0]
    assert "bank transfer" in shifted.note_messages("en")[0]
    assert buy(SaleChannel.ESHOP_CARD).notes == ()
    assert buy(SaleChannel.ESHOP_BANK_TRANSFER, start=date(2026, 12, 8)).notes == ()
