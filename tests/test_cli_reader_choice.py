"""Which card a command talks to: a command that changes a card never falls back to the throwaway
emulated card, and an empty reader URL is an error everywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from ekarta.cli.common import DEFAULT_READER, CLIError, reader_url
from ekarta.transit.security.keystore import create_keystore
from tests.support.cli import commands, defaults, option, run

CHANGING = [words for words, parser in commands() if defaults(parser).__dict__.get("changes_card")]
WITH_READER = [words for words, parser in commands() if option(parser, "--reader") is not None]


@pytest.fixture(autouse=True)
def _no_reader_env(monkeypatch):
    monkeypatch.delenv("EKARTA_READER", raising=False)


@pytest.fixture(scope="module")
def keystore(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "keys.json"
    create_keystore(path)
    return path


def test_the_card_changing_commands_declare_it():
    assert {("card", "issue"), ("card", "format"), ("coupon", "load"), ("coupon", "cancel"),
            ("coupon", "replace"), ("card", "activate"), ("card", "block"),
            ("card", "unblock"), ("card", "update"), ("purse", "credit"), ("purse", "debit"),
            ("purse", "refund")} <= set(CHANGING)
    for reading in (("card", "info"), ("card", "show"), ("card", "key"), ("purse", "show")):
        assert reading not in CHANGING


@pytest.mark.parametrize("words", CHANGING, ids=" ".join)
def test_a_card_changing_command_refuses_the_implicit_default_reader(words):
    parser = dict(commands())[words]
    with pytest.raises(CLIError, match=r"--reader URL \(or \$EKARTA_READER\)"):
        reader_url(defaults(parser))


@pytest.mark.parametrize("words", CHANGING, ids=" ".join)
def test_a_card_changing_command_takes_a_named_reader(words, monkeypatch):
    args = defaults(dict(commands())[words])
    args.reader = "emulator:card.json"
    assert reader_url(args) == "emulator:card.json"
    args.reader = None
    monkeypatch.setenv("EKARTA_READER", "pcsc:")
    assert reader_url(args) == "pcsc:"
    monkeypatch.delenv("EKARTA_READER")
    args.reader = DEFAULT_READER  # named explicitly: the user asked for a throwaway card
    assert reader_url(args) == DEFAULT_READER


@pytest.mark.parametrize("argv", [
    ("card", "issue", "--number", "1234567894", "--anonymous"),
    ("card", "format", "--key", "0:des:0000000000000000", "--yes"),
    ("coupon", "load", "--type", "30-day", "--zones", "1,2", "--serial", "7"),
], ids=lambda argv: " ".join(argv[:2]))
def test_without_a_reader_nothing_is_reported_done(argv, keystore, capsys):
    extra = () if argv[1] == "format" else ("--keys", str(keystore))
    code, out, err = run(capsys, *argv, *extra)
    assert code == 1
    assert out == ""
    assert err.startswith("ekarta: error: this command changes the card: name the reader")
    assert err.count("\n") == 1


def test_a_reader_from_the_environment_counts_as_named(keystore, tmp_path, capsys, monkeypatch):
    card = tmp_path / "card.json"
    assert run(capsys, "emulator", "new", str(card))[0] == 0
    monkeypatch.setenv("EKARTA_READER", f"emulator:{card}")
    code, out, err = run(capsys, "card", "issue", "--keys", str(keystore), "--number",
                         "1234567894", "--anonymous")
    assert code == 0, err
    assert out.startswith("issued card 123 456 789 4")


def test_reading_commands_still_default_to_a_fresh_emulated_card(capsys):
    code, out, _ = run(capsys, "card", "info")
    assert code == 0 and "7936 bytes" in out


@pytest.mark.parametrize("words", WITH_READER, ids=" ".join)
@pytest.mark.parametrize("url", ["", " "])
def test_an_empty_reader_url_is_an_error(words, url, capsys, monkeypatch):
    monkeypatch.setenv("EKARTA_READER", "emulator:")
    code, out, err = run(capsys, *words, "-r", url)
    assert code == 2
    assert out == ""
    assert "argument -r/--reader: an empty reader URL names no reader" in err
