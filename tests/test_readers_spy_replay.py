"""``spy:`` and ``replay:``: the trace format, recording real sessions and replaying them."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from ekarta.desfire import AccessRights, DESFire, Key, KeySettings
from ekarta.emulator import VirtualCard
from ekarta.errors import (
    CardRemovedError,
    InvalidArgument,
    NoCardError,
    ReaderError,
    ReaderTimeout,
)
from ekarta.readers import open_reader, register_driver, unregister_driver
from ekarta.readers.base import CardInfo, Reader
from ekarta.readers.replay import ReplayExhausted, ReplayMismatch, ReplayReader
from ekarta.readers.spy import SpyReader, parse_spy_url
from ekarta.readers.trace import MAX_LINE, CardSeen, Exchange, TraceFormatError, read_trace
from tests.support.apdu import counting_rng

GET_VERSION = bytes.fromhex("9060000000")
MORE = bytes.fromhex("90AF000000")
FREE_MEMORY = bytes.fromhex("906E000000")
UID = bytes.fromhex("04A1B2C3D4E5F6")
AID = 0x5A0001
APP_KEY = Key.aes(bytes.fromhex("00112233445566778899AABBCCDDEEFF"))


def write_trace(path: Path, *lines: dict) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


HEADER = {"format": "ekarta-trace", "version": 1, "url": "emulator:", "started": "",
          "card": {"uid": "04 A1 B2 C3 D4 E5 F6", "atqa": "44 03", "sak": 32}}


# --- spy: URL grammar -----------------------------------------------------------------------------


@pytest.mark.parametrize(("rest", "inner", "path"), [
    ("emulator:", "emulator:", None),
    ("emulator:card.json#file=t.jsonl", "emulator:card.json", "t.jsonl"),
    ("nfcpy:tty:USB0:pn532", "nfcpy:tty:USB0:pn532", None),
    ("pn532:/dev/ttyUSB0?baud=115200#file=/tmp/a b.jsonl", "pn532:/dev/ttyUSB0?baud=115200",
     "/tmp/a b.jsonl"),
    ("replay:old.jsonl#session=2#file=new.jsonl", "replay:old.jsonl#session=2", "new.jsonl"),
    ("spy:emulator:#file=a#file=b", "spy:emulator:#file=a", "b"),
])
def test_spy_url_grammar(rest, inner, path):
    assert parse_spy_url(rest) == (inner, path)


@pytest.mark.parametrize("rest", ["", "#file=t.jsonl", "emulator:#file="])
def test_spy_url_errors(rest):
    with pytest.raises(InvalidArgument):
        parse_spy_url(rest)


class RestReader(Reader):
    """A reader that keeps the URL rest it was opened with, and answers 90 00 to everything."""

    def __init__(self, rest: str) -> None:
        super().__init__(f"rest:{rest}")
        self.rest = rest

    def transceive(self, apdu: bytes) -> bytes:
        return b"\x90\x00"

    @property
    def card_present(self) -> bool:
        return True

    def wait_for_card(self, timeout: float | None = None) -> CardInfo:
        self._card_info = CardInfo(uid=b"\x01\x02\x03\x04")
        return self._card_info


@pytest.fixture
def rest_scheme():
    register_driver("rest", RestReader)
    yield
    unregister_driver("rest")


def test_spy_passes_inner_urls_with_colons_and_queries_unchanged(rest_scheme, tmp_path):
    trace = tmp_path / "t.jsonl"
    inner = "rest:tty:USB0:pn532?baud=115200&x=1"
    with open_reader(f"spy:{inner}#file={trace}") as spy:
        assert isinstance(spy, SpyReader)
        assert spy.inner.rest == "tty:USB0:pn532?baud=115200&x=1"
        assert spy.trace_path == str(trace)
        assert spy.url == f"spy:{inner}#file={trace}"
        spy.wait_for_card(timeout=1)
        assert spy.transceive(b"\x00\xA4\x04\x00") == b"\x90\x00"
    [session] = read_trace(trace)
    assert session.url == inner


# --- spy: logging and the trace file --------------------------------------------------------------


def test_spy_logs_every_exchange_at_debug(caplog):
    caplog.set_level(logging.DEBUG, logger="ekarta.readers.spy")
    with open_reader("spy:emulator:") as spy:
        spy.transceive(FREE_MEMORY)
    lines = [r for r in caplog.records if r.name == "ekarta.readers.spy"]
    assert len(lines) == 1 and lines[0].levelno == logging.DEBUG
    message = lines[0].getMessage()
    assert message.startswith("emulator: ") and " ms 90 6E 00 00 00 -> 00 1F 00 91 00" in message


def test_spy_writes_a_json_lines_trace(tmp_path):
    trace = tmp_path / "t.jsonl"
    with open_reader(f"spy:emulator:#file={trace}") as spy:
        info = spy.wait_for_card(timeout=1)
        assert spy.card_info == info
        DESFire(spy).get_version()
    lines = [json.loads(line) for line in trace.read_text().splitlines()]
    header, *records = lines
    assert header["format"] == "ekarta-trace" and header["version"] == 1
    assert header["url"] == "emulator:"
    assert header["card"] == {"uid": info.uid.hex(" ").upper(), "atr": "3B 81 80 01 80 80",
                              "ats": "06 75 77 81 02 80", "atqa": "44 03", "sak": 0x20}
    assert header["started"].endswith("+00:00")
    assert [r["c"] for r in records] == ["90 60 00 00 00", "90 AF 00 00 00", "90 AF 00 00 00"]
    assert records[0]["r"] == "04 01 01 12 00 1A 05 91 AF"
    assert records[2]["r"].endswith("91 00")
    for record in records:
        assert set(record) == {"t", "ms", "c", "r"}
        assert record["t"] >= 0 and record["ms"] >= 0
    assert records[0]["t"] <= records[1]["t"] <= records[2]["t"]


def test_spy_traces_errors_and_lets_them_through_unchanged(tmp_path):
    trace = tmp_path / "t.jsonl"
    with open_reader(f"spy:emulator:#file={trace}") as spy:
        spy.wait_for_card(timeout=1)
        spy.transceive(FREE_MEMORY)
        spy.inner.card.remove()
        with pytest.raises(CardRemovedError) as caught:
            spy.transceive(FREE_MEMORY)
        assert type(caught.value) is CardRemovedError
        assert not spy.card_present
        spy.inner.card.insert()
        spy.wait_for_card(timeout=1)
        spy.transceive(FREE_MEMORY)
    [session] = read_trace(trace)
    kinds = [(type(r).__name__, getattr(r, "error", None)) for r in session.records]
    assert kinds == [("Exchange", None), ("Exchange", "CardRemovedError"), ("CardSeen", None),
                     ("Exchange", None)]
    failed = session.records[1]
    assert isinstance(failed, Exchange) and failed.response is None
    assert "no card in the field" in failed.message


def test_a_session_without_exchanges_still_has_its_header(tmp_path):
    trace = tmp_path / "t.jsonl"
    open_reader(f"spy:emulator:#file={trace}").close()
    [session] = read_trace(trace)
    assert session.url == "emulator:" and session.records == ()


def test_spy_appends_sessions_and_replay_picks_one(tmp_path):
    trace = tmp_path / "t.jsonl"
    for _ in range(2):
        with open_reader(f"spy:emulator:#file={trace}") as spy:
            spy.transceive(FREE_MEMORY)
    assert len(read_trace(trace)) == 2
    with pytest.raises(InvalidArgument, match=r"holds 2 sessions.*#session=N"):
        open_reader(f"replay:{trace}")
    with open_reader(f"replay:{trace}#session=2") as replay:
        assert replay.transceive(FREE_MEMORY) == bytes.fromhex("001F009100")
    with pytest.raises(InvalidArgument, match="no session 3"):
        open_reader(f"replay:{trace}#session=3")


def test_spy_closes_the_inner_reader_and_saves_a_stored_card(tmp_path):
    path = tmp_path / "card.json"
    VirtualCard.new(uid=UID).save(path)
    with open_reader(f"spy:emulator:{path}") as spy:
        DESFire(spy).create_application(AID, KeySettings(), key_count=1, key_type="aes")
    assert spy.inner.closed
    assert AID in VirtualCard.load(path).applications


def test_a_trace_that_cannot_be_written_does_not_change_the_exchanges(caplog):
    caplog.set_level(logging.ERROR, logger="ekarta.readers.spy")
    with open_reader("spy:emulator:#file=/dev/full") as spy:  # every write: no space left
        assert spy.transceive(FREE_MEMORY) == bytes.fromhex("001F009100")
        assert spy.transceive(FREE_MEMORY) == bytes.fromhex("001F009100")
        spy.inner.card.remove()
        with pytest.raises(CardRemovedError):
            spy.transceive(FREE_MEMORY)
    [record] = [r for r in caplog.records if r.name == "ekarta.readers.spy"]
    assert "cannot write to /dev/full" in record.getMessage()
    assert "no more tracing to the file" in record.getMessage()


def test_an_unwritable_trace_file_is_a_reader_error(tmp_path):
    with pytest.raises(ReaderError, match="cannot open trace file"):
        open_reader(f"spy:emulator:#file={tmp_path / 'missing-dir' / 't.jsonl'}")


# --- replay: a real DESFire session as a regression test -----------------------------------------


def desfire_session(reader, rng) -> dict:
    """Personalise an application and use it; returns what the client read back."""
    card = DESFire(reader, rng=rng)
    card.create_application(AID, KeySettings(), key_count=2, key_type="aes")
    card.select_application(AID)
    card.authenticate(0, Key.aes(bytes(16)), "aes")
    card.change_key(1, APP_KEY, Key.aes(bytes(16)))
    rights = AccessRights(read=1, write=1, read_write=1, change=0)
    card.create_std_data_file(1, 80, comm="full", access=rights)
    card.create_value_file(2, lower_limit=0, upper_limit=1000, value=500, comm="mac",
                           access=rights)
    card.authenticate(1, APP_KEY, "aes")
    card.write_data(1, bytes(range(80)), comm="full")
    card.debit(2, 120, comm="mac")
    card.commit_transaction()
    return {
        "data": card.read_data(1, 0, 80, comm="full"),
        "value": card.get_value(2, comm="mac"),
        "uid": card.get_card_uid(),
        "version": card.get_version(),
    }


@pytest.fixture
def recorded(tmp_path) -> tuple[Path, dict]:
    """A DESFire session recorded on the emulator through spy: the trace and its results."""
    trace = tmp_path / "session.jsonl"
    with open_reader(f"spy:emulator:#secrets#file={trace}") as spy:
        spy.wait_for_card(timeout=1)
        results = desfire_session(spy, counting_rng(7))
    return trace, results


def test_a_recorded_desfire_session_replays_with_the_same_rng(recorded):
    trace, results = recorded
    with open_reader(f"replay:{trace}") as replay:
        assert isinstance(replay, ReplayReader)
        assert replay.card_info is not None and replay.card_info.uid == results["uid"]
        assert replay.wait_for_card(timeout=0.1) == replay.card_info
        assert desfire_session(replay, counting_rng(7)) == results
        assert replay.remaining == 0
        replay.assert_done()
    assert results["data"] == bytes(range(80)) and results["value"] == 380


def test_a_client_with_other_random_numbers_diverges_at_the_authentication(recorded):
    trace, _ = recorded
    session = read_trace(trace)[0]
    # the first authentication's second frame carries the client's RndA
    auth = next(i for i, r in enumerate(session.exchanges) if r.command[1] == 0xAA)
    with open_reader(f"replay:{trace}") as replay, pytest.raises(ReplayMismatch) as caught:
        desfire_session(replay, counting_rng(8))
    err = caught.value
    assert err.step == auth + 2
    assert err.expected == session.exchanges[auth + 1].command and err.got != err.expected
    message = str(err)
    assert f"step {auth + 2} of {len(session.exchanges)}" in message
    assert f"expected {err.expected.hex(' ').upper()}" in message
    assert f"got      {err.got.hex(' ').upper()}" in message


def test_assert_done_fails_when_the_replay_stops_early(recorded):
    trace, _ = recorded
    with open_reader(f"replay:{trace}") as replay:
        DESFire(replay).create_application(AID, KeySettings(), key_count=2, key_type="aes")
        assert replay.replayed == 1 and replay.remaining > 0
        with pytest.raises(ReplayMismatch, match=r"only 1 of \d+ recorded exchanges"):
            replay.assert_done()


# --- replay: behaviour on hand-written traces ----------------------------------------------------


def test_replay_mismatch_names_the_step_the_expected_and_the_sent_command(tmp_path):
    trace = write_trace(tmp_path / "t.jsonl", HEADER,
                        {"t": 0, "ms": 1, "c": "90 6E 00 00 00", "r": "00 1F 00 91 00"},
                        {"t": 0.1, "ms": 1, "c": "90 60 00 00 00", "r": "91 00"})
    with open_reader(f"replay:{trace}") as replay:
        assert replay.transceive(FREE_MEMORY) == bytes.fromhex("001F009100")
        with pytest.raises(ReplayMismatch) as caught:
            replay.transceive(bytes.fromhex("9045000000"))
        assert str(caught.value) == (
            f"replay of {trace}, step 2 of 2: the command differs from the recording\n"
            "  expected 90 60 00 00 00\n"
            "  got      90 45 00 00 00")
        assert (caught.value.step, caught.value.expected, caught.value.got) == (
            2, GET_VERSION, bytes.fromhex("9045000000"))
        # the recording has not moved on: the right command still gets its answer
        assert replay.transceive(GET_VERSION) == b"\x91\x00"


def test_replay_past_the_end_is_an_error(tmp_path):
    trace = write_trace(tmp_path / "t.jsonl", HEADER,
                        {"t": 0, "ms": 1, "c": "90 6E 00 00 00", "r": "00 1F 00 91 00"})
    with open_reader(f"replay:{trace}") as replay:
        replay.transceive(FREE_MEMORY)
        # a test that catches replay mismatches catches the end of the recording too
        with pytest.raises(ReplayMismatch) as caught:
            replay.transceive(FREE_MEMORY)
    assert type(caught.value) is ReplayExhausted
    assert caught.value.step == 2 and caught.value.expected is None
    assert "step 2: the recording ended after 1 exchanges" in str(caught.value)
    assert "90 6E 00 00 00 past its end" in str(caught.value)


def test_recorded_errors_are_raised_again_as_the_same_class(tmp_path):
    trace = write_trace(
        tmp_path / "t.jsonl", HEADER,
        {"t": 0, "ms": 1, "c": "90 6E 00 00 00", "error": "ReaderTimeout", "message": "mute"},
        {"t": 0, "ms": 1, "c": "90 6E 00 00 00", "error": "CardRemovedError",
         "message": "card gone"},
        {"t": 1, "card": {"uid": "04 11 22 33 44 55 66", "sak": 32}},
        {"t": 1, "ms": 1, "c": "90 6E 00 00 00", "error": "SomethingElse", "message": "odd"},
        {"t": 1, "ms": 1, "c": "90 6E 00 00 00", "error": "CardRemovedError", "message": "x"},
    )
    with open_reader(f"replay:{trace}") as replay:
        with pytest.raises(ReaderTimeout, match="mute"):
            replay.transceive(FREE_MEMORY)
        assert replay.card_present
        with pytest.raises(CardRemovedError, match=r"card gone \(replayed from .*step 2\)"):
            replay.transceive(FREE_MEMORY)
        assert not replay.card_present and replay.card_info is None
        info = replay.wait_for_card(timeout=0.1)
        assert info.uid == bytes.fromhex("04112233445566") and replay.card_present
        with pytest.raises(ReaderError, match="recorded SomethingElse: odd") as caught:
            replay.transceive(FREE_MEMORY)
        assert type(caught.value) is ReaderError
        with pytest.raises(CardRemovedError):
            replay.transceive(FREE_MEMORY)
        # no card comes back in this recording: waiting ends, boundedly
        with pytest.raises(ReaderTimeout):
            replay.wait_for_card(timeout=0.05)
        with pytest.raises(NoCardError, match="would never end"):
            replay.wait_for_card()


def test_replay_card_info_comes_from_the_header(tmp_path):
    trace = write_trace(tmp_path / "t.jsonl", HEADER)
    with open_reader(f"replay:{trace}") as replay:
        assert replay.card_info == CardInfo(uid=UID, atqa=b"\x44\x03", sak=0x20)
        assert replay.card_present
    assert not replay.card_present
    with pytest.raises(ReaderError, match="closed"):
        replay.transceive(FREE_MEMORY)


# --- trace files are untrusted input --------------------------------------------------------------


@pytest.mark.parametrize(("lines", "match"), [
    (["{"], "line 1: not a JSON object"),
    (["[1, 2]"], "line 1: not a JSON object"),
    ([json.dumps({"t": 0, "ms": 0, "c": "00", "r": "9000"})], "line 1: a record before any header"),
    ([json.dumps({**HEADER, "version": 99})], "line 1: trace format version 99 is not supported"),
    ([json.dumps({**HEADER, "format": "pcap"})], "line 1: not an ekarta-trace header"),
    ([json.dumps(HEADER), json.dumps({"t": 0, "ms": 0, "c": "9G", "r": ""})],
     "line 2: 'c' is not hex bytes"),
    ([json.dumps(HEADER), json.dumps({"t": -1, "ms": 0, "c": "90", "r": ""})],
     "line 2: 't' must be a number >= 0"),
    ([json.dumps(HEADER), json.dumps({"t": 0, "ms": 0, "c": "90"})],
     "line 2: an exchange needs 'r'"),
    ([json.dumps(HEADER), json.dumps({"t": 0, "ms": 0, "c": "90", "error": "a b"})],
     "line 2: 'error' must be an exception class name"),
    ([json.dumps(HEADER), json.dumps({"t": 0, "what": 1})], "line 2: neither an exchange"),
    ([json.dumps({**HEADER, "card": {"sak": 300}})], "line 1: 'sak' must be a byte"),
    ([json.dumps({**HEADER, "card": {"uid": 7}})], "line 1: 'uid' must be hex bytes"),
])
def test_malformed_trace_lines_are_named(tmp_path, lines, match):
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(TraceFormatError, match=match):
        read_trace(path)
    with pytest.raises(TraceFormatError):
        open_reader(f"replay:{path}")


def test_an_over_long_line_is_refused_without_reading_it_whole(tmp_path):
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps(HEADER) + "\n" + "x" * (MAX_LINE + 10) + "\n")
    with pytest.raises(TraceFormatError, match=f"line 2: longer than {MAX_LINE}"):
        read_trace(path)


def test_binary_garbage_and_missing_files(tmp_path):
    path = tmp_path / "garbage.jsonl"
    path.write_bytes(b"\xff\xfe\x00\x01" * 100)
    with pytest.raises(TraceFormatError, match="not UTF-8"):
        read_trace(path)
    with pytest.raises(TraceFormatError, match="cannot read trace file"):
        open_reader(f"replay:{tmp_path / 'missing.jsonl'}")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(TraceFormatError, match="no session"):
        open_reader(f"replay:{empty}")
    with pytest.raises(InvalidArgument):
        open_reader("replay:")


def test_read_trace_returns_typed_records(tmp_path):
    trace = write_trace(tmp_path / "t.jsonl", HEADER,
                        {"t": 0.5, "ms": 2, "c": "90 6E 00 00 00", "r": "00 1F 00 91 00"},
                        {"t": 1, "card": {"uid": "04 11 22 33 44 55 66"}})
    [session] = read_trace(trace)
    assert session.url == "emulator:" and session.line == 1
    assert session.records == (
        Exchange(0.5, 2.0, FREE_MEMORY, bytes.fromhex("001F009100")),
        CardSeen(1.0, CardInfo(uid=bytes.fromhex("04112233445566"))),
    )
