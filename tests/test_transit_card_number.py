"""The card number: its Damm check digit catches every single-digit error and every adjacent
transposition (acceptance 3), and malformed numbers are refused with the reason."""

from __future__ import annotations

import random
from dataclasses import FrozenInstanceError

import pytest

import ekarta.barcode
from ekarta.errors import EkartaError
from ekarta.transit import CardNumber, InvalidCardNumber, InvalidField
from ekarta.transit.errors import shown
from ekarta.transit.model.card_number import validate

SEED = 20240505


def sample(count: int, seed: int = SEED) -> list[CardNumber]:
    rng = random.Random(seed)
    return [CardNumber.random(rng) for _ in range(count)]


def test_known_check_digit():
    # 572 -> 5724 is the worked example of the Damm algorithm's published description.
    assert validate("5724".rjust(10, "0"))
    assert CardNumber.from_serial(572).digits == "0000005724"


def test_parts_and_formats():
    number = CardNumber.from_serial(123456789)
    assert str(number) == number.digits == "1234567894"
    assert number.serial == 123456789
    assert number.check_digit == 4
    assert number.formatted == "123 456 789 4"
    assert CardNumber.from_serial(0).digits == "0000000000"
    assert CardNumber.from_serial(999_999_999).serial == 999_999_999


@pytest.mark.parametrize("text", [
    "1234567894", "123 456 789 4", "123-456-789-4", "  1234567894\n", "12-34 56-78 94",
])
def test_parse_accepts_separators(text):
    assert CardNumber.parse(text) == CardNumber("1234567894")
    assert validate(text)


def test_strict_parse_wants_bare_digits():
    assert CardNumber.parse("1234567894", strict=True).digits == "1234567894"
    with pytest.raises(InvalidCardNumber, match="non-digit character ' ' at position 4"):
        CardNumber.parse("123 456 789 4", strict=True)
    assert not validate(" 1234567894", strict=True)


@pytest.mark.parametrize(("text", "message"), [
    ("", "card number is empty"),
    ("   ", "card number is empty"),
    ("123456789", "must have 10 digits, got 9"),
    ("12345678940", "must have 10 digits, got 11"),
    ("1234x67894", "non-digit character 'x' at position 5"),
    (" 12a", "non-digit character 'a' at position 4"),
    ("123456789\u0664", r"non-digit character '\\u0664' at position 10"),  # Arabic-Indic 4
    ("1234567895", "fails its check digit"),
    ("1" * 10_000, "too long: 10000 characters"),
    ("12\x1b[31m34", r"non-digit character '\\x1b' at position 3"),
    ("-1234567894", "must start and end with a digit, not '-' at position 1"),
    (" -1234567894", "must start and end with a digit, not '-' at position 2"),
    ("1234567894-", "must start and end with a digit, not '-' at position 11"),
    ("-123-456-789-4", "must start and end with a digit"),
])
def test_malformed_numbers_name_the_problem(text, message):
    with pytest.raises(InvalidCardNumber, match=message) as info:
        CardNumber.parse(text)
    assert len(str(info.value)) < 200
    assert "\x1b" not in str(info.value)
    assert not validate(text)


def test_check_digit_error_does_not_give_the_right_digit():
    number = CardNumber.from_serial(987654321)
    wrong = number.digits[:9] + str((number.check_digit + 1) % 10)
    with pytest.raises(InvalidCardNumber) as info:
        CardNumber.parse(wrong)
    assert number.digits not in str(info.value)


def test_errors_are_ekarta_and_value_errors():
    for caught_as in (EkartaError, InvalidField, ValueError):
        with pytest.raises(caught_as) as info:
            CardNumber.parse("x")
        assert type(info.value) is InvalidCardNumber


def test_the_barcode_package_reads_and_prints_the_same_card_number():
    assert ekarta.barcode.CardNumber is CardNumber
    assert ekarta.barcode.InvalidCardNumber is InvalidCardNumber
    assert ekarta.barcode.validate is validate


def test_the_integer_form_is_checked_like_the_text():
    number = CardNumber.from_serial(123456789)
    assert CardNumber.of(number) is number
    assert CardNumber.of(1234567894) == number
    assert CardNumber.of(0) == CardNumber("0000000000")
    with pytest.raises(InvalidCardNumber, match="fails its check digit"):
        CardNumber.of(1234567895)
    with pytest.raises(InvalidCardNumber, match="must be an integer"):
        CardNumber.of("1234567894")  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [None, 1234567894, b"1234567894"])
def test_non_text_refused(value):
    with pytest.raises(InvalidCardNumber, match="must be text"):
        CardNumber.parse(value)
    with pytest.raises(InvalidCardNumber, match="must be text"):
        CardNumber(value)


def test_constructor_wants_canonical_digits():
    with pytest.raises(InvalidCardNumber, match="non-digit character ' ' at position 4"):
        CardNumber("123 456 789 4")
    with pytest.raises(InvalidCardNumber, match="check digit"):
        CardNumber("1234567890")


def test_integer_form_as_the_coupon_codec_stores_it():
    number = CardNumber.from_serial(572)
    assert int(number) == 5724
    assert CardNumber.from_int(5724) == number
    assert CardNumber.from_int(int(CardNumber.from_serial(999_999_999))).serial == 999_999_999
    with pytest.raises(InvalidCardNumber, match="check digit"):
        CardNumber.from_int(5725)
    for value in (-1, 10**10, True, "5724"):
        with pytest.raises(InvalidCardNumber, match="card number must be"):
            CardNumber.from_int(value)


@pytest.mark.parametrize("serial", [-1, 1_000_000_000, True, 1.0, "1"])
def test_from_serial_range(serial):
    with pytest.raises(InvalidCardNumber, match="serial must be"):
        CardNumber.from_serial(serial)


def test_frozen_hashable_ordered():
    a, b = CardNumber.from_serial(1), CardNumber.from_serial(2)
    with pytest.raises(FrozenInstanceError):
        a.digits = b.digits
    assert len({a, b, CardNumber.from_serial(1)}) == 2
    assert sorted([b, a]) == [a, b]


def test_random_is_reproducible_and_valid():
    assert sample(50) == sample(50)
    assert all(validate(n.digits) for n in sample(500, seed=1))


def test_every_single_digit_error_is_rejected():
    numbers = sample(300)
    tried = 0
    for number in numbers:
        for position in range(10):
            for digit in "0123456789":
                if digit == number.digits[position]:
                    continue
                typo = number.digits[:position] + digit + number.digits[position + 1 :]
                tried += 1
                assert not validate(typo), f"{typo} (from {number}) passed"
    assert tried == 300 * 10 * 9


def test_every_adjacent_transposition_is_rejected():
    numbers = sample(300)
    tried = 0
    for number in numbers:
        d = number.digits
        for i in range(9):
            if d[i] == d[i + 1]:
                continue
            swapped = d[:i] + d[i + 1] + d[i] + d[i + 2 :]
            tried += 1
            assert not validate(swapped), f"{swapped} (from {number}) passed"
    assert tried > 300 * 9 * 0.8


@pytest.mark.slow
def test_every_transposition_of_every_digit_pair_is_rejected():
    # Exhaustive over the digits: whatever the check state before the pair, swapping two
    # different neighbouring digits changes the result (the quasigroup is weakly totally
    # anti-symmetric), so the property does not depend on the sample above.
    for prefix in range(1000):
        head = f"{prefix:03d}"
        for a in "0123456789":
            for b in "0123456789":
                if a != b:
                    tail = head + a + b + "0000"
                    swapped = head + b + a + "0000"
                    check = CardNumber.from_serial(int(tail)).digits[-1]
                    assert not validate(swapped + check)


def test_shown_quotes_and_cuts():
    assert shown("abc") == "'abc'"
    assert shown("x" * 100).endswith("...'")
    assert len(shown("x" * 100)) < 50
    assert shown(b"\x00\xff") == "'\\x00\\xff'"
