"""Acceptance 1: the scenarios of DOMAIN.md, each driven through the command line.

Every card is an emulated card in a file (``emulator:PATH``), issued with ``ekarta card issue``,
loaded with ``ekarta coupon load`` and judged with ``ekarta card show``; the tests assert the exit
status and the reason code (and message) the commands print.  Tampering with a card (forged,
re-signed, copied coupons) edits the card's stored state directly, as an attacker with a blank
DESFire and a sniffer would.

Exit statuses: 0 success (``card show``: the card is valid), 1 an error or a refusal,
3 ``card show`` with a refusal verdict.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, replace
from datetime import date

import pytest

from ekarta.cli import main
from ekarta.emulator import VirtualCard
from ekarta.transit import (
    CouponSigner,
    Profile,
    decode_card_record,
    decode_slot,
    encode_card_record,
)
from ekarta.transit.codec.coupon_file import CouponDocument
from ekarta.transit.codec.layout import AID, CARD_RECORD_FILE, SLOTS_FILE
from ekarta.transit.codec.records import SLOT_SIZE, crc16, encode_coupon_body
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.security.keystore import create_keystore

AT = "2026-11-20T09:00"  # the day of every sale unless a scenario says otherwise
EXPIRY = "2030-12-31"
_numbers = itertools.count(100_000_001)
_uids = itertools.count(0x10_0000)


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("keys") / "keys.json"
    create_keystore(path)
    return str(path)


@pytest.fixture
def cli(capsys):
    def run(*args: object) -> Run:
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        return Run(code, out, err)

    return run


class Card:
    def __init__(self, path, keys: str, cli) -> None:
        self.path = path
        self.keys = keys
        self.cli = cli
        self.number = str(CardNumber.from_serial(next(_numbers)))

    @property
    def reader(self) -> str:
        return f"emulator:{self.path}"

    def issue(self, *args: object) -> Run:
        defaults: list[object] = ["--expiry", EXPIRY]
        if "--at" not in args:  # issued on the scenarios' day: the record must make sense then
            defaults += ["--at", AT]
        if "--anonymous" not in args:
            defaults += ["--first-name", "Jana", "--surname", "Nováková"]
        return self.cli("card", "issue", "--reader", self.reader, "--keys", self.keys,
                        "--number", self.number, *defaults, *args)

    def load(self, *args: object, at: str = AT) -> Run:
        return self.cli("coupon", "load", "--reader", self.reader, "--keys", self.keys,
                        "--at", at, *args)

    def show(self, at: str, *args: object) -> Run:
        return self.cli("card", "show", "--reader", self.reader, "--keys", self.keys,
                        "--at", at, *args)

    # --- the card's stored state, for the attacker's scenarios ---

    def slot_bytes(self, index: int) -> bytes:
        data = VirtualCard.load(self.path).state.applications[AID].files[SLOTS_FILE.file_no].data
        return bytes(data[index * SLOT_SIZE:(index + 1) * SLOT_SIZE])

    def put_record(self, **changes: object) -> None:
        """Rewrite the card record as another system might have written it (checked by no one)."""
        card = VirtualCard.load(self.path)
        data = card.state.applications[AID].files[CARD_RECORD_FILE.file_no].data
        record = replace(decode_card_record(bytes(data)), **changes)
        data[:] = encode_card_record(record)
        card.save(self.path)

    def put_slot(self, index: int, raw: bytes) -> None:
        card = VirtualCard.load(self.path)
        data = card.state.applications[AID].files[SLOTS_FILE.file_no].data
        data[index * SLOT_SIZE:(index + 1) * SLOT_SIZE] = raw
        card.save(self.path)

    @property
    def uid(self) -> bytes:
        return VirtualCard.load(self.path).uid


@pytest.fixture
def new_card(tmp_path, keys, cli):
    def make(*issue_args: object, issue: bool = True) -> Card:
        uid = bytes([0x04]) + next(_uids).to_bytes(6, "big")
        card = Card(tmp_path / f"card-{uid.hex()}.json", keys, cli)
        VirtualCard.new(uid=uid).save(card.path)
        if issue:
            run = card.issue(*issue_args)
            assert run.code == 0, run.text
        return card

    return make


def reseal(raw: bytes) -> bytes:
    """A slot with its CRC recomputed, as a forger would (else it reads as merely corrupt)."""
    return raw[:-2] + crc16(raw[:-2]).to_bytes(2, "big")


def refused(run: Run, code: str) -> None:
    assert run.code == 1, run.text
    assert run.out == ""
    # one error line, last (a forged signature is also logged as a warning before it)
    error = run.err.rstrip("\n").splitlines()[-1]
    assert error.startswith("ekarta: error:"), run.err
    assert f"{code}:" in error, run.err


def verdict(run: Run, code: str, expected_exit: int | None = None) -> None:
    if expected_exit is None:
        expected_exit = 0 if code == "valid" else 3
    assert run.code == expected_exit, run.text
    assert f"verdict: {code} — " in run.out, run.out


# --- each profile ---------------------------------------------------------------------------------

PROFILES = [
    ("adult-transferable", ["--anonymous"], "transferable-30-day", "adult transferable"),
    ("adult-non-transferable", [], "30-day", "adult non-transferable"),
    ("child", ["--profile", "child", "--birth-date", "2016-03-01", "--profile-end",
               "2031-02-28"], "30-day", "children 6 to 15"),
    ("student", ["--profile", "student", "--birth-date", "2006-05-01", "--profile-end",
                 "2027-08-31"], "90-day", "pupils and students 15 to 26"),
    ("pensioner", ["--profile", "pensioner", "--birth-date", "1960-01-01", "--profile-end",
                   "2029-12-31"], "yearly", "pensioners under 70"),
    ("disability-pensioner", ["--profile", "disability-pensioner", "--profile-end",
                              "2028-01-01"], "30-day", "disability pensioners (3rd degree)"),
    ("senior", ["--profile", "senior", "--birth-date", "1950-01-01"], "yearly",
     "citizens over 70"),
]


@pytest.mark.parametrize(("profile", "issue_args", "coupon_type", "name"), PROFILES,
                         ids=[p[0] for p in PROFILES])
def test_each_profile_buys_and_travels(new_card, profile, issue_args, coupon_type, name):
    card = new_card(*issue_args)
    run = card.load("--type", coupon_type, "--zones", "1,2", "--serial", 1001, "--price", 500)
    assert run.code == 0, run.text
    assert "loaded coupon 1001 into slot 0" in run.out and name in run.out
    run = card.show("2026-11-25T08:00", "--zone", 2)
    verdict(run, "valid")
    assert re.search(rf"^  profile +{re.escape(name)}", run.out, re.M), run.out
    report = json.loads(card.show("2026-11-25T08:00", "--zone", 2, "--json").out)
    assert report["profile"] == profile
    assert report["verdict"]["coupon_serial"] == 1001


# --- the four-coupon limit ------------------------------------------------------------------------


def test_at_most_four_coupons_valid_or_future(new_card):
    card = new_card()
    for i, start in enumerate(("2026-11-20", "2026-12-20", "2027-01-19", "2027-02-18")):
        run = card.load("--type", "30-day", "--zones", 1, "--from", start, "--serial", 2001 + i)
        assert run.code == 0, run.text
    refused(card.load("--type", "30-day", "--zones", 1, "--from", "2027-03-20", "--serial",
                      2005), "too-many-coupons")
    # once the first coupon has ended, a fourth valid-or-future one may be bought
    run = card.load("--type", "30-day", "--zones", 1, "--from", "2027-03-20", "--serial", 2005,
                    at="2026-12-21T10:00")
    assert run.code == 0 and "slot 4" in run.out, run.text


def test_the_dog_coupon_counts_against_the_limit(new_card):
    card = new_card()
    for start in ("2026-11-20", "2026-12-20", "2027-01-19"):
        assert card.load("--type", "30-day", "--zones", 1, "--from", start).code == 0
    assert card.load("--type", "dog", "--zones", 1).code == 0
    refused(card.load("--type", "dog", "--zones", 1, "--from", "2026-12-20"), "too-many-coupons")


# --- zones ----------------------------------------------------------------------------------------


def test_eleven_zones_make_a_network_ticket(new_card):
    card = new_card()
    run = card.load("--type", "30-day", "--zones", "1-11", "--serial", 3001)
    assert run.code == 0 and "network" in run.out, run.text
    assert "note: More than 10 zones were chosen" in run.out
    verdict(card.show("2026-11-21T08:00", "--zone", 99), "valid")


def test_ten_zones_stay_ten_zones(new_card):
    card = new_card()
    run = card.load("--type", "30-day", "--zones", "1-10", "--serial", 3002)
    assert run.code == 0 and "zones 1, 2, 3, 4, 5, 6, 7, 8, 9, 10" in run.out, run.text
    assert "network" not in run.out
    verdict(card.show("2026-11-21T08:00", "--zone", 10), "valid")
    verdict(card.show("2026-11-21T08:00", "--zone", 11), "zone-not-covered")


def test_a_zone_the_coupon_does_not_cover(new_card):
    card = new_card()
    assert card.load("--type", "30-day", "--zones", "1,2").code == 0
    run = card.show("2026-11-21T08:00", "--zone", 5)
    verdict(run, "zone-not-covered")
    assert "The coupon is not valid in zone 5." in run.out


# --- the dog coupon -------------------------------------------------------------------------------


def test_a_dog_coupon_alone_makes_the_dog_valid_not_the_holder(new_card):
    card = new_card()
    run = card.load("--type", "dog", "--zones", "1,2")
    assert run.code == 0 and "30-day dog coupon" in run.out, run.text
    run = card.show("2026-11-21T08:00", "--zone", 1)
    verdict(run, "no-coupon")
    assert "dog: valid — " in run.out
    assert card.show("2026-11-21T08:00", "--zone", 1, "--dog").code == 0


def test_a_dog_coupon_with_a_30_day_coupon(new_card):
    card = new_card()
    assert card.load("--type", "30-day", "--zones", "1,2").code == 0
    assert card.load("--type", "dog", "--zones", "1,2").code == 0
    run = card.show("2026-11-21T08:00", "--zone", 2)
    verdict(run, "valid")
    assert "dog: valid — " in run.out


def test_the_holders_coupon_does_not_take_a_dog(new_card):
    card = new_card()
    assert card.load("--type", "30-day", "--zones", 1).code == 0
    run = card.show("2026-11-21T08:00", "--zone", 1, "--dog")
    assert run.code == 3 and "dog: no-coupon — " in run.out, run.text
    assert "verdict: valid — " in run.out


def test_an_anonymous_card_may_carry_a_dog_coupon(new_card):
    card = new_card("--anonymous")
    assert card.load("--type", "dog", "--zones", 1).code == 0


# --- the profile's end ----------------------------------------------------------------------------

STUDENT_ENDING = ["--profile", "student", "--birth-date", "2006-05-01", "--profile-end",
                  "2026-12-15"]


def test_a_coupon_may_not_run_more_than_29_days_past_the_profile_end(new_card):
    card = new_card(*STUDENT_ENDING)
    run = card.load("--type", "90-day", "--zones", 1, "--from", "2026-12-01")
    refused(run, "profile-end-limit")
    assert "13 January 2027" in run.err


def test_a_coupon_within_29_days_past_the_profile_end_is_sold_and_valid(new_card):
    card = new_card(*STUDENT_ENDING)
    run = card.load("--type", "30-day", "--zones", 1, "--from", "2026-12-10")
    assert run.code == 0 and "pupils and students" in run.out, run.text
    run = card.show("2027-01-05T08:00", "--zone", 1, "--json")
    report = json.loads(run.out)
    assert report["effective_profile"] == "adult-non-transferable"
    assert report["verdict"]["reason"] == "valid" and run.code == 0


def test_after_the_profile_ended_coupons_are_sold_at_full_fare(new_card):
    card = new_card("--profile", "student", "--birth-date", "2006-05-01", "--profile-end",
                    "2026-10-31", "--at", "2026-09-01T10:00")
    run = card.load("--type", "30-day", "--zones", 1)
    assert run.code == 0, run.text
    assert "adult non-transferable" in run.out
    assert "note: The card's discounted profile ends on 31 October 2026" in run.out


# --- the card's expiry ----------------------------------------------------------------------------


def test_a_coupon_past_the_card_expiry_is_usable_only_until_then(new_card):
    card = new_card("--expiry", "2026-12-10")
    run = card.load("--type", "30-day", "--zones", 1)
    assert run.code == 0, run.text
    assert "note: The card expires on 10 December 2026" in run.out
    verdict(card.show("2026-12-10T20:00", "--zone", 1), "valid")
    run = card.show("2026-12-11T08:00", "--zone", 1)
    verdict(run, "card-expired")
    assert "The card expired on 10 December 2026." in run.out


def test_an_expired_card_takes_no_coupon(new_card):
    card = new_card("--expiry", "2026-11-01", "--at", "2026-10-01T10:00")
    refused(card.load("--type", "30-day", "--zones", 1), "card-expired")


# --- start dates ----------------------------------------------------------------------------------


def test_bank_transfer_cannot_start_within_5_days(new_card):
    card = new_card()
    run = card.load("--type", "30-day", "--zones", 1, "--channel", "eshop-bank-transfer",
                    "--from", "2026-11-24")
    refused(run, "bank-transfer-too-early")
    assert "25 November 2026" in run.err


def test_bank_transfer_may_start_5_days_after_the_purchase(new_card):
    card = new_card()
    run = card.load("--type", "30-day", "--zones", 1, "--channel", "eshop-bank-transfer",
                    "--from", "2026-11-25")
    assert run.code == 0 and "25 November 2026 – 24 December 2026" in run.out, run.text
    verdict(card.show("2026-11-24T08:00", "--zone", 1), "not-yet-valid")
    verdict(card.show("2026-11-25T08:00", "--zone", 1), "valid")


def test_bank_transfer_without_a_date_starts_as_early_as_allowed(new_card):
    card = new_card()
    run = card.load("--type", "30-day", "--zones", 1, "--channel", "eshop-bank-transfer")
    assert run.code == 0 and "25 November 2026 –" in run.out, run.text


def test_paid_by_card_it_may_start_today(new_card):
    card = new_card()
    run = card.load("--type", "30-day", "--zones", 1, "--channel", "eshop-card",
                    "--from", "2026-11-20")
    assert run.code == 0 and "20 November 2026 – 19 December 2026" in run.out, run.text


def test_a_coupon_cannot_start_in_the_past(new_card):
    card = new_card()
    refused(card.load("--type", "30-day", "--zones", 1, "--from", "2026-11-19"),
            "start-in-past")


def test_a_follow_on_coupon_starts_the_day_after(new_card):
    card = new_card()
    assert card.load("--type", "30-day", "--zones", 1, "--serial", 4001).code == 0
    run = card.load("--type", "30-day", "--zones", 1, "--serial", 4002, "--follows", 4001)
    assert run.code == 0 and "20 December 2026 – 18 January 2027" in run.out, run.text
    verdict(card.show("2027-01-10T08:00", "--zone", 1), "valid")


def test_a_follow_on_coupon_needs_a_valid_coupon_to_follow(new_card):
    card = new_card()
    refused(card.load("--type", "30-day", "--zones", 1, "--follows", 4999), "nothing-to-follow")


# --- validity periods -----------------------------------------------------------------------------


def test_an_expired_coupon(new_card):
    card = new_card()
    assert card.load("--type", "30-day", "--zones", 1).code == 0
    run = card.show("2026-12-20T00:01", "--zone", 1)
    verdict(run, "expired")
    assert "The coupon expired on 19 December 2026." in run.out


def test_a_coupon_not_yet_valid(new_card):
    card = new_card()
    assert card.load("--type", "30-day", "--zones", 1, "--from", "2026-12-01").code == 0
    run = card.show("2026-11-30T23:59", "--zone", 1)
    verdict(run, "not-yet-valid")
    assert "1 December 2026" in run.out


def test_a_yearly_coupon_runs_to_the_day_before_the_same_date(new_card):
    card = new_card()
    assert card.load("--type", "yearly", "--zones", 1).code == 0
    verdict(card.show("2027-11-19T23:00", "--zone", 1), "valid")
    verdict(card.show("2027-11-20T00:30", "--zone", 1), "expired")


def test_a_card_without_coupons(new_card):
    card = new_card()
    verdict(card.show("2026-11-20T10:00"), "no-coupon")


def test_an_ended_coupon_cannot_be_loaded(new_card, tmp_path):
    card = new_card()
    assert card.load("--type", "30-day", "--zones", 1, "--out", tmp_path / "c.json").code == 0
    other = new_card()
    doc = json.loads((tmp_path / "c.json").read_text())
    del doc["signature"]
    (tmp_path / "u.json").write_text(json.dumps(doc))
    refused(other.load("--coupon", tmp_path / "u.json", at="2027-01-01T08:00"), "expired")


# --- card status ----------------------------------------------------------------------------------


def test_a_blocked_card_on_the_hotlist(new_card, tmp_path):
    card = new_card()
    assert card.load("--type", "30-day", "--zones", 1).code == 0
    hotlist = tmp_path / "hotlist.txt"
    hotlist.write_text(f"# blocked cards\n{CardNumber(card.number).formatted}\n")
    run = card.show("2026-11-21T08:00", "--zone", 1, "--hotlist", hotlist)
    verdict(run, "card-blocked")
    assert "on the hotlist" in run.out
    refused(card.load("--type", "30-day", "--zones", 1, "--from", "2026-12-20",
                      "--hotlist", hotlist), "card-blocked")
    verdict(card.show("2026-11-21T08:00", "--zone", 1), "valid")  # not on the list: valid


def test_a_card_sent_by_post_must_be_activated_first(new_card):
    card = new_card("--status", "produced")
    verdict(card.show("2026-11-21T08:00"), "card-not-active")
    refused(card.load("--type", "30-day", "--zones", 1), "card-not-active")


# --- anonymous cards and transferable coupons -----------------------------------------------------


def test_an_anonymous_card_takes_only_transferable_coupons(new_card):
    card = new_card("--anonymous")
    refused(card.load("--type", "30-day", "--zones", 1), "anonymous-only-transferable")
    run = card.show("2026-11-21T08:00", "--json")
    assert json.loads(run.out)["holder"] is None


def test_a_personal_card_takes_no_transferable_coupon(new_card):
    card = new_card()
    refused(card.load("--type", "transferable-30-day", "--zones", 1),
            "transferable-only-anonymous")


# --- birth dates and ages -------------------------------------------------------------------------


def test_a_student_without_a_birth_date_is_refused(new_card):
    card = new_card("--profile", "student", "--birth-date", "2008-04-01", "--profile-end",
                    "2027-08-31")
    card.put_record(birth_date=None)  # issuing refuses such a record; another system did not
    refused(card.load("--type", "30-day", "--zones", 1), "birth-date-required")


def test_a_child_profile_for_someone_too_old(new_card):
    card = new_card("--profile", "child", "--birth-date", "2005-01-01", "--profile-end",
                    "2027-01-01", "--at", "2015-06-01T10:00")  # issued when a child
    refused(card.load("--type", "30-day", "--zones", 1, "--profile", "child"),
            "age-not-eligible")
    # the child profile ended on the 15th birthday: without asking, full fare is sold
    run = card.load("--type", "30-day", "--zones", 1)
    assert run.code == 0 and "adult non-transferable" in run.out, run.text


def test_a_senior_profile_for_someone_under_70(new_card):
    card = new_card("--birth-date", "1960-06-01")
    card.put_record(profile=Profile.SENIOR)  # issuing refuses such a record; another system did not
    run = card.load("--type", "30-day", "--zones", 1)
    refused(run, "age-not-eligible")
    assert "(66)" in run.err


# --- forged, re-signed and copied coupons ---------------------------------------------------------


def test_a_forged_signature_on_the_card(new_card):
    card = new_card()
    assert card.load("--type", "30-day", "--zones", 1).code == 0
    raw = bytearray(card.slot_bytes(0))
    raw[40] ^= 0x01  # inside the signature
    card.put_slot(0, reseal(bytes(raw)))
    run = card.show("2026-11-21T08:00", "--zone", 1)
    verdict(run, "signature-invalid")
    assert "SIGNATURE INVALID" in run.out


def test_a_coupon_whose_validity_was_extended_on_the_card(new_card):
    card = new_card()
    assert card.load("--type", "30-day", "--zones", 1).code == 0
    signed = decode_slot(card.slot_bytes(0))
    longer = signed.coupon.__class__(**{**signed.coupon.__dict__,
                                        "valid_to": date(2027, 11, 19)})
    raw = bytes([1]) + encode_coupon_body(longer) + signed.signature
    card.put_slot(0, reseal(raw + b"\0\0"))
    verdict(card.show("2027-01-10T08:00", "--zone", 1), "signature-invalid")


def test_a_coupon_re_signed_with_another_key_is_refused_on_load(new_card, tmp_path):
    card = new_card()
    assert card.load("--type", "30-day", "--zones", 1, "--serial", 5001,
                     "--out", tmp_path / "c.json").code == 0
    card2 = new_card()
    mallory = CouponSigner.generate()
    doc = json.loads((tmp_path / "c.json").read_text())
    coupon = CouponDocument.from_json(doc).coupon
    number = int(card2.number)
    doc["signature"] = mallory.sign(coupon, uid=card2.uid, card_number=number).signature.hex()
    (tmp_path / "forged.json").write_text(json.dumps(doc))
    before = card2.path.read_bytes()
    refused(card2.load("--coupon", tmp_path / "forged.json"), "signature-invalid")
    assert card2.path.read_bytes() == before


def test_a_coupon_re_signed_with_another_key_on_the_card(new_card):
    card = new_card()
    assert card.load("--type", "30-day", "--zones", 1).code == 0
    signed = decode_slot(card.slot_bytes(0))
    mallory = CouponSigner.generate()
    resigned = mallory.sign(signed.coupon, uid=card.uid, card_number=int(card.number))
    body = encode_coupon_body(resigned.coupon)
    card.put_slot(0, reseal(bytes([1]) + body + resigned.signature + b"\0\0"))
    verdict(card.show("2026-11-21T08:00", "--zone", 1), "signature-invalid")


def test_a_coupon_copied_onto_another_card(new_card):
    card = new_card()
    assert card.load("--type", "30-day", "--zones", 1).code == 0
    other = new_card()
    other.put_slot(0, card.slot_bytes(0))
    verdict(other.show("2026-11-21T08:00", "--zone", 1), "signature-invalid")
    verdict(card.show("2026-11-21T08:00", "--zone", 1), "valid")


def test_a_coupon_file_for_one_card_is_refused_by_another(new_card, tmp_path):
    card = new_card()
    assert card.load("--type", "30-day", "--zones", 1, "--out", tmp_path / "c.json").code == 0
    other = new_card()
    refused(other.load("--coupon", tmp_path / "c.json"), "signature-invalid")
    verdict(other.show("2026-11-21T08:00", "--zone", 1), "no-coupon")


def test_an_unreadable_slot_beside_a_valid_coupon(new_card):
    card = new_card()
    assert card.load("--type", "30-day", "--zones", 1).code == 0
    card.put_slot(1, bytes([1]) + b"\xAA" * (SLOT_SIZE - 1))  # bad CRC: torn or decayed
    run = card.show("2026-11-21T08:00", "--zone", 1)
    verdict(run, "valid")
    assert "unreadable" in run.out
    card.put_slot(0, bytes(SLOT_SIZE))
    verdict(card.show("2026-11-21T08:00", "--zone", 1), "coupon-unreadable")


# --- loading --------------------------------------------------------------------------------------


def test_loading_the_same_coupon_twice_changes_nothing(new_card, tmp_path):
    card = new_card()
    run = card.load("--type", "30-day", "--zones", 1, "--serial", 6001,
                    "--out", tmp_path / "c.json")
    assert run.code == 0, run.text
    before = card.path.read_bytes()
    run = card.load("--coupon", tmp_path / "c.json", at="2026-11-21T10:00")
    assert run.code == 0 and "already loaded" in run.out and "nothing changed" in run.out
    assert card.path.read_bytes() == before
    events = json.loads(card.show("2026-11-21T10:00", "--json").out)["events"]
    assert [e["coupon_serial"] for e in events] == [6001]


def test_a_different_coupon_under_a_serial_the_card_holds_is_refused(new_card, tmp_path):
    card = new_card()
    assert card.load("--type", "30-day", "--zones", 1, "--serial", 6101).code == 0
    before = card.path.read_bytes()
    (tmp_path / "other.json").write_text(json.dumps({
        "serial": 6101, "type": "90-day", "profile": "adult-non-transferable",
        "zones": [1, 2, 3], "valid_from": "2026-12-01", "valid_to": "2027-02-28",
        "sale_date": "2026-11-20", "channel": "eshop-card", "price": 1480}))
    refused(card.load("--coupon", tmp_path / "other.json"), "serial-held-by-other-coupon")
    refused(card.load("--type", "90-day", "--zones", 1, "--serial", 6101),
            "serial-held-by-other-coupon")
    assert card.path.read_bytes() == before


def test_a_sale_retried_on_a_card_holding_four_coupons_is_already_loaded(new_card):
    card = new_card()
    for start in ("2026-12-20", "2027-01-19", "2027-02-18"):
        assert card.load("--type", "30-day", "--zones", 1, "--from", start).code == 0
    sale = ("--type", "30-day", "--zones", 1, "--serial", 6201)
    assert card.load(*sale).code == 0
    before = card.path.read_bytes()
    run = card.load(*sale)
    assert run.code == 0 and "already loaded" in run.out and "nothing changed" in run.out, \
        run.text
    assert card.path.read_bytes() == before
    refused(card.load("--type", "30-day", "--zones", 1, "--serial", 6202), "too-many-coupons")


def test_a_back_office_coupon_file_without_a_signature_is_signed_by_the_tool(new_card, tmp_path):
    card = new_card()
    (tmp_path / "sale.json").write_text(json.dumps({
        "serial": 7001, "type": "90-day", "profile": "adult-non-transferable",
        "zones": [1, 2, 3], "valid_from": "2026-12-01", "valid_to": "2027-02-28",
        "sale_date": "2026-11-20", "channel": "eshop-card", "price": 1480}))
    run = card.load("--coupon", tmp_path / "sale.json")
    assert run.code == 0 and "loaded coupon 7001" in run.out, run.text
    verdict(card.show("2027-02-28T22:00", "--zone", 3), "valid")


def test_a_malformed_coupon_file_is_refused(new_card, tmp_path):
    card = new_card()
    (tmp_path / "bad.json").write_text(json.dumps({"serial": "1", "type": "30-day"}))
    run = card.load("--coupon", tmp_path / "bad.json")
    assert run.code == 1 and "coupon file" in run.err


def test_a_factory_fresh_card_is_not_a_transit_card(new_card):
    card = new_card(issue=False)
    run = card.show("2026-11-21T08:00")
    assert run.code == 1 and "not a transit card" in run.err
    run = card.load("--type", "30-day", "--zones", 1)
    assert run.code == 1 and "not a transit card" in run.err


# --- languages and formats ------------------------------------------------------------------------


def test_a_refusal_in_czech(new_card):
    card = new_card()
    run = card.load("--type", "30-day", "--zones", 1, "--channel", "eshop-bank-transfer",
                    "--from", "2026-11-21", "--lang", "cs")
    refused(run, "bank-transfer-too-early")
    assert "Při platbě bankovním převodem může platnost kuponu začít nejdříve 25. 11. 2026" \
        in run.err


def test_a_verdict_in_czech(new_card):
    card = new_card()
    assert card.load("--type", "30-day", "--zones", 1).code == 0
    run = card.show("2026-11-21T08:00", "--zone", 1, "--lang", "cs")
    assert run.code == 0, run.text
    assert "výsledek: valid — Platí do 19. 12. 2026." in run.out
    assert "30denní kupon" in run.out


def test_card_show_for_machines(new_card):
    card = new_card("--profile", "student", "--birth-date", "2006-05-01", "--profile-end",
                    "2027-08-31")
    assert card.load("--type", "30-day", "--zones", "1,2", "--serial", 8001).code == 0
    run = card.show("2026-11-21T08:00", "--zone", 2, "--json")
    report = json.loads(run.out)
    assert run.code == 0
    assert report["card_number"] == card.number
    assert report["holder"] == {"first_name": "Jana", "surname": "Nováková"}
    assert report["birth_date_recorded"] is True and "2006" not in run.out
    assert report["slots"][0]["coupon"]["serial"] == 8001
    assert report["slots"][0]["signature_valid"] is True
    assert [s["state"] for s in report["slots"]] == ["coupon"] + ["empty"] * 4
    assert report["events"][0]["kind"] == "load"
    assert report["purse"] == 0
    assert report["verdict"] == {"ok": True, "reason": "valid", "code": 0,
                                 "message": "Valid until 19 December 2026.",
                                 "profile": "student", "coupon_serial": 8001,
                                 "date": "2026-12-19"}


def test_card_show_prints_the_card_for_people(new_card):
    card = new_card()
    assert card.load("--type", "30-day", "--zones", 1, "--serial", 9001).code == 0
    run = card.show("2026-11-21T08:00", "--zone", 1)
    formatted = CardNumber(card.number).formatted
    assert f"transit card {formatted}" in run.out
    assert "Jana Nováková" in run.out
    assert "31 December 2030" in run.out
    assert "0.00 CZK" in run.out
    assert "#9001" in run.out and "events (newest first)" in run.out
