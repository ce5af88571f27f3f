"""The office's HTTP API for terminals (FastAPI): the contract of :mod:`ekarta.sync.messages`.

Every request carries ``Authorization: Bearer TOKEN``; a missing, unknown or revoked token is
refused with 401, a role that may not use an endpoint with 403 (:func:`require`).

- ``GET /v1/device``: who the token belongs to (:class:`~ekarta.sync.messages.DeviceView`);
- ``GET /v1/feeds/{feed}?cursor=N&limit=M``: a page of a feed after ``cursor`` in a signed
  envelope (bytes: :mod:`ekarta.sync.envelope`; see :func:`~ekarta.backoffice.feeds.
  read_feed`); a validator is refused the actions feed;
- ``POST /v1/journal``: a :class:`~ekarta.sync.messages.JournalBatch`, acknowledged by event id
  (:func:`~ekarta.backoffice.journal.ingest`);
- ``POST /v1/actions/{id}/lease``: a :class:`~ekarta.sync.messages.Lease` on an action (409
  while another device holds one, 410 once it is done or cancelled).

The office role alone reaches the holders' data and sells and blocks (models in
:mod:`~ekarta.backoffice.api_models`):

- ``GET /v1/cards/{card_number}``: the card, its holder's data, blocks and coupons;
- ``POST /v1/cards/{card_number}/block``: block it for its holder (lost, stolen, request);
- ``POST /v1/cards/{card_number}/profile``: change its profile (gained, renewed, ended);
- ``POST /v1/coupons``: sell a coupon, signed with the operator's key (409 with the rules'
  reason codes when they forbid it);
- ``POST /v1/coupons/{serial}/pay``: a bank transfer for an order arrived.

An unknown card or coupon is 404, an operation the office refuses 409, a request that makes no
sense 422.

Bodies are limited to :data:`BODY_MAX` bytes; a malformed request gets 422, an unavailable
database 503, and no input a 5xx of another kind.  The handlers are plain functions: FastAPI runs
them in its thread pool, each with its own database session.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request, Response, Security
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ekarta import __version__
from ekarta.backoffice import blocking, cards, coupons
from ekarta.backoffice.api_models import (
    BlockRequest,
    CardView,
    CouponView,
    OperationRefusal,
    ProfileRequest,
    SaleRequest,
    SaleView,
)
from ekarta.backoffice.errors import InvalidRequest, NotFound, OperationRefused
from ekarta.backoffice.feeds import read_feed
from ekarta.backoffice.journal import JournalRejected, ingest
from ekarta.backoffice.leases import (
    LEASE_TIME,
    ActionClosed,
    ActionLeased,
    ActionNotFound,
    LeaseRefused,
    take_lease,
)
from ekarta.backoffice.store import DeviceInfo, device_for_token
from ekarta.sync.envelope import MEDIA_TYPE, seal
from ekarta.sync.messages import (
    API_PREFIX,
    FEED_ROLES,
    PAGE_MAX,
    ROLE_ACTIONS,
    ROW_ID_MAX,
    CardNumberText,
    DeviceView,
    Feed,
    JournalAck,
    JournalBatch,
    Lease,
)
from ekarta.sync.roles import DeviceRole
from ekarta.transit.errors import InvalidField
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.values import SERIAL_MAX
from ekarta.transit.security.signing import CouponSigner, CouponVerifier

__all__ = [
    "BODY_MAX",
    "VALID_FOR",
    "Refusal",
    "create_app",
    "current_device",
    "require",
]

log = logging.getLogger(__name__)

BODY_MAX = 8 * 1024 * 1024
"""The largest request body read: a journal batch of the most events, each at its largest,
with room to spare."""
VALID_FOR = timedelta(days=3)
"""How long a terminal may use a list: the operator promises a block reaches every terminal
within 3 days, so an older one is not to be trusted."""
INT64_MAX = 2**63 - 1


class Refusal(BaseModel):
    """Why a request was refused."""

    detail: str


_ENVELOPE_RESPONSE: dict[str, Any] = {
    "description": "The page, in an envelope signed with the operator's Ed25519 key: the "
                   "signature (64 bytes), then the signed bytes (the domain line, the head's "
                   "length, the head [kind, issued_at, valid_until, cursor] in JSON and the "
                   "page's JSON); see ekarta.sync.envelope.",
    "content": {MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
}


def _refusals(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": Refusal} for code in codes}


@dataclass(frozen=True)
class _Settings:
    engine: Engine
    envelope_key: Ed25519PrivateKey
    clock: Callable[[], datetime]
    valid_for: timedelta
    lease_for: timedelta
    signer: CouponSigner | None

    @property
    def verifier(self) -> CouponVerifier:
        """What checks the coupons terminals report: the signer's keys, or the envelope key's
        public half (one operator key signs both)."""
        if self.signer is not None:
            return self.signer.verifier
        return CouponVerifier(self.envelope_key.public_key())


def _settings(request: Request) -> _Settings:
    settings: _Settings = request.app.state.office
    return settings


# --- who is asking -------------------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="the device's token "
                     "(`ekarta office device add`)")


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(401, detail, headers={"WWW-Authenticate": "Bearer"})


def current_device(request: Request, credentials: Annotated[
        HTTPAuthorizationCredentials | None, Security(_bearer)]) -> DeviceInfo:
    """The device whose token the request carries; 401 without an active one."""
    if credentials is None:
        raise _unauthorized("a device token is required (Authorization: Bearer TOKEN)")
    device = device_for_token(_settings(request).engine, credentials.credentials)
    if device is None:
        raise _unauthorized("the token is unknown or revoked")
    return device


Device = Annotated[DeviceInfo, Depends(current_device)]


def require(*roles: DeviceRole) -> Callable[[DeviceInfo], DeviceInfo]:
    """A dependency giving the requesting device if its role is one of ``roles``, else 403."""
    allowed = frozenset(roles)

    def device_in_role(device: Device) -> DeviceInfo:
        if device.role not in allowed:
            raise HTTPException(403, f"a {device.role} device may not do this")
        return device

    return device_in_role


Performer = Annotated[DeviceInfo, Depends(require(*(role for role, kinds in ROLE_ACTIONS.items()
                                                    if kinds)))]
"""A device whose role performs actions."""
Office = Annotated[DeviceInfo, Depends(require(DeviceRole.OFFICE))]
"""An office workplace: the only role that sees holders' data, sells and blocks."""


# --- the request body's size ---------------------------------------------------------------------


class _BodyLimit:
    """Refuses (413) a request whose body is larger than ``limit``, before it is read whole."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            response = JSONResponse({"detail": f"the body is larger than {self.limit} bytes"},
                                    status_code=413)
            await response(scope, receive, send)
            return
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:  # FastAPI renders it from where the body is read
                raise HTTPException(413, f"the body is larger than {self.limit} bytes")
            return message

        await self.app(scope, counted, send)


# --- the application -----------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def create_app(engine: Engine, *, envelope_key: Ed25519PrivateKey,
               signer: CouponSigner | None = None, clock: Callable[[], datetime] = _now,
               valid_for: timedelta = VALID_FOR, lease_for: timedelta = LEASE_TIME,
               dispose: bool = False) -> FastAPI:
    """The API on ``engine``, sealing feeds with ``envelope_key`` (valid ``valid_for`` from
    ``clock()``), leasing actions for ``lease_for`` and signing the coupons it sells with
    ``signer`` (none: it sells none); ``dispose``: the engine is the app's, disposed of when it
    shuts down."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        if dispose:
            engine.dispose()

    app = FastAPI(
        title="ekarta office", version=__version__, lifespan=lifespan,
        description="The back office's API for terminals: their feeds (hotlist, entitlements, "
                    "actions) as signed envelopes, their journals, leases on actions; and for "
                    "office workplaces: cards with their holders' data, sales, blocks.")
    app.state.office = _Settings(engine, envelope_key, clock, valid_for, lease_for, signer)
    app.add_middleware(_BodyLimit, limit=BODY_MAX)

    @app.exception_handler(OperationalError)
    @app.exception_handler(PoolTimeout)
    async def database_unavailable(_request: Request, exc: Exception) -> JSONResponse:
        log.error("the database is unavailable: %s", exc)
        return JSONResponse({"detail": "the office's database is unavailable: try again"},
                            status_code=503, headers={"Retry-After": "5"})

    @app.exception_handler(NotFound)
    async def not_found(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(Refusal(detail=str(exc)).model_dump(), status_code=404)

    @app.exception_handler(OperationRefused)
    async def refused(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, OperationRefused)
        return JSONResponse(OperationRefusal.of(exc).model_dump(mode="json"), status_code=409)

    @app.exception_handler(InvalidRequest)
    async def invalid(_request: Request, exc: Exception) -> JSONResponse:
        # shaped as FastAPI's own 422, so that a client reads every 422 alike
        return JSONResponse({"detail": [{"loc": ["body"], "msg": str(exc),
                                         "type": "value_error"}]}, status_code=422)

    _routes(app)
    _office_routes(app)
    return app


def _routes(app: FastAPI) -> None:
    refused = _refusals(401, 403)

    @app.get(f"{API_PREFIX}/device", response_model=DeviceView, responses=_refusals(401),
             tags=["devices"])
    def device_view(device: Device) -> DeviceView:
        """Who the token belongs to."""
        return DeviceView(name=device.name, role=device.role)

    @app.get(f"{API_PREFIX}/feeds/{{feed}}", response_class=Response,
             responses={**refused, 200: _ENVELOPE_RESPONSE}, tags=["feeds"])
    def feed_page(
        request: Request, feed: Feed, device: Device,
        cursor: Annotated[int, Query(ge=0, le=INT64_MAX, description=(
            "the last change the terminal holds (0: none; a snapshot follows)"))] = 0,
        limit: Annotated[int, Query(ge=1, le=PAGE_MAX,
                                    description="the most changes in the page")] = PAGE_MAX,
    ) -> Response:
        """A page of the feed after ``cursor``, sealed: its ``payload`` is a HotlistPage,
        EntitlementPage or ActionPage."""
        if device.role not in FEED_ROLES[feed]:
            raise HTTPException(403, f"a {device.role} device does not receive the {feed} feed")
        settings = _settings(request)
        with Session(settings.engine) as session:
            page = read_feed(session, feed, cursor=cursor, role=device.role, limit=limit)
        body = seal(page.payload, kind=feed.value, key=settings.envelope_key,
                    issued_at=settings.clock(), valid_for=settings.valid_for, cursor=page.cursor)
        log.debug("%s: %s page after %d: %d items, %d removed%s", device.name, feed, cursor,
                  page.items, page.removed, " (snapshot)" if page.reset else "")
        return Response(body, media_type=MEDIA_TYPE)

    @app.post(f"{API_PREFIX}/journal", response_model=JournalAck,
              responses=_refusals(400, 401, 413), tags=["journal"])
    def journal(request: Request, batch: JournalBatch, device: Device) -> JournalAck:
        """Store a batch of journal events; the ack names every event of it (a resent event is
        acknowledged again and stored once)."""
        settings = _settings(request)
        try:
            return ingest(settings.engine, device, batch, settings.clock(),
                          verifier=settings.verifier)
        except JournalRejected as exc:
            raise InvalidRequest(str(exc)) from exc

    @app.post(f"{API_PREFIX}/actions/{{action_id}}/lease", response_model=Lease,
              responses=_refusals(401, 403, 404, 409, 410), tags=["actions"])
    def lease(request: Request,
              action_id: Annotated[int, Path(ge=1, le=ROW_ID_MAX)],
              device: Performer) -> Lease:
        """Reserve the action for this device before it performs it (or renew its lease)."""
        settings = _settings(request)
        try:
            return take_lease(settings.engine, device, action_id, now=settings.clock(),
                              duration=settings.lease_for)
        except LeaseRefused as exc:
            raise HTTPException(_LEASE_STATUS.get(type(exc), 403), str(exc)) from None


_LEASE_STATUS: dict[type[LeaseRefused], int] = {ActionNotFound: 404, ActionLeased: 409,
                                                ActionClosed: 410}


# --- the office's workplaces ---------------------------------------------------------------------

CardNumberPath = Annotated[CardNumberText, Path(description="the card number (IDK): 10 digits",
                                                 examples=["0000000013"])]


def _card_view(engine: Engine, number: CardNumber) -> CardView:
    return CardView.of(cards.show(engine, number),
                       tuple(coupons.list_coupons(engine, number=number)))


def _office_routes(app: FastAPI) -> None:
    office_refusals = {**_refusals(401, 403, 404), 409: {"model": OperationRefusal}}

    @app.get(f"{API_PREFIX}/cards/{{card_number}}", response_model=CardView,
             responses=_refusals(401, 403, 404), tags=["office"])
    def card(request: Request, card_number: CardNumberPath, _device: Office) -> CardView:
        """The card with its holder's data, its blocks and the coupons the office sold for it."""
        return _card_view(_settings(request).engine, CardNumber(card_number))

    @app.post(f"{API_PREFIX}/cards/{{card_number}}/block", response_model=CardView,
              responses=_refusals(400, 401, 403, 404, 413), tags=["office"])
    def block(request: Request, card_number: CardNumberPath, body: BlockRequest,
              device: Office) -> CardView:
        """Block the card for its holder: it goes on the terminals' hotlist (a blocked card
        stays as it is)."""
        settings = _settings(request)
        number = CardNumber(card_number)
        result = blocking.block(settings.engine, number, body.reason, now=settings.clock())
        log.info("%s: card blocked (%s)%s", device.name, body.reason,
                 "" if result.changed else ": it was blocked already")
        return _card_view(settings.engine, number)

    @app.post(f"{API_PREFIX}/cards/{{card_number}}/profile", response_model=CardView,
              responses={**office_refusals, **_refusals(400, 413)}, tags=["office"])
    def profile(request: Request, card_number: CardNumberPath, body: ProfileRequest,
                device: Office) -> CardView:
        """Change the card's profile (gained, renewed or ended at a ticket office): the office
        takes it at once, and the next inspector or kiosk writes it onto the chip.  Refused
        (409) with the reason code of every rule that forbids it."""
        settings = _settings(request)
        number = CardNumber(card_number)
        try:
            change = body.change()
        except InvalidField as exc:
            raise InvalidRequest(f"the profile change: {exc}") from exc
        cards.change_profile(settings.engine, number, change, now=settings.clock())
        log.info("%s: card profile changed", device.name)
        return _card_view(settings.engine, number)

    @app.post(f"{API_PREFIX}/coupons", response_model=SaleView,
              responses={**office_refusals, **_refusals(400, 413, 503)}, tags=["office"])
    def sell(request: Request, body: SaleRequest, device: Office) -> SaleView:
        """Sell a coupon, signed for the card at once; paid at once unless by bank transfer
        (then ``pay``).  Refused (409) with the reason code of every rule that forbids it."""
        settings = _settings(request)
        if settings.signer is None:
            raise HTTPException(503, "this office sells no coupons: it runs without the "
                                     "operator's signing key")
        try:
            purchase = body.purchase()
            sale = coupons.sell(settings.engine, CardNumber(body.card_number), purchase,
                                settings.signer, now=settings.clock(), price=body.price)
        except InvalidField as exc:  # a coupon its record cannot hold
            raise InvalidRequest(f"the coupon cannot be sold: {exc}") from exc
        log.info("%s: coupon %d sold", device.name, sale.coupon.serial)
        return SaleView.of(sale)

    @app.post(f"{API_PREFIX}/coupons/{{serial}}/pay", response_model=CouponView,
              responses=office_refusals, tags=["office"])
    def pay(request: Request, serial: Annotated[int, Path(ge=1, le=SERIAL_MAX)],
            device: Office) -> CouponView:
        """The bank transfer for an order arrived: the coupon is paid and queued for loading
        (paying it again changes nothing)."""
        settings = _settings(request)
        info = coupons.pay(settings.engine, serial, now=settings.clock())
        log.info("%s: coupon %d paid", device.name, serial)
        return CouponView.of(info)
