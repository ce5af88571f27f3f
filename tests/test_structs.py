"""Wire formats of ekarta.desfire.structs: decoding known bytes, round trips, hostile input."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ekarta.desfire.commands import (
    DESFIRE_PICC_DF_NAME,
    FREE,
    NEVER,
    AppCrypto,
    Cmd,
    Comm,
    FileType,
)
from ekarta.desfire.structs import (
    AccessRights,
    ChangeFileSettingsParams,
    CreateApplicationParams,
    CreateDataFileParams,
    CreateRecordFileParams,
    CreateValueFileParams,
    DFNameEntry,
    FileSettings,
    KeySettings,
    KeySettingsInfo,
    VersionInfo,
    aid_from_bytes,
    aid_to_bytes,
    build_aid_list,
    parse_aid_list,
    parse_df_names,
    parse_free_memory,
    parse_u24le,
    u24le,
)
from ekarta.errors import InvalidArgument, MalformedResponse
from tests.support.apdu import h

# --- commands -------------------------------------------------------------------------------------


def test_command_codes_have_no_aliases() -> None:
    # IntEnum silently turns a duplicated value into an alias; that would hide a typo.
    assert len(Cmd.__members__) == len(set(Cmd))


@pytest.mark.parametrize(
    ("cmd", "code"),
    [
        (Cmd.AUTHENTICATE_AES, 0xAA),
        (Cmd.ADDITIONAL_FRAME, 0xAF),
        (Cmd.GET_VERSION, 0x60),
        (Cmd.CREATE_CYCLIC_RECORD_FILE, 0xC0),
        (Cmd.ABORT_TRANSACTION, 0xA7),
    ],
)
def test_command_codes(cmd: Cmd, code: int) -> None:
    assert cmd == code


@pytest.mark.parametrize(
    ("byte", "comm"),
    [
        (0x00, Comm.PLAIN),
        (0x01, Comm.MAC),
        (0x02, Comm.PLAIN),
        (0x03, Comm.FULL),
        (0x83, Comm.FULL),
        (0x81, Comm.MAC),
    ],
)
def test_comm_from_settings(byte: int, comm: Comm) -> None:
    assert Comm.from_settings(byte) is comm


@pytest.mark.parametrize(("comm", "byte"), [(Comm.PLAIN, 0), (Comm.MAC, 1), (Comm.FULL, 3)])
def test_comm_settings_byte(comm: Comm, byte: int) -> None:
    assert comm.settings_byte == byte
    assert Comm.from_settings(byte) is comm


@pytest.mark.parametrize(
    ("value", "comm"),
    [("plain", Comm.PLAIN), ("MAC", Comm.MAC), ("Full", Comm.FULL), (Comm.MAC, Comm.MAC)],
)
def test_comm_parse(value: object, comm: Comm) -> None:
    assert Comm.parse(value) is comm


@pytest.mark.parametrize("value", ["secure", "", 3, None])
def test_comm_parse_rejects(value: object) -> None:
    with pytest.raises(InvalidArgument):
        Comm.parse(value)


@pytest.mark.parametrize("value", [-1, 256, True, "1"])
def test_comm_from_settings_rejects(value: object) -> None:
    with pytest.raises(InvalidArgument):
        Comm.from_settings(value)


def test_picc_df_name() -> None:
    assert DESFIRE_PICC_DF_NAME.hex().upper() == "D2760000850100"


# --- access rights and key settings ---------------------------------------------------------------

nibbles = st.integers(0, 0xF)
access_rights = st.builds(AccessRights, nibbles, nibbles, nibbles, nibbles)


def test_access_rights_layout() -> None:
    rights = AccessRights.parse(h("3412"))
    assert rights == AccessRights(read=1, write=2, read_write=3, change=4)
    assert int(rights) == 0x1234
    assert rights.build() == h("3412")
    assert AccessRights.from_int(0x1234) == rights


def test_access_rights_describe() -> None:
    rights = AccessRights(read=1, write=2, read_write=FREE, change=NEVER)
    assert str(rights) == "read=key1 write=key2 rw=free change=never"
    assert rights.describe() == str(rights)
    assert AccessRights.free() == AccessRights.from_int(0xEEEE)


@given(access_rights)
def test_access_rights_round_trip(rights: AccessRights) -> None:
    assert AccessRights.parse(rights.build()) == rights
    assert AccessRights.from_int(int(rights)) == rights


@pytest.mark.parametrize("args", [(16, 0, 0, 0), (0, -1, 0, 0), (0, 0, 0, True), (0, 0, 0, "1")])
def test_access_rights_rejects(args: tuple[object, ...]) -> None:
    with pytest.raises(InvalidArgument):
        AccessRights(*args)


@pytest.mark.parametrize(
    ("byte", "settings"),
    [
        (0x0F, KeySettings()),
        (0x00, KeySettings(0, False, False, False, False)),
        (0x09, KeySettings(0, True, False, False, True)),
        (0x04, KeySettings(0, False, True, False, False)),
        (0x02, KeySettings(0, False, False, True, False)),
        (0xE1, KeySettings(0xE, False, False, False, True)),
        (0xF0, KeySettings(0xF, False, False, False, False)),
        (0x3B, KeySettings(3, True, False, True, True)),
    ],
)
def test_key_settings_bits(byte: int, settings: KeySettings) -> None:
    assert KeySettings.from_byte(byte) == settings
    assert KeySettings.parse(bytes([byte])) == settings
    assert settings.to_byte() == byte
    assert int(settings) == byte
    assert settings.build() == bytes([byte])


def test_key_settings_every_byte_round_trips() -> None:
    assert [KeySettings.from_byte(b).to_byte() for b in range(256)] == list(range(256))


@pytest.mark.parametrize("kwargs", [{"change_key": 16}, {"change_key": -1}, {"free_directory": 1}])
def test_key_settings_rejects(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument):
        KeySettings(**kwargs)


@pytest.mark.parametrize(
    ("data", "info"),
    [
        ("0F01", KeySettingsInfo(KeySettings(), 1, AppCrypto.DES_3DES)),
        ("0B8E", KeySettingsInfo(KeySettings.from_byte(0x0B), 14, AppCrypto.AES)),
        ("EF43", KeySettingsInfo(KeySettings.from_byte(0xEF), 3, AppCrypto.TDES3)),
        ("0FA5", KeySettingsInfo(KeySettings(), 5, AppCrypto.AES, iso_file_ids=True)),
    ],
)
def test_key_settings_info(data: str, info: KeySettingsInfo) -> None:
    assert KeySettingsInfo.parse(h(data)) == info
    assert info.build() == h(data)


@pytest.mark.parametrize(
    "data",
    [
        "",
        "0F",
        "0F0100",  # too long
        "0F80",  # no keys
        "0F8F",  # 15 keys
        "0FC1",  # key family bits 0b11
        "0F91",  # EV2 third settings byte flag
    ],
)
def test_key_settings_info_malformed(data: str) -> None:
    with pytest.raises(MalformedResponse):
        KeySettingsInfo.parse(h(data))


# --- GetVersion -----------------------------------------------------------------------------------

# hardware part, software part, UID, batch, week, year
EV1_VERSION = h("04010101001805 04010101041805 04440F32763180 BA654D4610 14 12")
EV2_8K_VERSION = h("04010112001A05 04010102011A05 04112233445566 0102030405 47 19")


def test_version_ev1() -> None:
    info = VersionInfo.parse(EV1_VERSION)
    assert (info.hw_vendor_id, info.hw_type, info.hw_subtype) == (0x04, 0x01, 0x01)
    assert (info.hw_major, info.hw_minor, info.hw_storage_size, info.hw_protocol) == (1, 0, 0x18, 5)
    assert (info.sw_major, info.sw_minor) == (1, 4)
    assert info.uid == h("04440F32763180")
    assert info.batch == h("BA654D4610")
    assert info.production_week == 14
    assert info.production_year == 12
    assert info.production_year_full == 2012
    assert info.storage_bytes == 4096
    assert info.storage_exact
    assert info.vendor == "NXP"
    assert info.product == "MIFARE DESFire EV1"
    assert info.extra == b""
    assert info.build() == EV1_VERSION


def test_version_ev2_8k() -> None:
    info = VersionInfo.parse(EV2_8K_VERSION)
    assert info.storage_bytes == 8192
    assert info.storage_exact
    assert "EV2" in info.product
    assert info.production_week == 47
    assert info.production_year_full == 2019
    assert info.build() == EV2_8K_VERSION


@pytest.mark.parametrize(
    ("storage", "size", "exact"),
    [(0x16, 2048, True), (0x18, 4096, True), (0x19, 4096, False), (0x1A, 8192, True)],
)
def test_version_storage(storage: int, size: int, exact: bool) -> None:
    data = bytearray(EV1_VERSION)
    data[5] = storage
    info = VersionInfo.parse(bytes(data))
    assert (info.storage_bytes, info.storage_exact) == (size, exact)


@pytest.mark.parametrize(
    ("hw_type", "major", "product"),
    [
        (0x01, 0x33, "MIFARE DESFire EV3"),
        (0x08, 0x30, "MIFARE DESFire Light"),
        (0x01, 0x12, "MIFARE DESFire EV2"),
    ],
)
def test_version_product(hw_type: int, major: int, product: str) -> None:
    data = bytearray(EV1_VERSION)
    data[1], data[3] = hw_type, major
    assert VersionInfo.parse(bytes(data)).product == product


def test_version_unknown_product_and_vendor() -> None:
    data = bytearray(EV1_VERSION)
    data[0], data[1], data[3] = 0x05, 0x81, 0x77
    info = VersionInfo.parse(bytes(data))
    assert info.product.startswith("DESFire-compatible 0x81")
    assert info.vendor == "0x05"


@pytest.mark.parametrize("extra", ["00", "AABB"])
def test_version_tolerates_trailing_bytes(extra: str) -> None:
    data = EV1_VERSION + h(extra)
    info = VersionInfo.parse(data)
    assert info.extra == h(extra)
    assert info.uid == h("04440F32763180")
    assert info.build() == data


@pytest.mark.parametrize(
    "data",
    [
        b"",
        EV1_VERSION[:27],
        EV1_VERSION + h("010203"),
        EV1_VERSION[:26] + h("1A12"),  # week is not BCD
        EV1_VERSION[:27] + h("F0"),  # year is not BCD
    ],
)
def test_version_malformed(data: bytes) -> None:
    with pytest.raises(MalformedResponse):
        VersionInfo.parse(data)


def test_version_rejects_bad_fields() -> None:
    info = VersionInfo.parse(EV1_VERSION)
    fields = {name: getattr(info, name) for name in info.__dataclass_fields__}
    with pytest.raises(InvalidArgument):
        VersionInfo(**{**fields, "uid": b"\x04\x01\x02\x03"})
    with pytest.raises(InvalidArgument):
        VersionInfo(**{**fields, "production_year": 100})
    with pytest.raises(InvalidArgument):
        VersionInfo(**{**fields, "hw_major": 256})


# --- file settings --------------------------------------------------------------------------------

FILE_SETTINGS_CASES = [
    (
        "00 00 3412 200000",
        FileSettings(FileType.STD_DATA, Comm.PLAIN, AccessRights(1, 2, 3, 4), size=32),
    ),
    (
        "01 01 EF00 000100",
        FileSettings(FileType.BACKUP_DATA, Comm.MAC, AccessRights(0, 0, FREE, NEVER), size=256),
    ),
    (
        "02 03 E01E 9CFFFFFF 10270000 32000000 01",
        FileSettings(
            FileType.VALUE,
            Comm.FULL,
            AccessRights(1, FREE, FREE, 0),
            lower_limit=-100,
            upper_limit=10000,
            limited_credit_value=50,
            limited_credit_enabled=True,
            free_get_value=False,
        ),
    ),
    (
        "02 00 EEEE 00000080 FFFFFF7F 00000000 02",
        FileSettings(
            FileType.VALUE,
            Comm.PLAIN,
            AccessRights.free(),
            lower_limit=-(2**31),
            upper_limit=2**31 - 1,
            limited_credit_value=0,
            limited_credit_enabled=False,
            free_get_value=True,
        ),
    ),
    (
        "03 00 1032 100000 0A0000 030000",
        FileSettings(
            FileType.LINEAR_RECORD,
            Comm.PLAIN,
            AccessRights(3, 2, 1, 0),
            record_size=16,
            max_records=10,
            current_records=3,
        ),
    ),
    (
        "04 01 E0E0 300000 050000 040000",
        FileSettings(
            FileType.CYCLIC_RECORD,
            Comm.MAC,
            AccessRights(FREE, 0, FREE, 0),
            record_size=48,
            max_records=5,
            current_records=4,
        ),
    ),
    (
        # EV2: bit 7 of the option byte announces additional access rights, which follow.
        "00 80 3412 200000 01 12E0",
        FileSettings(
            FileType.STD_DATA,
            Comm.PLAIN,
            AccessRights(1, 2, 3, 4),
            size=32,
            option_flags=0x80,
            extra=h("0112E0"),
        ),
    ),
    (
        # 0b10 is plain too; the bit is kept so the bytes survive a round trip.
        "00 02 EEEE 010000",
        FileSettings(FileType.STD_DATA, Comm.PLAIN, AccessRights.free(), size=1, option_flags=0x02),
    ),
]


@pytest.mark.parametrize(("data", "settings"), FILE_SETTINGS_CASES)
def test_file_settings(data: str, settings: FileSettings) -> None:
    assert FileSettings.parse(h(data)) == settings
    assert settings.build() == h(data)


@pytest.mark.parametrize(
    "data",
    [
        "",
        "00",
        "00 00 3412 2000",  # size cut short
        "05 00 3412 200000",  # no such file type
        "02 03 E01E 9CFFFFFF 10270000 32000000",  # flags byte missing
        "02 03 E01E 9CFFFFFF 10270000 32000000 04",  # reserved flag bit
        "03 00 1032 100000 0A0000 0300",  # current records cut short
    ],
)
def test_file_settings_malformed(data: str) -> None:
    with pytest.raises(MalformedResponse):
        FileSettings.parse(h(data))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"file_type": FileType.STD_DATA},  # size missing
        {"file_type": FileType.STD_DATA, "size": 1, "record_size": 1},
        {"file_type": FileType.STD_DATA, "size": 2**24},
        {"file_type": 9, "size": 1},
        {"file_type": FileType.STD_DATA, "size": 1, "option_flags": 0x01},  # would mean MAC
        {"file_type": FileType.LINEAR_RECORD, "record_size": 1, "max_records": 1},
    ],
)
def test_file_settings_rejects(kwargs: dict[str, object]) -> None:
    with pytest.raises(InvalidArgument):
        FileSettings(comm=Comm.PLAIN, access=AccessRights.free(), **kwargs)


def test_file_settings_accepts_comm_name() -> None:
    settings = FileSettings(FileType.STD_DATA, "full", AccessRights.free(), size=8)
    assert settings.comm is Comm.FULL


u24 = st.integers(0, 0xFFFFFF)
i32 = st.integers(-(2**31), 2**31 - 1)
comms = st.sampled_from(Comm)
file_settings = st.one_of(
    st.builds(
        FileSettings,
        st.sampled_from([FileType.STD_DATA, FileType.BACKUP_DATA]),
        comms,
        access_rights,
        size=u24,
        extra=st.binary(max_size=8),
    ),
    st.builds(
        FileSettings,
        st.just(FileType.VALUE),
        comms,
        access_rights,
        lower_limit=i32,
        upper_limit=i32,
        limited_credit_value=i32,
        limited_credit_enabled=st.booleans(),
        free_get_value=st.booleans(),
    ),
    st.builds(
        FileSettings,
        st.sampled_from([FileType.LINEAR_RECORD, FileType.CYCLIC_RECORD]),
        comms,
        access_rights,
        record_size=u24,
        max_records=u24,
        current_records=u24,
        option_flags=st.sampled_from([0x00, 0x40, 0x80, 0xC0]),
    ),
)


@given(file_settings)
def test_file_settings_round_trip(settings: FileSettings) -> None:
    assert FileSettings.parse(settings.build()) == settings


# --- create parameters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "params"),
    [
        (
            "030201 0B 82",
            CreateApplicationParams(0x010203, KeySettings.from_byte(0x0B), 2, AppCrypto.AES),
        ),
        (
            "563412 0F 0E",
            CreateApplicationParams(0x123456, KeySettings(), 14, AppCrypto.DES_3DES),
        ),
        (
            "030201 0F A5 10E1 D2760000850101",
            CreateApplicationParams(
                0x010203, KeySettings(), 5, AppCrypto.AES, 0xE110, h("D2760000850101")
            ),
        ),
        (
            "FFFFFF 09 61 0010",  # ISO FID without a DF name
            CreateApplicationParams(
                0xFFFFFF, KeySettings.from_byte(0x09), 1, AppCrypto.TDES3, 0x1000
            ),
        ),
        (
            "010000 0F A1 0510 " + "41" * 16,  # longest DF name
            CreateApplicationParams(1, KeySettings(), 1, AppCrypto.AES, 0x1005, b"A" * 16),
        ),
    ],
)
def test_create_application(data: str, params: CreateApplicationParams) -> None:
    assert CreateApplicationParams.parse(h(data)) == params
    assert params.build() == h(data)


@pytest.mark.parametrize(
    "data",
    [
        "030201 0F",  # second settings byte missing
        "030201 0F 82 00",  # trailing byte without the ISO flag
        "030201 0F A2 10",  # ISO FID cut short
        "010000 0F A1 0510 " + "41" * 17,  # DF name of 17 bytes
        "030201 0F 80",  # no keys
        "030201 0F 8F",  # 15 keys
        "030201 0F C2",  # unknown key family
    ],
)
def test_create_application_malformed(data: str) -> None:
    with pytest.raises(MalformedResponse):
        CreateApplicationParams.parse(h(data))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"aid": 0x1000000},
        {"aid": -1},
        {"key_count": 0},
        {"key_count": 15},
        {"iso_fid": 0x10000},
        {"iso_fid": 0x1000, "df_name": b"A" * 17},
        {"iso_fid": 0x1000, "df_name": b""},
        {"df_name": b"name"},  # a DF name needs an ISO FID
        {"crypto": 0xC0},
    ],
)
def test_create_application_rejects(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {
        "aid": 1,
        "settings": KeySettings(),
        "key_count": 1,
        "crypto": AppCrypto.AES,
    }
    with pytest.raises(InvalidArgument):
        CreateApplicationParams(**{**args, **kwargs})


create_application = st.builds(
    CreateApplicationParams,
    u24,
    st.builds(KeySettings, nibbles, st.booleans(), st.booleans(), st.booleans(), st.booleans()),
    st.integers(1, 14),
    st.sampled_from(AppCrypto),
).flatmap(
    lambda p: st.one_of(
        st.just(p),
        st.builds(
            CreateApplicationParams,
            st.just(p.aid),
            st.just(p.settings),
            st.just(p.key_count),
            st.just(p.crypto),
            st.integers(0, 0xFFFF),
            st.none() | st.binary(min_size=1, max_size=16),
        ),
    )
)


@pytest.mark.slow
@given(create_application)
def test_create_application_round_trip(params: CreateApplicationParams) -> None:
    assert CreateApplicationParams.parse(params.build()) == params


DATA_FILE = CreateDataFileParams(1, None, Comm.PLAIN, AccessRights(1, 2, 3, 4), 32)
DATA_FILE_ISO = CreateDataFileParams(1, 0xE104, Comm.FULL, AccessRights(1, 2, 3, 4), 0x123456)


@pytest.mark.parametrize(
    ("data", "params"),
    [("01 00 3412 200000", DATA_FILE), ("01 04E1 03 3412 563412", DATA_FILE_ISO)],
)
def test_create_data_file(data: str, params: CreateDataFileParams) -> None:
    assert CreateDataFileParams.parse(h(data)) == params
    assert params.build() == h(data)


def test_create_data_file_explicit_iso_flag() -> None:
    parsed = CreateDataFileParams.parse(h("01 04E1 03 3412 563412"), has_iso_fid=True)
    assert parsed == DATA_FILE_ISO
    with pytest.raises(MalformedResponse):
        CreateDataFileParams.parse(h("01 00 3412 200000"), has_iso_fid=True)
    with pytest.raises(MalformedResponse):
        CreateDataFileParams.parse(h("01 04E1 03 3412 563412"), has_iso_fid=False)


@pytest.mark.parametrize(
    "data",
    [
        "",
        "01 00 3412 2000",  # 6 bytes
        "01 00 3412 20000000",  # 8 bytes
        "20 00 3412 200000",  # file number 32
        "01 40 3412 200000",  # option bits beyond the comm mode
    ],
)
def test_create_data_file_malformed(data: str) -> None:
    with pytest.raises(MalformedResponse):
        CreateDataFileParams.parse(h(data))


@pytest.mark.parametrize(
    "kwargs", [{"file_no": 32}, {"size": 2**24}, {"iso_fid": -1}, {"comm": "secure"}]
)
def test_create_data_file_rejects(kwargs: dict[str, object]) -> None:
    args: dict[str, object] = {
        "file_no": 1,
        "iso_fid": None,
        "comm": "plain",
        "access": AccessRights.free(),
        "size": 1,
    }
    with pytest.raises(InvalidArgument):
        CreateDataFileParams(**{**args, **kwargs})


VALUE_FILE = CreateValueFileParams(
    2, Comm.FULL, AccessRights(1, FREE, FREE, 0), 0, 1000, 10, limited_credit_enabled=True
)


def test_create_value_file() -> None:
    data = h("02 03 E01E 00000000 E8030000 0A000000 01")
    assert CreateValueFileParams.parse(data) == VALUE_FILE
    assert VALUE_FILE.build() == data


@pytest.mark.parametrize(
    "data",
    [
        "02 03 E01E 00000000 E8030000 0A000000",  # 16 bytes
        "02 03 E01E 00000000 E8030000 0A000000 01 00",  # 18 bytes
        "02 03 E01E 00000000 E8030000 0A000000 81",  # reserved flag bit
    ],
)
def test_create_value_file_malformed(data: str) -> None:
    with pytest.raises(MalformedResponse):
        CreateValueFileParams.parse(h(data))


def test_create_value_file_rejects_out_of_range() -> None:
    with pytest.raises(InvalidArgument):
        CreateValueFileParams(1, Comm.PLAIN, AccessRights.free(), 0, 2**31, 0, False)


@given(
    st.builds(
        CreateValueFileParams,
        st.integers(0, 31),
        comms,
        access_rights,
        i32,
        i32,
        i32,
        st.booleans(),
        st.booleans(),
    )
)
def test_create_value_file_round_trip(params: CreateValueFileParams) -> None:
    assert CreateValueFileParams.parse(params.build()) == params


RECORD_FILE = CreateRecordFileParams(3, None, Comm.MAC, AccessRights(3, 2, 1, 0), 16, 100)
RECORD_FILE_ISO = CreateRecordFileParams(3, 0xE105, Comm.MAC, AccessRights(3, 2, 1, 0), 16, 100)


@pytest.mark.parametrize(
    ("data", "params"),
    [
        ("03 01 1032 100000 640000", RECORD_FILE),
        ("03 05E1 01 1032 100000 640000", RECORD_FILE_ISO),
    ],
)
def test_create_record_file(data: str, params: CreateRecordFileParams) -> None:
    assert CreateRecordFileParams.parse(h(data)) == params
    assert params.build() == h(data)


@pytest.mark.parametrize("data", ["03 01 1032 100000 6400", "03 05E1 01 1032 100000 64000000"])
def test_create_record_file_malformed(data: str) -> None:
    with pytest.raises(MalformedResponse):
        CreateRecordFileParams.parse(h(data))


@given(
    st.builds(
        CreateDataFileParams,
        st.integers(0, 31),
        st.none() | st.integers(0, 0xFFFF),
        comms,
        access_rights,
        u24,
    )
)
def test_create_data_file_round_trip(params: CreateDataFileParams) -> None:
    assert CreateDataFileParams.parse(params.build()) == params


@given(
    st.builds(
        CreateRecordFileParams,
        st.integers(0, 31),
        st.none() | st.integers(0, 0xFFFF),
        comms,
        access_rights,
        u24,
        u24,
    )
)
def test_create_record_file_round_trip(params: CreateRecordFileParams) -> None:
    assert CreateRecordFileParams.parse(params.build()) == params


def test_change_file_settings() -> None:
    params = ChangeFileSettingsParams(Comm.FULL, AccessRights.free())
    assert params.build() == h("03 EEEE")
    assert ChangeFileSettingsParams.parse(h("03 EEEE")) == params
    assert ChangeFileSettingsParams.parse(h("01 3412")) == ChangeFileSettingsParams(
        "mac", AccessRights(1, 2, 3, 4)
    )


@pytest.mark.parametrize("data", ["03EE", "03EEEE00", "83EEEE"])
def test_change_file_settings_malformed(data: str) -> None:
    with pytest.raises(MalformedResponse):
        ChangeFileSettingsParams.parse(h(data))


# --- AIDs, DF names, small integers ---------------------------------------------------------------


def test_aid_bytes() -> None:
    assert aid_to_bytes(0x123456) == h("563412")
    assert aid_from_bytes(h("563412")) == 0x123456
    assert aid_to_bytes(0) == h("000000")


@pytest.mark.parametrize("aid", [-1, 0x1000000, True])
def test_aid_to_bytes_rejects(aid: object) -> None:
    with pytest.raises(InvalidArgument):
        aid_to_bytes(aid)


@pytest.mark.parametrize("data", ["", "5634", "56341200"])
def test_aid_from_bytes_malformed(data: str) -> None:
    with pytest.raises(MalformedResponse):
        aid_from_bytes(h(data))


def test_aid_list() -> None:
    assert parse_aid_list(b"") == []
    assert parse_aid_list(h("563412 010000 FFFFFF")) == [0x123456, 1, 0xFFFFFF]
    assert build_aid_list([0x123456, 1]) == h("563412 010000")


@pytest.mark.parametrize("data", ["56", "5634", "563412 01"])
def test_aid_list_malformed(data: str) -> None:
    with pytest.raises(MalformedResponse):
        parse_aid_list(h(data))


def test_df_names() -> None:
    frames = [h("563412 10E1 D2760000850101"), h("010000 0510 41")]
    assert parse_df_names(frames) == [
        DFNameEntry(0x123456, 0xE110, h("D2760000850101")),
        DFNameEntry(1, 0x1005, b"A"),
    ]
    assert [entry.build() for entry in parse_df_names(frames)] == frames
    assert parse_df_names([]) == []


@pytest.mark.parametrize("frame", ["", "563412 10", "563412 10E1", "563412 10E1 " + "41" * 17])
def test_df_names_malformed(frame: str) -> None:
    with pytest.raises(MalformedResponse):
        parse_df_names([h("010000 0510 41"), h(frame)])


def test_free_memory_and_u24() -> None:
    assert parse_free_memory(h("00 20 00")) == 0x2000
    assert parse_u24le(h("FFFFFF")) == 0xFFFFFF
    assert u24le(0x123456) == h("563412")
    with pytest.raises(InvalidArgument):
        u24le(2**24)


@pytest.mark.parametrize("data", ["", "0020", "00200000"])
def test_free_memory_malformed(data: str) -> None:
    with pytest.raises(MalformedResponse):
        parse_free_memory(h(data))


def test_parsers_reject_non_bytes() -> None:
    with pytest.raises(InvalidArgument):
        FileSettings.parse("00003412200000")  # type: ignore[arg-type]


# --- hostile input --------------------------------------------------------------------------------

EXACT_PARSERS: list[Callable[[bytes], object]] = [
    VersionInfo.parse,
    FileSettings.parse,
    KeySettingsInfo.parse,
    DFNameEntry.parse,
    AccessRights.parse,
    KeySettings.parse,
    CreateApplicationParams.parse,
    CreateValueFileParams.parse,
]
NORMALISING_PARSERS: list[Callable[[bytes], object]] = [
    CreateDataFileParams.parse,
    CreateRecordFileParams.parse,
    ChangeFileSettingsParams.parse,
]


@pytest.mark.parametrize("parse", EXACT_PARSERS, ids=lambda f: f.__qualname__)
@given(data=st.binary(max_size=40))
def test_parsers_reject_or_round_trip_exactly(
    parse: Callable[[bytes], object], data: bytes
) -> None:
    try:
        parsed = parse(data)
    except MalformedResponse:
        return
    assert parsed.build() == data  # type: ignore[attr-defined]


@pytest.mark.parametrize("parse", NORMALISING_PARSERS, ids=lambda f: f.__qualname__)
@given(data=st.binary(max_size=16))
def test_parsers_reject_or_normalise(parse: Callable[[bytes], object], data: bytes) -> None:
    # These accept the 0b10 spelling of "plain" and build it back as 0b00.
    try:
        parsed = parse(data)
    except MalformedResponse:
        return
    assert parse(parsed.build()) == parsed  # type: ignore[attr-defined]


@given(st.binary(max_size=40))
def test_list_parsers_never_leak(data: bytes) -> None:
    for parse in (parse_aid_list, parse_free_memory, aid_from_bytes):
        with contextlib.suppress(MalformedResponse):
            parse(data)


# --- the fast parsers agree with the declarations ------------------------------------------------


def _outcome(parse: Callable[[bytes], object], data: bytes) -> object:
    try:
        return parse(data)
    except MalformedResponse:
        return MalformedResponse


_FILE_SETTINGS_BYTES = st.one_of(
    st.binary(max_size=24),
    st.tuples(st.integers(0, 6), st.binary(min_size=2, max_size=20)).map(
        lambda t: bytes([t[0]]) + t[1]),
    # a value file's settings whose flags byte is now and then well formed
    st.tuples(st.binary(min_size=15, max_size=15), st.integers(0, 3),
              st.binary(max_size=3)).map(lambda t: b"\x02" + t[0] + bytes([t[1]]) + t[2]),
)
_VERSION_BYTES = st.one_of(
    st.binary(min_size=26, max_size=31),
    st.tuples(st.binary(min_size=26, max_size=26), st.integers(0, 9), st.integers(0, 9),
              st.integers(0, 9), st.integers(0, 9), st.binary(max_size=3)).map(
        lambda t: t[0] + bytes([t[1] << 4 | t[2], t[3] << 4 | t[4]]) + t[5]),
)


@settings(max_examples=30, deadline=None)
@given(_FILE_SETTINGS_BYTES)
def test_file_settings_parse_as_declared(data: bytes) -> None:
    assert _outcome(FileSettings.parse, data) == _outcome(FileSettings._parse_declared, data)


@settings(max_examples=30, deadline=None)
@given(_VERSION_BYTES)
def test_version_info_parses_as_declared(data: bytes) -> None:
    assert _outcome(VersionInfo.parse, data) == _outcome(VersionInfo._parse_declared, data)


@pytest.mark.slow
@settings(max_examples=1000, deadline=None)
@given(_FILE_SETTINGS_BYTES, _VERSION_BYTES)
def test_the_fast_parsers_agree_with_the_declarations_at_length(settings_bytes: bytes,
                                                                 version_bytes: bytes) -> None:
    test_file_settings_parse_as_declared.hypothesis.inner_test(settings_bytes)
    test_version_info_parses_as_declared.hypothesis.inner_test(version_bytes)
