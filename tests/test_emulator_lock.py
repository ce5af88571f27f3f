"""One stored card, one holder at a time: the emulator: reader, 'emulator serve' and the
commands that change a card file lock it, so that no update is lost; the next save removes
the temporary files an interrupted save left beside the card (they hold its keys).

The tests with real processes (``python -m ekarta``) are slow: each process takes half a second
to start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ekarta.cli import main
from ekarta.desfire import DESFire
from ekarta.emulator import VirtualCard
from ekarta.emulator.reader import EmulatorReader
from ekarta.emulator.serve import serve
from ekarta.errors import FileInUse
from ekarta.transit import decode_slot
from ekarta.transit.codec.layout import AID, SLOTS_FILE
from ekarta.transit.codec.records import SLOT_SIZE
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.security.keystore import create_keystore

UID = bytes.fromhex("04A0A1A2A3A4A5")


def _create_app(aid: int) -> str:
    """CreateApplication of ``aid`` (one AES key), as free on a factory card, in hex."""
    return f"90CA000005{aid.to_bytes(3, 'little').hex()}0F8100"


@pytest.fixture
def card(tmp_path) -> Path:
    path = tmp_path / "card.json"
    VirtualCard.new(uid=UID).save(path)
    return path


def applications(path: Path) -> set[int]:
    return {aid for aid in VirtualCard.load(path).applications if aid}


def serials(path: Path) -> set[int]:
    data = bytes(VirtualCard.load(path).state.applications[AID].files[SLOTS_FILE.file_no].data)
    found = set()
    for i in range(0, len(data), SLOT_SIZE):
        signed = decode_slot(data[i:i + SLOT_SIZE])
        if signed is not None:
            found.add(signed.serial)
    return found


def ekarta(*args: object, **popen: object) -> subprocess.Popen[str]:
    """``python -m ekarta ARGS`` in its own process."""
    return subprocess.Popen([sys.executable, "-m", "ekarta", *map(str, args)], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)


# --- in one process -------------------------------------------------------------------------------


def test_a_second_reader_waits_and_then_names_the_card_file(card):
    with EmulatorReader(path=card) as first:
        first.wait_for_card(timeout=1)
        second = EmulatorReader(path=card)
        started = time.monotonic()
        with pytest.raises(FileInUse) as error:
            second.wait_for_card(timeout=0.05)
        assert time.monotonic() - started >= 0.05
        assert str(error.value) == f"card file {card} is in use by another process"
        assert not second.card_present
        second.close()


def test_a_second_reader_gets_the_card_with_the_first_ones_changes(card):
    first = EmulatorReader(path=card)
    done: list[set[int]] = []

    def second_holder() -> None:
        with EmulatorReader(path=card) as second:
            second.wait_for_card(timeout=10)
            DESFire(second).create_application(0x000002, key_count=1)
            done.append(applications(card))

    thread = threading.Thread(target=second_holder)
    thread.start()
    time.sleep(0.05)
    DESFire(first).create_application(0x000001, key_count=1)
    first.close()
    thread.join(10)
    assert done == [{1, 2}]
    assert applications(card) == {1, 2}


def test_the_cli_says_a_card_file_is_in_use(card, capsys):
    with EmulatorReader(path=card):
        code = main(["apdu", "--reader", f"emulator:{card}", "--wait", "0.05", _create_app(1)])
    err = capsys.readouterr().err
    assert code == 1
    assert err == f"ekarta: error: card file {card} is in use by another process\n"
    assert applications(card) == set()


def test_a_served_card_is_not_changed_behind_the_server(card, tmp_path, capsys):
    stop, ready = threading.Event(), threading.Event()
    server = threading.Thread(target=serve, args=(card,), kwargs=dict(
        control=f"unix:{tmp_path / 'control.sock'}", stop_event=stop,
        on_ready=lambda lines: ready.set()))
    server.start()
    try:
        assert ready.wait(10)
        code = main(["apdu", "--reader", f"emulator:{card}", "--wait", "0.05",
                     _create_app(1)])
        assert code == 1
        assert "is in use by another process" in capsys.readouterr().err
        with pytest.raises(FileInUse):
            serve(card, control=f"unix:{tmp_path / 'other.sock'}", handle_signals=False)
    finally:
        stop.set()
        server.join(10)
    assert applications(card) == set()
    code = main(["apdu", "--reader", f"emulator:{card}", "--wait", "0.05", _create_app(1)])
    assert code == 0
    assert applications(card) == {1}


def test_the_next_save_removes_what_an_interrupted_save_left(card):
    directory = card.parent
    ours = directory / f".{card.name}.0badf00d.tmp"
    legacy = directory / ".ekarta-card-ab12cd34.tmp"  # named as earlier versions named them
    others = [directory / ".other.json.0badf00d.tmp", directory / "notes.tmp"]
    for path in (ours, legacy, *others):
        path.write_text('{"picc": {"key": "secret"}}')
    old = time.time() - 3600
    os.utime(legacy, (old, old))
    with EmulatorReader(path=card) as reader:
        reader.wait_for_card(timeout=1)
        DESFire(reader).create_application(0x000001, key_count=1)
    assert not ours.exists()
    assert not legacy.exists()
    assert all(path.exists() for path in others)
    assert applications(card) == {1}


def test_emulator_show_of_a_held_card_says_so(card, capsys):
    with EmulatorReader(path=card):
        assert main(["emulator", "show", str(card)]) == 0
    assert "in use by another process" in capsys.readouterr().out
    assert main(["emulator", "show", str(card)]) == 0
    assert "in use" not in capsys.readouterr().out


# --- real processes -------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_process_waits_for_the_holder_instead_of_losing_its_update(card):
    holder = EmulatorReader(path=card)
    holder.wait_for_card(timeout=1)
    other = ekarta("-v", "apdu", "--reader", f"emulator:{card}", "--wait", "60",
                   _create_app(1))
    assert other.stderr is not None
    for line in other.stderr:  # until it waits for the card (or, unlocked, it is done)
        if "in use by another process" in line:
            break
    DESFire(holder).create_application(0x000002, key_count=1)
    holder.close()
    out, err = other.communicate(timeout=60)
    assert other.returncode == 0, err
    assert "status 9100" in out
    assert applications(card) == {1, 2}


@pytest.mark.slow
def test_two_coupon_loads_at_once_both_end_on_the_card(tmp_path, capsys):
    keys, card = tmp_path / "keys.json", tmp_path / "card.json"
    create_keystore(keys)
    VirtualCard.new(uid=UID).save(card)
    assert main(["card", "issue", "--reader", f"emulator:{card}", "--keys", str(keys),
                 "--number", str(CardNumber.from_serial(4242)), "--first-name", "Jana",
                 "--surname", "Nováková", "--expiry", "2030-12-31"]) == 0
    capsys.readouterr()
    # both processes import everything first, then start at one signal: their loads overlap
    go = tmp_path / "go"
    starter = ("import os, sys, time\n"
               "from ekarta.cli import build_parser, main\n"
               "build_parser()\n"
               "print('ready', flush=True)\n"
               f"while not os.path.exists({str(go)!r}):\n"
               "    time.sleep(0.001)\n"
               "sys.exit(main(sys.argv[1:]))\n")
    loads = [subprocess.Popen(
        [sys.executable, "-c", starter, "coupon", "load", "--reader", f"emulator:{card}",
         "--keys", str(keys), "--at", "2026-11-20T09:00", "--type", "30-day", "--zones", "1",
         "--from", f"2026-12-0{serial}", "--serial", str(serial), "--wait", "60"],
        text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for serial in (1, 2)]
    for process in loads:
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
    go.touch()
    results = [(p.wait(timeout=60), *p.communicate()) for p in loads]
    for code, out, err in results:
        assert code == 0, err
        assert "loaded coupon" in out
    assert serials(card) == {1, 2}


@pytest.mark.slow
def test_a_kill_during_saves_leaves_a_card_that_loads_and_no_keys_beside_it(card):
    saver = (
        "import sys\n"
        "from ekarta.emulator import VirtualCard\n"
        "from ekarta.files import FileLock\n"
        "path = sys.argv[1]\n"
        "card = VirtualCard.load(path)\n"
        "with FileLock(path):\n"
        "    print('saving', flush=True)\n"
        "    while True:\n"
        "        card.save(path)\n")
    for kill in range(6):
        process = subprocess.Popen([sys.executable, "-c", saver, str(card)], text=True,
                                   stdout=subprocess.PIPE)
        assert process.stdout is not None and process.stdout.readline() == "saving\n"
        time.sleep(0.01 * kill)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        assert VirtualCard.load(card).uid == UID
    with EmulatorReader(path=card) as reader:
        reader.wait_for_card(timeout=5)
        DESFire(reader).create_application(0x000001, key_count=1)
    assert [n for n in os.listdir(card.parent) if n.endswith(".tmp")] == []
    assert applications(card) == {1}
