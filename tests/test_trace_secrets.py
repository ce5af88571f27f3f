"""No card key can be recovered from a trace: the attack of an eavesdropper on ``-vvv`` logs and
``spy:`` trace files of the card operations (tests/support/trace_attack.py), which recovers
nothing from a default trace and every key of the card from one taken with the unsafe option.

:data:`CARD_OPERATIONS` lists the commands run, in order, on one card: a card operation that
authenticates or changes keys is added there with the arguments it takes.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from ekarta.cli import main
from ekarta.desfire.client import DESFire
from ekarta.desfire.crypto import Key
from ekarta.desfire.redact import Hidden
from ekarta.emulator import VirtualCard
from ekarta.readers import open_reader
from ekarta.readers.replay import ReplayMismatch, ReplayRedacted
from ekarta.readers.spy import SpyReader
from ekarta.readers.trace import read_trace
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.security.keystore import FileKeyStore
from tests.support.trace_attack import (
    Attack,
    exchanges_in_log,
    exchanges_in_trace_file,
    real_keys,
)

UID = "04A1B2C3D4E5F6"
AT = "2026-11-20T09:00"
NUMBER = str(CardNumber.from_serial(100_000_777))

#: One card operation: its name, and its arguments after ``--reader URL --keys KEYSTORE``.
Operation = tuple[str, Callable[[], list[str]]]

CARD_OPERATIONS: list[Operation] = [
    ("card issue", lambda: ["card", "issue", "--number", NUMBER, "--first-name", "Jana",
                            "--surname", "Nováková", "--expiry", "2030-12-31"]),
    ("coupon load", lambda: ["coupon", "load", "--type", "30-day", "--zones", "1,2",
                             "--serial", "1001", "--price", "550", "--at", AT]),
    ("card activate", lambda: ["card", "activate", "--at", AT]),
    ("card update", lambda: ["card", "update", "--surname", "Novotná", "--at", AT]),
    ("card block", lambda: ["card", "block", "--at", AT]),
    ("card unblock", lambda: ["card", "unblock", "--at", AT]),
    ("purse credit", lambda: ["purse", "credit", "150.50", "--serial", "2001", "--at", AT]),
    ("purse debit", lambda: ["purse", "debit", "20", "--serial", "2002", "--at", AT]),
    ("purse refund", lambda: ["purse", "refund", "--serial", "2003", "--at", AT]),
    ("coupon cancel", lambda: ["coupon", "cancel", "1001", "--at", AT]),
]


@pytest.fixture(scope="module")
def keystore(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "keys.json"
    assert main(["keys", "new", str(path)]) == 0
    return path


def _new_card(path: Path) -> None:
    assert main(["emulator", "new", str(path), "--uid", UID]) == 0


def _run_logged(tmp_path: Path, keystore: Path, *unsafe: str) -> list[Path]:
    """Every card operation on a new card with ``-vvv --log-file`` (a log per command)."""
    card = tmp_path / "card.json"
    _new_card(card)
    logs = []
    for i, (name, args) in enumerate(CARD_OPERATIONS):
        log = tmp_path / f"log-{i}.txt"
        argv = [*unsafe, "-vvv", "--log-file", str(log), *args(),
                "--reader", f"emulator:{card}", "--keys", str(keystore)]
        assert main(argv) == 0, name
        logs.append(log)
    return logs


def _attack_logs(logs: list[Path]) -> Attack:
    seen = [exchange for log in logs for exchange in exchanges_in_log(log)]
    assert len(seen) > 20  # the trace is there: only its secrets are hidden
    return Attack().run(seen)


def test_a_default_log_of_the_card_operations_gives_away_no_key(tmp_path, keystore, capsys):
    logs = _run_logged(tmp_path, keystore)
    capsys.readouterr()
    text = "".join(log.read_text(encoding="utf-8") for log in logs)
    assert "<redacted" in text
    attack = _attack_logs(logs)
    assert attack.recovered() == set()


def test_the_attack_recovers_every_key_from_a_log_with_trace_secrets(tmp_path, keystore,
                                                                     capsys):
    logs = _run_logged(tmp_path, keystore, "--trace-secrets")
    capsys.readouterr()
    assert "<redacted" not in "".join(log.read_text(encoding="utf-8") for log in logs)
    attack = _attack_logs(logs)
    expected = real_keys(FileKeyStore.load(keystore), bytes.fromhex(UID))
    assert expected <= attack.recovered()


def test_the_unsafe_option_is_documented_as_unsafe(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "--trace-secrets" in out and "UNSAFE" in out


# --- spy: trace files -----------------------------------------------------------------------------


def _issue_through_spy(tmp_path: Path, keystore: Path, flag: str) -> Path:
    card = tmp_path / "card.json"
    _new_card(card)
    trace = tmp_path / "trace.jsonl"
    _name, args = CARD_OPERATIONS[0]
    assert main([*args(), "--reader", f"spy:emulator:{card}{flag}#file={trace}",
                 "--keys", str(keystore)]) == 0
    return trace


def test_a_spy_trace_file_is_private_and_gives_away_no_key(tmp_path, keystore, capsys):
    old = os.umask(0o022)
    try:
        trace = _issue_through_spy(tmp_path, keystore, "")
    finally:
        os.umask(old)
    capsys.readouterr()
    assert stat.S_IMODE(trace.stat().st_mode) == 0o600
    assert "<redacted" in trace.read_text(encoding="utf-8")
    seen = exchanges_in_trace_file(trace)
    assert len(seen) > 20
    assert Attack().run(seen).recovered() == set()


def test_a_spy_trace_file_with_secrets_gives_away_every_key(tmp_path, keystore, capsys):
    trace = _issue_through_spy(tmp_path, keystore, "#secrets")
    capsys.readouterr()
    attack = Attack().run(exchanges_in_trace_file(trace))
    assert real_keys(FileKeyStore.load(keystore), bytes.fromhex(UID)) <= attack.recovered()


def test_spy_appends_only_to_a_trace_file(tmp_path, keystore, capsys):
    card, other = tmp_path / "card.json", tmp_path / "other.json"
    _new_card(card)
    _new_card(other)
    before = other.read_bytes()
    code = main(["card", "info", "--reader", f"spy:emulator:{card}#file={other}"])
    assert code == 1
    assert "not an ekarta-trace file" in capsys.readouterr().err
    assert other.read_bytes() == before
    assert VirtualCard.load(other).uid == bytes.fromhex(UID)


@pytest.mark.parametrize(("url", "inner", "secrets", "trace"), [
    ("spy:emulator:", "emulator:", False, None),
    ("spy:emulator:#secrets", "emulator:", True, None),
    ("spy:emulator:#secrets#file={t}", "emulator:", True, "{t}"),
    ("spy:emulator:#file={t}#secrets", "emulator:", True, "{t}"),
    ("spy:emulator:#file={t}", "emulator:", False, "{t}"),
])
def test_the_spy_secrets_flag(tmp_path, url, inner, secrets, trace):
    t = str(tmp_path / "t.jsonl")
    with open_reader(url.format(t=t)) as spy:
        assert isinstance(spy, SpyReader)
        assert spy.inner.url == inner
        assert spy.trace_path == (None if trace is None else trace.format(t=t))
        assert ("#secrets" in spy.url) is secrets
        assert spy._tracer.revealing is secrets


# --- replay: redacted traces ----------------------------------------------------------------------


def test_a_redacted_trace_replays_until_its_first_authentication(tmp_path):
    trace = tmp_path / "t.jsonl"
    with open_reader(f"spy:emulator:#file={trace}") as spy:
        spy.wait_for_card(timeout=1)
        card = DESFire(spy, rng=lambda n: bytes(n))
        version = card.get_version()
        card.authenticate(0, Key.default("des"), "iso")
        card.get_key_settings()
    [session] = read_trace(trace)
    auth = next(e for e in session.exchanges if e.command[1] == 0x1A)
    assert auth.command_hidden == Hidden(5, 1) and auth.response_hidden == Hidden(0, 8)
    with open_reader(f"replay:{trace}") as replay:
        card = DESFire(replay, rng=lambda n: bytes(n))
        assert card.get_version() == version
        with pytest.raises(ReplayRedacted, match=r"step 4 of .*hides the secret data"):
            card.authenticate(0, Key.default("des"), "iso")


def test_a_redacted_command_matches_by_its_visible_bytes_and_length(tmp_path):
    trace = tmp_path / "t.jsonl"
    trace.write_text(
        '{"format": "ekarta-trace", "version": 1, "url": "emulator:", "card": null}\n'
        '{"t": 0, "ms": 1, "c": "90 C4 00 00 02 <redacted 2 bytes> 00", "r": "91 00"}\n'
        '{"t": 0, "ms": 1, "c": "90 C4 00 00 02 <redacted 2 bytes> 00", "r": "91 00"}\n',
        encoding="utf-8")
    with open_reader(f"replay:{trace}") as replay:
        assert replay.transceive(bytes.fromhex("90C40000020102 00")) == bytes.fromhex("9100")
        with pytest.raises(ReplayMismatch) as caught:
            replay.transceive(bytes.fromhex("90C4000003010203 00"))
        assert str(caught.value).endswith("expected 90 C4 00 00 02 <redacted 2 bytes> 00\n"
                                          "  got      90 C4 00 00 03 ... (9 bytes)")


@pytest.mark.parametrize("method", ["legacy", "iso", "aes", "ev2first"])
def test_the_attack_breaks_every_authentication_method_of_a_revealed_trace(tmp_path, method):
    """The attacker is as good on each method: it follows a key change into a new key, and an
    EV2 session into AuthenticateEV2NonFirst."""
    trace = tmp_path / "t.jsonl"
    aes = method in ("aes", "ev2first")
    factory = Key.default("aes" if aes else "des")
    new = Key.from_hex("aes", "00112233445566778899AABBCCDDEEFF") if aes else \
        Key.from_hex("tdes2", "0123456789ABCDEF FEDCBA9876543210")
    with open_reader(f"spy:emulator:#secrets#file={trace}") as spy:
        card = DESFire(spy)
        if aes:  # a PICC AES key first, through the factory DES key
            card.authenticate(0, Key.default("des"), "iso")
            card.change_key(0, factory.with_version(0), None)
        card.authenticate(0, factory, method)
        card.change_key(0, new)
        card.authenticate(0, new, method)
        if method == "ev2first":
            card.authenticate(0, new, "ev2nonfirst")
        card.get_card_uid()
    attack = Attack().run(exchanges_in_trace_file(trace))
    assert (new.type, new.with_version(0).data) in attack.recovered()
    assert len(attack.found) == (3 if aes else 2) + (method == "ev2first")
