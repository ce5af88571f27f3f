"""Test support: a card file served by ``ekarta emulator serve`` as a PN532 in a child process
(:func:`served_card`), held to the reader and taken away through its control interface
(:func:`control`), as the terminal apps' end-to-end tests use it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.cli import ekarta

__all__ = ["WAIT", "control", "served_card"]

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


def control(capsys, address: str, command: str) -> None:
    """The card is held to the reader (``insert``), taken away (``remove``), made mute
    (``mute on``)..."""
    out = ekarta(capsys, "emulator", "control", address, *command.split())
    assert out.startswith("ok"), (command, out)
