"""The emulated card over raw APDUs: framing, applications, files, keys, sessions, transactions.

Commands are built by hand (and, for authenticated ones, with the reader side of the shared
session objects), so these tests do not depend on the DESFire client.
"""

from __future__ import annotations

import tracemalloc

import pytest

from ekarta.desfire.auth import ReaderAuth
from ekarta.desfire.commands import AppCrypto, Cmd
from ekarta.desfire.crypto import Key
from ekarta.desfire.session import Comm, Session
from ekarta.desfire.structs import (
    AccessRights,
    CreateApplicationParams,
    CreateDataFileParams,
    CreateRecordFileParams,
    CreateValueFileParams,
    DFNameEntry,
    FileSettings,
    KeySettings,
    KeySettingsInfo,
    VersionInfo,
    u24le,
)
from ekarta.emulator import CardTorn, Faults, VirtualCard
from ekarta.emulator.card import MAX_FRAME, Volatile
from tests.support.apdu import counting_rng, native

AID = 0x112233
FREE = AccessRights.free()
DES0 = Key.des(bytes(8))
AES0 = Key.aes(bytes(16))


class Link:
    """A minimal reader: raw frames, chaining, and the reader side of a session."""

    def __init__(self, card: VirtualCard, frame_size: int = 255) -> None:
        self.card = card
        self.session: Session | None = None
        self.frame_size = frame_size

    def raw(self, cmd: int, data: bytes = b"") -> tuple[bytes, int]:
        response = self.card.process(native(cmd, data))
        assert response[-2] == 0x91, response.hex()
        return response[:-2], response[-1]

    def frames(self, cmd: int, body: bytes = b"") -> tuple[list[bytes], int]:
        """Send a whole message (chained if long); collect every response frame."""
        chunks = [body[i:i + self.frame_size] for i in range(0, len(body), self.frame_size)]
        chunks = chunks or [b""]
        for i, chunk in enumerate(chunks):
            data, status = self.raw(cmd if i == 0 else 0xAF, chunk)
            if i < len(chunks) - 1:
                if status != 0xAF:
                    return [data], status
                assert data == b""
        frames = [data]
        while status == 0xAF:
            data, status = self.raw(0xAF)
            frames.append(data)
        return frames, status

    def status(self, cmd: int, header: bytes = b"", data: bytes = b"",
               comm: Comm | None = None) -> int:
        """Send a (protected) command and return only its status."""
        session = self.session
        comm = comm or (session.command_comm if session else Comm.PLAIN)
        body = session.wrap_command(cmd, header, data, comm) if session else header + data
        _, status = self.frames(cmd, body)
        if status != 0x00:
            self.session = None
        return status

    def call(self, cmd: int, header: bytes = b"", data: bytes = b"", *,
             comm: Comm | None = None, resp_comm: Comm | None = None,
             length: int | None = None) -> bytes:
        session = self.session
        comm = comm or (session.command_comm if session else Comm.PLAIN)
        body = session.wrap_command(cmd, header, data, comm) if session else header + data
        frames, status = self.frames(cmd, body)
        assert status == 0x00, f"status 0x{status:02X}"
        payload = b"".join(frames)
        if session is not None:
            if resp_comm is None:  # a command that sends data answers none: full acts as mac
                resp_comm = Comm.MAC if comm is Comm.FULL and data else comm
            payload = session.unwrap_response(cmd, 0x00, payload, resp_comm, length)
        return payload

    def change_key(self, key_no_byte: int, new: Key, old: Key | None) -> int:
        """ChangeKey; ``old`` None when changing the session's own key (which ends it)."""
        session = self.session
        assert session is not None
        body = bytes([key_no_byte]) + session.change_key_cryptogram(
            Cmd.CHANGE_KEY, key_no_byte, new, old)
        frames, status = self.frames(Cmd.CHANGE_KEY, body)
        if status != 0x00 or old is None:
            self.session = None
            assert b"".join(frames) == b""
            return status
        session.unwrap_response(Cmd.CHANGE_KEY, 0x00, b"".join(frames), session.command_comm)
        return status

    def authenticate(self, key_no: int, key: Key, method: str) -> Session:
        auth = ReaderAuth(method, key_no, key, rng=counting_rng(), previous=self.session)
        self.session = None
        challenge, status = self.raw(auth.command, auth.first_data())
        assert status == 0xAF, f"status 0x{status:02X}"
        proof, status = self.raw(0xAF, auth.respond(challenge))
        assert status == 0x00, f"status 0x{status:02X}"
        self.session = auth.finish(proof)
        return self.session

    def select(self, aid: int) -> int:
        self.session = None
        return self.raw(Cmd.SELECT_APPLICATION, aid.to_bytes(3, "little"))[1]


@pytest.fixture
def card() -> VirtualCard:
    return VirtualCard.new(uid=bytes.fromhex("04A1B2C3D4E5F6"), rng=counting_rng())


@pytest.fixture
def link(card) -> Link:
    return Link(card)


def create_app(link: Link, aid: int = AID, *, keys: int = 2, crypto=AppCrypto.AES,
               settings: KeySettings | None = None, iso_fid=None, df_name=None) -> None:
    params = CreateApplicationParams(aid=aid, settings=settings or KeySettings(),
                                     key_count=keys, crypto=crypto, iso_fid=iso_fid,
                                     df_name=df_name)
    link.call(Cmd.CREATE_APPLICATION, params.build())


def std_file(file_no: int, size: int, comm: str = "plain", access: AccessRights = FREE,
             iso_fid=None) -> bytes:
    return CreateDataFileParams(file_no=file_no, iso_fid=iso_fid, comm=comm, access=access,
                                size=size).build()


def rw_header(file_no: int, offset: int, length: int) -> bytes:
    return bytes([file_no]) + u24le(offset) + u24le(length)


# --- factory state --------------------------------------------------------------------------------


def test_get_version_answers_three_frames(card, link):
    frames, status = link.frames(Cmd.GET_VERSION)
    assert status == 0x00
    assert [len(f) for f in frames] == [7, 7, 14]
    assert frames[0] == bytes.fromhex("04010112001A05") == frames[1]
    info = VersionInfo.parse(b"".join(frames))
    assert info.uid == card.uid
    assert info.product == "MIFARE DESFire EV2"
    assert 1 <= info.production_week <= 53


def test_factory_card_is_empty_with_7936_bytes_free(link):
    assert link.call(Cmd.FREE_MEMORY) == (7936).to_bytes(3, "little")
    assert link.call(Cmd.GET_APPLICATION_IDS) == b""
    info = KeySettingsInfo.parse(link.call(Cmd.GET_KEY_SETTINGS))
    assert info.settings.to_byte() == 0x0F and info.key_count == 1
    assert info.crypto is AppCrypto.DES_3DES
    assert link.call(Cmd.GET_KEY_VERSION, b"\x00") == b"\x00"
    assert link.call(Cmd.GET_DF_NAMES) == b""


def test_framing_errors(card, link):
    assert link.raw(0x42)[1] == 0x1C  # unknown command
    assert link.raw(0xAF)[1] == 0x1C  # nothing to continue
    assert link.raw(Cmd.GET_VERSION, b"\x00")[1] == 0x7E
    assert link.raw(Cmd.SELECT_APPLICATION, b"\x01\x02")[1] == 0x7E
    assert card.process(bytes.fromhex("9060")) == b"\x67\x00"
    assert card.process(bytes.fromhex("90600000050102")) == b"\x67\x00"  # Lc too long
    assert card.process(bytes.fromhex("8060000000")) == b"\x6E\x00"
    assert card.process(bytes.fromhex("00CA000000")) == b"\x6D\x00"


def test_a_new_command_abandons_a_response_chain(link):
    assert link.raw(Cmd.GET_VERSION)[1] == 0xAF
    assert link.raw(Cmd.FREE_MEMORY) == ((7936).to_bytes(3, "little"), 0x00)
    assert link.raw(0xAF)[1] == 0x1C


# --- applications and files without authentication ------------------------------------------------


def test_create_select_delete_application_and_files(card, link):
    create_app(link)
    assert link.call(Cmd.GET_APPLICATION_IDS) == AID.to_bytes(3, "little")
    assert link.call(Cmd.FREE_MEMORY) == (7936 - 64).to_bytes(3, "little")
    assert link.status(Cmd.CREATE_APPLICATION, CreateApplicationParams(
        aid=AID, settings=KeySettings(), key_count=1, crypto=AppCrypto.AES).build()) == 0xDE
    assert link.select(0x999999) == 0xA0
    assert link.select(AID) == 0x00
    assert card.selected_aid == AID
    info = KeySettingsInfo.parse(link.call(Cmd.GET_KEY_SETTINGS))
    assert (info.key_count, info.crypto) == (2, AppCrypto.AES)

    link.call(Cmd.CREATE_STD_DATA_FILE, std_file(1, 40))
    assert link.status(Cmd.CREATE_STD_DATA_FILE, std_file(1, 40)) == 0xDE
    assert link.status(Cmd.CREATE_STD_DATA_FILE, std_file(2, 0)) == 0x9E
    link.call(Cmd.CREATE_BACKUP_DATA_FILE, CreateDataFileParams(
        file_no=3, iso_fid=None, comm="mac", access=FREE, size=33).build())
    assert link.call(Cmd.GET_FILE_IDS) == bytes([1, 3])
    settings = FileSettings.parse(link.call(Cmd.GET_FILE_SETTINGS, b"\x03"))
    assert (settings.file_type.name, settings.size, settings.comm.value) == \
        ("BACKUP_DATA", 33, "mac")
    # 64 (application) + 64 (40 bytes) + 2 * 64 (33 bytes, backup)
    assert link.call(Cmd.FREE_MEMORY) == (7936 - 64 - 64 - 128).to_bytes(3, "little")
    assert link.status(Cmd.GET_FILE_SETTINGS, b"\x07") == 0xF0

    link.call(Cmd.DELETE_FILE, b"\x01")
    assert link.call(Cmd.GET_FILE_IDS) == b"\x03"
    assert link.status(Cmd.DELETE_APPLICATION, AID.to_bytes(3, "little")) == 0xAE
    link.select(AID)
    link.authenticate(0, AES0, "aes")  # the application's own master key may delete it
    link.call(Cmd.DELETE_APPLICATION, AID.to_bytes(3, "little"))
    assert card.session is None
    link.session = None
    assert card.selected_aid == 0
    assert link.call(Cmd.GET_APPLICATION_IDS) == b""
    assert link.call(Cmd.FREE_MEMORY) == (7936).to_bytes(3, "little")


def test_create_parameter_checks(link):
    bad_count = bytes.fromhex("010000" "0F" "80")  # key count 0
    assert link.status(Cmd.CREATE_APPLICATION, bad_count) == 0x9E
    assert link.status(Cmd.CREATE_APPLICATION, bytes.fromhex("000000" "0F" "81")) == 0x9E
    assert link.status(Cmd.CREATE_APPLICATION, bytes.fromhex("010000" "0F")) == 0x7E
    create_app(link)
    link.select(AID)
    assert link.status(Cmd.CREATE_STD_DATA_FILE, bytes.fromhex("20" "00" "EEEE" "100000")) == 0x9E
    assert link.status(Cmd.CREATE_STD_DATA_FILE, bytes.fromhex("01" "00" "EEEE" "10")) == 0x7E
    value = CreateValueFileParams(file_no=4, comm="plain", access=FREE, lower_limit=10,
                                  upper_limit=100, value=5, limited_credit_enabled=False)
    assert link.status(Cmd.CREATE_VALUE_FILE, value.build()) == 0x9E
    cyclic = CreateRecordFileParams(file_no=5, iso_fid=None, comm="plain", access=FREE,
                                    record_size=8, max_records=1)
    assert link.status(Cmd.CREATE_CYCLIC_RECORD_FILE, cyclic.build()) == 0x9E
    assert link.status(Cmd.CREATE_STD_DATA_FILE, std_file(6, 8000)) == 0x0E


def test_level_rules(link):
    assert link.status(Cmd.GET_FILE_IDS) == 0xA0
    assert link.status(Cmd.READ_DATA, rw_header(0, 0, 1)) == 0xA0
    create_app(link)
    link.select(AID)
    assert link.status(Cmd.GET_APPLICATION_IDS) == 0x9D
    assert link.status(Cmd.CREATE_APPLICATION, bytes.fromhex("010000" "0F" "81")) == 0x9D
    assert link.status(Cmd.FORMAT_PICC) == 0x9D
    link.call(Cmd.COMMIT_TRANSACTION)
    link.select(0)
    link.call(Cmd.ABORT_TRANSACTION)


def test_application_limit_and_chained_aid_list(link):
    for n in range(1, 29):
        create_app(link, n, keys=1)
    assert link.status(Cmd.CREATE_APPLICATION, CreateApplicationParams(
        aid=99, settings=KeySettings(), key_count=1, crypto=AppCrypto.AES).build()) == 0xCE
    frames, status = link.frames(Cmd.GET_APPLICATION_IDS)
    assert status == 0x00
    assert [len(f) for f in frames] == [MAX_FRAME, 84 - MAX_FRAME]
    aids = b"".join(frames)
    assert [int.from_bytes(aids[i:i + 3], "little") for i in range(0, 84, 3)] == \
        list(range(1, 29))


def test_df_names_one_application_per_frame(link):
    create_app(link, 1, iso_fid=0xE110, df_name=b"\xA0\x00\x00\x01")
    create_app(link, 2)
    create_app(link, 3, iso_fid=0xE111, df_name=b"TRANSIT-APP")
    assert link.status(Cmd.CREATE_APPLICATION, CreateApplicationParams(
        aid=4, settings=KeySettings(), key_count=1, crypto=AppCrypto.AES, iso_fid=0xE111
    ).build()) == 0xDE
    frames, status = link.frames(Cmd.GET_DF_NAMES)
    assert status == 0x00
    assert [DFNameEntry.parse(f) for f in frames] == [
        DFNameEntry(1, 0xE110, b"\xA0\x00\x00\x01"), DFNameEntry(3, 0xE111, b"TRANSIT-APP")]


# --- authentication and secure messaging ----------------------------------------------------------


def test_legacy_authentication_with_the_factory_key(card, link):
    session = link.authenticate(0, DES0, "legacy")
    assert session.kind == "legacy" and card.session is not None
    uid = link.call(Cmd.GET_CARD_UID, resp_comm=Comm.FULL, length=7)
    assert uid == card.uid


def test_authentication_failures(link):
    assert link.status(Cmd.GET_CARD_UID) == 0xAE
    assert link.raw(Cmd.AUTHENTICATE_LEGACY, b"\x01")[1] == 0x40
    assert link.raw(Cmd.AUTHENTICATE_AES, b"\x00")[1] == 0xAE  # DES key, AES method
    assert link.raw(Cmd.AUTHENTICATE_EV2_FIRST, b"\x00\x00")[1] == 0xAE
    auth = ReaderAuth("legacy", 0, Key.des(b"\x11" * 8))
    challenge, status = link.raw(Cmd.AUTHENTICATE_LEGACY, b"\x00")
    assert status == 0xAF
    assert link.raw(0xAF, auth.respond(challenge))[1] == 0xAE


def test_aes_and_ev2_authentication_in_an_aes_application(card, link):
    create_app(link)
    link.select(AID)
    assert link.authenticate(1, AES0, "aes").kind == "ev1"
    assert KeySettingsInfo.parse(link.call(Cmd.GET_KEY_SETTINGS)).key_count == 2
    first = link.authenticate(0, AES0, "ev2first")
    assert first.kind == "ev2"
    assert link.call(Cmd.GET_KEY_VERSION, b"\x01") == b"\x00"
    link.call(Cmd.GET_FILE_IDS)
    again = link.authenticate(1, AES0, "ev2nonfirst")
    assert again.ti == first.ti and again.cmd_counter == first.cmd_counter
    assert link.call(Cmd.FREE_MEMORY) == (7936 - 64).to_bytes(3, "little")
    assert card.session.key_no == 1


def test_an_exhausted_ev2_command_counter_is_refused_before_the_command(card, link):
    """At counter 65535 the answer's MAC would need counter 65536: the card refuses with 0xAE
    (and drops the session) instead of running the command and failing on its answer."""
    create_app(link)
    link.select(AID)
    link.authenticate(0, AES0, "ev2first")
    card.session.cmd_counter = link.session.cmd_counter = 0xFFFF
    assert link.status(Cmd.GET_KEY_VERSION, b"\x01") == 0xAE
    assert card.session is None
    link.authenticate(0, AES0, "ev2first")  # a new session starts from 0 again
    assert link.call(Cmd.GET_KEY_VERSION, b"\x01") == b"\x00"


def test_an_error_drops_the_authentication(card, link):
    link.authenticate(0, DES0, "legacy")
    assert link.status(Cmd.SELECT_APPLICATION, b"\x01") == 0x7E
    assert card.session is None
    assert link.status(Cmd.GET_CARD_UID) == 0xAE


@pytest.mark.parametrize("method", ["aes", "ev2first"])
@pytest.mark.parametrize("frame_size", [255, 40])
def test_full_mode_write_and_read_round_trip(card, method, frame_size):
    link = Link(card, frame_size)
    create_app(link)
    link.select(AID)
    rights = AccessRights(read=1, write=1, read_write=1, change=0)
    link.call(Cmd.CREATE_STD_DATA_FILE, std_file(1, 200, "full", rights))
    link.authenticate(1, AES0, method)
    data = bytes(range(200))
    link.call(Cmd.WRITE_DATA, rw_header(1, 0, 200), data, comm=Comm.FULL, resp_comm=Comm.MAC)
    assert link.call(Cmd.READ_DATA, rw_header(1, 0, 0), comm=Comm.FULL, length=200) == data
    assert link.call(Cmd.READ_DATA, rw_header(1, 150, 20), comm=Comm.FULL, length=20) == \
        data[150:170]
    assert link.status(Cmd.READ_DATA, rw_header(1, 190, 20), comm=Comm.FULL) == 0xBE


def test_macd_read_chains_the_response(card, link):
    create_app(link)
    link.select(AID)
    rights = AccessRights(read=1, write=1, read_write=1, change=0)
    link.call(Cmd.CREATE_STD_DATA_FILE, std_file(1, 100, "mac", rights))
    link.authenticate(1, AES0, "aes")
    link.call(Cmd.WRITE_DATA, rw_header(1, 0, 100), b"m" * 100, comm=Comm.MAC)
    frames, status = link.frames(Cmd.READ_DATA, link.session.wrap_command(
        Cmd.READ_DATA, rw_header(1, 0, 0), b"", Comm.MAC))
    assert status == 0x00 and [len(f) for f in frames] == [59, 49]  # 100 + CMAC
    assert link.session.unwrap_response(Cmd.READ_DATA, 0, b"".join(frames), Comm.MAC) == \
        b"m" * 100


def test_access_rights_and_effective_mode(card, link):
    create_app(link)
    link.select(AID)
    keyed = AccessRights(read=1, write=0xF, read_write=0xF, change=0)
    link.call(Cmd.CREATE_STD_DATA_FILE, std_file(1, 8, "full", keyed))
    assert link.status(Cmd.READ_DATA, rw_header(1, 0, 0)) == 0xAE
    assert link.status(Cmd.WRITE_DATA, rw_header(1, 0, 1), b"x") == 0x9D
    # a free Read right makes reading plain even for a "full" file, with a session
    half_free = AccessRights(read=0xE, write=1, read_write=1, change=0)
    link.call(Cmd.CREATE_STD_DATA_FILE, std_file(2, 8, "full", half_free))
    link.authenticate(0, AES0, "aes")
    assert link.status(Cmd.READ_DATA, rw_header(1, 0, 0), comm=Comm.FULL) == 0xAE
    link.authenticate(1, AES0, "aes")
    link.call(Cmd.WRITE_DATA, rw_header(2, 0, 3), b"abc", comm=Comm.FULL)
    assert link.call(Cmd.READ_DATA, rw_header(2, 0, 3), comm=Comm.PLAIN) == b"abc"


def test_change_file_settings(card, link):
    create_app(link)
    link.select(AID)
    link.call(Cmd.CREATE_STD_DATA_FILE, std_file(1, 8))
    new = bytes([0x03]) + AccessRights(read=1, write=1, read_write=1, change=0).build()
    link.call(Cmd.CHANGE_FILE_SETTINGS, b"\x01", new)  # Change right free: plain
    assert link.status(Cmd.CHANGE_FILE_SETTINGS, b"\x01", new) == 0xAE
    link.authenticate(0, AES0, "aes")
    back = bytes([0x00]) + FREE.build()
    link.call(Cmd.CHANGE_FILE_SETTINGS, b"\x01", back, comm=Comm.FULL, resp_comm=Comm.MAC)
    assert FileSettings.parse(link.call(Cmd.GET_FILE_SETTINGS, b"\x01")).access == FREE


# --- keys -----------------------------------------------------------------------------------------


def test_change_application_keys(card, link):
    create_app(link)
    link.select(AID)
    link.authenticate(0, AES0, "aes")
    new1 = Key.aes(bytes(range(16)), 5)
    assert link.change_key(1, new1, AES0) == 0x00
    assert link.call(Cmd.GET_KEY_VERSION, b"\x01") == b"\x05"
    link.authenticate(1, new1, "aes")
    # key 1 may not change key 1 while the change key is the master key
    assert link.status(Cmd.CHANGE_KEY, b"\x01" + bytes(32)) == 0xAE
    # the same key: the session ends, the answer is a bare status
    link.authenticate(0, AES0, "aes")
    new0 = Key.aes(b"\x42" * 16, 1)
    assert link.change_key(0, new0, None) == 0x00
    assert card.session is None
    link.authenticate(0, new0, "ev2first")


def test_picc_master_key_type_change(card, link):
    link.authenticate(0, DES0, "legacy")
    aes = Key.aes(bytes(range(16)), 2)
    assert link.change_key(0x80, aes, None) == 0x00
    info = KeySettingsInfo.parse(link.call(Cmd.GET_KEY_SETTINGS))
    assert info.crypto is AppCrypto.AES
    assert link.call(Cmd.GET_KEY_VERSION, b"\x00") == b"\x02"
    assert link.raw(Cmd.AUTHENTICATE_LEGACY, b"\x00")[1] == 0xAE
    link.authenticate(0, aes, "aes")
    tdes3 = Key.tdes3(bytes(range(24)))
    assert link.change_key(0x40, tdes3, None) == 0x00
    link.authenticate(0, tdes3, "iso")
    assert link.status(Cmd.CHANGE_KEY, b"\x01" + bytes(32)) == 0x40


def test_frozen_settings(card, link):
    create_app(link, settings=KeySettings(change_key=0xF, config_changeable=False,
                                          free_create_delete=False, free_directory=False,
                                          master_key_changeable=False))
    link.select(AID)
    assert link.status(Cmd.GET_FILE_IDS) == 0xAE
    assert link.status(Cmd.CREATE_STD_DATA_FILE, std_file(1, 8)) == 0xAE
    link.authenticate(0, AES0, "aes")
    link.call(Cmd.GET_FILE_IDS)
    assert link.status(Cmd.CHANGE_KEY_SETTINGS, data=b"\x0F", comm=Comm.FULL) == 0x9D
    link.authenticate(0, AES0, "aes")
    assert link.status(Cmd.CHANGE_KEY, b"\x01" + bytes(32)) == 0x9D
    link.authenticate(0, AES0, "aes")
    assert link.status(Cmd.CHANGE_KEY, b"\x00" + bytes(32)) == 0x9D


def test_change_key_settings(card, link):
    link.authenticate(0, DES0, "legacy")
    link.call(Cmd.CHANGE_KEY_SETTINGS, data=b"\x09", comm=Comm.FULL, resp_comm=Comm.MAC)
    assert card.state.picc_settings.to_byte() == 0x09
    link.session = None
    link.select(0)
    assert link.status(Cmd.GET_APPLICATION_IDS) == 0xAE  # listing needs the master key now
    assert link.status(Cmd.CREATE_APPLICATION, bytes.fromhex("010000" "0F" "81")) == 0xAE


# --- PICC configuration ---------------------------------------------------------------------------


def test_format_picc_and_disabling_it(card, link):
    create_app(link)
    assert link.status(Cmd.FORMAT_PICC) == 0xAE
    link.authenticate(0, DES0, "iso")
    link.call(Cmd.FORMAT_PICC)
    assert link.call(Cmd.GET_APPLICATION_IDS) == b""
    assert link.call(Cmd.FREE_MEMORY) == (7936).to_bytes(3, "little")
    link.call(Cmd.SET_CONFIGURATION, b"\x00", b"\x01", comm=Comm.FULL, resp_comm=Comm.MAC)
    assert link.status(Cmd.FORMAT_PICC) == 0x9D


def test_random_uid(card, link):
    link.authenticate(0, DES0, "iso")
    link.call(Cmd.SET_CONFIGURATION, b"\x00", b"\x02", comm=Comm.FULL, resp_comm=Comm.MAC)
    card.reset()
    link.session = None
    shown = VersionInfo.parse(b"".join(link.frames(Cmd.GET_VERSION)[0])).uid
    assert shown[0] == 0x08 and shown != card.uid
    assert card.anticollision_uid == shown[:4]
    link.authenticate(0, DES0, "iso")
    assert link.call(Cmd.GET_CARD_UID, resp_comm=Comm.FULL, length=7) == card.uid


def test_default_key_for_new_applications(card, link):
    link.authenticate(0, DES0, "iso")
    key = Key.aes(b"\x5A" * 16, 9)
    data = key.data + bytes(8) + bytes([9])
    link.call(Cmd.SET_CONFIGURATION, b"\x01", data, comm=Comm.FULL, resp_comm=Comm.MAC)
    create_app(link, keys=1)
    link.select(AID)
    assert link.call(Cmd.GET_KEY_VERSION, b"\x00") == b"\x09"
    link.authenticate(0, key, "aes")


# --- transactions ---------------------------------------------------------------------------------


@pytest.fixture
def app_link(link) -> Link:
    create_app(link)
    link.select(AID)
    return link


def test_backup_file_changes_at_commit(card, app_link):
    link = app_link
    link.call(Cmd.CREATE_BACKUP_DATA_FILE, std_file(1, 16))
    link.call(Cmd.WRITE_DATA, rw_header(1, 2, 3), b"abc")
    assert card.in_transaction
    assert link.call(Cmd.READ_DATA, rw_header(1, 0, 0)) == bytes(16)
    link.call(Cmd.COMMIT_TRANSACTION)
    assert link.call(Cmd.READ_DATA, rw_header(1, 0, 5)) == b"\x00\x00abc"
    link.call(Cmd.WRITE_DATA, rw_header(1, 0, 1), b"X")
    link.call(Cmd.ABORT_TRANSACTION)
    link.call(Cmd.COMMIT_TRANSACTION)
    assert link.call(Cmd.READ_DATA, rw_header(1, 0, 1)) == b"\x00"
    link.call(Cmd.WRITE_DATA, rw_header(1, 0, 1), b"Y")
    link.select(AID)
    link.call(Cmd.COMMIT_TRANSACTION)
    assert link.call(Cmd.READ_DATA, rw_header(1, 0, 1)) == b"\x00"


def test_value_file_limits_and_limited_credit(app_link):
    link = app_link
    link.call(Cmd.CREATE_VALUE_FILE, CreateValueFileParams(
        file_no=2, comm="plain", access=FREE, lower_limit=0, upper_limit=100, value=50,
        limited_credit_enabled=True).build())

    def value() -> int:
        return int.from_bytes(link.call(Cmd.GET_VALUE, b"\x02"), "little", signed=True)

    def amount(n: int) -> bytes:
        return n.to_bytes(4, "little", signed=True)

    link.call(Cmd.DEBIT, b"\x02", amount(30))
    assert value() == 50
    link.call(Cmd.COMMIT_TRANSACTION)
    assert value() == 20
    assert link.status(Cmd.DEBIT, b"\x02", amount(21)) == 0xBE
    assert link.status(Cmd.CREDIT, b"\x02", amount(81)) == 0xBE
    assert link.status(Cmd.CREDIT, b"\x02", amount(-1)) == 0x9E
    assert link.status(Cmd.LIMITED_CREDIT, b"\x02", amount(31)) == 0xBE
    link.call(Cmd.LIMITED_CREDIT, b"\x02", amount(30))
    link.call(Cmd.COMMIT_TRANSACTION)
    assert value() == 50
    assert link.status(Cmd.LIMITED_CREDIT, b"\x02", amount(1)) == 0xBE  # only once
    settings = FileSettings.parse(link.call(Cmd.GET_FILE_SETTINGS, b"\x02"))
    assert (settings.lower_limit, settings.upper_limit, settings.limited_credit_value) == \
        (0, 100, 0)


def test_linear_record_file(app_link):
    link = app_link
    link.call(Cmd.CREATE_LINEAR_RECORD_FILE, CreateRecordFileParams(
        file_no=3, iso_fid=None, comm="plain", access=FREE, record_size=4,
        max_records=2).build())
    assert link.status(Cmd.READ_RECORDS, rw_header(3, 0, 0)) == 0xBE  # empty
    link.call(Cmd.WRITE_RECORD, rw_header(3, 0, 2), b"ab")
    link.call(Cmd.WRITE_RECORD, rw_header(3, 2, 2), b"cd")  # same transaction: same record
    link.call(Cmd.COMMIT_TRANSACTION)
    link.call(Cmd.WRITE_RECORD, rw_header(3, 0, 4), b"efgh")
    link.call(Cmd.COMMIT_TRANSACTION)
    assert link.call(Cmd.READ_RECORDS, rw_header(3, 0, 0)) == b"abcdefgh"
    assert link.call(Cmd.READ_RECORDS, rw_header(3, 0, 1)) == b"efgh"
    assert link.call(Cmd.READ_RECORDS, rw_header(3, 1, 1)) == b"abcd"
    assert link.status(Cmd.READ_RECORDS, rw_header(3, 1, 2)) == 0xBE
    assert link.status(Cmd.WRITE_RECORD, rw_header(3, 0, 1), b"x") == 0xBE  # full
    assert link.status(Cmd.WRITE_RECORD, rw_header(3, 3, 2), b"xy") == 0xBE  # past the record
    link.call(Cmd.CLEAR_RECORD_FILE, b"\x03")
    assert link.status(Cmd.WRITE_RECORD, rw_header(3, 0, 1), b"x") == 0x9D
    link.call(Cmd.COMMIT_TRANSACTION)
    assert FileSettings.parse(link.call(Cmd.GET_FILE_SETTINGS, b"\x03")).current_records == 0


def test_cyclic_record_file_wraps_around(app_link):
    link = app_link
    link.call(Cmd.CREATE_CYCLIC_RECORD_FILE, CreateRecordFileParams(
        file_no=4, iso_fid=None, comm="plain", access=FREE, record_size=1,
        max_records=3).build())
    for byte in b"ABCDE":
        link.call(Cmd.WRITE_RECORD, rw_header(4, 0, 1), bytes([byte]))
        link.call(Cmd.COMMIT_TRANSACTION)
    assert link.call(Cmd.READ_RECORDS, rw_header(4, 0, 0)) == b"DE"  # keeps max_records - 1
    settings = FileSettings.parse(link.call(Cmd.GET_FILE_SETTINGS, b"\x04"))
    assert (settings.max_records, settings.current_records) == (3, 2)


def test_reset_discards_the_transaction_and_the_session(card, app_link):
    link = app_link
    link.call(Cmd.CREATE_BACKUP_DATA_FILE, std_file(1, 4))
    link.authenticate(0, AES0, "aes")
    link.call(Cmd.WRITE_DATA, rw_header(1, 0, 4), b"wxyz")
    card.reset()
    assert (card.selected_aid, card.session, card.in_transaction) == (0, None, False)
    link.session = None
    link.select(AID)
    link.call(Cmd.COMMIT_TRANSACTION)
    assert link.call(Cmd.READ_DATA, rw_header(1, 0, 0)) == bytes(4)


def power_off_tear_after(card: VirtualCard) -> None:
    card.arm(Faults(tear_after=0))
    with pytest.raises(CardTorn):
        card.process(native(0xAF))
    card.insert()


def power_off_tear_during(card: VirtualCard) -> None:
    card.arm(Faults(tear_during=0, tear_progress=0.5))
    with pytest.raises(CardTorn):
        card.process(native(0xAF))  # the next GetVersion frame, cut half-way
    card.insert()


def power_off_remove(card: VirtualCard) -> None:
    card.remove()
    card.insert()


@pytest.mark.parametrize("power_off", [VirtualCard.reset, power_off_remove,
                                       power_off_tear_after, power_off_tear_during])
def test_power_loss_replaces_the_whole_volatile_state(iso_card, power_off):
    card = iso_card
    link = Link(card)
    link.select(AID)
    assert iso(card, "00A4020C 02 E104") == b"\x90\x00"  # an ISO EF
    link.call(Cmd.CREATE_BACKUP_DATA_FILE, std_file(4, 4))
    link.authenticate(0, AES0, "aes")
    link.call(Cmd.WRITE_DATA, rw_header(4, 0, 4), b"wxyz")  # staged
    assert link.raw(Cmd.GET_VERSION)[1] == 0xAF  # two response frames still to send
    before, state, revision = card.volatile, card.state, card.revision
    assert before.aid == AID and before.ef == 2 and before.session is not None
    assert before.tx and before.out

    power_off(card)

    after = card.volatile
    assert after is not before, "a power-up installs a new volatile state"
    assert after == Volatile(random_id=after.random_id)
    assert after.random_id[0] == 0x08 and after.random_id != before.random_id
    assert before.session is not None and before.tx and before.out  # replaced, not emptied
    assert card.state is state and card.revision == revision  # the persistent memory stays
    link.session = None
    link.select(AID)
    assert link.call(Cmd.READ_DATA, rw_header(4, 0, 0)) == bytes(4)


def test_chained_plain_write(card):
    link = Link(card, frame_size=16)
    create_app(link)
    link.select(AID)
    link.call(Cmd.CREATE_STD_DATA_FILE, std_file(1, 100))
    data = bytes(range(100))
    link.call(Cmd.WRITE_DATA, rw_header(1, 0, 100), data)
    assert bytes(card.applications[AID].files[1].data) == data


# --- ISO 7816-4 -----------------------------------------------------------------------------------


@pytest.fixture
def iso_card(card, link) -> VirtualCard:
    create_app(link, iso_fid=0xE105, df_name=b"\xD2\x76\x00\x00\x85\x01\x01")
    link.select(AID)
    link.call(Cmd.CREATE_STD_DATA_FILE, std_file(2, 300, iso_fid=0xE104))
    keyed = AccessRights(read=1, write=1, read_write=1, change=0)
    link.call(Cmd.CREATE_STD_DATA_FILE, std_file(3, 8, access=keyed, iso_fid=0xE103))
    link.call(Cmd.WRITE_DATA, rw_header(2, 0, 4), b"NDEF")
    link.select(0)
    return card


def iso(card: VirtualCard, hex_apdu: str) -> bytes:
    return card.process(bytes.fromhex(hex_apdu.replace(" ", "")))


def test_iso_select_read_and_update(iso_card):
    card = iso_card
    assert iso(card, "00A4040C 07 D2760000850101") == b"\x90\x00"
    assert card.selected_aid == AID
    assert iso(card, "00B00000 04") == b"\x69\x86"  # no EF selected
    assert iso(card, "00A4020C 02 E104") == b"\x90\x00"
    assert iso(card, "00B00000 04") == b"NDEF\x90\x00"
    assert iso(card, "00D60002 02 4142") == b"\x90\x00"
    assert iso(card, "00B00000 04") == b"NDAB\x90\x00"
    assert len(iso(card, "00B00000 00")) == 256 + 2
    assert len(iso(card, "00B00100 00")) == 300 - 256 + 2
    assert iso(card, "00B00200 01") == b"\x6B\x00"
    assert iso(card, "00D6012B 02 4142") == b"\x67\x00"
    assert iso(card, "00B08200 02")[:2] == b"ND"  # short file ID = file number 2
    assert iso(card, "00A4020C 02 E103") == b"\x90\x00"
    assert iso(card, "00B00000 01") == b"\x69\x82"
    assert iso(card, "00D60000 01 00") == b"\x69\x82"
    assert iso(card, "00A4020C 02 E1FF") == b"\x6A\x82"
    assert iso(card, "00A4040C 07 D2760000850100") == b"\x90\x00"
    assert card.selected_aid == 0
    assert iso(card, "00A4000C 02 E105") == b"\x90\x00"
    assert card.selected_aid == AID
    assert iso(card, "00A4000C 02 3F00") == b"\x90\x00"
    assert card.selected_aid == 0
    assert iso(card, "00A4080C 02 3F00") == b"\x6B\x00"


def test_iso_select_drops_the_session(iso_card):
    card = iso_card
    link = Link(card)
    link.select(AID)
    link.authenticate(0, AES0, "aes")
    assert iso(card, "00A4020C 02 E104") == b"\x90\x00"
    assert card.session is None
    assert card.selected_aid == AID


def test_a_file_larger_than_the_free_memory_is_refused_before_it_is_built(card, app_link):
    link = app_link
    tracemalloc.start()
    try:
        for cmd in (Cmd.CREATE_STD_DATA_FILE, Cmd.CREATE_BACKUP_DATA_FILE):
            params = CreateDataFileParams(file_no=9, iso_fid=None, comm=Comm.PLAIN, access=FREE,
                                          size=0xFFFFFF).build()
            assert link.status(cmd, params) == 0x0E
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    assert 9 not in card.applications[AID].files
