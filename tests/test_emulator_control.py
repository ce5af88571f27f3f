"""The control interface of a served card, over Unix sockets and TCP on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import socket
import stat
import struct
import threading
import time

import pytest

from ekarta.emulator import CardMute, CardTorn, Faults
from ekarta.emulator.control import (
    MAX_LINE,
    ControlAddress,
    ControlError,
    ControlServer,
    parse_control_address,
    send_control,
)
from ekarta.errors import EmulatorError, InvalidArgument

UID = bytes.fromhex("04A1B2C3D4E5F6")
FREE_MEMORY = bytes.fromhex("906E000000")
SELECT_PICC = bytes.fromhex("905A00000300000000")
TIMEOUT = 5.0


@pytest.fixture(params=["unix", "tcp"])
def server(request, host, tmp_path):
    address = f"unix:{tmp_path / 'control.sock'}" if request.param == "unix" else "tcp:0"
    quits = []
    with ControlServer(host, address, on_quit=lambda: quits.append(True),
                       idle_timeout=1.0) as server:
        server.quits = quits
        yield server
    assert server._thread is None


def ask(server: ControlServer, command: str) -> str:
    return send_control(server.address, command, timeout=TIMEOUT)


def status(server: ControlServer) -> dict[str, str]:
    answer = ask(server, "status")
    assert answer.startswith("ok ")
    return dict(field.split("=", 1) for field in answer[3:].split())


class Client:
    """A raw client connection, for what send_control never sends."""

    def __init__(self, server: ControlServer) -> None:
        address = server.address
        family = socket.AF_UNIX if address.kind == "unix" else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect(address.path if address.kind == "unix" else (address.host, address.port))
        self.buffer = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> str:
        while b"\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise EOFError(f"connection closed; got {self.buffer!r}")
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode("ascii")

    def closed_by_server(self) -> bool:
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return True

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def client(server):
    clients: list[Client] = []

    def make() -> Client:
        clients.append(Client(server))
        return clients[-1]

    yield make
    for c in clients:
        c.close()


# --- commands -------------------------------------------------------------------------------------


def test_status(server, host):
    assert status(server) == {"present": "yes", "uid": "04A1B2C3D4E5F6", "app": "000000",
                              "transaction": "no", "free": "7936", "mute": "no",
                              "latency": "0", "tear": "none"}
    host.transceive(SELECT_PICC)
    host.arm(Faults(tear_during=4, tear_progress=0.25, latency=0.01))
    assert status(server)["tear"] == "during:4@0.25"
    assert status(server)["latency"] == "0.01"


def test_status_shows_the_selected_application_and_a_pending_transaction(server, host):
    from ekarta.desfire import AccessRights, DESFire, KeySettings

    card = DESFire(host)
    card.create_application(0x123456, KeySettings(), key_count=1, key_type="aes")
    card.select_application(0x123456)
    free = AccessRights(read=14, write=14, read_write=14, change=14)
    card.create_value_file(1, value=10, access=free)
    card.credit(1, 5)
    fields = status(server)
    assert fields["app"] == "123456" and fields["transaction"] == "yes"
    assert int(fields["free"]) < 7936


def test_remove_and_insert(server, host):
    seen = []
    host.add_listener(seen.append)
    assert ask(server, "remove") == "ok removed"
    assert not host.present and status(server)["present"] == "no"
    with pytest.raises(CardTorn):
        host.transceive(FREE_MEMORY)
    assert ask(server, "remove") == "ok removed (it was not in the field)"
    assert ask(server, "insert") == "ok inserted"
    assert host.present and host.transceive(FREE_MEMORY).endswith(b"\x91\x00")
    assert ask(server, "INSERT") == "ok inserted (it was in the field already)"
    assert seen == [False, True]


def test_tear_now(server, host):
    host.transceive(SELECT_PICC)
    assert ask(server, "tear") == "ok torn: the card lost power"
    assert not host.present
    with pytest.raises(CardTorn):
        host.transceive(FREE_MEMORY)


def test_tear_after(server, host):
    assert ask(server, "tear after 1").startswith("ok armed: the card loses power as command 1")
    assert host.card.faults == Faults(tear_after=1)
    host.transceive(FREE_MEMORY)
    with pytest.raises(CardTorn):
        host.transceive(FREE_MEMORY)
    assert status(server)["present"] == "no"


def test_tear_during_with_and_without_progress(server, host):
    assert ask(server, "tear during 2").startswith("ok armed: command 2")
    assert host.card.faults == Faults(tear_during=2, tear_progress=0.5)
    assert "70%" in ask(server, "tear during 0 progress 0.7")
    assert host.card.faults == Faults(tear_during=0, tear_progress=0.7)
    with pytest.raises(CardTorn, match="70% done"):
        host.transceive(FREE_MEMORY)


def test_mute_and_latency_keep_the_other_faults(server, host):
    assert ask(server, "tear after 5") .startswith("ok")
    assert ask(server, "mute on") == "ok mute on"
    assert host.card.faults == Faults(tear_after=5, mute=True)
    with pytest.raises(CardMute):
        host.transceive(FREE_MEMORY)
    assert ask(server, "mute off") == "ok mute off"
    assert ask(server, "latency 0.05") == "ok latency 0.05 s"
    assert host.card.faults == Faults(tear_after=5, latency=0.05)
    started = time.monotonic()
    host.transceive(FREE_MEMORY)
    assert time.monotonic() - started >= 0.05
    assert ask(server, "tear during 1") .startswith("ok")
    assert host.card.faults == Faults(tear_during=1, latency=0.05)
    assert ask(server, "clear") == "ok faults cleared"
    assert host.card.faults == Faults()


def test_help_lists_every_command(server):
    answer = ask(server, "help")
    for word in ("status", "remove", "insert", "tear after N", "tear during N [progress P]",
                 "mute on|off", "latency SECONDS", "quit", "help"):
        assert word in answer


def test_quit_calls_back_and_ends_the_connection(server, client):
    c = client()
    c.send(b"quit\n")
    assert c.line() == "ok quitting"
    assert c.closed_by_server()
    assert server.quits == [True]
    assert status(server)["present"] == "yes"  # the interface serves on until stopped


@pytest.mark.parametrize(("command", "error"), [
    ("frobnicate", "error unknown command 'frobnicate' (try help)"),
    ("", "error empty command (try help)"),
    ("status now", "error status takes no arguments"),
    ("tear after", "error usage: tear | tear after N | tear during N [progress P]"),
    ("tear after -1", "error N must be a command count"),
    ("tear after 1e3", "error N must be a command count"),
    ("tear during 2 progress 1.5", "error P must be 0..1"),
    ("tear during 2 speed 0.5", "error usage: tear during N [progress P]"),
    ("tear sideways", "error usage: tear"),
    ("mute maybe", "error usage: mute on|off"),
    ("latency", "error usage: latency SECONDS"),
    ("latency -1", "error SECONDS must be 0..60"),
    ("latency nan", "error SECONDS must be 0..60"),
    ("latency 61", "error SECONDS must be 0..60"),
    ("latency soon", "error SECONDS must be a number"),
])
def test_bad_commands_are_errors(server, host, command, error):
    assert ask(server, command).startswith(error)
    assert host.card.faults == Faults() and host.present


def test_several_commands_on_one_connection_and_garbage_in_between(server, client):
    c = client()
    c.send(b"status\r\nremove\n\xff\xfe garbage\n\x1b[2J\ninsert\n")
    assert c.line().startswith("ok present=yes")
    assert c.line() == "ok removed"
    assert c.line() == "error commands are ASCII text (try help)"
    assert c.line() == "error commands are printable text (try help)"
    assert c.line() == "ok inserted"
    c.send(b"st")
    c.send(b"atus\n")
    assert c.line().startswith("ok present=yes")


def test_a_last_command_without_a_line_end_is_answered(server, client):
    c = client()
    c.send(b"remove")
    c.sock.shutdown(socket.SHUT_WR)
    assert c.line() == "ok removed"


@pytest.mark.parametrize("chunks", [
    [b"x" * (MAX_LINE + 2)],                      # no line end at all
    [b"status " + b"a" * MAX_LINE + b"\n"],       # a whole line, too long
    [b"y" * 100] * 40,                            # trickled in
])
def test_an_over_long_line_is_refused_and_the_next_client_is_served(server, client, chunks):
    c = client()
    for chunk in chunks:
        try:
            c.send(chunk)
        except (BrokenPipeError, ConnectionResetError):
            break
    assert c.line() == f"error line too long (at most {MAX_LINE} bytes)"
    assert c.closed_by_server()
    assert status(server)["present"] == "yes"


def test_clients_are_served_one_after_another(server, client):
    for _ in range(5):
        assert ask(server, "status").startswith("ok")
    first = client()
    first.send(b"remove\n")
    assert first.line() == "ok removed"
    results = []
    second = threading.Thread(target=lambda: results.append(ask(server, "insert")))
    second.start()
    time.sleep(0.2)
    assert results == []  # waits its turn
    first.close()
    second.join(TIMEOUT)
    assert results == ["ok inserted"]


@pytest.mark.slow
def test_a_silent_client_is_disconnected_after_the_idle_timeout(server, client):
    c = client()
    started = time.monotonic()
    assert c.line() == "error idle for 1 s; disconnecting"
    assert 0.9 < time.monotonic() - started < TIMEOUT
    assert status(server)["present"] == "yes"


# --- addresses ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("unix:/tmp/x.sock", ControlAddress("unix", path="/tmp/x.sock")),
    ("/tmp/x.sock", ControlAddress("unix", path="/tmp/x.sock")),
    ("x.sock", ControlAddress("unix", path="x.sock")),
    ("tcp:127.0.0.1:7000", ControlAddress("tcp", host="127.0.0.1", port=7000)),
    ("tcp:localhost:7000", ControlAddress("tcp", host="127.0.0.1", port=7000)),
    ("tcp:127.0.0.2:0", ControlAddress("tcp", host="127.0.0.2", port=0)),
    ("tcp:7000", ControlAddress("tcp", host="127.0.0.1", port=7000)),
    ("tcp:[::1]:7000", ControlAddress("tcp", host="::1", port=7000)),
])
def test_control_addresses(text, expected):
    assert parse_control_address(text) == expected


@pytest.mark.parametrize(("text", "match"), [
    ("", "unix:PATH or tcp"),
    ("unix:", "path is missing"),
    ("tcp:0.0.0.0:7000", "loopback addresses only"),
    ("tcp:192.168.1.1:7000", "loopback addresses only"),
    ("tcp:example.com:7000", "loopback addresses only"),
    ("tcp:127.0.0.1:70000", "port must be"),
    ("tcp:127.0.0.1:", "port must be"),
    ("tcp:[::1", "expected tcp:"),
    ("unix:/" + "d" * 120, "too long"),
])
def test_bad_control_addresses(text, match):
    with pytest.raises(InvalidArgument, match=match):
        parse_control_address(text)


def test_str_of_addresses():
    assert str(ControlAddress("tcp", host="::1", port=5)) == "tcp:[::1]:5"
    assert str(parse_control_address("/a/b")) == "unix:/a/b"


# --- the Unix socket's file -----------------------------------------------------------------------


def test_the_socket_is_private_and_removed_on_stop(host, tmp_path):
    path = tmp_path / "c.sock"
    server = ControlServer(host, f"unix:{path}")
    assert server.describe() == f"control: stopped, for unix:{path}"
    server.start()
    try:
        assert server.describe() == f"control: listening on unix:{path}"
        mode = os.stat(path).st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600
    finally:
        server.stop()
    assert not path.exists()
    server.stop()  # idempotent


def test_a_stale_socket_is_replaced_but_a_live_server_or_a_file_is_not(host, tmp_path):
    path = tmp_path / "c.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()  # the file stays, nobody listens
    with ControlServer(host, str(path)) as server:
        assert ask(server, "status").startswith("ok")
        with pytest.raises(EmulatorError, match="another server is listening"):
            ControlServer(host, str(path)).start()
        assert ask(server, "status").startswith("ok")
    regular = tmp_path / "file"
    regular.write_text("precious")
    with pytest.raises(EmulatorError, match="is not a socket"):
        ControlServer(host, str(regular)).start()
    assert regular.read_text() == "precious"


def test_a_busy_tcp_port_is_a_clear_error(host):
    with ControlServer(host, "tcp:0") as first:
        busy = ControlServer(host, f"tcp:127.0.0.1:{first.address.port}")
        with pytest.raises(EmulatorError, match=r"cannot listen on tcp:127\.0\.0\.1"):
            busy.start()
        busy.stop()


# --- send_control against broken peers ------------------------------------------------------------


def test_nothing_listening(tmp_path):
    with pytest.raises(ControlError, match="no control interface at unix:"):
        send_control(f"unix:{tmp_path / 'none.sock'}", "status")
    with pytest.raises(InvalidArgument, match="port 0"):
        send_control("tcp:0", "status")


def test_commands_must_be_one_short_line(server):
    with pytest.raises(InvalidArgument):
        send_control(server.address, "status\nremove")
    with pytest.raises(InvalidArgument):
        send_control(server.address, "x" * (MAX_LINE + 1))


@pytest.fixture
def fake_peer():
    """A TCP peer on 127.0.0.1 that accepts one connection and does ``behaviour(conn)``."""
    threads: list[threading.Thread] = []
    socks: list[socket.socket] = []

    def start(behaviour) -> str:
        listener = socket.create_server(("127.0.0.1", 0))
        listener.settimeout(TIMEOUT)
        socks.append(listener)

        def run() -> None:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                behaviour(conn)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        threads.append(thread)
        return f"tcp:127.0.0.1:{listener.getsockname()[1]}"

    yield start
    for s in socks:
        s.close()
    for t in threads:
        t.join(TIMEOUT)
        assert not t.is_alive()


def test_a_silent_peer_times_out(fake_peer):
    release = threading.Event()
    address = fake_peer(lambda conn: release.wait(TIMEOUT))
    started = time.monotonic()
    with pytest.raises(ControlError, match=r"no answer within 0\.3 s"):
        send_control(address, "status", timeout=0.3)
    assert time.monotonic() - started < TIMEOUT * 0.8
    release.set()


def test_a_peer_that_hangs_up_without_a_line(fake_peer):
    def half_answer(conn: socket.socket) -> None:
        conn.recv(100)  # read the command first, or closing would reset the connection
        conn.sendall(b"ok but no newline")

    address = fake_peer(half_answer)
    with pytest.raises(ControlError, match="closed before a complete answer"):
        send_control(address, "status", timeout=TIMEOUT)


def test_a_peer_that_resets_the_connection(fake_peer):
    def reset(conn: socket.socket) -> None:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    address = fake_peer(reset)
    with pytest.raises(ControlError, match=r"the connection failed|closed before"):
        send_control(address, "status", timeout=TIMEOUT)


def test_a_peer_that_floods(fake_peer):
    def flood(conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            conn.sendall(b"x" * 100_000)

    address = fake_peer(flood)
    with pytest.raises(ControlError, match="longer than"):
        send_control(address, "status", timeout=TIMEOUT)


def test_a_binary_answer_is_returned_as_text(fake_peer):
    address = fake_peer(lambda conn: conn.sendall(b"ok \xff\x00\r\n"))
    assert send_control(address, "status", timeout=TIMEOUT) == "ok \ufffd\x00"
