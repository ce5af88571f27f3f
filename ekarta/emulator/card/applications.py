"""Applications: CreateApplication, DeleteApplication, SelectApplication, GetApplicationIDs and
GetDFNames."""

from __future__ import annotations

from ekarta.desfire.commands import (
    DESFIRE_PICC_DF_NAME,
    MAX_APPLICATIONS,
    MAX_DF_NAME,
    MAX_KEYS,
    AppCrypto,
    Cmd,
)
from ekarta.desfire.structs import CreateApplicationParams, DFNameEntry
from ekarta.emulator.card.context import RESERVED_FIDS, Context, Handler, Reply, fail, parse
from ekarta.emulator.state import APPLICATION_COST, Application, default_key_for
from ekarta.errors import (
    ApplicationNotFound,
    AuthenticationRejected,
    CountError,
    DuplicateError,
    LengthError,
    OutOfMemory,
    ParameterError,
)

__all__ = ["HANDLERS"]


def create_application(ctx: Context, cmd: int, msg: bytes) -> Reply:
    ctx.need_picc_level()
    header = ctx.params(cmd, msg)
    if len(header) < 5:
        fail(LengthError, "CreateApplication is too short")
    info = header[4]
    if info & 0x20:
        if not 7 <= len(header) <= 7 + MAX_DF_NAME:
            fail(LengthError, "CreateApplication with ISO FID and DF name: 7..23 bytes")
    elif len(header) != 5:
        fail(LengthError, "CreateApplication without ISO FID: 5 bytes")
    ctx.need_create_delete()
    if info & 0xC0 == 0xC0 or info & 0x10 or not 1 <= info & 0x0F <= MAX_KEYS:
        fail(ParameterError, "bad key count or key type")
    params = parse(CreateApplicationParams.parse, header)
    state = ctx.state
    apps = state.applications
    if params.aid == 0:
        fail(ParameterError, "AID 000000 is the PICC level")
    if params.aid in apps:
        fail(DuplicateError, f"application {params.aid:06X} exists")
    if len(apps) >= MAX_APPLICATIONS:
        fail(CountError, "the card holds its maximum of applications")
    if params.iso_fid is not None:
        if params.iso_fid in RESERVED_FIDS:
            fail(ParameterError, "reserved ISO file identifier")
        if any(a.iso_fid == params.iso_fid for a in apps.values()):
            fail(DuplicateError, "another application has this ISO FID")
    if params.df_name is not None and (params.df_name == DESFIRE_PICC_DF_NAME or any(
            a.df_name == params.df_name for a in apps.values())):
        fail(DuplicateError, "another application has this DF name")
    if state.free_memory < APPLICATION_COST:
        fail(OutOfMemory, "no memory for another application")
    key = default_key_for(params.crypto, state.default_key, state.default_key_version)
    apps[params.aid] = Application(params.aid, params.settings, AppCrypto(params.crypto),
                                   [key] * params.key_count, params.iso_fid, params.df_name)
    ctx.changed()
    return Reply()


def delete_application(ctx: Context, cmd: int, msg: bytes) -> Reply:
    aid = int.from_bytes(ctx.params(cmd, msg, 3), "little")
    apps = ctx.state.applications
    if aid == 0:
        fail(ParameterError, "the PICC level cannot be deleted")
    if aid not in apps:
        fail(ApplicationNotFound, f"no application {aid:06X}")
    volatile = ctx.volatile
    session = volatile.session
    if session is None or session.key_no != 0 or volatile.aid not in (0, aid):
        fail(AuthenticationRejected, "needs the PICC or the application master key")
    del apps[aid]
    ctx.changed()
    if volatile.aid != aid:
        return Reply()
    # the answer still goes out under the session, which ends with it
    volatile.aid = 0
    volatile.ef = None
    volatile.tx.clear()
    return Reply(end_session=True)


def select_application(ctx: Context, cmd: int, msg: bytes) -> Reply:
    volatile = ctx.volatile
    volatile.session = None
    volatile.tx.clear()
    volatile.ef = None
    if len(msg) != 3:
        fail(LengthError, "SelectApplication takes a 3-byte AID")
    aid = int.from_bytes(msg, "little")
    if aid and aid not in ctx.state.applications:
        fail(ApplicationNotFound, f"no application {aid:06X}")
    volatile.select(aid)
    return Reply(bare=True)


def get_application_ids(ctx: Context, cmd: int, msg: bytes) -> Reply:
    ctx.need_picc_level()
    ctx.params(cmd, msg, 0)
    ctx.need_directory_access()
    return Reply(b"".join(aid.to_bytes(3, "little") for aid in ctx.state.applications))


def get_df_names(ctx: Context, cmd: int, msg: bytes) -> Reply:
    ctx.need_picc_level()
    ctx.params(cmd, msg, 0)
    ctx.need_directory_access()
    entries = [DFNameEntry(a.aid, a.iso_fid, a.df_name).build()
               for a in ctx.state.applications.values()
               if a.df_name is not None and a.iso_fid is not None]
    return Reply(b"".join(entries), frames=tuple(len(e) for e in entries))


HANDLERS: dict[int, Handler] = {
    Cmd.CREATE_APPLICATION: create_application,
    Cmd.DELETE_APPLICATION: delete_application,
    Cmd.SELECT_APPLICATION: select_application,
    Cmd.GET_APPLICATION_IDS: get_application_ids,
    Cmd.GET_DF_NAMES: get_df_names,
}
