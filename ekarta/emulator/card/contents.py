"""What files hold, and the transaction: ReadData/WriteData, GetValue/Credit/Debit/LimitedCredit,
WriteRecord/ReadRecords/ClearRecordFile, CommitTransaction and AbortTransaction.

A standard data file is written at once; every other change (backup data files, value and record
files) is staged in the volatile state's transaction until CommitTransaction.  A command torn
half-way (:attr:`Context.tearing`) leaves a standard write partly done and commits all or nothing.
"""

from __future__ import annotations

from typing import TypeVar

from ekarta.desfire.commands import GRANTING_RIGHTS, I32_MAX, Cmd
from ekarta.desfire.session import Comm
from ekarta.emulator.card.context import (
    Context,
    DataStage,
    Handler,
    PowerCut,
    RecordStage,
    Reply,
    Stage,
    ValueStage,
    fail,
    u24,
)
from ekarta.emulator.state import DataFile, File, RecordFile, ValueFile
from ekarta.errors import (
    AuthenticationRejected,
    BoundaryError,
    LengthError,
    ParameterError,
    PermissionDenied,
)

__all__ = ["HANDLERS", "VALUE_RIGHTS", "WRITE_RIGHTS", "commit", "write_standard"]

_READ = GRANTING_RIGHTS["read"]
_GET_VALUE = GRANTING_RIGHTS["get_value"]
_CLEAR = GRANTING_RIGHTS["clear"]
#: the rights that grant WriteData and WriteRecord, and each value operation
WRITE_RIGHTS = GRANTING_RIGHTS["write"]
VALUE_RIGHTS: dict[int, tuple[str, ...]] = {
    Cmd.CREDIT: GRANTING_RIGHTS["credit"], Cmd.DEBIT: GRANTING_RIGHTS["debit"],
    Cmd.LIMITED_CREDIT: GRANTING_RIGHTS["limited_credit"],
}

F = TypeVar("F", DataFile, ValueFile, RecordFile)


def _file_command(ctx: Context, msg: bytes, header_len: int, kind: type[F]) -> F:
    """The file a data command names, which must be of ``kind``."""
    app = ctx.need_app()
    if len(msg) < header_len:
        fail(LengthError, "the command is too short")
    f = ctx.file(app, msg[0])
    if not isinstance(f, kind):
        fail(ParameterError, "the command does not apply to this kind of file")
    return f


def _stage(ctx: Context, f: File) -> Stage:
    """The file's entry in the pending transaction, opened on first use."""
    tx = ctx.volatile.tx
    stage = tx.get(f.file_no)
    if stage is None:
        if isinstance(f, DataFile):
            stage = DataStage(bytearray(f.data))
        elif isinstance(f, ValueFile):
            stage = ValueStage(f.value)
        else:
            stage = RecordStage()
        tx[f.file_no] = stage
    return stage


def write_standard(ctx: Context, f: DataFile, offset: int, data: bytes) -> None:
    """Write to a standard data file at once; a tear writes only part of it."""
    if ctx.tearing is not None:
        done = int(len(data) * ctx.tearing)
        f.data[offset:offset + done] = data[:done]
        ctx.changed()
        raise PowerCut
    f.data[offset:offset + len(data)] = data
    ctx.changed()


def _open_write(ctx: Context, cmd: int, msg: bytes, kind: type[F]) -> tuple[F, Comm, int, bytes]:
    """WriteData and WriteRecord: the file, its effective mode, the offset and the data,
    checked against the length the header announces."""
    f = _file_command(ctx, msg, 7, kind)
    mode = ctx.mode(f, WRITE_RIGHTS)
    length = u24(msg[4:7])
    header, data = ctx.open(cmd, msg, 7, mode, length)
    if length == 0 or len(data) != length:
        fail(LengthError, "the data does not match the length in the header")
    return f, mode, u24(header[1:4]), data


# --- data files -----------------------------------------------------------------------------------


def read_data(ctx: Context, cmd: int, msg: bytes) -> Reply:
    f = _file_command(ctx, msg, 7, DataFile)
    mode = ctx.mode(f, _READ)
    header, rest = ctx.open(cmd, msg, 7, mode)
    if rest:
        fail(LengthError, "ReadData takes 7 parameter bytes")
    offset, length = u24(header[1:4]), u24(header[4:7])
    if offset >= f.size or offset + length > f.size:
        fail(BoundaryError, "beyond the end of the file")
    end = offset + length if length else f.size
    return Reply(bytes(f.data[offset:end]), comm=mode)


def write_data(ctx: Context, cmd: int, msg: bytes) -> Reply:
    f, mode, offset, data = _open_write(ctx, cmd, msg, DataFile)
    length = len(data)
    if offset + length > f.size:
        fail(BoundaryError, "beyond the end of the file")
    if f.backup:
        stage = _stage(ctx, f)
        assert isinstance(stage, DataStage)
        stage.data[offset:offset + length] = data
    else:
        write_standard(ctx, f, offset, data)
    return Reply(comm=mode)


# --- value files ----------------------------------------------------------------------------------


def get_value(ctx: Context, cmd: int, msg: bytes) -> Reply:
    f = _file_command(ctx, msg, 1, ValueFile)
    try:
        mode = ctx.mode(f, _GET_VALUE)
    except (AuthenticationRejected, PermissionDenied):
        if not (f.free_get_value and ctx.volatile.session is None):
            raise
        mode = Comm.PLAIN
    _, rest = ctx.open(cmd, msg, 1, mode)
    if rest:
        fail(LengthError, "GetValue takes a file number")
    return Reply(f.value.to_bytes(4, "little", signed=True), comm=mode)


def change_value(ctx: Context, cmd: int, msg: bytes) -> Reply:
    """Credit, Debit and LimitedCredit."""
    f = _file_command(ctx, msg, 1, ValueFile)
    mode = ctx.mode(f, VALUE_RIGHTS[cmd])
    _, data = ctx.open(cmd, msg, 1, mode, 4)
    if len(data) != 4:
        fail(LengthError, "the amount has 4 bytes")
    amount = int.from_bytes(data, "little", signed=True)
    if amount < 0:
        fail(ParameterError, "the amount must not be negative")
    stage = _stage(ctx, f)
    assert isinstance(stage, ValueStage)
    if cmd == Cmd.DEBIT:
        if stage.value - amount < f.lower_limit:
            fail(BoundaryError, "the debit goes below the lower limit")
        # the debits become the LimitedCredit allowance, which the file keeps in 32 signed bits
        if stage.debits + amount > I32_MAX:
            fail(BoundaryError, "the transaction's debits exceed the limited credit range")
        stage.value -= amount
        stage.debits += amount
    else:
        if cmd == Cmd.LIMITED_CREDIT:
            if not f.limited_credit_enabled:
                fail(PermissionDenied, "LimitedCredit is not enabled for this file")
            if stage.limited + amount > f.limited_credit_value:
                fail(BoundaryError, "more than the last transaction's debits")
        if stage.value + amount > f.upper_limit:
            fail(BoundaryError, "the credit goes above the upper limit")
        stage.value += amount
        if cmd == Cmd.LIMITED_CREDIT:
            stage.limited += amount
    return Reply(comm=mode)


# --- record files ---------------------------------------------------------------------------------


def write_record(ctx: Context, cmd: int, msg: bytes) -> Reply:
    f, mode, offset, data = _open_write(ctx, cmd, msg, RecordFile)
    length = len(data)
    if offset + length > f.record_size:
        fail(BoundaryError, "beyond the end of the record")
    stage = _stage(ctx, f)
    assert isinstance(stage, RecordStage)
    if stage.clear:
        fail(PermissionDenied, "the file is being cleared in this transaction")
    if stage.record is None:
        if not f.cyclic and len(f.records) >= f.max_records:
            fail(BoundaryError, "the linear record file is full")
        stage.record = bytearray(f.record_size)
    stage.record[offset:offset + length] = data
    return Reply(comm=mode)


def read_records(ctx: Context, cmd: int, msg: bytes) -> Reply:
    f = _file_command(ctx, msg, 7, RecordFile)
    mode = ctx.mode(f, _READ)
    header, rest = ctx.open(cmd, msg, 7, mode)
    if rest:
        fail(LengthError, "ReadRecords takes 7 parameter bytes")
    offset, count = u24(header[1:4]), u24(header[4:7])
    total = len(f.records)
    if offset >= total:
        fail(BoundaryError, "no such record")
    available = total - offset
    if count > available:
        fail(BoundaryError, "fewer records than asked for")
    count = count or available
    start = available - count
    return Reply(b"".join(f.records[start:start + count]), comm=mode)


def clear_record_file(ctx: Context, cmd: int, msg: bytes) -> Reply:
    app = ctx.need_app()
    file_no = ctx.params(cmd, msg, 1)[0]
    f = ctx.file(app, file_no)
    if not isinstance(f, RecordFile):
        fail(ParameterError, "ClearRecordFile needs a record file")
    ctx.mode(f, _CLEAR)
    stage = _stage(ctx, f)
    assert isinstance(stage, RecordStage)
    if stage.record is not None:
        fail(PermissionDenied, "a record is being written in this transaction")
    stage.clear = True
    return Reply()


# --- the transaction ------------------------------------------------------------------------------


def commit_transaction(ctx: Context, cmd: int, msg: bytes) -> Reply:
    ctx.params(cmd, msg, 0)
    if ctx.tearing is not None:
        if ctx.tearing >= 0.5:  # the commit is atomic: power lost late means it is done
            commit(ctx)
        raise PowerCut
    commit(ctx)
    return Reply()


def abort_transaction(ctx: Context, cmd: int, msg: bytes) -> Reply:
    ctx.params(cmd, msg, 0)
    ctx.volatile.tx.clear()
    return Reply()


def commit(ctx: Context) -> None:
    """Apply the staged changes to the selected application's files."""
    tx = ctx.volatile.tx
    app = ctx.app
    if not tx or app is None:
        tx.clear()
        return
    for file_no, stage in tx.items():
        f = app.files.get(file_no)
        if isinstance(f, DataFile) and isinstance(stage, DataStage):
            f.data[:] = stage.data
        elif isinstance(f, ValueFile) and isinstance(stage, ValueStage):
            f.value = stage.value
            if stage.debits:
                f.limited_credit_value = stage.debits
            elif stage.limited:
                f.limited_credit_value = 0
        elif isinstance(f, RecordFile) and isinstance(stage, RecordStage):
            if stage.clear:
                f.records.clear()
            if stage.record is not None:
                f.records.append(bytes(stage.record))
                del f.records[:max(0, len(f.records) - f.capacity)]
    tx.clear()
    ctx.changed()


HANDLERS: dict[int, Handler] = {
    Cmd.READ_DATA: read_data,
    Cmd.WRITE_DATA: write_data,
    Cmd.GET_VALUE: get_value,
    Cmd.CREDIT: change_value,
    Cmd.DEBIT: change_value,
    Cmd.LIMITED_CREDIT: change_value,
    Cmd.WRITE_RECORD: write_record,
    Cmd.READ_RECORDS: read_records,
    Cmd.CLEAR_RECORD_FILE: clear_record_file,
    Cmd.COMMIT_TRANSACTION: commit_transaction,
    Cmd.ABORT_TRANSACTION: abort_transaction,
}
