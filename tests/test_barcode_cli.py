"""``ekarta barcode``: render, decode and listen, run in-process through the real command line."""

from __future__ import annotations

import io
import logging
import socket
import subprocess
import sys
import threading
import time

import pytest
from PIL import Image

from ekarta.barcode import CardNumber, decode_image, open_scanner
from ekarta.cli import main
from ekarta.cli.barcode_cmd import listen
from ekarta.cli.common import CLIError

A = CardNumber.from_serial(123_456_789)
B = CardNumber.from_serial(987_654_321)
BAD = A.digits[:9] + str((A.check_digit + 1) % 10)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["barcode", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_render_svg_and_png(capsys, tmp_path):
    code, out, err = run(capsys, "render", A.formatted, "-o", str(tmp_path / "a.svg"))
    assert (code, out, err) == (0, "", "")
    assert b"<svg" in (tmp_path / "a.svg").read_bytes()
    assert A.formatted.encode() in (tmp_path / "a.svg").read_bytes()
    code, _, err = run(capsys, "render", str(A), "-o", str(tmp_path / "a.png"), "--dpi", "600")
    assert code == 0, err
    with Image.open(tmp_path / "a.png") as image:
        assert round(image.info["dpi"][0]) == 600
    assert decode_image(tmp_path / "a.png") == A


def test_render_card_face(capsys, tmp_path):
    photo = tmp_path / "photo.png"
    Image.new("RGB", (60, 80), (10, 200, 10)).save(photo)
    face = tmp_path / "face.png"
    code, _, err = run(capsys, "render", str(A), "-o", str(face), "--name", "Jiří Novák",
                       "--profile", "Žáci a studenti", "--photo", str(photo))
    assert code == 0, err
    with Image.open(face) as image:
        assert image.size == (1011, 638)
    assert decode_image(face) == A
    code, _, err = run(capsys, "render", str(A), "-o", str(tmp_path / "b.png"), "--card-face")
    assert code == 0, err


@pytest.mark.parametrize(("argv", "message"), [
    ([BAD, "-o", "x.png"], "fails its check digit"),
    (["12345", "-o", "x.png"], "must have 10 digits, got 5"),
    ([str(A), "-o", "x.gif"], "use .svg or .png"),
    ([str(A), "-o", "x.svg", "--card-face"], "card face is written as .png"),
    ([str(A), "-o", "x.png", "--photo", "missing.jpg"], "cannot read photo"),
])
def test_render_errors_are_one_line(capsys, tmp_path, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    code, out, err = run(capsys, "render", *argv)
    assert code == 1
    assert out == ""
    assert err.startswith("ekarta: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_render_usage_errors(capsys):
    assert run(capsys, "render", str(A))[0] == 2  # no -o
    assert run(capsys, "render", str(A), "-o", "x.png", "--dpi", "10")[0] == 2


def test_decode_reports_each_file(capsys, tmp_path):
    main(["barcode", "render", str(A), "-o", str(tmp_path / "a.png")])
    main(["barcode", "render", str(B), "-o", str(tmp_path / "b.png"), "--card-face"])
    main(["barcode", "render", str(B), "-o", str(tmp_path / "b.svg")])
    Image.new("L", (640, 480), 128).save(tmp_path / "blank.png")
    capsys.readouterr()
    code, out, err = run(capsys, "decode", str(tmp_path / "a.png"), str(tmp_path / "b.png"))
    assert (code, err) == (0, "")
    assert out.splitlines() == [f"{tmp_path / 'a.png'}: {A}", f"{tmp_path / 'b.png'}: {B}"]

    names = [tmp_path / "a.png", tmp_path / "blank.png", tmp_path / "missing.png",
             tmp_path / "b.svg"]
    code, out, err = run(capsys, "decode", *map(str, names))
    assert code == 1 and err == ""
    lines = out.splitlines()
    assert lines[0] == f"{names[0]}: {A}"
    assert lines[1] == f"{names[1]}: not readable (no barcode found in the image)"
    assert lines[2].startswith(f"{names[2]}: not readable (cannot read image")
    assert lines[3].startswith(f"{names[3]}: not readable (")
    assert "decode a PNG" in lines[3]


def test_listen_function_over_loop():
    with open_scanner("loop://", prefix=b"]C0", debounce=5.0) as scanner:
        scanner.port.write(f"]C0{A}\r]C0{A}\r]C0{BAD}\r]C0{B}\r".encode())
        out, err = io.StringIO(), io.StringIO()
        assert listen(scanner, count=2, timeout=5.0, out=out, err=err) == 0
    assert out.getvalue().splitlines() == [str(A), str(B)]
    assert err.getvalue().startswith("ekarta: refused scan: card number")
    assert "check digit" in err.getvalue()


@pytest.mark.slow
def test_listen_function_timeout():
    with open_scanner("loop://") as scanner:
        scanner.port.write(f"{A}\r".encode())
        out = io.StringIO()
        started = time.monotonic()
        assert listen(scanner, timeout=0.3, out=out, err=io.StringIO()) == 0
        assert 0.25 < time.monotonic() - started < 3
        assert out.getvalue() == f"{A}\n"
        scanner.port.write(f"{B}\r".encode())
        with pytest.raises(CLIError, match=r"timed out after 0\.2 s with 1 of 2"):
            listen(scanner, count=2, timeout=0.2, out=io.StringIO(), err=io.StringIO())


class ScannerOpened(logging.Handler):
    """Set when ekarta logs that it opened a scanner."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.event = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("opened scanner"):
            self.event.set()


def serve_lines(payload: bytes, opened: threading.Event):
    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        connection, _ = server.accept()
        with connection:
            # pyserial's socket:// drops what arrives while it opens: send once it is open.
            opened.wait(10)
            connection.sendall(payload)
            connection.recv(1)  # hold the connection until the client closes it

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return server.getsockname()[1], thread, server


def test_listen_command_over_socket(capsys):
    opened = ScannerOpened()
    scanner_log = logging.getLogger("ekarta.barcode.scanner")
    scanner_log.addHandler(opened)
    payload = f"\x02{A}\x03\r\n\x02{BAD}\x03\r\n\x02{B}\x03\r\n".encode()
    port, thread, server = serve_lines(payload, opened.event)
    try:
        code, out, err = run(capsys, "listen", "--scanner", f"socket://127.0.0.1:{port}",
                             "--terminator", "CRLF", "--prefix", "\\x02", "--suffix", "\\x03",
                             "--count", "2", "--timeout", "10", "-v")
    finally:
        scanner_log.removeHandler(opened)
        thread.join(5)
        server.close()
    assert code == 0, err
    assert out.splitlines() == [str(A), str(B)]
    refused = [line for line in err.splitlines() if not line.startswith("ekarta: INFO:")]
    assert len(refused) == 1 and refused[0].startswith("ekarta: refused scan: ")


def test_listen_command_errors(capsys):
    code, _, err = run(capsys, "listen", "--scanner", "/dev/ttyACM0")
    assert code == 1 and err.startswith("ekarta: error: unknown scanner URL")
    code, _, err = run(capsys, "listen", "--scanner", "loop://", "--count", "1",
                       "--timeout", "0.1")
    assert code == 1 and "timed out after 0.1 s with 0 of 1" in err
    assert run(capsys, "listen", "--scanner", "loop://", "--prefix", "č")[0] == 2
    assert run(capsys, "listen", "--scanner", "loop://", "--terminator", "")[0] == 2
    assert run(capsys, "listen", "--scanner", "loop://", "--count", "0")[0] == 2


def test_help_lists_barcode(capsys):
    assert main(["--help"]) == 0
    assert "barcode" in capsys.readouterr().out


def test_interrupt_stops_listen_in_a_real_process(ctrl_c):
    """Ctrl-C ends ``listen`` with status 130 and no traceback."""
    import select
    import signal

    process = subprocess.Popen(
        [sys.executable, "-m", "ekarta", "barcode", "listen", "--scanner", "loop://", "-v"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    try:
        # Interrupt only once the scanner is open (-v logs it), not while Python starts.
        ready, _, _ = select.select([process.stderr], [], [], 30)
        assert ready, "listen did not start"
        assert b"opened scanner loop://" in process.stderr.readline()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130
    assert out == b""
    assert b"Traceback" not in err
