"""Published DESFire vectors, replayed through the public API.

Sources: NIST SP 800-38B (CMAC), NXP AN10922 (key diversification), NXP AN12196 (EV2
authentication and secure messaging), public EV1 communication logs; every value is listed in
/work/shared/vectors/desfire-public-vectors.md or in the AN12196 transcripts quoted below.
Card conversations are replayed with the ``script`` fixture (a ScriptedTransceiver that checks
every C-APDU byte for byte).
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives import cmac
from cryptography.hazmat.primitives.ciphers import algorithms
from hypothesis import given, settings
from hypothesis import strategies as st

from ekarta.desfire import (
    Cmd,
    Comm,
    DESFire,
    EV1Session,
    EV2Session,
    FileType,
    Key,
    KeyType,
    LegacySession,
    diversify,
)
from ekarta.desfire.crypto import (
    BlockCipher,
    CbcChain,
    crc16,
    crc32,
    pad_iso9797_m2,
    pad_zero,
)
from tests.support.apdu import h


def reference_cmac(algorithm, data: bytes) -> bytes:
    mac = cmac.CMAC(algorithm)
    mac.update(data)
    return mac.finalize()


# --- primitives -----------------------------------------------------------------------------------


def test_crc32_of_a_changekey_message():
    value = crc32(h("C400") + h("00102030405060708090A0B0B0A09080") + h("10"))
    assert int.from_bytes(value, "little") == 0x6BE6C6D2


def test_crc32_of_a_response_covers_the_status():
    assert crc32(h("04440F32763180") + h("00")) == h("99CE1AD4")


def test_crc_a():
    assert crc16(h("04440F32763180")) == h("2798")


@pytest.mark.parametrize(("length", "block", "padded"), [(0, 8, 8), (9, 16, 16), (33, 16, 48)])
def test_ev1_zero_padding(length, block, padded):
    out = pad_zero(bytes(range(1, length + 1)), block)
    assert len(out) == padded
    assert out[:length] == bytes(range(1, length + 1)) and not any(out[length:])


def test_iso9797_method2_padding_always_adds():
    assert pad_iso9797_m2(b"", 16) == h("80") + bytes(15)
    assert pad_iso9797_m2(bytes(16), 16) == bytes(16) + h("80") + bytes(15)


NIST_KEY = h("2B7E151628AED2A6ABF7158809CF4F3C")


def test_aes_cmac_subkeys():
    k1, k2 = BlockCipher(KeyType.AES, NIST_KEY).subkeys
    assert k1 == h("FBEED618357133667C85E08F7236A8DE")
    assert k2 == h("F7DDAC306AE266CCF90BC11EE46D513B")


@pytest.mark.parametrize(("message", "mac"), [
    ("", "BB1D6929E95937287FA37D129B756746"),
    ("6BC1BEE22E409F96E93D7E117393172A", "070A16B46B4D4144F79BDD9DD04A287C"),
])
def test_aes_cmac(message, mac):
    assert BlockCipher(KeyType.AES, NIST_KEY).cmac(h(message)) == h(mac)


def test_tdes_cmac():
    cipher = BlockCipher(KeyType.TDES2, h("0123456789ABCDEF23456789ABCDEF01"))
    assert cipher.cmac(h("6BC1BEE22E409F96E93D7E117393172A")) == h("CC18A0B79AF2413B")


@settings(max_examples=60, deadline=None)
@given(key=st.binary(min_size=16, max_size=16), data=st.binary(max_size=80))
def test_aes_cmac_equals_cryptography(key, data):
    assert BlockCipher(KeyType.AES, key).cmac(data) == reference_cmac(algorithms.AES(key), data)


@settings(max_examples=60, deadline=None)
@given(key=st.binary(min_size=24, max_size=24), data=st.binary(max_size=80))
def test_3k3des_cmac_equals_cryptography(key, data):
    ours = BlockCipher(KeyType.TDES3, key).cmac(data)
    assert ours == reference_cmac(TripleDES(key), data)


# --- a session's chain: the stateless cipher's results on long-lived contexts --------------------

_KEY_SIZES = {KeyType.DES: 8, KeyType.TDES2: 16, KeyType.TDES3: 24, KeyType.AES: 16}


@st.composite
def _chain_steps(draw):
    """A key and a session's worth of operations: CMAC, encryption and decryption, each from
    the chain's own last block (as EV1's running IV most often is) or from another IV."""
    key_type = draw(st.sampled_from(list(_KEY_SIZES)))
    key = draw(st.binary(min_size=_KEY_SIZES[key_type], max_size=_KEY_SIZES[key_type]))
    bs = key_type.block_size
    steps = draw(st.lists(st.tuples(
        st.sampled_from(["cmac", "encrypt", "decrypt"]),
        st.binary(max_size=5 * bs),
        st.one_of(st.none(), st.binary(min_size=bs, max_size=bs))), max_size=12))
    return key_type, key, steps


def _check_chain(key_type, key, steps):
    reference = BlockCipher(key_type, key)
    chain = CbcChain.for_key(key_type, key)
    bs = key_type.block_size
    iv = bytes(bs)
    for operation, data, other_iv in steps:
        iv = other_iv if other_iv is not None else iv
        if operation == "cmac":
            expected = reference.cmac(data, iv)
            iv = chain.cmac(data, iv)
            assert iv == expected
        whole = data[:len(data) // bs * bs]
        if operation == "encrypt":
            out = chain.encrypt(whole, iv)
            assert out == reference.encrypt_cbc(whole, iv)
            iv = out[-bs:] if out else iv
        elif operation == "decrypt":
            assert chain.decrypt(whole, iv) == reference.decrypt_cbc(whole, iv)
            iv = whole[-bs:] if whole else iv


@settings(max_examples=8, deadline=None)
@given(_chain_steps())
def test_a_session_chain_gives_the_stateless_ciphers_results(case):
    _check_chain(*case)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(_chain_steps())
def test_a_session_chain_gives_the_stateless_ciphers_results_at_length(case):
    _check_chain(*case)


# --- AN10922 key diversification ------------------------------------------------------------------


def test_an10922_aes():
    master = Key.aes(h("00112233445566778899AABBCCDDEEFF"))
    m = h("04782E21801D80") + h("3042F5") + h("4E585020416275")
    assert diversify(master, m).data == h("A8DD63A3B89D54B37CA802473FDA9175")


def test_an10922_2tdea():
    master = Key.tdes2(h("00112233445566778899AABBCCDDEEFF"))
    key = diversify(master, h("04782E21801D803042F54E58502041"))
    assert key.type is KeyType.TDES2
    assert key.data == h("16F9587D9E8910C96B9648D006107DD7")


def test_an10922_3tdea():
    master = Key.tdes3(h("00112233445566778899AABBCCDDEEFF0102030405060708"))
    key = diversify(master, h("04782E21801D803042F54E5850"))
    assert key.type is KeyType.TDES3
    assert key.data == h("2E0DD03774D3FA9B5705AB0BDA91CA0B55B8E07FCDBF10EC")


# --- authentication transcripts -------------------------------------------------------------------


def fixed_rng(value: str):
    def rng(n: int) -> bytes:
        assert n == len(h(value)), f"asked for {n} random bytes"
        return h(value)
    return rng


def test_ev1_aes_authentication(script):
    t = script(
        ("90 AA 00 00 01 00 00", "B969FDFE56FD91FC9DE6F6F213B8FD1E 91AF"),
        ("90 AF 00 00 20 36AAD7DF6E436BA08D18613830A70D5AD43E3D3F4A8D47541EEE623A934E4774 00",
         "800DB680BC146BD121D6578F2D2E2059 9100"),
    )
    card = DESFire(t, rng=fixed_rng("F44B26F5686F3A391CD38EBD10772281"))
    session = card.authenticate(0, Key.aes(bytes(16)), "aes")
    assert card.session is session
    assert isinstance(session, EV1Session)
    assert session.key_type is KeyType.AES and session.key_no == 0
    assert session.session_key == h("F44B26F5C05DDD7110772281C4D066E8")
    assert session.enc_key == session.mac_key == session.session_key
    assert session.iv == bytes(16)


def test_legacy_des_authentication(script):
    t = script(
        ("90 0A 00 00 01 00 00", "57B0C35A080AE608 91AF"),
        ("90 AF 00 00 10 5BD89F653176AE3A7A1128C9D4035129 00", "B53BF499FEAC13E4 9100"),
    )
    card = DESFire(t, rng=fixed_rng("B0A6405F57794A93"))
    session = card.authenticate(0, Key.des(bytes(8)), "legacy")
    assert isinstance(session, LegacySession)
    assert session.key_type is KeyType.DES
    assert session.session_key == h("B0A6405FD6F77968")
    assert session.enc_key == session.mac_key == h("B0A6405FD6F77968")


def test_ev2_first_authentication(script):
    t = script(
        ("90 71 00 00 02 00 00 00", "A04C124213C186F22399D33AC2A30215 91AF"),
        ("90 AF 00 00 20 35C3E05A752E0144BAC0DE51C1F22C56B34408A23D8AEA266CAB947EA8E0118D 00",
         "3FA64DB5446D1F34CD6EA311167F5E4985B89690C04A05F17FA7AB2F08120663 9100"),
    )
    card = DESFire(t, rng=fixed_rng("13C5DB8A5930439FC3DEF9A4C675360F"))
    session = card.authenticate(0, Key.aes(bytes(16)), "ev2first")
    assert isinstance(session, EV2Session)
    assert session.ti == h("9D00C4DF")
    assert session.cmd_counter == 0
    assert session.enc_key == h("1309C877509E5A215007FF0ED19CA564")
    assert session.mac_key == h("4C6626F5E72EA694202139295C7A7FC7")


# --- EV2 secure messaging (AN12196) ---------------------------------------------------------------


def ev2_mac_t(mac_key: bytes, message: bytes) -> bytes:
    """MACt computed with cryptography alone: the odd bytes of the AES-CMAC."""
    return reference_cmac(algorithms.AES(mac_key), message)[1::2]


def test_ev2_get_file_settings_in_mac_mode(script):
    mac_key, ti = h("8248134A386E86EB7FAF54A52E536CB6"), h("7A21085E")
    settings_bytes = h("0040EEEE000100D1FE001F00004400004400002000006A0000")
    response_mac = h("2A474282E7A47986")
    t = script(("90F5000009026597A457C8CD442C00", settings_bytes + response_mac + h("9100")))
    session = EV2Session(enc_key=bytes(16), mac_key=mac_key, ti=ti, cmd_counter=0)
    settings = DESFire(t, session=session).get_file_settings(2)
    # The command MAC, checked independently of the session code:
    assert ev2_mac_t(mac_key, h("F5") + h("0000") + ti + h("02")) == h("6597A457C8CD442C")
    # ... and the response MAC over status, counter + 1, TI and data:
    assert ev2_mac_t(mac_key, h("00") + h("0100") + ti + settings_bytes) == response_mac
    assert session.cmd_counter == 1
    # The response is an NTAG 424 layout: a standard data file followed by SDM options.
    assert settings.file_type is FileType.STD_DATA
    assert settings.size == 256
    assert settings.comm is Comm.PLAIN and settings.option_flags == 0x40
    assert settings.access.read == settings.access.change == 0xE
    assert settings.build() == settings_bytes


SESSION_A = dict(enc_key=h("1309C877509E5A215007FF0ED19CA564"),
                 mac_key=h("4C6626F5E72EA694202139295C7A7FC7"), ti=h("9D00C4DF"))
NDEF = (h("0051D1014D550463686F6F73652E75726C2E636F6D2F6E7461673432343F653D") + h("30") * 32
        + h("26633D") + h("30") * 16).ljust(0x80, b"\x00")
WRITE_HEADER = h("02 000000 800000")
WRITE_CIPHERTEXT = h(
    "421C73A27D827658AF481FDFF20A5025B559D0E3AA21E58D347F343CFFC768BFE596C706BC00F2176781D4B0"
    "242642A0FF5A42C461AAF894D9A1284B8C76BCFA658ACD40555D362E08DB15CF421B51283F9064BCBE20E96C"
    "AE545B407C9D651A3315B27373772E5DA2367D2064AE054AF996C6F1F669170FA88CE8C4E3A4A7BBBEF0FD97"
    "1FF532C3A802AF745660F2B4")
WRITE_MAC_8D = h("D1D9A8499661EBF3")
WRITE_RESPONSE = h("FC222E5F7A542452 9100")


def test_ev2_full_write_at_session_level():
    # AN12196 uses WriteData 0x8D (the ISO-chaining variant NTAG 424 DNA knows).
    session = EV2Session(**SESSION_A)
    body = session.wrap_command(0x8D, WRITE_HEADER, NDEF, Comm.FULL)
    assert body == WRITE_HEADER + WRITE_CIPHERTEXT + WRITE_MAC_8D
    assert session.unwrap_response(0x8D, 0, WRITE_RESPONSE[:-2], Comm.MAC) == b""
    assert session.cmd_counter == 1


def test_ev2_full_write_replayed_through_the_client_framing(script):
    # The published C-APDU byte for byte, through the client's own framing and session handling.
    t = script(("908D00009F" + (WRITE_HEADER + WRITE_CIPHERTEXT + WRITE_MAC_8D).hex() + "00",
                WRITE_RESPONSE))
    card = DESFire(t, session=EV2Session(**SESSION_A), aid=0x000001)
    card._exchange(0x8D, WRITE_HEADER, NDEF, comm=Comm.FULL, resp_comm=Comm.MAC)
    assert card.session.cmd_counter == 1


def test_ev2_full_write_data_then_change_file_settings(script):
    # Native WriteData is 0x3D: the ciphertext (its IV depends only on TI and counter) and the
    # response MAC are the published ones; the command MAC covers 0x3D instead of 0x8D and is
    # computed here with cryptography alone.
    mac_3d = ev2_mac_t(SESSION_A["mac_key"],
                       h("3D") + h("0000") + SESSION_A["ti"] + WRITE_HEADER + WRITE_CIPHERTEXT)
    t = script(("903D00009F" + (WRITE_HEADER + WRITE_CIPHERTEXT + mac_3d).hex() + "00",
                WRITE_RESPONSE))
    session = EV2Session(**SESSION_A)
    card = DESFire(t, session=session, aid=0x000001)
    card.write_data(2, NDEF, comm="full")
    assert card.session is session and session.cmd_counter == 1
    # ChangeFileSettings with counter 1; the data is an NTAG layout, so test at session level.
    body = session.wrap_command(0x5F, b"\x02", h("4000E0C1F121200000430000430000"), Comm.FULL)
    assert body == h("0261B6D97903566E84C3AE5274467E89EAD799B7C1A0EF7A04")
    assert session.unwrap_response(0x5F, 0, h("57BFF87B1241E93D"), Comm.MAC) == b""
    assert session.cmd_counter == 2


SESSION_B = dict(enc_key=h("4CF3CB41A22583A61E89B158D252FC53"),
                 mac_key=h("5529860B2FC5FB6154B7F28361D30BF9"), ti=h("7614281A"))


def test_ev2_change_key_other_then_own(script):
    t = script(
        ("90C4000029 02 2CF362B7BF4311FF3BE1DAA295E8C68DE09050560D19B9E16C2393AE9CD1FAC7"
         " 5D0CE20BCD1D06E6 00", "203BB55D1089D587 9100"),
        ("90C4000029 00 C0EB4DEEFEDDF0B513A03A95A75491818580503190D4D05053FF75668A01D6FD"
         " A6610234BDED6432 00", "9100"),
    )
    session = EV2Session(**SESSION_B, cmd_counter=2)
    card = DESFire(t, session=session, aid=0x000001)  # application level: no key-type bits
    card.change_key(2, Key.aes(h("F3847D627727ED3BC9C4CC050489B966"), version=1),
                    Key.aes(bytes(16)))
    assert card.session is session and session.cmd_counter == 3
    assert session.key_no == 0
    card.change_key(0, Key.aes(h("5004BF991F408672B1EF00F08F9E8647"), version=1))
    assert card.session is None


def test_ev2_get_card_uid(script):
    t = script(("90510000088E2C155ADDA99BE300",
                "70756055688505B52A5E26E59E329CD6595F672298EA41B7 9100"))
    session = EV2Session(enc_key=h("2B4D963C014DC36F24F69A50A394F875"),
                         mac_key=h("379D32130CE61705DD5FD8C36B95D764"), ti=h("DF055522"))
    card = DESFire(t, session=session)
    assert card.get_card_uid() == h("04958CAA5C5E80")
    assert session.cmd_counter == 1


def test_command_codes_used_by_the_vectors():
    assert Cmd.GET_FILE_SETTINGS == 0xF5
    assert Cmd.CHANGE_KEY == 0xC4
    assert Cmd.GET_CARD_UID == 0x51
    assert Cmd.WRITE_DATA == 0x3D
