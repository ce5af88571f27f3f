"""The reader-side client alone: framing, chaining, errors, sessions, arguments, logging.

Card answers are scripted with the ``script`` fixture.  Where a test needs a secure-messaging
session, the card's side is computed with the card-side methods of the session classes (and
``CardAuth``), and a twin of the reader's session predicts the exact C-APDUs.
"""

from __future__ import annotations

import logging

import pytest

from ekarta.desfire import (
    AccessRights,
    Cmd,
    Comm,
    DESFire,
    DFNameEntry,
    EV1Session,
    EV2Session,
    FileSettings,
    FileType,
    Key,
    KeySettings,
    KeyType,
    VersionInfo,
)
from ekarta.desfire.auth import CardAuth, ReaderAuth
from ekarta.desfire.client import MAX_FRAMES, MAX_RESPONSE, effective_comm
from ekarta.desfire.commands import MAX_CARD_MEMORY
from ekarta.desfire.structs import CreateApplicationParams
from ekarta.errors import (
    AuthenticationRejected,
    ChainingError,
    ChecksumMismatch,
    DESFireStatusError,
    FileNotFound,
    InvalidArgument,
    LengthError,
    LengthMismatch,
    MalformedResponse,
    NotAuthenticated,
    PermissionDenied,
    ProofMismatch,
)
from ekarta.log import TRACE, hexdump
from tests.support.apdu import h, native

AES_KEY = Key.aes(bytes.fromhex("0F1E2D3C4B5A69788796A5B4C3D2E1F0"), version=3)
SESSION_KEY = bytes.fromhex("00112233445566778899AABBCCDDEEFF")


def chained(cmd: int, body: bytes, response: bytes, *, frame: int = 59) -> list[tuple]:
    """Steps of one command whose (already protected) response is cut into card frames."""
    chunks = [response[i:i + frame] for i in range(0, len(response), frame)] or [b""]
    steps = []
    for i, chunk in enumerate(chunks):
        command = native(cmd, body) if i == 0 else native(0xAF)
        status = b"\x91\x00" if i == len(chunks) - 1 else b"\x91\xAF"
        steps.append((command, chunk + status))
    return steps


class Pair:
    """A reader session's twin and the card's session, to predict a secure conversation.

    ``make()`` builds a session in the starting state; :meth:`fresh` gives the client its own.
    """

    def __init__(self, make=None, *, reader=None, card=None):
        self.make = make
        self.reader = reader if make is None else make()
        self.card = card if make is None else make()

    def fresh(self):
        """A reader session in the state the conversation starts from, for the client."""
        return self.make()

    def step(self, cmd: int, header: bytes = b"", data: bytes = b"", *, comm: Comm,
             answer: bytes = b"", resp_comm: Comm | None = None) -> list[tuple]:
        resp_comm = resp_comm or comm
        body = self.reader.wrap_command(cmd, header, data, comm)
        self.card.unwrap_command(cmd, header, body[len(header):], comm)
        response = self.card.wrap_response(cmd, 0, answer, resp_comm)
        assert self.reader.unwrap_response(cmd, 0, response, resp_comm, len(answer)) == answer
        return chained(cmd, body, response)


def ev1_pair() -> Pair:
    return Pair(lambda: EV1Session(KeyType.AES, SESSION_KEY))


def ev2_pair(counter: int = 0) -> Pair:
    return Pair(lambda: EV2Session(enc_key=SESSION_KEY, mac_key=SESSION_KEY[::-1],
                                   ti=h("01020304"), cmd_counter=counter))


def ev1_session() -> EV1Session:
    return EV1Session(KeyType.AES, SESSION_KEY)


def std_file(comm: str, access: AccessRights, size: int = 32) -> bytes:
    return FileSettings(FileType.STD_DATA, comm, access, size=size).build()


# --- framing and chaining -------------------------------------------------------------------------


def test_command_without_data_has_no_lc(script):
    t = script(("90 6E 00 00 00", "00 10 00 91 00"))
    assert DESFire(t).free_memory() == 0x1000


def test_long_read_collects_response_frames(script):
    content = bytes(range(100))
    t = script(
        ("90 BD 00 00 07 01 000000 640000 00", content[:59] + h("91AF")),
        ("90 AF 00 00 00", content[59:] + h("9100")),
    )
    assert DESFire(t).read_data(1, 0, 100, comm="plain") == content


def test_long_read_with_a_session_mac_at_the_end_of_the_last_frame(script):
    pair = ev1_pair()
    content = bytes(range(200))
    header = b"\x01" + h("000000") + h("C80000")
    t = script(*pair.step(Cmd.READ_DATA, header, comm=Comm.MAC, answer=content))
    assert len(t.steps) == 4  # 208 bytes in frames of 59
    card = DESFire(t, session=pair.fresh())
    assert card.read_data(1, 0, 200, comm="mac") == content
    assert card.session is not None


def test_long_write_is_chained_in_frames_of_frame_size(script):
    data = bytes(range(40))
    message = b"\x04" + h("000000") + h("280000") + data  # 47 bytes after the command byte
    t = script(
        (native(0x3D, message[:16]), "91AF"),
        (native(0xAF, message[16:32]), "91AF"),
        (native(0xAF, message[32:]), "9100"),
    )
    DESFire(t, frame_size=16).write_data(4, data, comm="plain")


def test_long_full_write_chains_the_protected_message(script):
    pair = ev2_pair()
    data = bytes(range(70))
    header = b"\x05" + h("100000") + h("460000")
    body = pair.reader.wrap_command(Cmd.WRITE_DATA, header, data, Comm.FULL)
    pair.card.unwrap_command(Cmd.WRITE_DATA, header, body[len(header):], Comm.FULL)
    answer = pair.card.wrap_response(Cmd.WRITE_DATA, 0, b"", Comm.MAC)
    steps = [(native(0xAF if i else 0x3D, body[i:i + 32]), "91AF")
             for i in range(0, len(body), 32)]
    steps[-1] = (steps[-1][0], answer + h("9100"))
    t = script(*steps)
    session = pair.fresh()
    card = DESFire(t, session=session, frame_size=32)
    card.write_data(5, data, 0x10, comm="full")
    assert len(body) == 95 and len(t.sent) == 3 and session.cmd_counter == 1


def test_a_card_error_in_the_middle_of_a_chained_write(script):
    t = script((native(0x3D, b"\x01" + h("000000") + h("140000") + bytes(9)), "917E"))
    card = DESFire(t, frame_size=16, session=ev1_session())
    with pytest.raises(LengthError) as info:
        card.write_data(1, bytes(20), comm="plain")
    assert info.value.status == 0x7E and info.value.command == Cmd.WRITE_DATA
    assert card.session is None


def test_a_card_that_ends_a_chained_write_early_is_malformed(script):
    t = script((native(0x3D, b"\x01" + h("000000") + h("140000") + bytes(9)), "9100"))
    with pytest.raises(MalformedResponse):
        DESFire(t, frame_size=16).write_data(1, bytes(20), comm="plain")


class EndlessCard:
    """A hostile card: answers every frame with ``answer`` (data and status) for ever."""

    def __init__(self, answer: bytes) -> None:
        self.answer = answer
        self.frames = 0

    def transceive(self, apdu: bytes) -> bytes:
        self.frames += 1
        if self.frames > 100_000:
            raise AssertionError("the client never stops asking")
        return self.answer


def test_a_card_chaining_empty_frames_for_ever_is_refused_at_once():
    card = EndlessCard(h("91AF"))
    with pytest.raises(ChainingError, match="empty frame"):
        DESFire(card).get_version()
    assert card.frames == 2


def test_a_card_still_waiting_for_command_data_is_told_there_is_none(script):
    t = script((native(0x3D, b"\x01" + h("000000") + h("030000") + bytes(3)), "91AF"),
               ("90 AF 00 00 00", "917E"))
    with pytest.raises(LengthError):
        DESFire(t).write_data(1, bytes(3), comm="plain")


def test_a_card_chaining_data_for_ever_is_refused_past_the_largest_answer():
    card = EndlessCard(bytes(59) + h("91AF"))
    with pytest.raises(ChainingError, match="largest answer"):
        DESFire(card, session=ev1_session()).read_data(1, comm="plain")
    assert card.frames <= MAX_FRAMES
    assert 59 * (card.frames - 1) <= MAX_RESPONSE


def test_a_card_chaining_small_frames_for_ever_is_refused_by_the_frame_count():
    card = EndlessCard(h("00 91AF"))
    with pytest.raises(ChainingError, match="frames"):
        DESFire(card).get_application_ids()
    assert card.frames == MAX_FRAMES


def test_a_message_needing_more_frames_than_any_card_takes_sends_nothing(script):
    t = script()
    with pytest.raises(InvalidArgument, match="frames"):
        DESFire(t, frame_size=1).write_data(1, bytes(MAX_FRAMES), comm="plain")
    with pytest.raises(InvalidArgument, match="data"):
        DESFire(t).write_data(1, bytes(MAX_CARD_MEMORY + 1), comm="plain")
    assert t.sent == []


def test_get_version_collects_three_frames(script):
    version = h("04010101000B05" "04010101000B05" "04A1B2C3D4E5F6" "BA5E0BA5E0" "1521")
    t = script(
        ("90 60 00 00 00", version[:7] + h("91AF")),
        ("90 AF 00 00 00", version[7:14] + h("91AF")),
        ("90 AF 00 00 00", version[14:] + h("9100")),
    )
    info = DESFire(t).get_version()
    assert isinstance(info, VersionInfo)
    assert info.uid == h("04A1B2C3D4E5F6") and info.production_year == 21


def test_get_df_names_one_entry_per_frame_with_the_mac_in_the_last(script):
    pair = ev1_pair()
    entries = [DFNameEntry(0x010203, 0xE110, b"app-one"), DFNameEntry(0x040506, 0xE120, b"\x02")]
    body = pair.reader.wrap_command(Cmd.GET_DF_NAMES, b"", b"", Comm.PLAIN)
    pair.card.unwrap_command(Cmd.GET_DF_NAMES, b"", b"", Comm.PLAIN)
    wire = pair.card.wrap_response(Cmd.GET_DF_NAMES, 0, b"".join(e.build() for e in entries),
                                   Comm.PLAIN)
    first = len(entries[0].build())
    t = script(
        (native(Cmd.GET_DF_NAMES, body), wire[:first] + h("91AF")),
        (native(0xAF), wire[first:] + h("9100")),
    )
    assert DESFire(t, session=pair.fresh()).get_df_names() == entries


def test_get_df_names_without_applications(script):
    assert DESFire(script(("906D000000", "9100"))).get_df_names() == []


def test_lists_of_ids(script):
    t = script(
        ("906A000000", h("563412 010000") + h("9100")),
        ("906F000000", h("00011F") + h("9100")),
        ("9061000000", h("10E1 20E1") + h("9100")),
    )
    card = DESFire(t)
    assert card.get_application_ids() == [0x123456, 0x000001]
    assert card.get_file_ids() == [0, 1, 31]
    assert card.get_iso_file_ids() == [0xE110, 0xE120]


# --- sessions and errors --------------------------------------------------------------------------


def test_wrong_response_mac_raises_and_drops_the_session(script):
    pair = ev2_pair()
    steps = pair.step(Cmd.GET_KEY_VERSION, b"\x01", comm=Comm.MAC, answer=b"\x07")
    (command, response), = steps
    bad = response[:-3] + bytes([response[-3] ^ 0x01]) + response[-2:]
    t = script((command, bad))
    card = DESFire(t, session=pair.fresh())
    with pytest.raises(ChecksumMismatch):
        card.get_key_version(1)
    assert card.session is None


def test_missing_response_mac_raises_and_drops_the_session(script):
    t = script(("90 64 00 00 01 01 00", "07 9100"))
    card = DESFire(t, session=ev1_session())
    with pytest.raises(LengthMismatch):
        card.get_key_version(1)
    assert card.session is None


def test_status_error_is_named_keeps_the_status_and_drops_the_session(script):
    t = script(("90 F5 00 00 01 07 00", "91F0"))
    card = DESFire(t, session=ev1_session())
    with pytest.raises(FileNotFound) as info:
        card.get_file_settings(7)
    assert type(info.value) is FileNotFound  # the status's own class, not the generic one
    assert info.value.status == 0xF0 and info.value.command == 0xF5
    assert card.session is None


def test_permission_denied(script):
    t = script(("90 DF 00 00 01 03 00", "919D"))
    with pytest.raises(PermissionDenied) as info:
        DESFire(t).delete_file(3)
    assert info.value.status == 0x9D


@pytest.mark.parametrize("response", ["6A82", "9000", "91", "", "0102 6700"])
def test_a_non_desfire_status_word_is_malformed(script, response):
    t = script(("90 45 00 00 00", response))
    card = DESFire(t, session=ev1_session())
    with pytest.raises(MalformedResponse):
        card.get_key_settings()
    assert card.session is None


def test_an_encrypted_response_of_broken_blocks_is_a_length_mismatch(script):
    # an EV1 full-mode answer that is not a whole number of blocks
    t = script(("90 51 00 00 00", bytes(10) + h("9100")))
    card = DESFire(t, session=ev1_session())
    with pytest.raises(LengthMismatch):
        card.get_card_uid()
    assert card.session is None


def test_a_failing_transceiver_drops_the_session():
    class Broken:
        def transceive(self, apdu):
            raise OSError("reader unplugged")

    card = DESFire(Broken(), session=ev1_session())
    with pytest.raises(OSError):
        card.free_memory()
    assert card.session is None


def test_select_application_drops_the_session_and_tracks_the_aid(script):
    t = script(("90 5A 00 00 03 563412 00", "9100"))
    card = DESFire(t, session=ev1_session())
    card.select_application(0x123456)
    assert card.session is None and card.aid == 0x123456


def test_a_failed_select_keeps_the_aid(script):
    t = script(("90 5A 00 00 03 563412 00", "91A0"))
    card = DESFire(t, aid=0x000001)
    with pytest.raises(DESFireStatusError):
        card.select_application(0x123456)
    assert card.aid == 0x000001


# --- authentication -------------------------------------------------------------------------------


def counting_rng(n: int) -> bytes:
    return bytes((0x31 + i) & 0xFF for i in range(n))


def card_rng(n: int) -> bytes:
    return bytes((0xC3 * (i + 1)) & 0xFF for i in range(n))


def auth_script(method: str, key_no: int, key: Key):
    """Steps of a successful authentication, and the (reader twin, card) sessions it yields."""
    reader = ReaderAuth(method, key_no, key, rng=counting_rng)
    card = CardAuth(method, key_no, key, rng=card_rng)
    challenge = card.challenge()
    message = reader.respond(challenge)
    proof, card_session = card.verify(message)
    reader_session = reader.finish(proof)
    steps = [(native(reader.command, reader.first_data()), challenge + h("91AF")),
             (native(0xAF, message), proof + h("9100"))]
    return steps, reader_session, card_session


@pytest.mark.parametrize(("method", "key"), [
    ("aes", AES_KEY),
    ("ev2first", AES_KEY),
    ("iso", Key.tdes3(bytes(range(24)))),
    ("legacy", Key.tdes2(bytes(range(16)))),
])
def test_authenticate_sets_the_session(script, method, key):
    steps, twin, _ = auth_script(method, 2, key)
    card = DESFire(script(*steps), rng=counting_rng)
    session = card.authenticate(2, key, method)
    assert card.session is session and session.key_no == 2
    assert session.enc_key == twin.enc_key and session.mac_key == twin.mac_key


def test_authenticate_with_a_wrong_proof_fails(script):
    steps, _, _ = auth_script("aes", 0, AES_KEY)
    (first, last) = steps
    t = script(first, (last[0], bytes(16) + h("9100")))
    card = DESFire(t, rng=counting_rng, session=ev1_session())
    with pytest.raises(ProofMismatch):
        card.authenticate(0, AES_KEY)
    assert card.session is None


def test_authenticate_status_error(script):
    t = script(("90 AA 00 00 01 05 00", "91AE"))
    card = DESFire(t, session=ev1_session())
    with pytest.raises(AuthenticationRejected) as info:
        card.authenticate(5, AES_KEY, "aes")
    assert info.value.status == 0xAE and card.session is None


def test_authenticate_without_a_challenge_is_malformed(script):
    t = script(("90 AA 00 00 01 00 00", "9100"))
    with pytest.raises(MalformedResponse):
        DESFire(t).authenticate(0, AES_KEY)


def test_ev2_nonfirst_keeps_ti_and_counter(script):
    first = EV2Session(enc_key=SESSION_KEY, mac_key=SESSION_KEY, ti=h("A1A2A3A4"), cmd_counter=9)
    reader = ReaderAuth("ev2nonfirst", 1, AES_KEY, rng=counting_rng, previous=first)
    card = CardAuth("ev2nonfirst", 1, AES_KEY, rng=card_rng, previous=first)
    challenge = card.challenge()
    message = reader.respond(challenge)
    proof, _ = card.verify(message)
    t = script(("90 77 00 00 01 01 00", challenge + h("91AF")),
               (native(0xAF, message), proof + h("9100")))
    session = DESFire(t, rng=counting_rng, session=first).authenticate(1, AES_KEY, "ev2nonfirst")
    assert session.ti == h("A1A2A3A4") and session.cmd_counter == 9


# --- effective communication mode and the file-settings cache -------------------------------------


def test_effective_comm_table():
    key = AccessRights(read=1, write=2, read_write=3, change=4)
    full = FileSettings(FileType.VALUE, "full", key, lower_limit=0, upper_limit=9,
                        limited_credit_value=0, limited_credit_enabled=False,
                        free_get_value=False)
    assert effective_comm(full, "read") is Comm.FULL
    cases = {
        "read": ("read", "read_write"),
        "get_value": ("read", "write", "read_write"),
        "debit": ("read", "write", "read_write"),
        "write": ("write", "read_write"),
        "limited_credit": ("write", "read_write"),
        "credit": ("read_write",),
        "clear": ("read_write",),
        "change": ("change",),
    }
    rights = ("read", "write", "read_write", "change")
    for operation, granting in cases.items():
        for right in rights:
            values = {r: getattr(key, r) for r in rights}
            values[right] = 0xE
            settings = FileSettings(FileType.STD_DATA, "full", AccessRights(**values), size=1)
            expected = Comm.PLAIN if right in granting else Comm.FULL
            assert effective_comm(settings, operation) is expected, (operation, right)


def test_read_without_comm_uses_the_cached_effective_mode(script):
    pair = ev1_pair()
    rights = AccessRights(read=1, write=1, read_write=1, change=0)
    settings = std_file("full", rights, size=20)
    content = bytes(range(20))
    steps = pair.step(Cmd.GET_FILE_SETTINGS, b"\x02", comm=Comm.PLAIN, answer=settings)
    header = b"\x02" + h("000000") + h("000000")
    steps += pair.step(Cmd.READ_DATA, header, comm=Comm.FULL, answer=content)
    steps += pair.step(Cmd.READ_DATA, header, comm=Comm.FULL, answer=content)
    card = DESFire(script(*steps), session=pair.fresh())
    assert card.read_data(2) == content  # settings fetched once, length from the file size
    assert card.read_data(2) == content


def test_free_read_right_means_plain(script):
    pair = ev2_pair()
    rights = AccessRights(read=0xE, write=1, read_write=1, change=0)
    settings = std_file("full", rights, size=4)
    steps = pair.step(Cmd.GET_FILE_SETTINGS, b"\x03", comm=Comm.MAC, answer=settings)
    steps += pair.step(Cmd.READ_DATA, b"\x03" + bytes(6), comm=Comm.PLAIN, answer=b"abcd")
    t = script(*steps)
    assert DESFire(t, session=pair.fresh()).read_data(3) == b"abcd"
    assert t.sent[1] == h("90 BD 00 00 07 03 000000 000000 00")  # no MAC on a plain command


def test_without_a_session_nothing_is_fetched(script):
    t = script(("90 6C 00 00 01 04 00", h("FEFFFFFF 9100")))
    assert DESFire(t).get_value(4) == -2


def test_select_invalidates_the_cache(script):
    pair = ev2_pair()
    new = AccessRights(read=0, write=0, read_write=1, change=0)
    steps = [("90 F5 00 00 01 01 00", std_file("plain", AccessRights.free()) + h("9100")),
             ("90 5A 00 00 03 010000 00", "9100")]
    # after the select, the Change right is fetched again (and is no longer free)
    steps += pair.step(Cmd.GET_FILE_SETTINGS, b"\x01", comm=Comm.MAC,
                       answer=std_file("plain", new))
    steps += pair.step(Cmd.CHANGE_FILE_SETTINGS, b"\x01", h("03") + new.build(), comm=Comm.FULL,
                       resp_comm=Comm.MAC)
    card = DESFire(script(*steps))
    card.get_file_settings(1)
    card.select_application(1)
    card.session = pair.fresh()  # as if authenticated in the new application
    card.change_file_settings(1, "full", new)


def test_change_file_settings_is_encrypted_unless_change_is_free(script):
    pair = ev2_pair()
    keyed = std_file("mac", AccessRights(read=1, write=1, read_write=1, change=0))
    new = AccessRights(read=1, write=2, read_write=3, change=0)
    steps = pair.step(Cmd.GET_FILE_SETTINGS, b"\x01", comm=Comm.MAC, answer=keyed)
    steps += pair.step(Cmd.CHANGE_FILE_SETTINGS, b"\x01", h("03") + new.build(), comm=Comm.FULL,
                       resp_comm=Comm.MAC)
    steps += pair.step(Cmd.GET_FILE_SETTINGS, b"\x01", comm=Comm.MAC,
                       answer=std_file("full", AccessRights.free()))
    steps += pair.step(Cmd.CHANGE_FILE_SETTINGS, b"\x01", h("00") + new.build(),
                       comm=Comm.PLAIN)
    session = pair.fresh()
    card = DESFire(script(*steps), session=session)
    card.change_file_settings(1, "full", new)
    card.change_file_settings(1, Comm.PLAIN, new)  # cache was dropped: settings fetched again
    assert session.cmd_counter == 4


def test_read_records_splits_by_record_size(script):
    settings = FileSettings(FileType.CYCLIC_RECORD, "plain", AccessRights.free(),
                            record_size=4, max_records=5, current_records=3).build()
    t = script(
        ("90 F5 00 00 01 06 00", settings + h("9100")),
        ("90 BB 00 00 07 06 000000 000000 00", b"aaaabbbbcccc" + h("9100")),
        ("90 BB 00 00 07 06 010000 020000 00", b"xxyyzz" + h("9100")),
    )
    card = DESFire(t)
    assert card.read_records(6) == [b"aaaa", b"bbbb", b"cccc"]
    with pytest.raises(LengthMismatch):
        card.read_records(6, 1, 2, record_size=2)  # 6 bytes are not two 2-byte records


def test_value_operations(script):
    t = script(
        ("90 0C 00 00 05 01 10270000 00", "9100"),
        ("90 DC 00 00 05 01 01000000 00", "9100"),
        ("90 1C 00 00 05 01 FFFFFF7F 00", "9100"),
        ("90 C7 00 00 00", "9100"),
        ("90 A7 00 00 00", "9100"),
        ("90 EB 00 00 01 02 00", "9100"),
        ("90 3B 00 00 0A 02 010000 030000 616263 00", "9100"),
    )
    card = DESFire(t)
    card.credit(1, 10000)
    card.debit(1, 1)
    card.limited_credit(1, 2**31 - 1)
    card.commit_transaction()
    card.abort_transaction()
    card.clear_record_file(2)
    card.write_record(2, b"abc", 1)


def test_create_commands(script):
    keyed = AccessRights(read=1, write=2, read_write=3, change=0)
    t = script(
        ("90 CA 00 00 05 563412 0F 84 00", "9100"),
        ("90 CA 00 00 0B 010000 0B 62 10E1 6E616D65 00", "9100"),  # 0x20: ISO FID follows
        ("90 CD 00 00 07 01 03 3012 200000 00", "9100"),
        ("90 CB 00 00 09 02 20E1 00 EEEE 300000 00", "9100"),
        ("90 CC 00 00 11 03 01 3012 00000000 E8030000 64000000 03 00", "9100"),
        ("90 C1 00 00 0A 04 00 EEEE 100000 050000 00", "9100"),
        ("90 C0 00 00 0A 05 01 3012 200000 0A0000 00", "9100"),
        ("90 DA 00 00 03 563412 00", "9100"),
    )
    card = DESFire(t)
    card.create_application(0x123456, KeySettings(), 4, "aes")
    card.create_application(0x000001, 0x0B, 2, KeyType.TDES3, iso_fid=0xE110, df_name=b"name")
    card.create_std_data_file(1, 32, comm="full", access=keyed)
    card.create_backup_data_file(2, 48, iso_fid=0xE120)
    card.create_value_file(3, upper_limit=1000, value=100, limited_credit=True,
                           free_get_value=True, comm=Comm.MAC, access=keyed)
    card.create_linear_record_file(4, 16, 5)
    card.create_cyclic_record_file(5, 32, 10, comm="mac", access=keyed)
    card.delete_application(0x123456)
    assert CreateApplicationParams.parse(t.sent[0][5:-1]).key_count == 4


def test_picc_level_change_key_announces_the_key_type(script):
    pair = ev2_pair()
    new = Key.aes(bytes(range(16)), version=2)
    cryptogram = pair.reader.change_key_cryptogram(Cmd.CHANGE_KEY, 0x80, new, None)
    t = script((native(Cmd.CHANGE_KEY, b"\x80" + cryptogram), "9100"))
    card = DESFire(t, session=pair.fresh())
    card.change_key(0, new)
    assert card.session is None
    # the card recovers the new key from what was sent
    assert pair.card.open_change_key(Cmd.CHANGE_KEY, 0x80, cryptogram, KeyType.AES, None) == new


def test_ev1_change_other_key_defaults_to_the_zero_old_key(script):
    pair = ev1_pair()
    new = Key.aes(bytes(range(16)), version=5)
    cryptogram = pair.reader.change_key_cryptogram(Cmd.CHANGE_KEY, 0x03, new, Key.aes(bytes(16)))
    recovered = pair.card.open_change_key(Cmd.CHANGE_KEY, 0x03, cryptogram, KeyType.AES,
                                          Key.aes(bytes(16)))
    assert recovered == new
    answer = pair.card.wrap_response(Cmd.CHANGE_KEY, 0, b"", Comm.PLAIN)
    t = script((native(Cmd.CHANGE_KEY, b"\x03" + cryptogram), answer + h("9100")))
    card = DESFire(t, session=pair.fresh(), aid=0x000001)
    card.change_key(3, new)
    assert card.session is not None


def test_set_configuration_helpers(script):
    pair = ev2_pair()
    key = Key.des(bytes(range(8)))
    default_key = key.data * 2 + bytes(8) + bytes([key.version])
    steps = pair.step(Cmd.SET_CONFIGURATION, b"\x01", default_key, comm=Comm.FULL,
                      resp_comm=Comm.MAC)
    steps += pair.step(Cmd.SET_CONFIGURATION, b"\x00", b"\x03", comm=Comm.FULL,
                       resp_comm=Comm.MAC)
    card = DESFire(script(*steps), session=pair.fresh())
    card.set_default_key(key)
    card.configure_picc(disable_format=True, random_uid=True)


# --- argument validation --------------------------------------------------------------------------


@pytest.mark.parametrize(("call", "message"), [
    (lambda c: c.read_data(32), "file_no"),
    (lambda c: c.read_data(-1), "file_no"),
    (lambda c: c.read_data(True), "file_no"),
    (lambda c: c.read_data(1, 2**24), "offset"),
    (lambda c: c.read_data(1, 0, 2**24), "length"),
    (lambda c: c.read_data(1, comm="secret"), "communication mode"),
    (lambda c: c.write_data(1, "text"), "data must be bytes"),
    (lambda c: c.write_data(1, b""), "data must be"),
    (lambda c: c.write_data(1, b"ab", 2**24 - 1), "offset"),
    (lambda c: c.credit(1, 2**31), "amount"),
    (lambda c: c.debit(1, -1), "amount"),
    (lambda c: c.limited_credit(1, 1.5), "amount"),
    (lambda c: c.read_records(1, count=-1), "count"),
    (lambda c: c.read_records(1, record_size=0), "record_size"),
    (lambda c: c.get_key_version(14), "key_no"),
    (lambda c: c.authenticate(0, b"\x00" * 16), "Key"),
    (lambda c: c.authenticate(0, AES_KEY, "rsa"), "method"),
    (lambda c: c.authenticate(0, Key.des(bytes(8)), "aes"), "cannot be used"),
    (lambda c: c.select_application(2**24), "aid"),
    (lambda c: c.create_application(0), "aid"),
    (lambda c: c.create_application(1, key_count=15), "key_count"),
    (lambda c: c.create_application(1, key_type="rsa"), "key type"),
    (lambda c: c.create_application(1, df_name=b"x"), "ISO file identifier"),
    (lambda c: c.create_value_file(1, lower_limit=10, value=5), "lower_limit <= value"),
    (lambda c: c.create_std_data_file(1, 2**24), "size"),
    (lambda c: c.create_linear_record_file(1, 0, 5), "record_size"),
    (lambda c: c.change_key_settings(256), "key settings"),
    (lambda c: c.change_file_settings(1, "full", 0xEEEE), "AccessRights"),
])
def test_invalid_arguments_send_nothing(script, call, message):
    card = DESFire(script(), session=ev1_session())
    with pytest.raises(InvalidArgument, match=message):
        call(card)
    assert card.session is not None


@pytest.mark.parametrize("kwargs", [{"frame_size": 0}, {"frame_size": 256}, {"aid": -1},
                                    {"session": "ev1"}])
def test_invalid_constructor_arguments(script, kwargs):
    with pytest.raises(InvalidArgument):
        DESFire(script(), **kwargs)


def test_change_key_and_default_key_need_a_session(script):
    card = DESFire(script())
    with pytest.raises(NotAuthenticated):
        card.change_key(1, AES_KEY)
    with pytest.raises(NotAuthenticated):
        card.set_default_key(AES_KEY)  # key material is never sent in clear
    with pytest.raises(NotAuthenticated):
        card.set_configuration(0x01, bytes(25))


def test_other_configuration_without_a_session_is_left_to_the_card(script):
    card = DESFire(script(("90 5C 00 00 02 00 01 00", "91AE")))
    with pytest.raises(AuthenticationRejected):
        card.configure_picc(disable_format=True)


def test_change_key_old_key_of_another_size(script):
    card = DESFire(script(), session=ev1_session(), aid=1)
    with pytest.raises(InvalidArgument, match="differ in size"):
        card.change_key(1, Key.tdes3(bytes(24)), Key.aes(bytes(16)))
    assert card.session is not None


# --- logging --------------------------------------------------------------------------------------


def renderings(secret: bytes) -> list[str]:
    return [secret.hex(), secret.hex().upper(), hexdump(secret), repr(secret)]


def test_key_material_never_reaches_the_log(script, caplog):
    steps, twin, card_session = auth_script("ev2first", 0, AES_KEY)
    pair = Pair(reader=twin, card=card_session)
    new_key = Key.aes(bytes.fromhex("A0A1A2A3A4A5A6A7A8A9AAABACADAEAF"), version=1)
    other = Key.aes(bytes.fromhex("B0B1B2B3B4B5B6B7B8B9BABBBCBDBEBF"), version=1)
    cryptogram = twin.change_key_cryptogram(Cmd.CHANGE_KEY, 1, other, AES_KEY)
    card_session.open_change_key(Cmd.CHANGE_KEY, 1, cryptogram, KeyType.AES, AES_KEY)
    steps.append((native(Cmd.CHANGE_KEY, b"\x01" + cryptogram),
                  card_session.wrap_response(Cmd.CHANGE_KEY, 0, b"", Comm.MAC) + h("9100")))
    twin.unwrap_response(Cmd.CHANGE_KEY, 0, steps[-1][1][:-2], Comm.MAC)
    secret_data = b"passenger: Jan Novak"
    steps += pair.step(Cmd.WRITE_DATA, b"\x01" + h("000000") + h("140000"), secret_data,
                       comm=Comm.FULL, resp_comm=Comm.MAC)
    steps += pair.step(Cmd.READ_DATA, b"\x01" + h("000000") + h("140000"), comm=Comm.FULL,
                       answer=secret_data)
    cryptogram = twin.change_key_cryptogram(Cmd.CHANGE_KEY, 0, new_key, None)
    steps.append((native(Cmd.CHANGE_KEY, b"\x00" + cryptogram), h("9100")))

    card = DESFire(script(*steps), rng=counting_rng, aid=0x000001)
    with caplog.at_level(TRACE, logger="ekarta"):
        session = card.authenticate(0, AES_KEY, "ev2first")
        secrets = [AES_KEY.data, new_key.data, other.data, session.enc_key, session.mac_key]
        card.change_key(1, other, AES_KEY)
        card.write_data(1, secret_data, comm="full")
        assert card.read_data(1, 0, 20, comm="full") == secret_data
        card.change_key(0, new_key)
    assert card.session is None
    traced = [r for r in caplog.records if r.levelno == TRACE and r.name == "ekarta.desfire.client"]
    assert len(traced) == 2 * len(steps)  # every frame, both directions
    text = caplog.text + "".join(r.getMessage() for r in caplog.records)
    for secret in secrets:
        for form in renderings(secret):
            assert form not in text
    for form in renderings(secret_data):
        assert form not in text  # full-mode data travels encrypted


def test_frames_are_traced_in_hex(script, caplog):
    t = script(("90 6E 00 00 00", "001000 9100"))
    with caplog.at_level(TRACE, logger="ekarta.desfire.client"):
        DESFire(t).free_memory()
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [">> 90 6E 00 00 00", "<< 00 10 00 91 00"]
    assert all(r.levelno == TRACE for r in caplog.records)


def test_repr_shows_no_secrets():
    card = DESFire(type("T", (), {"transceive": lambda self, a: b""})(), session=ev1_session())
    assert SESSION_KEY.hex() not in repr(card).lower()
    assert logging.getLevelName(TRACE) == "TRACE"
