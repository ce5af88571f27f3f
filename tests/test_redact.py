"""ekarta.desfire.redact: which bytes of a frame a trace hides, and every trace site using it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ekarta.desfire.client import DESFire
from ekarta.desfire.crypto import Key
from ekarta.desfire.redact import (
    FrameTracer,
    Hidden,
    TraceState,
    parse_shown,
    redact,
    reveal_secrets,
    show,
)
from ekarta.desfire.structs import KeySettings
from ekarta.emulator import CardHost, VirtualCard
from ekarta.log import TRACE
from ekarta.readers import open_reader
from tests.support.transports import INTEROP, TRANSPORTS, serve

H = bytes.fromhex


def frames(*exchanges: tuple[str, str], tracer: FrameTracer | None = None) -> list[str]:
    """Each command and answer as a trace shows it."""
    tracer = tracer or FrameTracer(reveal=False)
    out = []
    for command, answer in exchanges:
        out.append(str(tracer.frame(H(command), to_card=True)))
        out.append(str(tracer.frame(H(answer), to_card=False)))
    return out


def test_an_aes_authentication_keeps_its_headers_and_statuses_only():
    assert frames(("90AA0000010000", "00112233445566778899AABBCCDDEEFF91AF"),
                  ("90AF000020" + "11" * 32 + "00", "FFEEDDCCBBAA9988776655443322110091 00"),
                  ("9060000000", "04010112001A0591AF")) == [
        "90 AA 00 00 01 <redacted 1 bytes> 00", "<redacted 16 bytes> 91 AF",
        "90 AF 00 00 20 <redacted 32 bytes> 00", "<redacted 16 bytes> 91 00",
        "90 60 00 00 00", "04 01 01 12 00 1A 05 91 AF"]


@pytest.mark.parametrize("cmd", ["0A", "1A", "AA", "71", "77", "C4", "C6", "5C"])
def test_every_secret_command_is_hidden_with_its_answer(cmd):
    shown = frames((f"90{cmd}000003ABCDEF00", "0102030405060708 9100"))
    assert shown == [f"90 {cmd} 00 00 03 <redacted 3 bytes> 00", "<redacted 8 bytes> 91 00"]


@pytest.mark.parametrize(("command", "answer"), [
    ("9060000000", "04010112001A0591AF"), ("90BD0000070100000000000000", "AABBCC9100"),
    ("903D00000A01000000030000AABBCC00", "9100"), ("905A00000300000000", "9100"),
    ("9054000010" + "22" * 16 + "00", "9100"), ("90CA000005C3B2A10F8400", "9100"),
])
def test_other_commands_are_shown_whole(command, answer):
    assert frames((command, answer)) == [show(H(command), None), show(H(answer), None)]


def test_an_0xAF_frame_is_secret_only_when_it_continues_a_secret_exchange():
    tracer = FrameTracer(reveal=False)
    assert frames(("90C4000003010203 00", "91AF"), ("90AF00000104 00", "AABB9100"),
                  tracer=tracer)[2:] == ["90 AF 00 00 01 <redacted 1 bytes> 00",
                                         "<redacted 2 bytes> 91 00"]
    # the exchange is over: GetVersion's continuations are not secret
    assert frames(("9060000000", "0102 91AF"), ("90AF000000", "0304 91AF"),
                  tracer=tracer) == ["90 60 00 00 00", "01 02 91 AF", "90 AF 00 00 00",
                                     "03 04 91 AF"]


def test_an_error_status_ends_a_secret_exchange():
    assert frames(("90AA0000010000", "91AE"), ("90AF000000", "0102 91AF"))[2:] == [
        "90 AF 00 00 00", "01 02 91 AF"]


def test_native_frames_keep_the_command_and_the_status_byte():
    assert frames(("AA00", "AF00112233445566778899AABBCCDDEEFF"),
                  ("AF" + "11" * 32, "00" + "22" * 16)) == [
        "AA <redacted 1 bytes>", "AF <redacted 16 bytes>",
        "AF <redacted 32 bytes>", "00 <redacted 16 bytes>"]


def test_iso_7816_authentication_is_hidden():
    assert frames(("0084000008", "0102030405060708 9000"))[1] == "<redacted 8 bytes> 90 00"
    assert frames(("0082000010" + "33" * 16, "9000"))[0] == "00 82 00 00 10 <redacted 16 bytes>"


def test_a_frame_cut_by_the_link_is_hidden_piece_by_piece():
    state = TraceState()
    state, first = redact(state, H("90C4000029") + bytes(10), to_card=True, more=True)
    assert first == Hidden(5, 10)
    state, ack = redact(state, b"", to_card=False)  # the link's acknowledgement
    assert ack is None and state.piece_to_card is True
    state, rest = redact(state, bytes(32), to_card=True)
    assert rest == Hidden(0, 32)
    # an answer in pieces: the status comes with the last one
    state, a1 = redact(state, bytes(20), to_card=False, more=True)
    state, _ = redact(state, b"", to_card=True)  # the reader asks for the rest
    state, a2 = redact(state, bytes(6) + H("91AF"), to_card=False)
    assert (a1, a2) == (Hidden(0, 20), Hidden(0, 6))
    assert state.continues_secret  # the card asked for more of the secret exchange
    state, more = redact(state, H("90AF00000199 00"), to_card=True)
    assert more == Hidden(5, 1)


def test_a_resent_secret_answer_is_still_hidden():
    state, _ = redact(TraceState(), H("90AA0000010000"), to_card=True)
    state, first = redact(state, bytes(16) + H("91AF"), to_card=False)
    state, again = redact(state, bytes(16) + H("91AF"), to_card=False)
    assert first == again == Hidden(0, 16)


def test_iso_dep_blocks_hide_the_inf_of_i_blocks_only():
    tracer = FrameTracer(reveal=False)
    # I-block with CID, then an R(ACK), then the answer I-block with a CRC_A
    assert str(tracer.block(H("0A0190AA000001000 0".replace(" ", "")), to_card=True)) == \
        "0A 01 90 AA 00 00 01 <redacted 1 bytes> 00"
    assert str(tracer.block(H("A2"), to_card=False)) == "A2"
    assert str(tracer.block(H("0B01") + bytes(16) + H("91AF") + H("1234"), to_card=False,
                            crc=True)) == "0B 01 <redacted 16 bytes> 91 AF 12 34"


def test_revealing_shows_everything():
    assert frames(("90AA0000010000", "0011 91AF"), tracer=FrameTracer(reveal=True)) == [
        "90 AA 00 00 01 00 00", "00 11 91 AF"]
    tracer = FrameTracer()
    reveal_secrets(True)
    try:
        assert str(tracer.frame(H("90AA0000010000"), to_card=True)) == "90 AA 00 00 01 00 00"
    finally:
        reveal_secrets(False)
    assert str(tracer.frame(H("90AA0000010000"), to_card=True)).count("redacted") == 1


@pytest.mark.parametrize("text", ["90 AA 00 00 01 <redacted 1 bytes> 00",
                                  "<redacted 16 bytes> 91 AF", "90 60 00 00 00", ""])
def test_parse_shown_reads_back_what_show_writes(text):
    data, hidden = parse_shown(text)
    assert show(data[:hidden.at] + bytes(hidden.length) + data[hidden.at:]
                if hidden else data, hidden) == text


def test_parse_shown_refuses_two_markers_and_bad_hex():
    for text in ("<redacted 1 bytes> <redacted 2 bytes>", "90 ZZ", "<redacted bytes>"):
        with pytest.raises(ValueError):
            parse_shown(text)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.binary(max_size=80), st.booleans()), max_size=30))
def test_any_frame_sequence_is_classified_within_the_frame(sequence):
    state = TraceState()
    for to_card, frame, more in sequence:
        state, hidden = redact(state, frame, to_card=to_card, more=more)
        if hidden is not None:
            assert hidden.at >= 0 and hidden.length > 0 and hidden.at + hidden.length <= len(frame)


@pytest.mark.slow
@settings(max_examples=600, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.binary(max_size=300), st.booleans()), max_size=60))
def test_any_frame_sequence_is_classified_within_the_frame_at_length(sequence):
    test_any_frame_sequence_is_classified_within_the_frame.hypothesis.inner_test(sequence)


# --- the tracer's short cuts agree with redact() -------------------------------------------------

# Frames that look like DESFire's: wrapped or native commands of every secret and some plain
# codes, answers with the statuses that continue or end an exchange, and random bytes.
_FRAME = st.one_of(
    st.binary(max_size=24),
    st.tuples(st.sampled_from([0x90, 0x00, 0x0A, 0x1A, 0xAA, 0xAF, 0xC4, 0x60, 0x91]),
              st.sampled_from([0x0A, 0x1A, 0xAA, 0xAF, 0x71, 0x77, 0xC4, 0xC6, 0x5C, 0x60, 0x84]),
              st.binary(max_size=20)).map(lambda t: bytes(t[:2]) + t[2]),
    st.tuples(st.binary(max_size=20), st.sampled_from([b"\x91\x00", b"\x91\xAF", b"\x91\xAE",
                                                       b"\xAF", b"\x00"])).map(b"".join),
)


def _check_tracer_follows_redact(sequence) -> None:
    tracer, state = FrameTracer(reveal=False), TraceState()
    for to_card, frame, more in sequence:
        state, hidden = redact(state, frame, to_card=to_card, more=more)
        assert tracer.hidden(frame, to_card=to_card, more=more) == hidden
        assert tracer.state == state


def _check_exchange_moves_as_its_frames(sequence) -> None:
    whole, framed = FrameTracer(reveal=False), FrameTracer(reveal=False)
    for command, answer, piece in sequence:
        if piece:  # now and then a piece of a frame pending when an exchange comes
            whole.hidden(command, to_card=True, more=True)
            framed.hidden(command, to_card=True, more=True)
        whole.exchange(command, answer)
        framed.hidden(command, to_card=True)
        framed.hidden(answer, to_card=False)
        assert whole.state == framed.state


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(st.booleans(), _FRAME, st.booleans()), max_size=20))
def test_the_tracer_classifies_as_redact_does(sequence):
    _check_tracer_follows_redact(sequence)


@settings(max_examples=10, deadline=None)
@given(st.lists(st.tuples(_FRAME, _FRAME, st.booleans()), max_size=12))
def test_an_exchange_moves_the_tracer_as_its_two_frames_do(sequence):
    _check_exchange_moves_as_its_frames(sequence)


@pytest.mark.slow
@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(st.booleans(), _FRAME, st.booleans()), max_size=40),
       st.lists(st.tuples(_FRAME, _FRAME, st.booleans()), max_size=30))
def test_the_tracers_short_cuts_at_length(frames_one_by_one, exchanges):
    _check_tracer_follows_redact(frames_one_by_one)
    _check_exchange_moves_as_its_frames(exchanges)


# --- every trace site -----------------------------------------------------------------------------

FACTORY = Key.default("des")
NEW_KEY = Key.from_hex("des", "0123456789ABCDEF")


def _secret_work(reader) -> list[bytes]:
    """Authenticate and change the PICC key through ``reader``; the secret data that went by
    (the authentication's and ChangeKey's data, as the client sent and got it)."""
    seen: list[tuple[bytes, bytes]] = []

    class Recording:
        def transceive(self, apdu: bytes) -> bytes:
            response = reader.transceive(apdu)
            seen.append((bytes(apdu), bytes(response)))
            return response

    card = DESFire(Recording())
    card.authenticate(0, FACTORY, "iso")
    card.change_key_settings(KeySettings.from_byte(0x0F))
    card.change_key(0, NEW_KEY)
    card.authenticate(0, NEW_KEY, "iso")
    card.change_key(0, FACTORY)
    secrets = []
    for (command, response), before in zip(seen, [None, *seen], strict=False):
        continues = before is not None and before[0][1] in (0x1A, 0xC4)
        if command[1] in (0x1A, 0xC4) or (command[1] == 0xAF and continues):
            secrets += [command[5:5 + command[4]], response[:-2]]
    return [s[:8] for s in secrets if len(s) >= 8]


def _leaked(text: str, secrets: list[bytes]) -> list[bytes]:
    forms = lambda s: (s.hex(" ").upper(), s.hex().upper(), s.hex(), repr(s)[2:-1])  # noqa: E731
    flat = text.replace("\n", " ")
    return [s for s in secrets if any(f in flat for f in forms(s))]


def _transports() -> Iterator:
    yield "emulator"
    yield "spy"
    for name in TRANSPORTS:
        yield pytest.param(name, marks=[pytest.mark.interop] if name in INTEROP else [])


@pytest.mark.parametrize("reveal", [False, True], ids=["default", "revealed"])
@pytest.mark.parametrize("transport", list(_transports()))
def test_no_trace_site_shows_secret_data(transport, reveal, caplog, tmp_path):
    host = CardHost(VirtualCard.new(uid=H("04A1B2C3D4E5F6")))
    caplog.set_level(TRACE, logger="ekarta")
    reveal_secrets(reveal)
    try:
        if transport in ("emulator", "spy"):
            path = tmp_path / "card.json"
            host.card.save(path)
            url = f"emulator:{path}" if transport == "emulator" else f"spy:emulator:{path}"
            with open_reader(url) as reader:
                reader.wait_for_card(timeout=5)
                secrets = _secret_work(reader)
        else:
            with serve(transport, host) as url, open_reader(url) as reader:
                reader.wait_for_card(timeout=5)
                secrets = _secret_work(reader)
    finally:
        reveal_secrets(False)
    assert len(secrets) >= 6
    text = "\n".join(r.getMessage() for r in caplog.records)
    if reveal:
        assert _leaked(text, secrets)  # the check would see a leak
    else:
        assert "<redacted" in text
        assert _leaked(text, secrets) == []


def test_the_clients_trace_shows_its_frames_as_a_frame_tracer_does(caplog):
    # The client hides by the command it knows it sends, with no tracer: the same lines.
    seen: list[bytes] = []

    class Recording:
        def __init__(self, reader) -> None:
            self.reader = reader

        def transceive(self, apdu: bytes) -> bytes:
            response = self.reader.transceive(apdu)
            seen.extend([bytes(apdu), bytes(response)])
            return response

    caplog.set_level(TRACE, logger="ekarta.desfire.client")
    with open_reader("emulator:") as reader:
        card = DESFire(Recording(reader), frame_size=20)
        card.get_version()
        card.authenticate(0, FACTORY, "iso")
        card.change_key_settings(KeySettings.from_byte(0x0F))
        card.change_key(0, NEW_KEY)  # 25 bytes of cryptogram: two frames of 20
        card.authenticate(0, NEW_KEY, "iso")
        card.create_application(0x010203, key_count=1, key_type="des")
    tracer = FrameTracer(reveal=False)
    expected = [f"{'>>' if i % 2 == 0 else '<<'} {tracer.frame(frame, to_card=i % 2 == 0)}"
                for i, frame in enumerate(seen)]
    lines = [r.getMessage() for r in caplog.records if r.name == "ekarta.desfire.client"
             and r.getMessage()[:2] in (">>", "<<")]
    assert lines == expected
    assert sum("redacted" in line for line in lines) >= 8
