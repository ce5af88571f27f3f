"""Test support for the terminal apps' end-to-end tests: a card issued through the office on a
card file (:func:`issued_through_office`), and with the office served, a terminal's directory
(:func:`office_terminal`); the card served by ``ekarta emulator serve`` as a PN532 in a child
process (:func:`served_card`, :func:`card_off_reader`), held to the reader and taken away
through its control interface (:func:`control`); a terminal's command on that reader
(:func:`terminal_app`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.cli import ekarta
from tests.support.office import OfficeServer, office_json, synced

__all__ = ["FIRST_NAME", "SURNAME", "WAIT", "IssuedCard", "card_off_reader", "control",
           "issued_through_office", "office_terminal", "served_card", "terminal_app"]

WAIT = 20.0
"""Seconds a screen or a process gets: generous, the machine may be busy."""


@contextmanager
def served_card(path: Path, link: Path, control: Path) -> Iterator[str]:
    """``ekarta emulator serve PATH --pn532 LINK --control unix:CONTROL`` in a child process,
    until the control interface's ``quit``; yields the control address."""
    log = path.with_suffix(".log")
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "ekarta", "emulator", "serve", str(path), "--pn532",
             str(link), "--control", f"unix:{control}"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    quitted = False
    try:
        deadline = time.monotonic() + WAIT
        while not (b"serving" in log.read_bytes() and os.path.lexists(link)):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield f"unix:{control}"
        quitted = True  # the test ends it with the control interface's quit: let it finish
    finally:
        if not quitted and process.poll() is None:
            process.terminate()
        try:
            process.wait(WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.returncode == 0, log.read_text()


def reader_link(folder: Path) -> Path:
    """The PN532 a card is served as by :func:`card_off_reader` in ``folder``."""
    return folder / "pn532"


@contextmanager
def card_off_reader(capsys, chip: Path, folder: Path) -> Iterator[str]:
    """The card file ``chip`` served as the PN532 :func:`reader_link` of ``folder`` (its control
    socket there too), the card away from the reader at first; yields the control address."""
    with served_card(chip, reader_link(folder), folder / "card.sock") as card:
        control(capsys, card, "remove")
        yield card


def terminal_app(command: str, directory: Path | str, folder: Path, *options: str) -> list[str]:
    """``ekarta COMMAND DIRECTORY`` (validator, inspector, kiosk) on the card's reader of
    :func:`card_off_reader` in ``folder``, with ``options``."""
    return [sys.executable, "-m", "ekarta", command, str(directory), "--reader",
            f"pn532:{reader_link(folder)}", *options]


def control(capsys, address: str, command: str) -> None:
    """The card is held to the reader (``insert``), taken away (``remove``), made mute
    (``mute on``)..."""
    out = ekarta(capsys, "emulator", "control", address, *command.split())
    assert out.startswith("ok"), (command, out)


FIRST_NAME, SURNAME = "Xaverína", "Quendlová"
"""The holder of the card :func:`issued_through_office` issues (names no other test data use,
so that a screen or a journal shows them only where something put them)."""


@dataclass(frozen=True)
class IssuedCard:
    """A student's card the office issued on a card file, with what a terminal needs."""

    database: str
    keys: str
    """The operator's full keystore."""
    exported: str
    """The keys of the terminal's role."""
    number: str
    chip: Path
    token: str
    """The terminal device's token at the office."""
    sold: dict[str, Any]
    """The 30-day coupon for zones 1 and 2 sold in the e-shop (paid, held by the office)."""
    role: str

    def terminal(self, capsys, directory: Path, office: str) -> Path:
        """The device's terminal directory, made with the office at ``office`` and synced."""
        ekarta(capsys, "terminal", "init", str(directory), "--office", office, "--role",
               self.role, "--keys", self.exported, "--token", self.token)
        synced(capsys, directory)
        return directory


def issued_through_office(capsys, folder: Path, *, role: str, device: str,
                          uid: str) -> IssuedCard:
    """A card applied for at the office, produced on the card file ``folder/card.json`` (its
    UID ``uid``), activated there and on its chip, a device of ``role`` named ``device`` added,
    and a 30-day coupon sold for it in the e-shop."""
    database = str(folder / "office.db")
    keys, exported = str(folder / "keys.json"), str(folder / f"{role}-keys.json")
    ekarta(capsys, "keys", "new", keys)
    ekarta(capsys, "keys", "export", keys, "--role", role, "-o", exported)
    office_json(capsys, database, "init")
    number = office_json(capsys, database, "card", "apply", "--first-name", FIRST_NAME,
                         "--surname", SURNAME, "--birth-date", "2007-03-17", "--profile",
                         "student", "--profile-end", "2027-08-31", "--contact",
                         "xq@example.cz")["card_number"]
    chip = folder / "card.json"
    ekarta(capsys, "emulator", "new", str(chip), "--uid", uid)
    office_json(capsys, database, "card", "produce", number, "--keys", keys,
                "--reader", f"emulator:{chip}")
    office_json(capsys, database, "card", "activate", number)
    # staff at the contact point hand the card over active: its chip says so too
    ekarta(capsys, "card", "activate", "--reader", f"emulator:{chip}", "--keys", keys)
    token = office_json(capsys, database, "device", "add", device, "--role", role)["token"]
    sold = office_json(capsys, database, "coupon", "sell", number, "--type", "30-day",
                       "--zones", "1,2", "--keys", keys)
    assert sold["paid"]
    return IssuedCard(database, keys, exported, number, chip, token, sold, role)


@contextmanager
def office_terminal(capsys, folder: Path, *, role: str, device: str,
                    uid: str) -> Iterator[tuple[IssuedCard, Path]]:
    """A card issued through the office in ``folder`` (:func:`issued_through_office`), the
    office served over HTTP meanwhile, and the terminal directory ``folder/ROLE`` of the device
    made with it and synced; yields the card and the directory."""
    issued = issued_through_office(capsys, folder, role=role, device=device, uid=uid)
    with OfficeServer.running(issued.database, issued.keys, log=folder / "serve.log") as server:
        yield issued, issued.terminal(capsys, folder / role, server.url)
