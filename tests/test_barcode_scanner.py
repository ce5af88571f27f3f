"""Barcode scanners: a serial scanner over pyserial's loop://, socket:// and a real pseudo
terminal delivers numbers with prefix and suffix stripped and double reads dropped
(acceptance 4); the keyboard wedge tells a scanner's typing from a person's."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

from ekarta.barcode import (
    CardNumber,
    InvalidCardNumber,
    KeyboardWedge,
    Scan,
    ScanFilter,
    ScannerError,
    open_scanner,
)
from ekarta.barcode.scanner import MAX_LINE

A = CardNumber.from_serial(123_456_789)
B = CardNumber.from_serial(987_654_321)
BAD = A.digits[:9] + str((A.check_digit + 1) % 10)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def read_all(scanner, timeout: float = 0.2) -> list[Scan]:
    scans = []
    while (scan := scanner.read(timeout)) is not None:
        scans.append(scan)
    return scans


def test_loop_delivers_strips_and_debounces(clock):
    with open_scanner("loop://", prefix=b"]C0", suffix=b"#", debounce=1.0, clock=clock) as s:
        s.port.write(b"]C0" + A.digits.encode() + b"#\r")
        s.port.write(b"]C0" + A.digits.encode() + b"#\r")  # the double read
        s.port.write(b"]C0" + B.digits.encode() + b"#\r")
        scans = read_all(s)
        assert [scan.number for scan in scans] == [A, B]
        assert all(scan.ok and scan.error is None for scan in scans)
        assert scans[0].raw == "]C0" + A.digits + "#"
        assert scans[0].at == clock.now

        clock.advance(0.5)
        s.port.write(b"]C0" + B.digits.encode() + b"#\r")  # B again, too soon: dropped
        assert s.read(0.1) is None
        clock.advance(2.0)
        s.port.write(b"]C0" + B.digits.encode() + b"#\r")  # a new pass of the same card
        assert s.read(1.0).number == B


def test_debounce_window_restarts_with_each_repeat(clock):
    with open_scanner("loop://", debounce=1.0, clock=clock) as s:
        for _ in range(5):  # a card held under a scanner that keeps reading
            s.port.write(A.digits.encode() + b"\r")
            clock.advance(0.6)
        s.port.write(A.digits.encode() + b"\r")
        assert [scan.number for scan in read_all(s)] == [A]


def test_same_number_after_another_is_not_a_double_read(clock):
    with open_scanner("loop://", clock=clock) as s:
        s.port.write(f"{A}\r{B}\r{A}\r".encode())
        assert [scan.number for scan in read_all(s)] == [A, B, A]


def test_without_debounce_every_read_counts(clock):
    with open_scanner("loop://", debounce=0, clock=clock) as s:
        s.port.write(f"{A}\r{A}\r".encode())
        assert [scan.number for scan in read_all(s)] == [A, A]


def test_bad_check_digit_is_an_error_scan(clock):
    with open_scanner("loop://", clock=clock) as s:
        s.port.write(f"{BAD}\r{B}\r".encode())
        bad, good = read_all(s)
        assert not bad.ok and bad.number is None
        assert isinstance(bad.error, InvalidCardNumber)
        assert "check digit" in str(bad.error)
        assert str(bad).startswith("refused: ")
        assert good.number == B and str(good) == B.digits


def test_other_barcodes_and_garbage_are_error_scans(clock):
    with open_scanner("loop://", clock=clock) as s:
        s.port.write(b"5901234123457\r" + b"\xff\xfe\x1b[2J\r" + b"123 456 789 4\r")
        scans = read_all(s)
        assert [scan.ok for scan in scans] == [False, False, False]
        assert "must have 10 digits" in str(scans[0].error)
        assert "not ASCII" in str(scans[1].error)
        assert "\x1b" not in str(scans[1].error)
        assert "non-digit" in str(scans[2].error)  # scanners send bare digits


@pytest.mark.slow
def test_crlf_and_lf_endings(clock):
    with open_scanner("loop://", terminator=b"\r\n", clock=clock) as s:
        s.port.write(f"{A}\r\n{B}\r\n".encode())
        assert [scan.number for scan in read_all(s)] == [A, B]
    with open_scanner("loop://", terminator=b"\r", clock=clock) as s:
        s.port.write(f"{A}\r\n{B}\r\n".encode())  # the LF is left at the next line's start
        assert [scan.number for scan in read_all(s)] == [A, B]
    with open_scanner("loop://", terminator=b"\n", clock=clock) as s:
        s.port.write(f"\n\n{A}\n".encode())  # empty lines are skipped
        assert [scan.number for scan in read_all(s)] == [A]


def test_partial_line_waits_for_the_rest(clock):
    with open_scanner("loop://", clock=clock) as s:
        s.port.write(A.digits[:4].encode())
        started = time.monotonic()
        assert s.read(0.2) is None
        assert 0.15 < time.monotonic() - started < 2.0
        s.port.write(A.digits[4:].encode() + b"\r")
        assert s.read(1.0).number == A


def test_overlong_line_is_refused_once_and_reading_goes_on(clock):
    with open_scanner("loop://", clock=clock) as s:
        s.port.write(b"7" * (MAX_LINE * 3))
        first = s.read(0.2)
        assert not first.ok and "too long" in str(first.error)
        assert len(first.raw) == MAX_LINE
        s.port.write(b"7" * 100 + b"\r" + A.digits.encode() + b"\r")
        assert [scan.number for scan in read_all(s)] == [A]
        s.port.write(b"8" * (MAX_LINE + 1) + b"\r" + B.digits.encode() + b"\r")
        long, good = read_all(s)
        assert "too long" in str(long.error) and good.number == B


def test_iteration_yields_scans(clock):
    with open_scanner("loop://", clock=clock) as s:
        s.port.write(f"{A}\r{BAD}\r{B}\r".encode())
        scans = []
        for scan in s:
            scans.append(scan)
            if len(scans) == 3:
                break
        assert [scan.ok for scan in scans] == [True, False, True]


def test_closed_port_is_a_scanner_error():
    scanner = open_scanner("loop://")
    scanner.close()
    with pytest.raises(ScannerError, match="loop:// failed"):
        scanner.read(0.1)
    scanner.close()  # twice is fine


def test_socket_scanner(clock):
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    opened = threading.Event()

    def serve():
        connection, _ = server.accept()
        with connection:
            # pyserial's socket:// drops what arrives while it opens: send once it is open.
            opened.wait(10)
            connection.sendall(b"\x02" + A.digits.encode() + b"\x03\r\n")
            time.sleep(0.05)
            connection.sendall(b"\x02" + A.digits.encode() + b"\x03\r\n")  # double read
            connection.sendall(b"\x02" + B.digits.encode())
            time.sleep(0.05)
            connection.sendall(b"\x03\r\n")  # a line split across packets

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with open_scanner(f"socket://127.0.0.1:{port}", terminator=b"\r\n", prefix=b"\x02",
                          suffix=b"\x03", clock=clock) as s:
            opened.set()
            assert s.read(5.0).number == A
            assert s.read(5.0).number == B
            with pytest.raises(ScannerError, match="disconnected"):
                s.read(5.0)
    finally:
        thread.join(5.0)
        server.close()


@pytest.mark.slow
def test_serial_device_on_a_pseudo_terminal(clock):
    import tty

    controller, device = os.openpty()
    tty.setraw(device)
    try:
        path = os.ttyname(device)
        with open_scanner(f"serial:{path}?baud=115200", clock=clock) as s:
            assert s.port.baudrate == 115200
            os.write(controller, f"{A}\r{B}\r".encode())
            assert [scan.number for scan in read_all(s, timeout=0.5)] == [A, B]
        with open_scanner(f"serial:{path}", clock=clock) as s:
            assert s.port.baudrate == 9600
    finally:
        os.close(controller)
        os.close(device)


@pytest.mark.parametrize(("url", "message"), [
    ("/dev/ttyACM0", "unknown scanner URL"),
    ("serial:", "names no device"),
    ("serial:?baud=9600", "names no device"),
    ("serial:/dev/ttyACM0?speed=9600", "unknown option 'speed'"),
    ("serial:/dev/ttyACM0?baud=fast", "baud must be a positive integer"),
    ("serial:/dev/ttyACM0?baud=0", "baud must be a positive integer"),
    ("serial:/dev/ttyACM0?baud", "malformed query"),
    ("serial:/dev/ttyACM0?baud=", "baud must be a positive integer"),
    ("serial:/nonexistent/ekarta-scanner", "cannot open scanner"),
    ("bogus://x", "cannot open scanner"),
    ("socket://127.0.0.1:1", "cannot open scanner"),
])
def test_bad_urls(url, message):
    with pytest.raises(ScannerError, match=message):
        open_scanner(url)


def test_bad_options():
    with pytest.raises(ScannerError, match="terminator must not be empty"):
        open_scanner("loop://", terminator=b"")
    with pytest.raises(ScannerError, match="prefix must be ASCII"):
        open_scanner("loop://", prefix="č".encode())
    with pytest.raises(ScannerError, match="suffix must be bytes"):
        open_scanner("loop://", suffix="#")
    with pytest.raises(ValueError, match="debounce"):
        open_scanner("loop://", debounce=-1)


def test_filter_strips_only_what_is_there(clock):
    f = ScanFilter(prefix="ID", suffix="!", clock=clock, debounce=0)
    assert f.accept(f"ID{A}!").number == A
    assert f.accept(f"{A}").number == A
    assert f.accept(f"\r\n{A}\r\n").number == A
    assert f.accept("") is None
    assert not f.accept(f"XX{A}").ok


# --- keyboard wedge -----------------------------------------------------------------------------


def type_keys(wedge: KeyboardWedge, clock: Clock, text: str, gap: float) -> list[Scan]:
    scans = []
    for char in text:
        clock.advance(gap)
        scan = wedge.feed(char)
        if scan is not None:
            scans.append(scan)
    return scans


def test_wedge_recognises_a_scanner_burst(clock):
    wedge = KeyboardWedge(clock=clock)
    scans = type_keys(wedge, clock, f"{A}\r", gap=0.004)
    assert [s.number for s in scans] == [A]
    assert wedge.pending == ""


def test_wedge_ignores_a_person_typing(clock):
    wedge = KeyboardWedge(clock=clock)
    assert type_keys(wedge, clock, f"{A}\r", gap=0.15) == []
    # quick digits, but Enter pressed by hand afterwards
    assert type_keys(wedge, clock, A.digits, gap=0.004) == []
    clock.advance(0.5)
    assert wedge.feed("\r") is None


def test_wedge_burst_after_typing_starts_afresh(clock):
    wedge = KeyboardWedge(clock=clock)
    type_keys(wedge, clock, "hello", gap=0.2)
    clock.advance(0.3)
    assert [s.number for s in type_keys(wedge, clock, f"{B}\n", gap=0.005)] == [B]


def test_wedge_short_bursts_are_not_scans(clock):
    wedge = KeyboardWedge(clock=clock, min_length=4)
    assert type_keys(wedge, clock, "12\r", gap=0.001) == []
    scans = type_keys(wedge, clock, "1234\r", gap=0.001)
    assert len(scans) == 1 and not scans[0].ok


def test_wedge_prefix_suffix_debounce_and_errors(clock):
    wedge = KeyboardWedge(prefix="*", suffix="*", debounce=1.0, clock=clock)
    assert [s.number for s in type_keys(wedge, clock, f"*{A}*\r", gap=0.002)] == [A]
    assert type_keys(wedge, clock, f"*{A}*\r", gap=0.002) == []  # double read
    clock.advance(2.0)
    assert [s.number for s in type_keys(wedge, clock, f"*{A}*\r", gap=0.002)] == [A]
    bad = type_keys(wedge, clock, f"*{BAD}*\r", gap=0.002)
    assert len(bad) == 1 and "check digit" in str(bad[0].error)


def test_wedge_in_burst_and_feed_text(clock):
    wedge = KeyboardWedge(clock=clock)
    type_keys(wedge, clock, "12345", gap=0.002)
    assert wedge.in_burst
    clock.advance(1.0)
    assert not wedge.in_burst
    assert [s.number for s in wedge.feed_text(f"{A}\r{B}\r")] == [A, B]  # a paste: no gaps
    with pytest.raises(ValueError, match="one character"):
        wedge.feed("12")
    with pytest.raises(ValueError, match="single characters"):
        KeyboardWedge(terminators=["enter"])


def test_wedge_caps_a_runaway_burst(clock):
    wedge = KeyboardWedge(clock=clock)
    scans = wedge.feed_text("9" * 100_000 + "\r")
    assert len(scans) == 1 and "too long" in str(scans[0].error)


def test_ctrl_c_ends_a_wait_with_no_end(ctrl_c: None) -> None:
    """A Ctrl-C that lands just before a blocking read starts is still seen.

    ``_thread.interrupt_main`` trips the signal flag without waking a blocked call: the main
    thread sees it only once it runs Python code again, as with a real SIGINT that arrives in
    that gap.  A scan written after 5 s is the rescue that keeps a failing run from hanging.
    """
    import _thread

    with open_scanner("loop://") as scanner:
        interrupt = threading.Timer(0.2, _thread.interrupt_main)
        rescue = threading.Timer(5, lambda: scanner.port.write(f"{A.digits}\r".encode()))
        started = time.monotonic()
        interrupt.start()
        rescue.start()
        try:
            with pytest.raises(KeyboardInterrupt):
                scanner.read()
            waited = time.monotonic() - started
        finally:
            interrupt.cancel()
            rescue.cancel()
    assert waited < 2.0
