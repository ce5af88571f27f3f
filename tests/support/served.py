"""A card served by ``ekarta emulator serve`` in a child process, as a PN532 on a pty, with its
control interface: the card is held to the reader (``insert``) and taken away (``remove``)
through it, and the front-end stopped (``quit``) and started again as a reader unplugged and
plugged back.  Also ``ekarta ARGV`` run in the test's process, which must succeed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.cli import run

__all__ = ["WAIT", "control", "ekarta", "served_card"]

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


def ekarta(capsys, *argv: str) -> str:
    """``ekarta ARGV`` in this process, which must succeed; its standard output."""
    code, out, err = run(capsys, *argv)
    assert code == 0, (argv, err)
    return out


def control(capsys, address: str, command: str) -> None:
    """The card is held to the reader (``insert``), taken away (``remove``)..."""
    out = ekarta(capsys, "emulator", "control", address, *command.split())
    assert out.startswith("ok"), (command, out)
