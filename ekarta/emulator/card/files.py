"""Files of the selected application: Create*File, DeleteFile, GetFileIDs, GetISOFileIDs,
GetFileSettings and ChangeFileSettings.  What files hold is :mod:`.contents`'s."""

from __future__ import annotations

from ekarta.desfire.commands import FREE, GRANTING_RIGHTS, MAX_FILES, Cmd
from ekarta.desfire.session import Comm
from ekarta.desfire.structs import (
    ChangeFileSettingsParams,
    CreateDataFileParams,
    CreateRecordFileParams,
    CreateValueFileParams,
)
from ekarta.emulator.card.context import RESERVED_FIDS, Context, Handler, Reply, fail, parse
from ekarta.emulator.state import Application, DataFile, File, RecordFile, ValueFile
from ekarta.errors import CountError, DuplicateError, LengthError, OutOfMemory, ParameterError

__all__ = ["HANDLERS"]

_CHANGE = GRANTING_RIGHTS["change"]


# --- what the application holds -------------------------------------------------------------------


def get_file_ids(ctx: Context, cmd: int, msg: bytes) -> Reply:
    app = ctx.need_app()
    ctx.params(cmd, msg, 0)
    ctx.need_directory_access()
    return Reply(bytes(sorted(app.files)))


def get_iso_file_ids(ctx: Context, cmd: int, msg: bytes) -> Reply:
    app = ctx.need_app()
    ctx.params(cmd, msg, 0)
    ctx.need_directory_access()
    fids = (app.files[n].iso_fid for n in sorted(app.files))
    return Reply(b"".join(fid.to_bytes(2, "little") for fid in fids if fid is not None))


def get_file_settings(ctx: Context, cmd: int, msg: bytes) -> Reply:
    app = ctx.need_app()
    header = ctx.params(cmd, msg, 1)
    ctx.need_directory_access()
    return Reply(ctx.file(app, header[0]).settings().build())


def change_file_settings(ctx: Context, cmd: int, msg: bytes) -> Reply:
    app = ctx.need_app()
    if not msg:
        fail(LengthError, "ChangeFileSettings needs a file number")
    f = ctx.file(app, msg[0])
    ctx.mode(f, _CHANGE)
    mode = Comm.PLAIN if f.access.change == FREE else Comm.FULL
    _, data = ctx.open(cmd, msg, 1, mode, 3 if mode is Comm.FULL else None)
    if len(data) != 3:
        fail(LengthError, "ChangeFileSettings takes a comm byte and access rights")
    params = parse(ChangeFileSettingsParams.parse, data)
    f.comm = params.comm
    f.access = params.access
    ctx.changed()
    return Reply(comm=mode)


# --- creating and deleting ------------------------------------------------------------------------


def _check_new_file(app: Application, file_no: int, option: int) -> None:
    if file_no >= MAX_FILES:
        fail(ParameterError, f"file numbers are 0..{MAX_FILES - 1}")
    if option & ~0x03:
        fail(ParameterError, "unsupported file option bits")
    if file_no in app.files:
        fail(DuplicateError, f"file {file_no} exists")
    if len(app.files) >= MAX_FILES:
        fail(CountError, "the application holds its maximum of files")


def _check_iso_fid(app: Application, fid: int | None) -> None:
    if fid is None:
        return
    if fid in RESERVED_FIDS:
        fail(ParameterError, "reserved ISO file identifier")
    if any(f.iso_fid == fid for f in app.files.values()):
        fail(DuplicateError, "another file has this ISO FID")


def _need_memory(ctx: Context, size: int) -> None:
    """Refuse a file of ``size`` bytes of memory before anything of it is built."""
    if size > ctx.state.free_memory:
        fail(OutOfMemory, "not enough memory for the file")


def _add_file(ctx: Context, app: Application, f: File) -> Reply:
    _need_memory(ctx, f.memory)
    app.files[f.file_no] = f
    ctx.changed()
    return Reply()


def _new_file_header(ctx: Context, cmd: int, msg: bytes, plain_len: int
                     ) -> tuple[Application, bytes, bool]:
    """The checks every Create*File with an optional ISO FID (two more bytes) begins with:
    the application, the parameters, whether they carry an ISO FID."""
    app = ctx.need_app()
    header = ctx.params(cmd, msg, plain_len, plain_len + 2)
    ctx.need_create_delete()
    has_iso = len(header) == plain_len + 2
    if has_iso and not app.iso_file_ids:
        fail(LengthError, "the application was created without ISO file identifiers")
    _check_new_file(app, header[0], header[3 if has_iso else 1])
    return app, header, has_iso


def create_data_file(ctx: Context, cmd: int, msg: bytes) -> Reply:
    app, header, has_iso = _new_file_header(ctx, cmd, msg, 7)
    params = parse(CreateDataFileParams.parse, header, has_iso_fid=has_iso)
    if params.size == 0:
        fail(ParameterError, "a data file has at least one byte")
    _check_iso_fid(app, params.iso_fid)
    backup = cmd == Cmd.CREATE_BACKUP_DATA_FILE
    _need_memory(ctx, DataFile.cost(params.size, backup))  # before its bytes exist
    return _add_file(ctx, app, DataFile(params.file_no, params.comm, params.access, params.size,
                                        backup=backup, iso_fid=params.iso_fid))


def create_value_file(ctx: Context, cmd: int, msg: bytes) -> Reply:
    app = ctx.need_app()
    header = ctx.params(cmd, msg, 17)
    ctx.need_create_delete()
    _check_new_file(app, header[0], header[1])
    if header[16] & ~0x03:
        fail(ParameterError, "unsupported value file flags")
    params = parse(CreateValueFileParams.parse, header)
    if not params.lower_limit <= params.value <= params.upper_limit:
        fail(ParameterError, "need lower limit <= value <= upper limit")
    return _add_file(ctx, app, ValueFile(
        params.file_no, params.comm, params.access, params.lower_limit, params.upper_limit,
        params.value, params.limited_credit_enabled, params.free_get_value))


def create_record_file(ctx: Context, cmd: int, msg: bytes) -> Reply:
    app, header, has_iso = _new_file_header(ctx, cmd, msg, 10)
    params = parse(CreateRecordFileParams.parse, header, has_iso_fid=has_iso)
    cyclic = cmd == Cmd.CREATE_CYCLIC_RECORD_FILE
    if params.record_size < 1 or params.max_records < (2 if cyclic else 1):
        fail(ParameterError, "record size >= 1, records >= 1 (cyclic files: >= 2)")
    _check_iso_fid(app, params.iso_fid)
    _need_memory(ctx, RecordFile.cost(params.record_size, params.max_records))
    return _add_file(ctx, app, RecordFile(
        params.file_no, params.comm, params.access, params.record_size, params.max_records,
        cyclic, params.iso_fid))


def delete_file(ctx: Context, cmd: int, msg: bytes) -> Reply:
    app = ctx.need_app()
    file_no = ctx.params(cmd, msg, 1)[0]
    ctx.need_create_delete()
    ctx.file(app, file_no)
    del app.files[file_no]
    volatile = ctx.volatile
    volatile.tx.pop(file_no, None)
    if volatile.ef == file_no:
        volatile.ef = None
    ctx.changed()
    return Reply()


HANDLERS: dict[int, Handler] = {
    Cmd.GET_FILE_IDS: get_file_ids,
    Cmd.GET_ISO_FILE_IDS: get_iso_file_ids,
    Cmd.GET_FILE_SETTINGS: get_file_settings,
    Cmd.CHANGE_FILE_SETTINGS: change_file_settings,
    Cmd.CREATE_STD_DATA_FILE: create_data_file,
    Cmd.CREATE_BACKUP_DATA_FILE: create_data_file,
    Cmd.CREATE_VALUE_FILE: create_value_file,
    Cmd.CREATE_LINEAR_RECORD_FILE: create_record_file,
    Cmd.CREATE_CYCLIC_RECORD_FILE: create_record_file,
    Cmd.DELETE_FILE: delete_file,
}
