"""The ISO 7816-4 commands (CLA 00): SELECT, READ BINARY and UPDATE BINARY.

SELECT by DF name (P1 04; the PICC DF name D2760000850100 selects the PICC level) or by file ID
(P1 00/02, FID big-endian as ISO sends it: 3F00 = the PICC level, an application's ISO FID, a
file's ISO FID inside the selected application; P2 00 or 0C, no FCI is ever returned).  READ
BINARY and UPDATE BINARY address the selected EF with the offset in P1P2, or a short file ID in
bits 4..0 of P1 (bit 7 set) — the DESFire file number, which must have an ISO FID — with the
offset in P2 (SFI 0 is the current EF); they work on standard data files whose Read (resp. Write)
or ReadWrite right is free.  A READ BINARY with Le 00 (or no Le) reads up to 256 bytes, to the end
of the file; an explicit Le beyond the end answers 6700.

Status words: 9000, 6A82 (not found), 6986 (no EF selected or not a standard data file), 6B00
(offset or P1/P2 wrong), 6700 (length), 6D00 (INS), 6E00 (CLA), 6982 (access right not free).
Every ISO SELECT drops the authentication and the pending transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NoReturn

from ekarta.desfire.commands import DESFIRE_PICC_DF_NAME, FREE, MAX_DF_NAME
from ekarta.emulator.card.contents import write_standard
from ekarta.emulator.card.context import Context
from ekarta.emulator.state import DataFile
from ekarta.errors import ISOStatusError

__all__ = [
    "HANDLERS",
    "SW_CLA",
    "SW_INS",
    "SW_NOT_ALLOWED",
    "SW_NOT_FOUND",
    "SW_OK",
    "SW_SECURITY",
    "SW_WRONG_LENGTH",
    "SW_WRONG_PARAMS",
    "dispatch",
    "sw",
]

SW_OK = 0x9000
SW_WRONG_LENGTH = 0x6700
SW_SECURITY = 0x6982
SW_NOT_ALLOWED = 0x6986
SW_NOT_FOUND = 0x6A82
SW_WRONG_PARAMS = 0x6B00
SW_INS = 0x6D00
SW_CLA = 0x6E00

IsoHandler = Callable[[Context, int, int, bytes, int | None], bytes]


def sw(status: int) -> bytes:
    return status.to_bytes(2, "big")


def _fail(status: int, message: str | None = None) -> NoReturn:
    raise ISOStatusError(status, message)


def dispatch(ctx: Context, ins: int, p1: int, p2: int, data: bytes, le: int | None) -> bytes:
    """Run one ISO command; the response APDU, its status word included."""
    handler = HANDLERS.get(ins)
    if handler is None:
        return sw(SW_INS)
    try:
        return handler(ctx, p1, p2, data, le)
    except ISOStatusError as exc:
        return sw(exc.sw)


def select(ctx: Context, p1: int, p2: int, data: bytes, le: int | None) -> bytes:
    volatile = ctx.volatile
    volatile.session = None
    volatile.tx.clear()
    if p2 not in (0x00, 0x0C):
        _fail(SW_WRONG_PARAMS)
    if p1 == 0x04:
        if not 1 <= len(data) <= MAX_DF_NAME:
            _fail(SW_WRONG_LENGTH)
        if data == DESFIRE_PICC_DF_NAME:
            return _select_df(ctx, 0)
        for named in ctx.state.applications.values():
            if named.df_name == data:
                return _select_df(ctx, named.aid)
        _fail(SW_NOT_FOUND)
    if p1 not in (0x00, 0x02):
        _fail(SW_WRONG_PARAMS)
    if p1 == 0x00 and not data:
        return _select_df(ctx, 0)
    if len(data) != 2:
        _fail(SW_WRONG_LENGTH)
    fid = int.from_bytes(data, "big")
    if p1 == 0x00 and fid == 0x3F00:
        return _select_df(ctx, 0)
    app = ctx.app
    if app is not None:
        for f in app.files.values():
            if f.iso_fid == fid:
                volatile.ef = f.file_no
                return sw(SW_OK)
    if p1 == 0x00:
        for other in ctx.state.applications.values():
            if other.iso_fid == fid:
                return _select_df(ctx, other.aid)
    _fail(SW_NOT_FOUND)


def _select_df(ctx: Context, aid: int) -> bytes:
    ctx.volatile.select(aid)
    return sw(SW_OK)


def _addressed_file(ctx: Context, p1: int, p2: int) -> tuple[DataFile, int]:
    """The standard data file and offset a READ/UPDATE BINARY addresses."""
    app = ctx.app
    volatile = ctx.volatile
    if p1 & 0x80 and p1 & 0x1F:
        if p1 & 0x60:
            _fail(SW_WRONG_PARAMS)
        sfi = p1 & 0x1F
        f = app.files.get(sfi) if app is not None else None
        if f is None or f.iso_fid is None:
            _fail(SW_NOT_FOUND)
        volatile.ef = sfi
        offset = p2
    else:
        if app is None or volatile.ef is None or volatile.ef not in app.files:
            _fail(SW_NOT_ALLOWED, "no EF is selected")
        f = app.files[volatile.ef]
        offset = p2 if p1 & 0x80 else (p1 << 8) | p2
    if not isinstance(f, DataFile) or f.backup:
        _fail(SW_NOT_ALLOWED, "not a standard data file")
    return f, offset


def read_binary(ctx: Context, p1: int, p2: int, data: bytes, le: int | None) -> bytes:
    f, offset = _addressed_file(ctx, p1, p2)
    if data:
        _fail(SW_WRONG_LENGTH)
    if FREE not in (f.access.read, f.access.read_write):
        _fail(SW_SECURITY)
    if offset >= f.size:
        _fail(SW_WRONG_PARAMS)
    available = f.size - offset
    if le is None or le == 256:
        count = min(256, available)
    elif le > available:
        _fail(SW_WRONG_LENGTH)
    else:
        count = le
    return bytes(f.data[offset:offset + count]) + sw(SW_OK)


def update_binary(ctx: Context, p1: int, p2: int, data: bytes, le: int | None) -> bytes:
    f, offset = _addressed_file(ctx, p1, p2)
    if not data:
        _fail(SW_WRONG_LENGTH)
    if FREE not in (f.access.write, f.access.read_write):
        _fail(SW_SECURITY)
    if offset >= f.size:
        _fail(SW_WRONG_PARAMS)
    if offset + len(data) > f.size:
        _fail(SW_WRONG_LENGTH)
    write_standard(ctx, f, offset, data)
    return sw(SW_OK)


HANDLERS: dict[int, IsoHandler] = {0xA4: select, 0xB0: read_binary, 0xD6: update_binary}
