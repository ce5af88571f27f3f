"""``ekarta emulator serve``: composing the front-ends and the control interface around one card.

In-process tests run :func:`ekarta.emulator.serve.serve` on a thread and end it with
``stop_event`` or ``quit``; the command-line tests run ``python -m ekarta emulator serve`` as a
child process and end it with ``quit``, SIGTERM or SIGINT.  Front-ends tested here through
``serve``: the control interface, nfcpy's ``udp`` driver (with ekarta's ``nfcpy:`` reader), the
PN532 pseudo-terminal (with libnfc's ``nfc-list``), and vpcd's wire protocol (with a stand-in for
vpcd on 127.0.0.1; the end-to-end check with pcscd itself belongs to the vpcd front-end's tests).
"""

from __future__ import annotations

import os
import queue
import signal
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ekarta.cli import main
from ekarta.desfire import DESFire, KeySettings
from ekarta.emulator import CardHost, VirtualCard
from ekarta.emulator.control import send_control
from ekarta.emulator.serve import (
    DEFAULT_UDP,
    DEFAULT_VPCD,
    EmulatorServer,
    parse_host_port,
    serve,
)
from ekarta.errors import EmulatorError, InvalidArgument
from ekarta.readers import open_reader

UID = bytes.fromhex("04A1B2C3D4E5F6")
AID = 0x5E4E01
GET_VERSION = bytes.fromhex("9060000000")
TIMEOUT = 10.0
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def card_path(tmp_path) -> Path:
    path = tmp_path / "card.json"
    VirtualCard.new(uid=UID).save(path)
    return path


@pytest.fixture
def run_serve():
    """Start ``serve(path, **kwargs)`` on a thread; yields (banner lines, stop event, thread)."""
    running: list[tuple[threading.Event, threading.Thread]] = []

    def start(path: Path, **kwargs):
        stop = threading.Event()
        ready = threading.Event()
        lines: list[str] = []
        failure: list[BaseException] = []

        def on_ready(banner: list[str]) -> None:
            lines.extend(banner)
            ready.set()

        def target() -> None:
            try:
                serve(path, stop_event=stop, on_ready=on_ready, **kwargs)
            except BaseException as exc:
                failure.append(exc)
                ready.set()

        thread = threading.Thread(target=target, name="serve", daemon=True)
        thread.start()
        running.append((stop, thread))
        assert ready.wait(TIMEOUT), "serve did not get ready"
        if failure:
            raise failure[0]
        return lines, stop, thread

    yield start
    for stop, thread in running:
        stop.set()
        thread.join(TIMEOUT)
        assert not thread.is_alive(), "serve did not stop"


# --- in-process -----------------------------------------------------------------------------------


def test_serve_with_control_only_until_quit(card_path, run_serve, tmp_path):
    sock = tmp_path / "c.sock"
    lines, stop, thread = run_serve(card_path, control=f"unix:{sock}")
    assert lines == [f"control: listening on unix:{sock}"]
    assert send_control(f"unix:{sock}", "status").startswith(
        "ok present=yes uid=04A1B2C3D4E5F6 app=000000")
    assert send_control(f"unix:{sock}", "remove") == "ok removed"
    assert send_control(f"unix:{sock}", "quit") == "ok quitting"
    thread.join(TIMEOUT)
    assert not thread.is_alive() and stop.is_set()  # quit sets the caller's event too
    assert not sock.exists()
    assert VirtualCard.load(card_path).uid == UID


def test_serve_ends_with_the_stop_event(card_path, run_serve):
    _, stop, thread = run_serve(card_path, control="tcp:127.0.0.1:0")
    stop.set()
    thread.join(TIMEOUT)
    assert not thread.is_alive()


def test_serve_refuses_a_missing_card_a_directory_and_nothing_to_serve_with(tmp_path):
    missing = tmp_path / "missing.json"
    with pytest.raises(EmulatorError, match=f"create one with `ekarta emulator new {missing}`"):
        serve(missing, control="tcp:0")
    with pytest.raises(EmulatorError, match="is a directory"):
        serve(tmp_path, control="tcp:0")
    card = tmp_path / "card.json"
    VirtualCard.new().save(card)
    with pytest.raises(InvalidArgument, match="nothing to serve the card with"):
        serve(card)


def test_the_server_saves_the_card_when_it_stops(card_path, tmp_path):
    host = CardHost(VirtualCard.load(card_path), card_path)
    with EmulatorServer(host, control=f"unix:{tmp_path / 'c.sock'}") as server:
        assert server.describe() == [f"control: listening on unix:{tmp_path / 'c.sock'}"]
        DESFire(host).create_application(AID, KeySettings(), key_count=1, key_type="aes")
        card_path.unlink()  # only the save at stop can bring it back
    assert AID in VirtualCard.load(card_path).applications


@pytest.mark.interop
def test_serve_over_nfcpy_udp(card_path, run_serve, tmp_path):
    sock = f"unix:{tmp_path / 'c.sock'}"
    lines, _, thread = run_serve(card_path, udp="127.0.0.1:0", control=sock)
    assert lines[0].startswith("udp: nfcpy udp driver listening on 127.0.0.1:")
    url = lines[0].rsplit("reader URL ", 1)[1].rstrip(")")
    with open_reader(url) as reader:
        assert reader.wait_for_card(timeout=TIMEOUT).uid == UID
        card = DESFire(reader)
        assert card.get_version().uid == UID
        card.create_application(AID, KeySettings(), key_count=1, key_type="aes")
    assert send_control(sock, "quit") == "ok quitting"
    thread.join(TIMEOUT)
    assert AID in VirtualCard.load(card_path).applications


@pytest.mark.interop
def test_serve_as_a_pn532_for_libnfc(card_path, run_serve, tmp_path):
    link = tmp_path / "pn532"
    lines, stop, thread = run_serve(card_path, pn532=link)
    assert lines == [f"pn532: PN532 (HSU) on {link} -> {os.readlink(link)}"]
    env = {**os.environ, "LIBNFC_DEVICE": f"pn532_uart:{link}"}
    out = subprocess.run(["nfc-list"], env=env, capture_output=True, text=True,
                         timeout=TIMEOUT)
    assert "ISO14443A passive target" in out.stdout, out.stdout + out.stderr
    assert "04  a1  b2  c3  d4  e5  f6" in out.stdout
    assert "03  44" in out.stdout and "SAK (SEL_RES): 20" in out.stdout
    stop.set()
    thread.join(TIMEOUT)
    assert not os.path.lexists(link)


def _vpcd_message(conn: socket.socket, payload: bytes) -> bytes:
    conn.sendall(struct.pack(">H", len(payload)) + payload)
    header = b""
    while len(header) < 2:
        chunk = conn.recv(2 - len(header))
        assert chunk, "the front-end hung up"
        header += chunk
    (length,) = struct.unpack(">H", header)
    body = b""
    while len(body) < length:
        chunk = conn.recv(length - len(body))
        assert chunk, "the front-end hung up"
        body += chunk
    return body


def test_serve_to_vpcd_speaks_its_wire_format(card_path, run_serve):
    # a stand-in for vpcd: it listens, the served card connects to it (INTEROP.md)
    with socket.create_server(("127.0.0.1", 0)) as vpcd:
        vpcd.settimeout(TIMEOUT)
        port = vpcd.getsockname()[1]
        lines, stop, thread = run_serve(card_path, vpcd=f"127.0.0.1:{port}")
        assert lines[0].startswith("vpcd: ") and str(port) in lines[0]
        conn, _ = vpcd.accept()
        with conn:
            conn.settimeout(TIMEOUT)
            assert _vpcd_message(conn, b"\x04") == bytes.fromhex("3B8180018080")
            assert _vpcd_message(conn, GET_VERSION) == bytes.fromhex("04010112001A0591AF")
            stop.set()
            thread.join(TIMEOUT)
    assert not thread.is_alive()


def test_a_front_end_that_fails_to_start_stops_the_others(card_path, tmp_path):
    host = CardHost(VirtualCard.load(card_path), card_path)
    link = tmp_path / "pn532"
    sock = tmp_path / "c.sock"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        server = EmulatorServer(host, pn532=link, udp=busy.getsockname(),
                                control=f"unix:{sock}")
        with pytest.raises(EmulatorError, match="udp: cannot listen"):
            server.start()
    assert not os.path.lexists(link) and not sock.exists()
    server.stop()


@pytest.mark.parametrize(("text", "default", "expected"), [
    (None, DEFAULT_VPCD, ("127.0.0.1", 35963)),
    ("", DEFAULT_UDP, ("127.0.0.1", 54321)),
    ("7000", DEFAULT_UDP, ("127.0.0.1", 7000)),
    (":7000", DEFAULT_UDP, ("127.0.0.1", 7000)),
    ("localhost", DEFAULT_VPCD, ("localhost", 35963)),
    ("10.0.0.1:99", DEFAULT_VPCD, ("10.0.0.1", 99)),
    ("[::1]:99", DEFAULT_VPCD, ("::1", 99)),
    ("[::1]", DEFAULT_VPCD, ("::1", 35963)),
    (("127.0.0.1", 0), DEFAULT_UDP, ("127.0.0.1", 0)),
])
def test_host_port(text, default, expected):
    assert parse_host_port(text, default) == expected


@pytest.mark.parametrize("text", ["::1:99", "host:port", "host:70000", "[::1", "[::1]x"])
def test_bad_host_port(text):
    with pytest.raises(InvalidArgument):
        parse_host_port(text, DEFAULT_UDP)


# --- the command line -----------------------------------------------------------------------------


@contextmanager
def serve_process(*argv: str) -> Iterator[tuple[subprocess.Popen, queue.Queue]]:
    """``python -m ekarta emulator serve ARGV`` as a child; yields it and a queue of its
    output lines (None at the end).  Ended on the way out if still running: with SIGABRT, so
    that faulthandler prints where every thread of a hung child was, and everything the child
    printed goes to the test's captured output."""
    proc = subprocess.Popen([sys.executable, "-X", "faulthandler", "-m", "ekarta", "emulator",
                             "serve", *argv],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        yield proc, lines
    finally:
        hung = proc.poll() is None
        if hung:
            proc.send_signal(signal.SIGABRT)
            try:
                proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
        proc.wait(TIMEOUT)
        reader.join(TIMEOUT)
        if hung:
            print(f"the child was still running (exit {proc.returncode}); it printed:")
            while not lines.empty():
                line = lines.get_nowait()
                if line is not None:
                    print(line)
        assert proc.stdout is not None
        proc.stdout.close()


def read_until(lines: queue.Queue, text: str) -> list[str]:
    seen: list[str] = []
    while True:
        try:
            line = lines.get(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"no {text!r} within {TIMEOUT} s; got {seen}") from None
        if line is None:
            raise AssertionError(f"the process ended before {text!r}; got {seen}")
        seen.append(line)
        if text in line:
            return seen


@pytest.mark.slow
def test_cli_serve_prints_a_banner_obeys_control_and_quits(card_path, tmp_path, capsys):
    sock = tmp_path / "c.sock"
    with serve_process(str(card_path), "--control", f"unix:{sock}") as (proc, lines):
        banner = read_until(lines, "serving; Ctrl-C to stop")
        assert banner == [f"emulated card {card_path}", f"  control: listening on unix:{sock}",
                          "serving; Ctrl-C to stop"]
        assert main(["emulator", "control", f"unix:{sock}", "tear", "after", "2"]) == 0
        assert capsys.readouterr().out.startswith("ok armed")
        assert main(["emulator", "control", f"unix:{sock}", "status"]) == 0
        assert "tear=after:2" in capsys.readouterr().out
        assert main(["emulator", "control", f"unix:{sock}", "nonsense"]) == 1
        assert capsys.readouterr().out == "error unknown command 'nonsense' (try help)\n"
        assert main(["emulator", "control", f"unix:{sock}", "quit"]) == 0
        assert proc.wait(TIMEOUT) == 0
        assert read_until(lines, "stopped") == ["stopped; card saved"]
    assert not sock.exists()


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_cli_serve_stops_cleanly_on_a_signal(card_path, tmp_path, signum, ctrl_c):
    with serve_process(str(card_path), "--control", "tcp:127.0.0.1:0",
                       "--pn532", str(tmp_path / "pn532")) as (proc, lines):
        banner = read_until(lines, "serving")
        assert any(line.startswith("  pn532: PN532 (HSU) on") for line in banner)
        assert any(line.startswith("  control: listening on tcp:127.0.0.1:") for line in banner)
        proc.send_signal(signum)
        assert proc.wait(TIMEOUT) == 0
        assert read_until(lines, "stopped") == ["stopped; card saved"]
    assert not os.path.lexists(tmp_path / "pn532")


@pytest.mark.slow
def test_cli_serve_leaves_an_ignored_sigint_ignored(card_path):
    """Started with SIGINT ignored (a background job of a shell without job control), serving
    outlives the Ctrl-C meant for the foreground, and still stops on SIGTERM."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with serve_process(str(card_path), "--control", "tcp:127.0.0.1:0") as (proc, lines):
            signal.signal(signal.SIGINT, previous)
            read_until(lines, "serving")
            proc.send_signal(signal.SIGINT)
            with pytest.raises(subprocess.TimeoutExpired):
                proc.wait(1.0)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(TIMEOUT) == 0
            assert read_until(lines, "stopped") == ["stopped; card saved"]
    finally:
        signal.signal(signal.SIGINT, previous)


SIGNAL_IN_A_LOCKED_WAIT = """
import signal, sys, threading
from ekarta.emulator.serve import serve

class Trap(threading.Event):
    # the worst moment for a signal: the main thread holds the event's own lock
    def wait(self, timeout=None):
        with self._cond:
            signal.raise_signal(signal.SIGTERM)
        return super().wait(timeout)

serve(sys.argv[1], control=sys.argv[2], stop_event=Trap())
print("stopped")
"""


@pytest.mark.slow
def test_a_signal_while_the_stop_event_is_locked_still_stops_serving(card_path, tmp_path):
    """Python runs a signal handler on the main thread between any two bytecodes, also inside
    ``Event.wait()`` while it holds the event's lock; a handler that set the event there would
    wait for that lock forever."""
    proc = subprocess.run([sys.executable, "-c", SIGNAL_IN_A_LOCKED_WAIT, str(card_path),
                           f"unix:{tmp_path / 'c.sock'}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
    assert (proc.returncode, proc.stdout) == (0, "stopped\n"), proc.stderr


def test_cli_serve_errors(card_path, tmp_path, capsys):
    assert main(["emulator", "serve", str(card_path)]) == 1
    assert "nothing to serve the card with" in capsys.readouterr().err
    assert main(["emulator", "serve", str(tmp_path / "none.json"), "--control", "tcp:0"]) == 1
    assert "no emulated card at" in capsys.readouterr().err
    assert main(["emulator", "serve", str(card_path), "--control", "tcp:8.8.8.8:1"]) == 1
    assert "loopback addresses only" in capsys.readouterr().err


def test_cli_control_without_a_server(tmp_path, capsys):
    assert main(["emulator", "control", f"unix:{tmp_path / 'none.sock'}", "status"]) == 1
    assert "ekarta: error: no control interface at unix:" in capsys.readouterr().err


def test_cli_help_has_examples(capsys):
    for command in ("serve", "control"):
        assert main(["emulator", command, "--help"]) == 0
        out = capsys.readouterr().out
        assert "examples:" in out and f"ekarta emulator {command} " in out
