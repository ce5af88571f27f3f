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
from ekarta.emulator import VirtualCard
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
    card = tmp_path / "card.json"
    _new_card(card)
    before = card.read_bytes()
    code = main(["card", "info", "--reader", f"spy:emulator:{card}#file={card}"])
    assert code == 1
    assert "not an ekarta-trace file" in capsys.readouterr().err
    assert card.read_bytes() == before
    assert VirtualCard.load(card).uid == bytes.fromhex(UID)
