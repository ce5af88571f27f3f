"""Acceptance 2: PC/SC tools nobody here wrote see the emulated card (pcsc-tools' ``pcsc_scan``
and ``scriptor``, through the real pcscd and vpcd).

Invocations, checked against pcsc-tools 1.6.2 (Debian 12):

* ``pcsc_scan -c`` — lists the cards in every reader once and exits;
* ``stdbuf -oL pcsc_scan -n -t 30`` — follows card events (``-n``: no ATR analysis, ``-t``: quit
  after 30 s at the latest; ``stdbuf`` makes it write each line at once into our pipe);
* ``scriptor -r READER`` — sends the APDUs read from stdin (hex, one per line; ``reset``
  reconnects and prints the ATR) and prints ``> command`` / ``< response : meaning`` lines.
"""

from __future__ import annotations

import queue
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from ekarta.emulator import CardHost, VirtualCard
from tests.support.pcsc import Pcscd, pcscd, serve_pcsc, wait_reader  # noqa: F401 (pcscd: fixture)

pytestmark = pytest.mark.interop

UID = bytes.fromhex("04A0A1A2A3A4A5")
ATR_TEXT = "3B 81 80 01 80 80"
TOOL_TIMEOUT = 30.0


@dataclass(frozen=True)
class Served:
    host: CardHost
    reader_name: str


@pytest.fixture
def served(pcscd: Pcscd) -> Iterator[Served]:  # noqa: F811 (the imported fixture)
    host = CardHost(VirtualCard.new(uid=UID))
    with serve_pcsc(host) as url:
        yield Served(host, url.removeprefix("pcsc:"))


@pytest.fixture(autouse=True)
def _tools_installed() -> None:
    for tool in ("pcsc_scan", "scriptor", "stdbuf"):
        assert shutil.which(tool), f"{tool} is not installed: run scripts/install"


@dataclass
class ScanEvent:
    reader: str
    state: str
    atr: str | None = None


@dataclass
class ScanLog:
    """What pcsc_scan printed, read into reader events as the lines come."""

    events: list[ScanEvent] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    _reader: str | None = None

    def feed(self, line: str) -> None:
        self.lines.append(line)
        text = line.strip()
        if match := re.fullmatch(r"Reader \d+: (.+)", text):
            self._reader = match.group(1)
        elif (match := re.fullmatch(r"Card state: (.*)", text)) and self._reader:
            self.events.append(ScanEvent(self._reader, match.group(1).strip(" ,")))
        elif (match := re.fullmatch(r"ATR: ([0-9A-F ]+)", text)) and self.events:
            self.events[-1].atr = match.group(1).strip()

    def of(self, reader: str) -> list[ScanEvent]:
        return [event for event in self.events if event.reader == reader]


def test_pcsc_scan_lists_the_card_with_its_atr(served: Served):
    result = subprocess.run(["pcsc_scan", "-c"], capture_output=True, text=True,
                            errors="replace", timeout=TOOL_TIMEOUT, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    log = ScanLog()
    for line in result.stdout.splitlines():
        log.feed(line)
    events = log.of(served.reader_name)
    assert len(events) == 1, result.stdout
    assert events[0].state.startswith("Card inserted"), result.stdout
    assert events[0].atr == ATR_TEXT, result.stdout


def test_pcsc_scan_follows_removal_and_insertion(served: Served):
    process = subprocess.Popen(["stdbuf", "-oL", "pcsc_scan", "-n", "-t", "30"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, text=True, errors="replace")
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    log = ScanLog()

    def reported(states: list[str]) -> bool:
        events = log.of(served.reader_name)
        if [e.state.split(",")[0] for e in events] != states:
            return False
        return events[-1].atr is not None or not states[-1].endswith("inserted")  # ATR follows

    def wait_for(states: list[str]) -> None:
        deadline = time.monotonic() + 10.0
        while not reported(states):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"pcsc_scan did not report {states}:\n{''.join(log.lines)}"
            try:
                line = lines.get(timeout=remaining)
            except queue.Empty:
                continue
            assert line is not None, f"pcsc_scan ended early:\n{''.join(log.lines)}"
            log.feed(line)

    try:
        wait_for(["Card inserted"])
        served.host.remove()
        wait_for(["Card inserted", "Card removed"])
        served.host.insert()
        wait_for(["Card inserted", "Card removed", "Card inserted"])
    finally:
        process.terminate()
        try:
            process.wait(5.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5.0)
        reader.join(5.0)
        if process.stdout is not None:
            process.stdout.close()
    events = log.of(served.reader_name)
    assert [e.atr for e in events] == [ATR_TEXT, None, ATR_TEXT]


def _scriptor(reader_name: str, script: str) -> list[tuple[str, str]]:
    """Run scriptor on ``script``; the (command, response) pairs it printed."""
    result = subprocess.run(["scriptor", "-r", reader_name], input=script, capture_output=True,
                            text=True, errors="replace", timeout=TOOL_TIMEOUT)
    assert result.returncode == 0, f"scriptor failed:\n{result.stdout}\n{result.stderr}"
    assert f"Using given card reader: {reader_name}" in result.stderr
    pairs: list[tuple[str, str]] = []
    command = None
    for line in result.stdout.splitlines():
        if line.startswith("> "):
            command = line[2:].strip()
        elif line.startswith("< ") and command is not None:
            pairs.append((command, line[2:].split(":")[0].strip()
                          if not line.startswith("< OK:") else line[5:].strip()))
            command = None
    return pairs


def test_scriptor_exchanges_a_get_version(served: Served):
    pairs = _scriptor(served.reader_name, "90 60 00 00 00\n90 AF 00 00 00\n90AF000000\n")
    assert [command for command, _ in pairs] == ["90 60 00 00 00", "90 AF 00 00 00",
                                                 "90 AF 00 00 00"]
    hardware, software, production = (bytes.fromhex(response) for _, response in pairs)
    assert hardware[-2:] == software[-2:] == b"\x91\xAF"
    assert hardware[0] == 0x04 and len(hardware) == 9  # NXP, 7 bytes and the status
    assert production[:7] == UID and production[-2:] == b"\x91\x00"
    assert served.host.card.commands_processed == 3


def test_scriptor_reset_shows_the_atr_and_the_card_answers_after(served: Served):
    pairs = _scriptor(served.reader_name, "reset\n90 6E 00 00 00\nFF CA 00 00 00\n")
    assert pairs == [
        ("RESET", ATR_TEXT),
        ("90 6E 00 00 00", "00 1F 00 91 00"),
        ("FF CA 00 00 00", UID.hex(" ").upper() + " 90 00"),
    ]
