"""Every option of every command over its whole range: boundary and hostile values never end in a
traceback.  Each value goes to one option of an otherwise valid command line (emulated card in a
file, a keystore, ``--wait`` short), run in-process; the command may accept it (0), refuse it
(1: one ``ekarta: error:`` line) or call it a usage error (2), and nothing else.

The commands come from walking ``build_parser()``, so a command added later is swept too (with
only its options: arguments it requires and this file does not know make every case a usage
error, which still must be a clean one).  The whole sweep is ``slow``; the fast loop runs a few
values of the same sweep.  A NUL never comes from a real command line (the OS cannot pass one), but
main() is also called in-process and refuses it.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from ekarta.cli import main
from ekarta.transit.security.keystore import create_keystore
from tests.support.cli import commands

VALUES = [
    "0", "-1", "1", "255", "256", "65536", "2147483648", "99999999999999999999999999", "1e400",
    "-0", "0.000001", "nan", "inf", "-inf", "0x10", "", " ", "-", "x", "ABC", "%s{}%n", "::",
    "1,2,,3", "a\nb", "\t", "ž\u202e\U0001f600", "\ufeff1", "١٢٣", "\0", "emulator:", "/", ".",
    "x" * 5000,
]
"""Boundary, non-numeric, unicode (RTL override, Arabic-Indic digits, BOM) and control values."""

FAST_VALUES = ["-1", "", "\0", "99999999999999999999999999", "ž\u202e\U0001f600", "a\nb"]

ALARM = 0.5
"""A value that makes a command wait (a huge --timeout, a good address to serve on) is accepted:
Ctrl-C ends it after this."""
AGAIN = 2.0
"""Then Ctrl-C again every this often until the command ends: an interrupt that lands while the
interpreter runs a finalizer is printed and dropped, which left a served card serving on."""

pytestmark = [
    # the sweep takes SIGALRM for its Ctrl-C, which is pytest-timeout's default way: its limit
    # then comes from a thread of its own
    pytest.mark.timeout(method="thread"),
    # an interrupt dropped in a finalizer (above) is reported as an unraisable exception: the
    # sweep's own doing
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

WAITING = {("emulator", "serve"), ("barcode", "listen")}
"""Commands that run until stopped when their values are good: left to the slow sweep."""


def base_argv(words: tuple[str, ...], files: dict[str, str]) -> list[str]:
    """A valid command line for ``words`` without the option under test."""
    card, issued, keys = files["card"], files["issued"], files["keys"]
    known: dict[tuple[str, ...], list[str]] = {
        ("emulator", "new"): ["new-card.json", "--force"],
        ("emulator", "show"): [card],
        ("emulator", "serve"): [card],
        ("emulator", "control"): ["unix:no-such-socket", "status"],
        ("card", "info"): ["-r", f"emulator:{card}"],
        ("card", "format"): ["-r", f"emulator:{card}", "--key", "0:des:0000000000000000",
                             "--yes"],
        ("card", "issue"): ["-r", f"emulator:{card}", "--keys", keys, "--number", "1234567894",
                            "--anonymous"],
        ("card", "show"): ["-r", f"emulator:{issued}", "--keys", keys],
        ("apdu",): ["-r", f"emulator:{card}", "9060000000"],
        ("barcode", "render"): ["1234567894", "-o", "barcode.svg"],
        ("barcode", "decode"): [files["barcode"]],
        ("barcode", "listen"): ["--scanner", "loop://", "--timeout", "0.01"],
        ("keys", "new"): ["new-keys.json", "--force"],
        ("keys", "show"): [keys],
        ("coupon", "load"): ["-r", f"emulator:{issued}", "--keys", keys, "--type", "30-day",
                             "--zones", "1,2", "--serial", "5"],
    }
    argv = list(known.get(words, []))
    return [*words, *argv]


def _value_options(parser: argparse.ArgumentParser) -> Iterator[str]:
    for action in parser._actions:
        if not action.option_strings or action.nargs == 0:
            continue
        if isinstance(action, argparse._HelpAction | argparse._VersionAction):
            continue
        yield max(action.option_strings, key=len)


def options() -> list[tuple[tuple[str, ...], str]]:
    """Every option that takes a value, of every command."""
    return [(words, flag) for words, parser in commands() for flag in _value_options(parser)]


def one_each(values: list[str]) -> list[tuple[tuple[str, ...], str, str]]:
    """One value for each option, taking ``values`` in turn."""
    options = [(words, flag) for words, parser in commands() if words not in WAITING
               for flag in _value_options(parser)]
    return [(words, flag, values[i % len(values)]) for i, (words, flag) in enumerate(options)]


def _id(case: tuple[tuple[str, ...], str, str]) -> str:
    words, flag, value = case
    return f"{' '.join(words)} {flag}={value[:12]!r}"


LAZY = ("ekarta.backoffice", "ekarta.terminal", "ekarta.barcode", "ekarta.emulator")
"""Packages whose modules the commands import when they run, imported before the sweep: an
interrupt that lands in the middle of an import (SQLAlchemy's takes seconds on a loaded machine)
leaves a package half made in this process, and every later test would trip on it.  The apps
(Textual) and the office's migrations are not run by the sweep."""


def _import_lazy() -> None:
    for package in LAZY:
        root = importlib.import_module(package)
        for module in pkgutil.walk_packages(root.__path__, f"{package}."):
            if ".apps" not in module.name and ".migrations" not in module.name:
                importlib.import_module(module.name)


@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> dict[str, Path]:
    _import_lazy()
    where = tmp_path_factory.mktemp("sweep")
    keys, card, issued = where / "keys.json", where / "card.json", where / "issued.json"
    create_keystore(keys)
    assert main(["emulator", "new", str(card)]) == 0
    shutil.copy(card, issued)
    assert main(["card", "issue", "-r", f"emulator:{issued}", "--keys", str(keys), "--number",
                 "1234567894", "--anonymous"]) == 0
    barcode = where / "barcode.png"
    assert main(["barcode", "render", "1234567894", "-o", str(barcode), "--dpi", "150"]) == 0
    return {"keys": keys, "card": card, "issued": issued, "barcode": barcode}


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def sweep(case, templates, tmp_path, monkeypatch, capsys) -> None:
    words, flag, value = case
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EKARTA_READER", raising=False)
    monkeypatch.delenv("EKARTA_KEYS", raising=False)
    files = {}
    for name, template in templates.items():
        files[name] = str(tmp_path / template.name)
        shutil.copy(template, files[name])
    argv = base_argv(words, files)
    if flag == "--reader":  # the base's own reader is what is swept
        argv = [a for i, a in enumerate(argv) if a != "-r" and (i == 0 or argv[i - 1] != "-r")]
    argv += [f"{flag}={value}"] if value.startswith("-") else [flag, value]
    if flag != "--wait" and "-r" in argv:
        argv += ["--wait", "0.5"]
    capsys.readouterr()
    previous = signal.signal(signal.SIGALRM, _interrupt)
    signal.setitimer(signal.ITIMER_REAL, ALARM, AGAIN)
    try:
        code = main(argv)
    except KeyboardInterrupt:
        # the alarm landed outside the command's own handling (its imports, its teardown): the
        # machine was slow, which says nothing of the value swept (test_cli_interrupt checks
        # the handling itself)
        code = 130
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    _, err = capsys.readouterr()
    assert "Traceback" not in err, err
    # card show: 3 is its verdict "not valid" (the swept card holds no coupon)
    assert code in ((0, 1, 2, 3, 130) if words == ("card", "show") else (0, 1, 2, 130)), (code, err)
    errors = [line for line in err.splitlines() if "error:" in line]
    if code in (1, 2):
        assert len(errors) == 1, err
        assert errors[0].startswith("ekarta"), err
        assert err.rstrip("\n").splitlines()[-1] == errors[0], err
    else:
        assert errors == [], err


@pytest.mark.parametrize("case", one_each(FAST_VALUES), ids=_id)
def test_option_values_fast(case, templates, tmp_path, monkeypatch, capsys):
    sweep(case, templates, tmp_path, monkeypatch, capsys)


@pytest.mark.slow
@pytest.mark.parametrize("option", options(), ids=lambda o: f"{' '.join(o[0])} {o[1]}")
def test_option_values_whole_range(option, templates, tmp_path, monkeypatch, capsys):
    words, flag = option
    for index, value in enumerate(VALUES):  # one test an option: thousands fewer to collect
        where = tmp_path / str(index)
        where.mkdir()
        sweep((words, flag, value), templates, where, monkeypatch, capsys)


@pytest.mark.parametrize(("words", "flag", "value"), [
    (("emulator", "serve"), "--vpcd", "ž\u202e\U0001f600"),
    (("emulator", "serve"), "--udp", "x" * 5000),
    (("emulator", "serve"), "--udp", "\t:1"),
    (("emulator", "control"), "--timeout", "99999999999999999999999999"),
    (("emulator", "control"), "--timeout", "inf"),
    (("card", "info"), "--key-file", "a\nb"),
    (("card", "info"), "--log-file", "\0"),
], ids=lambda v: v if isinstance(v, str) else " ".join(v))
def test_values_the_sweep_found(words, flag, value, templates, tmp_path, monkeypatch, capsys):
    sweep((words, flag, value), templates, tmp_path, monkeypatch, capsys)
